"""Every shipped config loads, assembles and trains; every entry point resolves.

The training runs are 2 steps on a 4-doc corpus (labelers and the text classifier: a
DocBin with POS, fine tags, morphology, entities and categories; translators: 4 sentence
pairs in .src/.tgt files) with widths shrunk by config overrides, so they check wiring
(readers, batcher, callbacks, scorers, serialization), not accuracy. The text classifier,
the article's Keras model, also overfits tiny data.
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
from spacy.training import Example
from spacy.training.initialize import init_nlp
from spacy.training.loop import train
from spacy.util import load_config, load_model_from_config, registry
from thinc.api import Config, ConfigValidationError, fix_random_seed

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
TRANSLATIONS = [
    "Alice wohnt in Paris .",
    "Bob traf Carol heute in New York .",
    "Der Hund bellt .",
    "Dave besuchte Rom .",
]
# fine tags (XPOS) and morphological features, for the joint tagger (tagger_joint_lstm.cfg)
TAGS = [
    ["NNP", "VBZ", "IN", "NNP", "."],
    ["NNP", "VBD", "NNP", "IN", "NNP", "NNP", "NN", "."],
    ["DT", "NN", "VBZ", "."],
    ["NNP", "VBD", "NNP", "."],
]
SING, PERIOD = "Number=Sing", "PunctType=Peri"
MORPHS = [
    [SING, "Number=Sing|Person=3|Tense=Pres", "AdpType=Prep", SING, PERIOD],
    [SING, "Tense=Past", SING, "AdpType=Prep", SING, SING, SING, PERIOD],
    ["Definite=Def|PronType=Art", SING, "Number=Sing|Person=3|Tense=Pres", PERIOD],
    [SING, "Tense=Past", SING, PERIOD],
]
# the joint tagger's heads and the attribute each predicts
JOINT_HEADS = {"upos": "pos", "xpos": "tag", "feats": "morph"}
ENTS = [
    ["B-PER", "O", "O", "B-LOC", "O"],
    ["B-PER", "O", "B-PER", "O", "B-LOC", "I-LOC", "O", "O"],
    ["O", "O", "O", "O"],
    ["B-PER", "O", "B-LOC", "O"],
]


# one binary label per doc of WORDS (textcat_lstm.cfg)
CATS = [{"POSITIVE": 1.0}, {"POSITIVE": 0.0}, {"POSITIVE": 0.0}, {"POSITIVE": 1.0}]
SENTIMENT = [("I loved this film", 1.0), ("What a great movie", 1.0), ("It was wonderful", 1.0),
             ("I hated this film", 0.0), ("What a terrible movie", 0.0), ("It was awful", 0.0)]


def is_translator(path: Path) -> bool:
    return path.stem.startswith("translator_")


def is_textcat(path: Path) -> bool:
    return path.stem.startswith("textcat_")


def is_pretrain(path: Path) -> bool:
    """A labeler listening to a shared tok2vec that ``spacy pretrain`` pretrains."""
    return path.stem.startswith("pretrain_")


def is_joint(path: Path) -> bool:
    """Three rnn_tagger heads (JOINT_HEADS) without encoders, listening to one shared tok2vec."""
    return path.stem.startswith("tagger_joint_")


def is_shared(path: Path) -> bool:
    """The pipeline starts with a shared ``tok2vec`` component that the labelers listen to."""
    return is_pretrain(path) or is_joint(path)


def pipeline_names(path: Path) -> List[str]:
    return ["tok2vec", *labeler_names(path)] if is_shared(path) else [component_name(path)]


def labeler_names(path: Path) -> List[str]:
    """The names of the components the config trains (besides a shared tok2vec)."""
    return list(JOINT_HEADS) if is_joint(path) else [component_name(path)]


def component_name(path: Path) -> str:
    """The factory of the config's (first) trained component, also its name except in joint configs."""
    if is_translator(path):
        return "rnn_translator"
    if is_textcat(path):
        return "textcat_multilabel"
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


def small_translator_overrides() -> Dict[str, object]:
    """Shrink a translator config (SentencePiece vocabulary included) to a toy size."""
    model = "components.rnn_translator.model"
    return {f"{model}.emb_size": 16, f"{model}.hidden": 16, f"{model}.vocab_size": 40}


def dummy_path_overrides(path: Path) -> Dict[str, object]:
    """Translator configs leave the parallel corpus paths null, which the reader's
    ``Path`` arguments reject on validation: give them (unread) file names."""
    if not is_translator(path):
        return {}
    return {f"paths.{split}_{side}": f"{split}.{side}"
            for split in ("train", "dev") for side in ("source", "target")}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A DocBin of 4 docs with POS tags, fine tags, morphology, entities and a text category."""
    path = tmp_path_factory.mktemp("corpus") / "tiny.spacy"
    vocab = spacy.blank("en").vocab
    docs = [Doc(vocab, words=w, pos=p, tags=t, morphs=m, ents=e)
            for w, p, t, m, e in zip(WORDS, POS, TAGS, MORPHS, ENTS)]
    for doc, cats in zip(docs, CATS):
        doc.cats = cats
    DocBin(docs=docs, store_user_data=False).to_disk(path)
    return path


@pytest.fixture(scope="module")
def parallel_corpus(tmp_path_factory) -> Dict[str, Path]:
    """The 4 sentences of WORDS and their German translations as .src/.tgt files."""
    folder = tmp_path_factory.mktemp("parallel")
    paths = {"source": folder / "tiny.src", "target": folder / "tiny.tgt"}
    paths["source"].write_text("".join(" ".join(words) + "\n" for words in WORDS), encoding="utf8")
    paths["target"].write_text("".join(text + "\n" for text in TRANSLATIONS), encoding="utf8")
    return paths


def translator_training_overrides(parallel: Dict[str, Path]) -> Dict[str, object]:
    """2 steps of one-pair batches (every pair is longer than 4 words or alone), small model."""
    return {
        **{f"paths.{split}_{side}": str(parallel[side])
           for split in ("train", "dev") for side in ("source", "target")},
        "training.max_epochs": 1,
        "training.max_steps": 2,
        "training.batcher.batcher.size": 4,
        **small_translator_overrides(),
    }


def textcat_training_overrides(corpus: Path) -> Dict[str, object]:
    """2 steps of one-doc batches on the tiny corpus (the model is small already)."""
    return {"paths.train": str(corpus), "paths.dev": str(corpus), "training.max_steps": 2,
            "training.batcher.size.start": 4, "training.batcher.size.stop": 4}


def small_shared_overrides() -> Dict[str, object]:
    """Shrink the shared tok2vec of a pretrain or joint config (the listener and encoder widths follow it)."""
    model = "components.tok2vec.model"
    return {
        f"{model}.embed.width": 16,
        f"{model}.embed.rows": [100, 100, 100, 100],
        f"{model}.embed.char_embed.width": 8,
        f"{model}.embed.char_embed.char_dim": 8,
        f"{model}.embed.char_embed.rows": 100,
        f"{model}.encode.width": 16,
    }


def training_overrides(corpus: Path, path: Path) -> Dict[str, object]:
    """2 steps of one-doc batches, no time budget surprises, small model."""
    small = small_shared_overrides() if is_shared(path) else small_overrides(component_name(path))
    return {
        "paths.train": str(corpus),
        "paths.dev": str(corpus),
        "training.max_epochs": 1,
        "training.max_steps": 2,
        "training.batcher.batcher.size.start": 4,
        "training.batcher.batcher.size.stop": 4,
        **small,
    }


def our_entry_points() -> List[importlib.metadata.EntryPoint]:
    return [ep for group in OUR_GROUPS
            for ep in importlib.metadata.entry_points(group=group)
            if ep.name.startswith(("spacy-rnn.", "rnn_"))]


# -- configs ---------------------------------------------------------------------
def test_configs_exist():
    assert len(CONFIGS) >= 9, CONFIGS
    stems = {path.stem for path in CONFIGS}
    assert {"translator_rnn", "translator_lstm", "translator_gru"} <= stems


@pytest.mark.parametrize("path", CONFIGS, ids=CONFIG_IDS)
def test_config_loads(path):
    config = load_config(path)
    component = component_name(path)
    assert config["nlp"]["pipeline"] == pipeline_names(path)
    for name in labeler_names(path):
        assert config["components"][name]["factory"] == component
    if is_joint(path):
        check_joint_config(path, config)
        return
    if is_translator(path):
        check_translator_config(path, config)
        return
    if is_textcat(path):
        check_textcat_config(path, config)
        return
    if is_pretrain(path):
        check_pretrain_config(path, config)
    else:
        check_labeler_config(config["components"][component]["model"], config)
    cell = config["components"][component]["model"]["encoder"]["cell"]
    assert cell in path.stem, f"{path.name} uses cell {cell!r}"


# the best-scoring translator config: translator_lstm.cfg with these settings changed
BEST_TRANSLATOR = "translator_lstm_luong"
BEST_TRANSLATOR_CHANGES = {
    "components.rnn_translator.model.attention": "luong",
    "components.rnn_translator.model.vocab_size": 4000,
    "components.rnn_translator.model.shared_vocab": False,
    "components.rnn_translator.model.train_precision": "bfloat16",
    "training.optimizer.@optimizers": "spacy-rnn.Adam.v1",
    "training.optimizer.use_averages": True,
    "training.optimizer.average_power": 3,
    "training.eval_frequency": 500,
}
# settings the best config has that translator_lstm.cfg's optimizer (thinc's Adam.v1) lacks
BEST_TRANSLATOR_EXTRA = {"training.optimizer.average_power"}


def flat_settings(config: Dict, prefix: str = "") -> Dict[str, object]:
    """{"section.key": value} of a nested config."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flat_settings(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_translator_config(path: Path, config: Config) -> None:
    """The comparison configs share everything but the cell; the best one is the LSTM's with
    BEST_TRANSLATOR_CHANGES."""
    assert path.read_text().startswith("# rnn_translator: ")
    assert path.read_text().splitlines()[1].startswith(
        f"# python -m spacy train configs/{path.name} ")
    if path.stem == BEST_TRANSLATOR:
        lstm = flat_settings(load_config(path.parent / "translator_lstm.cfg"))
        best = flat_settings(config)
        changed = {key: value for key, value in best.items() if lstm.get(key) != value}
        assert changed == BEST_TRANSLATOR_CHANGES and set(best) == set(lstm) | BEST_TRANSLATOR_EXTRA
        return
    component = config["components"]["rnn_translator"]
    model = component["model"]
    assert model["@architectures"] == "spacy-rnn.Seq2SeqTranslator.v1"
    assert path.stem == f"translator_{model['cell']}"
    assert model["encoder_cell"] is None and model["decoder_cell"] is None
    assert model["attention"] == "bahdanau"
    assert (model["emb_size"], model["hidden"]) == (128, 256)
    assert (model["encoder_depth"], model["decoder_depth"]) == (1, 1)
    assert (model["vocab_size"], model["shared_vocab"], model["subword_model"]) == (
        8000, True, "unigram")
    assert (model["dropout"], model["label_smoothing"]) == (0.2, 0.1)
    assert component["beam_size"] == 1
    for split in ("train", "dev"):
        reader = config["corpora"][split]
        assert reader["@readers"] == "spacy-rnn.ParallelCorpus.v1"
        assert set(config["paths"]) >= {f"{split}_source", f"{split}_target"}
    assert config["corpora"]["dev"]["max_length"] == 0
    assert config["corpora"]["train"]["max_length"] > 0
    training = config["training"]
    assert training["batcher"]["@batchers"] == "spacy-rnn.time_limited_batcher.v1"
    assert training["batcher"]["batcher"]["@batchers"] == "spacy.batch_by_words.v1"
    assert (training["max_epochs"], training["max_steps"]) == (100, 0)
    assert training["optimizer"]["grad_clip"] == 1.0
    # short keys: spaCy's console cuts longer names, so BLEU and chrF would share one heading
    assert training["score_weights"] == {"bleu": 1.0, "chrf": 0.0}
    assert component["scorer"]["@scorers"] == "spacy-rnn.translation_scorer.v2"
    assert config["initialize"]["before_init"]["@callbacks"] == "spacy-rnn.set_torch_threads.v1"
    assert config["initialize"]["components"]["rnn_translator"]["sentencepiece_model"] is None


def check_textcat_config(path: Path, config: Config) -> None:
    """Keras' Embedding -> LSTM(50) -> Dense(1, sigmoid): one sigmoid per label, the last
    state of a unidirectional spacy-rnn LSTM in the tok2vec's encoder slot."""
    assert path.read_text().splitlines()[1].startswith(f"# python -m spacy train configs/{path.name} ")
    model = config["components"]["textcat_multilabel"]["model"]
    assert model["@architectures"] == "spacy.TextCatReduce.v1"
    assert model["exclusive_classes"] is False
    reductions = [key for key in model if key.startswith("use_reduce_") and model[key]]
    assert reductions == ["use_reduce_last"]
    encode = model["tok2vec"]["encode"]
    assert encode["@architectures"] == "spacy-rnn.RNNEncoder.v1"
    assert (encode["cell"], encode["width"], encode["bidirectional"]) == ("lstm", 50, False)
    assert model["tok2vec"]["embed"]["width"] == 50


def check_labeler_config(model: Config, config: Config) -> None:
    """The settings tuned on UPOS and UNER dev sets (docs/TAGGER_TUNING.md), in every shipped
    rnn_tagger and rnn_ner config: width 256, large word tables, word dropout, averaging."""
    tok2vec, encoder = model["tok2vec"], model["encoder"]
    assert (tok2vec["width"], encoder["width"], encoder["depth"]) == (256, 256, 2)
    assert tok2vec["rows"] == [20000, 2000, 5000, 1000]
    assert tok2vec["word_dropout"] == 0.25
    assert config["training"]["optimizer"]["use_averages"] is True


def check_pretrain_config(path: Path, config: Config) -> None:
    """tagger_lstm.cfg's network split in two: the shared tok2vec (embeddings + first BiLSTM
    layer, all of it pretrained) and the tagger's own layer, listening; one file for both commands."""
    lines = path.read_text().splitlines()
    for command in ("pretrain", "train"):
        assert any(line.startswith(f"# python -m spacy {command} configs/{path.name} ") for line in lines)
    assert (config["pretraining"]["component"], config["pretraining"]["layer"]) == ("tok2vec", "")
    shared = config["components"]["tok2vec"]["model"]
    assert shared["@architectures"] == "spacy.Tok2Vec.v2"
    assert shared["embed"]["@architectures"] == "spacy-rnn.WordCharEmbed.v1"
    assert (shared["embed"]["width"], shared["embed"]["word_dropout"]) == (256, 0.25)
    assert shared["encode"]["@architectures"] == "spacy-rnn.RNNEncoder.v1"
    tagger = config["components"]["rnn_tagger"]["model"]
    assert tagger["tok2vec"]["@architectures"] == "spacy.Tok2VecListener.v1"
    assert shared["encode"]["depth"] + tagger["encoder"]["depth"] == 2
    assert config["training"]["optimizer"]["use_averages"] is True


def check_joint_config(path: Path, config: Config) -> None:
    """tagger_lstm.cfg's embeddings and 2-layer BiLSTM, shared by three softmax heads (UPOS, XPOS,
    features) that have no encoder of their own; model-best weighs all three scores."""
    lines = path.read_text().splitlines()
    assert any(line.startswith(f"# python -m spacy train configs/{path.name} ") for line in lines)
    shared = config["components"]["tok2vec"]["model"]
    assert shared["@architectures"] == "spacy.Tok2Vec.v2"
    embed, encode = shared["embed"], shared["encode"]
    assert embed["@architectures"] == "spacy-rnn.WordCharEmbed.v1"
    assert (embed["width"], embed["rows"], embed["word_dropout"]) == (256, [20000, 2000, 5000, 1000], 0.25)
    assert encode["@architectures"] == "spacy-rnn.RNNEncoder.v1"
    assert encode["cell"] in path.stem, f"{path.name} uses cell {encode['cell']!r}"
    assert (encode["width"], encode["depth"], encode["dropout"]) == (256, 2, 0.2)
    for name, attr in JOINT_HEADS.items():
        head = config["components"][name]
        assert head["attr"] == attr
        assert head["model"]["@architectures"] == "spacy-rnn.SequenceLabeler.v2"
        assert head["model"]["encoder"] is None and head["model"]["crf"] is False
        assert head["model"]["tok2vec"]["@architectures"] == "spacy.Tok2VecListener.v1"
        assert head["model"]["tok2vec"]["upstream"] == "tok2vec"
    assert config["training"]["optimizer"]["use_averages"] is True
    assert config["training"]["score_weights"] == {"pos_acc": 0.5, "tag_acc": 0.25, "morph_acc": 0.25}


def check_joint_pipeline(nlp: spacy.Language) -> None:
    """Each head listens to the shared tok2vec and its output layer reads the tok2vec's output."""
    tok2vec = nlp.get_pipe("tok2vec")
    assert tok2vec.listening_components == list(JOINT_HEADS)
    assert tok2vec.model.get_ref("encode").name == "rnn-encoder-lstm"
    width = tok2vec.model.get_ref("encode").get_dim("nO")
    for name in JOINT_HEADS:
        model = nlp.get_pipe(name).model
        assert not model.has_ref("encoder")
        assert model.get_ref("output").get_dim("nI") == width


@pytest.mark.parametrize("path", CONFIGS, ids=CONFIG_IDS)
def test_config_assembles(path):
    config = load_config(path, overrides=dummy_path_overrides(path))
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    component = component_name(path)
    assert nlp.pipe_names == pipeline_names(path)
    for name in labeler_names(path):
        assert nlp.get_pipe_meta(name).factory == component
    if is_joint(path):
        check_joint_pipeline(nlp)
        return
    pipe = nlp.get_pipe(component)
    if is_translator(path):
        model = config["components"][component]["model"]
        assert pipe.model.get_ref("core").attrs["hyper"]["cell"] == model["cell"]
        assert pipe.cfg["beam_size"] == 1
        return
    if is_textcat(path):
        encoder = pipe.model.get_ref("tok2vec").get_ref("encode")
        assert encoder.name == "rnn-encoder-lstm"
        return
    crf = config["components"][component]["model"]["crf"]
    assert pipe.model.attrs["crf"] is crf
    assert pipe.model.get_ref("encoder").name.startswith("rnn-encoder-")


@pytest.mark.parametrize("path", CONFIGS, ids=CONFIG_IDS)
@pytest.mark.filterwarnings("ignore:SentencePiece. the training texts support at most")
def test_config_trains_two_steps(path, corpus, parallel_corpus, tmp_path):
    component = component_name(path)
    if is_translator(path):
        overrides = translator_training_overrides(parallel_corpus)
    elif is_textcat(path):
        overrides = textcat_training_overrides(corpus)
    else:
        overrides = training_overrides(corpus, path)
    config = load_config(path, overrides=overrides, interpolate=False)
    config["training"]["before_update"] = {"@callbacks": "spacy-rnn-tests.record_steps.v1"}
    RECORDED_STEPS.clear()
    nlp = init_nlp(config)
    stdout = io.StringIO()
    nlp, _ = train(nlp, tmp_path, stdout=stdout, stderr=io.StringIO())
    # spaCy checks max_steps after the update, so steps 0..max_steps all run.
    assert RECORDED_STEPS[:2] == [0, 1]
    reloaded = spacy.load(tmp_path / "model-last")
    doc = reloaded("Alice lives in Paris .")
    assert len(doc) == 5
    if component == "rnn_translator":
        # columns whole, not both cut to "TRANSLATIO..." (spaCy cuts names over 13 characters)
        (header,) = [line for line in stdout.getvalue().splitlines() if line.startswith("E ")]
        assert header.split()[-3:] == ["BLEU", "CHRF", "SCORE"]
        assert 0.0 <= reloaded.meta["performance"]["bleu"] <= 1.0
        assert isinstance(doc._.translation, str)
        return
    if component == "textcat_multilabel":
        assert list(doc.cats) == ["POSITIVE"] and 0.0 <= doc.cats["POSITIVE"] <= 1.0
        return
    assert all(nlp.get_pipe(name).labels for name in labeler_names(path))
    if is_joint(path):
        assert all(token.pos_ and token.tag_ and str(token.morph) for token in doc)
    elif component == "rnn_tagger":
        assert all(token.pos_ for token in doc)


@pytest.mark.filterwarnings("ignore:.*lacks a value for")
def test_textcat_lstm_overfits_and_reloads(tmp_path):
    """The article's classifier learns 6 sentences: probabilities go to their labels and a
    saved, reloaded pipeline gives the same ones."""
    fix_random_seed(0)
    nlp = load_model_from_config(load_config(ROOT / "configs" / "textcat_lstm.cfg"), auto_fill=True,
                                 validate=True)
    examples = [Example.from_dict(nlp.make_doc(text), {"cats": {"POSITIVE": label}})
                for text, label in SENTIMENT]
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.01
    texts, labels = [text for text, _ in SENTIMENT], [label for _, label in SENTIMENT]
    before = [doc.cats["POSITIVE"] for doc in nlp.pipe(texts)]
    for _ in range(20):
        nlp.update(examples, sgd=optimizer)
    after = [doc.cats["POSITIVE"] for doc in nlp.pipe(texts)]
    distance_before = [abs(p - label) for p, label in zip(before, labels)]
    distance_after = [abs(p - label) for p, label in zip(after, labels)]
    assert all(d < 0.2 for d in distance_after), (before, after)
    assert all(a < b for a, b in zip(distance_after, distance_before)), (before, after)
    assert nlp.evaluate(examples)["cats_score"] == 1.0
    nlp.to_disk(tmp_path)
    reloaded = [doc.cats["POSITIVE"] for doc in spacy.load(tmp_path).pipe(texts)]
    assert reloaded == pytest.approx(after, abs=1e-6)


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
    overrides = training_overrides(corpus, path)
    args = [arg for key, value in overrides.items()
            for arg in (f"--{key}", str(value).replace("'", '"'))]
    command = [sys.executable, "-m", "spacy", "train", str(path), "--output", str(tmp_path), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "model-last" / "config.cfg").exists()


@pytest.mark.parametrize("path", [p for p in CONFIGS if is_translator(p)], ids=lambda p: p.stem)
def test_translator_config_misspelled_cell_fails_validation(path):
    config = load_config(path, overrides=dummy_path_overrides(path))
    config["components"]["rnn_translator"]["model"]["cell"] = "lsmt"
    with pytest.raises(ConfigValidationError, match="lsmt"):
        load_model_from_config(config, auto_fill=True, validate=True)


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
    if ep.name == "rnn_translator":
        assert pipe.model.get_ref("core").attrs["hyper"]["cell"] == "lstm"
    else:
        assert pipe.model.get_ref("encoder").name == "rnn-encoder-lstm"


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.name.startswith("ner_")], ids=lambda p: p.name)
def test_ner_configs_warm_up_and_decay_the_learning_rate(path):
    """The NER configs' schedule (docs/TAGGER_TUNING.md): 0 -> 0.002 over 200 steps, then
    linearly down to 0 at step 3,000; the dev score every 200 steps."""
    config = load_config(path)
    optimizer = registry.resolve({"optimizer": config["training"]["optimizer"]})["optimizer"]
    rates = {}
    for step in range(3001):
        rates[step] = optimizer.learn_rate
        optimizer.step_schedules()
    assert rates[0] == 0.0 and rates[100] == pytest.approx(0.001) and rates[200] == pytest.approx(0.002)
    assert rates[1600] == pytest.approx(0.001) and rates[3000] == pytest.approx(0.0, abs=1e-9)
    assert config["training"]["eval_frequency"] == 200
