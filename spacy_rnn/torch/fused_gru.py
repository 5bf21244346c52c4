"""The GRU time-step loop of :mod:`.fused` with a hand-written backward pass
(see :mod:`.fused_lstm` for why).

PyTorch's GRU: r = sigmoid(x_r + h W_r + b_r), z = sigmoid(x_z + h W_z + b_z),
n = tanh(x_n + r * (h W_n + b_n)), h' = (1 - z) * n + z * h. Shapes: D
directions, N packed rows, H units, gates in PyTorch's order (r, z, n).
"""
from typing import List, Optional, Tuple

import torch
from torch.autograd.function import once_differentiable

from .packed_steps import pad_rows, previous_rows, step_rows


def gru_steps(projected: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor, batch_sizes: List[int],
              keep: bool = False) -> Tuple[torch.Tensor, Optional[List[torch.Tensor]]]:
    """The forward loop: (D, N, 3H) input projections (input bias included),
    (D, H, 3H) recurrent weights and (D, 1, 3H) recurrent bias -> (D, N, H) hidden
    states, and with ``keep`` what the backward pass needs: the gates (r, z, n) as
    (D, N, 3H) and the recurrent product of the candidate, h W_n + b_n, (D, N, H)."""
    hidden = w_hh.shape[1]
    h = projected.new_zeros((projected.shape[0], batch_sizes[0], hidden))
    outputs, kept = [], []
    for start, size in step_rows(batch_sizes):
        x = projected[:, start : start + size]
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
    w_hh_t = w_hh.transpose(1, 2).contiguous()
    d_recurrent_steps, d_n_steps = [], []
    dh_next = None
    for start, size in reversed(step_rows(batch_sizes)):
        rows = slice(start, start + size)
        dh = grad_states[:, rows]
        if dh_next is not None:
            dh = dh + pad_rows(dh_next, size)
        d_zn = dh.unsqueeze(2) * from_dh[:, rows]
        d_rn = d_zn[:, :, 1].unsqueeze(2) * from_dn[:, rows]
        d_recurrent = torch.cat([d_rn[:, :, 0], d_zn[:, :, 0], d_rn[:, :, 1]], dim=-1)
        d_recurrent_steps.append(d_recurrent)
        d_n_steps.append(d_zn[:, :, 1])
        dh_next = torch.baddbmm(dh * update[:, rows], d_recurrent, w_hh_t)
    d_recurrent = torch.cat(d_recurrent_steps[::-1], dim=1)
    hidden = w_hh.shape[1]
    d_projected = torch.cat([d_recurrent[..., : 2 * hidden], torch.cat(d_n_steps[::-1], dim=1)], dim=-1)
    return d_projected, d_recurrent
