"""Train and evaluate one cell on one demo task for several seeds; write a metrics JSON.

train_seconds (and train words/s) come from the training log, as in the tagging and translation
projects: the training loop with its dev evaluations; wall_seconds is the whole `spacy train` call,
initialization (SentencePiece training) and saving included.

python scripts/train_cell.py tagging lstm --seeds 0 1 2 --steps 300 --data corpus --out metrics/tagging-lstm.json
python scripts/train_cell.py translation gru --seeds 0 1 2 --steps 400 --data corpus --out ...

Each run is saved in training/<task>-<cell>/seed<N>/ (the pipelines and the JSONL log, log.jsonl).
Beside the metrics JSON (metrics/<task>-<cell>.json), metrics/<task>-<cell>.sentences.jsonl has
one line per seed and test sentence: {"seed", "n", "correct"} (the long-range targets) for
tagging, {"seed", "reference", "greedy"} for translation.
"""
import argparse
import statistics
import time
from pathlib import Path

import spacy
import srsly
from spacy.cli.train import train as spacy_train
from wasabi import msg

from spacy_rnn.analysis.sentences import write_sentences
from spacy_rnn.stats import count_parameters
from spacy_rnn.scorers import corpus_scores

BUCKETS = [(1, 5), (6, 10), (11, 20), (21, 30), (31, 40), (41, 10**6)]


def bucket_of(distance):
    for lo, hi in BUCKETS:
        if lo <= distance <= hi:
            return f"{lo}-{hi}" if hi < 10**6 else f"{lo}+"
    raise ValueError(f"distance {distance} is not positive")


def corpus_files(task, data):
    """The corpus files a task reads: train, dev and test (prepare.py writes them)."""
    if task == "tagging":
        return {"train": data / "tagging" / "train.spacy", "dev": data / "tagging" / "dev.spacy",
                "test": data / "tagging" / "test.jsonl"}
    return {"train_source": data / "translation" / "train.src",
            "train_target": data / "translation" / "train.tgt",
            "dev_source": data / "translation" / "dev.src",
            "dev_target": data / "translation" / "dev.tgt",
            "test": data / "translation" / "test.jsonl"}


def check_corpus(task, data):
    missing = [str(path) for path in corpus_files(task, data).values() if not path.is_file()]
    if missing:
        msg.fail(f"Missing corpus files: {', '.join(missing)}. Run `spacy project run prepare` "
                 f"(or scripts/prepare.py) first, or point --data at its output", exits=1)


def overrides_for(task, cell, seed, steps, data, log_path):
    common = {"system.seed": seed, "training.max_steps": steps,
              "training.eval_frequency": steps, "paths.log": str(log_path)}
    paths = {f"paths.{k}": str(v) for k, v in corpus_files(task, data).items() if k != "test"}
    component = ("components.rnn_tagger.model.encoder.cell" if task == "tagging"
                 else "components.rnn_translator.model.cell")
    return {**common, **paths, component: cell}


def train_stats(log_path):
    """Seconds and words of the training loop from the last log line, as the tagging and
    translation projects report them (spaCy's whole seconds, dev evaluations included;
    initialization and saving excluded)."""
    last = list(srsly.read_jsonl(log_path))[-1]
    seconds = last["seconds"]
    return {"train_seconds": seconds, "train_words": last["words"],
            "train_words_per_second": last["words"] / seconds if seconds else None}


def evaluate_tagging(nlp, test_path):
    """Token accuracy, and accuracy on the long-range targets per distance bucket; and per test
    sentence the number of long-range targets and of those tagged correctly."""
    records = list(srsly.read_jsonl(test_path))
    docs = [spacy.tokens.Doc(nlp.vocab, words=r["words"]) for r in records]
    start = time.perf_counter()
    docs = list(nlp.pipe(docs, batch_size=64))
    seconds = time.perf_counter() - start
    n_tokens = correct = 0
    buckets, sentences = {}, []
    for doc, r in zip(docs, records):
        predicted = [t.tag_ for t in doc]
        n_tokens += len(predicted)
        correct += sum(p == g for p, g in zip(predicted, r["tags"]))
        hits = [predicted[target] == r["tags"][target] for target in r["targets"]]
        for hit, target, controller in zip(hits, r["targets"], r["controllers"]):
            buckets.setdefault(bucket_of(target - controller), []).append(hit)
        sentences.append({"n": len(hits), "correct": sum(hits)})
    targets = [hit for hits in buckets.values() for hit in hits]
    return {"token_acc": correct / n_tokens, "score": sum(targets) / len(targets),
            "by_distance": {k: sum(v) / len(v) for k, v in sorted(buckets.items(), key=_order)},
            "n_by_distance": {k: len(v) for k, v in buckets.items()},
            "infer_words_per_second": n_tokens / seconds}, sentences


def evaluate_translation(nlp, test_jsonl):
    """Corpus BLEU overall and per distance bucket (greedy), and exact-match rate; and per test
    sentence the reference and the greedy output."""
    records = list(srsly.read_jsonl(test_jsonl))
    start = time.perf_counter()
    hyps = [doc._.translation for doc in nlp.pipe([r["source"] for r in records], batch_size=64)]
    seconds = time.perf_counter() - start
    refs = [r["target"] for r in records]
    groups = {}
    for r, hyp in zip(records, hyps):
        groups.setdefault(bucket_of(r["distance"]), []).append((hyp, r["target"]))
    overall = corpus_scores(hyps, refs)
    return {"score": overall["bleu"], "chrf": overall["chrf"],
            "exact_match": sum(h == r for h, r in zip(hyps, refs)) / len(refs),
            "signature": overall["bleu_signature"],
            "by_distance": {k: corpus_scores([h for h, _ in v], [r for _, r in v])["bleu"]
                            for k, v in sorted(groups.items(), key=_order)},
            "n_by_distance": {k: len(v) for k, v in groups.items()},
            "infer_sentences_per_second": len(records) / seconds}, \
        [{"reference": ref, "greedy": hyp} for ref, hyp in zip(refs, hyps)]


def _order(item):
    return int(item[0].split("-")[0].rstrip("+"))


def run_dir(args, seed):
    """Where a run's pipelines and JSONL log go: training/<task>-<cell>/seed<N>."""
    return Path(args.training) / f"{args.task}-{args.cell}" / f"seed{seed}"


def run_seed(args, seed):
    out_dir = run_dir(args, seed)
    log_path = out_dir / "log.jsonl"
    config = Path(__file__).parent.parent / "configs" / ("tagger.cfg" if args.task == "tagging" else "translator.cfg")
    msg.divider(f"{args.task} | cell {args.cell} | seed {seed} | {args.steps} steps")
    start = time.perf_counter()
    data = Path(args.data)
    spacy_train(config, out_dir, overrides=overrides_for(args.task, args.cell, seed, args.steps,
                                                         data, log_path))
    wall_seconds = time.perf_counter() - start
    nlp = spacy.load(out_dir / "model-last")
    test = corpus_files(args.task, data)["test"]
    evaluate = evaluate_tagging if args.task == "tagging" else evaluate_translation
    result, sentences = evaluate(nlp, test)
    result.update(seed=seed, **train_stats(log_path), wall_seconds=wall_seconds,
                  parameters=count_parameters(nlp))
    msg.good(f"seed {seed}: score {result['score']:.3f}, training loop {result['train_seconds']}s "
             f"({wall_seconds:.1f}s with initialization and saving)")
    return result, [{"seed": seed, **sentence} for sentence in sentences]


def summarize(runs):
    scores = [r["score"] for r in runs]
    keys = sorted({k for r in runs for k in r["by_distance"]}, key=lambda k: _order((k, 0)))
    return {"score_mean": statistics.mean(scores),
            "score_std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
            "by_distance_mean": {k: statistics.mean(r["by_distance"][k] for r in runs if k in r["by_distance"]) for k in keys},
            "by_distance_std": {k: (statistics.stdev([r["by_distance"][k] for r in runs if k in r["by_distance"]])
                                    if len(runs) > 1 else 0.0) for k in keys},
            "train_seconds_mean": statistics.mean(r["train_seconds"] for r in runs),
            "wall_seconds_mean": statistics.mean(r["wall_seconds"] for r in runs),
            "train_words_per_second_mean": _mean_known(r["train_words_per_second"] for r in runs),
            "parameters": runs[0]["parameters"]}


def _mean_known(values):
    known = [v for v in values if v is not None]
    return statistics.mean(known) if known else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["tagging", "translation"])
    parser.add_argument("cell", choices=["rnn", "lstm", "gru"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--training", default="training")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    check_corpus(args.task, Path(args.data))
    runs, sentences = [], []
    for seed in args.seeds:
        result, records = run_seed(args, seed)
        runs.append(result)
        sentences += records
    result = {"task": args.task, "cell": args.cell, "steps": args.steps, "seeds": args.seeds,
              "runs": runs, **summarize(runs)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(args.out, result)
    write_sentences(args.out, sentences)  # beside it, for summarize's paired bootstrap
    msg.good(f"{args.task} {args.cell}: mean score {result['score_mean']:.3f} "
             f"(std {result['score_std']:.3f}) -> {args.out}")


if __name__ == "__main__":
    main()
