"""Tests for the ``rnn_translator`` component (``spacy-rnn.Seq2SeqTranslator.v1``).

The models are tiny (32-wide embeddings, 64 hidden units, ~80 SentencePiece
pieces) and memorize a 20-pair toy corpus with full-batch updates at learn rate
0.01 within ~30-50 updates with attention (~50-130 without, for LSTM and GRU;
a vanilla RNN without attention needs 500+); the tests train 100 (200 without
attention), which reproduced every target with greedy and beam search for seeds
0-7 of each tested setting (the tests use seed 0).
"""
import io
import pickle
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import sentencepiece as spm
import spacy
from thinc.api import ConfigValidationError
import srsly
import torch
from spacy.language import Language
from spacy.training import Example
from thinc.api import fix_random_seed

from spacy_rnn.architectures.translator import int8_cache, torch_module
from spacy_rnn.architectures.sentencepiece import (BOS_ID, EOS_ID, PAD_ID, UNK_ID,
                                                   load_sentencepiece)

PAIRS = [
    ("the cat sleeps", "die katze schläft"),
    ("a dog runs", "ein hund läuft"),
    ("the dog sleeps", "der hund schläft"),
    ("a cat runs fast", "eine katze läuft schnell"),
    ("two men talk", "zwei männer reden"),
    ("the man eats an apple", "der mann isst einen apfel"),
    ("a woman reads a book", "eine frau liest ein buch"),
    ("the children play outside", "die kinder spielen draußen"),
    ("the boy drinks water", "der junge trinkt wasser"),
    ("a girl sings a song", "ein mädchen singt ein lied"),
    ("two dogs play in the park", "zwei hunde spielen im park"),
    ("the woman walks home", "die frau geht nach hause"),
    ("a man rides a bike", "ein mann fährt ein fahrrad"),
    ("the girl eats bread", "das mädchen isst brot"),
    ("three cats sleep", "drei katzen schlafen"),
    ("the boy reads a letter", "der junge liest einen brief"),
    ("a woman drinks coffee", "eine frau trinkt kaffee"),
    ("the men work today", "die männer arbeiten heute"),
    ("a child laughs", "ein kind lacht"),
    ("the dog eats meat", "der hund frisst fleisch"),
]
SOURCES = [source for source, _ in PAIRS]
TARGETS = [target for _, target in PAIRS]
SMALL = {"emb_size": 32, "hidden": 64, "vocab_size": 80}
LONGER = [
    "the man eats an apple and the woman reads a book in the park today",
    "two dogs play in the park while three cats sleep and a child laughs",
]
CAP_WARNING = "SentencePiece: the training texts support at most"


def make_nlp(cell: str = "gru", attention: str = "bahdanau", beam_size: int = 1,
             quantize: Optional[str] = None, **model) -> Language:
    fix_random_seed(0)
    nlp = spacy.blank("en")
    config = {"model": {**SMALL, "cell": cell, "attention": attention, **model},
              "beam_size": beam_size, "quantize": quantize}
    nlp.add_pipe("rnn_translator", config=config)
    return nlp


def examples(nlp: Language, pairs=PAIRS) -> List[Example]:
    egs = []
    for source, target in pairs:
        reference = nlp.make_doc(source)
        reference._.translation = target
        egs.append(Example(nlp.make_doc(source), reference))
    return egs


def train(nlp: Language, n_iter: int = 100, egs: Optional[List[Example]] = None) -> float:
    egs = examples(nlp) if egs is None else egs
    optimizer = nlp.initialize(lambda: egs)
    optimizer.learn_rate = 0.01
    losses: Dict[str, float] = {}
    for _ in range(n_iter):
        losses = {}
        nlp.update(egs, sgd=optimizer, losses=losses)
    return losses["rnn_translator"]


def translate(nlp: Language, texts: List[str], **kwargs) -> List[str]:
    return [doc._.translation for doc in nlp.pipe(texts, **kwargs)]


def one_by_one(nlp: Language, texts: List[str]) -> List[str]:
    return [nlp(text)._.translation for text in texts]


@pytest.fixture(scope="module")
def trained() -> Language:
    """A GRU + Bahdanau translator that has memorized PAIRS (greedy search)."""
    nlp = make_nlp("gru", "bahdanau")
    train(nlp)
    assert translate(nlp, SOURCES) == TARGETS
    return nlp


@pytest.fixture
def beam(trained, monkeypatch):
    """Set the trained translator's beam size for one test."""
    def set_beam(size: int) -> Language:
        monkeypatch.setitem(trained.get_pipe("rnn_translator").cfg, "beam_size", size)
        return trained

    return set_beam


# -- overfitting and serialization ----------------------------------------------------------
@pytest.mark.parametrize("cell,attention,n_iter", [
    ("rnn", "bahdanau", 100),
    ("lstm", "bahdanau", 100),
    ("gru", "bahdanau", 100),
    ("gru", "luong", 100),
    ("lstm", "none", 200),
])
def test_overfitting_IO(cell, attention, n_iter, tmp_path):
    nlp = make_nlp(cell, attention)
    egs = examples(nlp)
    train(nlp, n_iter, egs)
    greedy = one_by_one(nlp, SOURCES)
    assert greedy == TARGETS
    scores = nlp.evaluate(egs)
    assert scores["bleu"] == 1.0
    assert scores["chrf"] == 1.0
    # batched == one by one (the batch mixes sentences of 3 to 6 words)
    assert translate(nlp, SOURCES, batch_size=7) == greedy

    nlp.to_disk(tmp_path)
    nlp2 = spacy.load(tmp_path)
    translator2 = nlp2.get_pipe("rnn_translator")
    # srsly's JSON reader gives 0.6000000000000001 for the saved length_penalty 0.6
    assert translator2.cfg == pytest.approx(nlp.get_pipe("rnn_translator").cfg)
    assert translator2.model.get_ref("core").attrs["hyper"]["cell"] == cell
    assert one_by_one(nlp2, SOURCES) == greedy
    assert translate(nlp2, SOURCES) == greedy

    translator2.cfg["beam_size"] = 5
    assert one_by_one(nlp2, SOURCES) == TARGETS
    assert translate(nlp2, SOURCES, batch_size=7) == TARGETS


def test_add_pipe_merges_partial_model_config():
    nlp = spacy.blank("en")
    translator = nlp.add_pipe("rnn_translator",
                              config={"model": {"cell": "gru", "attention": "luong"}})
    model_config = nlp.config["components"]["rnn_translator"]["model"]
    assert model_config["@architectures"] == "spacy-rnn.Seq2SeqTranslator.v1"
    assert (model_config["cell"], model_config["attention"]) == ("gru", "luong")
    assert (model_config["emb_size"], model_config["hidden"]) == (128, 256)  # defaults
    hyper = translator.model.get_ref("core").attrs["hyper"]
    assert (hyper["cell"], hyper["attention"], hyper["vocab_size"]) == ("gru", "luong", 8000)
    assert translator.cfg["beam_size"] == 5


def test_bad_settings_are_rejected():
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="beam_size must be an integer >= 1"):
        nlp.add_pipe("rnn_translator", config={"beam_size": 0})
    with pytest.raises(ConfigValidationError, match=r"cell\s+at root: 'lsmt' is not typing.Literal\['rnn', 'lstm', 'gru'\]"):
        nlp.add_pipe("rnn_translator", config={"model": {"cell": "lsmt"}})
    with pytest.raises(ValueError, match="even hidden size"):
        nlp.add_pipe("rnn_translator", config={"model": {"hidden": 63}})


BAD_SEARCH = [
    ({"length_penalty": -1.0}, r"length_penalty must be >= 0 \(0 = no penalty\), got -1.0"),
    ({"max_length_ratio": -1.0}, "max_length_ratio must be >= 0, got -1.0"),
    ({"max_length_constant": -20}, "max_length_constant must be >= 0, got -20"),
    ({"max_length_ratio": 0.0, "max_length_constant": 0},
     "max_length_ratio and max_length_constant are both 0.*set max_length_ratio"),
]


@pytest.mark.parametrize("settings,message", BAD_SEARCH)
def test_bad_search_settings_are_rejected(settings, message, trained, tmp_path):
    with pytest.raises(ValueError, match=message):
        spacy.blank("en").add_pipe("rnn_translator", config=settings)
    trained.to_disk(tmp_path)
    with pytest.raises(ValueError, match=message):
        spacy.load(tmp_path, config={"components": {"rnn_translator": settings}})


@pytest.mark.parametrize("settings,message", BAD_SEARCH + [
    ({"beam_size": 0}, r"beam_size must be an integer >= 1 \(1 = greedy search\), got 0"),
    ({"beam_size": 2.5}, r"beam_size must be an integer >= 1 .*got 2\.5")])
def test_bad_search_settings_set_at_runtime_are_rejected(settings, message, trained,
                                                         monkeypatch):
    """predict reads cfg: a runtime change is checked there (not run as greedy search, nor
    ignored where beam_size = 1)."""
    translator = trained.get_pipe("rnn_translator")
    for key, value in settings.items():
        monkeypatch.setitem(translator.cfg, key, value)
    with pytest.raises(ValueError, match=message):
        trained("the cat sleeps")


def test_bytes_round_trip(trained):
    nlp2 = make_nlp("gru", "bahdanau")
    nlp2.from_bytes(trained.to_bytes())
    assert translate(nlp2, SOURCES) == TARGETS


def test_save_and_load_before_initialize(tmp_path):
    nlp = make_nlp()
    nlp.to_disk(tmp_path)
    nlp2 = spacy.load(tmp_path)
    train(nlp2)
    assert translate(nlp2, SOURCES) == TARGETS


# -- search and batching --------------------------------------------------------------------
@pytest.mark.parametrize("beam_size", [1, 5])
def test_batch_independence(beam, beam_size):
    nlp = beam(beam_size)
    texts = SOURCES + LONGER
    alone = one_by_one(nlp, texts)
    assert alone[:len(SOURCES)] == TARGETS
    batched = translate(nlp, LONGER + texts + LONGER, batch_size=64)
    assert batched[len(LONGER):-len(LONGER)] == alone
    for i, source in enumerate(SOURCES):
        mixed = translate(nlp, [LONGER[0], source, LONGER[1]])
        assert mixed[1] == alone[i]


def test_beam_settings_come_from_cfg(beam):
    nlp = beam(5)
    translator = nlp.get_pipe("rnn_translator")
    translator.cfg["max_length_ratio"] = 0.0
    translator.cfg["max_length_constant"] = 1
    try:
        # at most one piece per sentence, however long the source
        assert all(len(t.split()) <= 1 for t in one_by_one(nlp, SOURCES + LONGER))
    finally:
        translator.cfg["max_length_ratio"] = 1.5
        translator.cfg["max_length_constant"] = 10
    assert one_by_one(nlp, SOURCES) == TARGETS


# -- int8 decoding and decoding settings on load ---------------------------------------------
@pytest.mark.parametrize("beam_size", [1, 5])
def test_int8_decoding_keeps_memorized_translations(beam, beam_size, monkeypatch):
    nlp = beam(beam_size)
    translator = nlp.get_pipe("rnn_translator")
    monkeypatch.setitem(translator.cfg, "quantize", "int8")
    cache = int8_cache(translator.model)
    cache.clear()
    assert translate(nlp, SOURCES) == TARGETS
    int8 = cache.copy
    assert "quantized" in type(int8.generator).__module__
    assert translate(nlp, SOURCES[:3]) == TARGETS[:3]
    assert cache.copy is int8  # made once, reused
    core = translator.model.get_ref("core")
    assert type(core.shims[0]._model.generator).__name__ == "Linear"  # float model kept


def test_int8_copy_is_remade_after_an_update():
    nlp = make_nlp("lstm", "luong", quantize="int8")
    egs = examples(nlp)
    train(nlp, n_iter=2, egs=egs)
    cache = int8_cache(nlp.get_pipe("rnn_translator").model)
    nlp("the cat sleeps")
    first = cache.copy
    assert first is not None
    nlp.update(egs, sgd=nlp.create_optimizer())
    assert cache.copy is None  # training emptied it
    nlp("the cat sleeps")
    assert cache.copy is not None and cache.copy is not first
    new_weights = cache.copy.generator.weight()
    assert not torch.equal(new_weights.int_repr(), first.generator.weight().int_repr())


def test_int8_copy_made_between_backprop_and_step_is_not_reused_after_the_step():
    """nlp.update(sgd=None) then decoding then finish_update: the step writes the weights in
    place (same storage, same tensor versions), so only the shim's step count tells."""
    nlp = make_nlp("lstm", "luong", quantize="int8")
    egs = examples(nlp)
    train(nlp, n_iter=2, egs=egs)
    cache = int8_cache(nlp.get_pipe("rnn_translator").model)
    nlp.update(egs, sgd=None)  # gradients, no step yet
    nlp("the cat sleeps")
    before_step = cache.copy
    nlp.get_pipe("rnn_translator").finish_update(nlp.create_optimizer())
    nlp("the cat sleeps")
    assert cache.copy is not None and cache.copy is not before_step
    after = cache.copy.generator.weight().int_repr()
    assert not torch.equal(after, before_step.generator.weight().int_repr())


def test_int8_copy_is_remade_when_weights_change_outside_training(trained, monkeypatch):
    translator = trained.get_pipe("rnn_translator")
    monkeypatch.setitem(translator.cfg, "quantize", "int8")
    cache = int8_cache(translator.model)
    cache.clear()
    saved = translator.model.to_bytes()
    trained("the cat sleeps")
    first = cache.copy
    translator.model.from_bytes(saved)  # replaces the torch module
    trained("the cat sleeps")
    second = cache.copy
    assert second is not first
    module = torch_module(translator.model.get_ref("core"))
    with torch.no_grad():
        module.generator.bias.add_(0.0)  # an in-place write (bumps the tensor's version)
    trained("the cat sleeps")
    third = cache.copy
    assert third is not second
    bias = module.generator.bias
    bias.data = bias.data.clone()  # new storage, same version (as thinc's optimizer assigns)
    trained("the cat sleeps")
    fourth = cache.copy
    assert fourth is not None and fourth is not third
    trained("the cat sleeps")
    assert cache.copy is fourth  # then kept again


def test_int8_copy_does_not_travel_when_pickled(trained, monkeypatch):
    translator = trained.get_pipe("rnn_translator")
    monkeypatch.setitem(translator.cfg, "quantize", "int8")
    trained("the cat sleeps")
    assert int8_cache(translator.model).copy is not None
    copied = pickle.loads(pickle.dumps(translator.model))
    assert int8_cache(copied).copy is None
    search = {"beam_size": 1, "length_penalty": 0.6, "max_length_ratio": 1.5,
              "max_length_constant": 10, "quantize": "int8"}
    assert copied.get_ref("translate").predict((SOURCES[:2], search)) == TARGETS[:2]
    assert int8_cache(copied).copy is not None


def test_unknown_quantize_value_lists_the_allowed_ones():
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="quantize must be one of null, 'int8', got 'int4'"):
        nlp.add_pipe("rnn_translator", config={"quantize": "int4"})


def test_decoding_settings_on_load_come_from_the_config(trained, tmp_path):
    trained.to_disk(tmp_path)
    overrides = {"components": {"rnn_translator": {"beam_size": 3, "quantize": "int8"}}}
    nlp = spacy.load(tmp_path, config=overrides)
    translator = nlp.get_pipe("rnn_translator")
    assert (translator.cfg["beam_size"], translator.cfg["quantize"]) == (3, "int8")
    assert translate(nlp, SOURCES) == TARGETS
    plain = spacy.load(tmp_path).get_pipe("rnn_translator")
    assert (plain.cfg["beam_size"], plain.cfg["quantize"]) == (1, None)


def test_runtime_cfg_change_that_is_not_kept_is_announced(trained, tmp_path, monkeypatch):
    monkeypatch.setitem(trained.get_pipe("rnn_translator").cfg, "beam_size", 3)
    trained.to_disk(tmp_path)
    with pytest.warns(UserWarning, match=r"decoding settings \{'beam_size': 3\} that were changed"):
        nlp = spacy.load(tmp_path)
    assert nlp.get_pipe("rnn_translator").cfg["beam_size"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # deliberate overrides at load time: no warning
        overrides = {"components": {"rnn_translator": {"beam_size": 3}}}
        nlp = spacy.load(tmp_path, config=overrides)
    assert nlp.get_pipe("rnn_translator").cfg["beam_size"] == 3


def test_max_source_pieces_on_load_comes_from_the_config(trained, tmp_path):
    trained.to_disk(tmp_path)
    overrides = {"components": {"rnn_translator": {"model": {"max_source_pieces": 4}}}}
    nlp = spacy.load(tmp_path, config=overrides)
    core = nlp.get_pipe("rnn_translator").model.get_ref("core")
    assert core.attrs["hyper"]["max_source_pieces"] == 4
    with pytest.warns(UserWarning, match="longer than max_source_pieces = 4"):
        nlp("the man eats an apple")
    nlp.to_disk(tmp_path / "again")  # saved with its config, so the value stays
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = spacy.load(tmp_path / "again")
    assert again.get_pipe("rnn_translator").model.get_ref("core").attrs["hyper"][
        "max_source_pieces"] == 4


def test_runtime_max_source_pieces_change_that_is_not_kept_is_announced(trained, tmp_path,
                                                                        monkeypatch):
    hyper = trained.get_pipe("rnn_translator").model.get_ref("core").attrs["hyper"]
    monkeypatch.setitem(hyper, "max_source_pieces", 50)
    trained.to_disk(tmp_path)
    with pytest.warns(UserWarning, match=r"settings \{'model': \{'max_source_pieces': 50\}\} "
                                         r"that were changed at runtime"):
        nlp = spacy.load(tmp_path)
    assert nlp.get_pipe("rnn_translator").model.get_ref("core").attrs["hyper"][
        "max_source_pieces"] == 200


@pytest.mark.parametrize("overrides,message", [
    ({"hidden": 128, "cell": "lstm"}, r"cell = 'lstm' \(trained with 'gru'\), hidden = 128 "
                                      r"\(trained with 64\)"),
    ({"attention": "luong", "max_source_pieces": 100}, r"attention = 'luong' \(trained with "
                                                       r"'bahdanau'\)\. The saved weights"),
    ({"vocab_size": 500}, r"vocab_size = 500 \(trained with 80\)"),
])
def test_fixed_model_settings_on_load_keep_the_saved_ones_with_a_warning(trained, tmp_path,
                                                                        overrides, message):
    trained.to_disk(tmp_path)
    prefix = r"\[rnn_translator\] the config sets model settings that cannot change after training: "
    with pytest.warns(UserWarning, match=prefix + message):
        loaded = spacy.load(tmp_path, config={"components": {"rnn_translator": {"model": overrides}}})
    with pytest.warns(UserWarning, match=prefix + message):
        rebuilt = make_nlp(**{"cell": "gru", "attention": "bahdanau", **overrides}).from_bytes(
            trained.to_bytes())
    expected = [doc._.translation for doc in trained.pipe(SOURCES[:3])]
    for nlp in (loaded, rebuilt):
        hyper = nlp.get_pipe("rnn_translator").model.get_ref("core").attrs["hyper"]
        assert all(hyper[k] == v for k, v in overrides.items() if k == "max_source_pieces")
        assert [doc._.translation for doc in nlp.pipe(SOURCES[:3])] == expected


# -- sentences, long, empty and odd input -----------------------------------------------------
def test_set_sentence_starts_translate_sentence_by_sentence(trained):
    indices = [0, 6, 18]  # "the cat sleeps", "the man eats an apple", "a child laughs"
    doc = trained.make_doc(" ".join(SOURCES[i] for i in indices))
    starts = set()
    offset = 0
    for i in indices:
        starts.add(offset)
        offset += len(SOURCES[i].split())
    for token in doc:
        token.is_sent_start = token.i in starts
    doc = trained(doc)
    assert [sent.text for sent in doc.sents] == [SOURCES[i] for i in indices]
    assert doc._.translation == " ".join(TARGETS[i] for i in indices)


def test_sentencizer_before_translator(trained):
    nlp = trained
    nlp.add_pipe("sentencizer", before="rnn_translator")
    try:
        text = "the cat sleeps. a dog runs! the children play outside. two men talk"
        doc = nlp(text)
        sentences = [sent.text for sent in doc.sents]
        assert len(sentences) == 4
        alone = [nlp(sentence)._.translation for sentence in sentences]
        assert doc._.translation == " ".join(alone)
        assert translate(nlp, [text, "a child laughs", text]) == [
            doc._.translation, "ein kind lacht", doc._.translation]
        assert nlp("   ")._.translation == ""
        assert nlp("")._.translation == ""
    finally:
        nlp.remove_pipe("sentencizer")
    assert nlp.pipe_names == ["rnn_translator"]


def test_long_source_is_split_with_warning():
    nlp = make_nlp(max_source_pieces=8)
    with pytest.warns(UserWarning, match=r"Seq2SeqTranslator: \d+ of 20 training pairs are longer "
                                         r"than training takes: sources are cut to "
                                         r"max_source_pieces = 8 pieces, targets to 16 .*Raise "
                                         r"max_source_pieces"):
        train(nlp, n_iter=20)
    long_source = " ".join(LONGER)
    pieces = load_sentencepiece(
        nlp.get_pipe("rnn_translator").model.get_ref("core").attrs["spm_source"]).encode(long_source)
    assert len(pieces) > 8
    with pytest.warns(UserWarning, match=r"longer than max_source_pieces = 8.*for a saved pipeline: "
                                         r"spacy\.load\(path, config=\{'components': \{"
                                         r"'<translator name>': \{'model': \{'max_source_pieces': N"):
        batch = translate(nlp, ["the cat sleeps", long_source, "a dog runs"])
    assert isinstance(batch[1], str) and batch[1].strip()
    assert [batch[0], batch[2]] == one_by_one(nlp, ["the cat sleeps", "a dog runs"])


def test_empty_and_whitespace_docs(trained):
    assert trained("")._.translation == ""
    assert trained("   ")._.translation == ""
    assert trained(" \n\t ")._.translation == ""
    assert translate(trained, ["", "the cat sleeps", "  ", ""]) == ["", "die katze schläft", "", ""]
    assert translate(trained, ["", " "]) == ["", ""]


@pytest.mark.parametrize("beam_size", [1, 5])
def test_unseen_scripts_do_not_crash(beam, beam_size):
    nlp = beam(beam_size)
    texts = ["猫が寝る", "😀😀 🚀", "Ζῷον 🙂 ⟨∀x⟩ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "the cat 😀 sleeps", "\x00"]
    assert all(isinstance(t, str) for t in translate(nlp, texts))
    assert one_by_one(nlp, texts) == translate(nlp, texts)


# -- errors -----------------------------------------------------------------------------------
E109 = r"\[E109\] Component 'rnn_translator' could not be run\. Did you forget to call `initialize\(\)`"


@pytest.mark.parametrize("use", ["call", "pipe", "update", "saved"])
def test_use_before_initialize_is_spacys_e109(use, tmp_path):
    nlp = make_nlp()
    if use == "saved":
        nlp.to_disk(tmp_path)
        nlp = spacy.load(tmp_path)
    with pytest.raises(ValueError, match=E109):
        if use == "update":
            nlp.update(examples(nlp))
        elif use == "pipe":
            list(nlp.pipe(["the cat sleeps", "a dog runs"]))
        else:
            nlp("the cat sleeps")


def test_initialize_without_reference_translations_is_an_error():
    nlp = make_nlp()
    egs = [Example(nlp.make_doc(source), nlp.make_doc(source)) for source in SOURCES]
    with pytest.raises(ValueError, match=r"the training corpus yielded no examples with a non-empty "
                                         r"source and reference translation \(doc\._\.translation\)"
                                         r".*empty files, or every pair skipped as empty"):
        nlp.initialize(lambda: egs)


def empty_examples(nlp: Language) -> List[Example]:
    """Hand-made examples without a translation, with an empty one, and with an empty source."""
    no_translation = Example(nlp.make_doc("the cat sleeps"), nlp.make_doc("the cat sleeps"))
    empty_source = examples(nlp, [("  ", "die katze")])[0]
    return [no_translation, examples(nlp, [("a dog runs", " ")])[0], empty_source]


def test_training_examples_without_source_or_translation_are_counted_once():
    nlp = make_nlp()
    egs = examples(nlp) + empty_examples(nlp)
    with pytest.warns(UserWarning, match=r"\[rnn_translator\] 3 of 23 training examples were "
                                         r"skipped because their source text or reference "
                                         r"translation \(doc\._\.translation\) is empty"):
        optimizer = nlp.initialize(lambda: egs)
    with warnings.catch_warnings(record=True) as later:
        warnings.simplefilter("always")
        nlp.update(egs, sgd=optimizer)
    assert not [w for w in later if "training examples were skipped" in str(w.message)]


def test_examples_skipped_in_update_are_counted_once():
    nlp = make_nlp()
    optimizer = nlp.initialize(lambda: examples(nlp))
    egs = examples(nlp)[:4] + empty_examples(nlp)[:2]
    with pytest.warns(UserWarning, match="2 of 6 training examples were skipped"):
        nlp.update(egs, sgd=optimizer)
    with warnings.catch_warnings(record=True) as later:
        warnings.simplefilter("always")
        nlp.update(egs, sgd=optimizer)
    assert not [w for w in later if "training examples were skipped" in str(w.message)]


# -- SentencePiece inside the pipeline --------------------------------------------------------
def test_sentencepiece_is_stored_in_the_pipeline(trained, tmp_path):
    core = trained.get_pipe("rnn_translator").model.get_ref("core")
    assert core.attrs["spm_source"] and core.attrs["spm_source"] == core.attrs["spm_target"]
    trained.to_disk(tmp_path)
    files = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert {f for f in files if f.startswith("rnn_translator/")} == {
        "rnn_translator/cfg", "rnn_translator/model"}
    assert not [f for f in files if f.endswith((".model", ".vocab")) or "sentencepiece" in f]
    assert core.attrs["spm_source"] in (tmp_path / "rnn_translator" / "model").read_bytes()
    nlp2 = spacy.load(tmp_path)
    core2 = nlp2.get_pipe("rnn_translator").model.get_ref("core")
    assert core2.attrs["spm_source"] == core.attrs["spm_source"]
    assert translate(nlp2, SOURCES) == TARGETS


def test_tiny_corpus_caps_vocab_size_with_warning():
    nlp = make_nlp(vocab_size=1000)
    egs = examples(nlp)
    with pytest.warns(UserWarning, match=CAP_WARNING):
        nlp.initialize(lambda: egs)
    core = nlp.get_pipe("rnn_translator").model.get_ref("core")
    size = load_sentencepiece(core.attrs["spm_source"]).get_piece_size()
    assert 8 < size < 1000
    assert isinstance(nlp("the cat sleeps")._.translation, str)


def test_separate_vocabularies():
    nlp = make_nlp(shared_vocab=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=CAP_WARNING)
        train(nlp)
    core = nlp.get_pipe("rnn_translator").model.get_ref("core")
    assert core.attrs["spm_source"] != core.attrs["spm_target"]
    source, target = (load_sentencepiece(core.attrs[key]) for key in ("spm_source", "spm_target"))
    source_pieces = {source.id_to_piece(i) for i in range(source.get_piece_size())}
    target_pieces = {target.id_to_piece(i) for i in range(target.get_piece_size())}
    assert not [p for p in source_pieces if set(p) & set("äöüß")]
    assert [p for p in target_pieces if set(p) & set("äöüß")]
    module = core.shims[0]._model
    assert module.config["src_vocab"] == source.get_piece_size()
    assert module.config["tgt_vocab"] == target.get_piece_size()
    assert translate(nlp, SOURCES) == TARGETS


def write_sentencepiece_model(path: Path, texts: List[str], vocab_size: int) -> Path:
    """A .model file with the ids the translator uses (0 pad, 1 bos, 2 eos, 3 unk)."""
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=buffer, vocab_size=vocab_size,
        pad_id=PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID, unk_id=UNK_ID, minloglevel=2)
    path.write_bytes(buffer.getvalue())
    return path


def test_sentencepiece_model_with_other_special_ids_is_refused(tmp_path):
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(SOURCES + TARGETS), model_writer=buffer,
                                   vocab_size=60, minloglevel=2)  # defaults: unk 0, bos 1, eos 2
    path = tmp_path / "default_ids.model"
    path.write_bytes(buffer.getvalue())
    nlp = make_nlp()
    nlp.config["initialize"]["components"]["rnn_translator"] = {"sentencepiece_model": str(path)}
    with pytest.raises(ValueError, match=r"default_ids.model: SentencePiece special ids .*"
                                         r"--pad_id=0 --bos_id=1 --eos_id=2 --unk_id=3"):
        nlp.initialize(lambda: examples(nlp))


def test_initialize_with_sentencepiece_model_file(tmp_path):
    model_path = write_sentencepiece_model(tmp_path / "shared.model", SOURCES + TARGETS, 70)
    nlp = make_nlp(vocab_size=500)  # ignored: the file decides the vocabulary
    nlp.config["initialize"]["components"]["rnn_translator"] = {
        "sentencepiece_model": str(model_path)}
    train(nlp)
    core = nlp.get_pipe("rnn_translator").model.get_ref("core")
    assert core.attrs["spm_source"] == core.attrs["spm_target"] == model_path.read_bytes()
    assert core.shims[0]._model.config["src_vocab"] == 70
    assert translate(nlp, SOURCES) == TARGETS
    nlp.to_disk(tmp_path / "pipeline")
    model_path.unlink()  # the pipeline does not need the file any more
    assert translate(spacy.load(tmp_path / "pipeline"), SOURCES) == TARGETS


def test_initialize_with_separate_target_model_file(tmp_path):
    source_path = write_sentencepiece_model(tmp_path / "en.model", SOURCES, 50)
    target_path = write_sentencepiece_model(tmp_path / "de.model", TARGETS, 60)
    nlp = make_nlp()
    nlp.config["initialize"]["components"]["rnn_translator"] = {
        "sentencepiece_model": str(source_path), "target_sentencepiece_model": str(target_path)}
    nlp.initialize(lambda: examples(nlp))
    core = nlp.get_pipe("rnn_translator").model.get_ref("core")
    assert core.attrs["spm_source"] == source_path.read_bytes()
    assert core.attrs["spm_target"] == target_path.read_bytes()
    assert (core.shims[0]._model.config["src_vocab"],
            core.shims[0]._model.config["tgt_vocab"]) == (50, 60)


@pytest.mark.parametrize("files, shared_vocab, message", [
    ({"target_sentencepiece_model": "de.model"}, True,
     "target_sentencepiece_model is set without sentencepiece_model"),
    ({"sentencepiece_model": "en.model"}, False,
     "target_sentencepiece_model is\\s+not, and the model has shared_vocab = false"),
])
def test_sentencepiece_files_that_would_be_ignored_are_refused(tmp_path, files, shared_vocab, message):
    write_sentencepiece_model(tmp_path / "en.model", SOURCES, 50)
    write_sentencepiece_model(tmp_path / "de.model", TARGETS, 60)
    nlp = make_nlp(shared_vocab=shared_vocab)
    nlp.config["initialize"]["components"]["rnn_translator"] = {
        key: str(tmp_path / name) for key, name in files.items()}
    with pytest.raises(ValueError, match=r"\[initialize\.components\.rnn_translator\] .*" + message):
        nlp.initialize(lambda: examples(nlp))


def test_bad_sentencepiece_model_path_is_a_clear_error(tmp_path):
    nlp = make_nlp()
    missing = tmp_path / "missing.model"
    nlp.config["initialize"]["components"]["rnn_translator"] = {
        "sentencepiece_model": str(missing)}
    with pytest.raises(FileNotFoundError, match="SentencePiece model file not found: .*missing.model"):
        nlp.initialize(lambda: examples(nlp))
    not_a_model = tmp_path / "notes.model"
    not_a_model.write_text("this is not a SentencePiece model", encoding="utf8")
    nlp.config["initialize"]["components"]["rnn_translator"] = {
        "sentencepiece_model": str(not_a_model)}
    with pytest.raises(ValueError, match="notes.model is not a valid SentencePiece model"):
        nlp.initialize(lambda: examples(nlp))


# -- n-best lists, attention and decoding batches ----------------------------------------------
@pytest.fixture
def decoding(trained, monkeypatch):
    """Set decoding settings of the trained translator for one test."""
    def set_cfg(**settings) -> Language:
        for key, value in settings.items():
            monkeypatch.setitem(trained.get_pipe("rnn_translator").cfg, key, value)
        return trained

    return set_cfg


def test_nbest_is_sorted_and_starts_with_the_translation(decoding):
    nlp = decoding(beam_size=5, n_best=3)
    for doc, target in zip(nlp.pipe(SOURCES + LONGER), TARGETS + [None, None]):
        nbest = doc._.translation_nbest
        assert len(nbest) == 3
        scores = [score for _, score in nbest]
        assert scores == sorted(scores, reverse=True) and all(s < 0 for s in scores)
        assert nbest[0][0] == doc._.translation
        assert len({text for text, _ in nbest}) > 1
        if target is not None:
            assert doc._.translation == target
    assert doc._.translation_attention is None  # not asked for


def test_nbest_does_not_change_the_translation(decoding):
    plain = translate(decoding(beam_size=5, n_best=0), SOURCES + LONGER)
    assert translate(decoding(n_best=5), SOURCES + LONGER) == plain


def test_nbest_of_a_doc_in_sentences_combines_their_options(decoding):
    nlp = decoding(beam_size=4, n_best=4)
    first, second = nlp(SOURCES[0])._.translation_nbest, nlp(SOURCES[1])._.translation_nbest
    doc = nlp.make_doc(f"{SOURCES[0]} {SOURCES[1]}")
    for i, token in enumerate(doc):
        token.is_sent_start = i in (0, 3)
    nbest = nlp.get_pipe("rnn_translator")(doc)._.translation_nbest
    combined = sorted(((f"{a} {b}", sa + sb) for a, sa in first for b, sb in second),
                      key=lambda pair: -pair[1])[:4]
    assert [text for text, _ in nbest] == [text for text, _ in combined]
    assert [score for _, score in nbest] == pytest.approx([score for _, score in combined])
    assert nbest[0][0] == doc._.translation == f"{TARGETS[0]} {TARGETS[1]}"


def test_beam_one_nbest_one_is_greedy(decoding):
    texts = SOURCES + LONGER
    greedy = translate(decoding(beam_size=1, n_best=0), texts)
    docs = list(decoding(n_best=1).pipe(texts))
    assert [doc._.translation for doc in docs] == greedy
    assert [doc._.translation_nbest[0][0] for doc in docs] == greedy
    assert all(len(doc._.translation_nbest) == 1 for doc in docs)


@pytest.mark.parametrize("beam_size", [1, 5])
def test_attention_rows_sum_to_one_over_the_pieces(decoding, beam_size):
    nlp = decoding(beam_size=beam_size, return_attention=True)
    core = nlp.get_pipe("rnn_translator").model.get_ref("core")
    source_spm, target_spm = (load_sentencepiece(core.attrs[key])
                              for key in ("spm_source", "spm_target"))
    for text, doc in zip(SOURCES, nlp.pipe(SOURCES)):
        (alignment,) = doc._.translation_attention
        assert alignment["source"] == source_spm.encode(text, out_type=str)
        assert target_spm.decode(alignment["target"]) == doc._.translation
        weights = alignment["weights"]
        assert weights.shape == (len(alignment["target"]), len(alignment["source"]))
        assert weights.min() >= 0
        assert weights.sum(axis=1) == pytest.approx(1.0, abs=1e-5)
        assert doc._.translation_nbest is None  # not asked for


def test_attention_of_a_split_long_source_has_one_entry_per_chunk(decoding, monkeypatch):
    nlp = decoding(beam_size=2, return_attention=True, n_best=2)
    hyper = nlp.get_pipe("rnn_translator").model.get_ref("core").attrs["hyper"]
    monkeypatch.setitem(hyper, "max_source_pieces", 6)
    with pytest.warns(UserWarning, match="longer than max_source_pieces = 6"):
        doc = nlp(LONGER[0])
    chunks = doc._.translation_attention
    assert len(chunks) > 1
    assert [len(chunk["source"]) for chunk in chunks][:-1] == [6] * (len(chunks) - 1)
    assert doc._.translation_nbest[0][0] == doc._.translation


def test_alignment_heatmap_is_written(decoding, tmp_path):
    pytest.importorskip("matplotlib")
    from spacy_rnn.alignment import plot_alignment

    doc = decoding(return_attention=True)("the cat sleeps")
    path = plot_alignment(doc._.translation_attention[0], tmp_path / "alignment.png",
                          title=doc._.translation)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_alignment_heatmap_without_matplotlib_says_how_to_install(monkeypatch, tmp_path):
    from spacy_rnn.alignment import plot_alignment

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    alignment = {"source": ["a"], "target": ["b"], "weights": [[1.0]]}
    with pytest.raises(ImportError, match=r"pip install \"spacy-rnn\[plots\]\""):
        plot_alignment(alignment, tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"shape \(1, 2\) do not match 1 target and 1 source"):
        plot_alignment({**alignment, "weights": [[0.5, 0.5]]}, tmp_path / "a.png")


BAD_OUTPUTS = [
    ({"n_best": -1}, r"n_best must be an integer from 0 \(off\) to beam_size \(5"),
    ({"n_best": 6}, r"n_best must be an integer from 0 \(off\) to beam_size \(5.*got 6"),
    ({"beam_size": 1, "n_best": 2}, r"n_best .* beam_size \(1.*got 2.*raise beam_size"),
    ({"max_batch_pieces": 0}, r"max_batch_pieces must be an integer >= 1 .*got 0"),
]


@pytest.mark.parametrize("settings,message", BAD_OUTPUTS)
def test_bad_output_settings_are_refused_naming_the_setting(settings, message, trained,
                                                            tmp_path):
    with pytest.raises(ValueError, match=message):
        spacy.blank("en").add_pipe("rnn_translator", config=settings)
    trained.to_disk(tmp_path)
    with pytest.raises(ValueError, match=message):
        spacy.load(tmp_path, config={"components": {"rnn_translator": {"beam_size": 5,
                                                                       **settings}}})


@pytest.mark.parametrize("settings,message", BAD_OUTPUTS + [
    ({"return_attention": "yes"}, r"return_attention must be true or false, got 'yes'"),
    ({"max_batch_pieces": 1.5}, r"max_batch_pieces must be an integer >= 1 .*got 1.5")])
def test_bad_output_settings_set_at_runtime_are_refused(settings, message, trained, monkeypatch):
    translator = trained.get_pipe("rnn_translator")
    for key, value in {"beam_size": 5, **settings}.items():
        monkeypatch.setitem(translator.cfg, key, value)
    with pytest.raises(ValueError, match=message):
        trained("the cat sleeps")


def test_attention_without_an_attention_model_is_refused():
    with pytest.raises(ValueError, match="return_attention = true needs a model with attention, "
                                         "but this one has attention = 'none'"):
        spacy.blank("en").add_pipe("rnn_translator", config={
            "model": {**SMALL, "attention": "none"}, "return_attention": True})


def test_output_settings_survive_saving_and_loading(trained, tmp_path):
    trained.to_disk(tmp_path / "a")
    settings = {"beam_size": 3, "n_best": 2, "return_attention": True, "max_batch_pieces": 40}
    nlp = spacy.load(tmp_path / "a", config={"components": {"rnn_translator": settings}})
    nlp.to_disk(tmp_path / "b")
    reloaded = spacy.load(tmp_path / "b")
    assert {k: reloaded.get_pipe("rnn_translator").cfg[k] for k in settings} == settings
    doc = reloaded("the cat sleeps")
    assert len(doc._.translation_nbest) == 2 and len(doc._.translation_attention) == 1
    assert doc._.translation == "die katze schläft"


@pytest.mark.parametrize("beam_size", [1, 5])
def test_decoding_in_small_piece_batches_equals_one_batch(decoding, beam_size, monkeypatch):
    nlp = decoding(beam_size=beam_size, max_batch_pieces=10 ** 9)
    texts = LONGER + SOURCES + ["", "the dog"] + LONGER
    one_batch = [(d._.translation, d._.translation_nbest) for d in nlp.pipe(texts, batch_size=64)]
    module = torch_module(nlp.get_pipe("rnn_translator").model.get_ref("core"))
    shapes = []
    encode = module.encode
    monkeypatch.setattr(module, "encode", lambda src, lengths: shapes.append(src.shape) or
                        encode(src, lengths))
    nlp = decoding(max_batch_pieces=12, n_best=0)
    small = [(d._.translation, d._.translation_nbest) for d in nlp.pipe(texts, batch_size=64)]
    assert small == one_batch
    assert len(shapes) > 4
    assert all(rows * length <= 12 or rows == 1 for rows, length in shapes)
    assert max(length for _, length in shapes) > 12  # a longer source goes alone


# -- spacy train ------------------------------------------------------------------------------
TRAIN_CONFIG = """
[paths]
train_source = null
train_target = null
dev_source = null
dev_target = null
log = null

[system]
seed = 0
gpu_allocator = null

[nlp]
lang = "en"
pipeline = ["rnn_translator"]

[components]

[components.rnn_translator]
factory = "rnn_translator"
beam_size = 1

[components.rnn_translator.model]
@architectures = "spacy-rnn.Seq2SeqTranslator.v1"
cell = "gru"
attention = "bahdanau"
emb_size = 16
hidden = 32
vocab_size = 60

[corpora]

[corpora.train]
@readers = "spacy-rnn.ParallelCorpus.v1"
source_path = ${paths.train_source}
target_path = ${paths.train_target}

[corpora.dev]
@readers = "spacy-rnn.ParallelCorpus.v1"
source_path = ${paths.dev_source}
target_path = ${paths.dev_target}

[training]
seed = ${system.seed}
gpu_allocator = ${system.gpu_allocator}
max_epochs = 0
max_steps = 6
eval_frequency = 3

[training.batcher]
@batchers = "spacy.batch_by_sequence.v1"
size = 8

[training.logger]
@loggers = "spacy-rnn.JSONLLogger.v1"
path = ${paths.log}

[training.optimizer]
@optimizers = "Adam.v1"
learn_rate = 0.01

[initialize]

[initialize.before_init]
@callbacks = "spacy-rnn.set_torch_threads.v1"
n_threads = 1
"""


def test_spacy_train_end_to_end(tmp_path):
    """``python -m spacy train`` with parallel text files; everything found via entry points."""
    files = {}
    for split, pairs in (("train", PAIRS), ("dev", PAIRS[:5])):
        for side, index, suffix in (("source", 0, "src"), ("target", 1, "tgt")):
            path = tmp_path / f"{split}.{suffix}"
            path.write_text("".join(pair[index] + "\n" for pair in pairs), encoding="utf8")
            files[f"paths.{split}_{side}"] = str(path)
    config_path = tmp_path / "translator.cfg"
    config_path.write_text(TRAIN_CONFIG, encoding="utf8")
    log_path = tmp_path / "log.jsonl"
    overrides = {**files, "paths.log": str(log_path)}
    args = [arg for key, value in overrides.items() for arg in (f"--{key}", value)]
    command = [sys.executable, "-m", "spacy", "train", str(config_path),
               "--output", str(tmp_path / "out"), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    header = next(line for line in result.stdout.splitlines() if "SCORE" in line)
    assert header.split()[-3:] == ["BLEU", "CHRF", "SCORE"]  # distinct columns, not cut names
    records = list(srsly.read_jsonl(log_path))
    assert [r["step"] for r in records] == [0, 3, 6]
    assert all(0.0 <= r["scores"]["bleu"] <= 1.0 for r in records)
    assert all("chrf" in r["scores"] for r in records)
    nlp = spacy.load(tmp_path / "out" / "model-last")
    assert nlp.pipe_names == ["rnn_translator"]
    assert 0.0 <= nlp.meta["performance"]["bleu"] <= 1.0
    assert isinstance(nlp("the cat sleeps")._.translation, str)
