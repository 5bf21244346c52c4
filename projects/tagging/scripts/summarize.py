"""Summarize the tagging comparison: results/summary.md (one table per task) and two plots,
results/score_by_length.png and results/score_vs_speed.png.

python scripts/summarize.py metrics results [--provenance assets/provenance.json] [--max-minutes 10]

Reads every metrics/*.json written by scripts/evaluate_tagger.py; the task of each file (pos or
tag -> POS, ner -> NER) picks its table, the file name (pos-lstm.json) its row.
"""
import argparse
from pathlib import Path

import srsly
from wasabi import msg

TASKS = {"POS": "UPOS accuracy, UD English-EWT test (gold tokens)",
         "NER": "Entity F1, UNER English-EWT test (gold tokens)"}
BUCKETS = ["1-10", "11-20", "21-40", "41+"]
NER_TYPES = ["PER", "ORG", "LOC"]
ORDER = ["spacy_cnn", "spacy_bilstm", "rnn", "lstm", "gru", "rnn_crf", "lstm_crf", "gru_crf"]


def load(metrics_dir: Path):
    runs = {"POS": {}, "NER": {}}
    for path in sorted(metrics_dir.glob("*.json"), key=_order):
        result = srsly.read_json(path)
        task = "NER" if result["task"] == "ner" else "POS"
        runs[task][path.stem.split("-", 1)[-1]] = result
    if not any(runs.values()):
        msg.fail(f"No metrics in {metrics_dir}: run the training and evaluation steps first", exits=1)
    return runs


def _order(path: Path):
    name = path.stem.split("-", 1)[-1]
    return (ORDER.index(name) if name in ORDER else len(ORDER), path.stem)


def pct(value):
    return "–" if value is None else f"{100 * value:.2f}"


def num(value, fmt):
    return "–" if value is None else format(value, fmt)


def row(name, r, task):
    cells = [name, pct(r["score"])]
    if task == "NER":
        per_type = r["ner"].get("ents_per_type", {})
        cells += [pct(r["ner"]["ents_p"]), pct(r["ner"]["ents_r"])]
        cells += [pct(per_type[t]["f"]) if t in per_type else "–" for t in NER_TYPES]
    cells += [pct(r["by_length"].get(b, {}).get("score")) for b in BUCKETS]
    cells += [num(r.get("train_seconds"), ".0f"), num(r.get("train_words_per_second"), ",.0f"),
              num(r["pipe_words_per_second"], ",.0f"), f"{r['size_bytes'] / 1e6:.1f}",
              f"{r['parameters']:,}"]
    return "| " + " | ".join(cells) + " |"


def table(task, rows):
    header = ["architecture", "score"]
    header += ["P", "R"] + [f"F {t}" for t in NER_TYPES] if task == "NER" else []
    header += [f"len {b}" for b in BUCKETS]
    header += ["train s", "train words/s", "inference words/s", "size MB", "parameters"]
    lines = [f"## {task}: {TASKS[task]}", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    lines += [row(name, r, task) for name, r in rows.items()]
    first = next(iter(rows.values()))
    counts = ", ".join(f"{b}: {first['by_length'][b]['n']}" for b in BUCKETS if b in first["by_length"])
    lines += ["", f"Test sentences per length bucket (words) — {counts}.", ""]
    return lines


def notes(provenance_path, max_minutes, threads):
    lines = ["## Setting", "",
             f"- Each training ran for a wall-clock budget of {max_minutes} minutes (time-limited batcher), "
             f"evaluated with torch threads = {threads} on CPU; train s and train words/s are read "
             "from the log at the last dev evaluation (steps after it are not counted).",
             "- Scores are for the evaluated checkpoint (model-best unless --vars.checkpoint says "
             "otherwise).",
             "- spaCy baselines train `tagger` on UPOS copied into token.tag; rnn_tagger predicts token.pos."]
    lines += provenance_notes(provenance_path)
    return lines + [""]


def provenance_notes(path):
    """Notes on assets that are not verified copies of the published files (assets/provenance.json)."""
    provenance = srsly.read_json(path) if path and Path(path).is_file() else {}
    lines = []
    for dest, info in provenance.items():
        if info.get("fallback"):
            lines.append(f"- {dest} was copied from {info['source']}, a fallback that is NOT the file "
                         f"of {info.get('url')} (for UNER: the project's draft of the train file; "
                         "NER is scored on the released dev/test files).")
        elif info.get("expected_from") == "checksum override file":
            lines.append(f"- {dest} was checked against a checksum override file instead of the "
                         f"published md5, so it may not be the published file (md5 {info.get('md5')}).")
        elif not info.get("verified"):
            lines.append(f"- {dest}: no checksum was declared, so it was not verified "
                         f"(md5 {info.get('md5')}).")
    return lines


def plot_by_length(runs, out_path: Path):
    plt = _pyplot()
    tasks = [t for t in TASKS if runs[t]]
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for name, r in runs[task].items():
            points = [(b, 100 * r["by_length"][b]["score"]) for b in BUCKETS
                      if r["by_length"].get(b, {}).get("score") is not None]
            ax.plot([b for b, _ in points], [s for _, s in points], marker="o", label=name)
        ax.set(title=TASKS[task], xlabel="sentence length (words)", ylabel="score")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)


def plot_vs_speed(runs, out_path: Path):
    plt = _pyplot()
    tasks = [t for t in TASKS if runs[t]]
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for name, r in runs[task].items():
            x, y = r["pipe_words_per_second"], 100 * (r["score"] or 0.0)
            ax.scatter([x], [y])
            ax.annotate(name, (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
        ax.set(title=TASKS[task], xlabel="inference words/s (nlp.pipe, CPU)", ylabel="score")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--provenance", default="")
    parser.add_argument("--max-minutes", default="?")
    parser.add_argument("--threads", default="?")
    args = parser.parse_args()
    runs = load(args.metrics_dir)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# POS tagging and NER: spaCy CNN/BiLSTM baselines vs spacy-rnn RNN/LSTM/GRU", ""]
    for task in TASKS:
        lines += table(task, runs[task]) if runs[task] else []
    lines += notes(args.provenance, args.max_minutes, args.threads)
    lines += ["![score by sentence length](score_by_length.png)", "",
              "![score vs inference speed](score_vs_speed.png)", ""]
    (args.out_dir / "summary.md").write_text("\n".join(lines), encoding="utf8")
    plot_by_length(runs, args.out_dir / "score_by_length.png")
    plot_vs_speed(runs, args.out_dir / "score_vs_speed.png")
    print("\n".join(lines))
    msg.good(f"Wrote {args.out_dir / 'summary.md'} and two plots")


if __name__ == "__main__":
    main()
