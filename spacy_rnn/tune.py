"""Tune the beam search length penalty (GNMT alpha) of an ``rnn_translator`` on a dev set.

The factory's ``length_penalty = 0.6`` is GNMT's value, not one tuned for a given model:
NMT toolkits choose alpha on dev data (never on test data). ``tune_length_penalty``
translates the dev sources with beam search once per alpha and scores each output with
corpus BLEU and chrF (sacreBLEU, as the translator's scorer does); the best alpha is the
one with the highest BLEU, the smaller alpha on a tie. ``python -m spacy_rnn
tune-length-penalty`` (see ``spacy_rnn.cli``) runs it on a saved pipeline and can save a
copy of the pipeline that decodes with the chosen alpha.
"""
import math
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

import srsly
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from wasabi import Printer

from .pipeline.translator import RNNTranslator
from .scorers import corpus_scores, translation_signatures

DEFAULT_ALPHAS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0)


class TuneError(Exception):
    """A problem with the tuning input, reported as a message without a traceback."""


def find_translator(nlp: Language, name: Optional[str] = None) -> str:
    """The name of the ``rnn_translator`` to tune: ``name`` if given, else the pipeline's
    only translator."""
    translators = [pipe_name for pipe_name, pipe in nlp.pipeline if isinstance(pipe, RNNTranslator)]
    if name is not None:
        if name not in translators:
            raise TuneError(f"--component {name!r} is not an rnn_translator of the pipeline: its "
                            f"components are {nlp.pipe_names}, its translators {translators}.")
        return name
    if not translators:
        raise TuneError(f"The pipeline has no rnn_translator (its components are "
                        f"{nlp.pipe_names}): tune-length-penalty needs a translator pipeline.")
    if len(translators) > 1:
        raise TuneError(f"The pipeline has several rnn_translators, {translators}: name the one "
                        f"to tune with --component.")
    return translators[0]


def check_alphas(alphas: Sequence[float]) -> List[float]:
    """The alphas as floats; raise if there are none or one is negative or not finite."""
    if not alphas:
        raise TuneError("--alphas is empty: give at least one length penalty, e.g. --alphas "
                        + " ".join(f"{alpha:g}" for alpha in DEFAULT_ALPHAS))
    for alpha in alphas:
        if not (math.isfinite(alpha) and alpha >= 0):
            raise TuneError(f"--alphas: {alpha} is not a valid length penalty: each alpha must "
                            f"be a finite number >= 0 (0 = no length penalty).")
    return [float(alpha) for alpha in alphas]


def tuning_beam_size(translator: RNNTranslator, beam_size: Optional[int]) -> int:
    """``beam_size``, or the translator's own; raise for greedy search, which the length
    penalty does not change (it only ranks the finished hypotheses of a beam)."""
    own = beam_size is None
    size = translator.cfg["beam_size"] if own else beam_size
    if size < 2:
        source = f"{translator.name} decodes with beam_size {size}" if own else \
            f"--beam-size {size}"
        raise TuneError(f"{source}, but the length penalty only matters for beam search "
                        f"(beam size 1 is greedy search, which it does not change): pass "
                        f"--beam-size 5, or the beam size you decode with.")
    return size


def tune_length_penalty(nlp: Language, examples: Sequence[Example], alphas: Sequence[float], *,
                        name: str, beam_size: int, batch_size: int = 64, lowercase: bool = False,
                        tokenize: str = "13a",
                        printer: Optional[Printer] = None) -> Dict[str, Any]:
    """Translate the examples' sources with beam search once per alpha and score them.

    Returns ``{"component", "beam_size", "n_examples", "rows", "best_alpha",
    "signatures"}``; each row is ``{"alpha", "bleu", "chrf", "length_ratio"}``, BLEU and
    chrF on sacreBLEU's 0-100 scale. The translator's settings are restored on return.
    ``printer`` (if given) reports each alpha as it is done.
    """
    alphas = check_alphas(alphas)
    translator = nlp.get_pipe(name)
    references = [eg.reference._.translation for eg in examples]
    docs = prepare_docs(nlp, [eg.predicted.text for eg in examples], name, batch_size)
    rows = []
    for i, alpha in enumerate(alphas, start=1):
        # n-best lists and attention are not needed (and n_best must not exceed beam_size)
        with decoding_settings(translator, beam_size=beam_size, length_penalty=alpha, n_best=0,
                               return_attention=False):
            hypotheses = translate(translator, docs, batch_size)
        rows.append(score_row(alpha, hypotheses, references, lowercase, tokenize))
        if printer is not None:
            printer.info(f"length_penalty {alpha:g} ({i}/{len(alphas)}): "
                         f"BLEU {rows[-1]['bleu']:.2f}, chrF {rows[-1]['chrf']:.2f}")
    return {"component": name, "beam_size": beam_size, "n_examples": len(examples),
            "rows": rows, "best_alpha": best_alpha(rows),
            "signatures": translation_signatures(lowercase, tokenize)}


def prepare_docs(nlp: Language, texts: List[str], name: str, batch_size: int) -> List[Doc]:
    """The texts through the components before translator ``name`` (e.g. a sentencizer,
    which makes the translator translate sentence by sentence), run once for all alphas."""
    later = nlp.pipe_names[nlp.pipe_names.index(name):]
    return list(nlp.pipe(texts, batch_size=batch_size, disable=later))


@contextmanager
def decoding_settings(translator: RNNTranslator, **settings: Any) -> Iterator[None]:
    """Decode with these ``cfg`` settings (the translator reads ``cfg`` at every call);
    the original values come back on exit, also after an error."""
    original = {key: translator.cfg[key] for key in settings}
    translator.cfg.update(settings)
    try:
        yield
    finally:
        translator.cfg.update(original)


def translate(translator: RNNTranslator, docs: List[Doc], batch_size: int) -> List[str]:
    """The translator's output for each doc (an untranslatable doc gives "")."""
    return [doc._.translation or "" for doc in translator.pipe(docs, batch_size=batch_size)]


def score_row(alpha: float, hypotheses: List[str], references: List[str], lowercase: bool,
              tokenize: str) -> Dict[str, float]:
    """One row of the results: corpus BLEU and chrF (0-100) and the length ratio."""
    scores = corpus_scores(hypotheses, references, lowercase=lowercase, tokenize=tokenize)
    return {"alpha": alpha, "bleu": scores["bleu"], "chrf": scores["chrf"],
            "length_ratio": length_ratio(hypotheses, references)}


def length_ratio(hypotheses: List[str], references: List[str]) -> float:
    """Output words per reference word over the corpus (whitespace words): below 1 means
    translations shorter than the references, which a larger alpha lengthens."""
    n_reference = sum(len(text.split()) for text in references)
    return sum(len(text.split()) for text in hypotheses) / max(n_reference, 1)


def best_alpha(rows: List[Dict[str, float]]) -> float:
    """The alpha of the row with the highest BLEU; the smaller alpha on a tie."""
    return min(rows, key=lambda row: (-row["bleu"], row["alpha"]))["alpha"]


def save_with_length_penalty(nlp: Language, name: str, alpha: float, path: Path) -> None:
    """Write the pipeline to ``path`` with ``length_penalty = alpha`` in its config.cfg,
    where a loaded translator takes its decoding settings from (and in the component's
    saved cfg, so that loading sees no unsaved runtime change). ``nlp`` is left as it was."""
    pipe_config = nlp.get_pipe_config(name)
    original = pipe_config["length_penalty"]
    pipe_config["length_penalty"] = alpha
    try:
        with decoding_settings(nlp.get_pipe(name), length_penalty=alpha):
            nlp.to_disk(path)
    finally:
        pipe_config["length_penalty"] = original


def print_tuning(result: Dict[str, Any], printer: Printer) -> None:
    """Print the table alpha / BLEU / chrF / length ratio, the signatures and the best alpha."""
    printer.divider(f"Length penalty ({result['component']}, beam size {result['beam_size']})")
    printer.text(f"{result['model']}: {result['source']} -> {result['target']} "
                 f"({result['n_examples']} sentence pairs)")
    rows = [(f"{row['alpha']:g}", f"{row['bleu']:.2f}", f"{row['chrf']:.2f}",
             f"{row['length_ratio']:.3f}") for row in result["rows"]]
    printer.table(rows, header=("alpha", "BLEU", "chrF", "length ratio"),
                  aligns=("r", "r", "r", "r"))
    printer.text(f"BLEU signature: {result['signatures']['bleu']}")
    printer.text(f"chrF signature: {result['signatures']['chrf']}")
    printer.good(f"Best length_penalty by BLEU: {result['best_alpha']:g}")


def write_tuning_output(result: Dict[str, Any], path: Path) -> None:
    """Write the rows (sacreBLEU's 0-100 scale), the best alpha, the signatures, the
    beam size, the model and data paths as JSON."""
    data = {key: value for key, value in result.items() if key != "signatures"}
    data["sacrebleu_signatures"] = result["signatures"]
    path.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(path, data)
