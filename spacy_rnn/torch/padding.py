"""Conversions between flat (concatenated) token rows and padded batches.

A batch of ``B`` sequences with lengths ``lengths`` is stored flat as a tensor
of shape ``(sum(lengths), width)``, sequence after sequence. These helpers move
it to a batch-first padded tensor and back.
"""
import torch
from torch.autograd.function import once_differentiable


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Boolean mask of shape (B, max_len): True on real positions.

    :param lengths: shape (B,), int64
    """
    positions = torch.arange(max_len, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def pad_flat(flat: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Scatter flat rows into a zero-padded batch.

    :param flat: shape (N, W) with N == lengths.sum()
    :param lengths: shape (B,)
    :return: shape (B, T, W) with T == lengths.max()
    """
    max_len = int(lengths.max()) if lengths.numel() else 0
    mask = length_mask(lengths, max_len)
    padded = flat.new_zeros((lengths.numel(), max_len) + tuple(flat.shape[1:]))
    padded[mask] = flat
    return padded


def inverse_permutation(order: torch.Tensor) -> torch.Tensor:
    """The index that undoes ``x.index_select(0, order)`` for a permutation ``order``."""
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel(), device=order.device)
    return inverse


def permute_rows(rows: torch.Tensor, order: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """``rows.index_select(0, order)`` for a permutation ``order`` whose inverse is
    ``inverse``. Under autograd its backward pass is a gather by ``inverse``, where
    ``index_select``'s is a scatter-add into a zero-filled tensor."""
    if not (rows.requires_grad and torch.is_grad_enabled()):
        return rows.index_select(0, order)
    return _PermuteRows.apply(rows, order, inverse)


class _PermuteRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, rows, order, inverse):
        ctx.save_for_backward(inverse)
        return rows.index_select(0, order)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (inverse,) = ctx.saved_tensors
        return grad.index_select(0, inverse), None, None
