"""Pretrained static vectors through spaCy's own mechanism: ``[initialize] vectors`` loads a
pipeline's vectors into the vocab and ``include_static_vectors = true`` feeds them to
``spacy-rnn.WordCharEmbed.v1`` (the path README's "Pretrained vectors" describes)."""
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.training import Example
from spacy.util import load_config, load_model_from_config
from thinc.api import fix_random_seed

CONFIG = Path(__file__).parents[2] / "configs" / "tagger_lstm.cfg"
TAGGED = [("I like green eggs", ["PRON", "VERB", "ADJ", "NOUN"]),
          ("Eat blue ham", ["VERB", "ADJ", "NOUN"]),
          ("We eat ham now", ["PRON", "VERB", "NOUN", "ADV"])]
SMALL = {"components.rnn_tagger.model.tok2vec.width": 16,
         "components.rnn_tagger.model.tok2vec.rows": [200, 50, 50, 50],
         "components.rnn_tagger.model.tok2vec.char_embed.width": 8,
         "components.rnn_tagger.model.encoder.width": 16,
         "components.rnn_tagger.model.encoder.depth": 1}


def vectors_pipeline(path: Path, width: int = 6) -> Path:
    """A blank pipeline that only holds static vectors, as an installed spaCy package does."""
    nlp = spacy.blank("en")
    rng = numpy.random.default_rng(0)
    words = {word for text, _ in TAGGED for word in text.lower().split()}
    for word in sorted(words):
        nlp.vocab.set_vector(word, rng.normal(size=(width,)).astype("float32"))
    nlp.to_disk(path)
    return path


def tagger_with_vectors(vectors: Path, include: bool = True):
    config = load_config(CONFIG, overrides={
        **SMALL, "paths.vectors": str(vectors),
        "components.rnn_tagger.model.tok2vec.include_static_vectors": include})
    fix_random_seed(0)
    return load_model_from_config(config, auto_fill=True)


def train(nlp, steps: int = 60):
    examples = [Example.from_dict(nlp.make_doc(text), {"pos": tags}) for text, tags in TAGGED]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer)
    return nlp


def test_initialize_loads_the_vectors_and_the_tagger_overfits(tmp_path):
    nlp = train(tagger_with_vectors(vectors_pipeline(tmp_path / "vectors")))
    assert nlp.vocab.vectors.n_keys == 9 and nlp.vocab.vectors.shape[1] == 6
    for text, tags in TAGGED:
        assert [token.pos_ for token in nlp(text)] == tags


def test_the_vectors_reach_the_model(tmp_path):
    """The static vectors are an input: changing a word's vector changes its label scores."""
    nlp = train(tagger_with_vectors(vectors_pipeline(tmp_path / "vectors")), steps=5)
    model = nlp.get_pipe("rnn_tagger").model
    docs = [nlp.make_doc("green eggs")]
    before = model.predict(docs)[0].copy()
    nlp.vocab.set_vector("green", numpy.full((6,), 5.0, dtype="float32"))
    after = model.predict(docs)[0]
    assert not numpy.allclose(before, after)


def test_saved_pipeline_keeps_vectors_and_predictions(tmp_path):
    nlp = train(tagger_with_vectors(vectors_pipeline(tmp_path / "vectors")))
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    assert loaded.vocab.vectors.shape == nlp.vocab.vectors.shape
    for text, _ in TAGGED + [("green ham now", None)]:
        assert [t.pos_ for t in loaded(text)] == [t.pos_ for t in nlp(text)]


def test_static_vectors_without_vectors_name_the_setting():
    """include_static_vectors with a vocab without vectors fails at initialize, naming the
    setting and [initialize] vectors (not spaCy's IndexError at the first call)."""
    config = load_config(CONFIG, overrides={
        **SMALL, "components.rnn_tagger.model.tok2vec.include_static_vectors": True})
    nlp = load_model_from_config(config, auto_fill=True)
    examples = [Example.from_dict(nlp.make_doc(text), {"pos": tags}) for text, tags in TAGGED]
    with pytest.raises(ValueError, match=r"include_static_vectors = true.*\[initialize\] vectors"):
        nlp.initialize(lambda: examples)


def test_saved_pipeline_with_vectors_pickles(tmp_path):
    """The checked initializer keeps the model picklable (nlp.pipe with spawn pickles it)."""
    import pickle
    nlp = train(tagger_with_vectors(vectors_pipeline(tmp_path / "vectors")), steps=2)
    clone = pickle.loads(pickle.dumps(nlp))
    assert [t.pos_ for t in clone("green eggs")] == [t.pos_ for t in nlp("green eggs")]
