"""Compare the recurrence backends of ``spacy-rnn.RNNEncoder.v1`` in the tagger harness.

``RNNEncoder`` computes the same outputs with each backend of :mod:`spacy_rnn.torch.backend`:
"torch" (PyTorch's modules on length groups: oneDNN's kernel for the LSTM, small per-step
operations for the GRU and the RNN), "native" (the C loops; LSTM and GRU, where built) and
"loop" (the PyTorch loops). This command forces each in turn (``SPACY_RNN_BACKEND``) and
measures, in one process, on the tagger batches of ``python -m spacy_rnn.benchmarks.run``, the
encode layer alone (forward+backward and forward), with ``spacy.TorchBiLSTMEncoder.v1`` as the
baseline, taking turns over ``--repeats`` rounds and reporting medians:

    python -m spacy_rnn.benchmarks.paths --cell lstm --widths 96 256 --data train.spacy
"""
import argparse
import os
import sys
from contextlib import contextmanager
from statistics import median
from typing import Dict, List, Optional, Sequence

import torch

from ..torch import native
from . import run as harness

BASELINE = "spacy.TorchBiLSTMEncoder.v1"


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m spacy_rnn.benchmarks.paths",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[96, 256])
    parser.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru"])
    parser.add_argument("--data", help=".spacy file with tagged docs (default: generated)")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for tests")
    return parser.parse_args(argv)


def backends(cell: str) -> List[str]:
    """The backends that can run ``cell`` here (native: LSTM and GRU, where built)."""
    with_c = cell in ("lstm", "gru") and native.available()
    return ["torch", "native", "loop"] if with_c else ["torch", "loop"]


@contextmanager
def forced(backend: Optional[str]):
    """``SPACY_RNN_BACKEND`` set to ``backend`` (None: unset) inside the block."""
    before = os.environ.get("SPACY_RNN_BACKEND")
    os.environ.pop("SPACY_RNN_BACKEND", None)
    if backend:
        os.environ["SPACY_RNN_BACKEND"] = backend
    try:
        yield
    finally:
        os.environ.pop("SPACY_RNN_BACKEND", None)
        if before is not None:
            os.environ["SPACY_RNN_BACKEND"] = before


def time_backends(width: int, args: argparse.Namespace) -> Dict[str, Dict[str, float]]:
    """Median seconds of the encoder passes, by variant (baseline or backend) and by
    "train"/"infer"."""
    cli = ["--skip-translator", "--batches", str(args.batches), "--width", str(width)]
    cli += (["--data", args.data] if args.data else []) + (["--quick"] if args.quick else [])
    sizes = harness.make_settings(harness.parse_args(cli))
    data = harness.tagger_data(sizes)
    configs = harness.encoder_configs(width, sizes["depth"])
    ours = f"spacy-rnn.RNNEncoder.v1 {args.cell}"
    runs = {name: harness.TaggerRun(name, configs[name], data, sizes, "cpu") for name in (BASELINE, ours)}
    times: Dict[str, Dict[str, List[float]]] = {}
    for _ in range(args.repeats):
        for variant in [BASELINE] + backends(args.cell):
            run = runs[BASELINE if variant == BASELINE else ours]
            with forced(None if variant == BASELINE else variant):
                for key, train in (("train", True), ("infer", False)):
                    seconds = harness.timed("cpu", lambda: run.encoder_pass(train))
                    times.setdefault(variant, {}).setdefault(key, []).append(seconds)
    return {variant: {key: median(v) for key, v in by_key.items()} for variant, by_key in times.items()}


def table(cell: str, results: Dict[int, Dict[str, Dict[str, float]]]) -> List[str]:
    names = [variant for variant in next(iter(results.values())) if variant != BASELINE]
    header = [f"{cell} {name} {'fwd+bwd' if key == 'train' else 'fwd'}" for key in ("train", "infer")
              for name in names]
    lines = ["| width | " + " | ".join(header) + " |", "| ---: |" + " ---: |" * len(header)]
    for width, seconds in results.items():
        base = seconds[BASELINE]
        ratios = [f"{base[key] / seconds[name][key]:.2f}x" for key in ("train", "infer") for name in names]
        lines.append(f"| {width} | " + " | ".join(ratios) + " |")
    return lines


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    torch.set_num_threads(1)
    results = {}
    for width in args.widths:
        print(f"width {width} ...", file=sys.stderr, flush=True)
        results[width] = time_backends(width, args)
    lines = [f"encode layer alone, x {BASELINE} at the same width (depth 2, 1 torch thread, "
             f"median of {args.repeats} rounds, data: {args.data or 'generated'})"] + table(args.cell, results)
    printed = "\n".join(lines)
    print(printed)
    return printed


if __name__ == "__main__":
    main()
