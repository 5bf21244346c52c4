"""Translation scorers: corpus BLEU and chrF with sacreBLEU.

The spaCy scorer ``spacy-rnn.translation_scorer.v2`` (the ``rnn_translator``
default) returns ``bleu`` and ``chrf``; ``.v1`` returns the same numbers as
``translation_bleu`` and ``translation_chrf``, which spaCy's console logger
shortens to one indistinguishable ``TRANSLATIO...`` column. Both are on spaCy's
usual 0-1 scale (sacreBLEU's score divided by 100), so spaCy's console logger,
which multiplies score columns by 100, shows the familiar sacreBLEU number
(27.40 for BLEU 27.4) and ``[training.score_weights]`` works as for any score.
``corpus_scores`` (for scripts and reports) keeps sacreBLEU's 0-100 scale. The
sacreBLEU signatures (which make the numbers reproducible) are not scores: they
are logged on the ``"spacy_rnn"`` logger, returned by ``translation_signatures``
and optionally written to a JSON file.
"""
import logging
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

import spacy
import srsly
from sacrebleu.metrics import BLEU, CHRF
from spacy.training import Example

from .extensions import ensure_doc_extensions

ensure_doc_extensions()

logger = logging.getLogger("spacy_rnn")

BLEU_KEY = "translation_bleu"
CHRF_KEY = "translation_chrf"
# v2's keys: short enough (<= 13 characters) for spaCy's console table to print them whole
BLEU_KEY_V2 = "bleu"
CHRF_KEY_V2 = "chrf"
# the (BLEU, chrF) score keys of each registered translation scorer
SCORER_KEYS = {"spacy-rnn.translation_scorer.v1": (BLEU_KEY, CHRF_KEY),
               "spacy-rnn.translation_scorer.v2": (BLEU_KEY_V2, CHRF_KEY_V2)}
# where a training log or meta.json holds the dev BLEU (0-1): v2's key first, then v1's
DEV_BLEU_KEYS = (BLEU_KEY_V2, BLEU_KEY)
ScoreFunc = Callable[..., Dict[str, Any]]


@spacy.registry.scorers("spacy-rnn.translation_scorer.v1")
def make_translation_scorer(
    lowercase: bool = False, tokenize: str = "13a", signature_path: Optional[str] = None
) -> ScoreFunc:
    """Create a scorer of ``doc._.translation`` against the reference translation.

    lowercase: compare lowercased texts (BLEU and chrF).
    tokenize: sacreBLEU's BLEU tokenizer ("13a", "intl", "char", "zh", "none", ...).
    signature_path: if set, each scoring writes the BLEU and chrF signatures there
        as JSON (``{"bleu": ..., "chrf": ...}``).

    The returned ``score_translations(examples, **kwargs)`` gives
    ``translation_bleu`` and ``translation_chrf``: sacreBLEU's scores divided by
    100 (spaCy's 0-1 scale), or ``None`` for no examples (as spaCy's own scorers do).
    """
    _check_tokenize(tokenize)
    # a partial of a module-level function, not a closure, so that a pipeline with this
    # scorer pickles (pickle.dumps(nlp); nlp.pipe(n_process=...) under "spawn")
    return partial(score_translations, lowercase=lowercase, tokenize=tokenize,
                   signature_path=signature_path)


@spacy.registry.scorers("spacy-rnn.translation_scorer.v2")
def make_translation_scorer_v2(
    lowercase: bool = False, tokenize: str = "13a", signature_path: Optional[str] = None
) -> ScoreFunc:
    """As ``spacy-rnn.translation_scorer.v1``, with the score keys ``bleu`` and ``chrf``
    (instead of ``translation_bleu`` and ``translation_chrf``), which spaCy's training
    console prints as two distinct columns, ``BLEU`` and ``CHRF``.
    """
    _check_tokenize(tokenize)
    return partial(score_translations, lowercase=lowercase, tokenize=tokenize,
                   signature_path=signature_path, keys=(BLEU_KEY_V2, CHRF_KEY_V2))


def score_translations(examples: Iterable[Example], *, lowercase: bool = False,
                       tokenize: str = "13a", signature_path: Optional[str] = None,
                       keys: Tuple[str, str] = (BLEU_KEY, CHRF_KEY),
                       **kwargs: Any) -> Dict[str, Any]:
    """The scorer that ``make_translation_scorer`` (and ``_v2``) returns, with its
    settings as keywords; ``keys`` names the BLEU and the chrF score."""
    bleu_key, chrf_key = keys
    hypotheses, references = _collect_translations(examples)
    if not hypotheses:
        return {bleu_key: None, chrf_key: None}
    scores = corpus_scores(hypotheses, references, lowercase=lowercase, tokenize=tokenize)
    signatures = {"bleu": scores["bleu_signature"], "chrf": scores["chrf_signature"]}
    _report_signatures(signatures, signature_path)
    return {bleu_key: scores["bleu"] / 100.0, chrf_key: scores["chrf"] / 100.0}


def corpus_scores(
    hypotheses: List[str], references: List[str], lowercase: bool = False, tokenize: str = "13a"
) -> Dict[str, Union[float, str]]:
    """Corpus BLEU and chrF (0-100) of detokenized hypotheses against one reference each.

    Scores are sacreBLEU's, clipped into [0, 100] (sacreBLEU's float arithmetic
    can give 100.00000000000004 for identical texts).

    Returns ``{"bleu": float, "chrf": float, "bleu_signature": str,
    "chrf_signature": str}``. Raises ``ValueError`` if the lists differ in length
    or are empty.
    """
    if len(hypotheses) != len(references):
        raise ValueError(
            f"corpus_scores got {len(hypotheses)} hypotheses but {len(references)} "
            "references: give exactly one reference per hypothesis."
        )
    if not hypotheses:
        raise ValueError("corpus_scores got no sentences: give at least one hypothesis.")
    bleu, chrf = _make_metrics(lowercase, tokenize)
    bleu_score = bleu.corpus_score(hypotheses, [references])
    chrf_score = chrf.corpus_score(hypotheses, [references])
    return {
        "bleu": _clip_score(bleu_score.score),
        "chrf": _clip_score(chrf_score.score),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }


def _clip_score(score: float) -> float:
    """A sacreBLEU score as a float in [0, 100]."""
    return min(100.0, max(0.0, float(score)))


@lru_cache(maxsize=None)
def _signatures(lowercase: bool, tokenize: str) -> Tuple[str, str]:
    """Signatures for one reference per sentence (cached; they do not depend on data)."""
    scores = corpus_scores(["a"], ["a"], lowercase=lowercase, tokenize=tokenize)
    return str(scores["bleu_signature"]), str(scores["chrf_signature"])


def translation_signatures(lowercase: bool = False, tokenize: str = "13a") -> Dict[str, str]:
    """The sacreBLEU signatures (``{"bleu": ..., "chrf": ...}``) of the scores that
    ``spacy-rnn.translation_scorer.v1`` or ``.v2`` with these settings reports.
    """
    _check_tokenize(tokenize)
    bleu_signature, chrf_signature = _signatures(lowercase, tokenize)
    return {"bleu": bleu_signature, "chrf": chrf_signature}


def _make_metrics(lowercase: bool, tokenize: str) -> Tuple[BLEU, CHRF]:
    """sacreBLEU metric objects for one configuration."""
    return BLEU(lowercase=lowercase, tokenize=tokenize), CHRF(lowercase=lowercase)


def _collect_translations(examples: Iterable[Example]) -> Tuple[List[str], List[str]]:
    """Hypotheses (``None`` -> "") and references from the examples' ``_.translation``."""
    hypotheses: List[str] = []
    references: List[str] = []
    for i, example in enumerate(examples):
        reference = example.reference._.translation
        if reference is None:
            raise ValueError(
                f"Example {i} has no reference translation (reference doc._.translation "
                "is None). Read evaluation data with the spacy-rnn.ParallelCorpus.v1 "
                "reader, or set doc._.translation on every reference doc."
            )
        hypothesis = example.predicted._.translation
        hypotheses.append("" if hypothesis is None else hypothesis)
        references.append(reference)
    return hypotheses, references


def _report_signatures(signatures: Dict[str, str], signature_path: Optional[str]) -> None:
    """Log the signatures on the "spacy_rnn" logger; write them as JSON if asked."""
    logger.info("sacreBLEU signatures: BLEU %s | chrF %s", signatures["bleu"], signatures["chrf"])
    if signature_path is not None:
        path = Path(signature_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path, signatures)


def _check_tokenize(tokenize: str) -> None:
    """Raise ``ValueError`` naming the choices if sacreBLEU has no such tokenizer."""
    try:
        BLEU(tokenize=tokenize)
    except KeyError:
        from sacrebleu.metrics import bleu

        choices = ", ".join(sorted(getattr(bleu, "_TOKENIZERS", {}))) or "see sacrebleu --help"
        message = f"Unknown sacreBLEU tokenizer {tokenize!r}: use one of {choices}."
        raise ValueError(message) from None
