"""Training helpers registered with spaCy: a wall-clock budget for ``spacy train``."""
import time
from typing import Callable, Iterable, Iterator, List, Optional

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
