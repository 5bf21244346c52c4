"""Evaluate a trained rnn_translator pipeline on a parallel test set: sacreBLEU BLEU and chrF
(with signatures) for greedy search and beam search, BLEU per source-length bucket, decoding
speed, size, parameters, and the training time and speed read from the run's log.jsonl.

python scripts/evaluate_translator.py MODEL_DIR OUT.json --source test.en.gz --target test.de.gz
    --train-source train.en.gz --train-target train.de.gz [--dev-source val.en.gz --dev-target val.de.gz]
    [--beam 5] [--threads 1] [--log LOG] [--int8]

Length penalty: with --dev-source/--dev-target, the beam search's length penalty (GNMT alpha) is
first chosen on that dev set (spacy_rnn.tune: beam search once per alpha 0, 0.2, ..., 2.0 with the
pipeline's own quantize setting, float32 for a trained pipeline; best dev BLEU), and every beam
search on the test set uses it, the int8 one too; without them, the pipeline's own length_penalty.
Either way the alpha used goes under "length_penalty" in OUT.json and in each beam search's scores.

Decoding: the component's cfg["beam_size"] is set to 1 (greedy), then to --beam; with --int8 both
are repeated with cfg["quantize"] = "int8" (results under greedy_int8 / beam_int8). The training
log (spacy-rnn.JSONLLogger.v1, default: the folder above MODEL_DIR) counts source words (spaCy
tokens); target tokens seen are estimated from it with the ratio of target SentencePiece pieces
(+1 </s> per sentence, the pipeline's own model) to source words over the training files. The
training budget and settings of the pipeline's saved config.cfg (training.batcher.max_minutes,
training.eval_frequency, ...) go under "training_config". Beside OUT.json goes
OUT.sentences.jsonl, one line per test sentence with each search's hypothesis ({"greedy", "beam"}),
for the paired bootstrap of summarize.py (which reads the references from the test file: no text of
the corpus is written). Each search prints a line when it ends
and shows a progress bar (with an estimate of the time left) while it decodes.
"""
import argparse
import time
from pathlib import Path

import spacy
import srsly
from tqdm import tqdm
from wasabi import msg

from spacy_rnn.analysis.curves import read_curve
from spacy_rnn.analysis.sentences import write_sentences
from spacy_rnn.stats import code_version, count_parameters, directory_size, machine_description
from spacy_rnn.architectures.translator import SubwordModels
from spacy_rnn.readers import create_parallel_corpus_reader, read_parallel
from spacy_rnn.scorers import DEV_BLEU_KEYS, corpus_scores
from spacy_rnn.tune import DEFAULT_ALPHAS, tune_length_penalty

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
    """Translations of sources with the given beam size, and the seconds they took."""
    nlp.get_pipe(pipe_name).cfg.update(beam_size=beam_size, quantize=quantize)
    list(nlp.pipe(sources[:8]))  # warm-up
    docs = tqdm(nlp.pipe(sources, batch_size=64), total=len(sources), unit=" sent", leave=False,
                desc=search_label(beam_size, quantize), mininterval=1.0)
    start = time.perf_counter()
    hypotheses = [doc._.translation or "" for doc in docs]
    return hypotheses, time.perf_counter() - start


def search_label(beam_size, quantize=None):
    label = "greedy" if beam_size == 1 else f"beam {beam_size}"
    return f"{label} {quantize}" if quantize else label


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
    """(scores of one search, its hypotheses)."""
    hypotheses, seconds = decode(nlp, pipe_name, sources, beam_size, quantize)
    scores = corpus_scores(hypotheses, references)
    msg.good(f"{search_label(beam_size, quantize)}: {len(sources)} sentences, {seconds:.1f} s "
             f"({len(sources) / seconds:,.1f} sent/s), BLEU {scores['bleu']:.2f}, "
             f"chrF {scores['chrf']:.2f}")
    alpha = nlp.get_pipe(pipe_name).cfg["length_penalty"] if beam_size > 1 else None
    return {"beam_size": beam_size, "quantize": quantize, "length_penalty": alpha,
            "bleu": scores["bleu"], "chrf": scores["chrf"],
            "bleu_signature": str(scores["bleu_signature"]),
            "chrf_signature": str(scores["chrf_signature"]),
            "sentences_per_second": len(sources) / seconds,
            "by_length": by_length(sources, hypotheses, references)}, hypotheses


def target_ratio(nlp, pipe_name, train_source, train_target):
    """Target pieces (+1 </s> each) per source word (spaCy token) over the training files."""
    msg.text(f"Counting target pieces per source word in {train_source} / {train_target} ...")
    sources, targets = read_pairs(train_source, train_target)
    pieces = SubwordModels(nlp.get_pipe(pipe_name).model.get_ref("core")).target
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
            "best_dev_bleu": best_dev_bleu(path)}


def best_dev_bleu(path):
    """The best dev BLEU (0-100) in a training log, or None (with a warning) if it has none."""
    curve = read_curve(path, DEV_BLEU_KEYS)
    if curve is None:
        msg.warn(f"{path}: no dev BLEU in the training log (scores {', '.join(DEV_BLEU_KEYS)}): "
                 f"best_dev_bleu unknown")
        return None
    return 100 * max(curve.scores)


def training_settings(nlp):
    """The training budget and settings in the pipeline's saved config.cfg (None: not set)."""
    config = nlp.config.interpolate()
    training, paths = config.get("training", {}), config.get("paths", {})
    batcher = training.get("batcher", {})
    threads = config.get("initialize", {}).get("before_init", {}) or {}
    return {"max_minutes": batcher.get("max_minutes"), "batcher": batcher.get("@batchers"),
            "eval_frequency": training.get("eval_frequency"), "max_steps": training.get("max_steps"),
            "max_epochs": training.get("max_epochs"), "patience": training.get("patience"),
            "seed": training.get("seed"), "torch_threads": threads.get("n_threads"),
            **{key: paths.get(key) for key in ("train_source", "train_target", "dev_source", "dev_target")}}


def check_inputs(args):
    """✘ before anything is loaded when the pipeline or a data file is missing."""
    if (args.dev_source is None) != (args.dev_target is None):
        msg.fail("--dev-source and --dev-target go together: give both (to tune the length "
                 "penalty on that dev set) or neither (to use the pipeline's own)", exits=1)
    model = Path(args.model)
    if not (model / "config.cfg").is_file():
        step = f"train-{_architecture(model)}"
        msg.fail(f"No trained pipeline at {model} (no config.cfg)",
                 f"The {step} step makes it: python -m spacy project run {step}", exits=1)
    for path in (args.source, args.target, args.train_source, args.train_target, args.dev_source,
                 args.dev_target):
        if path is not None and not Path(path).is_file():
            msg.fail(f"Missing data file {path}",
                     "Download the corpus with python -m spacy project assets, or point data_dir at a "
                     "local copy (see the README)", exits=1)


def _architecture(model: Path) -> str:
    """The architecture of training/mt-<arch>/seed<N>/model-best (or an older training/<arch>/...)."""
    run = model.resolve().parent
    if run.name.startswith("seed"):
        run = run.parent
    return run.name[len("mt-"):] if run.name.startswith("mt-") else run.name


def evaluate(args):
    """(metrics, per-sentence records: each search's hypothesis)."""
    check_inputs(args)
    msg.text(f"Loading {args.model} ...")
    nlp = spacy.load(args.model)
    sources, references = read_pairs(args.source, args.target)
    result = describe_run(args, nlp, len(sources))
    report_training(result)
    result["length_penalty"] = choose_length_penalty(args, nlp)
    searches, hypotheses = run_searches(args, nlp, sources, references)
    result.update(searches)
    return result, sentence_results(hypotheses)


def sentence_results(hypotheses):
    """One record per test sentence: {"greedy": ..., "beam": ...} (and the int8 searches), for
    sacreBLEU's paired bootstrap in summarize.py. No reference or source: those are the corpus's."""
    n_sentences = len(next(iter(hypotheses.values()), []))
    return [{key: hyps[i] for key, hyps in hypotheses.items()} for i in range(n_sentences)]


def describe_run(args, nlp, n_sentences):
    """Everything but the decoding scores: model, sizes, training settings and training speed."""
    ratio, n_pieces = target_ratio(nlp, args.pipe, args.train_source, args.train_target)
    return {"name": Path(args.model).resolve().parent.name, "model": str(args.model),
            "test_source": str(args.source), "test_target": str(args.target),
            "n_sentences": n_sentences, "torch_threads": args.threads,
            "size_bytes": directory_size(args.model), "parameters": count_parameters(nlp),
            "machine": machine_description(), "code_version": code_version(),
            "model_config": dict(nlp.config["components"][args.pipe]["model"]),
            "training_config": training_settings(nlp),
            "train_target_pieces_per_epoch": n_pieces, "target_pieces_per_source_word": ratio,
            **training_stats(args.log or Path(args.model).parent / "log.jsonl", ratio)}


def choose_length_penalty(args, nlp):
    """Set the translator's length penalty: the alpha with the best dev BLEU under --dev-source /
    --dev-target (beam size --beam), else keep its own. Returns {"alpha", "tuned_on", "rows"}."""
    translator = nlp.get_pipe(args.pipe)
    if args.dev_source is not None and args.beam == 1:
        msg.warn("--beam 1 is greedy search, which the length penalty does not change: "
                 f"{args.dev_source} is not used")
    if args.dev_source is None or args.beam == 1:
        return {"alpha": translator.cfg["length_penalty"], "tuned_on": None, "rows": []}
    examples = list(create_parallel_corpus_reader(Path(args.dev_source), Path(args.dev_target))(nlp))
    msg.info(f"Tuning the length penalty on {args.dev_source} ({len(examples)} pairs, beam "
             f"{args.beam}, alphas {', '.join(f'{a:g}' for a in DEFAULT_ALPHAS)})")
    tuned = tune_length_penalty(nlp, examples, DEFAULT_ALPHAS, name=args.pipe, beam_size=args.beam,
                                printer=msg)
    translator.cfg["length_penalty"] = tuned["best_alpha"]
    msg.good(f"length_penalty {tuned['best_alpha']:g} (best dev BLEU) for the test set's beam searches")
    return {"alpha": tuned["best_alpha"], "tuned_on": str(args.dev_source), "rows": tuned["rows"]}


def run_searches(args, nlp, sources, references):
    """(scores, hypotheses) of greedy and beam search (and both with int8 under --int8), keyed
    by search; a line is printed as each ends."""
    searches = [("greedy", 1, None), ("beam", args.beam, None)]
    if args.int8:
        searches += [("greedy_int8", 1, "int8"), ("beam_int8", args.beam, "int8")]
    msg.info(f"Decoding {len(sources)} test sentences {len(searches)} times: "
             + ", ".join(search_label(beam, quantize) for _, beam, quantize in searches))
    result, hypotheses = {}, {}
    for key, beam, quantize in searches:
        result[key], hypotheses[key] = search_scores(nlp, args.pipe, sources, references, beam, quantize)
        if quantize:
            result[key]["speedup"] = (result[key]["sentences_per_second"]
                                      / result[key[:-5]]["sentences_per_second"])
    return result, hypotheses


def report_training(result):
    config = result["training_config"]
    logged = ("" if result["train_seconds"] is None else f"{result['train_steps']} steps, "
              f"{result['train_seconds']} s to the last dev evaluation; ")
    msg.info(f"Training: {logged}budget {config['max_minutes']} minutes, dev evaluation every "
             f"{config['eval_frequency']} steps (the pipeline's config.cfg)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("out")
    for name in ("--source", "--target", "--train-source", "--train-target"):
        parser.add_argument(name, required=True)
    parser.add_argument("--dev-source", default=None,
                        help="dev sources to tune the length penalty on (with --dev-target)")
    parser.add_argument("--dev-target", default=None, help="dev references (with --dev-source)")
    parser.add_argument("--beam", type=beam_size, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--log", default=None, help="training log.jsonl (default: next to MODEL_DIR)")
    parser.add_argument("--pipe", default="rnn_translator", help="name of the translator component")
    parser.add_argument("--int8", action="store_true",
                        help="also decode with the int8 dynamically quantized network")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    result, sentences = evaluate(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(args.out, result)
    write_sentences(args.out, sentences)
    msg.good(f"Wrote {args.out}; BLEU signature: {result['greedy']['bleu_signature']}")


if __name__ == "__main__":
    main()
