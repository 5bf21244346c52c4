"""Every shipped config loads, assembles and trains; every entry point resolves.

The training runs are 2 steps on a 4-doc corpus with widths shrunk by config
overrides, so they check wiring (readers, batcher, callbacks, scorers,
serialization), not accuracy.
"""
import importlib.metadata
import io
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
import spacy
from spacy.tokens import Doc, DocBin
from spacy.training.initialize import init_nlp
from spacy.training.loop import train
from spacy.util import load_config, load_model_from_config, registry
from thinc.api import Config, ConfigValidationError

try:  # Python >= 3.11
    import tomllib
except ImportError:  # pragma: no cover
    tomllib = None

ROOT = Path(__file__).parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.cfg"))
CONFIG_IDS = [path.stem for path in CONFIGS]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text()) if tomllib else None
DECLARED_ENTRY_POINTS = PYPROJECT["project"]["entry-points"] if PYPROJECT else {}
# Entry point groups to check: those named in pyproject plus spaCy's usual ones;
# group "spacy_<x>" feeds registry "<x>", except factories (checked with add_pipe).
OUR_GROUPS = sorted(set(DECLARED_ENTRY_POINTS) | {
    "spacy_factories", "spacy_architectures", "spacy_readers", "spacy_scorers",
    "spacy_batchers", "spacy_callbacks", "spacy_loggers"})
RECORDED_STEPS: List[int] = []

WORDS = [
    ["Alice", "lives", "in", "Paris", "."],
    ["Bob", "met", "Carol", "in", "New", "York", "today", "."],
    ["The", "dog", "barks", "."],
    ["Dave", "visited", "Rome", "."],
]
POS = [
    ["PROPN", "VERB", "ADP", "PROPN", "PUNCT"],
    ["PROPN", "VERB", "PROPN", "ADP", "PROPN", "PROPN", "NOUN", "PUNCT"],
    ["DET", "NOUN", "VERB", "PUNCT"],
    ["PROPN", "VERB", "PROPN", "PUNCT"],
]
ENTS = [
    ["B-PER", "O", "O", "B-LOC", "O"],
    ["B-PER", "O", "B-PER", "O", "B-LOC", "I-LOC", "O", "O"],
    ["O", "O", "O", "O"],
    ["B-PER", "O", "B-LOC", "O"],
]


def component_name(path: Path) -> str:
    return "rnn_ner" if path.stem.startswith("ner_") else "rnn_tagger"


def small_overrides(component: str) -> Dict[str, object]:
    """Shrink a labeler config so that building and training it takes well under a second."""
    model = f"components.{component}.model"
    return {
        f"{model}.tok2vec.width": 16,
        f"{model}.tok2vec.rows": [100, 100, 100, 100],
        f"{model}.tok2vec.char_embed.width": 8,
        f"{model}.tok2vec.char_embed.char_dim": 8,
        f"{model}.tok2vec.char_embed.rows": 100,
        f"{model}.encoder.width": 16,
        f"{model}.encoder.depth": 1,
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A DocBin of 4 docs with POS tags and entities."""
    path = tmp_path_factory.mktemp("corpus") / "tiny.spacy"
    vocab = spacy.blank("en").vocab
    docs = [Doc(vocab, words=w, pos=p, ents=e) for w, p, e in zip(WORDS, POS, ENTS)]
    DocBin(docs=docs, store_user_data=False).to_disk(path)
    return path


def training_overrides(corpus: Path, component: str) -> Dict[str, object]:
    """2 steps of one-doc batches, no time budget surprises, small model."""
    return {
        "paths.train": str(corpus),
        "paths.dev": str(corpus),
        "training.max_epochs": 1,
        "training.max_steps": 2,
        "training.batcher.batcher.size.start": 4,
        "training.batcher.batcher.size.stop": 4,
        **small_overrides(component),
    }


def our_entry_points() -> List[importlib.metadata.EntryPoint]:
    return [ep for group in OUR_GROUPS
            for ep in importlib.metadata.entry_points(group=group)
            if ep.name.startswith(("spacy-rnn.", "rnn_"))]


# -- configs ---------------------------------------------------------------------
def test_configs_exist():
    assert len(CONFIGS) >= 6, CONFIGS


@pytest.mark.parametrize("path", CONFIGS, ids=CONFIG_IDS)
def test_config_loads(path):
    config = load_config(path)
    component = component_name(path)
    assert config["nlp"]["pipeline"] == [component]
    assert config["components"][component]["factory"] == component
    cell = config["components"][component]["model"]["encoder"]["cell"]
    assert cell in path.stem, f"{path.name} uses cell {cell!r}"


@pytest.mark.parametrize("path", CONFIGS, ids=CONFIG_IDS)
def test_config_assembles(path):
    config = load_config(path)
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    component = component_name(path)
    assert nlp.pipe_names == [component]
    pipe = nlp.get_pipe(component)
    assert nlp.get_pipe_meta(component).factory == component
    crf = config["components"][component]["model"]["crf"]
    assert pipe.model.attrs["crf"] is crf
    assert pipe.model.get_ref("encoder").name.startswith("rnn-encoder-")


@pytest.mark.parametrize("path", CONFIGS, ids=CONFIG_IDS)
def test_config_trains_two_steps(path, corpus, tmp_path):
    component = component_name(path)
    config = load_config(path, overrides=training_overrides(corpus, component),
                         interpolate=False)
    config["training"]["before_update"] = {"@callbacks": "spacy-rnn-tests.record_steps.v1"}
    RECORDED_STEPS.clear()
    nlp = init_nlp(config)
    nlp, _ = train(nlp, tmp_path, stdout=io.StringIO(), stderr=io.StringIO())
    # spaCy checks max_steps after the update, so steps 0..max_steps all run.
    assert RECORDED_STEPS[:2] == [0, 1]
    assert nlp.get_pipe(component).labels
    reloaded = spacy.load(tmp_path / "model-last")
    doc = reloaded("Alice lives in Paris .")
    assert len(doc) == 5
    if component == "rnn_tagger":
        assert all(token.pos_ for token in doc)


@registry.callbacks("spacy-rnn-tests.record_steps.v1")
def record_steps():
    """A ``[training.before_update]`` callback that appends each step to ``RECORDED_STEPS``."""
    def before_update(nlp, info):
        RECORDED_STEPS.append(info["step"])

    return before_update


@pytest.mark.parametrize("name", ["tagger_gru", "ner_lstm_crf"])
def test_spacy_train_cli(name, corpus, tmp_path):
    """``python -m spacy train`` finds everything through entry points (no --code)."""
    path = ROOT / "configs" / f"{name}.cfg"
    overrides = training_overrides(corpus, component_name(path))
    args = [arg for key, value in overrides.items()
            for arg in (f"--{key}", str(value).replace("'", '"'))]
    command = [sys.executable, "-m", "spacy", "train", str(path), "--output", str(tmp_path), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "model-last" / "config.cfg").exists()


def test_misspelled_cell_fails_validation():
    config = load_config(CONFIGS[0])
    component = component_name(CONFIGS[0])
    config["components"][component]["model"]["encoder"]["cell"] = "lsmt"
    with pytest.raises(ConfigValidationError) as error:
        load_model_from_config(config, auto_fill=True, validate=True)
    message = str(error.value)
    assert "lsmt" in message
    assert all(f"'{cell}'" in message for cell in ("rnn", "lstm", "gru"))


def test_misspelled_cell_fails_registry_resolve():
    config = Config().from_str("""
        [model]
        @architectures = "spacy-rnn.RNNEncoder.v1"
        width = 8
        depth = 1
        cell = "lsmt"
        """)
    with pytest.raises(ConfigValidationError, match="'rnn', 'lstm', 'gru'"):
        registry.resolve(config)


# -- entry points ------------------------------------------------------------------
@pytest.mark.skipif(tomllib is None, reason="reading pyproject.toml needs Python >= 3.11")
def test_entry_points_match_pyproject():
    """The installed metadata is not stale: it declares exactly pyproject's entry points."""
    expected = {(group, name, value) for group, names in DECLARED_ENTRY_POINTS.items()
                for name, value in names.items()}
    installed = {(ep.group, ep.name, ep.value) for ep in our_entry_points()}
    assert installed == expected, ("installed entry points differ from pyproject.toml: "
                                   "reinstall the package (pip install -e .)")


@pytest.mark.parametrize("ep", [ep for ep in our_entry_points() if ep.group != "spacy_factories"],
                         ids=lambda ep: ep.name)
def test_entry_point_resolves_in_registry(ep):
    registry_name = ep.group.removeprefix("spacy_")
    assert registry.has(registry_name, ep.name)
    assert registry.get(registry_name, ep.name) is ep.load()


@pytest.mark.parametrize("ep", [ep for ep in our_entry_points() if ep.group == "spacy_factories"],
                         ids=lambda ep: ep.name)
def test_factory_entry_point_adds_pipe(ep):
    assert callable(ep.load())
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe(ep.name)
    assert nlp.pipe_names == [ep.name]
    assert nlp.get_pipe_meta(ep.name).factory == ep.name
    assert pipe.model.get_ref("encoder").name == "rnn-encoder-lstm"
