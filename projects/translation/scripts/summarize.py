"""Summarize the translation comparison: results/summary.md and two plots,
results/bleu_by_length.png and results/bleu_vs_speed.png.

python scripts/summarize.py metrics results [--provenance assets/provenance.json]

Reads every metrics/*.json written by scripts/evaluate_translator.py (one per run, the runs of
project.yml first), prints each file it read, and skips with a warning a file that is not such
metrics (one of project.yml's runs unreadable is an error). The setting (test set, training budget,
eval frequency, threads, beam size) comes from the metrics: a value the runs do not share is given
per run with a warning, and one the metrics lack (files written before evaluate_translator.py
recorded it) reads "not recorded". Rows of untrained models (train_steps 0) are flagged. Needs
matplotlib: pip install -e ".[plots]".
"""
import argparse
from datetime import datetime
from pathlib import Path

import srsly
from wasabi import msg

BUCKETS = ["1-10", "11-15", "16-20", "21+"]
ORDER = ["rnn", "lstm", "gru", "lstm_luong", "lstm_none"]
CORPORA = {"multi30k": "Multi30k"}
NOT_RECORDED = "not recorded"
REQUIRED = ["n_sentences", "size_bytes", "parameters", "test_source", "test_target", "greedy", "beam"]
SEARCH_REQUIRED = ["beam_size", "bleu", "chrf", "sentences_per_second", "by_length", "bleu_signature",
                   "chrf_signature"]
UNTRAINED = ("no dev evaluation after step 0, so model-best is the untrained model: lower eval_frequency "
             "or raise max_minutes and rerun the training")


class MetricsError(ValueError):
    pass


def pyplot():
    """matplotlib.pyplot (Agg backend), or ✘ with the install command before anything is written."""
    try:
        import matplotlib
    except ImportError:
        msg.fail("summarize needs matplotlib for the plots",
                 'Install the plots extra in the repository root: pip install -e ".[plots]"', exits=1)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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


def load(metrics_dir: Path):
    paths = sorted(metrics_dir.glob("*.json"),
                   key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else len(ORDER), p.stem))
    runs = {}
    for path in paths:
        try:
            runs[path.stem] = read_metrics(path)
        except MetricsError as err:
            if path.stem in ORDER:
                msg.fail(f"Unreadable metrics {path}: {err}",
                         f"Rerun its evaluation: python -m spacy project run evaluate-{path.stem}", exits=1)
            msg.warn(f"Skipping {path}: {err}")
            continue
        modified = datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        extra = "" if path.stem in ORDER else ", not one of project.yml's runs"
        msg.text(f"Read {path} (modified {modified}{extra})")
    if not runs:
        msg.fail(f"No metrics in {metrics_dir}: run the training and evaluation steps first", exits=1)
    for name in ORDER:
        if name not in runs:
            msg.warn(f"No {metrics_dir / name}.json: its row is left out (run evaluate-{name})")
    return runs


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
            "dev evaluation": trained("eval_frequency", "every {} steps"),
            "training threads": trained("torch_threads"), "decoding threads": of(lambda r: r.get("torch_threads")),
            "beam size": of(lambda r: r["beam"]["beam_size"]),
            "bucket sizes": of(lambda r: ", ".join(f"{b}: {r['beam']['by_length'].get(b, {}).get('n')}"
                                                   for b in BUCKETS)),
            "BLEU signature": of(lambda r: r["greedy"]["bleu_signature"]),
            "chrF signature": of(lambda r: r["greedy"]["chrf_signature"])}


def row(name, r, beam_differs):
    greedy, beam = r["greedy"], r["beam"]
    model = r.get("model_config", {})
    label = f"{name} ⚠ untrained" if untrained(r) else name
    beam_note = f" (beam {beam['beam_size']})" if beam_differs else ""
    cells = [label, str(model.get("cell", "?")), str(model.get("attention", "?")),
             num(greedy["bleu"], ".2f"), num(greedy["chrf"], ".2f"),
             num(beam["bleu"], ".2f") + beam_note, num(beam["chrf"], ".2f") + beam_note]
    cells += [num(beam["by_length"].get(b, {}).get("bleu"), ".2f") for b in BUCKETS]
    cells += [num(r.get("train_seconds"), ".0f"), num(r.get("train_target_tokens_per_second"), ",.0f"),
              num(greedy["sentences_per_second"], ",.1f"), num(beam["sentences_per_second"], ",.1f"),
              f"{r['size_bytes'] / 1e6:.1f}", f"{r['parameters']:,}"]
    return "| " + " | ".join(cells) + " |"


def table(runs, setting):
    beam_text, beam_differs = setting["beam size"]
    beam = "beam" if beam_differs else f"beam {beam_text}"
    header = ["architecture", "cell", "attention", "BLEU greedy", "chrF greedy", f"BLEU {beam}",
              f"chrF {beam}"] + [f"BLEU len {b}" for b in BUCKETS]
    header += ["train s", "train target tokens/s", "greedy sent/s", f"{beam} sent/s", "size MB",
               "parameters"]
    test, test_differs = setting["test set"]
    title = "Test sets differ between runs (see Setting)" if test_differs else test
    return [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *[row(name, r, beam_differs) for name, r in runs.items()], "",
            f"BLEU by source length (whitespace words) is for {beam}; sentences per bucket — "
            f"{setting['bucket sizes'][0]}.", ""]


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


def notes(runs, setting, provenance_path):
    text = {key: value for key, (value, _) in setting.items()}
    lines = ["## Setting", "", *warnings(runs, setting), *provenance_notes(provenance_path),
             f"- Test set: {text['test set']}.",
             "- Training, from each pipeline's config.cfg (training.batcher.max_minutes of the time-limited "
             f"batcher, training.eval_frequency): budget {text['training budget']}; dev evaluation "
             f"{text['dev evaluation']}; torch threads {text['training threads']}{unrecorded(runs)}.",
             "- train s is read from the log at the last dev evaluation (steps after it are not counted); "
             "train target tokens/s estimates the target SentencePiece pieces (+1 </s> per sentence) "
             "seen from the source words the log counts.",
             f"- Decoding: nlp.pipe on CPU with torch threads = {text['decoding threads']}, batch 64, "
             "sentences/s include tokenization.",
             f"- sacreBLEU BLEU signature: `{text['BLEU signature']}`",
             f"- sacreBLEU chrF signature: `{text['chrF signature']}`",
             f"- Metrics files: {', '.join(f'{name}.json' for name in runs)}.", ""]
    return lines


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


def summary_lines(runs, setting, provenance):
    lines = ["# Translation: RNN vs LSTM vs GRU, and attention variants (spacy-rnn rnn_translator)", ""]
    lines += table(runs, setting) + int8_table(runs) + notes(runs, setting, provenance)
    return lines + ["![BLEU by source length](bleu_by_length.png)", "",
                    "![BLEU vs decoding speed](bleu_vs_speed.png)", ""]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--provenance", default="")
    args = parser.parse_args()
    plt = pyplot()
    runs = load(args.metrics_dir)
    setting = settings(runs)
    lines = summary_lines(runs, setting, args.provenance)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "summary.md").write_text("\n".join(lines), encoding="utf8")
    plot_by_length(plt, runs, setting, args.out_dir / "bleu_by_length.png")
    plot_vs_speed(plt, runs, setting, args.out_dir / "bleu_vs_speed.png")
    print("\n".join(lines))
    for line in warnings(runs, setting):
        msg.warn(line[4:])
    msg.good(f"Wrote {args.out_dir / 'summary.md'} and two plots")


if __name__ == "__main__":
    main()
