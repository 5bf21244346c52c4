"""Copy the demo corpora into corpus/ and convert the tagging JSONL files to .spacy.

python scripts/prepare.py SOURCE_DIR corpus     (SOURCE_DIR: assets, written by the generate step)
"""
import argparse
import shutil
from pathlib import Path

from wasabi import msg

from spacy_rnn.synthetic import to_docbin

# the files train_cell.py reads, per task (project.yml lists them as deps and outputs)
FILES = {"tagging": ["train.jsonl", "dev.jsonl", "test.jsonl"],
         "translation": ["train.src", "train.tgt", "dev.src", "dev.tgt", "test.jsonl"]}


def check_source(source_dir: Path) -> None:
    """Fail before anything is copied if the data_dir lacks one of the expected files."""
    missing = [f"{task}/{name}" for task, names in FILES.items() for name in names
               if not (source_dir / task / name).is_file()]
    if missing:
        msg.fail(f"{source_dir} lacks {', '.join(missing)}: run `spacy project run generate` "
                 f"(for data_dir assets), or write them with "
                 f"`python -m spacy_rnn.synthetic --out {source_dir}`", exits=1)


def copy_task(source_dir: Path, target_dir: Path, task: str) -> None:
    """Replace target_dir/task with the expected files of source_dir/task (no old file stays)."""
    shutil.rmtree(target_dir / task, ignore_errors=True)
    (target_dir / task).mkdir(parents=True)
    for name in FILES[task]:
        shutil.copyfile(source_dir / task / name, target_dir / task / name)


def main(source: str, target: str) -> None:
    source_dir, target_dir = Path(source), Path(target)
    check_source(source_dir)
    for task in FILES:
        copy_task(source_dir, target_dir, task)
        msg.good(f"{source_dir / task} -> {target_dir / task} ({len(FILES[task])} files)")
    for split in ("train", "dev", "test"):
        jsonl = target_dir / "tagging" / f"{split}.jsonl"
        n = to_docbin(jsonl, target_dir / "tagging" / f"{split}.spacy")
        msg.good(f"{jsonl} -> .spacy ({n} docs)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="data_dir: assets (the generate step) or another output "
                                       "of python -m spacy_rnn.synthetic")
    parser.add_argument("target", help="the project's corpus/ folder")
    args = parser.parse_args()
    main(args.source, args.target)
