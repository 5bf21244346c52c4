"""Corpus readers for ``spacy train``: parallel plain-text corpora for translation.

A parallel corpus is two plain-text files (optionally gzipped: a ``.gz`` suffix in
any case, or gzip content under any name) holding one sentence per line, where
line *n* of the target file is the translation of line *n* of the source file.
Use it in a training config as::

    [corpora.train]
    @readers = "spacy-rnn.ParallelCorpus.v1"
    source_path = ${paths.train_src}
    target_path = ${paths.train_tgt}
    max_length = 100

Every ``Example`` it yields has the tokenized source as its predicted doc (with no
translation on it) and a copy of that doc carrying the target text in
``doc._.translation`` as its reference doc.
"""
import gzip
import random
import warnings
import zlib
from contextlib import closing
from pathlib import Path
from typing import IO, Callable, Generator, Iterable, Iterator, Optional, Tuple, Union

import spacy
from spacy.language import Language
from spacy.training import Example

from .extensions import ensure_doc_extensions

ensure_doc_extensions()

PathLike = Union[str, Path]
LinePair = Tuple[int, str, str]
GZIP_MAGIC = b"\x1f\x8b"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class ParallelCorpusWarning(UserWarning):
    """Warns about line pairs a parallel corpus reader skipped."""


@spacy.registry.readers("spacy-rnn.ParallelCorpus.v1")
def create_parallel_corpus_reader(
    source_path: Optional[Path],
    target_path: Optional[Path],
    max_length: int = 0,
    limit: int = 0,
    shuffle: bool = False,
) -> Callable[[Language], Iterable[Example]]:
    """Create a reader of ``Example``s from a pair of aligned plain-text files.

    source_path / target_path: one sentence per line, UTF-8, gzip allowed.
    max_length: if > 0, skip pairs whose source or target has more than this many
        whitespace-separated tokens (counted in a warning).
    limit: if > 0, keep only the first ``limit`` pairs that are not skipped.
    shuffle: shuffle the kept pairs on each pass (this holds all pairs in memory;
        without it the files are streamed).

    Pairs with an empty or whitespace-only side are skipped and counted in a
    warning at the end of each pass; a pass that yields no pair at all warns with
    the line count and the reasons. Files with different line counts, missing
    files and lines that are not valid UTF-8 raise before anything is yielded.
    """
    for name, value in (("source_path", source_path), ("target_path", target_path)):
        if value is None:
            raise ValueError(f"spacy-rnn.ParallelCorpus.v1: {name} is not set (null). Set it in "
                             "the config's [paths] section or on the command line for the "
                             "[corpora.*] block that uses this reader, e.g. --paths.train_source "
                             "train.en --paths.train_target train.de for [corpora.train] or "
                             "--paths.dev_source dev.en --paths.dev_target dev.de for [corpora.dev].")
    source_path, target_path = Path(source_path), Path(target_path)
    _check_non_negative("max_length", max_length)
    _check_non_negative("limit", limit)
    _check_file(source_path)
    _check_file(target_path)

    def read_examples(nlp: Language) -> Iterator[Example]:
        pairs: Iterable[LinePair] = iter_parallel(
            source_path, target_path, max_length=max_length, limit=limit
        )
        if shuffle:
            pairs = list(pairs)
            random.shuffle(pairs)
        for _, source, target in pairs:
            yield make_translation_example(nlp, source, target)

    return read_examples


def make_translation_example(nlp: Language, source: str, target: str) -> Example:
    """Build an ``Example``: predicted = ``nlp.make_doc(source)``, reference = a copy
    of it with ``doc._.translation = target``. The predicted doc has no translation.
    """
    predicted = nlp.make_doc(source)
    reference = predicted.copy()
    reference._.translation = target
    return Example(predicted, reference)


def read_parallel(
    source_path: PathLike, target_path: PathLike
) -> Generator[LinePair, None, None]:
    """Iterate over the aligned lines of two parallel text files.

    Yields ``(line_no, source, target)`` for every line pair, ``line_no`` 1-based,
    both texts stripped of surrounding whitespace (empty pairs included: see
    ``iter_parallel`` for the reader's skipping policy). Lines are split on ``\\n``
    only; a UTF-8 byte order mark at the start of a file is dropped.

    Raises (when called, before anything is yielded): ``FileNotFoundError`` for a
    missing file, ``ValueError`` for differing line counts, a line that is not
    valid UTF-8 or a gzip file that cannot be read (a file is gunzipped if its
    suffix is ``.gz``, in any case, or it starts with the gzip magic bytes).
    Reads both files once for these checks, then streams them.
    """
    source_path, target_path = Path(source_path), Path(target_path)
    _check_file(source_path)
    _check_file(target_path)
    _check_line_counts(source_path, target_path)
    return _zip_lines(source_path, target_path)


def iter_parallel(
    source_path: PathLike, target_path: PathLike, max_length: int = 0, limit: int = 0
) -> Iterator[LinePair]:
    """``read_parallel`` with the reader's policy: skip pairs with an empty side
    and (if ``max_length`` > 0) pairs with a side longer than ``max_length``
    whitespace tokens, keep the first ``limit`` pairs (if ``limit`` > 0), and warn
    (``ParallelCorpusWarning``) with the skip counts at the end of the pass, or
    with the line count and skip counts if the pass yielded no pair.
    """
    pairs = read_parallel(source_path, target_path)
    return _filter_pairs(pairs, Path(source_path), Path(target_path), max_length, limit)


def _filter_pairs(
    pairs: Generator[LinePair, None, None],
    source_path: Path,
    target_path: Path,
    max_length: int,
    limit: int,
) -> Iterator[LinePair]:
    """Yield the pairs that pass the policy of ``iter_parallel``, then warn (the
    warning comes when the pass is read to its end or to ``limit``)."""
    n_lines = n_empty = n_long = n_kept = 0
    with closing(pairs):
        for line_no, source, target in pairs:
            n_lines = line_no
            if not source or not target:
                n_empty += 1
                continue
            if max_length and max(len(source.split()), len(target.split())) > max_length:
                n_long += 1
                continue
            yield line_no, source, target
            n_kept += 1
            if n_kept == limit:
                break
    files = f"{source_path} / {target_path}"
    if n_kept:
        _warn_skipped(n_empty, n_long, max_length, files)
    else:
        _warn_nothing_kept(n_lines, n_empty, n_long, max_length, files)


def _warn_skipped(n_empty: int, n_long: int, max_length: int, files: str) -> None:
    """Emit one warning per kind of skipped pair, if any were skipped."""
    if n_empty:
        msg = (
            f"Skipped {n_empty} line pair(s) of {files} where the source or target "
            "line is empty or whitespace-only."
        )
        warnings.warn(msg, ParallelCorpusWarning, stacklevel=2)
    if n_long:
        msg = (
            f"Skipped {n_long} line pair(s) of {files} where the source or target "
            f"has more than max_length={max_length} whitespace-separated tokens."
        )
        warnings.warn(msg, ParallelCorpusWarning, stacklevel=2)


def _warn_nothing_kept(
    n_lines: int, n_empty: int, n_long: int, max_length: int, files: str
) -> None:
    """Warn that a pass yielded no pair at all: how many lines, skipped why."""
    msg = f"Read 0 line pairs from {files}: the files have {n_lines} lines"
    if n_empty:
        msg += (f"; {n_empty} pair(s) skipped because the source or target line is empty "
                "or whitespace-only")
    if n_long:
        msg += (f"; {n_long} pair(s) skipped because the source or target has more than "
                f"max_length={max_length} whitespace-separated tokens")
    msg += (". The corpus gives no examples to train or evaluate on: check that "
            "source_path/target_path name the right, non-empty files")
    msg += ", or raise max_length." if n_long else "."
    warnings.warn(msg, ParallelCorpusWarning, stacklevel=2)


def _zip_lines(source_path: Path, target_path: Path) -> Generator[LinePair, None, None]:
    """Stream the decoded, stripped line pairs of two files of equal length."""
    source_lines, target_lines = _raw_lines(source_path), _raw_lines(target_path)
    with closing(source_lines), closing(target_lines):
        for line_no, (raw_src, raw_tgt) in enumerate(zip(source_lines, target_lines), start=1):
            source = _decode_line(raw_src, source_path, line_no)
            target = _decode_line(raw_tgt, target_path, line_no)
            yield line_no, source, target


def _check_line_counts(source_path: Path, target_path: Path) -> None:
    """Raise ``ValueError`` naming both files and counts if the counts differ."""
    n_source, source_hints = _count_lines(source_path)
    n_target, target_hints = _count_lines(target_path)
    if n_source != n_target:
        raise ValueError(
            f"Parallel corpus files have different line counts: {source_path} has "
            f"{n_source} lines but {target_path} has {n_target} lines. Line n of the "
            "target file must translate line n of the source file: fix the files so "
            "that they align." + source_hints + target_hints
        )


def _count_lines(path: Path) -> Tuple[int, str]:
    """Count the lines of a file, checking that every line is valid UTF-8; also
    return hints on line endings that may explain a line count mismatch."""
    n_lines, last, bare_cr = 0, "", False
    for n_lines, raw in enumerate(_raw_lines(path), start=1):
        last = _decode_line(raw, path, n_lines)
        bare_cr = bare_cr or b"\r" in raw.rstrip(b"\r\n")
    hints = ""
    if n_lines and not last:
        hints += f" Hint: the last line of {path} is empty (a blank line at the end?)."
    if bare_cr:
        hints += (f" Hint: {path} has carriage returns (\\r) that are not part of \\r\\n: "
                  "if its lines end in \\r alone (old Mac style), convert them to \\n, "
                  "for example with `tr '\\r' '\\n'`.")
    return n_lines, hints


def _decode_line(raw: bytes, path: Path, line_no: int) -> str:
    """Decode one line as UTF-8 and strip it; raise a located ``ValueError``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(_decode_error(raw, path, line_no, err)) from err
    if line_no == 1:
        text = text.lstrip("\ufeff")
    return text.strip()


def _decode_error(raw: bytes, path: Path, line_no: int, err: UnicodeDecodeError) -> str:
    """The message for a line that is not UTF-8, with advice on converting it."""
    if line_no == 1 and raw[:2] in UTF16_BOMS:
        return (
            f"{path}, line 1: the file is UTF-16 (it starts with the UTF-16 byte order "
            f"mark {raw[:2].hex(' ')}), not UTF-8. Convert it to UTF-8, for example with "
            f"`iconv -f utf-16 -t utf-8 {path} > converted.txt`, and read the converted file."
        )
    return (
        f"{path}, line {line_no}: not valid UTF-8 ({err.reason} at byte "
        f"{err.start} of the line). Convert the file to UTF-8 (for example "
        f"`iconv -f latin1 -t utf-8`) or fix or remove that line in both files."
    )


def _raw_lines(path: Path) -> Generator[bytes, None, None]:
    """Yield the undecoded lines of a file (gunzipped if it is gzip), turning gzip
    errors into a ``ValueError`` that names the file."""
    with _open_binary(path) as file_:
        try:
            yield from file_
        except (gzip.BadGzipFile, EOFError, zlib.error) as err:
            raise ValueError(_gzip_error(path, err)) from err


def _gzip_error(path: Path, err: Exception) -> str:
    """The message for a file that gzip could not read: not gzip, truncated, corrupt."""
    if _read_magic(path) != GZIP_MAGIC:
        return (
            f"{path}: not a gzip file ({err}), although its name ends in "
            f"{path.suffix}. Rename it without {path.suffix} if it is plain text, or "
            "fetch it again if it should be compressed."
        )
    what = "is truncated" if isinstance(err, EOFError) else "is corrupt"
    return (
        f"{path}: the gzip file {what} ({err}). This usually follows an interrupted "
        f"download or copy: fetch or compress it again (`gzip -t {path}` checks it)."
    )


def _open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, through gzip if its suffix is ``.gz`` (in any
    case) or its content starts with the gzip magic bytes."""
    if path.suffix.lower() == ".gz" or _read_magic(path) == GZIP_MAGIC:
        return gzip.open(path, "rb")
    return open(path, "rb")


def _read_magic(path: Path) -> bytes:
    """The first two bytes of a file."""
    with open(path, "rb") as file_:
        return file_.read(2)


def _check_file(path: Path) -> None:
    """Raise ``FileNotFoundError`` with a clear message if ``path`` is not a file."""
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(
            f"Parallel corpus file not found: {path} {what} (working directory: "
            f"{Path.cwd()}). Check the source_path/target_path settings or fetch "
            "the corpus first."
        )


def _check_non_negative(name: str, value: int) -> None:
    """Raise ``ValueError`` if a count setting is negative."""
    if value < 0:
        raise ValueError(f"{name} must be 0 (no limit) or a positive number, not {value}.")
