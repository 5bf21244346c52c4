"""The tanh-RNN time-step loop of :mod:`.fused` with a hand-written backward pass
(see :mod:`.fused_lstm` for why): h' = tanh(x + h W + b)."""
from typing import List

import torch
from torch.autograd.function import once_differentiable

from .packed_steps import pad_rows, previous_rows, step_rows


def rnn_steps(projected: torch.Tensor, w_hh: torch.Tensor, batch_sizes: List[int]) -> torch.Tensor:
    """The forward loop: (D, N, H) input projections (both biases included) and
    (D, H, H) recurrent weights -> (D, N, H) hidden states."""
    h = projected.new_zeros((projected.shape[0], batch_sizes[0], w_hh.shape[1]))
    outputs = []
    for start, size in step_rows(batch_sizes):
        h = torch.baddbmm(projected[:, start : start + size], h[:, :size], w_hh).tanh()
        outputs.append(h)
    return torch.cat(outputs, dim=1)


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
        deriv = 1 - states * states
        w_hh_t = w_hh.transpose(1, 2).contiguous()
        d_pre_steps, dh_next = [], None
        for start, size in reversed(step_rows(ctx.batch_sizes)):
            dh = grad_states[:, start : start + size]
            if dh_next is not None:
                dh = dh + pad_rows(dh_next, size)
            d_pre = dh * deriv[:, start : start + size]
            d_pre_steps.append(d_pre)
            dh_next = torch.bmm(d_pre, w_hh_t)
        d_pre = torch.cat(d_pre_steps[::-1], dim=1)
        grad_w_hh = torch.bmm(previous_rows(states, previous).transpose(1, 2), d_pre)
        return d_pre, grad_w_hh, None, None
