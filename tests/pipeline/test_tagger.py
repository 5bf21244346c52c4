import warnings

import numpy
import pytest
import spacy
from thinc.api import ConfigValidationError
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import fix_random_seed

TRAIN_DATA = [
    ("I like green eggs", ["N", "V", "J", "N"]),
    ("Eat blue ham", ["V", "J", "N"]),
    ("We eat ham now", ["N", "V", "N", "R"]),
]
SMALL = {"tok2vec": {"width": 32, "char_embed": {"width": 16, "char_dim": 8}},
         "encoder": {"width": 32, "depth": 1}}


def make_nlp(cell="lstm", crf=False, attr="tag", **model):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    config = {"model": {**SMALL, "crf": crf, **model}, "attr": attr}
    config["model"]["encoder"] = {**SMALL["encoder"], "cell": cell}
    nlp.add_pipe("rnn_tagger", config=config)
    return nlp


def examples(nlp, key="tags"):
    return [Example.from_dict(nlp.make_doc(text), {key: tags}) for text, tags in TRAIN_DATA]


def train(nlp, egs, n_iter=60):
    optimizer = nlp.initialize(lambda: egs)
    optimizer.learn_rate = 0.01
    for _ in range(n_iter):
        losses = {}
        nlp.update(egs, sgd=optimizer, losses=losses)
    return losses["rnn_tagger"]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("crf", [False, True])
def test_overfitting_IO(cell, crf, tmp_path):
    nlp = make_nlp(cell, crf)
    egs = examples(nlp)
    assert train(nlp, egs) < 0.02
    texts = [text for text, _ in TRAIN_DATA]
    predicted = [[t.tag_ for t in nlp(text)] for text in texts]
    assert predicted == [tags for _, tags in TRAIN_DATA]
    nlp.to_disk(tmp_path)
    nlp2 = spacy.load(tmp_path)
    assert [[t.tag_ for t in nlp2(text)] for text in texts] == predicted
    assert [[t.tag_ for t in doc] for doc in nlp2.pipe(texts, batch_size=2)] == predicted
    assert nlp2.get_pipe("rnn_tagger").cfg["labels"] == ["J", "N", "R", "V"]


def test_word_dropout_overfits_predicts_without_it_and_reloads(tmp_path):
    """word_dropout zeroes word features in training only: the tagger still learns the tiny set
    (from the characters and the other words), predicts the same tags twice (no dropout at
    prediction) and keeps the setting through save and load."""
    nlp = make_nlp(tok2vec={**SMALL["tok2vec"], "word_dropout": 0.3})
    train(nlp, examples(nlp), n_iter=100)
    texts = [text for text, _ in TRAIN_DATA]
    predicted = [[t.tag_ for t in nlp(text)] for text in texts]
    assert predicted == [tags for _, tags in TRAIN_DATA]
    assert [[t.tag_ for t in nlp(text)] for text in texts] == predicted
    docs = [nlp.make_doc(text) for text in texts]
    scores = [nlp.get_pipe("rnn_tagger").model.predict(docs) for _ in range(2)]
    numpy.testing.assert_array_equal(numpy.concatenate(scores[0]), numpy.concatenate(scores[1]))
    nlp.to_disk(tmp_path)
    reloaded = spacy.load(tmp_path)
    rates = [node.attrs["token_dropout"] for node in reloaded.get_pipe("rnn_tagger").model.walk()
             if node.name == "token-dropout"]
    assert rates == [0.3]  # the reloaded model drops words in training as the saved one did
    assert [[t.tag_ for t in reloaded(text)] for text in texts] == predicted


def test_add_pipe_accepts_partial_model_config():
    nlp = spacy.blank("en")
    tagger = nlp.add_pipe("rnn_tagger", config={"model": {"encoder": {"cell": "gru"}, "crf": True}})
    assert tagger.model.get_ref("encoder").name == "rnn-encoder-gru"
    assert tagger.model.attrs["crf"] is True


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_labeler_without_encoder_builds_predicts_and_trains(version):
    """encoder = null: a softmax straight over the embeddings, whose input width is theirs;
    the words of TRAIN_DATA have one tag each, so it learns them without context."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    # a whole model block: the factory's default (a v2 one) fills no block of another architecture
    char_embed = {"@architectures": "spacy-rnn.CharEmbed.v1", **SMALL["tok2vec"]["char_embed"]}
    tok2vec = {"@architectures": "spacy-rnn.WordCharEmbed.v1", **SMALL["tok2vec"], "char_embed": char_embed}
    model = {"@architectures": f"spacy-rnn.SequenceLabeler.{version}", "tok2vec": tok2vec, "encoder": None}
    tagger = nlp.add_pipe("rnn_tagger", config={"model": model})
    assert tagger.model.has_ref("encoder") is None  # the reference exists, unset
    width = SMALL["tok2vec"]["width"]
    assert tagger.model.get_ref("output").get_dim("nI") == width
    egs = examples(nlp)
    optimizer = nlp.initialize(lambda: egs)
    optimizer.learn_rate = 0.01
    losses = [nlp.update(egs, sgd=optimizer)["rnn_tagger"] for _ in range(60)]
    assert losses[-1] < 0.02 < losses[0]
    assert tagger.model.get_ref("output").get_param("W").shape == (4, width)
    assert [[t.tag_ for t in nlp(text)] for text, _ in TRAIN_DATA] == [tags for _, tags in TRAIN_DATA]


def test_pos_attribute_and_scorer():
    nlp = make_nlp(attr="pos")
    pos = [["PRON", "VERB", "ADJ", "NOUN"], ["VERB", "ADJ", "NOUN"], ["PRON", "VERB", "NOUN", "ADV"]]
    egs = [Example.from_dict(nlp.make_doc(t), {"pos": p}) for (t, _), p in zip(TRAIN_DATA, pos)]
    train(nlp, egs)
    assert [t.pos_ for t in nlp("I like green eggs")] == pos[0]
    scores = nlp.evaluate(egs)
    assert scores["pos_acc"] == 1.0


def test_morph_attribute():
    nlp = make_nlp(attr="morph")
    morphs = [["Case=Nom", "", "Degree=Pos", "Number=Plur"], ["Mood=Imp", "Degree=Pos", "Number=Sing"],
              ["Case=Nom", "", "Number=Sing", ""]]
    egs = [Example.from_dict(nlp.make_doc(t), {"morphs": m}) for (t, _), m in zip(TRAIN_DATA, morphs)]
    train(nlp, egs)
    assert [str(t.morph) for t in nlp("I like green eggs")] == morphs[0]
    assert nlp.evaluate(egs)["morph_acc"] == 1.0


def test_save_and_load_before_initialize(tmp_path):
    nlp = make_nlp()
    nlp.to_disk(tmp_path)
    nlp2 = spacy.load(tmp_path)
    egs = examples(nlp2)
    assert train(nlp2, egs) < 0.05


def test_bytes_round_trip():
    nlp = make_nlp(crf=True)
    train(nlp, examples(nlp), n_iter=5)
    tagger = nlp.get_pipe("rnn_tagger")
    doc = nlp.make_doc("We like ham")
    scores = tagger.model.predict([doc])
    nlp2 = make_nlp(crf=True)
    nlp2.get_pipe("rnn_tagger").from_bytes(tagger.to_bytes())
    numpy.testing.assert_allclose(nlp2.get_pipe("rnn_tagger").model.predict([doc])[0], scores[0])


def test_predict_before_initialize_gives_spacy_error():
    nlp = make_nlp()
    with pytest.raises(ValueError, match=r"E109.*rnn_tagger.*initialize"):
        nlp("I like eggs")


def test_empty_whitespace_long_and_odd_docs():
    nlp = make_nlp()
    train(nlp, examples(nlp), n_iter=2)
    assert len(nlp("")) == 0
    assert len(nlp("   \n ")) >= 1
    odd = nlp("Ζῷον 🙂 ⟨∀x⟩ \x00 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 " + "a" * 300)
    assert all(t.tag_ in ("J", "N", "R", "V") for t in odd)
    words = ["w%d" % (i % 50) for i in range(20000)]
    doc = nlp(Doc(nlp.vocab, words=words))
    assert all(t.tag_ for t in doc)
    batch = list(nlp.pipe(["", "I like eggs", ""]))
    assert [len(d) for d in batch] == [0, 3, 0]


def test_missing_annotation_is_ignored_not_learned():
    nlp = make_nlp()
    egs = [Example.from_dict(nlp.make_doc("I like green eggs"), {"tags": ["N", "", "J", "N"]}),
           Example.from_dict(nlp.make_doc("Eat blue ham"), {"tags": ["V", "J", ""]})]
    train(nlp, egs, n_iter=30)
    tagger = nlp.get_pipe("rnn_tagger")
    assert set(tagger.labels) == {"N", "J", "V"}
    assert tagger.truth_ids(egs[0]).tolist()[1] == -1 and tagger.truth_ids(egs[1]).tolist()[2] == -1


def test_no_labels_is_a_clear_error():
    nlp = make_nlp()
    egs = [Example(nlp.make_doc("I like eggs"), nlp.make_doc("I like eggs"))]
    with pytest.raises(ValueError, match="no labels"):
        nlp.initialize(lambda: egs)


def test_bad_attr_fails_validation():
    nlp = spacy.blank("en")
    with pytest.raises(ConfigValidationError, match=r"attr\s+at root: 'lemma' is not typing.Literal\['tag', 'pos', 'morph'\]"):
        nlp.add_pipe("rnn_tagger", config={"attr": "lemma"})


POS = [["PRON", "VERB", "ADJ", "NOUN"], ["VERB", "ADJ", "NOUN"], ["PRON", "VERB", "NOUN", "ADV"]]


def pos_examples(nlp):
    return [Example.from_dict(nlp.make_doc(t), {"pos": p}) for (t, _), p in zip(TRAIN_DATA, POS)]


def test_score_weights_that_miss_the_reported_score_warn():
    nlp = make_nlp(attr="pos")
    with pytest.warns(UserWarning, match=r"reports pos_acc.*pos_acc = 1.0 and tag_acc = null"):
        nlp.initialize(lambda: pos_examples(nlp))
    config = nlp.config
    config["training"]["score_weights"] = {"pos_acc": 1.0, "tag_acc": None, "morph_acc": None}
    nlp2 = spacy.util.load_model_from_config(config, auto_fill=True)
    tag_nlp = make_nlp(attr="tag")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nlp2.initialize(lambda: pos_examples(nlp2))
        tag_nlp.initialize(lambda: examples(tag_nlp))


def test_gold_label_outside_the_labels_warns_once_and_is_left_out():
    nlp = make_nlp()
    egs = examples(nlp)
    nlp.config["initialize"]["components"] = {"rnn_tagger": {"labels": ["N", "V"]}}
    nlp.initialize(lambda: egs)
    tagger = nlp.get_pipe("rnn_tagger")
    with pytest.warns(UserWarning, match=r"\['J'\] from token.tag are not among the component's labels"):
        nlp.update(egs)
    assert tagger.truth_ids(egs[0]).tolist() == [0, 1, -1, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per label
        nlp.update(egs)


def test_unset_morph_is_missing_not_a_label():
    nlp = make_nlp(attr="morph")
    doc = nlp.make_doc("I like green eggs")
    ref = nlp.make_doc("I like green eggs")
    ref[0].set_morph("Case=Nom")
    ref[3].set_morph("Number=Plur")
    eg = Example(doc, ref)
    tagger = nlp.get_pipe("rnn_tagger")
    assert tagger.gold_labels(eg) == ["Case=Nom", None, None, "Number=Plur"]
    nlp.initialize(lambda: [eg])
    assert "" not in tagger.labels and tagger.truth_ids(eg).tolist()[1:3] == [-1, -1]


@pytest.mark.parametrize("call", ["pipe", "update"])
def test_use_before_initialize_says_so(call):
    nlp = make_nlp()
    with pytest.raises(ValueError, match=r"E109.*rnn_tagger.*initialize"):
        if call == "pipe":
            list(nlp.pipe(["I like eggs"]))
        else:
            nlp.update(examples(nlp))


def test_load_keeps_the_saved_attr_and_says_so(tmp_path):
    nlp = make_nlp()
    nlp.initialize(lambda: examples(nlp))
    nlp.to_disk(tmp_path)
    with pytest.warns(UserWarning, match=r"saved with attr = 'tag'.*not the config's attr = 'pos'"):
        loaded = spacy.load(tmp_path, config={"components": {"rnn_tagger": {"attr": "pos"}}})
    assert loaded.get_pipe("rnn_tagger").attr == "tag"


def test_softmax_loss_gives_no_gradient_to_unannotated_tokens():
    import torch
    from spacy_rnn.architectures.crf_layers import build_softmax_loss

    loss_layer = build_softmax_loss()
    scores = [numpy.asarray([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [0.0, 0.0, 1.0]], dtype="f")]
    truths = [numpy.asarray([0, -1, 2])]
    loss, backprop = loss_layer((scores, truths), is_train=True)
    d = backprop(1.0)[0]
    assert numpy.all(d[1] == 0)
    # and it is the gradient of the loss: cross-entropy averaged over the 2 known tokens
    t = torch.tensor(scores[0], requires_grad=True)
    ref = torch.nn.functional.cross_entropy(t[[0, 2]], torch.tensor([0, 2]))
    ref.backward()
    assert loss == pytest.approx(float(ref), rel=1e-5)
    numpy.testing.assert_allclose(d, t.grad.numpy(), atol=1e-6)
