"""``spacy-rnn.Adam.v1``: thinc's Adam with the power of its parameter averages as a setting."""
import math

import numpy
import pytest
from spacy.util import registry
from thinc.api import Adam, Config, fix_random_seed

from spacy_rnn.architectures.translator import build_seq2seq_translator
from spacy_rnn.optimizers import PowerAveragingOptimizer

KEY = (1, "W")


def run_updates(optimizer, n_updates: int = 40, seed: int = 0):
    """``n_updates`` steps on one parameter with random gradients; the weights after each step."""
    rng = numpy.random.default_rng(seed)
    weights = rng.normal(size=(3, 4)).astype("float32")
    history = []
    for _ in range(n_updates):
        gradient = rng.normal(size=weights.shape).astype("float32")
        weights, _ = optimizer(KEY, weights, gradient)
        history.append(weights.copy())
    return history


def adam(**settings):
    return registry.get("optimizers", "spacy-rnn.Adam.v1")(0.05, **settings)


def test_the_default_power_is_thincs_adam():
    ours, thincs = adam(), Adam(0.05, use_averages=True)
    numpy.testing.assert_array_equal(run_updates(ours)[-1], run_updates(thincs)[-1])
    numpy.testing.assert_array_equal(ours.averages[KEY], thincs.averages[KEY])


def test_the_average_is_the_polynomial_decay_average_of_the_weights():
    """After update t the average moves by (p + 1) / (t + p + 2) towards the weights."""
    for power in (0.0, 3.0):
        optimizer = adam(average_power=power)
        history = run_updates(optimizer, n_updates=30)
        expected = numpy.zeros_like(history[0])
        for t, weights in enumerate(history, start=1):
            expected += (power + 1) / (t + power + 2) * (weights - expected)
        numpy.testing.assert_allclose(optimizer.averages[KEY], expected, rtol=1e-5, atol=1e-6)


def test_a_smaller_power_averages_over_more_of_the_training():
    """The same updates (averaging does not change them); the p = 0 average sits nearer the
    mean of all weights, the p = 8 one nearer the last weights."""
    averages = {}
    for power in (0.0, 3.0, 8.0):
        optimizer = adam(average_power=power)
        history = run_updates(optimizer, n_updates=200)
        averages[power] = optimizer.averages[KEY]
    mean, last = numpy.mean(history, axis=0), history[-1]
    distance_to_mean = {p: numpy.abs(a - mean).mean() for p, a in averages.items()}
    distance_to_last = {p: numpy.abs(a - last).mean() for p, a in averages.items()}
    assert distance_to_mean[0.0] < distance_to_mean[3.0] < distance_to_mean[8.0]
    assert distance_to_last[8.0] < distance_to_last[3.0] < distance_to_last[0.0]


def test_the_power_leaves_the_updates_alone():
    numpy.testing.assert_array_equal(run_updates(adam(average_power=0.0))[-1],
                                     run_updates(adam(average_power=8.0))[-1])


def test_without_averages_nothing_is_averaged():
    optimizer = adam(use_averages=False, average_power=3.0)
    run_updates(optimizer, n_updates=3)
    assert optimizer.averages is None


def test_an_empty_gradient_is_not_an_update():
    optimizer = adam(average_power=3.0)
    weights = numpy.ones((0,), dtype="float32")
    optimizer(KEY, weights, numpy.ones((0,), dtype="float32"))
    assert KEY not in optimizer.averages and optimizer.nr_update[KEY] == 0


@pytest.mark.parametrize("power", [-1.0, math.nan])
def test_a_bad_power_is_refused_with_the_setting_named(power):
    with pytest.raises(ValueError, match=r"spacy-rnn.Adam.v1: average_power must be >= 0"):
        adam(average_power=power)


def test_the_config_block_resolves_with_thincs_settings():
    config = Config().from_str("""
[optimizer]
@optimizers = "spacy-rnn.Adam.v1"
learn_rate = 0.002
grad_clip = 1.0
use_averages = true
average_power = 3
""")
    optimizer = registry.resolve(config)["optimizer"]
    assert isinstance(optimizer, PowerAveragingOptimizer)
    assert (optimizer.learn_rate, optimizer.grad_clip, optimizer.average_power) == (0.002, 1.0, 3.0)
    assert optimizer.averages == {}


def test_a_learning_rate_schedule_is_accepted_as_by_thincs_adam():
    config = Config().from_str("""
[optimizer]
@optimizers = "spacy-rnn.Adam.v1"
average_power = 3

[optimizer.learn_rate]
@schedules = "warmup_linear.v1"
warmup_steps = 2
total_steps = 4
initial_rate = 0.01
""")
    optimizer = registry.resolve(config)["optimizer"]
    rates = []
    for _ in range(4):
        rates.append(optimizer.learn_rate)
        optimizer.step_schedules()
    assert rates[1] > rates[0] and rates[3] < rates[2]


def test_a_translator_trains_with_it_and_its_torch_weights_are_averaged():
    """The torch parameters go through the optimizer too: their averages exist, differ from
    the weights, and training on a tiny set lowers the loss."""
    fix_random_seed(0)
    sources, targets = ["a b c d", "b c", "d a b"] * 4, ["x y z", "y", "z x y w"] * 4
    model = build_seq2seq_translator(emb_size=8, hidden=8, vocab_size=19, dropout=0.0)
    model.initialize(X={"sources": sources, "targets": targets})
    optimizer = adam(average_power=3.0)
    losses = []
    for _ in range(30):
        loss, backprop = model.get_ref("loss")((sources, targets), is_train=True)
        losses.append(float(loss))
        backprop(1.0)
        model.finish_update(optimizer)
    shim = next(shim for node in model.walk() for shim in node.shims)
    names = [name for name, _ in shim._model.named_parameters()]
    assert names and all((shim.id, name) in optimizer.averages for name in names)
    assert losses[-1] < 0.5 * losses[0]
