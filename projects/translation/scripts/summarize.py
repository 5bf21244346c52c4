"""Summarize the translation comparison: results/summary.md (with paired bootstrap tests of every
architecture against lstm, the prose they support, and time to BLEU) and the plots
results/bleu_by_length.png, results/bleu_vs_speed.png and results/learning_curves_mt.png.

python scripts/summarize.py metrics results [--provenance assets/provenance.json]
    [--test-source test.en.gz --test-target test.de.gz] [--runs best]

Reads the metrics written by scripts/evaluate_translator.py, one run per seed
(metrics/mt-lstm/seed0.json, ...) or, as written before, one run (metrics/lstm.json), the runs of
project.yml first; scores are mean ± standard deviation over the seeds (n in the row). BLEU and
chrF of beam search are tested against lstm (Bahdanau attention) with sacreBLEU's paired bootstrap
on the per-sentence hypotheses beside each metrics file (seed0.sentences.jsonl) and the references
of the test files (--test-source, --test-target: the metrics hold no corpus text); learning curves
and time to BLEU come from the training logs (training/mt-lstm/seed0/log.jsonl). It prints each file it read, and skips with a warning a file that is not such
metrics (one of project.yml's runs unreadable is an error). The setting (test set, training budget,
eval frequency, threads, beam size) comes from the metrics: a value the runs do not share is given
per run with a warning, and one the metrics lack (files written before evaluate_translator.py
recorded it) reads "not recorded". Rows of untrained models (train_steps 0) are flagged. --runs names
the runs the summary is about (default: the comparison grid's five; workflow best passes best):
a missing one is warned about and listed, and one of them unreadable is an error. Without
matplotlib (pip install -e ".[plots]") the summary is written without plots.
"""
import argparse
import copy
from datetime import datetime
from pathlib import Path

import srsly
from wasabi import msg

from spacy_rnn.analysis.curves import read_curve
from spacy_rnn.analysis.layout import discover, log_path
from spacy_rnn.analysis.plots import PLOTS_HINT, optional_pyplot, plot_learning_curves
from spacy_rnn.analysis.report import compare_texts, method_note, significance_prose, significance_table, \
    time_to_accuracy_table, training_count
from spacy_rnn.analysis.seeds import format_seeds, over_seeds
from spacy_rnn.analysis.sentences import read_sentences
from spacy_rnn.readers import read_parallel
from spacy_rnn.scorers import DEV_BLEU_KEYS

BUCKETS = ["1-10", "11-15", "16-20", "21+"]
ORDER = ["rnn", "lstm", "gru", "lstm_luong", "lstm_none"]
CORPORA = {"multi30k": "Multi30k"}
NOT_RECORDED = "not recorded"
REQUIRED = ["n_sentences", "size_bytes", "parameters", "test_source", "test_target", "greedy", "beam"]
SEARCH_REQUIRED = ["beam_size", "bleu", "chrf", "sentences_per_second", "by_length", "bleu_signature",
                   "chrf_signature"]
UNTRAINED = ("no dev evaluation after step 0, so model-best is the untrained model: lower eval_frequency "
             "or raise max_minutes and rerun the training")


REFERENCE = "lstm"  # every architecture is tested against the LSTM with Bahdanau attention
TESTED_SEARCH = "beam"
SEARCHES = ["greedy", "beam", "greedy_int8", "beam_int8"]


class MetricsError(ValueError):
    pass


def pyplot():
    """matplotlib.pyplot (Agg backend), or None with a one-line hint if it is missing."""
    return optional_pyplot()


def read_metrics(path: Path):
    """The metrics of one run, or MetricsError saying what is wrong with the file."""
    try:
        data = srsly.read_json(path)
    except ValueError as err:
        raise MetricsError(f"not valid JSON ({err})")
    if not isinstance(data, dict):
        raise MetricsError("not a JSON object")
    missing = [key for key in REQUIRED if key not in data]
    missing += [f"{search}.{key}" for search in ("greedy", "beam") if isinstance(data.get(search), dict)
                for key in SEARCH_REQUIRED if key not in data[search]]
    if missing:
        raise MetricsError(f"no {', '.join(missing)}: not metrics of scripts/evaluate_translator.py")
    return data


def arch_of(run):
    """mt-lstm (a folder of runs per seed) or lstm (the old one-run file) -> lstm."""
    return run[3:] if run.startswith("mt-") else run


def _run_order(run):
    arch = arch_of(run)
    return (ORDER.index(arch) if arch in ORDER else len(ORDER), arch)


def load(metrics_dir: Path, expected=tuple(ORDER)):
    """{architecture: metrics, averaged over its seeds (see seed_view)}; ``expected``: the
    project's runs that belong in this summary (a missing one is warned about)."""
    found = discover(metrics_dir) if metrics_dir.is_dir() else {}
    runs = {}
    for run in sorted(found, key=lambda run: (_run_order(run), not run.startswith("mt-"))):
        if arch_of(run) in runs:
            msg.warn(f"{metrics_dir / run}.json (one run, the old layout) is ignored: "
                     f"{metrics_dir / ('mt-' + run)}/ has the runs per seed; remove it")
            continue
        records = (read_seed(metrics_dir, run, seed, path, expected) for seed, path in found[run])
        seeds = [record for record in records if record]
        if seeds:
            runs[arch_of(run)] = seed_view(seeds)
    if not runs:
        msg.fail(f"No metrics in {metrics_dir}: run the training and evaluation steps first", exits=1)
    for name in expected:
        if name not in runs:
            msg.warn(f"No metrics of {name} in {metrics_dir} (mt-{name}/seed<N>.json or {name}.json): "
                     f"its row is left out (run evaluate-{name})")
    return runs


def reference_run(metrics_dir: Path, runs):
    """{REFERENCE: its metrics} read from another metrics folder (the comparison grid's), so that
    ``runs`` are tested against it; {} with a warning where that folder has none or ``runs``
    already hold the reference."""
    run = f"mt-{REFERENCE}"
    if REFERENCE in runs:
        msg.warn(f"The metrics folder already has {REFERENCE}: {metrics_dir / run} is not read")
        return {}
    found = discover(metrics_dir).get(run, []) if metrics_dir.is_dir() else []
    seeds = [r for r in (read_seed(metrics_dir, run, seed, path, [REFERENCE]) for seed, path in found) if r]
    for record in seeds:  # named with their folder in the summary's list of metrics files
        record["file"] = f"{metrics_dir.as_posix()}/{record['file']}"
    if not seeds:
        msg.warn(f"No metrics of {REFERENCE} in {metrics_dir / run}: the runs are not tested against it "
                 f"(run the comparison's evaluate-{REFERENCE} first)")
        return {}
    return {REFERENCE: seed_view(seeds)}


def read_seed(metrics_dir, run, seed, path, expected=tuple(ORDER)):
    """{"metrics", "seed", "path", "run", "file"} of one run, None (with a warning) if it is skipped."""
    arch = arch_of(run)
    try:
        metrics = read_metrics(path)
    except MetricsError as err:
        if arch in expected:
            msg.fail(f"Unreadable metrics {path}: {err}",
                     f"Rerun its evaluation: python -m spacy project run evaluate-{arch}", exits=1)
        msg.warn(f"Skipping {path}: {err}")
        return None
    modified = datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    extra = "" if arch in expected else ", not one of this summary's runs"
    msg.text(f"Read {path} (modified {modified}{extra})")
    return {"metrics": metrics, "seed": seed, "path": path, "run": run,
            "file": path.relative_to(metrics_dir).as_posix()}


def seed_view(seeds):
    """The first seed's metrics (settings, sizes, config) with each score, speed and training time
    replaced by its mean over the seeds; "_seeds" keeps every seed's record."""
    view = copy.deepcopy(seeds[0]["metrics"])
    every = [s["metrics"] for s in seeds]
    for search in (s for s in SEARCHES if s in view):
        for key in ("bleu", "chrf", "sentences_per_second", "speedup"):
            if key in view[search]:
                view[search][key] = over_seeds(m[search].get(key) for m in every).mean
        for bucket, values in view[search]["by_length"].items():
            bleus = (m[search]["by_length"].get(bucket, {}).get("bleu") for m in every)
            values["bleu"] = over_seeds(bleus).mean
    for key in ("train_seconds", "train_target_tokens_per_second"):
        view[key] = over_seeds(m.get(key) for m in every).mean
    if any(untrained(m) for m in every):
        view["train_steps"] = 0
    view["_seeds"] = seeds
    return view


def score_cell(r, search, key, bucket=None):
    """BLEU or chrF of a search (of a length bucket): one run as before, several as mean ± standard
    deviation."""
    values = [m[search][key] if bucket is None else m[search]["by_length"].get(bucket, {}).get(key)
              for m in (s["metrics"] for s in r["_seeds"])]
    return num(values[0], ".2f") if len(values) == 1 else format_seeds(over_seeds(values), ".2f")


def run_label(name, r):
    seeds = r["_seeds"]
    return name if seeds[0]["seed"] is None else f"{name} (n={len(seeds)})"


def num(value, fmt):
    return "–" if value is None else format(value, fmt)


def untrained(r):
    return r.get("train_steps") == 0


def test_set(r):
    """'Multi30k en-de, test_2016_flickr' from the paths of the test files in the metrics."""
    source, target = Path(r["test_source"]), Path(r["test_target"])
    (name, source_lang), (target_name, target_lang) = split_name(source), split_name(target)
    if name != target_name or not source_lang:
        return f"{source} / {target}"
    corpus = CORPORA.get(source.parent.name, source.parent.name)
    return f"{corpus} {source_lang}-{target_lang}, {name}".strip()


def split_name(path: Path):
    """('test_2016_flickr', 'en') from test_2016_flickr.en.gz."""
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    stem, _, lang = name.rpartition(".")
    return (stem, lang) if stem else (name, "")


def describe(values):
    """(text, differs): the value every run shares, else each run's; None reads "not recorded"."""
    shown = {name: NOT_RECORDED if value is None else str(value) for name, value in values.items()}
    if len(set(shown.values())) == 1:
        return next(iter(shown.values())), False
    return "; ".join(f"{name}: {text}" for name, text in shown.items()), True


def settings(runs):
    """{setting: (text, differs)} from the metrics of every run."""
    def of(get):
        return describe({name: get(r) for name, r in runs.items()})

    def trained(key, fmt="{}"):
        return of(lambda r: None if (r.get("training_config") or {}).get(key) is None
                  else fmt.format(r["training_config"][key]))

    minutes = trained("max_minutes", "{:g} minutes per run")
    return {"test set": of(lambda r: f"{test_set(r)} ({r['n_sentences']} sentences)"),
            "training budget": minutes,
            "training precision": of(lambda r: (r.get("model_config") or {}).get("train_precision")),
            "vocabulary": of(lambda r: vocabulary(r.get("model_config") or {})),
            "dev evaluation": trained("eval_frequency", "every {} steps"),
            "training threads": trained("torch_threads"), "decoding threads": of(lambda r: r.get("torch_threads")),
            "machine": of(lambda r: r.get("machine")),
            "beam size": of(lambda r: r["beam"]["beam_size"]),
            "bucket sizes": of(lambda r: ", ".join(f"{b}: {r['beam']['by_length'].get(b, {}).get('n')}"
                                                   for b in BUCKETS)),
            "BLEU signature": of(lambda r: r["greedy"]["bleu_signature"]),
            "chrF signature": of(lambda r: r["greedy"]["chrf_signature"])}


def vocabulary(model):
    """"8,000 shared" or "4,000 per side" (SentencePiece pieces); None if not recorded."""
    if model.get("vocab_size") is None:
        return None
    return f"{model['vocab_size']:,} " + ("shared" if model.get("shared_vocab", True) else "per side")


def row(name, r, beam_differs, marks):
    greedy, beam = r["greedy"], r["beam"]
    model = r.get("model_config", {})
    label = f"{run_label(name, r)} ⚠ untrained" if untrained(r) else run_label(name, r)
    beam_note = f" (beam {beam['beam_size']})" if beam_differs else ""
    cells = [label, str(model.get("cell", "?")), str(model.get("attention", "?")),
             score_cell(r, "greedy", "bleu"), score_cell(r, "greedy", "chrf"),
             score_cell(r, "beam", "bleu") + marks.get("bleu", "") + beam_note,
             score_cell(r, "beam", "chrf") + marks.get("chrf", "") + beam_note]
    cells += [score_cell(r, "beam", "bleu", b) for b in BUCKETS]
    cells += [num(r.get("train_seconds"), ".0f"), num(r.get("train_target_tokens_per_second"), ",.0f"),
              num(greedy["sentences_per_second"], ",.1f"), num(beam["sentences_per_second"], ",.1f"),
              f"{r['size_bytes'] / 1e6:.1f}", f"{r['parameters']:,}"]
    return "| " + " | ".join(cells) + " |"


def table(runs, setting, outcomes):
    beam_text, beam_differs = setting["beam size"]
    beam = "beam" if beam_differs else f"beam {beam_text}"
    header = ["architecture", "cell", "attention", "BLEU greedy", "chrF greedy", f"BLEU {beam}",
              f"chrF {beam}"] + [f"BLEU len {b}" for b in BUCKETS]
    header += ["train s", "train target tokens/s", "greedy sent/s", f"{beam} sent/s", "size MB",
               "parameters"]
    test, test_differs = setting["test set"]
    title = "Test sets differ between runs (see Setting)" if test_differs else test
    return [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *[row(name, r, beam_differs, significance_marks(outcomes.get(name))) for name, r in runs.items()],
            "",
            f"BLEU by source length (whitespace words) is for {beam}; sentences per bucket — "
            f"{setting['bucket sizes'][0]}.", "", *seeds_lines(runs)]


def seeds_lines(runs):
    """What the ± means and the marks say, for runs per seed."""
    if all(r["_seeds"][0]["seed"] is None for r in runs.values()):
        return []
    return [f"Scores are mean ± standard deviation over the seeds (n per architecture; one seed: no ±); "
            f"* marks a beam-search score whose difference from {REFERENCE} is significant in the tests below "
            f"(p < 0.05 and a 95% interval that excludes 0).", ""]


def significance_marks(outcome):
    """{"bleu": " *", ...} for the scores whose difference from the reference is significant
    (Comparison.significant: p < 0.05 and a 95% interval that excludes 0)."""
    if not isinstance(outcome, dict):
        return {}
    return {key: " *" for key, comparison in outcome.items() if comparison.significant}


def reference_tests(runs, references):
    """{architecture: {"bleu", "chrf"} Comparisons against REFERENCE, or why untested};
    ``references``: the test references (None: not given)."""
    if REFERENCE not in runs:
        return {}
    others = [name for name in runs if name != REFERENCE]
    if references is None:
        return {name: "no test references: pass --test-source and --test-target" for name in others}
    systems = {name: {s["seed"]: read_sentences(s["path"]) for s in r["_seeds"]} for name, r in runs.items()}
    sizes = sorted({len(records) for system in systems.values() for records in system.values() if records})
    if sizes and sizes != [len(references)]:
        why = f"the test files hold {len(references)} pairs, the per-sentence results {sizes} sentences"
        return {name: why for name in others}
    return compare_texts(systems, REFERENCE, TESTED_SEARCH, references)


def read_references(source, target):
    """The references of the test pairs as evaluate_translator.py read them (None without files)."""
    if not (source and target):
        return None
    for path in (source, target):
        if not Path(path).is_file():
            msg.fail(f"Test file not found: {path}", "Give the test files the metrics were evaluated "
                     "on (--test-source, --test-target), e.g. from the project's data_dir.", exits=1)
    return [target_text for _, _, target_text in read_parallel(source, target)]


def test_lines(runs, outcomes):
    """Per metric: a table of the tests against REFERENCE and the prose generated from it."""
    title = f"## Each architecture against {REFERENCE} ({TESTED_SEARCH} search, sacreBLEU paired bootstrap)"
    if REFERENCE not in runs:
        return [title, "", f"Not tested: there is no {REFERENCE} run (the reference).", ""]
    if all(isinstance(o, str) for o in outcomes.values()):
        return [title, "", *significance_table(REFERENCE, outcomes, "BLEU", 1.0), ""]
    lines = [title, ""]
    for key, label in (("bleu", "BLEU"), ("chrf", "chrF")):
        per_metric = {name: o if isinstance(o, str) else o[key] for name, o in outcomes.items()}
        lines += [f"### {label}", "", *significance_table(REFERENCE, per_metric, label, 1.0), "",
                  *significance_prose(REFERENCE, per_metric, label, 1.0, label), ""]
    return lines


def curves(runs):
    """{architecture: [learning curve of dev BLEU per seed]} from the training logs that exist."""
    found = {}
    for name, r in runs.items():
        logs = [log_path(s["metrics"], s["path"], s["run"], s["seed"]) for s in r["_seeds"]]
        found[name] = [c for c in (dev_bleu_curve(path) for path in logs) if c is not None]
    return {name: c for name, c in found.items() if c}


def dev_bleu_curve(path):
    """The dev BLEU curve of a log, under either translation scorer's key."""
    return read_curve(path, DEV_BLEU_KEYS)


def curve_lines(found):
    title = "## Time to BLEU (dev set, from the training logs)"
    if not found:
        return [title, "", "No training logs found (training/mt-<arch>/seed<N>/log.jsonl).", ""]
    return [title, "", *time_to_accuracy_table(REFERENCE, found, "BLEU", 100.0), "",
            "Minutes are wall clock since training started, dev evaluations included, at the first dev "
            "evaluation that reaches the BLEU (mean ± standard deviation over the seeds that reach it); "
            "dev BLEU is greedy, as the training scorer decodes.", ""]


def int8_table(runs):
    """Float32 vs int8 dynamic quantization (runs evaluated with --int8)."""
    quantized = {name: r for name, r in runs.items() if "beam_int8" in r}
    if not quantized:
        return []
    header = ["architecture", "search", "BLEU float32", "BLEU int8", "BLEU change",
              "sent/s float32", "sent/s int8", "speed-up"]
    lines = ["## Int8 dynamic quantization (rnn_translator quantize = \"int8\")", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, r in quantized.items():
        for search in ("greedy", "beam"):
            base, int8 = r[search], r[f"{search}_int8"]
            label = "greedy" if search == "greedy" else f"beam {base['beam_size']}"
            cells = [name, label, num(base["bleu"], ".2f"), num(int8["bleu"], ".2f"),
                     num(int8["bleu"] - base["bleu"], "+.2f"),
                     num(base["sentences_per_second"], ",.1f"),
                     num(int8["sentences_per_second"], ",.1f"), num(int8["speedup"], ".2f") + "x"]
            lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def notes(runs, setting, provenance_path, expected=tuple(ORDER)):
    text = {key: value for key, (value, _) in setting.items()}
    lines = ["## Setting", "", *warnings(runs, setting), *provenance_notes(provenance_path),
             f"- Test set: {text['test set']}.",
             f"- Machine (CPU, vector extensions, versions; recorded at evaluation): {text['machine']}.",
             "- Training, from each pipeline's config.cfg (training.batcher.max_minutes of the time-limited "
             f"batcher, training.eval_frequency): budget {text['training budget']}; dev evaluation "
             f"{text['dev evaluation']}; torch threads {text['training threads']}; precision "
             f"{text['training precision']}{unrecorded(runs)}; SentencePiece vocabulary {text['vocabulary']}.",
             "- train s is read from the log at the last dev evaluation (steps after it are not counted); "
             "train target tokens/s estimates the target SentencePiece pieces (+1 </s> per sentence) "
             "seen from the source words the log counts.",
             f"- Decoding: nlp.pipe on CPU with torch threads = {text['decoding threads']}, batch 64, "
             "sentences/s include tokenization.",
             f"- {length_penalty_note(runs)}",
             f"- sacreBLEU BLEU signature: `{text['BLEU signature']}`",
             f"- sacreBLEU chrF signature: `{text['chrF signature']}`",
             f"- {method_note(counts=False, texts=True)}",
             compute_line(runs, text["training threads"]), *not_run_line(runs, expected),
             f"- Metrics files: {', '.join(s['file'] for r in runs.values() for s in r['_seeds'])}.", ""]
    return lines


def compute_line(runs, threads):
    """How many trainings the tables rest on and their training time, summed; ``threads``: the
    training threads as the setting states them."""
    trained = [s["metrics"] for r in runs.values() for s in r["_seeds"] if not untrained(s["metrics"])]
    text = f"- {training_count(trained, 'metrics')}"
    if any(isinstance(m.get("train_seconds"), (int, float)) for m in trained):
        text += f" (torch threads {threads}; decoding the test set not included)"
    return text + "."


def not_run_line(runs, expected=tuple(ORDER)):
    """The expected runs without metrics (not in the tables above)."""
    missing = [name for name in expected if name not in runs]
    if not missing:
        return []
    return [f"- Not in the tables (no metrics yet): {', '.join(missing)}; run their train and evaluate "
            "steps, then summarize again."]


def length_penalty_note(runs):
    """Which beam search length penalty each run's test scores used: tuned on dev or the pipeline's."""
    def alpha(m):
        chosen = m.get("length_penalty")
        if chosen is None:
            return "not recorded"
        return f"{chosen['alpha']:g}" + ("" if chosen.get("tuned_on") else " (the pipeline's own)")

    chosen = [s["metrics"].get("length_penalty") or {} for r in runs.values() for s in r["_seeds"]]
    if not any(chosen):
        return ("Beam search length penalty (GNMT alpha): not recorded in the metrics (each "
                "pipeline's own length_penalty; rerun the evaluate steps to record it).")
    tuned_on = sorted({Path(c["tuned_on"]).name for c in chosen if c.get("tuned_on")})  # paths vary by machine
    alphas = sorted({row["alpha"] for c in chosen for row in c.get("rows", [])})
    tried = f" over alphas {alphas[0]:g}-{alphas[-1]:g}" if alphas else ""
    how = (f"chosen on {', '.join(tuned_on)} for each run not marked otherwise (best dev BLEU of "
           f"beam search{tried})" if tuned_on else "not tuned")
    per_run = "; ".join(f"{name}: {', '.join(alpha(s['metrics']) for s in r['_seeds'])}"
                        for name, r in runs.items())
    return f"Beam search length penalty (GNMT alpha), {how}: {per_run}."


def unrecorded(runs):
    if any(r.get("training_config") for r in runs.values()):
        return ""
    return " (the metrics files have no training_config: rerun the evaluate steps to record it)"


def warnings(runs, setting):
    """Lines flagging untrained models and settings the runs do not share (also printed)."""
    lines = [f"- ⚠ The runs differ in {key}: {text}. Compare their rows with care."
             for key, (text, differs) in setting.items() if differs]
    names = [name for name, r in runs.items() if untrained(r)]
    if names:
        lines.append(f"- ⚠ Untrained ({', '.join(names)}): {UNTRAINED}.")
    return lines


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


def plot_title(title, setting):
    """The title and a line with the data and the setting (or that the runs differ in them)."""
    def short(key, fmt):
        text, differs = setting[key]
        if differs or text == NOT_RECORDED:
            return f"{key}: differs between runs" if differs else f"{key} {NOT_RECORDED}"
        return fmt.format(text)

    budget = short("training budget", "budget {}")
    return (f"{title}\n{short('test set', '{}')}\n{budget}, {short('beam size', 'beam {}')}, "
            f"{short('decoding threads', '{} decoding thread(s)')}")


def run_legend(ax, plt, runs, extra):
    """Legend outside the axes: one colour per run, then the search styles in extra."""
    handles = [plt.Line2D([], [], color=f"C{i}", label=f"{name} (untrained)" if untrained(r) else name)
               for i, (name, r) in enumerate(runs.items())]
    ax.legend(handles=handles + extra, loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)


def plot_by_length(plt, runs, setting, out_path: Path):
    fig, ax = plt.subplots(figsize=(8, 4.6))
    for i, r in enumerate(runs.values()):
        dodge = 0.04 * (i - (len(runs) - 1) / 2)  # runs with equal scores stay visible side by side
        for search, style in (("beam", "-"), ("greedy", "--")):
            points = [(j + dodge, r[search]["by_length"][b]["bleu"]) for j, b in enumerate(BUCKETS)
                      if r[search]["by_length"].get(b, {}).get("bleu") is not None]
            ax.plot([j for j, _ in points], [s for _, s in points], style, marker="o", color=f"C{i}")
    first = next(iter(runs.values()))["beam"]["by_length"]
    same_sizes = not setting["bucket sizes"][1]
    ax.set_xticks(range(len(BUCKETS)), [f"{b}\n(n={first.get(b, {}).get('n')})" if same_sizes else b
                                        for b in BUCKETS])
    beam = setting["beam size"]
    search_styles = [plt.Line2D([], [], color="0.3", ls="-", label="beam" if beam[1] else f"beam {beam[0]}"),
                     plt.Line2D([], [], color="0.3", ls="--", label="greedy")]
    run_legend(ax, plt, runs, search_styles)
    ax.set(title=plot_title("BLEU by source length", setting), xlabel="source length (words)",
           ylabel="BLEU")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    fig.savefig(out_path, dpi=110, bbox_inches="tight")
    return fig


def plot_vs_speed(plt, runs, setting, out_path: Path):
    fig, ax = plt.subplots(figsize=(8, 4.6))
    for i, r in enumerate(runs.values()):
        xs = [r["greedy"]["sentences_per_second"], r["beam"]["sentences_per_second"]]
        ys = [r["greedy"]["bleu"], r["beam"]["bleu"]]
        ax.plot(xs, ys, color=f"C{i}", lw=1)
        ax.plot(xs[:1], ys[:1], "o", color=f"C{i}")
        ax.plot(xs[1:], ys[1:], "s", color=f"C{i}")
    beam = setting["beam size"]
    markers = [plt.Line2D([], [], color="0.3", ls="", marker="o", label="greedy"),
               plt.Line2D([], [], color="0.3", ls="", marker="s",
                          label="beam" if beam[1] else f"beam {beam[0]}")]
    run_legend(ax, plt, runs, markers)
    ax.set(title=plot_title("BLEU vs decoding speed", setting), xlabel="sentences/s (CPU)", ylabel="BLEU")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    fig.savefig(out_path, dpi=110, bbox_inches="tight")
    return fig


def summary_lines(runs, setting, provenance, found, plots, references=None, expected=tuple(ORDER)):
    outcomes = reference_tests(runs, references)
    title = "RNN vs LSTM vs GRU, and attention variants"
    if set(expected) != set(ORDER):
        against = REFERENCE in runs and REFERENCE not in expected  # read with --reference-from
        title = ", ".join(expected) + (f" against {REFERENCE}" if against else "")
    lines = [f"# Translation: {title} (spacy-rnn rnn_translator)", ""]
    lines += table(runs, setting, outcomes) + test_lines(runs, outcomes) + curve_lines(found)
    lines += int8_table(runs) + notes(runs, setting, provenance, expected)
    if not plots:
        return lines + [f"Plots not made: matplotlib is not installed ({PLOTS_HINT}).", ""]
    titles = {"bleu_by_length.png": "BLEU by source length", "bleu_vs_speed.png": "BLEU vs decoding speed",
              "learning_curves_mt.png": "dev BLEU against training time and steps"}
    return lines + [line for name in plots for line in (f"![{titles[name]}]({name})", "")]


def write_plots(plt, runs, setting, found, out_dir: Path):
    """The plots (the names of the files written)."""
    plot_by_length(plt, runs, setting, out_dir / "bleu_by_length.png")
    plot_vs_speed(plt, runs, setting, out_dir / "bleu_vs_speed.png")
    if not found:
        return ["bleu_by_length.png", "bleu_vs_speed.png"]
    plot_learning_curves(plt, found, out_dir / "learning_curves_mt.png", "Translation: dev BLEU (greedy)",
                         "dev BLEU")
    return ["bleu_by_length.png", "bleu_vs_speed.png", "learning_curves_mt.png"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--provenance", default="")
    parser.add_argument("--test-source", default="", help="the test sources the metrics were evaluated on")
    parser.add_argument("--test-target", default="", help="their references (for the paired bootstrap)")
    parser.add_argument("--runs", nargs="+", default=ORDER,
                        help="the runs this summary is about (default: the comparison grid's)")
    parser.add_argument("--reference-from", type=Path, default=None,
                        help=f"also read the reference run ({REFERENCE}) from this metrics folder, "
                             f"to test the runs against it")
    args = parser.parse_args()
    plt = pyplot()
    runs = load(args.metrics_dir, args.runs)
    if args.reference_from is not None:
        runs.update(reference_run(args.reference_from, runs))
    setting = settings(runs)
    found = curves(runs)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    plots = write_plots(plt, runs, setting, found, args.out_dir) if plt is not None else []
    references = read_references(args.test_source, args.test_target)
    lines = summary_lines(runs, setting, args.provenance, found, plots, references, args.runs)
    (args.out_dir / "summary.md").write_text("\n".join(lines), encoding="utf8")
    print("\n".join(lines))
    for line in warnings(runs, setting):
        msg.warn(line[4:])
    msg.good(f"Wrote {args.out_dir / 'summary.md'}" + (f" and {', '.join(plots)}" if plots else ""))


if __name__ == "__main__":
    main()
