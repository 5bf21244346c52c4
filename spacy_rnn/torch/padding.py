"""Conversions between flat (concatenated) token rows and padded batches.

A batch of ``B`` sequences with lengths ``lengths`` is stored flat as a tensor
of shape ``(sum(lengths), width)``, sequence after sequence. These helpers move
it to a batch-first padded tensor and back, and reverse each sequence within
its own length, which is what makes the backward direction of a recurrent
layer ignore padding.
"""
import torch


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


def unpad(padded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`pad_flat`: (B, T, W) -> (N, W)."""
    return padded[length_mask(lengths, padded.shape[1])]


def reverse_index(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Index of shape (B, T) that reverses each sequence within its length.

    Position t < len maps to len - 1 - t; padding positions map to themselves.
    Applying the reversal twice gives the identity.
    """
    positions = torch.arange(max_len, device=lengths.device).unsqueeze(0)
    flipped = lengths.unsqueeze(1) - 1 - positions
    return torch.where(flipped >= 0, flipped, positions)


def reverse_padded(padded: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of a (B, T, W) batch with an index from
    :func:`reverse_index`."""
    expanded = index.unsqueeze(-1).expand(-1, -1, padded.shape[-1])
    return padded.gather(1, expanded)
