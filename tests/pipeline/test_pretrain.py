"""``spacy pretrain`` for the recurrent tagger (``configs/pretrain_lstm.cfg``).

The shared ``tok2vec`` component (``spacy-rnn.WordCharEmbed.v1`` + ``spacy-rnn.RNNEncoder.v1``
in ``spacy.Tok2Vec.v2``) is pretrained on raw text; ``[initialize] init_tok2vec`` loads the
written ``modelN.bin`` into the training pipeline, where ``rnn_tagger`` listens to it. Widths
are shrunk by config overrides and the texts are a few dozen generated lines: seconds, not minutes.
"""
import io
import itertools
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import numpy
import pytest
import spacy
import srsly
from spacy.tokens import Doc, DocBin
from spacy.training.initialize import init_nlp
from spacy.training.loop import train
from spacy.training.pretrain import pretrain
from spacy.util import load_config, load_model_from_config
from thinc.api import Config, Model

CONFIG = Path(__file__).parents[2] / "configs" / "pretrain_lstm.cfg"
# 48 raw-text lines of 6 tokens (the pretraining corpus keeps lines of >= 5 tokens)
RAW_TEXTS = [f"{name} {verb} {place} every day ." for name, verb, place in itertools.product(
    ["Alice", "Bob", "Carol", "Dave"], ["sees", "likes", "visits", "paints"],
    ["Paris", "Rome", "the park"])]
TAGGED = [(["Alice", "likes", "Rome", "."], ["PROPN", "VERB", "PROPN", "PUNCT"]),
          (["Bob", "sees", "the", "park", "."], ["PROPN", "VERB", "DET", "NOUN", "PUNCT"])]
SMALL = {
    "components.tok2vec.model.embed.width": 16,
    "components.tok2vec.model.embed.rows": [100, 100, 100, 100],
    "components.tok2vec.model.embed.char_embed.width": 8,
    "components.tok2vec.model.embed.char_embed.char_dim": 8,
    "components.tok2vec.model.embed.char_embed.rows": 100,
    "components.tok2vec.model.encode.width": 16,  # the listener and the tagger's encoder follow
    "pretraining.max_epochs": 2,
    "pretraining.batcher.size": 100,
    "pretraining.objective.hidden_size": 32,
    # 2 training steps of one-doc batches
    "training.max_epochs": 1,
    "training.max_steps": 2,
    "training.batcher.batcher.size.start": 4,
    "training.batcher.batcher.size.stop": 4,
}
OBJECTIVES = ["characters", "vectors"]
VECTORS_OBJECTIVE = {"@architectures": "spacy.PretrainVectors.v1", "maxout_pieces": 3,
                     "hidden_size": 32, "loss": "cosine"}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Dict[str, Path]:
    """Raw text (JSONL), a tagged DocBin and a pipeline holding static vectors of the raw words."""
    folder = tmp_path_factory.mktemp("data")
    srsly.write_jsonl(folder / "raw.jsonl", [{"text": text} for text in RAW_TEXTS])
    vocab = spacy.blank("en").vocab
    docs = [Doc(vocab, words=words, pos=pos) for words, pos in TAGGED]
    DocBin(docs=docs).to_disk(folder / "train.spacy")
    vectors = spacy.blank("en")
    rng = numpy.random.default_rng(0)
    for word in sorted({word for text in RAW_TEXTS for word in text.lower().split()}):
        vectors.vocab.set_vector(word, rng.normal(size=(6,)).astype("float32"))
    vectors.to_disk(folder / "vectors")
    return {"raw": folder / "raw.jsonl", "train": folder / "train.spacy", "vectors": folder / "vectors"}


def objective_overrides(objective: str, data: Dict[str, Path]) -> Dict[str, object]:
    """The config's characters objective, or spaCy's vectors objective (which needs static vectors
    as targets: [initialize] vectors; the tok2vec itself does not read them)."""
    if objective == "characters":
        return {}
    return {"pretraining.objective": VECTORS_OBJECTIVE, "paths.vectors": str(data["vectors"])}


def config(data: Dict[str, Path], objective: str, **paths: str) -> Config:
    """The shipped config, small, on the test data; ``paths``: e.g. init_tok2vec."""
    overrides = {**SMALL, **objective_overrides(objective, data), "paths.raw_text": str(data["raw"]),
                 "paths.train": str(data["train"]), "paths.dev": str(data["train"]),
                 **{f"paths.{name}": value for name, value in paths.items()}}
    return load_config(CONFIG, overrides=overrides, interpolate=False)


def cli_args(overrides: Dict[str, object]) -> List[str]:
    """``--key value`` pairs for spaCy's commands (lists in JSON, as the shell form is)."""
    return [arg for key, value in overrides.items()
            for arg in (f"--{key}", str(value).replace("'", '"'))]


def run_spacy(*args: str) -> str:
    """Run ``python -m spacy ARGS``; its output (stdout and stderr)."""
    result = subprocess.run([sys.executable, "-m", "spacy", *args], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def pretrained(data, tmp_path_factory) -> Dict[str, Path]:
    """Objective -> output folder of a 2-epoch pretraining run, as ``spacy pretrain`` runs it
    (on the interpolated config)."""
    outs = {}
    for objective in OBJECTIVES:
        outs[objective] = tmp_path_factory.mktemp(f"pretrain_{objective}")
        pretrain(config(data, objective).interpolate(), outs[objective])
    return outs


def weights(model: Model) -> Dict[str, numpy.ndarray]:
    """Copies of every array of a model tree: thinc params and its torch modules' state."""
    arrays = {}
    for i, node in enumerate(model.walk()):
        for name in node.param_names:
            if node.has_param(name):
                arrays[f"{i} {node.name} {name}"] = numpy.array(node.get_param(name))
        for shim in node.shims:
            for name, tensor in shim._model.state_dict().items():
                arrays[f"{i} {node.name} {name}"] = tensor.detach().cpu().numpy().copy()
    return arrays


def pretrained_layer(cfg: Config, path: Path) -> Model:
    """A fresh, untrained tok2vec model with the .bin loaded into it."""
    model = load_model_from_config(cfg, auto_fill=True).get_pipe("tok2vec").model
    return model.from_bytes(path.read_bytes())


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_pretraining_writes_a_file_per_epoch(pretrained, objective):
    out = pretrained[objective]
    assert {path.name for path in out.glob("*.bin")} == {"model0.bin", "model1.bin", "model-last.bin"}
    assert (out / "model0.bin").read_bytes() != (out / "model1.bin").read_bytes()


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_init_tok2vec_loads_the_pretrained_embeddings_and_bilstm(pretrained, data, objective):
    """After initialize, every array of the shared tok2vec is the pretrained one, and none is
    what the same pipeline initialized without the file has."""
    path = pretrained[objective] / "model1.bin"
    nlp = init_nlp(config(data, objective, init_tok2vec=str(path)))
    loaded = weights(nlp.get_pipe("tok2vec").model)
    expected = weights(pretrained_layer(config(data, objective), path))
    baseline = weights(init_nlp(config(data, objective)).get_pipe("tok2vec").model)
    assert loaded.keys() == expected.keys() == baseline.keys()
    # both halves are in the file: the character CNN (embeddings) and the LSTM (encoder)
    assert any("char-cnn" in key for key in loaded) and any("rnn-encoder-lstm" in key for key in loaded)
    for key in loaded:
        numpy.testing.assert_array_equal(loaded[key], expected[key], err_msg=key)
        assert not numpy.array_equal(loaded[key], baseline[key]), f"{key} was not pretrained"


def test_tagger_trains_over_the_pretrained_tok2vec_saves_and_loads(pretrained, data, tmp_path):
    """A few training steps update the pretrained tok2vec through the listener (it is fine-tuned,
    not frozen); the saved pipeline loads and tags."""
    path = pretrained["characters"] / "model1.bin"
    nlp = init_nlp(config(data, "characters", init_tok2vec=str(path)))
    assert nlp.get_pipe("tok2vec").listening_components == ["rnn_tagger"]
    before = weights(nlp.get_pipe("tok2vec").model)
    train(nlp, tmp_path, stdout=io.StringIO(), stderr=io.StringIO())
    reloaded = spacy.load(tmp_path / "model-last")
    assert reloaded.pipe_names == ["tok2vec", "rnn_tagger"]
    after = weights(reloaded.get_pipe("tok2vec").model)
    encoder = [key for key in after if "rnn-encoder-lstm" in key]
    assert encoder and all(not numpy.array_equal(before[key], after[key]) for key in encoder)
    doc = reloaded("Carol paints Rome .")
    assert len(doc) == 4
    assert all(token.pos_ in {"PROPN", "VERB", "DET", "NOUN", "PUNCT"} for token in doc)


def test_the_two_commands_of_the_config_header(data, tmp_path):
    """The shipped file as it is given to ``spacy pretrain`` and then ``spacy train``."""
    small = cli_args(SMALL)
    run_spacy("pretrain", str(CONFIG), str(tmp_path / "pretrain"), "--paths.raw_text", str(data["raw"]),
              *small)
    weights_path = tmp_path / "pretrain" / "model1.bin"
    output = run_spacy("train", str(CONFIG), "--output", str(tmp_path / "train"), "--verbose",
                       "--paths.train", str(data["train"]), "--paths.dev", str(data["train"]),
                       "--paths.init_tok2vec", str(weights_path), *small)
    assert f"Loaded pretrained weights from {weights_path}" in output
    nlp = spacy.load(tmp_path / "train" / "model-last")
    assert nlp.get_pipe("tok2vec").model.get_ref("encode").name == "rnn-encoder-lstm"
    assert len(nlp("Dave likes the park .")) == 5
