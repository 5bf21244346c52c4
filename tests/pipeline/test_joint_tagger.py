"""UPOS, XPOS and morphological features from one shared BiLSTM (``configs/tagger_joint_lstm.cfg``).

The shipped config, shrunk by overrides, learns a few generated sentences whose words map
consistently to a (pos, tag, morph) triple: three ``rnn_tagger`` heads without encoders listen
to one ``tok2vec`` (``spacy-rnn.WordCharEmbed.v1`` + ``spacy-rnn.RNNEncoder.v1``), and each
head's loss trains that shared encoder.
"""
import itertools
from pathlib import Path
from typing import Dict, List, Sequence

import numpy
import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import load_config, load_model_from_config
from thinc.api import fix_random_seed

CONFIG = Path(__file__).parents[2] / "configs" / "tagger_joint_lstm.cfg"
WIDTH = 32
SHARED = "components.tok2vec.model"
SMALL = {
    f"{SHARED}.embed.width": WIDTH,
    f"{SHARED}.embed.rows": [200, 100, 100, 100],
    f"{SHARED}.embed.char_embed.width": 8,
    f"{SHARED}.embed.char_embed.char_dim": 8,
    f"{SHARED}.embed.char_embed.rows": 100,
    f"{SHARED}.encode.width": WIDTH,  # the heads' listeners follow
    f"{SHARED}.encode.depth": 1,
}
HEADS = {"upos": "pos", "xpos": "tag", "feats": "morph"}
# word -> (UPOS, XPOS, features): one analysis per word, so the mapping can be learned
LEXICON = {
    "Alice": ("PROPN", "NNP", "Number=Sing"),
    "Bob": ("PROPN", "NNP", "Number=Sing"),
    "dogs": ("NOUN", "NNS", "Number=Plur"),
    "cat": ("NOUN", "NN", "Number=Sing"),
    "sees": ("VERB", "VBZ", "Number=Sing|Person=3|Tense=Pres"),
    "saw": ("VERB", "VBD", "Tense=Past|VerbForm=Fin"),
    "the": ("DET", "DT", "Definite=Def|PronType=Art"),
    ".": ("PUNCT", ".", "PunctType=Peri"),
}
# 8 sentences "<subject> <verb> the <object> ."
SENTENCES = [[subject, verb, "the", obj, "."] for subject, verb, obj in itertools.product(
    ["Alice", "Bob"], ["sees", "saw"], ["dogs", "cat"])]
N_UPDATES = 60


def gold_doc(vocab, words: Sequence[str]) -> Doc:
    analyses = [LEXICON[word] for word in words]
    return Doc(vocab, words=list(words), pos=[a[0] for a in analyses], tags=[a[1] for a in analyses],
               morphs=[a[2] for a in analyses])


def analyses(doc: Doc) -> List[tuple]:
    """What the three heads predicted: (pos, tag, morph) per token."""
    return [(token.pos_, token.tag_, str(token.morph)) for token in doc]


def joint_nlp() -> Language:
    """The shipped config, small; built but not initialized."""
    fix_random_seed(0)
    return load_model_from_config(load_config(CONFIG, overrides=SMALL), auto_fill=True, validate=True)


def make_examples(nlp: Language) -> List[Example]:
    return [Example(nlp.make_doc(" ".join(words)), gold_doc(nlp.vocab, words)) for words in SENTENCES]


def encoder_weights(nlp: Language) -> List[numpy.ndarray]:
    """Copies of the shared BiLSTM's torch parameters."""
    encode = nlp.get_pipe("tok2vec").model.get_ref("encode")
    return [tensor.detach().cpu().numpy().copy()
            for shim in encode.shims for tensor in shim._model.state_dict().values()]


@pytest.fixture(scope="module")
def trained():
    """The joint pipeline overfitted on SENTENCES, and the loss history of each head."""
    nlp = joint_nlp()
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.01
    history: List[Dict[str, float]] = []
    for _ in range(N_UPDATES):
        losses: Dict[str, float] = {}
        nlp.update(examples, sgd=optimizer, losses=losses)
        history.append(losses)
    return nlp, examples, history


def test_all_three_attributes_are_learned(trained):
    nlp, examples, history = trained
    for name in HEADS:
        assert history[-1][name] < 0.1 * history[0][name], (name, history[0][name], history[-1][name])
    for words in SENTENCES:
        assert analyses(nlp(" ".join(words))) == [LEXICON[word] for word in words]
    scores = nlp.evaluate(examples)
    assert (scores["pos_acc"], scores["tag_acc"], scores["morph_acc"]) == (1.0, 1.0, 1.0)


def test_each_head_predicts_its_own_attribute(trained):
    nlp, _, _ = trained
    for name, attr in HEADS.items():
        assert nlp.get_pipe(name).attr == attr
    assert nlp.get_pipe("tok2vec").listening_components == list(HEADS)
    assert set(nlp.get_pipe("feats").labels) == {morph for _, _, morph in LEXICON.values()}


def test_heads_without_encoder_read_the_shared_width(trained):
    """Each head is only a softmax: its output layer's input is the tok2vec's output."""
    nlp, _, _ = trained
    assert nlp.get_pipe("tok2vec").model.get_dim("nO") == WIDTH
    for name in HEADS:
        model = nlp.get_pipe(name).model
        assert not model.has_ref("encoder")
        output = model.get_ref("output")
        assert output.get_dim("nI") == model.get_ref("tok2vec").get_dim("nO") == WIDTH
        assert output.get_param("W").shape == (len(nlp.get_pipe(name).labels), WIDTH)


def shared_encoder_changes(heads: List[str]) -> bool:
    """Whether one update of only ``heads`` changes the shared BiLSTM of a fresh pipeline.

    The components are updated by hand, as ``nlp.update`` does but with the shared tok2vec's
    gradients applied at once (``nlp.update`` applies them at its next call)."""
    nlp = joint_nlp()
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    before = encoder_weights(nlp)
    nlp.get_pipe("tok2vec").update(examples)  # gives the listeners their inputs
    for name in heads:
        nlp.get_pipe(name).update(examples, sgd=optimizer)  # backprops into the tok2vec
    nlp.get_pipe("tok2vec").finish_update(optimizer)
    after = encoder_weights(nlp)
    return any(not numpy.array_equal(b, a) for b, a in zip(before, after))


def test_the_feats_loss_alone_trains_the_shared_encoder():
    assert shared_encoder_changes(["feats"])
    # control: without a head's loss there is no gradient, and the encoder stays as it was
    assert not shared_encoder_changes([])


def test_saved_pipeline_loads_with_identical_predictions(trained, tmp_path):
    nlp, _, _ = trained
    nlp.to_disk(tmp_path)
    reloaded = spacy.load(tmp_path)
    assert reloaded.pipe_names == ["tok2vec", *HEADS]
    assert reloaded.get_pipe("tok2vec").listening_components == list(HEADS)
    texts = [" ".join(words) for words in SENTENCES] + ["the dogs saw Alice and Bob .", ""]
    for original, loaded in zip(nlp.pipe(texts), reloaded.pipe(texts)):
        assert analyses(loaded) == analyses(original)
        numpy.testing.assert_array_equal(loaded.tensor, original.tensor)

