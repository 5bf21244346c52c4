"""Adam whose parameter averages cover a chosen share of the training, registered
as ``spacy-rnn.Adam.v1``.

thinc's optimizer keeps, with ``use_averages = true``, a polynomial-decay average of
every parameter (Shamir & Zhang 2013): after update ``t`` the average moves towards
the weights by ``(p + 1) / (t + p + 2)``, with ``p = 8`` fixed. The average weighs
the weights of update ``s`` about as ``s ** p``, so it covers roughly the last
``1 / (p + 1)`` of the updates. spaCy evaluates and saves the averages, so a
smaller ``average_power`` smooths the noise of a constant learning rate over a
longer stretch of training: ``p = 3`` covers about the last quarter, ``p = 0`` all
of it (the sum of the weights over ``t + 2``, as the average starts at zero).
``average_power = 8`` reproduces ``Adam.v1``.
"""
from typing import Tuple

from spacy.util import registry
from thinc.api import Optimizer
from thinc.backends import get_array_ops
from thinc.optimizers import FloatOrSeq
from thinc.types import FloatsXd

THINC_AVERAGE_POWER = 8.0
MAX_DECAY = 0.9999  # thinc's cap: the average never moves less than this allows


class PowerAveragingOptimizer(Optimizer):
    """thinc's ``Optimizer`` with the power of its polynomial-decay averages as a setting."""

    def __init__(self, learn_rate, *, average_power: float = THINC_AVERAGE_POWER, **kwargs):
        if not average_power >= 0:
            raise ValueError(f"spacy-rnn.Adam.v1: average_power must be >= 0 (8 is thinc's Adam.v1, "
                             f"smaller averages over more of the training), got {average_power!r}")
        super().__init__(learn_rate, **kwargs)
        self.average_power = float(average_power)

    def __call__(self, key: Tuple[int, str], weights: FloatsXd, gradient: FloatsXd, *,
                 lr_scale: float = 1.0):
        averages, self.averages = self.averages, None
        updates_before = self.nr_update.get(key, 0)
        try:
            weights, gradient = super().__call__(key, weights, gradient, lr_scale=lr_scale)
        finally:
            self.averages = averages
        # thinc returns early, without counting an update, for an empty gradient
        if averages is not None and self.nr_update.get(key, 0) > updates_before:
            self._update_average(key, weights)
        return weights, gradient

    def _update_average(self, key: Tuple[int, str], weights: FloatsXd) -> None:
        if key not in self.averages:
            self.averages[key] = get_array_ops(weights).alloc(weights.shape, dtype="float32")
        t = self.nr_update[key]
        decay = min((1.0 + t) / (t + self.average_power + 2.0), MAX_DECAY)
        average = self.averages[key]
        average -= (1.0 - decay) * (average - weights)


@registry.optimizers("spacy-rnn.Adam.v1")
def adam(learn_rate: FloatOrSeq = 0.001, *, L2: FloatOrSeq = 0.0, beta1: FloatOrSeq = 0.9,
         beta2: FloatOrSeq = 0.999, eps: FloatOrSeq = 1e-8, grad_clip: FloatOrSeq = 1.0,
         L2_is_weight_decay: bool = True,
         use_averages: bool = True, average_power: float = THINC_AVERAGE_POWER) -> Optimizer:
    """thinc's ``Adam.v1`` (same settings, defaults and schedules) plus ``average_power``:
    the power of the polynomial-decay parameter averages (module docstring)."""
    return PowerAveragingOptimizer(learn_rate, L2=L2, beta1=beta1, beta2=beta2, eps=eps,
                                   grad_clip=grad_clip, L2_is_weight_decay=L2_is_weight_decay,
                                   use_averages=use_averages, use_radam=False,
                                   average_power=average_power)
