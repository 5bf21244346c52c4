"""Convert UD CoNLL-U files to .spacy: UPOS in token.pos, and a copy with UPOS in token.tag.

python scripts/convert_ud.py assets/ud_en_ewt corpus --splits train dev test

For each split, corpus/pos/SPLIT.spacy is what `python -m spacy convert SPLIT.conllu corpus/pos
-c conllu -n 1` writes (one sentence per doc, the same converter called in one process), read by
rnn_tagger (attr "pos"); corpus/tag/SPLIT.spacy has token.tag = token.pos (UPOS instead of
XPOS), for spaCy's `tagger`, which predicts token.tag.
"""
import argparse
from pathlib import Path

from spacy.tokens import DocBin
from spacy.training.converters import conllu_to_docs
from wasabi import msg


def convert_split(conllu_path: Path, out_dir: Path):
    docs = list(conllu_to_docs(conllu_path.read_text(encoding="utf8"), n_sents=1, no_print=True))
    if not docs:
        msg.fail(f"{conllu_path}: no sentences found (is it a CoNLL-U file?)", exits=1)
    write(docs, out_dir / "pos" / f"{conllu_path.stem}.spacy")
    for doc in docs:
        for token in doc:
            token.tag_ = token.pos_
    write(docs, out_dir / "tag" / f"{conllu_path.stem}.spacy")
    n_words = sum(len(doc) for doc in docs)
    msg.good(f"{conllu_path}: {len(docs)} sentences, {n_words} words")


def write(docs, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=docs, store_user_data=True).to_disk(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("in_dir", type=Path, help="folder with SPLIT.conllu files")
    parser.add_argument("out_dir", type=Path, help="writes OUT_DIR/pos/ and OUT_DIR/tag/")
    parser.add_argument("--splits", nargs="+", default=["train", "dev", "test"])
    args = parser.parse_args()
    for split in args.splits:
        convert_split(args.in_dir / f"{split}.conllu", args.out_dir)


if __name__ == "__main__":
    main()
