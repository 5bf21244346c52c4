"""The layer driver: one recurrent layer, all directions, over flat rows, computed by the
backend that :mod:`.backend` chose.

Every encoder (:class:`.encoder.RNNEncoder`, the translator's encoder in :mod:`.seq2seq`)
hands its layers to :func:`run_stack` as lists of per-direction weights in PyTorch's layout
(:func:`module_weights`, :func:`stack_weights`); the backends:

- "native": the C loops (:mod:`.native`, LSTM and GRU, float32 on CPU), which read and
  write the caller's flat row order themselves: a layer is one matrix product for all
  directions' input projections and one C call, and its backward pass one C call plus the
  products for the input's and the weights' gradients;
- "loop": the PyTorch loops of :mod:`.loops` over packed rows (rows reordered into packed
  order and back around each layer).

Both read each sequence's real tokens only, the backward direction from its last token, so
a sequence's outputs do not depend on the rest of the batch. The "torch" backend (PyTorch's
own modules: cuDNN, oneDNN) runs the modules themselves and lives with each encoder.
"""
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from . import native
from .layout import PackedLayout, direction_rows, last_rows, packed_layout, previous_rows
from .loops import GRUSteps, LSTMSteps, RNNSteps, gru_steps, lstm_steps, rnn_steps
from .padding import permute_rows

# One direction's weights as PyTorch's modules hold them: w_ih (G, W), w_hh (G, H), b_ih (G,),
# b_hh (G,), with G = 4H (LSTM), 3H (GRU) or H (tanh RNN).
DirectionWeights = Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class StackOutput(NamedTuple):
    """What :func:`run_stack` returns.

    :param out: shape (N, D * H), the top layer's outputs in flat row order, forward half first
    :param final_h: shape (B, D * H), the top layer's state of each direction after the whole
        sequence; None if not asked for or if a sequence is empty
    :param final_c: shape (B, D * H), the same for the LSTM's cell states; None for other cells
    """

    out: torch.Tensor
    final_h: torch.Tensor
    final_c: Optional[torch.Tensor]


def module_weights(modules: Sequence[nn.Module]) -> List[DirectionWeights]:
    """The weights of single-layer, unidirectional modules, one per direction."""
    return [(m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0) for m in modules]


def stack_weights(module: nn.RNNBase, layer: int) -> List[DirectionWeights]:
    """The weights of layer ``layer`` of a stacked, possibly bidirectional module, forward
    direction first."""
    suffixes = ("", "_reverse") if module.bidirectional else ("",)
    return [tuple(getattr(module, f"{name}_l{layer}{suffix}")
                  for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")) for suffix in suffixes]


def plain_module(module: nn.Module) -> bool:
    """Whether the step loops can run this module's weights: a float ``nn.RNN`` (tanh),
    ``nn.LSTM`` (no projection) or ``nn.GRU`` with biases (not, e.g., an int8 copy)."""
    if type(module) not in (nn.RNN, nn.LSTM, nn.GRU) or not module.bias:
        return False
    return getattr(module, "nonlinearity", "tanh") == "tanh" and not getattr(module, "proj_size", 0)


def compact_weights(*modules: nn.Module) -> None:
    """``flatten_parameters()`` for each recurrent module whose weights are on a GPU.

    thinc's optimizer gives every parameter new storage; a cuDNN module whose weights are no
    longer one contiguous chunk warns and compacts them at every call (every step of an
    input-feeding decoder). Compacting once per forward pass avoids both."""
    for module in modules:
        if isinstance(module, nn.RNNBase) and module.weight_hh_l0.is_cuda:
            module.flatten_parameters()


def run_stack(backend: str, cell: str, layers: Sequence[List[DirectionWeights]], flat: torch.Tensor,
              lengths: torch.Tensor, between: Callable[[torch.Tensor, PackedLayout], torch.Tensor],
              residual: bool = False, finals: bool = False) -> StackOutput:
    """Run stacked layers with the "native" or "loop" backend.

    :param layers: each layer's per-direction weights (forward, then backward if bidirectional)
    :param flat: shape (N, W), rows of all sequences concatenated
    :param lengths: shape (B,), int64 on the CPU, summing to N
    :param between: applied to each layer's input after the first, with the layout (dropout)
    :param residual: add each layer's input to its output (layers after the first)
    :param finals: also return the final states (else None)
    """
    layout = packed_layout(lengths)
    rows = direction_rows(layout, len(layers[0]))
    cells = None
    with torch.autocast(flat.device.type, enabled=False):  # the loops compute in flat's dtype
        for i, weights in enumerate(layers):
            layer_in = between(flat, layout) if i else flat
            out, cells = run_layer(backend, cell, weights, layer_in, layout, rows)
            flat = out + flat if (residual and i) else out
    if not finals:
        return StackOutput(flat, None, None)
    return StackOutput(flat, *_finals(out, cells, layout, lengths, len(layers[-1])))


def _finals(out: torch.Tensor, cells: Optional[torch.Tensor], layout: PackedLayout, lengths: torch.Tensor,
            n_dirs: int):
    """Each direction's hidden (and cell) state after the whole sequence, (B, D * H): the
    forward direction's at the sequence's last row, the backward one's at its first."""
    if lengths.numel() == 0 or int(lengths.min()) < 1:
        return None, None
    ends = torch.cumsum(lengths, 0)
    hidden = out.shape[1] // n_dirs
    final_h = [out.index_select(0, ends - 1)[:, :hidden], out.index_select(0, ends - lengths)[:, hidden:]]
    final_c = None
    if cells is not None:
        last = cells.index_select(1, last_rows(layout, lengths))  # (D, B, H)
        final_c = last.transpose(0, 1).reshape(lengths.numel(), -1)
    return torch.cat(final_h[:n_dirs], dim=1), final_c


def run_layer(backend: str, cell: str, weights: List[DirectionWeights], flat: torch.Tensor,
              layout: PackedLayout, rows: torch.Tensor):
    """One layer, all directions, over flat rows.

    :param flat: shape (N, W), rows in the caller's order
    :param rows: from :func:`.layout.direction_rows`
    :return: outputs (N, D * H) in the same order, forward half first; for an LSTM also the
        cell states (D, N, H) in packed order, else None
    """
    if backend == "native":
        return _native_layer(cell, weights, flat, layout, rows)
    if backend == "loop":
        return _loop_layer(cell, weights, flat, layout)
    raise ValueError(f"run_layer runs the 'native' and 'loop' backends, not {backend!r}")


# ----- "loop": the PyTorch loops over packed rows ---------------------------------------------

def _loop_layer(cell: str, weights: List[DirectionWeights], flat: torch.Tensor, layout: PackedLayout):
    packed = permute_rows(flat, layout.to_packed, layout.to_flat)
    inputs = [packed, permute_rows(packed, layout.reverse, layout.reverse)][: len(weights)]
    w_ih, w_hh, b_ih, b_hh = _stacked(weights)
    if cell == "gru":  # the GRU's recurrent bias sits inside the reset gate's product
        projected = torch.baddbmm(b_ih, torch.stack(inputs), w_ih)
    else:
        projected = torch.baddbmm(b_ih + b_hh, torch.stack(inputs), w_ih)
    states, cells = _loop_steps(cell, projected, w_hh, b_hh, layout)
    merged = states[0] if len(weights) == 1 else torch.cat(
        [states[0], permute_rows(states[1], layout.reverse, layout.reverse)], dim=-1)
    return permute_rows(merged, layout.to_flat, layout.to_packed), cells


def _stacked(weights: List[DirectionWeights]):
    """Input weights (D, W, G), recurrent weights (D, H, G) and the two biases (D, 1, G)."""
    w_ih, w_hh, b_ih, b_hh = zip(*weights)
    return (torch.stack([w.t() for w in w_ih]), torch.stack([w.t() for w in w_hh]),
            torch.stack(b_ih).unsqueeze(1), torch.stack(b_hh).unsqueeze(1))


def _loop_steps(cell: str, projected: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor,
                layout: PackedLayout):
    """(D, N, H) hidden states and, for an LSTM, (D, N, H) cell states (else None): the plain
    loop without gradients (nothing saved), else the one with a hand-written backward pass."""
    sizes, previous = layout.batch_sizes, layout.previous
    if not torch.is_grad_enabled():
        if cell == "lstm":
            return lstm_steps(projected, w_hh, sizes)[:2]
        if cell == "gru":
            return gru_steps(projected, w_hh, b_hh, sizes)[0], None
        return rnn_steps(projected, w_hh, sizes), None
    if cell == "lstm":
        return LSTMSteps.apply(projected, w_hh, sizes, previous)
    if cell == "gru":
        return GRUSteps.apply(projected, w_hh, b_hh, sizes, previous), None
    return RNNSteps.apply(projected, w_hh, sizes, previous), None


# ----- "native": the C loops on flat rows -----------------------------------------------------

def _native_layer(cell: str, weights: List[DirectionWeights], flat: torch.Tensor, layout: PackedLayout,
                  rows: torch.Tensor):
    w_ih = torch.cat([w[0].t() for w in weights], dim=1)  # (W, D * G)
    w_hh = torch.stack([w[1].t() for w in weights])  # (D, H, G)
    steps = (layout.batch_sizes, layout.previous, rows)
    if cell == "lstm":
        bias = torch.cat([w[2] + w[3] for w in weights])
        return NativeLSTMLayer.apply(flat, w_ih, bias, w_hh, *steps)
    if cell != "gru":
        raise ValueError(f"the C loops run the LSTM and the GRU, not {cell!r}")
    b_hh = torch.stack([w[3] for w in weights]).unsqueeze(1)  # (D, 1, G)
    bias = torch.cat([w[2] for w in weights])
    return NativeGRULayer.apply(flat, w_ih, bias, w_hh, b_hh, *steps), None


def _weight_grads(ctx, flat, w_ih, d_proj, states, previous, d_recurrent):
    """Gradients w.r.t. the flat input (if needed), the input weights, their bias and the
    recurrent weights, from those w.r.t. the projections ``flat @ w_ih + bias`` (flat
    order) and w.r.t. the recurrent products ``h_prev @ w_hh`` (packed order)."""
    grad_flat = d_proj.mm(w_ih.t()) if ctx.needs_input_grad[0] else None
    grad_w_hh = torch.bmm(previous_rows(states, previous).transpose(1, 2), d_recurrent)
    return grad_flat, flat.t().mm(d_proj), d_proj.sum(0), grad_w_hh


class NativeLSTMLayer(torch.autograd.Function):
    """An LSTM layer on flat rows with the C loops: returns the outputs (N, D * H) in flat
    order and the cell states (D, N, H) in packed order; either may receive a gradient."""

    @staticmethod
    def forward(ctx, flat, w_ih, bias, w_hh, batch_sizes: List[int], previous, rows):
        projected = torch.addmm(bias, flat, w_ih)
        states, cells, acts, merged = native.lstm_forward(projected, w_hh, batch_sizes, rows)
        ctx.batch_sizes = batch_sizes
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(flat, w_ih, w_hh, acts, cells, states, previous, rows)
        return merged, cells

    @staticmethod
    @once_differentiable
    def backward(ctx, grad, grad_cells):
        flat, w_ih, w_hh, acts, cells, states, previous, rows = ctx.saved_tensors
        if grad is None:
            grad = flat.new_zeros((flat.shape[0], states.shape[0] * states.shape[2]))
        d_pre, d_proj = native.lstm_backward(grad, grad_cells, w_hh, acts, cells, ctx.batch_sizes, rows)
        return (*_weight_grads(ctx, flat, w_ih, d_proj, states, previous, d_pre), None, None, None)


class NativeGRULayer(torch.autograd.Function):
    """A GRU layer on flat rows with the C loops; returns (N, D * H) in flat order."""

    @staticmethod
    def forward(ctx, flat, w_ih, bias, w_hh, b_hh, batch_sizes: List[int], previous, rows):
        projected = torch.addmm(bias, flat, w_ih)
        states, gates, rec_n, merged = native.gru_forward(projected, w_hh, b_hh, batch_sizes, rows)
        ctx.batch_sizes = batch_sizes
        ctx.save_for_backward(flat, w_ih, w_hh, gates, rec_n, states, previous, rows)
        return merged

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        flat, w_ih, w_hh, gates, rec_n, states, previous, rows = ctx.saved_tensors
        _, d_rec, d_proj = native.gru_backward(grad, w_hh, gates, rec_n, states, ctx.batch_sizes, rows)
        return (*_weight_grads(ctx, flat, w_ih, d_proj, states, previous, d_rec), d_rec.sum(1, keepdim=True),
                None, None, None)
