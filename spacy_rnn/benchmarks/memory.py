"""Peak memory of translating one long document, with and without a decoding budget.

Trains a small ``rnn_translator`` for a few steps on generated pairs (so that it stops its
translations), saves it, then translates one document of ``--chars`` characters (generated
sentences, split by a sentencizer) in a fresh process per ``max_batch_pieces`` value, and
reports each process's peak resident memory, its time and whether the translations are equal:

    OMP_NUM_THREADS=1 python -m spacy_rnn.benchmarks.memory --chars 200000 --budgets 8192 1000000000
"""
import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import spacy
from spacy.training import Example
from thinc.api import fix_random_seed

from .run import generate_parallel, peak_rss_mib

SIZES = {"vocab": 300, "mt_max_len": 15}
MODEL = {"cell": "lstm", "attention": "bahdanau", "emb_size": 64, "hidden": 128, "vocab_size": 400}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m spacy_rnn.benchmarks.memory",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, default=200000, help="characters in the document")
    parser.add_argument("--budgets", type=int, nargs="+", default=[8192, 10**9],
                        help="max_batch_pieces values, each decoded in its own process")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--steps", type=int, default=60, help="training updates before saving")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "BUDGET"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def train_and_save(path: Path, steps: int) -> None:
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("rnn_translator", config={"model": MODEL, "beam_size": 1})
    pairs = generate_parallel(400, SIZES, seed=0)
    examples = [_example(nlp, s, t) for s, t in pairs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SentencePiece's vocabulary cap on small data
        optimizer = nlp.initialize(lambda: examples)
    for step in range(steps):
        batch = examples[(step * 32) % 384:(step * 32) % 384 + 32]
        nlp.update(batch, sgd=optimizer)
    nlp.to_disk(path)


def _example(nlp, source: str, target: str) -> Example:
    reference = nlp.make_doc(source)
    reference._.translation = target
    return Example(nlp.make_doc(source), reference)


def long_text(chars: int) -> str:
    sentences, text = generate_parallel(10**6, SIZES, seed=1), []
    for source, _ in sentences:
        text.append(source + " .")
        if sum(len(s) + 1 for s in text) >= chars:
            break
    return " ".join(text)


def decode(model: str, budget: int, chars: int, beam: int) -> Dict:
    """In this process: translate the long document; peak RSS, seconds, output digest."""
    nlp = spacy.load(model, config={"components": {"rnn_translator": {
        "beam_size": beam, "max_batch_pieces": budget}}})
    nlp.add_pipe("sentencizer", before="rnn_translator")
    doc = nlp.make_doc(long_text(chars))
    start = time.perf_counter()
    for _, proc in nlp.pipeline:
        doc = proc(doc)
    seconds = time.perf_counter() - start
    return {"max_batch_pieces": budget, "peak_rss_mib": round(peak_rss_mib(), 1),
            "seconds": round(seconds, 2), "sentences": len(list(doc.sents)),
            "translation_sha256": hashlib.sha256(doc._.translation.encode()).hexdigest()[:16]}


def run_child(model: Path, budget: int, args: argparse.Namespace) -> Dict:
    command = [sys.executable, "-m", "spacy_rnn.benchmarks.memory", "--chars", str(args.chars),
               "--beam", str(args.beam), "--child", str(model), str(budget)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: Optional[Sequence[str]] = None) -> List[Dict]:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(decode(args.child[0], int(args.child[1]), args.chars, args.beam)))
        return []
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "translator"
        train_and_save(model, args.steps)
        rows = [run_child(model, budget, args) for budget in args.budgets]
    for row in rows:
        print(json.dumps(row))
    same = len({row["translation_sha256"] for row in rows}) == 1
    print(f"translations equal across budgets: {same}")
    return rows


if __name__ == "__main__":
    main()
