"""The labeler's CRF loss layer with the tag scheme's constraints: the distribution is
normalised over the allowed sequences only (checked by enumerating them)."""
import itertools

import numpy
import pytest

from spacy_rnn.architectures.crf_layers import build_crf_loss, build_crf_params, build_softmax_loss

K, T = 3, 4
# tag 2 may not follow tag 0, nor start or end a sequence
ALLOWED = numpy.ones((K, K), dtype=bool)
ALLOWED[0, 2] = False
FIRST = numpy.array([True, True, False])
LAST = numpy.array([True, True, False])
CONSTRAINTS = (ALLOWED, FIRST, LAST)


def loss_layer(seed=0):
    rng = numpy.random.default_rng(seed)
    params = build_crf_params(K)
    params.initialize()
    for name, shape in (("transitions", (K, K)), ("start", (K,)), ("end", (K,))):
        params.set_param(name, rng.normal(size=shape).astype("float32"))
    return build_crf_loss(params), rng.normal(size=(T, K)).astype("float32")


def path_score(layer, emissions, path):
    params = layer.layers[0]
    trans, start, end = (params.get_param(n) for n in ("transitions", "start", "end"))
    score = start[path[0]] + end[path[-1]] + sum(emissions[t, k] for t, k in enumerate(path))
    return score + sum(trans[a, b] for a, b in zip(path, path[1:]))


def allowed(path):
    return (FIRST[path[0]] and LAST[path[-1]]
            and all(ALLOWED[a, b] for a, b in zip(path, path[1:])))


def brute_force_nll(layer, emissions, gold, only_allowed):
    paths = [p for p in itertools.product(range(K), repeat=T) if allowed(p) or not only_allowed]
    log_z = numpy.logaddexp.reduce([path_score(layer, emissions, p) for p in paths])
    return (log_z - path_score(layer, emissions, gold)) / T


@pytest.mark.parametrize("constraints", [None, CONSTRAINTS])
def test_crf_loss_matches_enumeration(constraints):
    layer, emissions = loss_layer()
    gold = [1, 0, 1, 1]
    inputs = ([emissions], [numpy.asarray(gold)]) + ((constraints,) if constraints else ())
    loss, _ = layer(inputs, is_train=True)
    expected = brute_force_nll(layer, emissions, gold, only_allowed=constraints is not None)
    assert loss == pytest.approx(float(expected), rel=1e-5)


def test_constrained_loss_is_lower_and_leaves_disallowed_scores_alone():
    layer, emissions = loss_layer(seed=1)
    truths = [numpy.asarray([0, 1, 0, 0])]
    free, _ = layer(([emissions], truths), is_train=True)
    constrained, backprop = layer(([emissions], truths, CONSTRAINTS), is_train=True)
    assert constrained < free  # the same gold path, fewer competitors
    backprop(1.0)
    params = layer.layers[0]
    d_trans, d_start, d_end = (params.get_grad(n) for n in ("transitions", "start", "end"))
    assert all(numpy.isfinite(g).all() for g in (d_trans, d_start, d_end))
    assert d_trans[0, 2] == 0.0 and d_start[2] == 0.0 and d_end[2] == 0.0
    assert numpy.abs(d_trans[ALLOWED]).min() > 0.0


def test_gold_that_breaks_the_constraints_is_refused():
    layer, emissions = loss_layer()
    with pytest.raises(ValueError, match="breaks the tag scheme's constraints"):
        layer(([emissions], [numpy.asarray([0, 2, 1, 1])], CONSTRAINTS), is_train=True)


def test_softmax_loss_takes_constraints_and_ignores_them():
    layer = build_softmax_loss()
    rng = numpy.random.default_rng(0)
    scores, truths = [rng.normal(size=(T, K)).astype("float32")], [numpy.asarray([0, 2, 1, 1])]
    assert layer((scores, truths, CONSTRAINTS), is_train=True)[0] == layer((scores, truths),
                                                                           is_train=True)[0]
