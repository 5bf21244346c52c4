import re
import warnings

import numpy
import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.training import Example
from thinc.api import fix_random_seed

from spacy_rnn.pipeline.schemes import allowed_transitions, biluo_to_scheme, scheme_labels, scheme_to_biluo

TRAIN_DATA = [
    ("Alice lives in Paris", [(0, 5, "PER"), (15, 20, "LOC")]),
    ("New York is big", [(0, 8, "LOC")]),
    ("Bob met Alice Smith", [(0, 3, "PER"), (8, 19, "PER")]),
    ("I like London", [(7, 13, "LOC")]),
]
SMALL = {"tok2vec": {"width": 32, "char_embed": {"width": 16, "char_dim": 8}},
         "encoder": {"width": 32, "depth": 1}}


def make_nlp(cell="lstm", crf=True, scheme="BILUO", spans_key=None, constrained_training=False):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    model = {**SMALL, "crf": crf, "encoder": {**SMALL["encoder"], "cell": cell}}
    nlp.add_pipe("rnn_ner", config={"model": model, "scheme": scheme, "spans_key": spans_key,
                                    "constrained_training": constrained_training})
    return nlp


def train(nlp, egs, n_iter=60):
    optimizer = nlp.initialize(lambda: egs)
    optimizer.learn_rate = 0.01
    for _ in range(n_iter):
        losses = {}
        nlp.update(egs, sgd=optimizer, losses=losses)
    return losses["rnn_ner"]


def entity_examples(nlp):
    return [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in TRAIN_DATA]


def ents(doc):
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("crf", [True, False])
def test_overfitting_IO(cell, crf, tmp_path):
    nlp = make_nlp(cell, crf)
    assert train(nlp, entity_examples(nlp)) < 0.02
    texts = [t for t, _ in TRAIN_DATA]
    predicted = [ents(nlp(t)) for t in texts]
    assert predicted == [e for _, e in TRAIN_DATA]
    nlp.to_disk(tmp_path)
    nlp2 = spacy.load(tmp_path)
    assert [ents(nlp2(t)) for t in texts] == predicted
    assert [ents(d) for d in nlp2.pipe(texts, batch_size=3)] == predicted
    scores = nlp2.evaluate(entity_examples(nlp2))
    assert scores["ents_f"] == 1.0 and scores["ents_per_type"]["LOC"]["f"] == 1.0


def test_bio_scheme_labels_and_overfit():
    nlp = make_nlp(scheme="BIO")
    train(nlp, entity_examples(nlp))
    assert nlp.get_pipe("rnn_ner").labels == ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")
    assert ents(nlp("New York is big")) == [(0, 8, "LOC")]


def test_spans_key_writes_doc_spans():
    nlp = make_nlp(spans_key="sc")
    egs = []
    for text, spans in TRAIN_DATA:
        ref = nlp.make_doc(text)
        ref.spans["sc"] = [ref.char_span(s, e, label=l) for s, e, l in spans]
        egs.append(Example(nlp.make_doc(text), ref))
    train(nlp, egs)
    doc = nlp("Alice lives in Paris")
    assert [(s.text, s.label_) for s in doc.spans["sc"]] == [("Alice", "PER"), ("Paris", "LOC")]
    assert doc.ents == ()
    assert nlp.evaluate(egs)["spans_sc_f"] == 1.0


def test_missing_entity_annotation_is_not_learned_as_O():
    nlp = make_nlp()
    doc = nlp.make_doc("Alice lives in Paris")
    eg = Example.from_dict(doc, {"entities": ["U-PER", "-", "-", "U-LOC"]})
    ner = nlp.get_pipe("rnn_ner")
    nlp.initialize(lambda: [eg])
    assert ner.truth_ids(eg).tolist()[1:3] == [-1, -1]


def test_scheme_conversions():
    biluo = ["B-PER", "I-PER", "L-PER", "O", "U-LOC", "-", None]
    assert biluo_to_scheme(biluo, "BIO") == ["B-PER", "I-PER", "I-PER", "O", "B-LOC", None, None]
    assert scheme_to_biluo(["B-PER", "I-PER", "I-PER", "O", "B-LOC"], "BIO") == \
        ["B-PER", "I-PER", "L-PER", "O", "U-LOC"]
    assert scheme_labels(["PER"], "BILUO") == ["O", "B-PER", "I-PER", "L-PER", "U-PER"]


@pytest.mark.parametrize("scheme", ["BIO", "BILUO"])
def test_transition_table(scheme):
    labels = scheme_labels(["LOC", "PER"], scheme)
    allowed, first, last = allowed_transitions(labels, scheme)
    idx = {l: i for i, l in enumerate(labels)}
    assert not allowed[idx["O"], idx["I-PER"]]
    assert not allowed[idx["B-LOC"], idx["I-PER"]]
    assert allowed[idx["B-PER"], idx["I-PER"]]
    assert not first[idx["I-LOC"]]
    if scheme == "BILUO":
        assert not allowed[idx["B-PER"], idx["O"]] and not last[idx["B-PER"]]


@settings(max_examples=40, deadline=None)
@given(scheme=st.sampled_from(["BIO", "BILUO"]), crf=st.booleans(),
       lengths=st.lists(st.integers(0, 12), min_size=1, max_size=4), seed=st.integers(0, 10**6))
def test_decoding_always_valid(scheme, crf, lengths, seed):
    """Whatever the scores, constrained decoding outputs valid tag sequences."""
    nlp = make_nlp(crf=crf, scheme=scheme)
    ner = nlp.get_pipe("rnn_ner")
    ner.cfg["labels"] = scheme_labels(["LOC", "PER", "ORG"], scheme)
    rng = numpy.random.default_rng(seed)
    scores = [rng.normal(0, 5, (n, len(ner.labels))).astype("float32") for n in lengths]
    decoder = ner.model.get_ref("decoder")
    if crf:
        ner.model.get_ref("crf").set_dim("nO", len(ner.labels))
        ner.model.get_ref("crf").initialize()
        for name in ("transitions", "start", "end"):
            param = ner.model.get_ref("crf").get_param(name)
            param[...] = rng.normal(0, 5, param.shape)
    paths = decoder.predict((scores, ner.constraints()))
    for n, path in zip(lengths, paths):
        tags = [ner.labels[i] for i in path]
        assert len(tags) == n and valid_by_hand(tags, scheme)


def valid_by_hand(tags, scheme):
    """The schemes' rules written out, independent of schemes.py's transition table: in BIO
    an I-X follows B-X or I-X; in BILUO an open entity (after B-X or I-X) goes on with I-X or
    L-X only, and I/L come only inside one (the end counts as O)."""
    prev = "O"
    for tag in tags + ["O"]:
        inside = prev[0] in "BI" and tag[2:] == prev[2:]
        if scheme == "BIO" and tag[0] == "I" and not inside:
            return False
        continues = tag[0] in "IL"
        if scheme == "BILUO" and (continues != inside or (prev[0] in "BI") != continues):
            return False
        prev = tag
    return True


def test_valid_by_hand_rejects_what_the_schemes_forbid():
    assert valid_by_hand(["B-PER", "I-PER", "L-PER", "O", "U-LOC"], "BILUO")
    assert valid_by_hand(["B-PER", "I-PER", "O", "B-LOC", "B-LOC"], "BIO")
    for tags, scheme in ((["O", "I-PER"], "BIO"), (["B-PER", "I-LOC"], "BIO"), (["B-PER"], "BILUO"),
                         (["O", "L-PER"], "BILUO"), (["B-PER", "O"], "BILUO"), (["I-PER", "L-PER"], "BILUO"),
                         (["B-PER", "L-LOC"], "BILUO"), (["U-PER", "I-PER", "L-PER"], "BILUO")):
        assert not valid_by_hand(tags, scheme), (tags, scheme)


@pytest.mark.parametrize("labels", [["O", "B-LOC", "I-LOC"], ["B-LOC", "I-LOC", "L-LOC", "U-LOC"]])
def test_labels_not_of_the_scheme_are_refused(labels):
    nlp = make_nlp(scheme="BILUO")
    nlp.config["initialize"]["components"] = {"rnn_ner": {"labels": labels}}
    with pytest.raises(ValueError, match=r"not the BILUO tag set.*expected \['O', 'B-LOC'"):
        nlp.initialize(lambda: entity_examples(nlp))


def test_bare_entity_types_as_labels_are_expanded():
    nlp = make_nlp(scheme="BIO")
    nlp.config["initialize"]["components"] = {"rnn_ner": {"labels": ["PER", "LOC"]}}
    nlp.initialize(lambda: entity_examples(nlp))
    assert nlp.get_pipe("rnn_ner").labels == ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")


def test_no_entities_in_the_training_data_is_refused():
    nlp = make_nlp(spans_key="sc")  # the data has doc.ents, not doc.spans["sc"]
    with pytest.raises(ValueError, match=r"found no labels in the training data \(doc.spans\['sc'\]\)"):
        nlp.initialize(lambda: entity_examples(nlp))


def test_load_takes_spans_key_from_the_config(tmp_path):
    """spans_key only says where entities are written, so a saved pipeline follows the config."""
    nlp = make_nlp()
    nlp.initialize(lambda: entity_examples(nlp))
    nlp.to_disk(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = spacy.load(tmp_path, config={"components": {"rnn_ner": {"spans_key": "sc"}}})
    assert loaded.get_pipe("rnn_ner").cfg["spans_key"] == "sc"
    assert "sc" in loaded("Alice lives in Paris").spans
    assert spacy.load(tmp_path).get_pipe("rnn_ner").cfg["spans_key"] is None


@pytest.mark.parametrize("scheme", ["BIO", "BILUO"])
def test_constrained_training_overfits_and_is_a_config_setting(scheme, tmp_path):
    nlp = make_nlp(scheme=scheme, constrained_training=True)
    assert train(nlp, entity_examples(nlp)) < 0.02
    texts = [t for t, _ in TRAIN_DATA]
    assert [ents(nlp(t)) for t in texts] == [e for _, e in TRAIN_DATA]
    nlp.to_disk(tmp_path)
    assert spacy.load(tmp_path).get_pipe("rnn_ner").constrained_training is True
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a training setting: the config decides, silently
        loaded = spacy.load(tmp_path, config={"components": {"rnn_ner": {"constrained_training": False}}})
    assert loaded.get_pipe("rnn_ner").constrained_training is False
    assert [ents(loaded(t)) for t in texts] == [e for _, e in TRAIN_DATA]


def test_constrained_training_normalises_over_fewer_sequences():
    losses = {}
    for constrained in (False, True):
        nlp = make_nlp(constrained_training=constrained)
        losses[constrained] = train(nlp, entity_examples(nlp), n_iter=1)
    assert losses[True] < losses[False]


def test_constrained_training_must_be_a_bool():
    with pytest.raises(ValueError, match=r"rnn_ner -> constrained_training"):
        make_nlp(constrained_training="yes")
    from spacy_rnn.pipeline.ner import RNNEntityRecognizer

    model = make_nlp().get_pipe("rnn_ner").model
    with pytest.raises(ValueError, match=r"\[ner\] constrained_training must be true or false"):
        RNNEntityRecognizer(spacy.blank("en").vocab, model, "ner", constrained_training=1)


def test_whitespace_tokens_are_never_entities():
    nlp = make_nlp()
    ner = nlp.get_pipe("rnn_ner")
    ner.cfg["labels"] = scheme_labels(["LOC", "PER"], "BILUO")
    doc = nlp.make_doc("Alice  lives in Paris \n")
    assert [t.is_space for t in doc] == [False, True, False, False, False, True]
    ner.write_labels(doc, ["B-PER", "L-PER", "O", "O", "B-LOC", "L-LOC"])
    assert [(e.text, e.label_) for e in doc.ents] == [("Alice", "PER"), ("Paris", "LOC")]
    doc = nlp.make_doc("Alice  lives in Paris \n")
    ner.write_labels(doc, ["U-PER", "U-LOC", "O", "O", "U-LOC", "U-PER"])
    assert [(e.text, e.label_) for e in doc.ents] == [("Alice", "PER"), ("Paris", "LOC")]


def test_crf_loss_is_per_annotated_token():
    nlp = make_nlp(crf=True)
    nlp.initialize(lambda: entity_examples(nlp))
    loss_layer = nlp.get_pipe("rnn_ner").model.get_ref("loss")
    rng = numpy.random.default_rng(0)
    scores = [rng.normal(size=(4, 9)).astype("float32")]
    truths = [numpy.asarray([1, 0, 0, 2])]
    alone, _ = loss_layer((scores, truths), is_train=True)
    with_unannotated, _ = loss_layer((scores + [rng.normal(size=(5, 9)).astype("float32")],
                                      truths + [numpy.full(5, -1)]), is_train=True)
    assert with_unannotated == pytest.approx(alone, rel=1e-6)


@pytest.mark.parametrize("spans_key", [None, "sc"])
def test_render_writes_displacy_pages_of_the_entities(tmp_path, spans_key):
    """`spacy evaluate --displacy-path` renders only spaCy's own "ner"; spacy_rnn.render
    does it for rnn_ner, from a saved pipeline and a .spacy corpus."""
    from spacy.tokens import DocBin

    from spacy_rnn.render import main as render_main

    nlp = make_nlp(spans_key=spans_key)
    egs = []
    for text, spans in TRAIN_DATA:
        ref = nlp.make_doc(text)
        found = [ref.char_span(s, e, label=label) for s, e, label in spans]
        if spans_key is None:
            ref.ents = found
        else:
            ref.spans[spans_key] = found
        egs.append(Example(nlp.make_doc(text), ref))
    train(nlp, egs)
    nlp.to_disk(tmp_path / "model")
    DocBin(docs=[eg.reference for eg in egs]).to_disk(tmp_path / "dev.spacy")
    (tmp_path / "html").mkdir()
    written = render_main([str(tmp_path / "model"), str(tmp_path / "dev.spacy"), str(tmp_path / "html"),
                           "--limit", "2"])
    expected = "entities.html" if spans_key is None else "spans_sc.html"
    assert [p.name for p in written] == [expected]
    page = (tmp_path / "html" / expected).read_text(encoding="utf8")
    assert "lives in" in page and "is big" in page and "Bob met" not in page  # --limit 2
    labels = re.findall(r">\s*(PER|LOC)\s*<", page)  # displaCy's label boxes
    assert sorted(set(labels)) == ["LOC", "PER"]


def test_bare_entity_types_with_a_hyphen_are_expanded():
    ner = spacy.blank("en").add_pipe("rnn_ner")
    assert ner.checked_labels(["GPE-LOC", "PER"]) == scheme_labels(["GPE-LOC", "PER"], "BILUO")
    assert ner.checked_labels(scheme_labels(["GPE-LOC"], "BILUO")) == scheme_labels(["GPE-LOC"], "BILUO")


@pytest.mark.parametrize("scheme", ["BIO", "BILUO"])
def test_transition_table_agrees_with_the_rules_on_every_short_sequence(scheme):
    import itertools

    labels = scheme_labels(["LOC", "PER"], scheme)
    allowed, first, last = allowed_transitions(labels, scheme)
    for n in (1, 2, 3):
        for ids in itertools.product(range(len(labels)), repeat=n):
            by_table = bool(first[ids[0]] and last[ids[-1]]
                            and all(allowed[a, b] for a, b in zip(ids, ids[1:])))
            assert by_table == valid_by_hand([labels[i] for i in ids], scheme), [labels[i] for i in ids]
