"""The "loop" backend: the time-step loops of a recurrent layer in PyTorch, over packed rows
(:mod:`.layout`), all directions of a layer at once, with hand-written backward passes.

Under autograd, every small operation of every step is recorded and replayed backward one
node at a time; on CPU that bookkeeping costs more than the arithmetic. Here the forward
loop records nothing but the activations, and the backward loop runs through time once,
with everything that does not depend on the recurrence computed for all rows at once
before it, and the recurrent weight gradient as one batched matrix product after it.

These loops run anywhere (any device, any float dtype); the C loops of :mod:`.native` do
the same for the LSTM and the GRU in float32 on CPU, and the tests compare the two.

Shapes: D directions, N packed rows, H units per direction, gates in PyTorch's order
(LSTM: input, forget, cell, output; GRU: reset, update, candidate). PyTorch's GRU:
r = sigmoid(x_r + h W_r + b_r), z = sigmoid(x_z + h W_z + b_z),
n = tanh(x_n + r * (h W_n + b_n)), h' = (1 - z) * n + z * h. The tanh RNN:
h' = tanh(x + h W + b).
"""
from typing import List, Optional, Tuple

import torch
from torch.autograd.function import once_differentiable

from .layout import previous_rows


# ----- LSTM ------------------------------------------------------------------------------------

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


# ----- GRU -------------------------------------------------------------------------------------

def gru_steps(projected: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor, batch_sizes: List[int],
              keep: bool = False) -> Tuple[torch.Tensor, Optional[List[torch.Tensor]]]:
    """The forward loop: (D, N, 3H) input projections (input bias included),
    (D, H, 3H) recurrent weights and (D, 1, 3H) recurrent bias -> (D, N, H) hidden
    states, and with ``keep`` what the backward pass needs: the gates (r, z, n) as
    (D, N, 3H) and the recurrent product of the candidate, h W_n + b_n, (D, N, H)."""
    hidden = w_hh.shape[1]
    h = projected.new_zeros((projected.shape[0], batch_sizes[0], hidden))
    outputs, kept = [], []
    for size, x in zip(batch_sizes, projected.split(batch_sizes, dim=1)):
        h = h[:, :size]
        recurrent = torch.baddbmm(b_hh, h, w_hh)
        reset_update = (x[..., : 2 * hidden] + recurrent[..., : 2 * hidden]).sigmoid()
        candidate = torch.addcmul(x[..., 2 * hidden :], reset_update[..., :hidden],
                                  recurrent[..., 2 * hidden :]).tanh()
        h = torch.lerp(candidate, h, reset_update[..., hidden:])
        outputs.append(h)
        if keep:
            kept.append((torch.cat([reset_update, candidate], dim=-1), recurrent[..., 2 * hidden :]))
    states = torch.cat(outputs, dim=1)
    return states, ([torch.cat(parts, dim=1) for parts in zip(*kept)] if keep else None)


class GRUSteps(torch.autograd.Function):
    """:func:`gru_steps` with a hand-written backward pass."""

    @staticmethod
    def forward(ctx, projected, w_hh, b_hh, batch_sizes: List[int], previous: torch.Tensor):
        states, (gates, recurrent_n) = gru_steps(projected, w_hh, b_hh, batch_sizes, keep=True)
        ctx.batch_sizes = batch_sizes
        ctx.save_for_backward(w_hh, gates, recurrent_n, states, previous)
        return states

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_states):
        w_hh, gates, recurrent_n, states, previous = ctx.saved_tensors
        h_prev = previous_rows(states, previous)
        d_projected, d_recurrent = _gru_backward_steps(grad_states, w_hh, gates, recurrent_n, h_prev,
                                                       ctx.batch_sizes)
        grad_w_hh = torch.bmm(h_prev.transpose(1, 2), d_recurrent)
        return d_projected, grad_w_hh, d_recurrent.sum(1, keepdim=True), None, None


def _gru_backward_steps(grad_states, w_hh, gates, recurrent_n, h_prev, batch_sizes):
    """Gradients w.r.t. the input projections and the recurrent products, (D, N, 3H) each."""
    reset, update, candidate = gates.chunk(3, dim=-1)
    # everything outside the recurrence, for all rows at once:
    # d(z pre) = dh' * (h - n) * z (1 - z); d(n pre) = dh' * (1 - z) * (1 - n^2)
    from_dh = torch.stack([(h_prev - candidate) * update * (1 - update),
                           (1 - update) * (1 - candidate * candidate)], dim=2)
    # d(r pre) = d(n pre) * (h W_n + b_n) * r (1 - r); d(h W_n + b_n) = d(n pre) * r
    from_dn = torch.stack([recurrent_n * reset * (1 - reset), reset], dim=2)
    return _gru_recurrence(grad_states, from_dh, from_dn, update,
                           w_hh.transpose(1, 2).contiguous(), batch_sizes)


def _gru_recurrence(grad_states, from_dh, from_dn, update, w_hh_t, batch_sizes):
    """The loop backward through time (see :func:`_lstm_recurrence` for the
    buffers): d(projected) and d(recurrent products), (D, N, 3H) each."""
    n_dirs, n_rows, hidden = grad_states.shape
    d_recurrent = grad_states.new_empty((n_dirs, n_rows, 3, hidden))  # r, z, n of h W + b
    d_n = grad_states.new_empty((n_dirs, n_rows, hidden))  # n pre-activation
    dh_next = grad_states.new_zeros((n_dirs, batch_sizes[0], hidden))
    per_step = [x.split(batch_sizes, dim=1) for x in (grad_states, from_dh, from_dn, update, d_recurrent, d_n)]
    for size, (grad_h, f_dh, f_dn, z, d_rec, dn) in zip(reversed(batch_sizes),
                                                          reversed(list(zip(*per_step)))):
        dh = grad_h + dh_next[:, :size]
        torch.mul(dh, f_dh[:, :, 0], out=d_rec[:, :, 1])
        torch.mul(dh, f_dh[:, :, 1], out=dn)
        torch.mul(dn.unsqueeze(2), f_dn, out=d_rec[:, :, 0::2])
        torch.baddbmm(dh * z, d_rec.view(n_dirs, size, 3 * hidden), w_hh_t, out=dh_next[:, :size])
    d_recurrent = d_recurrent.view(n_dirs, n_rows, 3 * hidden)
    return torch.cat([d_recurrent[..., : 2 * hidden], d_n], dim=-1), d_recurrent


# ----- tanh RNN --------------------------------------------------------------------------------

def rnn_steps(projected: torch.Tensor, w_hh: torch.Tensor, batch_sizes: List[int]) -> torch.Tensor:
    """The forward loop: (D, N, H) input projections (both biases included) and
    (D, H, H) recurrent weights -> (D, N, H) hidden states, each step written into a
    view of the result."""
    states = torch.empty_like(projected)
    h = projected.new_zeros((projected.shape[0], batch_sizes[0], w_hh.shape[1]))
    for size, x, h_out in zip(batch_sizes, projected.split(batch_sizes, dim=1),
                              states.split(batch_sizes, dim=1)):
        h = torch.baddbmm(x, h[:, :size], w_hh, out=h_out).tanh_()
    return states


class RNNSteps(torch.autograd.Function):
    """:func:`rnn_steps` with a hand-written backward pass (the states are all it needs)."""

    @staticmethod
    def forward(ctx, projected, w_hh, batch_sizes: List[int], previous: torch.Tensor):
        states = rnn_steps(projected, w_hh, batch_sizes)
        ctx.batch_sizes = batch_sizes
        ctx.save_for_backward(w_hh, states, previous)
        return states

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_states):
        w_hh, states, previous = ctx.saved_tensors
        d_pre = _rnn_recurrence(grad_states, 1 - states * states,
                                w_hh.transpose(1, 2).contiguous(), ctx.batch_sizes)
        grad_w_hh = torch.bmm(previous_rows(states, previous).transpose(1, 2), d_pre)
        return d_pre, grad_w_hh, None, None


def _rnn_recurrence(grad_states, deriv, w_hh_t, batch_sizes):
    """The loop backward through time (see :func:`_lstm_recurrence` for the
    buffers): gradient w.r.t. the pre-activations, (D, N, H)."""
    d_pre = torch.empty_like(grad_states)
    dh_next = grad_states.new_zeros((grad_states.shape[0], batch_sizes[0], grad_states.shape[2]))
    per_step = [x.split(batch_sizes, dim=1) for x in (grad_states, deriv, d_pre)]
    for size, (grad_h, step_deriv, step) in zip(reversed(batch_sizes), reversed(list(zip(*per_step)))):
        torch.mul(grad_h + dh_next[:, :size], step_deriv, out=step)
        torch.bmm(step, w_hh_t, out=dh_next[:, :size])
    return d_pre
