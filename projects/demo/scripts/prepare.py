"""Copy the demo corpora into corpus/ and convert the tagging JSONL files to .spacy.

python scripts/prepare.py SOURCE_DIR corpus     (SOURCE_DIR: ../../assets/demo or a generated one)
"""
import shutil
import sys
from pathlib import Path

from wasabi import msg

from spacy_rnn.synthetic import to_docbin


def main(source: str, target: str) -> None:
    source_dir, target_dir = Path(source), Path(target)
    for task in ("tagging", "translation"):
        if not (source_dir / task).is_dir():
            msg.fail(f"{source_dir / task} not found: generate the corpora with "
                     f"`python -m spacy_rnn.synthetic --out {source_dir}`", exits=1)
        shutil.copytree(source_dir / task, target_dir / task, dirs_exist_ok=True)
    for split in ("train", "dev", "test"):
        jsonl = target_dir / "tagging" / f"{split}.jsonl"
        n = to_docbin(jsonl, target_dir / "tagging" / f"{split}.spacy")
        msg.good(f"{jsonl} -> .spacy ({n} docs)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
