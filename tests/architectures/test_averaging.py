"""Parameter averaging (``[training.optimizer] use_averages = true``) covers the torch weights.

spaCy evaluates and saves ``model-best`` inside ``nlp.use_params(optimizer.averages)``;
the optimizer keeps the averages of a torch parameter under ``(shim.id, name)``, and the
shims of spacy-rnn's torch layers swap those in for the block and restore the trained
weights after it.
"""
from typing import Dict

import numpy
import pytest
import spacy
from spacy.training import Example
from spacy.util import registry
from thinc.api import Adam, Model, fix_random_seed

from spacy_rnn.architectures.translator import build_seq2seq_translator

WIDTH = 8


def torch_state(model: Model) -> Dict[str, numpy.ndarray]:
    """Copies of every torch parameter in ``model``, keyed ``"{shim.id}/{name}"``."""
    return {f"{shim.id}/{name}": tensor.detach().cpu().numpy().copy()
            for node in model.walk() for shim in node.shims
            for name, tensor in shim._model.named_parameters()}


def averaged_torch_state(model: Model, averages: Dict) -> Dict[str, numpy.ndarray]:
    """The optimizer's averages of the same parameters, keyed as :func:`torch_state`."""
    return {f"{shim.id}/{name}": numpy.asarray(averages[(shim.id, name)])
            for node in model.walk() for shim in node.shims
            for name, _ in shim._model.named_parameters()}


def assert_states_equal(a: Dict[str, numpy.ndarray], b: Dict[str, numpy.ndarray]) -> None:
    assert a.keys() == b.keys() and a
    for key in a:
        numpy.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-7, err_msg=key)


def trained_encoder(n_updates: int = 5):
    """An RNNEncoder after a few Adam steps with averaging, and its inputs."""
    fix_random_seed(0)
    model = registry.architectures.get("spacy-rnn.RNNEncoder.v1")(width=WIDTH, depth=2, cell="lstm")
    rng = numpy.random.default_rng(0)
    Xs = [rng.normal(size=(n, WIDTH)).astype("float32") for n in (5, 3)]
    model.initialize(X=Xs)
    optimizer = Adam(0.05, use_averages=True)
    for _ in range(n_updates):
        Ys, backprop = model.begin_update(Xs)
        backprop([Y - 1.0 for Y in Ys])
        model.finish_update(optimizer)
    return model, optimizer, Xs


def test_use_params_swaps_in_the_averaged_torch_weights_and_restores_them():
    model, optimizer, Xs = trained_encoder()
    trained, outputs = torch_state(model), model.predict(Xs)
    averaged = averaged_torch_state(model, optimizer.averages)
    # after 5 steps of lr 0.05 the average lags the weights
    assert any(numpy.abs(trained[k] - averaged[k]).max() > 1e-3 for k in trained)
    with model.use_params(optimizer.averages):
        assert_states_equal(torch_state(model), averaged)
        inside = model.predict(Xs)
    assert any(numpy.abs(a - b).max() > 1e-4 for a, b in zip(inside, outputs))
    assert_states_equal(torch_state(model), trained)
    for before, after in zip(outputs, model.predict(Xs)):
        numpy.testing.assert_array_equal(before, after)


def test_use_params_swaps_only_the_parameters_it_has_entries_for():
    model, optimizer, _ = trained_encoder()
    trained = torch_state(model)
    averaged = averaged_torch_state(model, optimizer.averages)
    first = next(iter(trained))
    shim_id, name = first.split("/", 1)
    with model.use_params({(int(shim_id), name): optimizer.averages[(int(shim_id), name)]}):
        inside = torch_state(model)
    numpy.testing.assert_array_equal(inside[first], averaged[first])
    assert all(numpy.array_equal(inside[key], trained[key]) for key in trained if key != first)
    assert_states_equal(torch_state(model), trained)


def test_weights_are_restored_when_an_entry_does_not_fit():
    """An entry of another shape fails the loading half way; what was loaded is undone."""
    model, optimizer, _ = trained_encoder()
    trained = torch_state(model)
    params = dict(optimizer.averages)
    last = list(params)[-1]
    params[last] = numpy.zeros((1, 1), dtype="float32")
    with pytest.raises(RuntimeError, match="size mismatch"):
        with model.use_params(params):
            pass
    assert_states_equal(torch_state(model), trained)


TRAIN = [("I like green eggs", ["PRON", "VERB", "ADJ", "NOUN"]), ("Eat blue ham", ["VERB", "ADJ", "NOUN"])]
SMALL_TAGGER = {"model": {
    "tok2vec": {"width": WIDTH, "rows": [50, 50, 50, 50],
                "char_embed": {"width": 4, "char_dim": 4, "rows": 50, "max_chars": 8, "window": 3}},
    "encoder": {"width": WIDTH, "depth": 1}}}


def test_a_pipeline_saved_under_the_averages_holds_averaged_torch_weights(tmp_path):
    """What ``spacy train`` does for model-best with ``use_averages = true``."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    tagger = nlp.add_pipe("rnn_tagger", config={"attr": "pos", **SMALL_TAGGER})
    examples = [Example.from_dict(nlp.make_doc(text), {"pos": pos}) for text, pos in TRAIN]
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.05, use_averages=True)
    for _ in range(5):
        nlp.update(examples, sgd=optimizer)
    averaged = averaged_torch_state(tagger.model, optimizer.averages)
    with nlp.use_params(optimizer.averages):
        nlp.to_disk(tmp_path)
    saved = torch_state(spacy.load(tmp_path).get_pipe("rnn_tagger").model)
    # the reloaded shims have new ids: compare parameter by parameter, in order
    assert len(saved) == len(averaged)
    for (_, value), (key, expected) in zip(saved.items(), averaged.items()):
        numpy.testing.assert_allclose(value, expected, rtol=0, atol=1e-7, err_msg=key)


def test_the_translator_core_is_averaged_too():
    fix_random_seed(0)
    sources, targets = ["a b c d", "b c", "d a b"] * 4, ["x y z", "y", "z x y w"] * 4
    model = build_seq2seq_translator(emb_size=8, hidden=8, vocab_size=30, dropout=0.0)
    model.initialize(X={"sources": sources, "targets": targets})
    optimizer = Adam(0.05, use_averages=True)
    for _ in range(3):
        _, backprop = model.get_ref("loss")((sources, targets), is_train=True)
        backprop(1.0)
        model.finish_update(optimizer)
    trained = torch_state(model)
    averaged = averaged_torch_state(model, optimizer.averages)
    with model.use_params(optimizer.averages):
        assert_states_equal(torch_state(model), averaged)
    assert_states_equal(torch_state(model), trained)
