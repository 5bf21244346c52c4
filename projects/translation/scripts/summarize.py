"""Summarize the translation comparison: results/summary.md and two plots,
results/bleu_by_length.png and results/bleu_vs_speed.png.

python scripts/summarize.py metrics results [--provenance assets/provenance.json]
    [--max-minutes 85] [--threads 1] [--direction en-de]

Reads every metrics/*.json written by scripts/evaluate_translator.py (one per architecture).
"""
import argparse
from pathlib import Path

import srsly
from wasabi import msg

BUCKETS = ["1-10", "11-15", "16-20", "21+"]
ORDER = ["rnn", "lstm", "gru", "lstm_luong", "lstm_none"]


def load(metrics_dir: Path):
    paths = sorted(metrics_dir.glob("*.json"),
                   key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else len(ORDER), p.stem))
    if not paths:
        msg.fail(f"No metrics in {metrics_dir}: run the training and evaluation steps first", exits=1)
    return {p.stem: srsly.read_json(p) for p in paths}


def num(value, fmt):
    return "–" if value is None else format(value, fmt)


def row(name, r):
    greedy, beam = r["greedy"], r["beam"]
    model = r.get("model_config", {})
    cells = [name, str(model.get("cell", "?")), str(model.get("attention", "?")),
             num(greedy["bleu"], ".2f"), num(greedy["chrf"], ".2f"),
             num(beam["bleu"], ".2f"), num(beam["chrf"], ".2f")]
    cells += [num(beam["by_length"].get(b, {}).get("bleu"), ".2f") for b in BUCKETS]
    cells += [num(r.get("train_seconds"), ".0f"), num(r.get("train_target_tokens_per_second"), ",.0f"),
              num(greedy["sentences_per_second"], ",.1f"), num(beam["sentences_per_second"], ",.1f"),
              f"{r['size_bytes'] / 1e6:.1f}", f"{r['parameters']:,}"]
    return "| " + " | ".join(cells) + " |"


def table(runs, direction):
    first = next(iter(runs.values()))
    beam = first["beam"]["beam_size"]
    header = ["architecture", "cell", "attention", "BLEU greedy", "chrF greedy", f"BLEU beam {beam}",
              f"chrF beam {beam}"] + [f"BLEU len {b}" for b in BUCKETS]
    header += ["train s", "train target tokens/s", "greedy sent/s", f"beam {beam} sent/s", "size MB",
               "parameters"]
    counts = ", ".join(f"{b}: {first['beam']['by_length'][b]['n']}" for b in BUCKETS)
    return [f"## Multi30k {direction}, test_2016_flickr ({first['n_sentences']} sentences)", "",
            "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *[row(name, r) for name, r in runs.items()], "",
            f"BLEU by source length (whitespace words) is for beam {beam}; sentences per bucket — "
            f"{counts}.",
            ""]


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


def notes(runs, max_minutes, threads, provenance_path):
    first = next(iter(runs.values()))
    return ["## Setting", "", *provenance_notes(provenance_path),
            f"- Each training ran for a wall-clock budget of {max_minutes} minutes (time-limited batcher); "
            "train s is read from the log at the last dev evaluation (steps after it are not counted); "
            "train target tokens/s estimates the target SentencePiece pieces (+1 </s> per sentence) "
            "seen from the source words the log counts.",
            f"- Decoding: nlp.pipe on CPU with torch threads = {threads}, batch 64, sentences/s include "
            "tokenization.",
            f"- sacreBLEU BLEU signature: `{first['greedy']['bleu_signature']}`",
            f"- sacreBLEU chrF signature: `{first['greedy']['chrf_signature']}`", ""]


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
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name, r in runs.items():
        for search, style in (("beam", "-"), ("greedy", "--")):
            points = [(b, r[search]["by_length"][b]["bleu"]) for b in BUCKETS
                      if r[search]["by_length"].get(b, {}).get("bleu") is not None]
            label = f"{name} (beam {r['beam']['beam_size']})" if search == "beam" else f"{name} (greedy)"
            ax.plot([b for b, _ in points], [s for _, s in points], style, marker="o", label=label)
    ax.set(title="BLEU by source length", xlabel="source length (words)", ylabel="BLEU")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)


def plot_vs_speed(runs, out_path: Path):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name, r in runs.items():
        xs = [r["greedy"]["sentences_per_second"], r["beam"]["sentences_per_second"]]
        ys = [r["greedy"]["bleu"], r["beam"]["bleu"]]
        ax.plot(xs, ys, marker="o", label=name)
        ax.annotate("greedy", (xs[0], ys[0]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.annotate(f"beam {r['beam']['beam_size']}", (xs[1], ys[1]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set(title="BLEU vs decoding speed", xlabel="sentences/s (CPU)", ylabel="BLEU")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
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
    parser.add_argument("--direction", default="en-de")
    args = parser.parse_args()
    runs = load(args.metrics_dir)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# Translation: RNN vs LSTM vs GRU, and attention variants (spacy-rnn rnn_translator)", ""]
    lines += table(runs, args.direction) + int8_table(runs) + notes(runs, args.max_minutes, args.threads, args.provenance)
    lines += ["![BLEU by source length](bleu_by_length.png)", "",
              "![BLEU vs decoding speed](bleu_vs_speed.png)", ""]
    (args.out_dir / "summary.md").write_text("\n".join(lines), encoding="utf8")
    plot_by_length(runs, args.out_dir / "bleu_by_length.png")
    plot_vs_speed(runs, args.out_dir / "bleu_vs_speed.png")
    print("\n".join(lines))
    msg.good(f"Wrote {args.out_dir / 'summary.md'} and two plots")


if __name__ == "__main__":
    main()
