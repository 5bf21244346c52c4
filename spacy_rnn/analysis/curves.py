"""Learning curves and time-to-accuracy from the JSONL training logs of spacy-rnn.JSONLLogger.v1.

Each log line is one dev evaluation with "step", "seconds" (since training started, dev
evaluations included) and "score" (the pipeline's weighted dev score, 0-1).
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import srsly

from .seeds import SeedScores, over_seeds


@dataclass(frozen=True)
class Curve:
    """One run's dev score at each evaluation: steps, minutes since training started, scores."""

    steps: List[int]
    minutes: List[float]
    scores: List[float]


def read_curve(log_path: Union[str, Path],
               key: Union[None, str, Sequence[str]] = None) -> Optional[Curve]:
    """The curve of one training log: the weighted dev "score", or with ``key`` the dev score of
    that name (e.g. "bleu", 0-1; given several names, the first a record has); None if the file
    is missing or has no evaluation."""
    path = Path(log_path)
    if not path.is_file():
        return None
    records = [(r, _score(r, key)) for r in srsly.read_jsonl(path)]
    records = [(r, score) for r, score in records if score is not None]
    if not records:
        return None
    return Curve([int(r["step"]) for r, _ in records], [float(r["seconds"]) / 60 for r, _ in records],
                 [float(score) for _, score in records])


def _score(record: dict, key: Union[None, str, Sequence[str]]) -> Optional[float]:
    if key is None:
        return record.get("score")
    scores = record.get("scores") or {}
    return next((scores[name] for name in ([key] if isinstance(key, str) else key)
                 if name in scores), None)


def mean_curve(curves: Sequence[Curve], axis: str = "minutes",
               n_points: int = 60) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, mean, low, high) over seeds, each of shape (n_points,), on ``axis`` ("minutes" or "steps").

    Each curve is linearly interpolated between its evaluations on a common grid that ends where
    the shortest curve ends, so every point is a mean over all seeds; low/high are the minimum
    and maximum over seeds (the band).
    """
    if axis not in ("minutes", "steps"):
        raise ValueError(f"mean_curve: axis must be 'minutes' or 'steps', got {axis!r}")
    if not curves:
        raise ValueError("mean_curve needs at least one curve")
    end = min(getattr(c, axis)[-1] for c in curves)
    start = max(getattr(c, axis)[0] for c in curves)
    grid = np.linspace(start, end, n_points) if end > start else np.array([end])
    values = np.array([np.interp(grid, getattr(c, axis), c.scores) for c in curves])
    return grid, values.mean(0), values.min(0), values.max(0)


def zoom_floor(curves: Dict[str, Sequence[Curve]], share: float = 0.25) -> float:
    """The lowest mean dev score of any architecture from a ``share`` of the way through its
    training on (minutes axis): a plot's y axis from there shows where the architectures differ
    (near their plateaus, dips included) instead of the first evaluations' climb."""
    floors = []
    for runs in curves.values():
        x, mean, _, _ = mean_curve(runs, "minutes")
        start = x[0] + share * (x[-1] - x[0])
        floors.append(min(float(np.interp(start, x, mean)), float(mean[x >= start].min(initial=np.inf))))
    return min(floors)


def final_scores(curves: Sequence[Curve]) -> SeedScores:
    """The dev score at each run's last evaluation, over seeds."""
    return over_seeds(c.scores[-1] for c in curves)


def best_at_last(curves: Sequence[Curve]) -> int:
    """How many runs had their best dev score at their last evaluation: still improving (or
    level) when training stopped, so a longer budget might have raised their score. A run
    with one evaluation (none after step 0) is not counted: it shows no trend."""
    return sum(1 for c in curves if len(c.scores) > 1 and c.scores[-1] >= max(c.scores))


def minutes_to_reach(curves: Sequence[Curve], target: float) -> Tuple[SeedScores, int]:
    """(minutes to the first evaluation with a dev score >= target over the seeds that reach it,
    number of seeds that reach it)."""
    reached = [next((m for m, s in zip(c.minutes, c.scores) if s >= target), None) for c in curves]
    minutes = [m for m in reached if m is not None]
    return over_seeds(minutes), len(minutes)


def format_time_to_reach(minutes: SeedScores, n_reached: int, n_runs: int) -> str:
    """'3.2 ± 0.4 min', with '(2 of 3 seeds; 1 did not reach it)' if not all did; 'not reached'."""
    if n_reached == 0:
        return "not reached"
    text = f"{minutes.mean:.1f}" + (f" ± {minutes.std:.1f}" if minutes.std is not None else "") + " min"
    if n_reached < n_runs:
        text += f" ({n_reached} of {n_runs} seeds; {n_runs - n_reached} did not reach it)"
    return text
