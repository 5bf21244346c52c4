"""Convert IOB2 files in CoNLL-U-like layout (UNER) to .spacy docs with doc.ents.

python scripts/convert_iob2.py IN.iob2 OUT.spacy [IN2.iob2 OUT2.spacy ...] [--repair] [--drop-types OTH]

Input: one token per line, tab-separated columns ID, FORM, TAG, ... (UNER: ID, word, IOB2 tag,
two annotator columns); `#` comment lines before a sentence; a blank line after each sentence.
IDs must count 1, 2, 3, ... within a sentence. Tags are O, B-TYPE or I-TYPE. Nothing is repaired
silently: an invalid line stops the conversion with an error naming the file and line, and so
does an I-TYPE tag that does not continue a TYPE entity, unless --repair is given (it then starts
a new entity, and the repairs are counted in a warning). --drop-types maps the tags of the given
entity types to O (counted in the report), e.g. OTH, which the UNER dev/test files do not use.
Every input must exist and convert before any output is written.
"""
import argparse
import re
import sys
from collections import Counter
from pathlib import Path

import spacy
from spacy.tokens import Doc, DocBin
from wasabi import msg

TAG = re.compile(r"^(O|[BI]-\S+)$")


class IOBError(ValueError):
    """An invalid line of an IOB2 file (the message names the file and line)."""


def read_sentences(path: Path, tag_column: int = 2):
    """Yield (line number of the first token, [(line number, word, tag), ...]) per sentence."""
    tokens = []
    with open(path, "rb") as file_:
        for line_no, raw in enumerate(file_, start=1):
            line = decode_line(raw, path, line_no).rstrip("\r\n").lstrip("\ufeff" if line_no == 1 else "")
            if not line.strip():
                if tokens:
                    yield tokens[0][0], tokens
                tokens = []
            elif line.startswith("#"):
                if tokens:
                    raise IOBError(f"{path}, line {line_no}: comment line inside a sentence "
                                   f"(a blank line is missing before it?): {line[:60]!r}")
            else:
                word, tag = parse_token_line(line, path, line_no, len(tokens) + 1, tag_column)
                tokens.append((line_no, word, tag))
    if tokens:
        yield tokens[0][0], tokens


def decode_line(raw: bytes, path: Path, line_no: int) -> str:
    """One line decoded as UTF-8; IOBError naming file and line if it is not UTF-8."""
    try:
        return raw.decode("utf8")
    except UnicodeDecodeError as err:
        raise IOBError(f"{path}, line {line_no}: not valid UTF-8 ({err.reason} at byte {err.start} "
                       "of the line). Convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`) "
                       "or fix that line.") from err


def parse_token_line(line: str, path: Path, line_no: int, expected_id: int, tag_column: int):
    """(word, tag) of one token line; IOBError naming file and line if it is malformed."""
    where = f"{path}, line {line_no}"
    columns = line.split("\t")
    if len(columns) <= max(tag_column, 1):
        raise IOBError(f"{where}: expected at least {max(tag_column, 1) + 1} tab-separated "
                       f"columns (ID, word, ..., tag), found {len(columns)}: {line[:80]!r}")
    if columns[0].strip() != str(expected_id):
        raise IOBError(f"{where}: token ID {columns[0]!r} where {expected_id} was expected (IDs count "
                       "1, 2, 3, ... per sentence; a blank line missing between sentences?)")
    word, tag = columns[1], columns[tag_column].strip()
    if not word.strip():
        raise IOBError(f"{where}: empty word in column 2")
    if not TAG.match(tag):
        raise IOBError(f"{where}: invalid IOB2 tag {tag!r} in column {tag_column + 1} "
                       "(use O, B-TYPE or I-TYPE)")
    return word, tag


def check_tags(tokens, path: Path, repair: bool, drop_types, counts: Counter):
    """IOB2 tags of a sentence after dropping types and checking (or repairing) I- tags."""
    tags, previous = [], "O"
    for line_no, _, tag in tokens:
        if tag != "O" and tag[2:] in drop_types:
            counts[f"dropped {tag[2:]}"] += tag.startswith("B-")
            tag = "O"
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            if not repair:
                raise IOBError(f"{path}, line {line_no}: {tag} follows {previous}, so it continues no "
                               f"{tag[2:]} entity. Fix the file, or pass --repair to start a new entity "
                               "there (repairs are counted).")
            counts["repaired"] += 1
            tag = "B-" + tag[2:]
        tags.append(tag)
        previous = tag
    return tags


def convert(in_path: Path, nlp, repair=False, drop_types=(), tag_column=2):
    """Docs with doc.ents from one IOB2 file, and counts (entities per type, repairs, drops)."""
    docs, counts = [], Counter()
    for _, tokens in read_sentences(in_path, tag_column):
        tags = check_tags(tokens, in_path, repair, set(drop_types), counts)
        words = [word for _, word, _ in tokens]
        doc = Doc(nlp.vocab, words=words, spaces=[True] * (len(words) - 1) + [False], ents=tags)
        counts.update(ent.label_ for ent in doc.ents)
        docs.append(doc)
    if not docs:
        raise IOBError(f"{in_path}: no sentences found")
    return docs, counts


def report(in_path, out_path, docs, counts):
    types = {k: v for k, v in counts.items() if k != "repaired" and not k.startswith("dropped")}
    msg.good(f"{in_path} -> {out_path}: {len(docs)} sentences, {sum(len(d) for d in docs)} tokens, "
             f"{sum(types.values())} entities ({', '.join(f'{k} {v}' for k, v in sorted(types.items()))})")
    for key in sorted(k for k in counts if k.startswith("dropped")):
        msg.info(f"{in_path}: {key} entities (their tags set to O, as --drop-types asks): {counts[key]}")
    if counts["repaired"]:
        msg.warn(f"{in_path}: repaired {counts['repaired']} I- tags that continued no entity "
                 "(each started a new entity; --repair)")


def check_inputs(paths):
    """IOBError naming every input file that is missing (checked before any is converted)."""
    missing = [str(path) for path in paths if not Path(path).is_file()]
    if missing:
        raise IOBError(f"not found: {', '.join(missing)}. Put the corpora in place first with "
                       "`python -m spacy project assets` (or point --vars.data_dir at local "
                       "copies), or fix the paths.")


def column_number(text: str) -> int:
    """argparse type of --tag-column: a 1-based column number."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more (columns count from 1), got {value}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="IN.iob2 OUT.spacy pairs")
    parser.add_argument("--repair", action="store_true", help="turn a stray I-X into B-X (counted)")
    parser.add_argument("--drop-types", nargs="*", default=[], help="entity types to map to O")
    parser.add_argument("--tag-column", type=column_number, default=3,
                        help="1-based column of the tag (3)")
    parser.add_argument("--lang", default="en")
    args = parser.parse_args(argv)
    if len(args.files) % 2:
        parser.error("give the files as IN.iob2 OUT.spacy pairs")
    nlp = spacy.blank(args.lang)
    pairs = list(zip(args.files[::2], args.files[1::2]))
    try:
        check_inputs([in_path for in_path, _ in pairs])
    except IOBError as err:
        msg.fail("Missing IOB2 input", str(err), exits=1)
    converted = []
    for in_path, out_path in pairs:  # all of them before writing anything
        try:
            converted.append(convert(Path(in_path), nlp, args.repair, args.drop_types,
                                     args.tag_column - 1))
        except IOBError as err:
            msg.fail("Invalid IOB2 input", str(err), exits=1)
    for (in_path, out_path), (docs, counts) in zip(pairs, converted):
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        DocBin(docs=docs).to_disk(out_path)
        report(in_path, out_path, docs, counts)


if __name__ == "__main__":
    sys.exit(main())
