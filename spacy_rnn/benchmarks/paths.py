"""Compare the two CPU computations of ``spacy-rnn.RNNEncoder.v1`` in the tagger harness.

``RNNEncoder`` computes the same outputs either with a fused time-step loop (the C loops
of :mod:`spacy_rnn.torch.native` where they could be built, else the PyTorch loop;
``SPACY_RNN_NATIVE=0`` forces the latter) or with PyTorch's own modules (oneDNN's kernel for
LSTM, small per-step operations for GRU and RNN) on length groups; on CPU it picks the loop,
except for LSTMs under ``FUSED_LSTM_MIN_HIDDEN`` units per direction when the C loops are
not available.
This command measures both, in one process, on the tagger batches of
``python -m spacy_rnn.benchmark`` (encode layer alone, forward+backward and forward),
with ``spacy.TorchBiLSTMEncoder.v1`` as the baseline, taking turns over ``--repeats``
rounds and reporting medians:

    python -m spacy_rnn.benchmark_paths --widths 96 160 256 --data train.spacy
"""
import argparse
import sys
from statistics import median
from typing import Dict, List, Optional, Sequence

import torch

from . import benchmark
from .torch.encoder import RNNEncoder

BASELINE = "spacy.TorchBiLSTMEncoder.v1"
PATHS = ("_encode_fused", "_encode_grouped")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m spacy_rnn.benchmark_paths",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[96, 256])
    parser.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru"])
    parser.add_argument("--data", help=".spacy file with tagged docs (default: generated)")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for tests")
    return parser.parse_args(argv)


def forced_path(path: str):
    """An ``RNNEncoder.forward`` that always takes ``path``."""
    def forward(self, flat, lengths):
        if flat.shape[0] == 0:
            return flat.new_zeros((0, self.width)) + flat.sum() * 0
        return getattr(self, path)(flat, lengths)
    return forward


def time_paths(width: int, args: argparse.Namespace) -> Dict[str, Dict[str, float]]:
    """Median seconds of the encoder passes, by variant and by "train"/"infer"."""
    harness = ["--skip-translator", "--batches", str(args.batches), "--width", str(width)]
    harness += (["--data", args.data] if args.data else []) + (["--quick"] if args.quick else [])
    sizes = benchmark.make_settings(benchmark.parse_args(harness))
    data = benchmark.tagger_data(sizes)
    configs = benchmark.encoder_configs(width, sizes["depth"])
    ours = f"spacy-rnn.RNNEncoder.v1 {args.cell}"
    runs = {name: benchmark.TaggerRun(name, configs[name], data, sizes, "cpu") for name in (BASELINE, ours)}
    times: Dict[str, Dict[str, List[float]]] = {}
    default_forward = RNNEncoder.forward
    try:
        for _ in range(args.repeats):
            for variant in (BASELINE,) + PATHS:
                RNNEncoder.forward = default_forward if variant == BASELINE else forced_path(variant)
                run = runs[BASELINE if variant == BASELINE else ours]
                for key, train in (("train", True), ("infer", False)):
                    seconds = benchmark.timed("cpu", lambda: run.encoder_pass(train))
                    times.setdefault(variant, {}).setdefault(key, []).append(seconds)
    finally:
        RNNEncoder.forward = default_forward
    return {variant: {key: median(v) for key, v in by_key.items()} for variant, by_key in times.items()}


def table(cell: str, results: Dict[int, Dict[str, Dict[str, float]]]) -> List[str]:
    modules = "oneDNN groups" if cell == "lstm" else f"nn.{cell.upper()} groups"
    lines = [f"| width | {cell} fused loop fwd+bwd | {modules} fwd+bwd | fused loop fwd | "
             f"{modules} fwd |", "| ---: | ---: | ---: | ---: | ---: |"]
    for width, seconds in results.items():
        base = seconds[BASELINE]
        ratio = {(p, k): base[k] / seconds[p][k] for p in PATHS for k in ("train", "infer")}
        lines.append(f"| {width} | {ratio[PATHS[0], 'train']:.2f}x | {ratio[PATHS[1], 'train']:.2f}x | "
                     f"{ratio[PATHS[0], 'infer']:.2f}x | {ratio[PATHS[1], 'infer']:.2f}x |")
    return lines


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    torch.set_num_threads(1)
    results = {}
    for width in args.widths:
        print(f"width {width} ...", file=sys.stderr, flush=True)
        results[width] = time_paths(width, args)
    lines = [f"encode layer alone, x {BASELINE} at the same width (depth 2, 1 torch thread, "
             f"median of {args.repeats} rounds, data: {args.data or 'generated'})"] + table(args.cell, results)
    printed = "\n".join(lines)
    print(printed)
    return printed


if __name__ == "__main__":
    main()
