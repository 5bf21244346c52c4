"""Helpers for time-step loops over packed rows (see :mod:`.fused`)."""
import torch


def previous_rows(rows: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """(D, N, H) -> each row's value one step earlier in the same sequence (zeros at
    step 0), with ``previous`` from :class:`.fused.PackedLayout`."""
    with_zero = torch.cat([rows, rows.new_zeros((rows.shape[0], 1, rows.shape[2]))], dim=1)
    return with_zero.index_select(1, previous)
