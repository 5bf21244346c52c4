"""Evaluate a trained rnn_translator pipeline on a parallel test set: sacreBLEU BLEU and chrF
(with signatures) for greedy search and beam search, BLEU per source-length bucket, decoding
speed, size, parameters, and the training time and speed read from the run's log.jsonl.

python scripts/evaluate_translator.py MODEL_DIR OUT.json --source test.en.gz --target test.de.gz
    --train-source train.en.gz --train-target train.de.gz [--beam 5] [--threads 1] [--log LOG]
    [--int8]

Decoding: the component's cfg["beam_size"] is set to 1 (greedy), then to --beam; with --int8 both
are repeated with cfg["quantize"] = "int8" (results under greedy_int8 / beam_int8). The training
log (spacy-rnn.JSONLLogger.v1, default: the folder above MODEL_DIR) counts source words (spaCy
tokens); target tokens seen are estimated from it with the ratio of target SentencePiece pieces
(+1 </s> per sentence, the pipeline's own model) to source words over the training files.
"""
import argparse
import json
import time
from pathlib import Path

import spacy
import srsly
from wasabi import msg

from spacy_rnn.stats import count_parameters, directory_size
from spacy_rnn.architectures.translator import _Pieces
from spacy_rnn.readers import read_parallel
from spacy_rnn.scorers import corpus_scores

BUCKETS = [(1, 10), (11, 15), (16, 20), (21, 10**9)]


def beam_size(text):
    """argparse type of --beam: an integer >= 1 (1 = greedy search)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1 (1 = greedy search), got {value}")
    return value


def bucket_name(lo, hi):
    return f"{lo}+" if hi >= 10**9 else f"{lo}-{hi}"


def read_pairs(source_path, target_path):
    pairs = [(src, tgt) for _, src, tgt in read_parallel(source_path, target_path)]
    if not pairs:
        msg.fail(f"No sentence pairs in {source_path} / {target_path}", exits=1)
    return [s for s, _ in pairs], [t for _, t in pairs]


def decode(nlp, pipe_name, sources, beam_size, quantize=None):
    """Translations of sources with the given beam size, and sentences per second."""
    nlp.get_pipe(pipe_name).cfg.update(beam_size=beam_size, quantize=quantize)
    list(nlp.pipe(sources[:8]))  # warm-up
    start = time.perf_counter()
    hypotheses = [doc._.translation or "" for doc in nlp.pipe(sources, batch_size=64)]
    return hypotheses, len(sources) / (time.perf_counter() - start)


def by_length(sources, hypotheses, references):
    """BLEU per source-length bucket (whitespace words of the source)."""
    result = {}
    for lo, hi in BUCKETS:
        idx = [i for i, s in enumerate(sources) if lo <= len(s.split()) <= hi]
        hyps, refs = [hypotheses[i] for i in idx], [references[i] for i in idx]
        bleu = corpus_scores(hyps, refs)["bleu"] if idx else None
        result[bucket_name(lo, hi)] = {"n": len(idx), "bleu": bleu}
    return result


def search_scores(nlp, pipe_name, sources, references, beam_size, quantize=None):
    hypotheses, speed = decode(nlp, pipe_name, sources, beam_size, quantize)
    scores = corpus_scores(hypotheses, references)
    return {"beam_size": beam_size, "quantize": quantize, "bleu": scores["bleu"], "chrf": scores["chrf"],
            "bleu_signature": str(scores["bleu_signature"]),
            "chrf_signature": str(scores["chrf_signature"]),
            "sentences_per_second": speed, "by_length": by_length(sources, hypotheses, references),
            "examples": [{"source": s, "reference": r, "hypothesis": h}
                         for s, r, h in list(zip(sources, references, hypotheses))[:5]]}


def target_ratio(nlp, pipe_name, train_source, train_target):
    """Target pieces (+1 </s> each) per source word (spaCy token) over the training files."""
    sources, targets = read_pairs(train_source, train_target)
    pieces = _Pieces(nlp.get_pipe(pipe_name).model.get_ref("core")).target
    n_words = sum(len(doc) for doc in nlp.tokenizer.pipe(sources, batch_size=1000))
    n_pieces = sum(len(pieces.encode(t)) + 1 for t in targets)
    return n_pieces / max(n_words, 1), n_pieces


def training_stats(log_path, ratio):
    """Training time and speed at the last evaluation logged by spacy-rnn.JSONLLogger.v1."""
    path = Path(log_path)
    records = list(srsly.read_jsonl(path)) if path.is_file() else []
    if not records:
        msg.warn(f"No training log records in {path}: training time and speed unknown")
        return {"train_log": str(path), "train_seconds": None, "train_words": None,
                "train_target_tokens_per_second": None}
    last = records[-1]
    if last["step"] == 0:
        msg.warn(f"{path}: no dev evaluation after step 0, so model-best is the untrained "
                 f"model: lower the eval_frequency variable (--training.eval_frequency) or "
                 f"raise the time budget")
    seconds, target_tokens = last["seconds"], last["words"] * ratio
    return {"train_log": str(path), "train_seconds": seconds, "train_words": last["words"],
            "train_target_tokens_estimated": target_tokens,
            "train_target_tokens_per_second": target_tokens / seconds if seconds else None,
            "train_steps": last["step"], "train_epochs": last["epoch"], "n_evaluations": len(records),
            "best_dev_bleu": 100 * max(r["scores"].get("translation_bleu", 0.0) for r in records)}


def evaluate(args):
    nlp = spacy.load(args.model)
    sources, references = read_pairs(args.source, args.target)
    ratio, n_pieces = target_ratio(nlp, args.pipe, args.train_source, args.train_target)
    result = {"name": Path(args.model).resolve().parent.name, "model": str(args.model),
              "test_source": str(args.source), "test_target": str(args.target),
              "n_sentences": len(sources), "torch_threads": args.threads,
              "size_bytes": directory_size(args.model), "parameters": count_parameters(nlp),
              "model_config": dict(nlp.config["components"][args.pipe]["model"]),
              "train_target_pieces_per_epoch": n_pieces, "target_pieces_per_source_word": ratio,
              **training_stats(args.log or Path(args.model).parent / "log.jsonl", ratio)}
    result["greedy"] = search_scores(nlp, args.pipe, sources, references, 1)
    result["beam"] = search_scores(nlp, args.pipe, sources, references, args.beam)
    if args.int8:
        for key, beam in (("greedy_int8", 1), ("beam_int8", args.beam)):
            result[key] = search_scores(nlp, args.pipe, sources, references, beam, "int8")
            result[key]["speedup"] = (result[key]["sentences_per_second"]
                                      / result[key[:-5]]["sentences_per_second"])
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("out")
    for name in ("--source", "--target", "--train-source", "--train-target"):
        parser.add_argument(name, required=True)
    parser.add_argument("--beam", type=beam_size, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--log", default=None, help="training log.jsonl (default: next to MODEL_DIR)")
    parser.add_argument("--pipe", default="rnn_translator", help="name of the translator component")
    parser.add_argument("--int8", action="store_true",
                        help="also decode with the int8 dynamically quantized network")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    result = evaluate(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(args.out, result)
    brief = {k: result[k] for k in ("name", "train_seconds", "train_target_tokens_per_second")}
    for search in ("greedy", "beam", "greedy_int8", "beam_int8"):
        if search in result:
            brief[search] = {k: result[search][k] for k in ("bleu", "chrf", "sentences_per_second")}
    print(json.dumps(brief, indent=2))
    msg.good(f"BLEU signature: {result['greedy']['bleu_signature']}")


if __name__ == "__main__":
    main()
