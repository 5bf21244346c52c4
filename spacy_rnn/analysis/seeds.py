"""Scores of several training seeds: mean, sample standard deviation and the number of seeds."""
import statistics
from dataclasses import dataclass
from typing import Iterable, Optional


@dataclass(frozen=True)
class SeedScores:
    """Mean and sample standard deviation of one score over the seeds that have it."""

    mean: Optional[float]
    std: Optional[float]  # None with fewer than two seeds: no spread can be estimated
    n: int


def over_seeds(values: Iterable[Optional[float]]) -> SeedScores:
    """Aggregate one score over seeds; ``None`` (a seed without that score) is left out."""
    known = [float(v) for v in values if v is not None]
    if not known:
        return SeedScores(None, None, 0)
    std = statistics.stdev(known) if len(known) > 1 else None
    return SeedScores(statistics.mean(known), std, len(known))


def format_seeds(scores: SeedScores, fmt: str = ".2f", scale: float = 1.0) -> str:
    """'94.63 ± 0.12' for several seeds, '94.63' for one, '–' for none (n is shown elsewhere)."""
    if scores.mean is None:
        return "–"
    text = format(scores.mean * scale, fmt)
    return text if scores.std is None else f"{text} ± {format(scores.std * scale, fmt)}"
