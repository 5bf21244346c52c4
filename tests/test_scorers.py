"""Tests for spacy_rnn.scorers: sacreBLEU BLEU/chrF as a spaCy scorer."""
import logging
from typing import List, Optional

import pytest
import sacrebleu
import spacy
import srsly
from sacrebleu.metrics import CHRF
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.training.loop import create_evaluation_callback

from spacy_rnn.extensions import ensure_doc_extensions
from spacy_rnn.scorers import (corpus_scores, make_translation_scorer, make_translation_scorer_v2,
                               translation_signatures)

REFERENCES = [
    "The cat is sitting on the mat in the kitchen .",
    "It was a bright cold day in April , and the clocks were striking thirteen .",
    "Nobody expects the Spanish Inquisition !",
]
HYPOTHESES = [
    "The cat sits on the mat in the kitchen .",
    "It was a cold bright day in April and clocks struck thirteen .",
    "nobody expects the spanish inquisition",
]


def make_examples(hypotheses: List[Optional[str]], references: List[str]) -> List[Example]:
    """Examples whose predicted doc carries the hypothesis and reference the reference."""
    nlp = spacy.blank("en")
    examples = []
    for hypothesis, reference in zip(hypotheses, references):
        predicted = nlp.make_doc("source text")
        gold = predicted.copy()
        gold._.translation = reference
        predicted._.translation = hypothesis
        examples.append(Example(predicted, gold))
    return examples


def test_extension_registration_is_idempotent():
    ensure_doc_extensions()
    ensure_doc_extensions()
    assert Doc.has_extension("translation")
    assert spacy.blank("en").make_doc("x")._.translation is None


def test_registry_resolves_scorer():
    assert spacy.registry.scorers.get("spacy-rnn.translation_scorer.v1") is make_translation_scorer
    assert spacy.registry.scorers.get("spacy-rnn.translation_scorer.v2") is make_translation_scorer_v2


def test_v2_gives_v1_numbers_under_short_keys():
    """v2 renames the keys (spaCy's console shows names up to 13 characters whole); same numbers."""
    examples = make_examples(HYPOTHESES, REFERENCES)
    v1 = make_translation_scorer(lowercase=True, tokenize="intl")(examples)
    v2 = make_translation_scorer_v2(lowercase=True, tokenize="intl")(examples)
    assert v2 == {"bleu": v1["translation_bleu"], "chrf": v1["translation_chrf"]}
    assert 0.0 < v2["bleu"] < v2["chrf"] < 1.0
    assert make_translation_scorer_v2()([]) == {"bleu": None, "chrf": None}
    with pytest.raises(ValueError, match="Unknown sacreBLEU tokenizer 'moses'"):
        make_translation_scorer_v2(tokenize="moses")


def test_rnn_translator_defaults_to_v2():
    nlp = spacy.blank("en")
    nlp.add_pipe("rnn_translator")
    scorer = nlp.config["components"]["rnn_translator"]["scorer"]
    assert scorer["@scorers"] == "spacy-rnn.translation_scorer.v2"
    assert nlp.config["training"]["score_weights"] == {"bleu": 1.0, "chrf": 0.0}


def test_identical_texts_score_100():
    # sacrebleu itself gives 100.00000000000004 here; the scorer clips to 100,
    # then reports it on spaCy's 0-1 scale.
    scores = make_translation_scorer()(make_examples(REFERENCES, REFERENCES))
    assert scores == {"translation_bleu": 1.0, "translation_chrf": 1.0}
    assert all(type(value) is float for value in scores.values())


@pytest.mark.parametrize("lowercase", [False, True])
@pytest.mark.parametrize("tokenize", ["13a", "intl", "char"])
def test_scores_match_sacrebleu(lowercase, tokenize):
    scorer = make_translation_scorer(lowercase=lowercase, tokenize=tokenize)
    scores = scorer(make_examples(HYPOTHESES, REFERENCES))
    bleu = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES], lowercase=lowercase, tokenize=tokenize)
    chrf = CHRF(lowercase=lowercase).corpus_score(HYPOTHESES, [REFERENCES])
    assert scores["translation_bleu"] == pytest.approx(bleu.score / 100)
    assert scores["translation_chrf"] == pytest.approx(chrf.score / 100)
    assert 0.0 < scores["translation_bleu"] < 1.0
    assert 0.0 < scores["translation_chrf"] < 1.0


def test_known_values():
    # Pinned against sacrebleu 2.x with default settings (13a, mixed case).
    scores = corpus_scores(HYPOTHESES, REFERENCES)
    assert scores["bleu"] == pytest.approx(
        sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES]).score, abs=1e-9
    )
    assert scores["bleu"] == pytest.approx(34.40, abs=0.01)
    assert scores["chrf"] == pytest.approx(61.67, abs=0.01)


def test_lowercase_raises_score():
    examples = make_examples(HYPOTHESES, REFERENCES)
    cased = make_translation_scorer()(examples)
    uncased = make_translation_scorer(lowercase=True)(examples)
    assert uncased["translation_bleu"] > cased["translation_bleu"]


def test_none_hypothesis_counts_as_empty_string():
    hypotheses = [HYPOTHESES[0], None, HYPOTHESES[2]]
    scores = make_translation_scorer()(make_examples(hypotheses, REFERENCES))
    with_empty = [HYPOTHESES[0], "", HYPOTHESES[2]]
    assert scores["translation_bleu"] == pytest.approx(
        sacrebleu.corpus_bleu(with_empty, [REFERENCES]).score / 100
    )
    assert scores["translation_chrf"] == pytest.approx(
        sacrebleu.corpus_chrf(with_empty, [REFERENCES]).score / 100
    )


def test_all_empty_hypotheses_score_zero():
    scores = make_translation_scorer()(make_examples([None, "", None], REFERENCES))
    assert scores == {"translation_bleu": 0.0, "translation_chrf": 0.0}


def test_no_examples_give_none():
    assert make_translation_scorer()([]) == {"translation_bleu": None, "translation_chrf": None}


def test_missing_reference_translation_is_an_error():
    examples = make_examples(HYPOTHESES[:2], REFERENCES[:2])
    examples[1].reference._.translation = None
    with pytest.raises(ValueError, match=r"Example 1 has no reference translation"):
        make_translation_scorer()(examples)


def test_unknown_tokenizer_is_rejected():
    with pytest.raises(ValueError, match=r"Unknown sacreBLEU tokenizer 'moses': use one of .*13a"):
        make_translation_scorer(tokenize="moses")
    with pytest.raises(ValueError, match="Unknown sacreBLEU tokenizer"):
        translation_signatures(tokenize="moses")


def test_corpus_scores_checks_lengths():
    with pytest.raises(ValueError, match="got 2 hypotheses but 3 references"):
        corpus_scores(HYPOTHESES[:2], REFERENCES)
    with pytest.raises(ValueError, match="got no sentences"):
        corpus_scores([], [])


def test_corpus_scores_returns_signatures():
    scores = corpus_scores(HYPOTHESES, REFERENCES, lowercase=True, tokenize="intl")
    assert set(scores) == {"bleu", "chrf", "bleu_signature", "chrf_signature"}
    assert scores["bleu_signature"] == translation_signatures(True, "intl")["bleu"]
    assert scores["chrf_signature"] == translation_signatures(True, "intl")["chrf"]


def test_signatures_describe_settings():
    signatures = translation_signatures(lowercase=True, tokenize="intl")
    assert set(signatures) == {"bleu", "chrf"}
    assert "nrefs:1|case:lc|" in signatures["bleu"]
    assert "tok:intl" in signatures["bleu"]
    assert f"version:{sacrebleu.__version__}" in signatures["bleu"]
    assert "case:lc" in signatures["chrf"] and "nc:6" in signatures["chrf"]
    assert "case:mixed" in translation_signatures()["bleu"]


def test_signature_is_logged(caplog):
    with caplog.at_level(logging.INFO, logger="spacy_rnn"):
        make_translation_scorer(tokenize="char")(make_examples(HYPOTHESES, REFERENCES))
    signatures = translation_signatures(tokenize="char")
    assert any(
        signatures["bleu"] in record.getMessage() and signatures["chrf"] in record.getMessage()
        for record in caplog.records
        if record.name == "spacy_rnn"
    )


def test_signature_path_gets_json(tmp_path):
    path = tmp_path / "metrics" / "signatures.json"
    scorer = make_translation_scorer(lowercase=True, signature_path=str(path))
    assert not path.exists()
    scorer(make_examples(HYPOTHESES, REFERENCES))
    assert srsly.read_json(path) == translation_signatures(lowercase=True)


class CopyTranslator:
    """A stand-in translator for tests: 'translates' a doc into its own text."""

    def __init__(self, scorer):
        self.scorer = scorer

    def __call__(self, doc: Doc) -> Doc:
        doc._.translation = doc.text
        return doc

    def score(self, examples, **kwargs):
        return self.scorer(examples, **kwargs)


@Language.factory(
    "test_copy_translator",
    default_config={"scorer": {"@scorers": "spacy-rnn.translation_scorer.v1"}},
    default_score_weights={"translation_bleu": 1.0, "translation_chrf": 0.0},
)
def make_copy_translator(nlp: Language, name: str, scorer):
    return CopyTranslator(scorer)


def test_scores_work_with_score_weights_in_training_loop():
    nlp = spacy.blank("en")
    nlp.add_pipe("test_copy_translator", config={"scorer": {"tokenize": "intl"}})
    weights = nlp.config["training"]["score_weights"]
    assert weights == {"translation_bleu": 1.0, "translation_chrf": 0.0}
    sentences = REFERENCES + ["A short one ."]
    references = REFERENCES + ["Ein kurzer ."]

    def dev_corpus(nlp: Language):
        for source, target in zip(sentences, references):
            predicted = nlp.make_doc(source)
            gold = predicted.copy()
            gold._.translation = target
            yield Example(predicted, gold)

    score, scores = create_evaluation_callback(nlp, dev_corpus, weights)()
    expected = sacrebleu.corpus_bleu(sentences, [references], tokenize="intl").score / 100
    assert 0.0 < expected < 1.0
    assert score == pytest.approx(expected)
    assert scores["translation_bleu"] == pytest.approx(expected)
    expected_chrf = sacrebleu.corpus_chrf(sentences, [references]).score / 100
    assert scores["translation_chrf"] == pytest.approx(expected_chrf)
    assert 0.0 < scores["translation_chrf"] < 1.0
