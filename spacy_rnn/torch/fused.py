"""Both directions of a recurrent layer in one time-step loop, over packed rows.

On CPU, ``nn.GRU`` and ``nn.RNN`` run each direction as its own loop of small
operations, and ``nn.LSTM`` (oneDNN) computes every padded position. Here
the sequences are sorted by length and laid out time-major ("packed": the rows
of step ``t`` are the sequences longer than ``t``, longest first), the backward
direction reads each sequence reversed within its own length, and one batched
matrix product per step serves both directions. The batch shrinks as sequences
end, so no step computes on padding. The weights are those of the
``nn.RNN``/``nn.LSTM``/``nn.GRU`` modules the layer was built with (gate order
as in PyTorch), so results equal running those modules sequence by sequence.
For training, the loops are autograd Functions with hand-written backward passes
(:mod:`.fused_lstm`, :mod:`.fused_gru`, :mod:`.fused_rnn`).
"""
from dataclasses import dataclass
from typing import List, Sequence

import numpy as np
import torch
from torch import nn

from .fused_gru import GRUSteps, gru_states
from .fused_lstm import LSTMSteps, lstm_states
from .fused_rnn import RNNSteps, rnn_steps
from .padding import permute_rows


@dataclass
class PackedLayout:
    """Where each flat row goes in packed order, and the per-step batch sizes.

    :param to_packed: shape (N,): flat row index of each packed row
    :param to_flat: shape (N,): packed row index of each flat row
    :param reverse: shape (N,): packed row of the same sequence's token at
        position ``length - 1 - t`` for the packed row at position ``t``
    :param batch_sizes: number of sequences longer than ``t``, for each step ``t``
    :param previous: shape (N,): packed row of the same sequence at step ``t - 1``
        for the packed row at step ``t``; N (one past the end) at step 0
    """

    to_packed: torch.Tensor
    to_flat: torch.Tensor
    reverse: torch.Tensor
    batch_sizes: List[int]
    previous: torch.Tensor


def packed_layout(lengths: torch.Tensor) -> PackedLayout:
    """The :class:`PackedLayout` of flat rows of sequences with ``lengths`` (index tensors
    on the CPU). Computed in numpy: a few dozen tiny torch operations cost more than the
    arithmetic. Step ``t``'s rows are the first ``batch_sizes[t]`` sequences in length
    order, so sequence ``b``'s row at step ``t`` is ``offsets[t] + b``."""
    lens = lengths.detach().cpu().numpy().astype(np.int64, copy=False)
    order = np.argsort(-lens, kind="stable")
    sorted_lengths = lens[order]
    steps = np.arange(sorted_lengths[0] if lens.size else 0)[:, None]
    active = steps < sorted_lengths  # (T, B): sequence b has a row at step t
    batch_sizes = active.sum(1)
    offsets = np.cumsum(batch_sizes) - batch_sizes  # first packed row of each step
    column = np.arange(lens.size)
    to_packed = ((np.cumsum(lens) - lens)[order] + steps)[active]
    reverse = (offsets[np.maximum(sorted_lengths - 1 - steps, 0)] + column)[active]
    previous = np.where(steps > 0, offsets[np.maximum(steps - 1, 0)] + column, to_packed.size)[active]
    to_flat = np.empty_like(to_packed)
    to_flat[to_packed] = np.arange(to_packed.size)
    index = torch.from_numpy
    return PackedLayout(index(to_packed), index(to_flat), index(reverse), batch_sizes.tolist(),
                        index(previous))


def stacked_weights(cells: Sequence[nn.Module]):
    """Input weights (D, W, G), recurrent weights (D, H, G) and the two biases
    (D, 1, G) of the single-layer modules ``cells`` (one per direction)."""
    return _stack([(cell.weight_ih_l0, cell.weight_hh_l0, cell.bias_ih_l0, cell.bias_hh_l0)
                   for cell in cells])


def layer_weights(module: nn.RNNBase, layer: int):
    """:func:`stacked_weights` of layer ``layer`` of a stacked, possibly bidirectional
    ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (directions in PyTorch's order: forward, reverse)."""
    suffixes = ("", "_reverse") if module.bidirectional else ("",)
    return _stack([tuple(getattr(module, f"{name}_l{layer}{suffix}")
                         for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
                   for suffix in suffixes])


def _stack(directions):
    w_ih, w_hh, b_ih, b_hh = zip(*directions)
    return (torch.stack([w.t() for w in w_ih]), torch.stack([w.t() for w in w_hh]),
            torch.stack(b_ih).unsqueeze(1), torch.stack(b_hh).unsqueeze(1))


def fusable(module: nn.Module) -> bool:
    """Whether :func:`layer_states` can run this stacked PyTorch module's layers: a
    float ``nn.RNN`` (tanh), ``nn.LSTM`` (no projection) or ``nn.GRU`` with biases
    (not, e.g., a dynamically quantized copy)."""
    if type(module) not in (nn.RNN, nn.LSTM, nn.GRU) or not module.bias:
        return False
    return getattr(module, "nonlinearity", "tanh") == "tanh" and not getattr(module, "proj_size", 0)


def fused_layer(cell: str, cells: Sequence[nn.Module], packed: torch.Tensor,
                layout: PackedLayout) -> torch.Tensor:
    """Run one layer, all directions, over packed rows.

    :param cell: "rnn", "lstm" or "gru"
    :param cells: the forward module, and the backward one if bidirectional
    :param packed: shape (N, W), rows in packed order
    :return: shape (N, D * H) in packed order, forward half first
    """
    states, _ = layer_states(cell, stacked_weights(cells), packed, layout)
    return merge_directions(states, layout)


def layer_states(cell: str, weights, packed: torch.Tensor, layout: PackedLayout):
    """Run one layer, all directions, over packed rows.

    :param weights: from :func:`stacked_weights` or :func:`layer_weights`
    :param packed: shape (N, W), rows in packed order
    :return: hidden states (D, N, H) and, for an LSTM, cell states (D, N, H), else None;
        direction d's row at step t of a sequence holds its state after t + 1 tokens (the
        backward direction reads each sequence from its end, see :func:`merge_directions`)
    """
    w_ih, w_hh, b_ih, b_hh = weights
    inputs = torch.stack([packed, permute_rows(packed, layout.reverse, layout.reverse)][: w_ih.shape[0]])
    if cell == "gru":  # the GRU's recurrent bias sits inside the reset gate's product
        return run_steps(cell, torch.baddbmm(b_ih, inputs, w_ih), w_hh, b_hh, layout)
    return run_steps(cell, torch.baddbmm(b_ih + b_hh, inputs, w_ih), w_hh, None, layout)


def merge_directions(states: torch.Tensor, layout: PackedLayout) -> torch.Tensor:
    """(D, N, H) states -> (N, D * H) outputs in packed order, the backward direction's
    put back at the positions they belong to, forward half first."""
    if states.shape[0] == 1:
        return states[0]
    return torch.cat([states[0], permute_rows(states[1], layout.reverse, layout.reverse)], dim=-1)


def run_steps(cell: str, projected: torch.Tensor, w_hh: torch.Tensor, b_hh, layout: PackedLayout):
    """The time-step loop: with a hand-written backward pass when gradients are
    needed, the plain loop (nothing saved) otherwise. Returns (D, N, H) hidden states
    and, for an LSTM, (D, N, H) cell states, else None."""
    if not torch.is_grad_enabled():
        if cell == "gru":
            return gru_states(projected, w_hh, b_hh, layout.batch_sizes), None
        if cell == "lstm":
            return lstm_states(projected, w_hh, layout.batch_sizes)
        return rnn_steps(projected, w_hh, layout.batch_sizes), None
    if cell == "gru":
        return GRUSteps.apply(projected, w_hh, b_hh, layout.batch_sizes, layout.previous), None
    if cell == "lstm":
        return LSTMSteps.apply(projected, w_hh, layout.batch_sizes, layout.previous)
    return RNNSteps.apply(projected, w_hh, layout.batch_sizes, layout.previous), None
