"""Summarize the tagging comparison: results/summary.md (one table per task) and two plots,
results/score_by_length.png and results/score_vs_speed.png.

python scripts/summarize.py metrics results [--provenance assets/provenance.json] [--max-minutes 10]

Reads every metrics/*.json written by scripts/evaluate_tagger.py, and lists the files it read; the
task of each file (pos or tag -> POS, ner -> NER) picks its table, the file name (pos-lstm.json)
its row. The training budget, the dev evaluation interval and the torch threads are taken from the
metrics (evaluate_tagger.py records them from each pipeline's config.cfg); runs whose settings
differ are flagged. --max-minutes (and --threads) only stand in for metrics that did not record
them, and the summary says so. A run whose model-best is the untrained model (train_steps 0) is
flagged in its row. A score that is missing is shown as "–" and not plotted. matplotlib (the
package's `plots` extra) is needed; it is checked before anything is written.
"""
import argparse
import time
from pathlib import Path

import srsly
from wasabi import msg

TASKS = {"POS": "UPOS accuracy, UD English-EWT test (gold tokens)",
         "NER": "Entity F1, UNER English-EWT test (gold tokens)"}
Y_LABELS = {"POS": "UPOS accuracy (%)", "NER": "entity F1 (%)"}
BUCKETS = ["1-10", "11-20", "21-40", "41+"]
NER_TYPES = ["PER", "ORG", "LOC"]
ORDER = ["spacy_cnn", "spacy_bilstm", "rnn", "lstm", "gru", "rnn_crf", "lstm_crf", "gru_crf"]
REQUIRED = ("task", "score", "by_length", "pipe_words_per_second", "size_bytes", "parameters")
UNTRAINED = "⚠ untrained"
NOT_RECORDED = "not recorded in the metrics"


def load(metrics_dir: Path):
    """{task: {run name: metrics}} and the files read."""
    runs, files = {"POS": {}, "NER": {}}, []
    for path in sorted(metrics_dir.glob("*.json"), key=_order):
        result = read_metrics(path)
        if result is not None:
            task, name = "NER" if result["task"] == "ner" else "POS", path.stem.split("-", 1)[-1]
            if name in runs[task]:
                msg.warn(f"{path} is a second {task} run named {name}: it replaces the first")
            runs[task][name] = result
            files.append(path.as_posix())
    if not any(runs.values()):
        msg.fail(f"No metrics in {metrics_dir}: run the training and evaluation steps first", exits=1)
    return runs, files


def read_metrics(path: Path):
    """One metrics file; None (with a warning) for a JSON file that is not one. Exits naming the
    file if it is no valid JSON or lacks fields that evaluate_tagger.py writes."""
    rerun = (f"rerun its evaluation (`python -m spacy project run evaluate-{path.stem}`) or "
             f"remove it from {path.parent}")
    try:
        result = srsly.read_json(path)
    except ValueError as err:
        msg.fail(f"Cannot read {path}: not valid JSON ({err}; truncated?)", rerun, exits=1)
    if not isinstance(result, dict) or "task" not in result:
        msg.warn(f"Skipping {path}: not a metrics file of scripts/evaluate_tagger.py (no \"task\")")
        return None
    missing = [key for key in REQUIRED if key not in result]
    if missing or result["task"] not in ("pos", "tag", "ner"):
        problem = f"missing {', '.join(missing)}" if missing else f"unknown task {result['task']!r}"
        msg.fail(f"Unexpected metrics in {path}: {problem}", rerun, exits=1)
    modified = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
    msg.info(f"Read {path} (modified {modified})")
    return result


def _order(path: Path):
    name = path.stem.split("-", 1)[-1]
    return (ORDER.index(name) if name in ORDER else len(ORDER), path.stem)


def pct(value):
    return "–" if value is None else f"{100 * value:.2f}"


def num(value, fmt):
    return "–" if value is None else format(value, fmt)


def untrained(r):
    return r.get("train_steps") == 0


def label(name, r):
    return f"{name} {UNTRAINED}" if untrained(r) else name


def row(name, r, task):
    cells = [label(name, r), pct(r["score"])]
    if task == "NER":
        ner = r.get("ner") or {}
        per_type = ner.get("ents_per_type") or {}
        cells += [pct(ner.get("ents_p")), pct(ner.get("ents_r"))]
        cells += [pct((per_type.get(t) or {}).get("f")) for t in NER_TYPES]
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
    return lines + untrained_lines(task, rows)


def untrained_lines(task, rows):
    """The warning under a table with untrained runs (also printed)."""
    names = [name for name, r in rows.items() if untrained(r)]
    if not names:
        return []
    text = (f"{task} {', '.join(names)}: no dev evaluation after step 0 (train_steps 0), so "
            "model-best is the untrained model and the row says nothing about the architecture; "
            "lower eval_frequency or raise max_minutes and rerun its training and evaluation.")
    msg.warn(f"Untrained: {text}")
    return [f"**{UNTRAINED}**: {text}", ""]


def recorded(r, key):
    """A setting of a run as its metrics recorded it (top level or training_settings), or None."""
    return r[key] if key in r else (r.get("training_settings") or {}).get(key)


def describe(key, value, unit):
    if key == "max_minutes" and isinstance(value, (int, float)) and value <= 0:
        return "no time limit (max_minutes 0)"
    return f"{value:g}{unit}" if isinstance(value, (int, float)) else f"{value}{unit}"


def setting_groups(runs, key, unit, fallback=""):
    """{the setting's value, described: [runs]}; fallback stands in where it was not recorded."""
    groups = {}
    for task in TASKS:
        for name, r in runs[task].items():
            value = recorded(r, key)
            if value is not None:
                text = describe(key, value, unit)
            elif fallback:
                text = f"{fallback}{unit} as given to summarize ({NOT_RECORDED}, so not checked)"
            else:
                text = NOT_RECORDED
            groups.setdefault(text, []).append(f"{task} {name}")
    return groups


def setting_line(what, groups):
    """One note on a setting; a warning (also printed) if the runs' values differ or are unknown."""
    if len(groups) == 1:
        text = next(iter(groups))
        return f"- {what}: {text}" + ("." if NOT_RECORDED in text else ", as every run's metrics record.")
    parts = "; ".join(f"{value}: {', '.join(names)}" for value, names in groups.items())
    msg.warn(f"{what} differs between the runs (or is not recorded for all): {parts}")
    return f"- **⚠ {what} differs between the runs, so they are not comparable**: {parts}."


def notes(runs, files, provenance_path, max_minutes, threads):
    lines = ["## Setting", "",
             setting_line("Training budget (wall clock, time-limited batcher)",
                          setting_groups(runs, "max_minutes", " minutes", max_minutes)),
             setting_line("Dev evaluation interval",
                          setting_groups(runs, "eval_frequency", " steps")),
             setting_line("Torch threads in evaluation (CPU)",
                          setting_groups(runs, "torch_threads", "", threads)),
             "- train s and train words/s are read from the log at the last dev evaluation (steps "
             "after it are not counted).",
             "- Scores are for the evaluated checkpoint (model-best unless --vars.checkpoint says "
             "otherwise).",
             "- spaCy baselines train `tagger` on UPOS copied into token.tag; rnn_tagger predicts token.pos.",
             f"- Metrics read ({len(files)} files): {', '.join(files)}."]
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


def colours(runs, plt):
    """The same colour for the same run name in every panel and plot."""
    names = sorted({n for task in TASKS for n in runs[task]}, key=lambda n: _order(Path(f"x-{n}")))
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {name: cycle[i % len(cycle)] for i, name in enumerate(names)}


def bucket_labels(task_runs):
    """Tick labels with the number of test sentences per bucket, e.g. '41+\\n(n=54)'."""
    labels = []
    for b in BUCKETS:
        sizes = sorted({r["by_length"].get(b, {}).get("n") for r in task_runs.values()} - {None})
        labels.append(f"{b}\n(n={'/'.join(map(str, sizes))})" if sizes else b)
    return labels


def plot_by_length(plt, runs, out_path: Path):
    tasks = [t for t in TASKS if runs[t]]
    colour = colours(runs, plt)
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for name, r in runs[task].items():
            points = [(i, 100 * r["by_length"][b]["score"]) for i, b in enumerate(BUCKETS)
                      if r["by_length"].get(b, {}).get("score") is not None]
            ax.plot([i for i, _ in points], [s for _, s in points], marker="o",
                    label=label(name, r), color=colour[name])
        ax.set_xticks(range(len(BUCKETS)), bucket_labels(runs[task]))
        ax.set(title=TASKS[task], xlabel="sentence length (words)", ylabel=Y_LABELS[task])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)


def plot_vs_speed(plt, runs, out_path: Path):
    tasks = [t for t in TASKS if runs[t]]
    colour = colours(runs, plt)
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for name, r in runs[task].items():
            if r["score"] is None:  # shown as "–" in the table; never plotted as 0
                continue
            x, y = r["pipe_words_per_second"], 100 * r["score"]
            ax.scatter([x], [y], color=colour[name])
            ax.annotate(label(name, r), (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
        ax.set(title=TASKS[task], xlabel="inference words/s (nlp.pipe, CPU)", ylabel=Y_LABELS[task])
        ax.margins(x=0.12)  # room for the labels of the outermost points
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)


def pyplot():
    """matplotlib.pyplot (Agg), checked before anything is written; exits if it is missing."""
    try:
        import matplotlib
    except ImportError as err:
        msg.fail(f"matplotlib is needed for the plots ({err})",
                 "install the package's plots extra: pip install -e \".[plots]\" (in the "
                 "repository root), then rerun summarize", exits=1)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--provenance", default="")
    parser.add_argument("--max-minutes", default="",
                        help="training budget of runs whose metrics did not record it")
    parser.add_argument("--threads", default="", help="torch threads of runs whose metrics did not record them")
    args = parser.parse_args()
    plt = pyplot()
    runs, files = load(args.metrics_dir)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# POS tagging and NER: spaCy CNN/BiLSTM baselines vs spacy-rnn RNN/LSTM/GRU", ""]
    for task in TASKS:
        lines += table(task, runs[task]) if runs[task] else []
    lines += notes(runs, files, args.provenance, args.max_minutes, args.threads)
    lines += ["![score by sentence length](score_by_length.png)", "",
              "![score vs inference speed](score_vs_speed.png)", ""]
    (args.out_dir / "summary.md").write_text("\n".join(lines), encoding="utf8")
    plot_by_length(plt, runs, args.out_dir / "score_by_length.png")
    plot_vs_speed(plt, runs, args.out_dir / "score_vs_speed.png")
    print("\n".join(lines))
    msg.good(f"Wrote {args.out_dir / 'summary.md'} and two plots")


if __name__ == "__main__":
    main()
