"""Training helpers registered with spaCy: a wall-clock budget for ``spacy train``."""
import numbers
import time
from typing import Callable, Iterable, Iterator, List, Optional, Union

from spacy.util import registry
from wasabi import msg


@registry.batchers("spacy-rnn.time_limited_batcher.v1")
def time_limited_batcher(batcher: Callable[[Iterable], Iterable[List]],
                         max_minutes: float) -> Callable[[Iterable], Iterator[List]]:
    """Wrap ``batcher`` so that no batch is yielded after ``max_minutes`` of training.

    The clock starts at the first batch. Combine with a finite ``max_epochs``
    (and ``max_steps = 0``) so that ``spacy train`` ends once the budget is spent;
    ``max_minutes <= 0`` means no limit.
    """
    state = {"start": None, "announced": False}

    def limited(items: Iterable) -> Iterator[List]:
        for batch in batcher(items):
            if _budget_spent(state, max_minutes):
                return
            yield batch

    return limited


def _budget_spent(state: dict, max_minutes: float) -> bool:
    now = time.monotonic()
    if state["start"] is None:
        state["start"] = now
    spent = max_minutes > 0 and now - state["start"] > max_minutes * 60
    if spent and not state["announced"]:
        msg.info(f"Training budget of {max_minutes:g} minutes spent: stopping.")
        state["announced"] = True
    return spent


@registry.callbacks("spacy-rnn.set_torch_threads.v1")
def set_torch_threads(n_threads: int = 1) -> Callable:
    """A ``[initialize.before_init]`` callback that sets torch's CPU thread count.

    On small CPUs one thread per process is usually fastest for recurrent
    models of the sizes used here; ``n_threads <= 0`` leaves torch's default.
    """

    def before_init(nlp):
        if n_threads > 0:
            import torch

            torch.set_num_threads(n_threads)
        return nlp

    return before_init


@registry.loggers("spacy-rnn.JSONLLogger.v1")
def jsonl_logger(path: str, console: bool = True,
                 progress_bar: Union[bool, str, None] = False) -> Callable:
    """spaCy's console logger plus one JSON line per evaluation in ``path``.

    Each line has step, epoch, seconds since training started, words seen,
    words per second (null when no time has passed, as at step 0), losses and
    scores, so training speed can be reported.
    ``progress_bar``: as spaCy's console logger, "eval" (a bar of the steps to the
    next evaluation; also ``true``) or "train" (of the steps to ``max_steps``);
    ``false`` (the default, and what spaCy's own configs hold) or null for none.
    Under a ``spacy-rnn.time_limited_batcher.v1`` budget, each evaluation row is
    followed by the minutes spent of the budget.
    """
    # registry.get (not registry.loggers.get) fills spaCy's lazily populated registry first
    console_logger = registry.get("loggers", "spacy.ConsoleLogger.v3")(
        progress_bar=_bar_kind(progress_bar), console_output=True, output_file=None)

    def setup(nlp, stdout=None, stderr=None):
        import srsly

        log_console, finalize_console = console_logger(nlp, stdout, stderr) if console else (None, None)
        budget = _budget_minutes(nlp) if console else 0
        out = _open_log(path)

        def log_step(info: Optional[dict]) -> None:
            if log_console is not None:
                log_console(info)
            if info is not None:
                out.write(srsly.json_dumps(_log_record(info)) + "\n")
                out.flush()
                if budget > 0:
                    msg.text(f"  {info['seconds'] / 60:.1f} of {budget:g} minutes of the training budget spent")

        def finalize() -> None:
            if finalize_console is not None:
                finalize_console()
            out.close()

        return log_step, finalize

    return setup


def _bar_kind(progress_bar: Union[bool, str, None]) -> Optional[str]:
    """spaCy's console logger's progress_bar value for ours: None, "eval" or "train"."""
    if progress_bar in (False, None):
        return None
    if progress_bar is True:
        return "eval"
    if progress_bar not in ("eval", "train"):
        raise ValueError(f"spacy-rnn.JSONLLogger.v1: progress_bar must be \"eval\", \"train\", true, false or "
                         f"null, got {progress_bar!r}")
    return progress_bar


def _budget_minutes(nlp) -> float:
    """The max_minutes of a time-limited batcher in the training config, else 0."""
    batcher = nlp.config.get("training", {}).get("batcher", {})
    if batcher.get("@batchers") != "spacy-rnn.time_limited_batcher.v1":
        return 0
    minutes = batcher.get("max_minutes", 0)
    return float(minutes) if isinstance(minutes, numbers.Real) else 0


def _open_log(path: str):
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return open(path, "w", encoding="utf8")


def _words_per_second(info: dict) -> Optional[float]:
    """Words seen per second of training, or None before any time has passed (step 0)."""
    seconds = float(info.get("seconds") or 0)
    return info["words"] / seconds if seconds > 0 else None


def _log_record(info: dict) -> dict:
    # Components report numpy scalars (spaCy's ner: np.float32 losses), which JSON cannot
    # write and which are no ``float`` instances: cast every number to a Python float.
    return {"step": info["step"], "epoch": info["epoch"], "seconds": info["seconds"],
            "words": info["words"], "words_per_second": _words_per_second(info),
            "losses": {k: float(v) for k, v in info["losses"].items()},
            "score": float(info["score"]),
            "scores": {k: float(v) for k, v in info["other_scores"].items()
                       if isinstance(v, numbers.Real)}}
