"""Bad input not covered by ``tests/pipeline/``: a 100,000-character doc, scripts the models
never saw (Cyrillic, Devanagari), and a misspelled attention name in a config.

(Covered there already: empty and whitespace docs, a 20,000-token doc and odd Unicode through
the tagger, Japanese/emoji/Greek and a source longer than ``max_source_pieces`` through the
translator, a misspelled cell.)
"""
import time
import warnings

import pytest
import spacy
from spacy.util import load_config, load_model_from_config
from thinc.api import ConfigValidationError

from tiny_pipelines import ROOT_CONFIGS, trained_tagger, trained_translator

LABELS = {"J", "N", "R", "V"}
SENTENCE = "the man eats an apple and a woman reads a book . "
LONG_TEXT = (SENTENCE * (100_000 // len(SENTENCE) + 1))[:100_000]
ONE_LONG_WORD = "abcdefghij" * 10_000
UNSEEN = {
    "cyrillic": "Кошка спит на диване, а собака бегает во дворе.",
    "devanagari": "बिल्ली सोफ़े पर सोती है और कुत्ता आँगन में दौड़ता है।",
}


@pytest.fixture(scope="module")
def tagger():
    return trained_tagger()


@pytest.fixture(scope="module")
def translator():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return trained_translator(max_source_pieces=64)


def test_100k_character_doc_through_tagger(tagger):
    assert len(LONG_TEXT) == 100_000
    start = time.perf_counter()
    doc = tagger(LONG_TEXT)
    assert len(doc) > 15_000
    assert {token.tag_ for token in doc} <= LABELS and all(token.tag_ for token in doc)
    word = tagger(ONE_LONG_WORD)
    assert len(word) == 1 and word[0].tag_ in LABELS
    assert time.perf_counter() - start < 60


def test_100k_character_doc_through_translator(translator):
    start = time.perf_counter()
    with pytest.warns(UserWarning, match="longer than max_source_pieces = 64"):
        doc = translator(LONG_TEXT)
    assert isinstance(doc._.translation, str) and len(doc._.translation) > 1_000
    with pytest.warns(UserWarning, match="longer than max_source_pieces = 64"):
        word = translator(ONE_LONG_WORD)
    assert isinstance(word._.translation, str)
    assert time.perf_counter() - start < 60


@pytest.mark.parametrize("script", sorted(UNSEEN))
def test_unseen_script_is_tagged(tagger, script):
    doc = tagger(UNSEEN[script])
    assert len(doc) > 5
    assert all(token.tag_ in LABELS for token in doc)
    # alone and in a batch with seen text: the same tags
    batch = list(tagger.pipe(["I like green eggs", UNSEEN[script]]))
    assert [t.tag_ for t in batch[1]] == [t.tag_ for t in doc]


@pytest.mark.parametrize("script", sorted(UNSEEN))
def test_unseen_script_is_translated(translator, script):
    doc = translator(UNSEEN[script])
    assert isinstance(doc._.translation, str) and doc._.translation.strip()
    batch = list(translator.pipe(["the cat sleeps", UNSEEN[script]]))
    assert batch[1]._.translation == doc._.translation


@pytest.mark.parametrize("setting,value,message", [
    ("hidden", 0, "hidden must be >= 1, got 0"),
    ("emb_size", 0, "emb_size must be >= 1, got 0"),
    ("encoder_depth", -1, "encoder_depth must be >= 1, got -1"),
    ("decoder_depth", 0, "decoder_depth must be >= 1, got 0"),
    ("max_source_pieces", 0, "max_source_pieces must be >= 1, got 0"),
    ("max_source_pieces", -3, "max_source_pieces must be >= 1, got -3"),
    ("dropout", 1.5, r"dropout must be >= 0 and < 1 \(0 = none\), got 1.5"),
    ("label_smoothing", 1.5, "label_smoothing must be >= 0 and < 1 .*got 1.5"),
    ("label_smoothing", -0.5, "label_smoothing must be >= 0 and < 1 .*got -0.5"),
    ("character_coverage", 0.0, r"character_coverage must be between 0.98 and 1 \(SentencePiece's "
                                r"limits.*got 0.0"),
])
def test_bad_translator_model_settings_name_the_setting(setting, value, message):
    """Refused when the pipeline is built, not deep in torch or SentencePiece at the first
    update (or never, for a negative label_smoothing or max_source_pieces)."""
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="Seq2SeqTranslator: " + message):
        nlp.add_pipe("rnn_translator", config={"model": {setting: value}})


def test_misspelled_attention_fails_validation_listing_allowed_values():
    nlp = spacy.blank("en")
    with pytest.raises(ConfigValidationError) as error:
        nlp.add_pipe("rnn_translator", config={"model": {"attention": "bahdanua"}})
    message = str(error.value)
    assert "bahdanua" in message
    assert all(f"'{name}'" in message for name in ("none", "bahdanau", "luong"))


def test_misspelled_attention_in_a_shipped_config_fails_validation():
    config = load_config(ROOT_CONFIGS / "translator_gru.cfg", overrides={
        f"paths.{split}_{side}": f"{split}.{side}"
        for split in ("train", "dev") for side in ("source", "target")})
    config["components"]["rnn_translator"]["model"]["attention"] = "bahdanua"
    with pytest.raises(ConfigValidationError) as error:
        load_model_from_config(config, auto_fill=True, validate=True)
    message = str(error.value)
    assert "attention" in message and "bahdanua" in message
    assert all(f"'{name}'" in message for name in ("none", "bahdanau", "luong"))


TAGGER_SETTINGS = {"tok2vec": {"width": 16, "rows": [50, 50, 50, 50]}, "encoder": {"width": 16}}


def tagger_with(part: str, **settings) -> None:
    """Build an rnn_tagger whose ``model.<part>`` block has ``settings`` changed."""
    model = {key: dict(value) for key, value in TAGGER_SETTINGS.items()}
    model.setdefault(part, {}).update(settings)
    spacy.blank("en").add_pipe("rnn_tagger", config={"model": model})


@pytest.mark.parametrize("part,settings,message", [
    ("tok2vec", {"rows": [0, 50, 50, 50]}, r"WordCharEmbed.v1: rows\[0\] \(the table for NORM\) must be "
                                           r">= 1, got 0"),
    ("tok2vec", {"rows": [50, 50, 50, -5]}, r"WordCharEmbed.v1: rows\[3\] \(the table for SHAPE\) must "
                                            r"be >= 1, got -5"),
    ("tok2vec", {"rows": [50, 50, 50]}, r"WordCharEmbed.v1: rows and attrs need one entry per hashed "
                                        r"feature.*got 3 rows \[50, 50, 50\] for 4 attrs"),
    ("tok2vec", {"rows": [], "attrs": []}, r"WordCharEmbed.v1: rows and attrs need .*at least one"),
    ("tok2vec", {"attrs": ["NORM", "PREFIX", "SUFIX", "SHAPE"]},
     r"WordCharEmbed.v1: attrs\[2\] = 'SUFIX' is not a spaCy token attribute"),
    ("tok2vec", {"width": 0, "rows": [50, 50, 50, 50]}, r"WordCharEmbed.v1: width must be >= 1, got 0"),
    ("tok2vec", {"word_dropout": 1.0}, r"WordCharEmbed.v1: word_dropout must be in \[0, 1\), got 1.0"),
    ("char_embed", {"rows": 0}, r"CharEmbed.v1: rows must be >= 2, got 0"),
    ("encoder", {"dropout": 1.5}, r"RNNEncoder.v1: dropout must be >= 0 and < 1 \(0 = none\), got 1.5"),
    ("encoder", {"dropout": -0.1}, r"RNNEncoder.v1: dropout must be >= 0 and < 1 .*got -0.1"),
    ("encoder", {"depth": 0}, r"RNNEncoder.v1: depth must be >= 1, got 0"),
    ("encoder", {"width": -4}, r"RNNEncoder.v1: width must be >= 1, got -4"),
    ("encoder", {"width": 15}, r"RNNEncoder.v1: a bidirectional encoder .* width must be even; got "
                               r"width = 15"),
])
def test_bad_tagger_model_settings_name_the_function_and_setting(part, settings, message):
    """Refused when the pipeline is built, instead of failing inside thinc ("negative dimensions
    are not allowed", "Out of bounds on buffer access") or torch at the first call."""
    if part == "char_embed":
        part, settings = "tok2vec", {"char_embed": settings}
    with pytest.raises(ValueError, match="spacy-rnn." + message):
        tagger_with(part, **settings)


def test_encoder_settings_are_checked_in_any_component():
    """The encoder slot of spaCy's own tagger: same check, same message."""
    nlp = spacy.blank("en")
    config = {"model": {"tok2vec": {
        "@architectures": "spacy.Tok2Vec.v2",
        "embed": {"@architectures": "spacy.MultiHashEmbed.v2", "width": 16, "rows": [50],
                  "attrs": ["NORM"], "include_static_vectors": False},
        "encode": {"@architectures": "spacy-rnn.RNNEncoder.v1", "width": 16, "depth": 1,
                   "dropout": 1.0}}}}
    with pytest.raises(ValueError, match=r"spacy-rnn.RNNEncoder.v1: dropout must be >= 0 and < 1"):
        nlp.add_pipe("tagger", config=config)
