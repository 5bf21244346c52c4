"""Summarize the demo metrics: a table in the terminal and in results/summary.md, with paired
bootstrap tests of each cell against lstm and the prose they support, and
results/accuracy_by_distance.png (one line per cell, mean over seeds with min-max band).

python scripts/summarize.py metrics results

The tests read the per-sentence results beside each metrics file (metrics/tagging-lstm.sentences.jsonl:
one line per seed and test sentence, {"seed", "n", "correct"} counting the long-range targets for
tagging, {"seed", "reference", "greedy"} for translation). Without matplotlib the summary is
written without the plot.
"""
import argparse
from pathlib import Path

import srsly
from wasabi import msg

from spacy_rnn.analysis.plots import PLOTS_HINT, optional_pyplot
from spacy_rnn.analysis.report import compare_counts, compare_texts, method_note, significance_prose, \
    significance_table
from spacy_rnn.analysis.sentences import read_sentences

CELLS = ["rnn", "lstm", "gru"]
# task: (title, y label of the plot, scale of the stored scores, chance level on that scale)
TASKS = {"tagging": ("Tagging: accuracy on the long-range verb tags", "accuracy (%)", 100.0, 50.0),
         "translation": ("Translation: BLEU (greedy)", "BLEU", 1.0, None)}
REFERENCE = "lstm"  # every cell is tested against the LSTM


def load(metrics_dir: Path):
    found = {}
    for task in TASKS:
        for cell in CELLS:
            path = metrics_dir / f"{task}-{cell}.json"
            if path.exists():
                found[(task, cell)] = srsly.read_json(path)
            else:
                msg.warn(f"{path} missing: run `spacy project run {task}-{cell}`")
    if not found:
        msg.fail(f"No metrics in {metrics_dir}: run the training steps first", exits=1)
    for task in TASKS:
        check_setting(task, {cell: r for (t, cell), r in found.items() if t == task})
    return found


def check_setting(task, rows):
    """Fail unless every cell of a task ran with the same seeds and steps."""
    settings = {cell: (tuple(r["seeds"]), r["steps"]) for cell, r in rows.items()}
    if len(set(settings.values())) > 1:
        listing = "; ".join(f"{task}-{cell}: seeds {' '.join(map(str, seeds))}, {steps} steps"
                            for cell, (seeds, steps) in settings.items())
        msg.fail(f"The {task} metrics were made with different settings ({listing}): rerun "
                 f"the {task} cells with the same seeds and steps", exits=1)


def fmt(mean, std, scale, n_seeds):
    spread = f"{std * scale:.1f}" if n_seeds > 1 else "n/a"
    return f"{mean * scale:.1f} ± {spread}"


def setting_note(row):
    seeds = row["seeds"]
    spread = ("mean ± standard deviation over seeds" if len(seeds) > 1
              else "one seed, so no standard deviation (n/a)")
    return (f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} ({', '.join(map(str, seeds))}), "
            f"{row['steps']} training steps per run; {spread}.")


def task_table(task, rows):
    title, _, scale, _ = TASKS[task]
    buckets = sorted({b for r in rows.values() for b in r["by_distance_mean"]},
                     key=lambda b: int(b.split("-")[0].rstrip("+")))
    header = ["cell", "overall"] + [f"d {b}" for b in buckets] + \
             ["train s", "train words/s", "parameters"]
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    for cell, r in rows.items():
        n = len(r["seeds"])
        cells = [cell, fmt(r["score_mean"], r["score_std"], scale, n)]
        cells += [fmt(r["by_distance_mean"][b], r["by_distance_std"][b], scale, n)
                  if b in r["by_distance_mean"] else "" for b in buckets]
        speed = r["train_words_per_second_mean"]
        cells += [f"{r['train_seconds_mean']:.1f}", "n/a" if speed is None else f"{speed:.0f}",
                  f"{r['parameters']:,}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", setting_note(next(iter(rows.values()))), ""]
    return lines


def seed_sentences(metrics_dir: Path, task, cell):
    """{seed: per-sentence records} of one cell from its .sentences.jsonl ({} if there is none)."""
    by_seed = {}
    for record in read_sentences(metrics_dir / f"{task}-{cell}.json"):
        by_seed.setdefault(record.get("seed"), []).append(record)
    return by_seed


def test_lines(metrics_dir: Path, task, rows):
    """The tests of each cell against REFERENCE on the overall score, and the prose they support."""
    title = f"Each cell against {REFERENCE} (paired bootstrap over test sentences, overall score):"
    if REFERENCE not in rows:
        return [title, "", f"Not tested: there is no {REFERENCE} run (the reference).", ""]
    systems = {cell: seed_sentences(metrics_dir, task, cell) for cell in rows}
    if task == "tagging":
        outcomes = compare_counts(systems, REFERENCE, "accuracy")
        label, scale, unit = "accuracy", 100.0, "points"
    else:
        outcomes = compare_texts(systems, REFERENCE, "greedy")
        outcomes = {c: o if isinstance(o, str) else o["bleu"] for c, o in outcomes.items()}
        label, scale, unit = "BLEU", 1.0, "BLEU"
    return [title, "", *significance_table(REFERENCE, outcomes, label, scale), "",
            *significance_prose(REFERENCE, outcomes, label, scale, unit), ""]


def plot(found, out_path: Path):
    """The plot of accuracy by distance; None (with a one-line hint) without matplotlib."""
    plt = optional_pyplot()
    if plt is None:
        return None
    tasks = [t for t in TASKS if any(k[0] == t for k in found)]
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        rows = {cell: found[(task, cell)] for cell in CELLS if (task, cell) in found}
        _plot_task(ax, task, rows)
        ax.set_title(f"{TASKS[task][0]}\n{_caption(next(iter(rows.values())))}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    return fig


def _caption(row):
    n, steps = len(row["seeds"]), row["steps"]
    if n == 1:
        return f"1 seed (no band), {steps} training steps per run"
    return f"line: mean of {n} seeds, band: min-max over seeds; {steps} training steps per run"


def _plot_task(ax, task, rows):
    _, ylabel, scale, chance = TASKS[task]
    for cell, result in rows.items():
        _plot_cell(ax, result, cell, scale)
    if chance is not None:
        ax.axhline(chance, ls=":", color="grey", label=f"chance ({chance:g}%)")
    ax.set_xlabel("dependency distance (tokens)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()


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
            lines += task_table(task, rows) + test_lines(Path(metrics_dir), task, rows)
    lines += [method_note(counts=True, texts=True), ""]
    plotted = plot(found, out / "accuracy_by_distance.png") is not None
    lines += (["![accuracy by distance](accuracy_by_distance.png)", ""] if plotted
              else [f"Plot not made: matplotlib is not installed ({PLOTS_HINT}).", ""])
    (out / "summary.md").write_text("\n".join(lines), encoding="utf8")
    print("\n".join(lines))
    msg.good(f"Wrote {out / 'summary.md'}" + (f" and {out / 'accuracy_by_distance.png'}" if plotted else ""))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics_dir", help="the metrics/ folder the training steps write")
    parser.add_argument("out_dir", help="where summary.md and accuracy_by_distance.png go")
    args = parser.parse_args()
    main(args.metrics_dir, args.out_dir)
