"""The tanh-RNN time-step loop of :mod:`.fused` with a hand-written backward pass
(see :mod:`.fused_lstm` for why): h' = tanh(x + h W + b)."""
from typing import List

import torch
from torch.autograd.function import once_differentiable

from .packed_steps import previous_rows


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
    """The loop backward through time (see :func:`.fused_lstm._lstm_recurrence` for the
    buffers): gradient w.r.t. the pre-activations, (D, N, H)."""
    d_pre = torch.empty_like(grad_states)
    dh_next = grad_states.new_zeros((grad_states.shape[0], batch_sizes[0], grad_states.shape[2]))
    per_step = [x.split(batch_sizes, dim=1) for x in (grad_states, deriv, d_pre)]
    for size, (grad_h, step_deriv, step) in zip(reversed(batch_sizes), reversed(list(zip(*per_step)))):
        torch.mul(grad_h + dh_next[:, :size], step_deriv, out=step)
        torch.bmm(step, w_hh_t, out=dh_next[:, :size])
    return d_pre
