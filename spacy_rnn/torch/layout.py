"""Where each flat row goes when a batch is laid out time-major ("packed").

A batch of ``B`` sequences is stored flat, ``N = sum(lengths)`` rows, sequence after
sequence. The step-loop backends (:mod:`.recurrence`) read it packed: the rows of step
``t`` are those of the sequences longer than ``t``, longest first, so each step's batch is
a prefix of the previous step's and no step computes on padding. The backward direction
reads each sequence reversed within its own length.
"""
from dataclasses import dataclass
from typing import List

import numpy as np
import torch


@dataclass
class PackedLayout:
    """Where each flat row goes in packed order, and the per-step batch sizes.

    :param to_packed: shape (N,): flat row index of each packed row
    :param to_flat: shape (N,): packed row index of each flat row
    :param reverse: shape (N,): packed row of the same sequence's token at
        position ``length - 1 - t`` for the packed row at position ``t``
    :param batch_sizes: number of sequences longer than ``t``, for each step ``t``
    :param previous: shape (N,): packed row of the same sequence at step ``t - 1``
        for the packed row at step ``t``; N (one past the end) at step 0
    """

    to_packed: torch.Tensor
    to_flat: torch.Tensor
    reverse: torch.Tensor
    batch_sizes: List[int]
    previous: torch.Tensor


def packed_layout(lengths: torch.Tensor) -> PackedLayout:
    """The :class:`PackedLayout` of flat rows of sequences with ``lengths`` (index tensors
    on the CPU). Computed in numpy: a few dozen tiny torch operations cost more than the
    arithmetic. Step ``t``'s rows are the first ``batch_sizes[t]`` sequences in length
    order, so sequence ``b``'s row at step ``t`` is ``offsets[t] + b``."""
    lens = lengths.detach().cpu().numpy().astype(np.int64, copy=False)
    order = np.argsort(-lens, kind="stable")
    sorted_lengths = lens[order]
    steps = np.arange(sorted_lengths[0] if lens.size else 0)[:, None]
    active = steps < sorted_lengths  # (T, B): sequence b has a row at step t
    batch_sizes = active.sum(1)
    offsets = np.cumsum(batch_sizes) - batch_sizes  # first packed row of each step
    column = np.arange(lens.size)
    to_packed = ((np.cumsum(lens) - lens)[order] + steps)[active]
    reverse = (offsets[np.maximum(sorted_lengths - 1 - steps, 0)] + column)[active]
    previous = np.where(steps > 0, offsets[np.maximum(steps - 1, 0)] + column, to_packed.size)[active]
    to_flat = np.empty_like(to_packed)
    to_flat[to_packed] = np.arange(to_packed.size)
    index = torch.from_numpy
    return PackedLayout(index(to_packed), index(to_flat), index(reverse), batch_sizes.tolist(),
                        index(previous))


def direction_rows(layout: PackedLayout, n_dirs: int) -> torch.Tensor:
    """(D, N) int64: the flat row of each packed row, for the forward direction and for the
    backward one, which reads each sequence reversed within its length."""
    rows = [layout.to_packed, layout.to_packed.index_select(0, layout.reverse)]
    return torch.stack(rows[:n_dirs])


def previous_rows(rows: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """(D, N, H) -> each row's value one step earlier in the same sequence (zeros at
    step 0), with ``previous`` from :class:`PackedLayout`."""
    with_zero = torch.cat([rows, rows.new_zeros((rows.shape[0], 1, rows.shape[2]))], dim=1)
    return with_zero.index_select(1, previous)


def last_rows(layout: PackedLayout, lengths: torch.Tensor) -> torch.Tensor:
    """(B,) the packed row of each sequence's last step (every length >= 1): where each
    direction holds its state after the whole sequence."""
    return layout.to_flat[torch.cumsum(lengths, 0) - 1]
