"""Plots of the comparison: learning curves (dev score against training minutes and steps).

matplotlib is optional (the package's ``plots`` extra): ``optional_pyplot`` returns None with a
one-line hint when it is missing, and the summaries are written without plots.
"""
from pathlib import Path
from typing import Dict, Sequence

from wasabi import msg

from .curves import Curve, mean_curve, zoom_floor

PLOTS_HINT = 'pip install -e ".[plots]" (in the repository root) and rerun summarize for the plots'


def optional_pyplot():
    """matplotlib.pyplot with the Agg backend, or None (and a one-line hint) if it is missing."""
    try:
        import matplotlib
    except ImportError:
        msg.warn(f"matplotlib is not installed: the summary is written without plots; {PLOTS_HINT}")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(plt, curves: Dict[str, Sequence[Curve]], out_path: Path, title: str,
                         ylabel: str, scale: float = 100.0):
    """Two panels, dev score against training minutes and against steps: per architecture the
    mean over seeds (line) and the min-max over seeds (band), the y axis from :func:`zoom_floor`
    (the first evaluations' climb is cut off, and the title says so). Returns the figure."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    top = max(max(c.scores) for runs in curves.values() for c in runs) * scale
    floor = zoom_floor(curves) * scale
    floor -= 0.05 * (top - floor)
    for i, (name, runs) in enumerate(curves.items()):
        for ax, axis in zip(axes, ("minutes", "steps")):
            x, mean, low, high = mean_curve(runs, axis)
            label = f"{name} (n={len(runs)})"
            ax.plot(x, mean * scale, color=f"C{i}", label=label, marker="." if len(x) == 1 else None)
            if len(runs) > 1:
                ax.fill_between(x, low * scale, high * scale, color=f"C{i}", alpha=0.15)
    xlabels = ("training minutes (wall clock, dev evaluations included)", "training steps")
    for ax, xlabel in zip(axes, xlabels):
        ax.set(xlabel=xlabel, ylabel=ylabel)
        ax.set_ylim(floor, top + 0.05 * (top - floor))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{title}\nline: mean over seeds (n per architecture), band: min-max over seeds; "
                 f"y axis from {floor:.1f} (earlier evaluations lie below it)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    return fig
