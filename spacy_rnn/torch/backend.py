"""Which backend computes a recurrent layer: the one place that decides, and says why.

Backends:

- ``"torch"``: PyTorch's own modules (``nn.LSTM``/``nn.GRU``/``nn.RNN``): cuDNN on GPU,
  oneDNN or ATen's kernels on CPU;
- ``"native"``: the project's C time-step loops (:mod:`.native`; LSTM and GRU, float32, CPU);
- ``"loop"``: the PyTorch time-step loops with hand-written backward passes (:mod:`.loops`).

All three give the same results up to float rounding (tests/torch/test_recurrence.py). Rules,
in order (:func:`choose`):

1. weights the step loops cannot read (an int8 copy, a projection) -> torch;
2. not on the CPU -> torch (cuDNN);
3. ``SPACY_RNN_BACKEND`` set to torch, native or loop -> that backend, where it can run
   (native needs the C library and an LSTM or GRU; else loop). The step loops compute in
   the input's dtype with autocast off;
4. computing in another dtype than float32 (e.g. under bfloat16 autocast) -> torch
   (oneDNN's bfloat16 kernels);
5. an LSTM or GRU and the C library loaded -> native;
6. an LSTM under ``LOOP_LSTM_MIN_HIDDEN`` units per direction -> torch (oneDNN's LSTM
   kernel beats the PyTorch loop there);
7. else -> loop (PyTorch's CPU GRU and RNN run each direction as a loop of small
   operations, with autograd recording each one).

Each choice is logged at DEBUG level on the ``spacy_rnn.backend`` logger.

Bahdanau attention's scores (:mod:`.attention`) run in C by the same rules
(:func:`c_attention`): not when ``SPACY_RNN_BACKEND`` is torch or loop, nor under CPU
autocast, nor outside CPU float32, nor without the C library.
"""
import logging
import os
from typing import NamedTuple, Optional

import torch

from . import native
from .precision import autocast_on

BACKENDS = ("torch", "native", "loop")
C_CELLS = ("lstm", "gru")  # the cells the C loops run
ENV_VAR = "SPACY_RNN_BACKEND"
# Below this many units per direction (and without the C loops) oneDNN's LSTM is faster on
# CPU than the PyTorch loop (BENCHMARKS.md, "Backends").
LOOP_LSTM_MIN_HIDDEN = 64
logger = logging.getLogger("spacy_rnn.backend")


class Choice(NamedTuple):
    """A backend (one of :data:`BACKENDS`) and why it was chosen."""

    backend: str
    reason: str


def forced() -> Optional[str]:
    """The backend ``SPACY_RNN_BACKEND`` forces, or None when it is unset, empty or "auto"."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value not in BACKENDS:
        raise ValueError(f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not a recurrence backend: set it to one "
                         f"of {', '.join(BACKENDS)} (or auto, or unset it)")
    return value


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype a recurrent module would compute ``x`` in: autocast's where it is on for
    ``x``'s device, else ``x``'s own."""
    try:
        if not (x.is_floating_point() and autocast_on(x.device.type)):
            return x.dtype
    except RuntimeError:  # a device type autocast does not know
        return x.dtype
    if hasattr(torch, "get_autocast_dtype"):
        return torch.get_autocast_dtype(x.device.type)
    return torch.get_autocast_cpu_dtype() if x.device.type == "cpu" else torch.get_autocast_gpu_dtype()


def choose(cell: str, x: torch.Tensor, hidden: int, plain: bool = True) -> Choice:
    """The backend for a layer of ``cell`` with ``hidden`` units per direction on input ``x``
    (its device, and the dtype it computes in); ``plain``: whether its weights are those of a
    float ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (see :func:`.recurrence.plain_module`). Logged."""
    dtype = compute_dtype(x)
    choice = _rules(cell, x.device.type, dtype, hidden, plain)
    logger.debug("%s, %d units per direction, %s on %s: %s (%s)", cell, hidden, dtype, x.device.type,
                 choice.backend, choice.reason)
    return choice


def c_attention(*tensors: torch.Tensor) -> bool:
    """Whether Bahdanau attention's scores over these tensors run in C (see above)."""
    if forced() in ("torch", "loop") or autocast_on("cpu"):
        return False
    return native.usable(*tensors)


def _rules(cell: str, device: str, dtype: torch.dtype, hidden: int, plain: bool) -> Choice:
    if not plain:
        return Choice("torch", "only PyTorch's modules run these weights (quantized or projected)")
    if device != "cpu":
        return Choice("torch", f"on {device}: cuDNN")
    wanted = forced()
    if wanted == "native" and (cell not in C_CELLS or not native.available()):
        why = f"the C loops run {' and '.join(C_CELLS)} only" if cell not in C_CELLS else native.problem()
        return Choice("loop", f"{ENV_VAR}=native, but the C loops cannot run here ({why})")
    if wanted:
        return Choice(wanted, f"forced by {ENV_VAR}={wanted}")
    if dtype != torch.float32:
        return Choice("torch", f"computing in {dtype}: oneDNN's kernels (the C loops take float32)")
    if cell in C_CELLS and native.available():
        return Choice("native", "CPU float32 with the C loops loaded")
    if cell == "lstm" and hidden < LOOP_LSTM_MIN_HIDDEN:
        return Choice("torch", f"CPU LSTM under {LOOP_LSTM_MIN_HIDDEN} units without the C loops: oneDNN")
    return Choice("loop", f"CPU {cell} without the C loops: the PyTorch loop")
