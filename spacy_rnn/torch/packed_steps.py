"""Helpers for time-step loops over packed rows (see :mod:`.fused`)."""
from typing import List

import torch


def previous_rows(rows: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """(D, N, H) -> each row's value one step earlier in the same sequence (zeros at
    step 0), with ``previous`` from :class:`.fused.PackedLayout`."""
    with_zero = torch.cat([rows, rows.new_zeros((rows.shape[0], 1, rows.shape[2]))], dim=1)
    return with_zero.index_select(1, previous)


def sizes_tensor(batch_sizes: List[int]) -> torch.Tensor:
    """The per-step batch sizes as the int64 tensor the C loops (:mod:`.native`) take."""
    return torch.tensor(batch_sizes, dtype=torch.int64)
