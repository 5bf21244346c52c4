"""Corpus readers for ``spacy train``: parallel plain-text corpora for translation.

A parallel corpus is two plain-text files (optionally gzipped, by the ``.gz``
suffix) holding one sentence per line, where line *n* of the target file is the
translation of line *n* of the source file. Use it in a training config as::

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

    source_path / target_path: one sentence per line, UTF-8, ``.gz`` allowed.
    max_length: if > 0, skip pairs whose source or target has more than this many
        whitespace-separated tokens (counted in a warning).
    limit: if > 0, keep only the first ``limit`` pairs that are not skipped.
    shuffle: shuffle the kept pairs on each pass (this holds all pairs in memory;
        without it the files are streamed).

    Pairs with an empty or whitespace-only side are skipped and counted in a
    warning at the end of each pass. Files with different line counts, missing
    files and lines that are not valid UTF-8 raise before anything is yielded.
    """
    for name, value in (("source_path", source_path), ("target_path", target_path)):
        if value is None:
            raise ValueError(f"spacy-rnn.ParallelCorpus.v1: {name} is not set (null). Set it in "
                             f"the config's [paths] section or on the command line, e.g. "
                             f"--paths.train_source train.en --paths.train_target train.de.")
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
    missing file, ``ValueError`` for differing line counts or a line that is not
    valid UTF-8. Reads both files once for these checks, then streams them.
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
    (``ParallelCorpusWarning``) with the skip counts at the end of the pass.
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
    n_empty = n_long = n_kept = 0
    with closing(pairs):
        for line_no, source, target in pairs:
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
    _warn_skipped(n_empty, n_long, max_length, source_path, target_path)


def _warn_skipped(
    n_empty: int, n_long: int, max_length: int, source_path: Path, target_path: Path
) -> None:
    """Emit one warning per kind of skipped pair, if any were skipped."""
    files = f"{source_path} / {target_path}"
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


def _zip_lines(source_path: Path, target_path: Path) -> Generator[LinePair, None, None]:
    """Stream the decoded, stripped line pairs of two files of equal length."""
    with _open_binary(source_path) as src, _open_binary(target_path) as tgt:
        for line_no, (raw_src, raw_tgt) in enumerate(zip(src, tgt), start=1):
            source = _decode_line(raw_src, source_path, line_no)
            target = _decode_line(raw_tgt, target_path, line_no)
            yield line_no, source, target


def _check_line_counts(source_path: Path, target_path: Path) -> None:
    """Raise ``ValueError`` naming both files and counts if the counts differ."""
    n_source = _count_lines(source_path)
    n_target = _count_lines(target_path)
    if n_source != n_target:
        raise ValueError(
            f"Parallel corpus files have different line counts: {source_path} has "
            f"{n_source} lines but {target_path} has {n_target} lines. Line n of the "
            "target file must translate line n of the source file: fix the files so "
            "that they align."
        )


def _count_lines(path: Path) -> int:
    """Count the lines of a file, checking that every line is valid UTF-8."""
    n_lines = 0
    with _open_binary(path) as file_:
        for n_lines, raw in enumerate(file_, start=1):
            _decode_line(raw, path, n_lines)
    return n_lines


def _decode_line(raw: bytes, path: Path, line_no: int) -> str:
    """Decode one line as UTF-8 and strip it; raise a located ``ValueError``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}, line {line_no}: not valid UTF-8 ({err.reason} at byte "
            f"{err.start} of the line). Convert the file to UTF-8 (for example "
            f"`iconv -f latin1 -t utf-8`) or fix or remove that line in both files."
        ) from err
    if line_no == 1:
        text = text.lstrip("\ufeff")
    return text.strip()


def _open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, through gzip if its suffix is ``.gz``."""
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


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
