"""PyTorch wrapping whose saved weights load without running code, and whose
parameters take part in parameter averaging.

thinc's ``PyTorchShim`` loads weights with ``torch.load`` and no ``weights_only``
argument, so torch's default applies, and ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``
turns it into a full unpickling that runs whatever a weights file holds. The shim
here always passes ``weights_only=True`` (which that variable cannot override):
a weights file with anything but tensors and plain containers is refused.

thinc's optimizer keeps the averages of a shim's parameters under ``(shim.id,
name)`` keys, while ``PyTorchShim.use_params`` looks them up under
``"pytorch_{id}_{name}"`` strings, so with ``use_averages = true`` the torch
weights were evaluated and saved unaveraged. ``use_params`` here reads the keys
the optimizer writes.
"""
import contextlib
import io
import pickle
from typing import Any, Callable, Dict, Optional

from thinc.api import Model, xp2torch
from thinc.layers.pytorchwrapper import forward as pytorch_wrapper_forward
from thinc.layers.pytorchwrapper import (convert_pytorch_default_inputs,
                                         convert_pytorch_default_outputs)
from thinc.shims import PyTorchShim


def load_state_weights_only(module: Any, data: bytes, device: Any) -> Any:
    """Load a ``state_dict`` saved by thinc's default serializer into ``module``
    with ``torch.load(weights_only=True)``; raise ValueError if it holds other objects."""
    import torch

    try:
        state = torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(f"the saved torch weights hold objects other than tensors, which are not "
                         f"loaded since unpickling them could run code (torch said: "
                         f"{str(err).splitlines()[0]}). Load only pipelines from sources you trust, "
                         f"or train and save the pipeline again.") from err
    module.load_state_dict(state)
    return module


class WeightsOnlyPyTorchShim(PyTorchShim):
    """A ``PyTorchShim`` whose weights load with ``weights_only=True``, whose ``use_params``
    applies the optimizer's averages, and which counts its optimizer steps (``n_updates``:
    caches of anything derived from the weights compare it)."""

    def __init__(self, model: Any, **kwargs):
        kwargs.setdefault("deserialize_model", load_state_weights_only)
        super().__init__(model, **kwargs)
        self.n_updates = 0

    def finish_update(self, optimizer) -> None:
        super().finish_update(optimizer)
        self.n_updates += 1

    @contextlib.contextmanager
    def use_params(self, params):
        """Within the block, the torch parameters are those in ``params`` (e.g. the
        optimizer's averages) that are keyed ``(self.id, name)``; restored afterwards,
        also when the block or the loading fails (e.g. an entry of another shape)."""
        averaged = averaged_state(self._model, self.id, params)
        if not averaged:
            yield
            return
        state = self._model.state_dict()
        backup = {name: state[name].clone() for name in averaged}
        try:
            self._model.load_state_dict(averaged, strict=False)
            yield
        finally:
            self._model.load_state_dict(backup, strict=False)


def averaged_state(module: Any, shim_id: int, params: Dict) -> Dict[str, Any]:
    """The entries of ``params`` for ``module``'s parameters, as tensors on their devices."""
    return {name: xp2torch(params[(shim_id, name)], device=tensor.device)
            for name, tensor in module.named_parameters() if (shim_id, name) in params}


def WeightsOnlyPyTorchWrapper(module: Any, convert_inputs: Optional[Callable] = None,
                              convert_outputs: Optional[Callable] = None) -> Model:
    """thinc's ``PyTorchWrapper_v2`` (without mixed precision) around a
    :class:`WeightsOnlyPyTorchShim`."""
    attrs = {"convert_inputs": convert_inputs or convert_pytorch_default_inputs,
             "convert_outputs": convert_outputs or convert_pytorch_default_outputs}
    return Model("pytorch", pytorch_wrapper_forward, attrs=attrs,
                 shims=[WeightsOnlyPyTorchShim(module)], dims={"nI": None, "nO": None})


def torch_module(core: Model):
    """The torch module held by a layer's shim (a translator core's ``Seq2Seq``)."""
    return core.shims[0]._model
