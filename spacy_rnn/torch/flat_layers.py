"""LSTM and GRU layers on flat rows, all directions in one call of the C loops.

The fused loop of :mod:`.fused` works on packed rows, so a layer around it reorders rows
four times (into packed order, the backward direction's inputs reversed within each
sequence, its outputs put back, back to flat order), each a copy in the forward pass and
another in the backward pass, plus a stack and a concatenation. Here the C loops
(:mod:`.native`) read and write the caller's row order themselves (their ``rows``
argument): a layer is one matrix product for all directions' input projections, on flat
rows, and one C call, which gathers each direction's rows as it reads them and scatters
the hidden states as it writes them; its backward pass is one C call and the products for
the input's and the weights' gradients, again on flat rows. Same results as
:func:`.fused.fused_layer` (tests/torch/test_fused.py). CPU, float32, where the C loops
could be built.
"""
from typing import List, Sequence

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from . import native
from .fused import PackedLayout
from .packed_steps import previous_rows


def direction_rows(layout: PackedLayout, n_dirs: int) -> torch.Tensor:
    """(D, N) int64: the flat row of each packed row, for the forward direction and for the
    backward one, which reads each sequence reversed within its length."""
    rows = [layout.to_packed, layout.to_packed.index_select(0, layout.reverse)]
    return torch.stack(rows[:n_dirs])


def flat_layer(cell: str, cells: Sequence[nn.Module], flat: torch.Tensor, layout: PackedLayout,
               rows: torch.Tensor) -> torch.Tensor:
    """One LSTM or GRU layer, all directions, over flat rows.

    :param cells: the forward module, and the backward one if bidirectional
    :param flat: shape (N, W), rows in the caller's order
    :param rows: from :func:`direction_rows`
    :return: shape (N, D * H) in the same order, forward half first
    """
    w_ih = torch.cat([c.weight_ih_l0.t() for c in cells], dim=1)  # (W, D * G)
    w_hh = torch.stack([c.weight_hh_l0.t() for c in cells])  # (D, H, G)
    steps = (layout.batch_sizes, layout.previous, rows)
    if cell == "lstm":
        bias = torch.cat([c.bias_ih_l0 + c.bias_hh_l0 for c in cells])
        if not torch.is_grad_enabled():
            return native.lstm_forward(torch.addmm(bias, flat, w_ih), w_hh, layout.batch_sizes, rows)[3]
        return LSTMLayer.apply(flat, w_ih, bias, w_hh, *steps)
    b_hh = torch.stack([c.bias_hh_l0 for c in cells]).unsqueeze(1)  # (D, 1, G)
    bias = torch.cat([c.bias_ih_l0 for c in cells])
    if not torch.is_grad_enabled():
        return native.gru_forward(torch.addmm(bias, flat, w_ih), w_hh, b_hh, layout.batch_sizes, rows)[3]
    return GRULayer.apply(flat, w_ih, bias, w_hh, b_hh, *steps)


def _weight_grads(ctx, flat, w_ih, d_proj, states, previous, d_recurrent):
    """Gradients w.r.t. the flat input (if needed), the input weights, their bias and the
    recurrent weights, from those w.r.t. the projections ``flat @ w_ih + bias`` (flat
    order) and w.r.t. the recurrent products ``h_prev @ w_hh`` (packed order)."""
    grad_flat = d_proj.mm(w_ih.t()) if ctx.needs_input_grad[0] else None
    grad_w_hh = torch.bmm(previous_rows(states, previous).transpose(1, 2), d_recurrent)
    return grad_flat, flat.t().mm(d_proj), d_proj.sum(0), grad_w_hh


class LSTMLayer(torch.autograd.Function):
    """An LSTM layer on flat rows (see the module docstring); returns (N, D * H)."""

    @staticmethod
    def forward(ctx, flat, w_ih, bias, w_hh, batch_sizes: List[int], previous, rows):
        projected = torch.addmm(bias, flat, w_ih)
        states, cells, acts, merged = native.lstm_forward(projected, w_hh, batch_sizes, rows)
        ctx.batch_sizes = batch_sizes
        ctx.save_for_backward(flat, w_ih, w_hh, acts, cells, states, previous, rows)
        return merged

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        flat, w_ih, w_hh, acts, cells, states, previous, rows = ctx.saved_tensors
        d_pre, d_proj = native.lstm_backward(grad, None, w_hh, acts, cells, ctx.batch_sizes, rows)
        return (*_weight_grads(ctx, flat, w_ih, d_proj, states, previous, d_pre), None, None, None)


class GRULayer(torch.autograd.Function):
    """A GRU layer on flat rows (see the module docstring); returns (N, D * H)."""

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
