"""Evaluate a trained tagging/NER pipeline on a test DocBin: scores overall and per
sentence-length bucket, nlp.pipe speed (CPU, torch threads set), size and parameters.

python scripts/evaluate_tagger.py MODEL_DIR TEST.spacy OUT.json --task pos|tag|ner [--threads 1]
"""
import argparse
import json
import time
from pathlib import Path

import spacy
import srsly
from spacy.scorer import Scorer, get_ner_prf
from spacy.tokens import DocBin
from spacy.training import Example

BUCKETS = [(1, 10), (11, 20), (21, 40), (41, 10**9)]


def bucket_name(lo, hi):
    return f"{lo}+" if hi >= 10**9 else f"{lo}-{hi}"


def score(examples, task):
    if task == "ner":
        return get_ner_prf(examples)["ents_f"] if examples else None
    return Scorer.score_token_attr(examples, task)[f"{task}_acc"] if examples else None


def count_params(nlp):
    total = 0
    for _, proc in nlp.pipeline:
        model = getattr(proc, "model", None)
        if model is None:
            continue
        for node in model.walk():
            total += sum(node.get_param(n).size for n in node.param_names if node.has_param(n))
            for shim in node.shims:
                total += sum(p.numel() for p in shim._model.parameters())
    return total


def dir_size(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model"); parser.add_argument("test"); parser.add_argument("out")
    parser.add_argument("--task", choices=["pos", "tag", "ner"], required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    nlp = spacy.load(args.model)
    refs = list(DocBin().from_disk(args.test).get_docs(nlp.vocab))
    inputs = [spacy.tokens.Doc(nlp.vocab, words=[t.text for t in d], spaces=[bool(t.whitespace_) for t in d]) for d in refs]
    start = time.perf_counter()
    predicted = list(nlp.pipe(inputs, batch_size=256))
    seconds = time.perf_counter() - start
    examples = [Example(p, r) for p, r in zip(predicted, refs)]
    n_words = sum(len(d) for d in refs)
    result = {"model": args.model, "test": args.test, "task": args.task,
              "score": score(examples, args.task), "n_sentences": len(refs), "n_words": n_words,
              "pipe_words_per_second": n_words / seconds, "torch_threads": args.threads,
              "size_bytes": dir_size(args.model), "parameters": count_params(nlp),
              "by_length": {}}
    if args.task == "ner":
        result["ner"] = get_ner_prf(examples)
    for lo, hi in BUCKETS:
        subset = [e for e in examples if lo <= len(e.reference) <= hi]
        result["by_length"][bucket_name(lo, hi)] = {"n": len(subset), "score": score(subset, args.task)}
    srsly.write_json(args.out, result)
    print(json.dumps({k: v for k, v in result.items() if k != "ner"}, indent=2))


if __name__ == "__main__":
    main()
