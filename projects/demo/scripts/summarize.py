"""Summarize the demo metrics: a table in the terminal and in results/summary.md, and
results/accuracy_by_distance.png (one line per cell, mean over seeds with min-max band).

python scripts/summarize.py metrics results
"""
import sys
from pathlib import Path

import srsly
from wasabi import msg

CELLS = ["rnn", "lstm", "gru"]
TASKS = {"tagging": ("Tagging: accuracy on the long-range verb tags", "accuracy", 100.0),
         "translation": ("Translation: BLEU (greedy)", "BLEU", 1.0)}


def load(metrics_dir: Path):
    found = {}
    for task in TASKS:
        for cell in CELLS:
            path = metrics_dir / f"{task}-{cell}.json"
            if path.exists():
                found[(task, cell)] = srsly.read_json(path)
    if not found:
        msg.fail(f"No metrics in {metrics_dir}: run the training steps first", exits=1)
    return found


def fmt(mean, std, scale):
    return f"{mean * scale:.1f} ± {std * scale:.1f}"


def task_table(task, rows):
    title, _, scale = TASKS[task]
    buckets = sorted({b for r in rows.values() for b in r["by_distance_mean"]},
                     key=lambda b: int(b.split("-")[0].rstrip("+")))
    header = ["cell", "overall"] + [f"d {b}" for b in buckets] + \
             ["train s", "train words/s", "parameters"]
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    for cell, r in rows.items():
        cells = [cell, fmt(r["score_mean"], r["score_std"], scale)]
        cells += [fmt(r["by_distance_mean"][b], r["by_distance_std"][b], scale)
                  if b in r["by_distance_mean"] else "" for b in buckets]
        cells += [f"{r['train_seconds_mean']:.1f}", f"{r['train_words_per_second_mean']:.0f}",
                  f"{r['parameters']:,}"]
        lines.append("| " + " | ".join(cells) + " |")
    first = next(iter(rows.values()))
    lines += ["", f"{len(first['seeds'])} seeds ({', '.join(map(str, first['seeds']))}), "
                  f"{first['steps']} training steps per run; mean ± standard deviation over seeds.", ""]
    return lines


def plot(found, out_path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [t for t in TASKS if any(k[0] == t for k in found)]
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        title, ylabel, scale = TASKS[task]
        for cell in CELLS:
            if (task, cell) in found:
                _plot_cell(ax, found[(task, cell)], cell, scale)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("dependency distance (tokens)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)


def _plot_cell(ax, result, cell, scale):
    buckets = list(result["by_distance_mean"])
    runs = [r["by_distance"] for r in result["runs"]]
    means = [result["by_distance_mean"][b] * scale for b in buckets]
    lows = [min(r[b] for r in runs if b in r) * scale for b in buckets]
    highs = [max(r[b] for r in runs if b in r) * scale for b in buckets]
    ax.plot(buckets, means, marker="o", label=cell)
    ax.fill_between(buckets, lows, highs, alpha=0.15)


def main(metrics_dir: str, out_dir: str) -> None:
    found = load(Path(metrics_dir))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Demo results: RNN vs LSTM vs GRU as dependencies get longer", ""]
    for task in TASKS:
        rows = {cell: found[(task, cell)] for cell in CELLS if (task, cell) in found}
        if rows:
            lines += task_table(task, rows)
    lines += ["![accuracy by distance](accuracy_by_distance.png)", ""]
    (out / "summary.md").write_text("\n".join(lines), encoding="utf8")
    plot(found, out / "accuracy_by_distance.png")
    print("\n".join(lines))
    msg.good(f"Wrote {out / 'summary.md'} and {out / 'accuracy_by_distance.png'}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
