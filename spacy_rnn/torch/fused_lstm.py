"""The LSTM time-step loop of :mod:`.fused` with a hand-written backward pass.

Under autograd, every small operation of every step is recorded and replayed
backward one node at a time; on CPU that bookkeeping costs more than the
arithmetic. Here the forward loop records nothing but the activations, and the
backward loop runs through time once, with everything that does not depend on
the recurrence (gate derivatives, previous cell states) computed for all rows at
once before it, and the recurrent weight gradient as one batched matrix product
after it.

Shapes: D directions, N packed rows, H units per direction, gates in PyTorch's
order (input, forget, cell, output).
"""
from typing import List, Optional, Tuple

import torch
from torch.autograd.function import once_differentiable

from .packed_steps import pad_rows, previous_rows, step_rows


def lstm_steps(projected: torch.Tensor, w_hh: torch.Tensor, batch_sizes: List[int],
               keep: bool = False) -> Tuple[torch.Tensor, torch.Tensor, Optional[List[torch.Tensor]]]:
    """The forward loop: (D, N, 4H) input projections (both biases included) and
    (D, H, 4H) recurrent weights -> (D, N, H) hidden states, (D, N, H) cell states,
    and with ``keep`` the other activations the backward pass needs: sigmoid of all
    gates and tanh of the cell gate, (D, N, 4H) and (D, N, H)."""
    hidden = w_hh.shape[1]
    h = projected.new_zeros((projected.shape[0], batch_sizes[0], hidden))
    c = torch.zeros_like(h)
    outputs, cells, kept = [], [], []
    for start, size in step_rows(batch_sizes):
        gates = torch.baddbmm(projected[:, start : start + size], h[:, :size], w_hh)
        sig = gates.sigmoid()
        in_gate, forget, _, out_gate = sig.chunk(4, dim=-1)
        cand = gates[..., 2 * hidden : 3 * hidden].tanh()
        c = torch.addcmul(forget * c[:, :size], in_gate, cand)
        h = out_gate * c.tanh()
        outputs.append(h)
        cells.append(c)
        if keep:
            kept.append((sig, cand))
    kept = [torch.cat(parts, dim=1) for parts in zip(*kept)] if keep else None
    return torch.cat(outputs, dim=1), torch.cat(cells, dim=1), kept


class LSTMSteps(torch.autograd.Function):
    """:func:`lstm_steps` with a hand-written backward pass. Returns the hidden and the
    cell states; either may receive a gradient (e.g. a final cell state)."""

    @staticmethod
    def forward(ctx, projected, w_hh, batch_sizes: List[int], previous: torch.Tensor):
        states, cells, (sig, cand) = lstm_steps(projected, w_hh, batch_sizes, keep=True)
        ctx.batch_sizes = batch_sizes
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(w_hh, sig, cand, cells, states, previous)
        return states, cells

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_states, grad_cells):
        w_hh, sig, cand, cells, states, previous = ctx.saved_tensors
        if grad_states is None:
            grad_states = torch.zeros_like(states)
        d_pre = _lstm_backward_steps(grad_states, grad_cells, w_hh, sig, cand, cells, previous,
                                     ctx.batch_sizes)
        grad_w_hh = torch.bmm(previous_rows(states, previous).transpose(1, 2), d_pre)
        return d_pre, grad_w_hh, None, None


def _lstm_backward_steps(grad_states, grad_cells, w_hh, sig, cand, cells, previous, batch_sizes):
    """Gradient of the loss w.r.t. the gate pre-activations, (D, N, 4H); ``grad_cells``
    (gradient w.r.t. the cell states as outputs) may be None."""
    hidden = w_hh.shape[1]
    in_gate, forget, _, out_gate = sig.chunk(4, dim=-1)
    tanh_c = cells.tanh()
    # d pre-activation = d activation * activation'; sigmoid' = a (1 - a), tanh' = 1 - a^2
    deriv = torch.addcmul(sig, sig, sig, value=-1)
    deriv[..., 2 * hidden : 3 * hidden] = 1 - cand * cand
    d_in, d_forget, d_cand, d_out = deriv.chunk(4, dim=-1)
    # per row: d(in, forget, cand) = dc * (cand, c_prev, in) * deriv; d out = dh * tanh(c) * deriv
    from_dc = torch.stack([cand * d_in, previous_rows(cells, previous) * d_forget, in_gate * d_cand], dim=2)
    from_dh = tanh_c * d_out
    dc_from_dh = out_gate * (1 - tanh_c * tanh_c)
    w_hh_t = w_hh.transpose(1, 2).contiguous()
    d_pre_steps = []
    dh_next = dc_next = None
    for start, size in reversed(step_rows(batch_sizes)):
        rows = slice(start, start + size)
        dh = grad_states[:, rows]
        if dh_next is not None:
            dh = dh + pad_rows(dh_next, size)
        dc = dh * dc_from_dh[:, rows]
        if grad_cells is not None:
            dc = dc + grad_cells[:, rows]
        if dc_next is not None:
            dc = dc + pad_rows(dc_next, size)
        d_pre = torch.cat([(dc.unsqueeze(2) * from_dc[:, rows]).flatten(2), dh * from_dh[:, rows]], dim=-1)
        d_pre_steps.append(d_pre)
        dh_next = torch.bmm(d_pre, w_hh_t)
        dc_next = dc * forget[:, rows]
    return torch.cat(d_pre_steps[::-1], dim=1)
