"""Tests for the ``spacy-rnn.RNNEncoder.v1`` architecture (thinc level).

The encoder maps ``List[Floats2d] -> List[Floats2d]`` of the same width, so it
fits spaCy's ``[components.tok2vec.model.encode]`` slot. Besides init,
forward/backprop shapes and serialization, these tests pin down its reason to
exist: a doc is encoded exactly as if it were alone in the batch, which spaCy's
own ``spacy.TorchBiLSTMEncoder.v1`` does not do.
"""
from typing import List

import numpy
import pytest
import spacy
from spacy.util import registry
from thinc.api import Adam, Config, Model, fix_random_seed

CELLS = ["rnn", "lstm", "gru"]
WIDTH = 8
LENGTH_TOL = 1e-5


def make_encoder(cell: str = "lstm", bidirectional: bool = True, width: int = WIDTH,
                 depth: int = 2, seed: int = 0, **kwargs) -> Model:
    """An RNNEncoder built through the registry, with seeded torch weights."""
    fix_random_seed(seed)
    build = registry.architectures.get("spacy-rnn.RNNEncoder.v1")
    return build(width=width, depth=depth, cell=cell, bidirectional=bidirectional, **kwargs)


def make_inputs(lengths: List[int], width: int = WIDTH, seed: int = 0) -> List[numpy.ndarray]:
    """One float32 (length, width) array per doc."""
    rng = numpy.random.default_rng(seed)
    return [rng.normal(size=(n, width)).astype("float32") for n in lengths]


def max_diff(a: numpy.ndarray, b: numpy.ndarray) -> float:
    return float(numpy.abs(numpy.asarray(a) - numpy.asarray(b)).max(initial=0.0))


def alone_vs_batched(model: Model, width: int = WIDTH) -> float:
    """Max abs difference of a short doc's outputs alone and amid longer docs."""
    short, long1, long2 = make_inputs([3, 9, 6], width=width, seed=1)
    alone = model.predict([short])[0]
    first = model.predict([short, long1, long2])[0]
    middle = model.predict([long1, short, long2])[1]
    return max(max_diff(alone, first), max_diff(alone, middle))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [True, False])
def test_init_sets_dims(cell, bidirectional):
    model = make_encoder(cell, bidirectional)
    model.initialize(X=make_inputs([4, 2]))
    assert model.get_dim("nI") == WIDTH
    assert model.get_dim("nO") == WIDTH
    assert model.name == f"rnn-encoder-{cell}"


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [True, False])
def test_forward_and_backprop_shapes(cell, bidirectional):
    model = make_encoder(cell, bidirectional)
    Xs = make_inputs([4, 1, 6])
    model.initialize(X=Xs)
    Ys, backprop = model.begin_update(Xs)
    assert isinstance(Ys, list) and len(Ys) == len(Xs)
    for X, Y in zip(Xs, Ys):
        assert Y.shape == (X.shape[0], WIDTH)
        assert Y.dtype == numpy.float32
        assert numpy.isfinite(Y).all()
    dXs = backprop([model.ops.xp.ones_like(Y) for Y in Ys])
    assert isinstance(dXs, list) and len(dXs) == len(Xs)
    assert [dX.shape for dX in dXs] == [X.shape for X in Xs]
    assert all(numpy.abs(dX).sum() > 0 for dX in dXs)


@pytest.mark.parametrize("cell", CELLS)
def test_optimizer_step_changes_outputs(cell):
    """Gradients reach the torch parameters and an update moves them."""
    model = make_encoder(cell)
    Xs = make_inputs([5, 3])
    model.initialize(X=Xs)
    before = model.predict(Xs)
    Ys, backprop = model.begin_update(Xs)
    backprop([Y for Y in Ys])
    model.finish_update(Adam(0.01))
    after = model.predict(Xs)
    assert max(max_diff(a, b) for a, b in zip(before, after)) > 1e-4


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [True, False])
def test_bytes_round_trip_in_fresh_model(cell, bidirectional):
    model = make_encoder(cell, bidirectional, seed=0)
    Xs = make_inputs([4, 7])
    model.initialize(X=Xs)
    expected = model.predict(Xs)
    fresh = make_encoder(cell, bidirectional, seed=1)
    assert max_diff(fresh.predict(Xs)[0], expected[0]) > 0, "fresh weights should differ"
    fresh.from_bytes(model.to_bytes())
    for want, got in zip(expected, fresh.predict(Xs)):
        numpy.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [True, False])
def test_output_of_a_doc_does_not_depend_on_the_batch(cell, bidirectional):
    model = make_encoder(cell, bidirectional)
    model.initialize(X=make_inputs([3, 9]))
    assert alone_vs_batched(model) < LENGTH_TOL


@pytest.mark.parametrize("cell", CELLS)
def test_length_correct_with_residual_and_dropout(cell):
    """Residual layers and (inactive at predict time) dropout keep it length-correct."""
    model = make_encoder(cell, depth=3, residual=True, dropout=0.5)
    model.initialize(X=make_inputs([3, 9]))
    assert alone_vs_batched(model) < LENGTH_TOL
    Xs = make_inputs([4, 2])
    for a, b in zip(model.predict(Xs), model.predict(Xs)):
        numpy.testing.assert_array_equal(a, b)


def test_spacy_torch_bilstm_is_not_length_correct():
    """Documents the bug RNNEncoder fixes: spaCy's BiLSTM reads padding backwards."""
    fix_random_seed(0)
    config = Config().from_str("""
        [model]
        @architectures = "spacy.TorchBiLSTMEncoder.v1"
        width = 8
        depth = 1
        dropout = 0.0
        """)
    model = registry.resolve(config)["model"]
    model.initialize(X=make_inputs([3, 9]))
    assert alone_vs_batched(model) > 1e-4


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [True, False])
def test_empty_docs_in_a_batch(cell, bidirectional):
    model = make_encoder(cell, bidirectional)
    Xs = make_inputs([0, 3, 0])
    model.initialize(X=make_inputs([3]))
    Ys, backprop = model.begin_update(Xs)
    assert [Y.shape for Y in Ys] == [(0, WIDTH), (3, WIDTH), (0, WIDTH)]
    dXs = backprop([model.ops.xp.ones_like(Y) for Y in Ys])
    assert [dX.shape for dX in dXs] == [X.shape for X in Xs]
    alone = model.predict([Xs[1]])[0]
    assert max_diff(model.predict(Xs)[1], alone) < LENGTH_TOL


@pytest.mark.parametrize("cell", CELLS)
def test_only_empty_docs_and_empty_batch(cell):
    model = make_encoder(cell)
    model.initialize(X=make_inputs([3]))
    Ys, backprop = model.begin_update(make_inputs([0, 0]))
    assert [Y.shape for Y in Ys] == [(0, WIDTH), (0, WIDTH)]
    assert [dX.shape for dX in backprop(Ys)] == [(0, WIDTH), (0, WIDTH)]
    Ys, backprop = model.begin_update([])
    assert Ys == []
    assert backprop([]) == []
    assert model.predict([]) == []


def test_odd_width_bidirectional_raises():
    with pytest.raises(ValueError, match="even"):
        make_encoder("lstm", bidirectional=True, width=7)


def test_odd_width_unidirectional_is_fine():
    model = make_encoder("gru", bidirectional=False, width=7)
    Xs = make_inputs([2, 5], width=7)
    model.initialize(X=Xs)
    assert [Y.shape for Y in model.predict(Xs)] == [(2, 7), (5, 7)]


@pytest.mark.parametrize("width,depth", [(0, 1), (8, 0)])
def test_non_positive_sizes_raise(width, depth):
    with pytest.raises(ValueError, match="width >= 1 and depth >= 1"):
        make_encoder(width=width, depth=depth)


def test_input_of_another_width_is_refused_with_the_widths():
    model = make_encoder(width=8)
    model.initialize(X=make_inputs([3], width=8))
    with pytest.raises(ValueError, match=r"input has 6 columns but the encoder's width is 8"):
        model.predict(make_inputs([3, 2], width=6))


@pytest.mark.parametrize("setting,value,message", [
    ("rows", 1, "rows must be >= 2"), ("max_chars", 0, "max_chars must be >= 1"),
    ("window", 4, "window must be odd"), ("window", 0, "window must be >= 1"),
    ("width", 0, "width must be >= 1"), ("char_dim", 0, "char_dim must be >= 1")])
def test_char_embed_settings_are_checked_when_built(setting, value, message):
    build = registry.architectures.get("spacy-rnn.CharEmbed.v1")
    with pytest.raises(ValueError, match=f"CharEmbed.v1: {message}"):
        build(**{setting: value})


def word_char_outputs(docs, **settings):
    """(training outputs, inference outputs) of one WordCharEmbed on ``docs``."""
    build = registry.architectures.get("spacy-rnn.WordCharEmbed.v1")
    model = build(width=8, rows=[50, 50, 50, 50], **settings)
    model.initialize(X=docs)
    fix_random_seed(0)
    trained, backprop = model(docs, is_train=True)
    backprop([model.ops.alloc2f(*Y.shape) + 1 for Y in trained])
    return numpy.concatenate(trained), numpy.concatenate(model.predict(docs)), model


def test_word_dropout_zeroes_word_features_of_some_tokens_in_training_only():
    nlp = spacy.blank("en")
    docs = [nlp("the cat sat on the mat " * 20), nlp("a b c d e")]
    trained, predicted, model = word_char_outputs(docs, word_dropout=0.4)
    changed = numpy.abs(trained - predicted).max(axis=1) > 1e-6
    # the mixing layer sees a zero word block for the dropped tokens, and only for those
    assert 0.25 < changed.mean() < 0.55
    again = numpy.concatenate(model.predict(docs))
    numpy.testing.assert_allclose(again, predicted)  # inference is deterministic
    trained, predicted, _ = word_char_outputs(docs, word_dropout=0.0)
    numpy.testing.assert_allclose(trained, predicted, atol=1e-6)


def test_token_dropout_stops_the_gradient_of_dropped_tokens_and_keeps_its_own_rate():
    from thinc.api import set_dropout_rate

    from spacy_rnn.architectures.embed import token_dropout

    layer = token_dropout(0.5)
    set_dropout_rate(layer, 0.9)  # as spaCy does with training.dropout
    assert layer.attrs["token_dropout"] == 0.5
    fix_random_seed(0)
    Xs = [numpy.ones((40, 3), dtype="float32"), numpy.ones((7, 3), dtype="float32")]
    Ys, backprop = layer(Xs, is_train=True)
    dXs = backprop([numpy.full_like(Y, 2.0) for Y in Ys])
    dropped = numpy.concatenate([(Y == 0).all(axis=1) for Y in Ys])
    assert 0.3 < dropped.mean() < 0.7
    assert ((numpy.concatenate(Ys) == 1) == ~dropped[:, None]).all()  # whole rows, not rescaled
    dX = numpy.concatenate(dXs)
    assert (dX[dropped] == 0).all() and (dX[~dropped] == 2.0).all()
    assert all((Y == 1).all() for Y in layer.predict(Xs))
