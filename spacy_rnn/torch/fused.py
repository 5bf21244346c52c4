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

import torch
from torch import nn

from .fused_gru import GRUSteps, gru_steps
from .fused_lstm import LSTMSteps, lstm_steps
from .fused_rnn import RNNSteps, rnn_steps
from .padding import inverse_permutation


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
    """The :class:`PackedLayout` of flat rows of sequences with ``lengths``."""
    order = torch.argsort(lengths, descending=True, stable=True)
    sorted_lengths = lengths[order]
    max_len = int(sorted_lengths[0]) if lengths.numel() else 0
    steps = torch.arange(max_len, device=lengths.device).unsqueeze(1)
    active = steps < sorted_lengths.unsqueeze(0)  # (T, B)
    starts = (torch.cumsum(lengths, 0) - lengths)[order]
    to_packed = (starts.unsqueeze(0) + steps)[active]
    position = torch.cumsum(active.reshape(-1), 0).reshape(active.shape) - 1
    mirrored = (sorted_lengths.unsqueeze(0) - 1 - steps).clamp(min=0)
    reverse = position.gather(0, mirrored)[active]
    to_flat = inverse_permutation(to_packed)
    before = torch.cat([torch.full_like(position[:1], to_packed.numel()), position[:-1]])
    return PackedLayout(to_packed, to_flat, reverse, active.sum(1).tolist(), before[active])


def stacked_weights(cells: Sequence[nn.Module]):
    """Input weights (D, W, G), recurrent weights (D, H, G) and the two biases
    (D, 1, G) of the single-layer modules ``cells`` (one per direction)."""
    w_ih = torch.stack([cell.weight_ih_l0.t() for cell in cells])
    w_hh = torch.stack([cell.weight_hh_l0.t() for cell in cells])
    b_ih = torch.stack([cell.bias_ih_l0 for cell in cells]).unsqueeze(1)
    b_hh = torch.stack([cell.bias_hh_l0 for cell in cells]).unsqueeze(1)
    return w_ih, w_hh, b_ih, b_hh


def fused_layer(cell: str, cells: Sequence[nn.Module], packed: torch.Tensor,
                layout: PackedLayout) -> torch.Tensor:
    """Run one layer, all directions, over packed rows.

    :param cell: "rnn", "lstm" or "gru"
    :param cells: the forward module, and the backward one if bidirectional
    :param packed: shape (N, W), rows in packed order
    :return: shape (N, D * H) in packed order, forward half first
    """
    w_ih, w_hh, b_ih, b_hh = stacked_weights(cells)
    inputs = torch.stack([packed, packed.index_select(0, layout.reverse)][: len(cells)])
    if cell == "gru":  # the GRU's recurrent bias sits inside the reset gate's product
        states = run_steps(cell, torch.baddbmm(b_ih, inputs, w_ih), w_hh, b_hh, layout)
    else:
        states = run_steps(cell, torch.baddbmm(b_ih + b_hh, inputs, w_ih), w_hh, None, layout)
    if len(cells) == 1:
        return states[0]
    return torch.cat([states[0], states[1].index_select(0, layout.reverse)], dim=-1)


def run_steps(cell: str, projected: torch.Tensor, w_hh: torch.Tensor, b_hh, layout: PackedLayout):
    """The time-step loop: with a hand-written backward pass when gradients are
    needed, the plain loop (nothing saved) otherwise. Returns (D, N, H) states."""
    if not torch.is_grad_enabled():
        if cell == "gru":
            return gru_steps(projected, w_hh, b_hh, layout.batch_sizes)[0]
        if cell == "lstm":
            return lstm_steps(projected, w_hh, layout.batch_sizes)[0]
        return rnn_steps(projected, w_hh, layout.batch_sizes)
    if cell == "gru":
        return GRUSteps.apply(projected, w_hh, b_hh, layout.batch_sizes, layout.previous)
    steps = LSTMSteps if cell == "lstm" else RNNSteps
    return steps.apply(projected, w_hh, layout.batch_sizes, layout.previous)
