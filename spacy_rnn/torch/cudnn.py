"""Keep cuDNN's recurrent weights in one contiguous chunk.

thinc's optimizer step (``PyTorchShim.finish_update``) gives every parameter new
storage (``param.data = ...``). A cuDNN ``nn.LSTM``/``nn.GRU``/``nn.RNN`` whose
weights are no longer one contiguous chunk warns ("RNN module weights are not
part of single contiguous chunk of memory") and compacts them again at every
call, i.e. at every time step of an input-feeding decoder. Compacting once per
forward pass, before the first call, avoids both. On CPU this does nothing.
"""
from torch import nn


def compact_weights(*modules: nn.Module) -> None:
    """``flatten_parameters()`` for each recurrent module whose weights are on a GPU."""
    for module in modules:
        if isinstance(module, nn.RNNBase) and module.weight_hh_l0.is_cuda:
            module.flatten_parameters()
