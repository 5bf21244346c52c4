"""Stored scores of the sequence labelers (``store_scores``): per-token label
probabilities in ``doc._.label_probs`` and entity confidences."""
import numpy
import pytest
import spacy
from thinc.api import ConfigValidationError
from spacy.tokens import DocBin
from spacy.training import Example
from thinc.api import fix_random_seed

from spacy_rnn.pipeline.ner import DEFAULT_NER_MODEL

TAGGED = [("I like green eggs", ["N", "V", "J", "N"]), ("Eat blue ham", ["V", "J", "N"])]
ENTITIES = [("Alice lives in Paris", [(0, 5, "PER"), (15, 20, "LOC")]),
            ("Bob met Alice Smith", [(0, 3, "PER"), (8, 19, "PER")])]
SMALL = {"tok2vec": {"width": 16, "rows": [200, 50, 50, 50],
                     "char_embed": {"width": 8, "char_dim": 8, "rows": 100}},
         "encoder": {"width": 16, "depth": 1}}


def tagger(crf, store_scores=True, n_iter=10):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("rnn_tagger", config={"model": {**SMALL, "crf": crf}, "store_scores": store_scores})
    egs = [Example.from_dict(nlp.make_doc(t), {"tags": tags}) for t, tags in TAGGED]
    _train(nlp, egs, n_iter)
    return nlp


def ner(crf=True, spans_key=None, n_iter=30):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("rnn_ner", config={"model": {**SMALL, "crf": crf}, "spans_key": spans_key,
                                    "store_scores": True})
    egs = []
    for text, spans in ENTITIES:
        ref = nlp.make_doc(text)
        found = [ref.char_span(s, e, label=label) for s, e, label in spans]
        if spans_key is None:
            ref.ents = found
        else:
            ref.spans[spans_key] = found
        egs.append(Example(nlp.make_doc(text), ref))
    _train(nlp, egs, n_iter)
    return nlp


def _train(nlp, egs, n_iter):
    optimizer = nlp.initialize(lambda: egs)
    optimizer.learn_rate = 0.01
    for _ in range(n_iter):
        nlp.update(egs, sgd=optimizer)


@pytest.mark.parametrize("crf", [False, True])
def test_tagger_stores_probabilities_of_its_labels(crf):
    nlp = tagger(crf)
    doc = nlp("I like green ham")
    probs = doc._.label_probs["rnn_tagger"]
    labels = nlp.get_pipe("rnn_tagger").labels
    assert probs.shape == (len(doc), len(labels)) and probs.dtype == numpy.float32
    numpy.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert probs.min() >= 0.0 and probs.max() <= 1.0
    if not crf:  # the decoder takes the most probable label of each token
        assert [labels[i] for i in probs.argmax(axis=1)] == [t.tag_ for t in doc]


def test_tagger_probabilities_are_the_softmax_or_the_crf_marginals():
    import torch

    from spacy_rnn.torch.crf import marginals

    for crf in (False, True):
        nlp = tagger(crf, n_iter=3)
        pipe = nlp.get_pipe("rnn_tagger")
        doc = nlp("We like ham")
        scores = torch.tensor(pipe.model.predict([doc])[0]).unsqueeze(0)
        if crf:
            crf_layer = pipe.model.get_ref("crf")
            params = [torch.tensor(crf_layer.get_param(n)) for n in ("transitions", "start", "end")]
            expected = marginals(scores, torch.ones(1, 3, dtype=torch.bool), *params)[0]
        else:
            expected = torch.softmax(scores[0], dim=-1)
        numpy.testing.assert_allclose(doc._.label_probs["rnn_tagger"], expected.numpy(), atol=1e-5)


def test_scores_are_off_by_default():
    nlp = tagger(crf=True, store_scores=False, n_iter=1)
    assert nlp("I like ham")._.label_probs is None
    assert nlp.get_pipe("rnn_tagger").store_scores is False


def test_store_scores_survives_save_and_load_and_can_be_switched_at_load(tmp_path):
    nlp = tagger(crf=True, n_iter=3)
    before = nlp("I like green eggs")._.label_probs["rnn_tagger"]
    nlp.to_disk(tmp_path)
    loaded = spacy.load(tmp_path)
    numpy.testing.assert_allclose(loaded("I like green eggs")._.label_probs["rnn_tagger"], before, rtol=1e-5)
    off = spacy.load(tmp_path, config={"components": {"rnn_tagger": {"store_scores": False}}})
    assert off("I like green eggs")._.label_probs is None


def test_stored_scores_travel_with_docs_in_a_docbin():
    nlp = tagger(crf=False, n_iter=1)
    doc = nlp("I like eggs")
    docs = list(DocBin(docs=[doc], store_user_data=True).get_docs(spacy.blank("en").vocab))
    numpy.testing.assert_array_equal(docs[0]._.label_probs["rnn_tagger"], doc._.label_probs["rnn_tagger"])


def test_empty_docs_get_empty_probabilities():
    nlp = tagger(crf=True, n_iter=1)
    docs = list(nlp.pipe(["", "I like eggs", ""])) + [nlp("")]
    assert [d._.label_probs["rnn_tagger"].shape for d in docs] == [(0, 3), (3, 3), (0, 3), (0, 3)]


@pytest.mark.parametrize("crf", [False, True])
def test_entity_confidence_is_the_least_token_probability(crf):
    nlp = ner(crf)
    pipe = nlp.get_pipe("rnn_ner")
    doc = nlp("Alice lives in Paris")
    assert [(e.text, e.label_) for e in doc.ents] == [("Alice", "PER"), ("Paris", "LOC")]
    probs = doc._.label_probs["rnn_ner"]
    numpy.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    for ent in doc.ents:
        assert 0.0 <= ent._.confidence <= 1.0
        # one-token entities are U- tags in BILUO
        expected = min(probs[i, pipe.labels.index("U-" + ent.label_)] for i in range(ent.start, ent.end))
        assert ent._.confidence == pytest.approx(float(expected), rel=1e-6)


def test_entity_confidence_with_spans_key_is_stored_as_spancat_does():
    nlp = ner(spans_key="sc")
    doc = nlp("Bob met Alice Smith")
    group = doc.spans["sc"]
    scores = group.attrs["scores"]
    assert len(scores) == len(group) > 0
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert [span._.confidence for span in group] == pytest.approx([float(s) for s in scores])
    probs, pipe = doc._.label_probs["rnn_ner"], nlp.get_pipe("rnn_ner")
    predicted = pipe.predict([doc]).label_ids[0]  # each token's tag: its probability per token
    token_probs = [probs[i, int(predicted[i])] for i in range(len(doc))]
    assert list(scores) == pytest.approx([min(token_probs[s.start:s.end]) for s in group], rel=1e-6)


def test_bad_store_scores_values_are_refused():
    nlp = spacy.blank("en")
    with pytest.raises(ConfigValidationError, match=r"store_scores\s+at root: 'sometimes' is not <class 'bool'>"):
        nlp.add_pipe("rnn_tagger", config={"store_scores": "sometimes"})
    v1 = {**DEFAULT_NER_MODEL.copy(), "@architectures": "spacy-rnn.SequenceLabeler.v1"}
    with pytest.raises(ValueError, match=r"store_scores = true needs.*SequenceLabeler.v2"):
        nlp.add_pipe("rnn_ner", config={"store_scores": True, "model": v1})


def test_entity_confidence_is_the_minimum_over_its_tokens():
    from spacy_rnn.pipeline.schemes import scheme_labels

    nlp = spacy.blank("en")
    ner = nlp.add_pipe("rnn_ner", config={"store_scores": True})
    ner.cfg["labels"] = scheme_labels(["LOC", "PER"], "BILUO")
    doc = nlp.make_doc("Alice Smith lives in New York City")
    ner.write_labels(doc, ["B-PER", "L-PER", "O", "O", "B-LOC", "I-LOC", "L-LOC"],
                     numpy.asarray([0.9, 0.6, 0.99, 0.98, 0.7, 0.4, 0.8], dtype="float32"))
    assert [e._.confidence for e in doc.ents] == pytest.approx([0.6, 0.4])
