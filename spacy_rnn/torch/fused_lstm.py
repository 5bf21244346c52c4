"""The LSTM time-step loop of :mod:`.fused` with a hand-written backward pass.

Under autograd, every small operation of every step is recorded and replayed
backward one node at a time; on CPU that bookkeeping costs more than the
arithmetic. Here the forward loop records nothing but the activations, and the
backward loop runs through time once, with everything that does not depend on
the recurrence (gate derivatives, previous cell states) computed for all rows at
once before it, and the recurrent weight gradient as one batched matrix product
after it.

Both loops also exist in C (:mod:`.native`), which runs them whenever the library
could be built and the tensors are float32 on CPU; the PyTorch loops below are the
fallback (and the reference the tests compare the C loops with).

Shapes: D directions, N packed rows, H units per direction, gates in PyTorch's
order (input, forget, cell, output).
"""
from typing import List, Optional, Tuple

import torch
from torch.autograd.function import once_differentiable

from . import native
from .packed_steps import previous_rows


def lstm_states(projected: torch.Tensor, w_hh: torch.Tensor,
                batch_sizes: List[int]) -> Tuple[torch.Tensor, torch.Tensor]:
    """The forward loop without gradients: (D, N, H) hidden and cell states, from the C
    loop where it can run, else from :func:`lstm_steps`."""
    if native.usable(projected, w_hh):
        return native.lstm_forward(projected, w_hh, batch_sizes)[:2]
    return lstm_steps(projected, w_hh, batch_sizes)[:2]


def lstm_steps(projected: torch.Tensor, w_hh: torch.Tensor, batch_sizes: List[int],
               keep: bool = False) -> Tuple[torch.Tensor, torch.Tensor, Optional[List[torch.Tensor]]]:
    """The forward loop: (D, N, 4H) input projections (both biases included) and
    (D, H, 4H) recurrent weights -> (D, N, H) hidden states, (D, N, H) cell states,
    and with ``keep`` the other activations the backward pass needs: sigmoid of all
    gates and tanh of the cell gate, (D, N, 4H) and (D, N, H). Each step writes its
    results into views of these tensors (one ``split`` each, no concatenation)."""
    n_dirs, n_rows, n_gates = projected.shape
    hidden = n_gates // 4
    states, cells = (projected.new_empty((n_dirs, n_rows, hidden)) for _ in range(2))
    kept = [projected.new_empty((n_dirs, n_rows, n_gates)),
            projected.new_empty((n_dirs, n_rows, hidden))] if keep else None
    outs = [x.split(batch_sizes, dim=1) for x in [projected, states, cells] + (kept or [])]
    if not keep:
        outs += [[None] * len(batch_sizes)] * 2
    h = c = projected.new_zeros((n_dirs, batch_sizes[0], hidden))
    for size, (x, h_out, c_out, sig_out, cand_out) in zip(batch_sizes, zip(*outs)):
        gates = torch.baddbmm(x, h[:, :size], w_hh)
        cand = torch.tanh(gates[..., 2 * hidden : 3 * hidden], out=cand_out)
        sig = gates.sigmoid_() if sig_out is None else torch.sigmoid(gates, out=sig_out)
        in_gate, forget, _, out_gate = sig.chunk(4, dim=-1)
        c = torch.addcmul(forget * c[:, :size], in_gate, cand, out=c_out)
        h = torch.mul(out_gate, c.tanh(), out=h_out)
    return states, cells, kept


class LSTMSteps(torch.autograd.Function):
    """:func:`lstm_steps` with a hand-written backward pass. Returns the hidden and the
    cell states; either may receive a gradient (e.g. a final cell state)."""

    @staticmethod
    def forward(ctx, projected, w_hh, batch_sizes: List[int], previous: torch.Tensor):
        ctx.native = native.usable(projected, w_hh)
        if ctx.native:  # the C loop keeps all four gate activations in one tensor
            states, cells, acts = native.lstm_forward(projected, w_hh, batch_sizes)
            kept = (acts, None)
        else:
            states, cells, kept = lstm_steps(projected, w_hh, batch_sizes, keep=True)
        ctx.batch_sizes = batch_sizes
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(w_hh, *kept, cells, states, previous)
        return states, cells

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_states, grad_cells):
        w_hh, sig, cand, cells, states, previous = ctx.saved_tensors
        if grad_states is None:
            grad_states = torch.zeros_like(states)
        if ctx.native:
            d_pre = native.lstm_backward(grad_states, grad_cells, w_hh, sig, cells,
                                         ctx.batch_sizes)
        else:
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
    return _lstm_recurrence(grad_states, grad_cells, (dc_from_dh, from_dc, from_dh, forget),
                            w_hh.transpose(1, 2).contiguous(), batch_sizes)


def _lstm_recurrence(grad_states, grad_cells, factors, w_hh_t, batch_sizes):
    """The loop backward through time, with ``factors`` = (dc_from_dh, from_dc, from_dh,
    forget) from :func:`_lstm_backward_steps`. Each step writes its gate gradients into
    one (D, N, 4, H) tensor and what it passes to the step before into the first rows
    of two (D, B, H) buffers, whose rows beyond a step's batch stay zero (batches only
    grow going backward): no padding or concatenation per step, and the per-step
    views come from one ``split`` each."""
    n_dirs, n_rows, hidden = grad_states.shape
    d_pre = grad_states.new_empty((n_dirs, n_rows, 4, hidden))
    dh_next = grad_states.new_zeros((n_dirs, batch_sizes[0], hidden))
    dc_next = torch.zeros_like(dh_next)
    per_step = [x.split(batch_sizes, dim=1) for x in (grad_states, d_pre) + tuple(factors)]
    per_step.append([None] * len(batch_sizes) if grad_cells is None
                    else grad_cells.split(batch_sizes, dim=1))
    for size, (grad_h, step, dc_from_dh, from_dc, from_dh, forget, grad_c) in zip(
            reversed(batch_sizes), reversed(list(zip(*per_step)))):
        dh = grad_h + dh_next[:, :size]
        dc = torch.addcmul(dc_next[:, :size], dh, dc_from_dh)
        if grad_c is not None:
            dc += grad_c
        torch.mul(dc.unsqueeze(2), from_dc, out=step[:, :, :3])
        torch.mul(dh, from_dh, out=step[:, :, 3])
        torch.bmm(step.view(n_dirs, size, 4 * hidden), w_hh_t, out=dh_next[:, :size])
        torch.mul(dc, forget, out=dc_next[:, :size])
    return d_pre.view(n_dirs, n_rows, 4 * hidden)
