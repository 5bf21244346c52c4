"""The int8 dynamically quantized copy of a translator's torch module, for decoding with
``quantize = "int8"``: made on first use, kept while the weights stay the same."""
import warnings
import weakref
from typing import Optional, Tuple

from thinc.api import Model

from ..torch.quantize import QUANTIZE_OPTIONS, quantize_int8
from .shim import torch_module


class Int8Cache:
    """The int8 dynamically quantized copy of a core's module, for ``quantize = "int8"``:
    made on first use, kept while the weights stay the same. Pickles (and deep-copies) empty,
    so that no torch module copy travels with the model (``nlp.pipe(n_process=...)``)."""

    def __init__(self):
        self.warned = False  # about a module not on CPU, once per cache
        self.clear()

    def clear(self) -> None:
        """Forget the copy (the weights are about to change: training)."""
        # one tuple, replaced whole, so that a thread decoding meanwhile sees a consistent entry
        self.entry: Optional[Tuple] = None  # (int8 copy, weak reference to its module, weights key)

    @property
    def copy(self):
        """The int8 copy now held, or None."""
        entry = self.entry
        return entry[0] if entry is not None else None

    def __reduce__(self):
        return (type(self), ())

    def module_for(self, core: Model):
        """The int8 copy of the core's module (made again if the module or its weights changed
        since), or the float module itself where it is not on CPU (warned once)."""
        module = torch_module(core)
        if any(p.device.type != "cpu" for p in module.parameters()):
            self._warn_not_cpu()
            return module
        key = _weights_key(core, module)
        entry = self.entry
        if entry is None or entry[1]() is not module or entry[2] != key:
            self.clear()  # (frees the old copy before making the new one)
            entry = (quantize_int8(module), weakref.ref(module), key)
            self.entry = entry
        return entry[0]

    def _warn_not_cpu(self) -> None:
        if not self.warned:
            self.warned = True
            warnings.warn("Seq2SeqTranslator: quantize = 'int8' runs on CPU only; this model is on "
                          "a GPU, so it decodes in float32. (Reported once per model.)")


def _weights_key(core: Model, module) -> tuple:
    """Changes when the weights may have changed: an optimizer step (counted by the shim;
    thinc's step writes through a numpy view of the same storage, so neither of the next two
    changes), moved to another device, edited in place through torch (which bumps a tensor's
    ``_version``; edits through ``.data`` do not), or given new storage."""
    params = list(module.parameters())
    device = str(params[0].device) if params else "cpu"
    steps = core.shims[0].n_updates
    return steps, device, tuple(p._version for p in params), tuple(p.data_ptr() for p in params)


def decoding_module(core: Model, quantize: Optional[str], int8: Int8Cache):
    """The module to decode with: the core's, or its int8 copy (see :class:`Int8Cache`)."""
    if quantize not in QUANTIZE_OPTIONS:
        raise ValueError(f"Seq2SeqTranslator: search['quantize'] must be one of "
                         f"{list(QUANTIZE_OPTIONS)}, got {quantize!r}.")
    if quantize is None:
        return torch_module(core)
    return int8.module_for(core)
