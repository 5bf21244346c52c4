"""Alignment heatmaps of a translation's attention (``doc._.translation_attention``).

Needs matplotlib, the optional extra ``plots`` (``pip install "spacy-rnn[plots]"``),
imported only when a heatmap is drawn.
"""
from pathlib import Path
from typing import Dict, Optional, Union

import numpy


def plot_alignment(alignment: Dict, path: Union[str, Path], *, title: Optional[str] = None,
                   dpi: int = 100) -> Path:
    """Draw one entry of ``doc._.translation_attention`` as a heatmap PNG: target pieces
    down, source pieces across, darker = more attention. Returns the path written.

    alignment: {"source": [piece, ...], "target": [piece, ...], "weights": array of shape
        (len(target), len(source))}
    """
    weights = _checked_weights(alignment)
    Figure = _figure_class()
    height, width = weights.shape
    figure = Figure(figsize=(max(3.0, 0.4 * width + 1.5), max(2.5, 0.35 * height + 1.5)))
    axes = figure.add_subplot()
    image = axes.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(width), alignment["source"], rotation=90)
    axes.set_yticks(range(height), alignment["target"])
    axes.set_xlabel("source pieces")
    axes.set_ylabel("target pieces")
    if title:
        axes.set_title(title)
    figure.colorbar(image, ax=axes)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, format="png", dpi=dpi)
    return path


def _checked_weights(alignment: Dict) -> numpy.ndarray:
    """The weights as a 2-d array whose shape matches the piece lists."""
    missing = [key for key in ("source", "target", "weights") if key not in alignment]
    if missing:
        raise ValueError(f"plot_alignment: the alignment lacks {missing}: pass one entry of "
                         f"doc._.translation_attention (set return_attention = true).")
    weights = numpy.asarray(alignment["weights"], dtype="float32")
    expected = (len(alignment["target"]), len(alignment["source"]))
    if weights.shape != expected:
        raise ValueError(f"plot_alignment: weights of shape {weights.shape} do not match "
                         f"{expected[0]} target and {expected[1]} source pieces.")
    if not weights.size:
        raise ValueError("plot_alignment: the alignment is empty (an empty source or "
                         "translation): there is nothing to draw.")
    return weights


def _figure_class():
    """matplotlib's Figure (drawn without pyplot, so no GUI backend or global state)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plot_alignment needs matplotlib, which is not installed: "
                          "pip install \"spacy-rnn[plots]\" (or pip install matplotlib).") from None
    return Figure
