"""Time the CRF's recursions on one long sequence: blocked (as decoding uses them) and plain.

``viterbi_decode``, ``marginals`` and ``log_partition`` (forward + backward) of
:mod:`spacy_rnn.torch.crf` run with the block length :func:`~spacy_rnn.torch.crf.block_length`
chooses and with one block (the plain per-time-step recursion), on random scores; the
paths of both must be equal. Medians over ``--repeats`` runs, in CPU seconds of the
process (with one thread, the wall time on an otherwise idle core):

    OMP_NUM_THREADS=1 python -m spacy_rnn.benchmarks.crf --length 24000 --tags 9 17 50
"""
import argparse
import json
import time
from statistics import median
from typing import Callable, Dict, List, Optional, Sequence

import torch

from ..torch.crf import block_length, log_partition, marginals, viterbi_decode


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m spacy_rnn.benchmarks.crf",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--length", type=int, default=24000, help="tokens in the sequence")
    parser.add_argument("--tags", type=int, nargs="+", default=[9, 17, 50], help="numbers of tags")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def _median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        begin = time.process_time()
        run()
        times.append(time.process_time() - begin)
    return median(times)


def _loss_step(lattice: Dict[str, torch.Tensor], block: int) -> None:
    emissions = lattice["emissions"].clone().requires_grad_(True)
    log_partition(emissions, lattice["mask"], lattice["transitions"], lattice["start"],
                  lattice["end"], block=block).sum().backward()


def time_one(length: int, n_tags: int, repeats: int, seed: int) -> Dict[str, float]:
    """Seconds per call of each recursion, blocked and plain, for one (length, tags)."""
    generator = torch.Generator().manual_seed(seed)
    lattice = {"emissions": torch.randn(1, length, n_tags, generator=generator) * 3,
               "mask": torch.ones(1, length, dtype=torch.bool),
               "transitions": torch.randn(n_tags, n_tags, generator=generator),
               "start": torch.randn(n_tags, generator=generator),
               "end": torch.randn(n_tags, generator=generator)}
    args = [lattice[k] for k in ("emissions", "mask", "transitions", "start", "end")]
    chosen = block_length(1, length - 1, n_tags)
    result = {"length": length, "tags": n_tags, "block": chosen}
    paths = {}
    for label, block in (("blocked", chosen), ("plain", max(length - 1, 1))):
        with torch.no_grad():
            paths[label] = viterbi_decode(*args, block=block)
            result[f"viterbi_{label}_s"] = _median_seconds(lambda: viterbi_decode(*args, block=block),
                                                           repeats)
            result[f"marginals_{label}_s"] = _median_seconds(lambda: marginals(*args, block=block), repeats)
        result[f"loss_fwd_bwd_{label}_s"] = _median_seconds(lambda: _loss_step(lattice, block), repeats)
    result["same_paths"] = bool(torch.equal(paths["blocked"], paths["plain"]))
    return result


def main(argv: Optional[Sequence[str]] = None) -> List[Dict[str, float]]:
    args = parse_args(argv)
    results = [time_one(args.length, n_tags, args.repeats, args.seed) for n_tags in args.tags]
    for result in results:
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))
    return results


if __name__ == "__main__":
    main()
