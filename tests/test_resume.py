"""Resuming training from a saved pipeline, as ``docs/SCALE.md`` ("Interrupting and resuming
training") describes: a config whose component is ``source``d from the saved pipeline
(``[components.<name>] source = "training/model-last"``, not frozen) is trained further with
spaCy's own loop (``init_nlp`` + ``train``, what ``spacy train`` runs).

``init_nlp`` does not re-initialize a sourced component (it calls ``nlp.resume_training``),
so training starts from the saved weights and keeps what ``initialize`` made: the
SentencePiece model inside the translator and the tagger's labels (a tag the saved tagger
does not know is treated as missing annotation, not added).
"""
import io
import warnings
from pathlib import Path
from typing import Dict

import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin
from spacy.training.initialize import init_nlp
from spacy.training.loop import train
from spacy.util import load_config

from tiny_pipelines import (PAIRS, ROOT_CONFIGS, TAGGED, component_weights, trained_tagger,
                            trained_translator)

pytestmark = pytest.mark.filterwarnings(
    "ignore:SentencePiece. the training texts support at most")


def resume_config(config_name: str, component: str, source: Path,
                  paths: Dict[str, str]):
    config = load_config(ROOT_CONFIGS / f"{config_name}.cfg", interpolate=False, overrides={
        **paths, "training.max_steps": 2, "training.eval_frequency": 1,
        "training.max_epochs": 0})
    config["components"][component] = {"source": str(source)}
    config["training"]["frozen_components"] = []
    return config


def assert_all_equal(a, b):
    assert a.keys() == b.keys()
    assert all(numpy.array_equal(a[k], b[k]) for k in a)


def test_resume_translator_keeps_sentencepiece(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        saved = trained_translator()
    saved.to_disk(tmp_path / "model-last")
    saved_weights = component_weights(saved, "rnn_translator")
    spm = saved.get_pipe("rnn_translator").model.get_ref("core").attrs["spm_source"]
    for side, index in (("source", 0), ("target", 1)):
        (tmp_path / f"more.{side}").write_text("".join(p[index] + "\n" for p in PAIRS[::-1]),
                                               encoding="utf8")
    paths = {f"paths.{split}_{side}": str(tmp_path / f"more.{side}")
             for split in ("train", "dev") for side in ("source", "target")}
    # the shipped config would build a 128/256-wide model: sourcing ignores its model block
    config = resume_config("translator_lstm", "rnn_translator", tmp_path / "model-last", paths)
    config["training"]["batcher"]["batcher"]["size"] = 20

    nlp = init_nlp(config)
    core = nlp.get_pipe("rnn_translator").model.get_ref("core")
    assert core.attrs["hyper"]["cell"] == "gru"  # the saved model's, not the config's lstm
    assert core.attrs["spm_source"] == spm  # not retrained on the new corpus
    assert_all_equal(component_weights(nlp, "rnn_translator"), saved_weights)  # not re-initialized

    (tmp_path / "resumed").mkdir()  # (spacy train creates it)
    train(nlp, tmp_path / "resumed", stdout=io.StringIO(), stderr=io.StringIO())
    resumed = spacy.load(tmp_path / "resumed" / "model-last")
    core = resumed.get_pipe("rnn_translator").model.get_ref("core")
    assert core.attrs["spm_source"] == core.attrs["spm_target"] == spm
    weights = component_weights(resumed, "rnn_translator")
    assert weights.keys() == saved_weights.keys()
    assert not all(numpy.array_equal(weights[k], saved_weights[k]) for k in weights)  # trained
    assert isinstance(resumed("the cat sleeps")._.translation, str)


def test_resume_tagger_keeps_labels(tmp_path):
    saved = trained_tagger()
    saved.to_disk(tmp_path / "model-last")
    saved_weights = component_weights(saved, "rnn_tagger")
    labels = saved.get_pipe("rnn_tagger").labels
    vocab = spacy.blank("en").vocab
    docs = [Doc(vocab, words=text.split(), tags=tags) for text, tags in TAGGED]
    docs.append(Doc(vocab, words=["the", "ham"], tags=["D", "N"]))  # "D": a tag it never saw
    DocBin(docs=docs).to_disk(tmp_path / "more.spacy")
    paths = {"paths.train": str(tmp_path / "more.spacy"), "paths.dev": str(tmp_path / "more.spacy")}
    config = resume_config("tagger_lstm_crf", "rnn_tagger", tmp_path / "model-last", paths)
    config["training"]["score_weights"] = {"tag_acc": 1.0}  # the saved tagger predicts tag

    nlp = init_nlp(config)
    assert nlp.get_pipe("rnn_tagger").labels == labels
    assert_all_equal(component_weights(nlp, "rnn_tagger"), saved_weights)

    (tmp_path / "resumed").mkdir()  # (spacy train creates it)
    train(nlp, tmp_path / "resumed", stdout=io.StringIO(), stderr=io.StringIO())
    resumed = spacy.load(tmp_path / "resumed" / "model-last")
    assert resumed.get_pipe("rnn_tagger").labels == labels == ("J", "N", "R", "V")
    assert resumed.get_pipe("rnn_tagger").model.attrs["crf"] is True
    weights = component_weights(resumed, "rnn_tagger")
    assert not all(numpy.array_equal(weights[k], saved_weights[k]) for k in weights)
    assert all(token.tag_ in labels for token in resumed("the ham"))
