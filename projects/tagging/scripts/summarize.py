"""Summarize the tagging comparison: results/summary.md (one table per task, each with paired
bootstrap tests against spaCy's CNN and the prose they support, and time to accuracy) and the
plots results/score_by_length.png, results/score_vs_speed.png and results/learning_curves_<task>.png.

python scripts/summarize.py metrics results [--provenance assets/provenance.json] [--max-minutes 10]

Reads the metrics written by scripts/evaluate_tagger.py, one run per seed
(metrics/pos-lstm/seed0.json, ...) or, as written before, one run (metrics/pos-lstm.json), and
lists the files it read; the task of each file (pos or tag -> POS, ner -> NER) picks its table,
the name (pos-lstm) its row. Scores are mean ± standard deviation over the seeds (n in the row).
Each architecture is tested against spacy_cnn with a paired bootstrap over test sentences on the
per-sentence results beside each metrics file (seed0.sentences.jsonl); the learning curves and
time to accuracy come from the training logs (training/pos-lstm/seed0/log.jsonl). The training budget, the dev evaluation interval and the torch threads are taken from the
metrics (evaluate_tagger.py records them from each pipeline's config.cfg); runs whose settings
differ are flagged. --max-minutes (and --threads) only stand in for metrics that did not record
them, and the summary says so. A run whose model-best is the untrained model (train_steps 0) is
flagged in its row. A score that is missing is shown as "–" and not plotted. Without matplotlib
(the package's `plots` extra) the summary is written without plots.
"""
import argparse
import time
from pathlib import Path

import srsly
from wasabi import msg

from spacy_rnn.analysis.curves import read_curve
from spacy_rnn.analysis.layout import discover, log_path
from spacy_rnn.analysis.plots import PLOTS_HINT, optional_pyplot, plot_learning_curves
from spacy_rnn.analysis.report import compare_counts, method_note, significance_prose, significance_table, \
    time_to_accuracy_table, training_count
from spacy_rnn.analysis.seeds import format_seeds, over_seeds
from spacy_rnn.analysis.sentences import read_sentences

TASKS = {"POS": "UPOS accuracy, UD English-EWT test (gold tokens)",
         "NER": "Entity F1, UNER English-EWT test (gold tokens)"}
Y_LABELS = {"POS": "UPOS accuracy (%)", "NER": "entity F1 (%)"}
DEV_TITLES = {"POS": "UPOS accuracy, UD English-EWT dev (gold tokens)",
              "NER": "Entity F1, UNER English-EWT dev (gold tokens)"}
BUCKETS = ["1-10", "11-20", "21-40", "41+"]
NER_TYPES = ["PER", "ORG", "LOC"]
ORDER = ["spacy_cnn", "spacy_bilstm", "rnn", "lstm", "gru", "rnn_crf", "lstm_crf", "gru_crf"]
REQUIRED = ("task", "score", "by_length", "pipe_words_per_second", "size_bytes", "parameters")
UNTRAINED = "⚠ untrained"
NOT_RECORDED = "not recorded in the metrics"
REFERENCE = "spacy_cnn"  # every architecture is tested against spaCy's CNN
METRIC = {"POS": ("accuracy", "UPOS accuracy"), "NER": ("f1", "entity F1")}


class Seed(dict):
    """The metrics of one run (one seed), with where they came from: .run (pos-lstm), .seed
    (None: one run in the old layout) and .path."""


def load(metrics_dir: Path):
    """{task: {architecture: [Seed, ...]}} and the files read."""
    runs, files = {"POS": {}, "NER": {}}, []
    found = discover(metrics_dir) if metrics_dir.is_dir() else {}
    for run in sorted(found, key=lambda name: _order(Path(f"{name}.json"))):
        for seed, path in found[run]:
            result = read_metrics(path, run)
            if result is not None:
                task, name = "NER" if result["task"] == "ner" else "POS", run.split("-", 1)[-1]
                runs[task].setdefault(name, []).append(_seed(result, run, seed, path))
                files.append(path.as_posix())
    if not any(runs.values()):
        msg.fail(f"No metrics in {metrics_dir}: run the training and evaluation steps first", exits=1)
    return runs, files


def _seed(result, run, seed, path):
    record = Seed(result)
    record.run, record.seed, record.path = run, seed, path
    return record


def read_metrics(path: Path, run: str = ""):
    """One metrics file; None (with a warning) for a JSON file that is not one. Exits naming the
    file if it is no valid JSON or lacks fields that evaluate_tagger.py writes."""
    rerun = (f"rerun its evaluation (`python -m spacy project run evaluate-{run or path.stem}`) or "
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


def row_label(name, seeds):
    """The architecture, n (runs per seed) and the untrained flag if any seed is untrained."""
    text = name if seeds[0].seed is None else f"{name} (n={len(seeds)})"
    return f"{text} {UNTRAINED}" if any(untrained(r) for r in seeds) else text


def cell(seeds, get):
    """A score (0-1) in %: one run as before, several as mean ± standard deviation."""
    values = [get(r) for r in seeds]
    return pct(values[0]) if len(values) == 1 else format_seeds(over_seeds(values), ".2f", 100.0)


def mean(seeds, get):
    """The mean over seeds of a number (speed, time), None if no seed has it."""
    return over_seeds(get(r) for r in seeds).mean


def ner_value(r, key, entity_type=None):
    ner = r.get("ner") or {}
    if entity_type is None:
        return ner.get(key)
    return ((ner.get("ents_per_type") or {}).get(entity_type) or {}).get(key)


def row(name, seeds, task, marker=""):
    cells = [row_label(name, seeds), cell(seeds, lambda r: r["score"]) + marker]
    if task == "NER":
        cells += [cell(seeds, lambda r, k=k: ner_value(r, k)) for k in ("ents_p", "ents_r")]
        cells += [cell(seeds, lambda r, t=t: ner_value(r, "f", t)) for t in NER_TYPES]
    cells += [cell(seeds, lambda r, b=b: r["by_length"].get(b, {}).get("score")) for b in BUCKETS]
    cells += [num(mean(seeds, lambda r: r.get("train_seconds")), ".0f"),
              num(mean(seeds, lambda r: r.get("train_words_per_second")), ",.0f"),
              num(mean(seeds, lambda r: r["pipe_words_per_second"]), ",.0f"),
              f"{mean(seeds, lambda r: r['size_bytes']) / 1e6:.1f}", f"{seeds[0]['parameters']:,}"]
    return "| " + " | ".join(cells) + " |"


def table(task, rows, outcomes):
    header = ["architecture", "score"]
    header += ["P", "R"] + [f"F {t}" for t in NER_TYPES] if task == "NER" else []
    header += [f"len {b}" for b in BUCKETS]
    header += ["train s", "train words/s", "inference words/s", "size MB", "parameters"]
    lines = [f"## {task}: {TASKS[task]}", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    lines += [row(name, seeds, task, significance_mark(outcomes.get(name))) for name, seeds in rows.items()]
    first = next(iter(rows.values()))[0]
    counts = ", ".join(f"{b}: {first['by_length'][b]['n']}" for b in BUCKETS if b in first["by_length"])
    lines += ["", f"Test sentences per length bucket (words) — {counts}.", ""]
    lines += seeds_lines(rows)
    return lines + untrained_lines(task, rows)


def significance_mark(outcome):
    return " *" if outcome is not None and not isinstance(outcome, str) and outcome.significant else ""


def seeds_lines(rows):
    """What the ± means and the marks say, for tables of runs per seed."""
    if all(seeds[0].seed is None for seeds in rows.values()):
        return []
    return [f"Scores are mean ± standard deviation over the seeds (n per architecture; one seed: no ±); "
            f"* marks a score whose difference from {REFERENCE} is significant in the test below (p < 0.05 and "
            f"a 95% interval that excludes 0).", ""]


def untrained_lines(task, rows):
    """The warning under a table with untrained runs (also printed)."""
    names = [name + seed_list([r for r in seeds if untrained(r)])
             for name, seeds in rows.items() if any(untrained(r) for r in seeds)]
    if not names:
        return []
    text = (f"{task} {', '.join(names)}: no dev evaluation after step 0 (train_steps 0), so "
            "model-best is the untrained model and the row says nothing about the architecture; "
            "lower eval_frequency or raise max_minutes and rerun its training and evaluation.")
    msg.warn(f"Untrained: {text}")
    return [f"**{UNTRAINED}**: {text}", ""]


def seed_list(seeds):
    """' (seeds 0, 2)' for runs per seed, '' for the old one-run layout."""
    known = [str(r.seed) for r in seeds if r.seed is not None]
    return f" (seed{'s' if len(known) > 1 else ''} {', '.join(known)})" if known else ""


def reference_tests(task, rows):
    """{architecture: Comparison or why untested} against REFERENCE, from the per-sentence results."""
    if REFERENCE not in rows:
        return {}
    systems = {name: {r.seed: read_sentences(r.path) for r in seeds} for name, seeds in rows.items()}
    return compare_counts(systems, REFERENCE, METRIC[task][0])


def test_lines(task, rows, outcomes):
    """The tests against REFERENCE: a table and the prose generated from it."""
    title = f"### {task}: each architecture against {REFERENCE} (paired bootstrap over test sentences)"
    if REFERENCE not in rows:
        return [title, "", f"Not tested: there is no {REFERENCE} run (the reference) for {task}.", ""]
    label = METRIC[task][1]
    return [title, "", *significance_table(REFERENCE, outcomes, label, 100.0), "",
            *significance_prose(REFERENCE, outcomes, label, 100.0, "points"), ""]


def curves(rows):
    """{architecture: [learning curve per seed]} from the training logs that exist."""
    found = {}
    for name, seeds in rows.items():
        runs = [read_curve(log_path(r, r.path, r.run, r.seed)) for r in seeds]
        if any(runs):
            found[name] = [c for c in runs if c is not None]
    return found


def curve_lines(task, task_curves):
    """Time to accuracy: minutes to reach the reference's final dev score."""
    label = "UPOS accuracy" if task == "POS" else "entity F1"
    title = f"### {task}: time to accuracy (dev set, from the training logs)"
    if not task_curves:
        return [title, "", "No training logs found (training/<task>-<arch>/seed<N>/log.jsonl).", ""]
    return [title, "", *time_to_accuracy_table(REFERENCE, task_curves, label, 100.0), "",
            "Minutes are wall clock since training started, dev evaluations included, at the first dev "
            "evaluation that reaches the score (mean ± standard deviation over the seeds that reach it).",
            ""]


def recorded(r, key):
    """A setting of a run as its metrics recorded it (top level or training_settings), or None."""
    return r[key] if key in r else (r.get("training_settings") or {}).get(key)


def describe(key, value, unit):
    if key == "max_minutes" and isinstance(value, (int, float)) and value <= 0:
        return "no time limit (max_minutes 0)"
    return f"{value:g}{unit}" if isinstance(value, (int, float)) else f"{value}{unit}"


def setting_groups(runs, task, key, unit, fallback=""):
    """{the setting's value, described: [the task's runs]}; fallback stands in where it was not
    recorded. Per task: the runs of one table must agree; the two tasks may differ."""
    groups = {}
    for name, r in ((name, r) for name, seeds in runs[task].items() for r in seeds):
        value = recorded(r, key)
        if value is not None:
            text = describe(key, value, unit)
        elif fallback:
            text = f"{fallback}{unit} as given to summarize ({NOT_RECORDED}, so not checked)"
        else:
            text = NOT_RECORDED
        names = groups.setdefault(text, [])
        if name not in names:
            names.append(name)
    return groups


def setting_line(what, groups):
    """One note on a setting; a warning (also printed) if the runs' values differ or are unknown."""
    if len(groups) == 1:
        text = next(iter(groups))
        return f"- {what}: {text}" + ("." if NOT_RECORDED in text else ", as every run's metrics record.")
    parts = "; ".join(f"{value}: {', '.join(names)}" for value, names in groups.items())
    msg.warn(f"{what} differs between the runs (or is not recorded for all): {parts}")
    return f"- **⚠ {what} differs between the runs, so they are not comparable**: {parts}."


def task_settings(runs, task, max_minutes, threads):
    """The setting lines of one task's runs, and what their training took."""
    return [setting_line(f"{task}: training budget (wall clock, time-limited batcher)",
                         setting_groups(runs, task, "max_minutes", " minutes", max_minutes)),
            setting_line(f"{task}: dev evaluation interval",
                         setting_groups(runs, task, "eval_frequency", " steps")),
            setting_line(f"{task}: torch threads in evaluation (CPU)",
                         setting_groups(runs, task, "torch_threads", "", threads)),
            setting_line(f"{task}: machine (CPU, vector extensions, versions; recorded at evaluation)",
                         setting_groups(runs, task, "machine", "")),
            compute_line(runs, task)]


def compute_line(runs, task):
    """How many trainings the task's table rests on and their training time, summed."""
    trained = [r for seeds in runs[task].values() for r in seeds if not untrained(r)]
    text = f"- {task}: {training_count(trained, 'logs')}"
    if any(isinstance(r.get("train_seconds"), (int, float)) for r in trained):
        text += " (evaluation on the test set not included)"
    return text + "."


def notes(runs, files, provenance_path, max_minutes, threads):
    lines = ["## Setting", "",
             *[line for task in TASKS if runs[task]
               for line in task_settings(runs, task, max_minutes, threads)],
             "- train s and train words/s are read from the log at the last dev evaluation (steps "
             "after it are not counted).",
             "- Scores are for the evaluated checkpoint (model-best unless --vars.checkpoint says "
             "otherwise).",
             "- spaCy baselines train `tagger` on UPOS copied into token.tag; rnn_tagger predicts token.pos.",
             f"- {method_note()}",
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
    """matplotlib.pyplot (Agg), or None with a one-line hint if it is missing."""
    return optional_pyplot()


def mean_view(seeds):
    """One metrics dict of the mean over seeds (score, by_length, speed), for the plots."""
    first = seeds[0]
    by_length = {b: {"n": v.get("n"),
                     "score": mean(seeds, lambda r, b=b: r["by_length"].get(b, {}).get("score"))}
                 for b, v in first["by_length"].items()}
    return {"score": mean(seeds, lambda r: r["score"]), "by_length": by_length,
            "pipe_words_per_second": mean(seeds, lambda r: r["pipe_words_per_second"]),
            "train_steps": 0 if any(untrained(r) for r in seeds) else first.get("train_steps")}


def write_plots(plt, runs, task_curves, out_dir: Path):
    """The plots (the names of the files written)."""
    views = {task: {name: mean_view(seeds) for name, seeds in runs[task].items()} for task in TASKS}
    plot_by_length(plt, views, out_dir / "score_by_length.png")
    plot_vs_speed(plt, views, out_dir / "score_vs_speed.png")
    written = ["score_by_length.png", "score_vs_speed.png"]
    for task, found in task_curves.items():
        if found:
            name = f"learning_curves_{task.lower()}.png"
            plot_learning_curves(plt, found, out_dir / name, f"{task}: {DEV_TITLES[task]}",
                                 f"dev {Y_LABELS[task]}")
            written.append(name)
    return written


def summary_lines(runs, files, args, task_curves, plots):
    lines = ["# POS tagging and NER: spaCy CNN/BiLSTM baselines vs spacy-rnn RNN/LSTM/GRU", ""]
    for task in TASKS:
        if runs[task]:
            outcomes = reference_tests(task, runs[task])
            lines += table(task, runs[task], outcomes) + test_lines(task, runs[task], outcomes)
            lines += curve_lines(task, task_curves[task])
    lines += notes(runs, files, args.provenance, args.max_minutes, args.threads)
    if not plots:
        return lines + [f"Plots not made: matplotlib is not installed ({PLOTS_HINT}).", ""]
    titles = {"score_by_length.png": "score by sentence length",
              "score_vs_speed.png": "score vs inference speed"}
    return lines + [line for name in plots
                    for line in (f"![{titles.get(name, name[:-4].replace('_', ' '))}]({name})", "")]


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
    task_curves = {task: curves(runs[task]) for task in TASKS}
    plots = write_plots(plt, runs, task_curves, args.out_dir) if plt is not None else []
    lines = summary_lines(runs, files, args, task_curves, plots)
    (args.out_dir / "summary.md").write_text("\n".join(lines), encoding="utf8")
    print("\n".join(lines))
    msg.good(f"Wrote {args.out_dir / 'summary.md'}" + (f" and {', '.join(plots)}" if plots else ""))


if __name__ == "__main__":
    main()
