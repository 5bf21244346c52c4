"""``spacy-rnn.RNNEncoder.v1`` inside spaCy's own components.

Our encoder sits in the ``encode`` slot of spaCy's ``tok2vec`` component, and
spaCy's ``tagger``, ``ner`` and ``textcat`` listen to it; ``rnn_tagger`` can
listen to the same kind of shared tok2vec. Each pipeline overfits a few
sentences, is saved and reloaded, and must predict exactly the same.
"""
from typing import Dict, List

import numpy
import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import load_model_from_config
from thinc.api import Adam, Config, fix_random_seed

WIDTH = 32
N_UPDATES = 40

TRAIN_DATA = [
    ("I like green eggs", {"tags": ["N", "V", "J", "N"], "entities": [],
                           "cats": {"FOOD": 1.0, "PLACE": 0.0}}),
    ("Eat blue ham in Paris", {"tags": ["V", "J", "N", "P", "N"],
                               "entities": [(16, 21, "LOC")],
                               "cats": {"FOOD": 1.0, "PLACE": 0.0}}),
    ("Anna flew to New York", {"tags": ["N", "V", "P", "N", "N"],
                               "entities": [(0, 4, "PER"), (13, 21, "LOC")],
                               "cats": {"FOOD": 0.0, "PLACE": 1.0}}),
    ("Berlin is big", {"tags": ["N", "V", "J"], "entities": [(0, 6, "LOC")],
                       "cats": {"FOOD": 0.0, "PLACE": 1.0}}),
]

LISTENER = f"""
@architectures = "spacy.Tok2VecListener.v1"
width = {WIDTH}
upstream = "*"
"""

TOK2VEC_CONFIG = f"""
[components.tok2vec]
factory = "tok2vec"

[components.tok2vec.model]
@architectures = "spacy.Tok2Vec.v2"

[components.tok2vec.model.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = {WIDTH}
attrs = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
rows = [500, 100, 100, 100]
include_static_vectors = false

[components.tok2vec.model.encode]
@architectures = "spacy-rnn.RNNEncoder.v1"
width = {WIDTH}
depth = 1
cell = "lstm"
bidirectional = true
dropout = 0.0
residual = false
"""

SPACY_COMPONENTS_CONFIG = f"""
[nlp]
lang = "en"
pipeline = ["tok2vec", "tagger", "ner", "textcat"]

[components]
{TOK2VEC_CONFIG}

[components.tagger]
factory = "tagger"

[components.tagger.model]
@architectures = "spacy.Tagger.v2"
nO = null
normalize = false

[components.tagger.model.tok2vec]
{LISTENER}

[components.ner]
factory = "ner"

[components.ner.model]
@architectures = "spacy.TransitionBasedParser.v2"
state_type = "ner"
extra_state_tokens = false
hidden_width = {WIDTH}
maxout_pieces = 2
use_upper = true
nO = null

[components.ner.model.tok2vec]
{LISTENER}

[components.textcat]
factory = "textcat"

[components.textcat.model]
@architectures = "spacy.TextCatReduce.v1"
exclusive_classes = true
use_reduce_first = false
use_reduce_last = false
use_reduce_max = false
use_reduce_mean = true
nO = null

[components.textcat.model.tok2vec]
{LISTENER}
"""


def rnn_labeler_config(factory: str = "rnn_tagger", crf: bool = False,
                       encoder_width: int = WIDTH) -> str:
    """tok2vec (our encoder) + an rnn_tagger/rnn_ner listening to it."""
    return f"""
[nlp]
lang = "en"
pipeline = ["tok2vec", "{factory}"]

[components]
{TOK2VEC_CONFIG}

[components.{factory}]
factory = "{factory}"

[components.{factory}.model]
@architectures = "spacy-rnn.SequenceLabeler.v1"
crf = {str(crf).lower()}
nO = null

[components.{factory}.model.tok2vec]
{LISTENER}

[components.{factory}.model.encoder]
@architectures = "spacy-rnn.RNNEncoder.v1"
width = {encoder_width}
depth = 1
cell = "gru"
bidirectional = true
"""


def make_examples(nlp: Language) -> List[Example]:
    return [Example.from_dict(nlp.make_doc(text), annotations) for text, annotations in TRAIN_DATA]


def build(config: str) -> Language:
    fix_random_seed(0)
    return load_model_from_config(Config().from_str(config), auto_fill=True, validate=True)


def overfit(nlp: Language, examples: List[Example], n_updates: int = N_UPDATES
            ) -> List[Dict[str, float]]:
    """Initialize and train; return the losses of every update."""
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01)
    history = []
    for _ in range(n_updates):
        losses: Dict[str, float] = {}
        nlp.update(examples, sgd=optimizer, losses=losses)
        history.append(losses)
    return history


def predictions(doc: Doc) -> dict:
    return {
        "tags": [token.tag_ for token in doc],
        "ents": [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents],
        "cats": doc.cats,
        "tensor": doc.tensor.copy(),
    }


def assert_same_predictions(first: Doc, second: Doc) -> None:
    a, b = predictions(first), predictions(second)
    numpy.testing.assert_array_equal(a.pop("tensor"), b.pop("tensor"))
    assert a == b


def assert_losses_fell(history: List[Dict[str, float]], names: List[str],
                       factor: float = 0.1) -> None:
    for name in names:
        first, last = history[0][name], history[-1][name]
        assert last < factor * first, f"{name}: loss {first:.4f} -> {last:.4f}"


def gold_entities(annotations: dict) -> List[tuple]:
    return sorted(annotations["entities"])


@pytest.fixture(scope="module")
def trained_spacy_pipeline():
    """tok2vec with our encoder + spaCy's tagger, ner and textcat, overfitted once."""
    nlp = build(SPACY_COMPONENTS_CONFIG)
    history = overfit(nlp, make_examples(nlp))
    return nlp, history


def test_spacy_components_listen_to_our_encoder(trained_spacy_pipeline):
    nlp, _ = trained_spacy_pipeline
    tok2vec = nlp.get_pipe("tok2vec")
    assert sorted(tok2vec.listening_components) == ["ner", "tagger", "textcat"]
    encode = tok2vec.model.get_ref("encode")
    assert encode.name == "rnn-encoder-lstm"
    assert encode.get_dim("nO") == WIDTH


def test_spacy_components_overfit(trained_spacy_pipeline):
    nlp, history = trained_spacy_pipeline
    assert_losses_fell(history, ["tagger", "ner", "textcat"])
    for text, annotations in TRAIN_DATA:
        doc = nlp(text)
        assert [token.tag_ for token in doc] == annotations["tags"]
        assert sorted((e.start_char, e.end_char, e.label_) for e in doc.ents) == \
            gold_entities(annotations)
        gold_cat = max(annotations["cats"], key=annotations["cats"].get)
        assert max(doc.cats, key=doc.cats.get) == gold_cat


def test_spacy_components_pipe_equals_call(trained_spacy_pipeline):
    """Batching (with docs of other lengths) changes nothing: the encoder is length-correct."""
    nlp, _ = trained_spacy_pipeline
    texts = [text for text, _ in TRAIN_DATA]
    for single, batched in zip([nlp(text) for text in texts], nlp.pipe(texts, batch_size=4)):
        numpy.testing.assert_allclose(single.tensor, batched.tensor, atol=1e-5, rtol=0)
        assert [t.tag_ for t in single] == [t.tag_ for t in batched]
        assert [(e.start, e.end, e.label_) for e in single.ents] == \
            [(e.start, e.end, e.label_) for e in batched.ents]


def test_spacy_components_handle_empty_docs(trained_spacy_pipeline):
    nlp, _ = trained_spacy_pipeline
    empty, doc = list(nlp.pipe(["", "Berlin is big"]))
    assert len(empty) == 0 and empty.tensor.shape[0] == 0
    assert [token.tag_ for token in doc] == ["N", "V", "J"]


def test_spacy_components_to_disk_and_load(trained_spacy_pipeline, tmp_path):
    nlp, _ = trained_spacy_pipeline
    nlp.to_disk(tmp_path)
    reloaded = spacy.load(tmp_path)
    assert reloaded.pipe_names == nlp.pipe_names
    for text, _ in TRAIN_DATA + [("Anna ate green ham in Berlin", None)]:
        assert_same_predictions(nlp(text), reloaded(text))


@pytest.mark.parametrize("factory,crf", [("rnn_tagger", False), ("rnn_ner", True)])
def test_rnn_labeler_listening_to_shared_tok2vec(factory, crf, tmp_path):
    nlp = build(rnn_labeler_config(factory, crf=crf))
    tok2vec = nlp.get_pipe("tok2vec")
    assert tok2vec.listening_components == [factory]
    labeler = nlp.get_pipe(factory)
    assert labeler.model.get_ref("encoder").get_dim("nI") == WIDTH
    history = overfit(nlp, make_examples(nlp))
    assert_losses_fell(history, [factory])
    assert any(losses["tok2vec"] > 0 for losses in history), "no gradient reached tok2vec"
    for text, annotations in TRAIN_DATA:
        doc = nlp(text)
        if factory == "rnn_tagger":
            assert [token.tag_ for token in doc] == annotations["tags"]
        else:
            assert sorted((e.start_char, e.end_char, e.label_) for e in doc.ents) == \
                gold_entities(annotations)
    nlp.to_disk(tmp_path)
    reloaded = spacy.load(tmp_path)
    assert reloaded.get_pipe("tok2vec").listening_components == [factory]
    for text, _ in TRAIN_DATA + [("Anna ate green ham in Berlin", None)]:
        assert_same_predictions(nlp(text), reloaded(text))


def test_rnn_labeler_encoder_width_must_match_listener():
    with pytest.raises(ValueError, match="differs from the encoder width"):
        build(rnn_labeler_config("rnn_tagger", encoder_width=WIDTH // 2))
