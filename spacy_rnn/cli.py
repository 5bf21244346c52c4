"""``python -m spacy_rnn evaluate``: score a trained pipeline on a gold corpus and print
every score it reports, BLEU and chrF with their sacreBLEU signatures included.

``python -m spacy evaluate`` prints a fixed list of spaCy's own scores, so for a
translator it shows only TOK and SPEED. This command prints what ``nlp.evaluate``
returns: spaCy's scores under spaCy's column names (TAG, POS, MORPH, NER P/R/F,
...), per-type tables (entities, text categories), and for each translator BLEU and
chrF on sacreBLEU's 0-100 scale with the signatures that make them reproducible.

Gold data is a ``.spacy`` DocBin (a file or a folder of them, as ``spacy train``
reads it) or, for translators, two plain-text files with one sentence per line
(``DATA`` the source, ``--target`` the reference translations), read as
``spacy-rnn.ParallelCorpus.v1`` reads them.

``python -m spacy_rnn tune-length-penalty`` reads a translator's dev set the same way and
chooses its beam search length penalty (see ``spacy_rnn.tune``).
"""
import argparse
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import spacy
import srsly
from spacy.language import Language
from spacy.training import Corpus, Example
from wasabi import Printer

from . import tune as tuning
from .readers import create_parallel_corpus_reader
from .scorers import SCORER_KEYS, translation_signatures
from .tune import (DEFAULT_ALPHAS, TuneError, check_alphas, find_translator, print_tuning,
                   save_with_length_penalty, tune_length_penalty, tuning_beam_size,
                   write_tuning_output)

# spaCy's `spacy evaluate` names for its scores; other keys are shown as KEY WORDS
SPACY_LABELS = {
    "token_acc": "TOK", "tag_acc": "TAG", "pos_acc": "POS", "morph_acc": "MORPH",
    "lemma_acc": "LEMMA", "dep_uas": "UAS", "dep_las": "LAS", "ents_p": "NER P",
    "ents_r": "NER R", "ents_f": "NER F", "cats_score": "TEXTCAT", "sents_p": "SENT P",
    "sents_r": "SENT R", "sents_f": "SENT F", "speed": "SPEED",
}
# token_p/r/f compare the tokenizer with the gold tokens; token_acc says the same in one number
HIDDEN_KEYS = ("token_p", "token_r", "token_f")
PER_TYPE = "_per_type"
PER_TYPE_TITLES = {"ents": "NER", "cats_f": "TEXTCAT"}


class EvaluateError(Exception):
    """A problem with the command's input, reported as a message without a traceback."""


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``python -m spacy_rnn`` with ``argv`` (default: the command line); return the exit code."""
    args = build_parser().parse_args(argv)
    printer = Printer()
    run = run_tune if args.command == "tune-length-penalty" else run_evaluate
    try:
        run(args, printer)
    except (EvaluateError, TuneError) as err:
        printer.fail(str(err))
        return 1
    return 0


def run_evaluate(args: argparse.Namespace, printer: Printer) -> None:
    """The ``evaluate`` command: score, print, write ``--output``."""
    result = evaluate(args.model, args.data, target=args.target, batch_size=args.batch_size,
                      gpu_id=args.gpu_id)
    print_report(result, printer)
    if args.output is not None:
        write_output(result, args.output)
        printer.good(f"Saved results to {args.output}")


def run_tune(args: argparse.Namespace, printer: Printer) -> None:
    """The ``tune-length-penalty`` command: tune, print, write ``--output``, ``--save``."""
    nlp, result = tune(args.model, args.source, args.target, alphas=args.alphas,
                       component=args.component, beam_size=args.beam_size,
                       batch_size=args.batch_size, gpu_id=args.gpu_id, printer=printer)
    print_tuning(result, printer)
    if args.output is not None:
        write_tuning_output(result, args.output)
        printer.good(f"Saved results to {args.output}")
    if args.save is not None:
        save_tuned(nlp, result, args.save, printer)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m spacy_rnn``: ``evaluate`` and ``tune-length-penalty``."""
    parser = argparse.ArgumentParser(prog="python -m spacy_rnn",
                                     description="spacy-rnn command line tools.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_evaluate_parser(commands)
    add_tune_parser(commands)
    return parser


def add_evaluate_parser(commands: "argparse._SubParsersAction") -> None:
    """The ``evaluate`` command's arguments."""
    command = commands.add_parser(
        "evaluate", help="Score a pipeline on gold data; print all scores, BLEU/chrF signatures.",
        description=__doc__.split("\n\n")[0].replace("``", ""))
    command.add_argument("model", help="pipeline folder or installed pipeline package name")
    command.add_argument("data", type=Path,
                         help="gold .spacy DocBin (file or folder), or the source side of a "
                              "parallel text corpus when --target is given")
    command.add_argument("--target", "-t", type=Path, default=None,
                         help="reference translations, one per line of DATA (plain text or .gz)")
    command.add_argument("--output", "-o", type=Path, default=None,
                         help="write all scores and the sacreBLEU signatures to this JSON file")
    command.add_argument("--batch-size", "-b", type=int, default=64,
                         help="documents per batch (default 64)")
    command.add_argument("--gpu-id", "-g", type=int, default=-1, help="GPU to use; -1 = CPU (default)")


def add_tune_parser(commands: "argparse._SubParsersAction") -> None:
    """The ``tune-length-penalty`` command's arguments."""
    command = commands.add_parser(
        "tune-length-penalty", help="Choose a translator's beam search length penalty on dev data.",
        description=tuning.__doc__.split("\n\n")[0].replace("``", ""))
    command.add_argument("model", help="pipeline folder or installed pipeline package name")
    command.add_argument("source", type=Path, help="dev source sentences, one per line (plain "
                                                   "text or .gz)")
    command.add_argument("--target", "-t", type=Path, required=True,
                         help="reference translations, one per line of SOURCE (plain text or .gz)")
    command.add_argument("--alphas", "-a", type=float, nargs="+", default=list(DEFAULT_ALPHAS),
                         help="length penalties to try (default: %(default)s)")
    command.add_argument("--beam-size", type=int, default=None,
                         help="beam size to tune with (default: the component's beam_size)")
    command.add_argument("--component", "-c", default=None,
                         help="the rnn_translator to tune (needed if the pipeline has several)")
    command.add_argument("--batch-size", "-b", type=int, default=64,
                         help="documents per batch (default 64)")
    command.add_argument("--gpu-id", "-g", type=int, default=-1,
                         help="GPU to use; -1 = CPU (default)")
    command.add_argument("--output", "-o", type=Path, default=None,
                         help="write the rows, best alpha and sacreBLEU signatures to this JSON")
    command.add_argument("--save", type=Path, default=None,
                         help="write the pipeline, with the best alpha as its length_penalty, "
                              "to this folder")


def evaluate(model: str, data: Path, *, target: Optional[Path] = None, batch_size: int = 64,
             gpu_id: int = -1) -> Dict[str, Any]:
    """Load ``model``, score it on ``data`` (and ``target``), and return
    ``{"model", "data", "n_examples", "scores", "signatures", "translation_keys"}``:
    ``scores`` as ``nlp.evaluate`` gives them (0-1 scale), ``signatures`` and
    ``translation_keys`` by translator component name.
    """
    _use_device(batch_size, gpu_id)
    nlp = _load_pipeline(model)
    examples = read_examples(nlp, data, target)
    translators = translation_settings(nlp)
    scores = nlp.evaluate(examples, batch_size=batch_size)
    signatures = {name: translation_signatures(lowercase, tokenize)
                  for name, (_, lowercase, tokenize) in translators.items()}
    keys = {name: list(settings[0]) for name, settings in translators.items()}
    return {"model": str(model), "data": str(data), "n_examples": len(examples), "scores": scores,
            "signatures": signatures, "translation_keys": keys}


def tune(model: str, source: Path, target: Path, *, alphas: Sequence[float] = DEFAULT_ALPHAS,
         component: Optional[str] = None, beam_size: Optional[int] = None, batch_size: int = 64,
         gpu_id: int = -1, printer: Optional[Printer] = None) -> Tuple[Language, Dict[str, Any]]:
    """Load ``model``, tune its translator's length penalty on ``source`` / ``target`` (read
    as ``evaluate`` reads parallel text), and return the pipeline and the result of
    ``tune_length_penalty`` with the model and data paths added."""
    alphas = check_alphas(alphas)  # before the slow part: a typo fails at once
    _use_device(batch_size, gpu_id)
    nlp = _load_pipeline(model)
    name = find_translator(nlp, component)
    beam_size = tuning_beam_size(nlp.get_pipe(name), beam_size)
    examples = _read_parallel(nlp, source, target)
    _, lowercase, tokenize = translation_settings(nlp).get(name, (None, False, "13a"))
    result = tune_length_penalty(nlp, examples, alphas, name=name, beam_size=beam_size,
                                 batch_size=batch_size, lowercase=lowercase, tokenize=tokenize,
                                 printer=printer)
    return nlp, {"model": str(model), "source": str(source), "target": str(target), **result}


def save_tuned(nlp: Language, result: Dict[str, Any], path: Path, printer: Printer) -> None:
    """Save the pipeline with the best alpha; warn if it decodes with another beam size
    than the one the alpha was tuned with."""
    name, alpha = result["component"], result["best_alpha"]
    save_with_length_penalty(nlp, name, alpha, path)
    printer.good(f"Saved the pipeline with {name} length_penalty = {alpha:g} to {path}")
    own_beam = nlp.get_pipe(name).cfg["beam_size"]
    if own_beam != result["beam_size"]:
        printer.warn(f"{name} decodes with beam_size {own_beam}, but length_penalty was tuned "
                     f"with beam size {result['beam_size']}: set beam_size = "
                     f"{result['beam_size']} in {path / 'config.cfg'} [components.{name}], or "
                     f"pass it to spacy.load(..., config=...).")


def _use_device(batch_size: int, gpu_id: int) -> None:
    """Check ``--batch-size``; use GPU ``gpu_id`` if it is >= 0."""
    if batch_size < 1:
        raise EvaluateError(f"--batch-size must be a positive number, not {batch_size}.")
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)


def _load_pipeline(model: str) -> Language:
    """``spacy.load(model)``, its failure as an ``EvaluateError``."""
    try:
        return spacy.load(model)
    except OSError as err:
        raise EvaluateError(f"Cannot load the pipeline {model!r}: {err}") from None


def translation_settings(nlp: Language) -> Dict[str, Tuple[Tuple[str, str], bool, str]]:
    """For each component scored by a spacy-rnn translation scorer: its (BLEU, chrF)
    score keys, ``lowercase`` and ``tokenize`` settings, read from the pipeline's config."""
    settings = {}
    for name in nlp.pipe_names:
        scorer = nlp.get_pipe_config(name).get("scorer") or {}
        keys = SCORER_KEYS.get(scorer.get("@scorers"))
        if keys is not None:
            settings[name] = (keys, scorer.get("lowercase", False), scorer.get("tokenize", "13a"))
    return settings


def read_examples(nlp: Language, data: Path, target: Optional[Path]) -> List[Example]:
    """The gold examples: a parallel text corpus if ``target`` is given, else a DocBin."""
    translators = translation_settings(nlp)
    if target is not None:
        if not translators:
            raise EvaluateError(f"--target {target} gives reference translations, but the pipeline "
                                f"(components {nlp.pipe_names}) has no translator: evaluate it on a "
                                ".spacy DocBin without --target.")
        return _read_parallel(nlp, data, target)
    examples = _read_docbin(nlp, data)
    if translators:
        _check_references(examples, data)
    return examples


def _read_parallel(nlp: Language, source: Path, target: Path) -> List[Example]:
    """Examples from two aligned text files; the reader's errors as ``EvaluateError``."""
    try:
        examples = list(create_parallel_corpus_reader(source, target)(nlp))
    except (OSError, ValueError) as err:
        raise EvaluateError(str(err)) from None
    if not examples:
        raise EvaluateError(f"{source} / {target} hold no sentence pair to evaluate on.")
    return examples


def _read_docbin(nlp: Language, data: Path) -> List[Example]:
    """Examples from a .spacy file or a folder of them (spaCy's ``Corpus`` reader)."""
    if not data.exists():
        raise EvaluateError(f"Gold data not found: {data} does not exist (working directory: "
                            f"{Path.cwd()}).")
    if data.is_file() and data.suffix != ".spacy":
        raise EvaluateError(
            f"{data} is not a .spacy DocBin. For a translator on plain parallel text, give the "
            f"reference translations too: python -m spacy_rnn evaluate MODEL {data} --target "
            "REFERENCES.txt; to convert other formats to .spacy, see python -m spacy convert.")
    examples = list(Corpus(data)(nlp))
    if not examples:
        raise EvaluateError(f"{data} holds no documents (a folder is searched for .spacy files).")
    return examples


def _check_references(examples: Iterable[Example], data: Path) -> None:
    """Raise if a gold doc has no reference translation (user data not saved)."""
    for i, example in enumerate(examples):
        if example.reference._.translation is None:
            raise EvaluateError(
                f"{data}: gold document {i} has no reference translation (doc._.translation), "
                "so BLEU and chrF cannot be computed. Save the gold docs with "
                "DocBin(store_user_data=True) after setting doc._.translation, or evaluate on "
                f"plain parallel text: python -m spacy_rnn evaluate MODEL SOURCE.txt --target "
                "REFERENCES.txt.")


def print_report(result: Dict[str, Any], printer: Printer) -> None:
    """Print the scores table, per-type tables and each translator's BLEU and chrF."""
    scores = result["scores"]
    translation_keys = {key for keys in result["translation_keys"].values() for key in keys}
    printer.divider("Results")
    printer.text(f"{result['model']} on {result['data']} ({result['n_examples']} examples)")
    rows = score_rows(scores, exclude=translation_keys)
    if rows:
        printer.table(rows, aligns=("l", "r"))
    for key, by_type in per_type_tables(scores):
        printer.divider(f"{per_type_title(key)} (per type)")
        printer.table(by_type, header=("", "P", "R", "F"), aligns=("l", "r", "r", "r"))
    for name, (bleu_key, chrf_key) in result["translation_keys"].items():
        printer.divider(f"Translation ({name})")
        printer.table(translation_rows(scores, bleu_key, chrf_key, result["signatures"][name]),
                      aligns=("l", "r", "l"))


def score_rows(scores: Dict[str, Any], exclude: Iterable[str] = ()) -> List[Tuple[str, str]]:
    """(label, value) for each number in ``scores``: percentages, words/s for SPEED."""
    rows = []
    for key, value in scores.items():
        if key in exclude or key in HIDDEN_KEYS or isinstance(value, dict):
            continue
        rows.append((score_label(key), _format(value, percent=key != "speed")))
    return rows


def score_label(key: str) -> str:
    """spaCy's name for a score key (``ents_f`` -> ``NER F``), else the key in capitals."""
    return SPACY_LABELS.get(key, key.upper().replace("_", " "))


def per_type_tables(scores: Dict[str, Any]) -> List[Tuple[str, List[Tuple[str, str, str, str]]]]:
    """(key, rows of type, P, R, F in %) for each ``*_per_type`` score of P/R/F dicts
    (``ents_per_type``, ``spans_<key>_per_type``, ``cats_f_per_type``)."""
    tables = []
    for key, value in scores.items():
        if not key.endswith(PER_TYPE) or not isinstance(value, dict):
            continue
        rows = [(label, *(_format(prf.get(k)) for k in "prf"))
                for label, prf in value.items() if isinstance(prf, dict)]
        if rows:
            tables.append((key, rows))
    return tables


def per_type_title(key: str) -> str:
    """The title of a per-type table: ``ents_per_type`` -> ``NER``, ``cats_f_per_type`` -> ``TEXTCAT``."""
    prefix = key[:-len(PER_TYPE)]
    return PER_TYPE_TITLES.get(prefix, prefix.upper().replace("_", " "))


def translation_rows(scores: Dict[str, Any], bleu_key: str, chrf_key: str,
                     signatures: Dict[str, str]) -> List[Tuple[str, str, str]]:
    """BLEU and chrF on sacreBLEU's 0-100 scale, each with its signature."""
    return [("BLEU", _format(scores.get(bleu_key)), signatures["bleu"]),
            ("chrF", _format(scores.get(chrf_key)), signatures["chrf"])]


def _format(value: Optional[float], percent: bool = True) -> str:
    """A score in % with 2 decimals (a speed as a whole number); "-" for none."""
    if value is None:
        return "-"
    return f"{100 * value:.2f}" if percent else f"{value:.0f}"


def write_output(result: Dict[str, Any], path: Path) -> None:
    """Write the scores (0-1 scale, as ``spacy evaluate --output``) and the signatures as JSON."""
    data = {**result["scores"], "sacrebleu_signatures": result["signatures"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(path, data)


if __name__ == "__main__":
    sys.exit(main())
