"""Tests for spacy_rnn.readers: the parallel corpus reader and its helpers."""
import gzip
import random
import re
import warnings
from pathlib import Path
from typing import List, Sequence

import pytest
import spacy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spacy.util import load_config_from_str

from spacy_rnn.readers import (
    ParallelCorpusWarning,
    create_parallel_corpus_reader,
    iter_parallel,
    read_parallel,
)

SOURCE = ["The cat sleeps .", "A dog barks loudly .", "Birds sing ."]
TARGET = ["Die Katze schläft .", "Ein Hund bellt laut .", "Vögel singen ."]


def write_lines(path: Path, lines: Sequence[str], newline: str = "\n") -> Path:
    """Write lines (UTF-8, one per line, gzipped if the suffix is .gz)."""
    data = "".join(line + newline for line in lines).encode("utf-8")
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def write_pair(tmp_path: Path, source: Sequence[str], target: Sequence[str], suffix: str = ".txt"):
    """Write a source and a target file; return their paths."""
    src = write_lines(tmp_path / f"train.src{suffix}", source)
    tgt = write_lines(tmp_path / f"train.tgt{suffix}", target)
    return src, tgt


def read_all(src: Path, tgt: Path, **kwargs) -> list:
    """Run the reader over a blank English pipeline and list its examples."""
    reader = create_parallel_corpus_reader(src, tgt, **kwargs)
    return list(reader(spacy.blank("en")))


def texts(examples) -> List[tuple]:
    """(source text, reference translation) of each example."""
    return [(eg.predicted.text, eg.reference._.translation) for eg in examples]


@pytest.fixture
def nlp():
    return spacy.blank("en")


def test_reader_yields_source_doc_and_reference_translation(tmp_path):
    src, tgt = write_pair(tmp_path, SOURCE, TARGET)
    examples = read_all(src, tgt)
    assert texts(examples) == list(zip(SOURCE, TARGET))
    for example in examples:
        assert example.predicted._.translation is None
        assert example.reference.text == example.predicted.text
        assert [t.text for t in example.reference] == [t.text for t in example.predicted]
        assert example.predicted is not example.reference


def test_reader_round_trips_counts(tmp_path):
    source = [f"source sentence {i}" for i in range(57)]
    target = [f"target sentence {i}" for i in range(57)]
    src, tgt = write_pair(tmp_path, source, target)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        examples = read_all(src, tgt)
    assert len(examples) == 57
    assert texts(examples) == list(zip(source, target))


def test_reader_passes_are_repeatable(tmp_path, nlp):
    src, tgt = write_pair(tmp_path, SOURCE, TARGET)
    reader = create_parallel_corpus_reader(src, tgt)
    assert texts(reader(nlp)) == texts(reader(nlp))


@pytest.mark.parametrize("suffixes", [(".gz", ".gz"), (".gz", ".txt"), (".txt", ".gz")])
def test_reader_reads_gzip_by_suffix(tmp_path, suffixes):
    src = write_lines(tmp_path / f"a{suffixes[0]}", SOURCE)
    tgt = write_lines(tmp_path / f"b{suffixes[1]}", TARGET)
    assert texts(read_all(src, tgt)) == list(zip(SOURCE, TARGET))


def test_line_count_mismatch_names_files_and_counts(tmp_path, nlp):
    src, tgt = write_pair(tmp_path, SOURCE, TARGET[:2])
    reader = create_parallel_corpus_reader(src, tgt)
    pattern = (
        rf"different line counts: {re.escape(str(src))} has 3 lines but "
        rf"{re.escape(str(tgt))} has 2 lines"
    )
    with pytest.raises(ValueError, match=pattern):
        next(iter(reader(nlp)))
    with pytest.raises(ValueError, match=pattern):
        read_parallel(src, tgt)


@pytest.mark.parametrize("source,hint", [
    (b"a\nb\n\n", "the last line of {src} is empty (a blank line at the end?)"),
    (b"a\rb\rc\r", "{src} has carriage returns (\\r) that are not part of \\r\\n: if its lines end"),
    (b"a\n", None),
], ids=["blank_last_line", "cr_line_endings", "no_hint"])
def test_line_count_mismatch_hints_at_line_endings(tmp_path, source, hint):
    src = tmp_path / "src.txt"
    src.write_bytes(source)
    tgt = write_lines(tmp_path / "tgt.txt", ["x", "y", "z"][:2 if b"\n\n" in source else 3])
    with pytest.raises(ValueError, match="different line counts") as info:
        read_parallel(src, tgt)
    message = str(info.value)
    if hint is None:
        assert "Hint" not in message
    else:
        assert message.count("Hint") == 1 and "Hint: " + hint.format(src=src) in message


def test_line_count_checked_before_anything_is_yielded(tmp_path, nlp):
    # The mismatch is only at the end of a long file; nothing may come out first.
    source = [f"s {i}" for i in range(100)]
    src, tgt = write_pair(tmp_path, source, source + ["extra"])
    got = []
    with pytest.raises(ValueError, match="has 100 lines but .* has 101 lines"):
        for example in create_parallel_corpus_reader(src, tgt)(nlp):
            got.append(example)
    assert got == []


def test_invalid_utf8_names_file_line_and_fix(tmp_path, nlp):
    src = write_lines(tmp_path / "src.txt", SOURCE)
    tgt = tmp_path / "tgt.txt"
    tgt.write_bytes(b"Die Katze\nEin Hund \xff\xfe bellt\nV\xc3\xb6gel\n")
    pattern = rf"{re.escape(str(tgt))}, line 2: not valid UTF-8 .*Convert the file to UTF-8"
    with pytest.raises(ValueError, match=pattern):
        list(create_parallel_corpus_reader(src, tgt)(nlp))
    with pytest.raises(ValueError, match=pattern):
        read_parallel(src, tgt)


def test_invalid_utf8_in_gzip_file(tmp_path):
    src = tmp_path / "src.gz"
    src.write_bytes(gzip.compress(b"ok\n\xe9t\xe9\n"))
    tgt = write_lines(tmp_path / "tgt.txt", ["ok", "summer"])
    with pytest.raises(ValueError, match=rf"{re.escape(str(src))}, line 2: not valid UTF-8"):
        read_parallel(src, tgt)


@pytest.mark.parametrize("name", ["a.GZ", "a.Gz", "a.src", "a"])
def test_gzip_detected_by_magic_bytes_whatever_the_name(tmp_path, name):
    src = tmp_path / name
    src.write_bytes(gzip.compress("".join(s + "\n" for s in SOURCE).encode("utf-8")))
    tgt = write_lines(tmp_path / "b.txt", TARGET)
    assert texts(read_all(src, tgt)) == list(zip(SOURCE, TARGET))


def test_plain_text_named_gz_is_a_clear_error(tmp_path):
    src = tmp_path / "a.src.gz"
    src.write_bytes(b"a\nb\nc\n")
    tgt = write_lines(tmp_path / "b.txt", TARGET)
    pattern = rf"{re.escape(str(src))}: not a gzip file .*Rename it without \.gz if it is plain text"
    with pytest.raises(ValueError, match=pattern):
        read_parallel(src, tgt)
    with pytest.raises(ValueError, match=pattern):
        read_all(src, tgt)


@pytest.mark.parametrize("damage,what", [
    (lambda data: data[:-12], "is truncated"),
    (lambda data: data[:-8] + b"\0" * 8, "is corrupt"),  # wrong CRC and size
    (lambda data: data[:10] + b"\xff" * (len(data) - 10), "is corrupt"),
], ids=["truncated", "bad_trailer", "bad_data"])
def test_damaged_gzip_names_the_file_and_what_is_wrong(tmp_path, damage, what):
    data = gzip.compress("".join(s + "\n" for s in SOURCE).encode("utf-8"))
    src = tmp_path / "a.gz"
    src.write_bytes(damage(data))
    tgt = write_lines(tmp_path / "b.txt", TARGET)
    pattern = rf"{re.escape(str(src))}: the gzip file {what} .*fetch or compress it again"
    with pytest.raises(ValueError, match=pattern):
        read_parallel(src, tgt)


@pytest.mark.parametrize("encoded", [
    "\ufeffa\nb\nc\n".encode("utf-16-le"),  # starts with ff fe
    "\ufeffa\nb\nc\n".encode("utf-16-be"),  # starts with fe ff
], ids=["utf16le", "utf16be"])
def test_utf16_file_is_reported_as_utf16(tmp_path, encoded):
    src = tmp_path / "a.txt"
    src.write_bytes(encoded)
    tgt = write_lines(tmp_path / "b.txt", TARGET)
    pattern = (rf"{re.escape(str(src))}, line 1: the file is UTF-16 .*not UTF-8\. "
               r"Convert it to UTF-8, for example with `iconv -f utf-16 -t utf-8 ")
    with pytest.raises(ValueError, match=pattern) as info:
        read_parallel(src, tgt)
    assert "latin1" not in str(info.value)


@pytest.mark.parametrize("missing", ["source", "target"])
def test_missing_file_is_named(tmp_path, missing):
    src, tgt = write_pair(tmp_path, SOURCE, TARGET)
    gone = src if missing == "source" else tgt
    gone.unlink()
    pattern = rf"Parallel corpus file not found: {re.escape(str(gone))} does not exist"
    with pytest.raises(FileNotFoundError, match=pattern):
        create_parallel_corpus_reader(src, tgt)
    with pytest.raises(FileNotFoundError, match=pattern):
        read_parallel(src, tgt)


def test_directory_is_not_a_file(tmp_path):
    src, _ = write_pair(tmp_path, SOURCE, TARGET)
    with pytest.raises(FileNotFoundError, match="is a directory, not a file"):
        create_parallel_corpus_reader(src, tmp_path)


def test_empty_pairs_skipped_with_one_warning(tmp_path):
    source = ["one", "", "three", "four", "  \t ", "six"]
    target = ["eins", "zwei", " ", "vier", "fünf", "sechs"]
    src, tgt = write_pair(tmp_path, source, target)
    with pytest.warns(ParallelCorpusWarning) as record:
        examples = read_all(src, tgt)
    assert texts(examples) == [("one", "eins"), ("four", "vier"), ("six", "sechs")]
    assert len(record) == 1
    message = str(record[0].message)
    assert message == (
        f"Skipped 3 line pair(s) of {src} / {tgt} where the source or target line is "
        "empty or whitespace-only."
    )


def test_no_warning_when_nothing_skipped(tmp_path):
    src, tgt = write_pair(tmp_path, SOURCE, TARGET)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_all(src, tgt)) == 3


def test_max_length_skips_long_pairs_with_warning(tmp_path):
    source = ["a b c", "a b c d", "a b", "a"]
    target = ["x y z", "x y", "w x y z", "x"]
    src, tgt = write_pair(tmp_path, source, target)
    pattern = (
        rf"Skipped 2 line pair\(s\) of {re.escape(str(src))} / {re.escape(str(tgt))} "
        r"where the source or target has more than max_length=3 whitespace-separated tokens"
    )
    with pytest.warns(ParallelCorpusWarning, match=pattern):
        examples = read_all(src, tgt, max_length=3)
    assert texts(examples) == [("a b c", "x y z"), ("a", "x")]


def test_limit_keeps_first_pairs_after_skipping(tmp_path):
    source = ["", "b", "c", "d", "e"]
    target = ["A", "B", "C", "D", "E"]
    src, tgt = write_pair(tmp_path, source, target)
    with pytest.warns(ParallelCorpusWarning, match="Skipped 1 line pair"):
        examples = read_all(src, tgt, limit=2)
    assert texts(examples) == [("b", "B"), ("c", "C")]


def test_limit_larger_than_corpus(tmp_path):
    src, tgt = write_pair(tmp_path, SOURCE, TARGET)
    assert len(read_all(src, tgt, limit=100)) == 3


@pytest.mark.parametrize("setting", ["limit", "max_length"])
def test_negative_settings_rejected(tmp_path, setting):
    src, tgt = write_pair(tmp_path, SOURCE, TARGET)
    with pytest.raises(ValueError, match=rf"{setting} must be 0 \(no limit\) or a positive"):
        create_parallel_corpus_reader(src, tgt, **{setting: -1})


def test_shuffle_keeps_pairs_aligned(tmp_path):
    source = [f"s{i}" for i in range(50)]
    target = [f"t{i}" for i in range(50)]
    src, tgt = write_pair(tmp_path, source, target)
    random.seed(0)
    shuffled = texts(read_all(src, tgt, shuffle=True))
    assert shuffled != list(zip(source, target))
    assert sorted(shuffled) == sorted(zip(source, target))
    assert all(s[1:] == t[1:] for s, t in shuffled)


def test_crlf_and_bom_and_no_final_newline(tmp_path):
    src = tmp_path / "src.txt"
    src.write_bytes("\ufeffHello there\r\nSecond line".encode("utf-8"))
    tgt = tmp_path / "tgt.txt"
    tgt.write_bytes(b"Hallo da\r\nZweite Zeile\r\n")
    assert list(read_parallel(src, tgt)) == [
        (1, "Hello there", "Hallo da"),
        (2, "Second line", "Zweite Zeile"),
    ]


def test_unicode_line_separators_do_not_split_lines(tmp_path):
    source = ["a\u2028b", "c\x85d", "e\x0cf"]
    target = ["1", "2", "3"]
    src, tgt = write_pair(tmp_path, source, target)
    assert [(s, t) for _, s, t in read_parallel(src, tgt)] == list(zip(source, target))


def test_read_parallel_keeps_empty_lines_and_numbers(tmp_path):
    src, tgt = write_pair(tmp_path, ["a", " ", "c"], ["A", "B", ""])
    assert list(read_parallel(src, tgt)) == [(1, "a", "A"), (2, "", "B"), (3, "c", "")]


def test_iter_parallel_applies_reader_policy(tmp_path):
    src, tgt = write_pair(tmp_path, ["a", " ", "c d e", "f"], ["A", "B", "C", "F"])
    with pytest.warns(ParallelCorpusWarning):
        pairs = list(iter_parallel(src, tgt, max_length=2))
    assert pairs == [(1, "a", "A"), (4, "f", "F")]


def test_empty_files_give_no_examples_and_a_warning(tmp_path):
    src, tgt = write_pair(tmp_path, [], [])
    with pytest.warns(ParallelCorpusWarning) as record:
        assert read_all(src, tgt) == []
    assert [str(w.message) for w in record] == [
        f"Read 0 line pairs from {src} / {tgt}: the files have 0 lines. The corpus gives no "
        "examples to train or evaluate on: check that source_path/target_path name the "
        "right, non-empty files."
    ]


@pytest.mark.parametrize("shuffle", [False, True])
def test_pass_with_every_pair_skipped_warns_once_with_counts(tmp_path, shuffle):
    src, tgt = write_pair(tmp_path, ["a b c", "", "d", "e f g"], ["x", "y", "", "z"])
    with pytest.warns(ParallelCorpusWarning) as record:
        assert read_all(src, tgt, max_length=2, shuffle=shuffle) == []
    assert [str(w.message) for w in record] == [
        f"Read 0 line pairs from {src} / {tgt}: the files have 4 lines; 2 pair(s) skipped "
        "because the source or target line is empty or whitespace-only; 2 pair(s) skipped "
        "because the source or target has more than max_length=2 whitespace-separated "
        "tokens. The corpus gives "
        "no examples to train or evaluate on: check that source_path/target_path name the "
        "right, non-empty files, or raise max_length."
    ]


def test_registry_resolves_reader():
    reader = spacy.registry.readers.get("spacy-rnn.ParallelCorpus.v1")
    assert reader is create_parallel_corpus_reader


def test_reader_resolves_from_config(tmp_path, nlp):
    src, tgt = write_pair(tmp_path, SOURCE, TARGET)
    config = load_config_from_str(
        f"""
        [corpora]

        [corpora.train]
        @readers = "spacy-rnn.ParallelCorpus.v1"
        source_path = "{src}"
        target_path = "{tgt}"
        max_length = 4
        limit = 0
        shuffle = false
        """
    )
    corpora = spacy.registry.resolve(config["corpora"])
    with pytest.warns(ParallelCorpusWarning, match="Skipped 1 line pair"):
        examples = list(corpora["train"](nlp))
    assert texts(examples) == [(SOURCE[0], TARGET[0]), (SOURCE[2], TARGET[2])]


# No "\n" inside a sentence (the line separator); anything else goes, including
# "\r", other Unicode line breaks and whitespace-only strings.
sentences = st.text(alphabet=st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=20)
sentences |= st.sampled_from(["", " ", "\t", "\u3000", "\r"])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pairs=st.lists(st.tuples(sentences, sentences), max_size=15), gz=st.booleans())
def test_reader_property_round_trip(tmp_path, pairs, gz):
    suffix = ".gz" if gz else ".txt"
    src, tgt = write_pair(tmp_path, [s for s, _ in pairs], [t for _, t in pairs], suffix)
    expected = [(s.lstrip("\ufeff").strip(), t.lstrip("\ufeff").strip()) for s, t in pairs]
    if expected:  # only line 1 may lose a byte order mark
        expected[1:] = [(s.strip(), t.strip()) for s, t in pairs[1:]]
    kept = [(s, t) for s, t in expected if s and t]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        examples = read_all(src, tgt)
    assert [(eg.predicted.text, eg.reference._.translation) for eg in examples] == kept
    assert all(eg.predicted._.translation is None for eg in examples)
    skip_warnings = [w for w in record if issubclass(w.category, ParallelCorpusWarning)]
    n_skipped = len(expected) - len(kept)
    if not kept:
        assert len(skip_warnings) == 1
        assert str(skip_warnings[0].message).startswith(
            f"Read 0 line pairs from {src} / {tgt}: the files have {len(pairs)} lines")
    elif n_skipped:
        assert len(skip_warnings) == 1
        assert str(skip_warnings[0].message).startswith(f"Skipped {n_skipped} line pair(s) of")
    else:
        assert skip_warnings == []


def test_unset_path_is_a_clear_error(tmp_path):
    from spacy_rnn.readers import create_parallel_corpus_reader

    with pytest.raises(ValueError, match=r"target_path is not set \(null\)\. Set it in the config"):
        create_parallel_corpus_reader(tmp_path / "a.txt", None)
    # a shipped config with its null [paths] fails with that message, not a type error
    cfg_path = Path(__file__).parent.parent / "configs" / "translator_lstm.cfg"
    config = spacy.util.load_config(cfg_path, interpolate=True)
    with pytest.raises(ValueError, match=r"source_path is not set \(null\)"):
        spacy.util.registry.resolve({"train": config["corpora"]["train"]}, validate=True)


def test_unset_path_message_is_not_only_about_train_paths():
    with pytest.raises(ValueError) as info:
        create_parallel_corpus_reader(None, None)
    message = str(info.value)
    assert "[corpora.*] block that uses this reader" in message
    assert "--paths.train_source train.en --paths.train_target train.de for [corpora.train]" in message
    assert "--paths.dev_source dev.en --paths.dev_target dev.de for [corpora.dev]" in message
