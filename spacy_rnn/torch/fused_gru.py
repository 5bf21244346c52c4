"""The GRU time-step loop of :mod:`.fused` with a hand-written backward pass
(see :mod:`.fused_lstm` for why).

PyTorch's GRU: r = sigmoid(x_r + h W_r + b_r), z = sigmoid(x_z + h W_z + b_z),
n = tanh(x_n + r * (h W_n + b_n)), h' = (1 - z) * n + z * h. Shapes: D
directions, N packed rows, H units, gates in PyTorch's order (r, z, n).

As for the LSTM, both loops also exist in C (:mod:`.native`) and run there whenever the
library could be built and the tensors are float32 on CPU.
"""
from typing import List, Optional, Tuple

import torch
from torch.autograd.function import once_differentiable

from . import native
from .packed_steps import previous_rows


def gru_states(projected: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor,
               batch_sizes: List[int]) -> torch.Tensor:
    """The forward loop without gradients: (D, N, H) hidden states, from the C loop where
    it can run, else from :func:`gru_steps`."""
    if native.usable(projected, w_hh, b_hh):
        return native.gru_forward(projected, w_hh, b_hh, batch_sizes)[0]
    return gru_steps(projected, w_hh, b_hh, batch_sizes)[0]


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
        ctx.native = native.usable(projected, w_hh, b_hh)
        if ctx.native:
            states, gates, recurrent_n = native.gru_forward(projected, w_hh, b_hh,
                                                            batch_sizes)
        else:
            states, (gates, recurrent_n) = gru_steps(projected, w_hh, b_hh, batch_sizes, keep=True)
        ctx.batch_sizes = batch_sizes
        ctx.save_for_backward(w_hh, gates, recurrent_n, states, previous)
        return states

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_states):
        w_hh, gates, recurrent_n, states, previous = ctx.saved_tensors
        h_prev = previous_rows(states, previous)
        if ctx.native:
            d_projected, d_recurrent = native.gru_backward(grad_states, w_hh, gates, recurrent_n, states,
                                                           ctx.batch_sizes)
        else:
            d_projected, d_recurrent = _gru_backward_steps(grad_states, w_hh, gates, recurrent_n,
                                                           h_prev, ctx.batch_sizes)
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
    """The loop backward through time (see :func:`.fused_lstm._lstm_recurrence` for the
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
