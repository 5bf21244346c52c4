"""validate_conllu in the tagging project's convert_ud.py: a malformed CoNLL-U file is refused
with its file name, 1-based line number, the problem and the fix, before anything is converted."""
import importlib.util
import re

import pytest

from project_corpora import ROOT, SHARED_DATA, run_script

SCRIPT = ROOT / "projects" / "tagging" / "scripts" / "convert_ud.py"
REAL_DEV = SHARED_DATA / "ud_en_ewt" / "dev.conllu"


def load_convert_ud():
    spec = importlib.util.spec_from_file_location("convert_ud", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


convert_ud = load_convert_ud()


def token(id_, word="dog", head="0"):
    row = [id_, word, word, "NOUN", "NN", "_", head, "root" if head == "0" else "dep", "_", "_"]
    return "\t".join(row)


# line 1: comment; lines 2-5 tokens (a range and an empty node included); line 6 empty;
# line 7: comment; lines 8-9 tokens; no final empty line (allowed)
VALID = "\n".join([
    "# sent_id = 1", token("1"), token("2-3", head="_"), token("2", head="1"), token("3", head="1"),
    "", "# sent_id = 2", token("1"), token("1.1", head="_"), token("2", head="1"),
]) + "\n"


def write(tmp_path, text, name="bad.conllu"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf8") if isinstance(text, str) else text)
    return path


def test_valid_file_passes_and_counts_sentences(tmp_path):
    assert convert_ud.validate_conllu(write(tmp_path, VALID, "ok.conllu")) == 2
    # with a final empty line, extra empty lines between sentences and CRLF line ends: the same
    assert convert_ud.validate_conllu(write(tmp_path, VALID.replace("\n\n", "\n\n\n") + "\n")) == 2
    assert convert_ud.validate_conllu(write(tmp_path, VALID.replace("\n", "\r\n"))) == 2


@pytest.mark.parametrize("lines,line_no,message", [
    ([token("1"), "2\tdog\tdog"], 2, r"token line has 3 tab-separated fields, expected 10 "
     r"\(ID FORM .* MISC\); the file looks truncated"),
    ([token("1"), "2 dog dog NOUN NN _ 1 dep _ _", token("3")], 2,
     "token line has 1 tab-separated fields.*separated by spaces"),
    ([token("1") + "\t_"], 1, "token line has 11 tab-separated fields, expected 10.*stray tab"),
    ([token("1"), token("two")], 2, r"invalid token ID 'two'; the ID column must be a word "
     r"number \(7\), a multiword range \(3-4\) or an empty node \(5\.1\)"),
    ([token("1"), token("2.x")], 2, "invalid token ID '2.x'"),
    ([token("1"), token("3")], 2, "token ID 3 where 2 was expected; word IDs in a sentence must "
     "run 1, 2, 3"),
    ([token("1"), token("2"), token("2")], 3, "token ID 2 where 3 was expected"),
    ([token("1"), token("2"), token("1")], 3, "token ID 1 where 3 was expected; a new sentence "
     "seems to start here: insert an empty line"),
    ([token("1"), token("3-4", head="_"), token("2")], 2, "multiword range 3-4 where a range "
     "starting at 2 was expected"),
    ([token("1"), token("2.1", head="_")], 2, "empty node 2.1 after word 1"),
    ([token("1"), token("2-3", head="_"), token("2")], 2, "multiword range ends at word 3 but "
     "the sentence has 2 words"),
    ([token("1"), token("2", head="5")], 2, "HEAD 5 is not a word of this sentence"),
    ([token("1"), token("2", head="x")], 2, "HEAD 'x' is not a word ID"),
    ([token("1", word="")], 1, "empty FORM/LEMMA field; .* write _"),
    ([token("1"), "# late comment"], 2, "comment line after the token lines of a sentence"),
    ([token("1"), "  ", token("1")], 2, "line has only whitespace"),
    ([token("1"), "", "# sent_id = orphan"], 3, "sentence without any word line"),
])
def test_invalid_lines_are_reported_with_file_and_line(tmp_path, lines, line_no, message):
    path = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(convert_ud.CoNLLUError, match=rf"bad\.conllu, line {line_no}: {message}"):
        convert_ud.validate_conllu(path)


@pytest.mark.parametrize("text", ["", "\n\n", "\ufeff"])
def test_empty_file_is_refused(tmp_path, text):
    with pytest.raises(convert_ud.CoNLLUError, match=r"bad\.conllu: no sentences found"):
        convert_ud.validate_conllu(write(tmp_path, text))


def test_non_utf8_byte_is_reported_with_line_and_column(tmp_path):
    data = VALID.encode("utf8").replace(b"\n2\tdog", b"\n2\td\xe9g", 1)  # Latin-1 é, line 4
    with pytest.raises(convert_ud.CoNLLUError, match=r"bad\.conllu, line 4: byte 0xe9 at column "
                       r"4 is not valid UTF-8 .*iconv"):
        convert_ud.validate_conllu(write(tmp_path, data))


def test_script_refuses_a_broken_split_before_writing_anything(tmp_path):
    in_dir = tmp_path / "ud"
    write(in_dir.mkdir() or in_dir, VALID, "train.conllu")
    write(in_dir, VALID.replace(token("2", head="1"), token("4", head="1"), 1), "dev.conllu")
    result = run_script(SCRIPT, in_dir, tmp_path / "corpus", "--splits", "train", "dev",
                        cwd=tmp_path)
    assert result.returncode == 1
    assert "Invalid CoNLL-U input" in result.stderr
    assert "dev.conllu, line 4: token ID 4 where 2 was expected" in result.stderr
    assert not (tmp_path / "corpus").exists()  # train is valid but was not converted either


def test_script_converts_a_valid_file(tmp_path):
    in_dir = tmp_path / "ud"
    write(in_dir.mkdir() or in_dir, "\ufeff" + VALID, "dev.conllu")  # a leading BOM is fine
    result = run_script(SCRIPT, "ud", "corpus", "--splits", "dev", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # says what it is doing before each (long) step, not only when a split is done
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)  # wasabi's colours
    lines = [line for line in output.splitlines() if "ud/dev.conllu" in line]
    assert [line.split(" ", 1)[1] for line in lines] == [
        "Checking ud/dev.conllu...", "Converting ud/dev.conllu (2 sentences)...",
        "ud/dev.conllu: 2 sentences, 5 words"]
    from spacy.tokens import DocBin
    import spacy
    docs = list(DocBin().from_disk(tmp_path / "corpus" / "tag" / "dev.spacy")
                .get_docs(spacy.blank("en").vocab))
    assert [len(doc) for doc in docs] == [3, 2]
    assert docs[0][0].tag_ == "NOUN"


@pytest.mark.skipif(not REAL_DEV.is_file(), reason=f"{REAL_DEV} is not here")
def test_real_ud_ewt_dev_validates():
    assert convert_ud.validate_conllu(REAL_DEV) == 2001
