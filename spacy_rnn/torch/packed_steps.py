"""Helpers for time-step loops over packed rows (see :mod:`.fused`)."""
from typing import List, Tuple

import torch
import torch.nn.functional as F


def step_rows(batch_sizes: List[int]) -> List[Tuple[int, int]]:
    """(first packed row, number of rows) of each step."""
    out, start = [], 0
    for size in batch_sizes:
        out.append((start, size))
        start += size
    return out


def pad_rows(x: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-extend (D, n, H) to (D, size, H): in a backward loop, a step's rows
    beyond n get no contribution from the (shorter) step after it."""
    return x if x.shape[1] == size else F.pad(x, (0, 0, 0, size - x.shape[1]))


def previous_rows(rows: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """(D, N, H) -> each row's value one step earlier in the same sequence (zeros at
    step 0), with ``previous`` from :class:`.fused.PackedLayout`."""
    with_zero = torch.cat([rows, rows.new_zeros((rows.shape[0], 1, rows.shape[2]))], dim=1)
    return with_zero.index_select(1, previous)
