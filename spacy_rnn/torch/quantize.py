"""Int8 dynamic quantization of a trained module for faster CPU decoding.

``quantize_int8`` returns a quantized copy (the float module is left untouched):
the weights of every ``nn.Linear``, ``nn.LSTM`` and ``nn.GRU`` are stored in
int8 and activations are quantized on the fly, which speeds up the matrix
products that dominate step-by-step decoding (the vocabulary projection above
all). Embeddings, the vanilla ``nn.RNN``, the attention's element-wise ops and
layers marked ``keep_float`` (Bahdanau attention's ``v``, whose scores run in C in
float32) stay in float32.

It uses ``torch.ao.quantization.quantize_dynamic``: torch 2.13 marks it
deprecated but it is still the fastest int8 path on x86 CPUs for these layers
(torchao's int8 configs, its successor for ``nn.Linear`` only, were slower than
float32 here: see BENCHMARKS.md). The deprecation warnings of that one call are
silenced, since the user cannot act on them; a torch without the API raises an
error that says what to do.
"""
import copy
import warnings

import torch
from torch import nn

# a translator's quantize setting: float32 (None) or an int8 copy for decoding
QUANTIZE_OPTIONS = (None, "int8")
QUANTIZABLE = (nn.Linear, nn.LSTM, nn.GRU)
_DEPRECATION_MESSAGES = (r"torch\.ao\.quantization is deprecated",
                         r"torch\.quantize_per_tensor, torch\.quantize_per_channel")


def _quantize_dynamic():
    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError as err:  # pragma: no cover - depends on the installed torch
        raise RuntimeError(
            f"quantize = 'int8' needs torch.ao.quantization.quantize_dynamic, which this torch "
            f"({torch.__version__}) no longer has: use a torch release that has it or set "
            f"quantize = null.") from err
    return quantize_dynamic


def quantize_int8(module: nn.Module) -> nn.Module:
    """An int8 dynamically quantized copy of ``module`` for CPU inference (eval mode)."""
    if any(p.device.type != "cpu" for p in module.parameters()):
        raise ValueError("Int8 dynamic quantization runs on CPU only: move the model to CPU "
                         "or set quantize = null.")
    quantize_dynamic = _quantize_dynamic()
    float_copy = copy.deepcopy(module).eval()
    with warnings.catch_warnings():
        for message in _DEPRECATION_MESSAGES:
            warnings.filterwarnings("ignore", message=message)
        return quantize_dynamic(float_copy, _quantized_names(float_copy), dtype=torch.qint8)


def _quantized_names(module: nn.Module) -> set:
    """The names of the submodules to quantize: those of the quantizable types not marked
    ``keep_float``."""
    return {name for name, sub in module.named_modules()
            if isinstance(sub, QUANTIZABLE) and not getattr(sub, "keep_float", False)}
