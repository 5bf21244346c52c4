"""Evaluate trained tagging/NER pipelines on a test DocBin: scores overall and per
sentence-length bucket (NER also per entity type), nlp.pipe speed (CPU, torch threads set),
size, parameters, and the training time and speed read from the run's log.jsonl.

python scripts/evaluate_tagger.py TEST.spacy --task pos|tag|ner --model DIR --out OUT.json
    [--task TASK2 --model DIR2 --out OUT2.json ...] [--threads 1]
python scripts/evaluate_tagger.py MODEL_DIR TEST.spacy OUT.json --task pos|tag|ner   (one model)

--task is given once (for all models) or once per model: pos scores token.pos (rnn_tagger),
tag token.tag (spaCy's tagger trained on UPOS copied into token.tag), ner doc.ents. Each --model
is a pipeline directory (e.g. training/pos-lstm/model-best); its training log is
read from the folder above it (training/pos-lstm/log.jsonl, written by spacy-rnn.JSONLLogger.v1)
unless --log is given once per model. The input docs keep the test file's (gold) tokens.
The training settings in the pipeline's config.cfg (the time budget training.batcher.max_minutes,
eval_frequency, ...) are recorded as "training_settings", so that the summary can state them.

Beside each OUT.json goes OUT.sentences.jsonl, one line per test sentence ({"n", "correct"} for
pos and tag, {"tp", "fp", "fn"} for ner), for summarize.py's paired bootstrap.

Every test file and model is checked before anything is evaluated, and a --task that does not fit
is refused: pos and tag need a model that sets token.pos / token.tag and gold docs that have it,
ner a pipe that sets doc.ents and gold docs with entities.
"""
import argparse
import json
import time
from pathlib import Path

import spacy
import srsly
from spacy.scorer import Scorer, get_ner_prf
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from wasabi import msg

from spacy_rnn.analysis.sentences import entity_counts, token_counts, write_sentences
from spacy_rnn.stats import code_version, count_parameters, directory_size, machine_description

BUCKETS = [(1, 10), (11, 20), (21, 40), (41, 10**9)]
# recorded from the pipeline's config.cfg: name -> path below [training]
SETTINGS = {"max_minutes": ("batcher", "max_minutes"), "eval_frequency": ("eval_frequency",),
            "max_steps": ("max_steps",), "max_epochs": ("max_epochs",), "patience": ("patience",),
            "dropout": ("dropout",), "seed": ("seed",)}
TASK_ATTRS = {"pos": "token.pos", "tag": "token.tag", "ner": "doc.ents"}


class EvaluationError(ValueError):
    """A missing input or a --task that does not fit (the message says what to do)."""


def run_name(model_dir) -> str:
    """The run of training/<task>-<arch>/seed<N>/model-best (or an older training/<task>-<arch>/...)."""
    run = Path(model_dir).resolve().parent
    return run.parent.name if run.name.startswith("seed") else run.name


def bucket_name(lo, hi):
    return f"{lo}+" if hi >= 10**9 else f"{lo}-{hi}"


def score(examples, task):
    if task == "ner":
        return get_ner_prf(examples)["ents_f"] if examples else None
    return Scorer.score_token_attr(examples, task)[f"{task}_acc"] if examples else None


def training_stats(log_path):
    """Training time and speed at the last evaluation logged by spacy-rnn.JSONLLogger.v1."""
    path = Path(log_path)
    records = list(srsly.read_jsonl(path)) if path.is_file() else []
    if not records:
        msg.warn(f"No training log records in {path}: training time and speed unknown")
        return {"train_log": str(path), "train_seconds": None, "train_words": None,
                "train_words_per_second": None}
    last = records[-1]
    if last["step"] == 0:
        msg.warn(f"{path}: no dev evaluation after step 0, so model-best is the untrained "
                 f"model: lower the evaluation interval (e.g. --vars.extra_overrides "
                 f"' --training.eval_frequency 200') or raise the time budget (max_minutes)")
    seconds = last["seconds"]
    return {"train_log": str(path), "train_seconds": seconds, "train_words": last["words"],
            "train_words_per_second": last["words"] / seconds if seconds else None,
            "train_steps": last["step"], "train_epochs": last["epoch"],
            "n_evaluations": len(records), "best_dev_score": max(r["score"] for r in records)}


def training_settings(nlp):
    """The settings of SETTINGS in the pipeline's training config (None where it has none)."""
    try:
        config = nlp.config.interpolate()["training"]
    except Exception as err:  # a config that does not interpolate: record nothing, say why
        msg.warn(f"Could not read the training settings from the pipeline's config: {err}")
        return {name: None for name in SETTINGS}
    settings = {}
    for name, keys in SETTINGS.items():
        value = config
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        settings[name] = value
    return settings


def check_inputs(model_dirs, test_path, tasks):
    """EvaluationError naming the first missing test file or pipeline and the step making it."""
    if not Path(test_path).is_file():
        step = "convert-uner" if "ner" in tasks else "convert-ud"
        raise EvaluationError(
            f"Test file {test_path} not found",
            f"make it with the conversion step (`python -m spacy project run {step}`), or fix "
            "the path")
    for model_dir in model_dirs:
        if not (Path(model_dir) / "config.cfg").is_file():
            step = f"train-{run_name(model_dir)}"
            raise EvaluationError(
                f"No trained pipeline at {model_dir} (no config.cfg)",
                f"train it first (`python -m spacy project run {step}`), or check which "
                "checkpoint is evaluated (--vars.checkpoint: model-best or model-last)")


def fitting_tasks(nlp, predicted):
    """The tasks this pipeline's output fits: pos/tag if a token has it, ner if a pipe sets ents."""
    tasks = [t for t in ("pos", "tag") if any(getattr(tok, t) for doc in predicted for tok in doc)]
    if any("doc.ents" in nlp.get_pipe_meta(name).assigns for name in nlp.pipe_names):
        tasks.append("ner")
    return tasks


def check_task(nlp, model_dir, refs, test_path, task):
    """EvaluationError if the model does not predict what task scores, or the gold lacks it."""
    sample = list(nlp.pipe([Doc(nlp.vocab, words=[t.text for t in d]) for d in refs[:16]]))
    fits = fitting_tasks(nlp, sample)
    if task not in fits:
        hint = f"use --task {' or '.join(fits)}" if fits else "none of pos, tag, ner fits it"
        raise EvaluationError(
            f"--task {task} does not fit {model_dir}",
            f"--task {task} scores {TASK_ATTRS[task]}, which its pipes ({', '.join(nlp.pipe_names)})"
            f" do not set: {hint}")
    gold = any(d.ents for d in refs) if task == "ner" else \
        any(getattr(t, task) for d in refs for t in d)
    if not gold:
        raise EvaluationError(
            f"--task {task}: the gold docs of {test_path} have no {TASK_ATTRS[task]}",
            "evaluate on the corpus of the task (corpus/pos for pos, corpus/tag for tag, "
            "corpus/ner for ner)")


def timed_pipe(nlp, inputs):
    """Predicted docs and the seconds nlp.pipe took (after a short warm-up)."""
    list(nlp.pipe([Doc(nlp.vocab, words=[t.text for t in d]) for d in inputs[:16]]))
    start = time.perf_counter()
    predicted = list(nlp.pipe(inputs, batch_size=256))
    return predicted, time.perf_counter() - start


def sentence_results(examples, task):
    """One record per test sentence: {"n", "correct"} (pos, tag) or {"tp", "fp", "fn"} (ner),
    from which the paired bootstrap of summarize.py recomputes the corpus score."""
    if task == "ner":
        return [entity_counts([(e.start, e.end, e.label_) for e in eg.predicted.ents],
                              [(e.start, e.end, e.label_) for e in eg.reference.ents]) for eg in examples]
    return [tag_counts(eg, f"{task}_") for eg in examples]


def tag_counts(example, attr):
    """{"n", "correct"} of one sentence; tokens without a gold value are not scored (as in
    spaCy's Scorer.score_token_attr)."""
    pairs = [(getattr(p, attr), getattr(g, attr)) for p, g in zip(example.predicted, example.reference)
             if getattr(g, attr)]
    return token_counts([p for p, _ in pairs], [g for _, g in pairs])


def evaluate(model_dir, test_path, task, threads, log_path=None):
    """The metrics of one pipeline (see evaluate_with_sentences)."""
    return evaluate_with_sentences(model_dir, test_path, task, threads, log_path)[0]


def evaluate_with_sentences(model_dir, test_path, task, threads, log_path=None):
    """(metrics, per-sentence records) of one pipeline on the test file."""
    nlp = spacy.load(model_dir)
    refs = list(DocBin().from_disk(test_path).get_docs(nlp.vocab))
    check_task(nlp, model_dir, refs, test_path, task)
    inputs = [Doc(nlp.vocab, words=[t.text for t in d], spaces=[bool(t.whitespace_) for t in d])
              for d in refs]
    predicted, seconds = timed_pipe(nlp, inputs)
    examples = [Example(p, r) for p, r in zip(predicted, refs)]
    n_words = sum(len(d) for d in refs)
    result = {"name": run_name(model_dir), "model": str(model_dir),
              "test": str(test_path), "task": task, "score": score(examples, task),
              "n_sentences": len(refs), "n_words": n_words,
              "pipe_words_per_second": n_words / seconds, "torch_threads": threads,
              "size_bytes": directory_size(model_dir), "parameters": count_parameters(nlp),
              "machine": machine_description(), "code_version": code_version(),
              "by_length": {}, "training_settings": training_settings(nlp),
              **training_stats(log_path or Path(model_dir).parent / "log.jsonl")}
    if task == "ner":
        result["ner"] = get_ner_prf(examples)
    for lo, hi in BUCKETS:
        subset = [e for e in examples if lo <= len(e.reference) <= hi]
        result["by_length"][bucket_name(lo, hi)] = {"n": len(subset), "score": score(subset, task)}
    return result, sentence_results(examples, task)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="TEST.spacy (or MODEL TEST.spacy OUT.json)")
    parser.add_argument("--task", action="append", choices=["pos", "tag", "ner"], required=True)
    parser.add_argument("--model", action="append", default=[], help="pipeline directory")
    parser.add_argument("--out", action="append", default=[], help="metrics JSON, one per --model")
    parser.add_argument("--log", action="append", help="training log.jsonl, one per --model")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if len(args.paths) == 3 and not args.model:  # MODEL TEST OUT
        args.model, args.paths, args.out = [args.paths[0]], [args.paths[1]], [args.paths[2]]
    n_models = len(args.model)
    if len(args.paths) != 1 or not n_models or len(args.out) != n_models or \
            len(args.task) not in (1, n_models) or (args.log and len(args.log) != n_models):
        parser.error("give TEST.spacy, then one --out (and, if any, one --log) per --model, and "
                     "one --task per --model or one for all")
    args.test, args.tasks = args.paths[0], args.task * n_models if len(args.task) == 1 else args.task
    return args


def main():
    args = parse_args()
    import torch
    torch.set_num_threads(args.threads)
    try:
        check_inputs(args.model, args.test, args.tasks)
        for i, (model_dir, out) in enumerate(zip(args.model, args.out)):
            log = args.log[i] if args.log else None
            result, sentences = evaluate_with_sentences(model_dir, args.test, args.tasks[i],
                                                        args.threads, log)
            write_result(out, result, sentences)
    except EvaluationError as err:
        msg.fail(*err.args, exits=1)


def write_result(out, result, sentences):
    """OUT.json and, beside it, OUT.sentences.jsonl (one record per test sentence)."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(out, result)
    write_sentences(out, sentences)
    print(json.dumps({k: v for k, v in result.items() if k not in ("ner", "by_length")}, indent=2))


if __name__ == "__main__":
    main()
