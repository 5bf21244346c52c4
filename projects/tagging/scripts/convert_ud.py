"""Convert UD CoNLL-U files to .spacy: UPOS in token.pos, and a copy with UPOS in token.tag.

python scripts/convert_ud.py assets/ud_en_ewt corpus --splits train dev test

For each split, corpus/pos/SPLIT.spacy is what `python -m spacy convert SPLIT.conllu corpus/pos
-c conllu -n 1` writes (one sentence per doc, the same converter called in one process), read by
rnn_tagger (attr "pos"); corpus/tag/SPLIT.spacy has token.tag = token.pos (UPOS instead of
XPOS), for spaCy's `tagger`, which predicts token.tag.

Every input file is checked first (validate_conllu), all of them before anything is written: a
malformed corpus stops the script with an error naming the file, the line, what is wrong and what
to do, instead of an obscure failure (or silently bad docs) inside spaCy's converter.
"""
import argparse
import re
import sys
from pathlib import Path

from spacy.tokens import DocBin
from spacy.training.converters import conllu_to_docs
from wasabi import msg


FIELDS = ("ID", "FORM", "LEMMA", "UPOS", "XPOS", "FEATS", "HEAD", "DEPREL", "DEPS", "MISC")
WORD_ID = re.compile(r"[1-9][0-9]*")
RANGE_ID = re.compile(r"([1-9][0-9]*)-([1-9][0-9]*)")
EMPTY_NODE_ID = re.compile(r"(0|[1-9][0-9]*)\.([1-9][0-9]*)")
HEAD = re.compile(r"0|[1-9][0-9]*|_")


class CoNLLUError(ValueError):
    """A malformed CoNLL-U file; the message names the file and the 1-based line."""


def read_lines(path: Path):
    """The lines of path as read_text() splits them (universal newlines, a leading UTF-8 BOM
    dropped); CoNLLUError naming the line and column of the first byte that is not UTF-8."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CoNLLUError(f"{path}: file not found (fetch it first: `python -m spacy project "
                          "assets`, or check the --splits names)") from None
    text = data.decode("utf-8-sig", errors="surrogateescape")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for line_no, line in enumerate(lines, start=1):
        bad = re.search("[\udc80-\udcff]", line)
        if bad:
            byte = ord(bad.group()) - 0xDC00
            raise CoNLLUError(f"{path}, line {line_no}: byte 0x{byte:02x} at column "
                              f"{bad.start() + 1} is not valid UTF-8 (CoNLL-U files must be "
                              "UTF-8; re-export or convert the file, e.g. with iconv -t UTF-8, "
                              "or re-download it if it was cut off)")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line, it does not start another
    return lines


def validate_conllu(path) -> int:
    """Check that path is a well-formed CoNLL-U file, as far as the converter relies on it;
    return its number of sentences. Raises CoNLLUError naming the file, the 1-based line number,
    what is wrong and what to do about it. Checked: UTF-8; 10 tab-separated, non-empty fields per
    token line; IDs that are integers, ranges (3-4) or empty nodes (5.1); word IDs 1, 2, 3, ...
    in each sentence, ranges and empty nodes in their place; HEAD an ID of the sentence (or 0);
    comments only before a sentence's token lines; sentences separated by empty lines. The
    last sentence need not be followed by an empty line."""
    path = Path(path)
    lines = read_lines(path)
    n_sents = 0
    sentence = None  # state of the current sentence: None between sentences

    def end_sentence(line_no):
        nonlocal n_sents, sentence
        if sentence is not None:
            where = f"{path}, line {sentence['start']}"
            if sentence["last_word"] == 0:
                raise CoNLLUError(f"{where}: sentence without any word line (only comments, "
                                  f"ranges or empty nodes, up to line {line_no - 1}); add its "
                                  "token lines or delete the block")
            range_line, range_end = sentence["range"]
            if range_end > sentence["last_word"]:
                raise CoNLLUError(f"{path}, line {range_line}: multiword range ends at word "
                                  f"{range_end} but the sentence has {sentence['last_word']} "
                                  "words; fix the range or add the missing word lines")
            for head_line, head in sentence["heads"]:
                if head > sentence["last_word"]:
                    raise CoNLLUError(f"{path}, line {head_line}: HEAD {head} is not a word of "
                                      f"this sentence (it has {sentence['last_word']} words); "
                                      "fix the HEAD column (0 for the root)")
            n_sents += 1
        sentence = None

    for line_no, line in enumerate(lines, start=1):
        where = f"{path}, line {line_no}"
        if line == "":
            end_sentence(line_no)
            continue
        if not line.strip():
            raise CoNLLUError(f"{where}: line has only whitespace; sentences must be separated "
                              "by a line that is completely empty (delete the spaces/tabs)")
        if sentence is None:
            sentence = {"start": line_no, "last_word": 0, "range": (0, 0), "heads": [],
                        "tokens": False}
        if line.startswith("#"):
            if sentence["tokens"]:
                raise CoNLLUError(f"{where}: comment line after the token lines of a sentence; "
                                  "comments belong before a sentence's first token line (move "
                                  "it, or add the missing empty line before it)")
            continue
        sentence["tokens"] = True
        fields = line.split("\t")
        if len(fields) != 10:
            hint = "use _ for an unspecified field"
            if len(fields) < 10 and line_no == len(lines):
                hint = "the file looks truncated: re-download or re-export it"
            elif len(fields) == 1 and " " in line:
                hint = "the fields look separated by spaces; CoNLL-U needs one tab between fields"
            elif len(fields) > 10:
                hint = "remove the stray tab(s); a field cannot contain a tab"
            raise CoNLLUError(f"{where}: token line has {len(fields)} tab-separated fields, "
                              f"expected 10 ({' '.join(FIELDS)}); {hint}")
        empty = [name for name, field in zip(FIELDS, fields) if field == ""]
        if empty:
            raise CoNLLUError(f"{where}: empty {'/'.join(empty)} field; CoNLL-U fields are never "
                              "empty, write _ for an unspecified value (a doubled or stray tab?)")
        id_ = fields[0]
        expected = sentence["last_word"] + 1
        if WORD_ID.fullmatch(id_):
            if int(id_) != expected:
                hint = ("word IDs in a sentence must run 1, 2, 3, ...: a line is missing, "
                        "repeated or misnumbered")
                if int(id_) == 1:
                    hint = ("a new sentence seems to start here: insert an empty line before it")
                raise CoNLLUError(f"{where}: token ID {id_} where {expected} was expected; {hint}")
            if not HEAD.fullmatch(fields[6]):
                raise CoNLLUError(f"{where}: HEAD {fields[6]!r} is not a word ID; fix the HEAD "
                                  "column (an integer ID of this sentence, 0 for the root)")
            if fields[6] != "_":
                sentence["heads"].append((line_no, int(fields[6])))
            sentence["last_word"] = expected
        elif RANGE_ID.fullmatch(id_):
            start, end = map(int, RANGE_ID.fullmatch(id_).groups())
            if start != expected or end <= start:
                raise CoNLLUError(f"{where}: multiword range {id_} where a range starting at "
                                  f"{expected} was expected; a range comes right before its "
                                  "words and spans at least two (e.g. 3-4 before word 3)")
            if sentence["range"][1] >= start:
                raise CoNLLUError(f"{where}: multiword range {id_} overlaps the range on line "
                                  f"{sentence['range'][0]}; fix the ranges")
            sentence["range"] = (line_no, end)
        elif EMPTY_NODE_ID.fullmatch(id_):
            word = int(EMPTY_NODE_ID.fullmatch(id_).group(1))
            if word != sentence["last_word"]:
                raise CoNLLUError(f"{where}: empty node {id_} after word {sentence['last_word']}; "
                                  f"an empty node N.M comes right after word N (0.M before word "
                                  "1): fix its ID or move the line")
        else:
            raise CoNLLUError(f"{where}: invalid token ID {id_!r}; the ID column must be a "
                              "word number (7), a multiword range (3-4) or an empty node (5.1)")
    end_sentence(len(lines) + 1)
    if n_sents == 0:
        raise CoNLLUError(f"{path}: no sentences found (the file is empty or has only empty "
                          "lines); check that it is the right CoNLL-U file and re-download it")
    return n_sents


def convert_split(conllu_path: Path, out_dir: Path):
    text = conllu_path.read_text(encoding="utf-8-sig")
    docs = list(conllu_to_docs(text, n_sents=1, no_print=True))
    if not docs:
        msg.fail(f"{conllu_path}: no sentences found (is it a CoNLL-U file?)", exits=1)
    write(docs, out_dir / "pos" / f"{conllu_path.stem}.spacy")
    for doc in docs:
        for token in doc:
            token.tag_ = token.pos_
    write(docs, out_dir / "tag" / f"{conllu_path.stem}.spacy")
    n_words = sum(len(doc) for doc in docs)
    msg.good(f"{conllu_path}: {len(docs)} sentences, {n_words} words")


def progress(text):
    """An info line shown at once, also when the output goes to a pipe or a log."""
    msg.info(text)
    sys.stdout.flush()


def write(docs, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=docs, store_user_data=True).to_disk(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("in_dir", type=Path, help="folder with SPLIT.conllu files")
    parser.add_argument("out_dir", type=Path, help="writes OUT_DIR/pos/ and OUT_DIR/tag/")
    parser.add_argument("--splits", nargs="+", default=["train", "dev", "test"])
    args = parser.parse_args(argv)
    paths = [args.in_dir / f"{split}.conllu" for split in args.splits]
    counts = {}
    try:
        for path in paths:  # all of them before writing anything
            progress(f"Checking {path}...")
            counts[path] = validate_conllu(path)
    except CoNLLUError as err:
        sys.exit(f"✘ Invalid CoNLL-U input\n{err}")
    for path in paths:
        progress(f"Converting {path} ({counts[path]} sentences)...")
        convert_split(path, args.out_dir)


if __name__ == "__main__":
    main()
