"""Training on CPU is reproducible: the same seed gives bit-identical weights, losses and
scores, a different seed gives different weights.

Two ways of training are checked: in-process ``nlp.initialize`` + ``nlp.update`` after
thinc's ``fix_random_seed`` (dropout on, so the random streams matter), and spaCy's own
training loop (``spacy.training.initialize.init_nlp`` + ``spacy.training.loop.train``, as
``spacy train`` runs it) on the shipped configs shrunk to toy size, where ``[training]
seed`` seeds everything (SentencePiece training, torch and thinc initialization, spaCy's
shuffling of the training data, dropout). Components: ``rnn_tagger`` with a CRF and
``rnn_translator``. (On GPU, cuDNN kernels are not guaranteed deterministic; not tested.)
"""
import io
from pathlib import Path
from typing import Dict

import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin
from spacy.training.initialize import init_nlp
from spacy.training.loop import train as spacy_train
from spacy.util import load_config

from tiny_pipelines import (PAIRS, TAGGED, component_weights, tagger_examples, tagger_nlp, tags,
                            train, translations, translator_examples, translator_nlp)

ROOT = Path(__file__).parent.parent
N_UPDATES = 12

pytestmark = pytest.mark.filterwarnings(
    "ignore:SentencePiece. the training texts support at most")


def assert_same_weights(a: Dict[str, numpy.ndarray], b: Dict[str, numpy.ndarray]) -> None:
    assert a.keys() == b.keys()
    different = [key for key in a if not numpy.array_equal(a[key], b[key])]
    assert not different, f"weights differ: {different[:5]}"


def n_different(a: Dict[str, numpy.ndarray], b: Dict[str, numpy.ndarray]) -> int:
    assert a.keys() == b.keys()
    return sum(not numpy.array_equal(a[key], b[key]) for key in a)


# -- in-process: nlp.initialize + nlp.update ---------------------------------------------------
SETUPS = {
    "rnn_tagger": (lambda seed: tagger_nlp(crf=True, seed=seed), tagger_examples, tags),
    "rnn_translator": (lambda seed: translator_nlp(seed=seed), translator_examples, translations),
}


def run_in_process(name: str, seed: int):
    make, make_examples, outputs = SETUPS[name]
    nlp = make(seed)
    egs = make_examples(nlp)
    losses = train(nlp, egs, N_UPDATES, seed=seed)
    return {"nlp": nlp, "losses": losses, "scores": nlp.evaluate(egs),
            "weights": component_weights(nlp, name), "bytes": nlp.get_pipe(name).to_bytes(),
            "outputs": outputs(nlp)}


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_same_seed_same_weights_and_scores(name):
    first, second = run_in_process(name, 0), run_in_process(name, 0)
    if name == "rnn_tagger":
        assert first["nlp"].get_pipe(name).model.attrs["crf"] is True
    assert_same_weights(first["weights"], second["weights"])
    assert first["bytes"] == second["bytes"]
    assert first["losses"] == second["losses"]
    scores = {k: v for k, v in first["scores"].items() if k not in ("speed",)}
    assert scores == {k: v for k, v in second["scores"].items() if k not in ("speed",)}
    assert first["outputs"] == second["outputs"]


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_different_seed_different_weights(name):
    first, other = run_in_process(name, 0), run_in_process(name, 1)
    # nearly every tensor differs (not only, say, one dropout-dependent bias)
    assert n_different(first["weights"], other["weights"]) >= 0.9 * len(first["weights"])
    assert first["bytes"] != other["bytes"]
    assert first["losses"] != other["losses"]
    if name == "rnn_translator":  # SentencePiece itself is deterministic
        cores = [run["nlp"].get_pipe(name).model.get_ref("core") for run in (first, other)]
        assert cores[0].attrs["spm_source"] == cores[1].attrs["spm_source"]


# -- spaCy's training loop on the shipped configs ------------------------------------------------
@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> Dict[str, str]:
    folder = tmp_path_factory.mktemp("repro_corpora")
    vocab = spacy.blank("en").vocab
    docs = [Doc(vocab, words=text.split(), pos=["NOUN" if t == "N" else "VERB" if t == "V"
                                                  else "ADJ" if t == "J" else "ADV" for t in tags])
            for text, tags in TAGGED]
    DocBin(docs=docs, store_user_data=False).to_disk(folder / "tagged.spacy")
    (folder / "train.src").write_text("".join(s + "\n" for s, _ in PAIRS), encoding="utf8")
    (folder / "train.tgt").write_text("".join(t + "\n" for _, t in PAIRS), encoding="utf8")
    return {"docbin": str(folder / "tagged.spacy"), "src": str(folder / "train.src"),
            "tgt": str(folder / "train.tgt")}


def loop_overrides(config: str, corpora: Dict[str, str], seed: int) -> Dict[str, object]:
    common = {"system.seed": seed, "training.max_steps": 6, "training.eval_frequency": 3,
              "training.max_epochs": 0}
    if config == "tagger_lstm_crf":
        model = "components.rnn_tagger.model"
        return {**common, "paths.train": corpora["docbin"], "paths.dev": corpora["docbin"],
                "training.batcher.batcher.size.start": 8, "training.batcher.batcher.size.stop": 8,
                f"{model}.tok2vec.width": 16, f"{model}.tok2vec.rows": [100, 100, 100, 100],
                f"{model}.tok2vec.char_embed.width": 8, f"{model}.tok2vec.char_embed.char_dim": 8,
                f"{model}.tok2vec.char_embed.rows": 100, f"{model}.encoder.width": 16,
                f"{model}.encoder.depth": 1}
    model = "components.rnn_translator.model"
    return {**common, **{f"paths.{split}_{side}": corpora[suffix]
                         for split in ("train", "dev")
                         for side, suffix in (("source", "src"), ("target", "tgt"))},
            "training.batcher.batcher.size": 12, f"{model}.emb_size": 16,
            f"{model}.hidden": 16, f"{model}.vocab_size": 60}


def run_loop(config: str, corpora: Dict[str, str], seed: int):
    path = ROOT / "configs" / f"{config}.cfg"
    nlp = init_nlp(load_config(path, overrides=loop_overrides(config, corpora, seed),
                               interpolate=False))
    stdout = io.StringIO()
    nlp, _ = spacy_train(nlp, None, stdout=stdout, stderr=io.StringIO())
    name = nlp.pipe_names[0]
    return {"weights": component_weights(nlp, name), "bytes": nlp.get_pipe(name).to_bytes(),
            "log": stdout.getvalue(), "outputs": tags(nlp) if name == "rnn_tagger"
            else translations(nlp)}


@pytest.mark.parametrize("config", ["tagger_lstm_crf", "translator_gru"])
def test_spacy_training_loop_is_reproducible(config, corpora):
    first, second, other = (run_loop(config, corpora, seed) for seed in (0, 0, 1))
    assert_same_weights(first["weights"], second["weights"])
    assert first["bytes"] == second["bytes"]
    # the console table: losses and dev scores after steps 0, 3 and 6
    assert first["log"] == second["log"]
    assert first["log"].count("\n") >= 6, first["log"]
    assert first["outputs"] == second["outputs"]
    assert n_different(first["weights"], other["weights"]) >= 0.9 * len(first["weights"])
    assert first["bytes"] != other["bytes"]
