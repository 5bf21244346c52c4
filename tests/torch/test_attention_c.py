"""Bahdanau attention's scores in C (spacy_rnn.torch.native.additive_scores, attention.c)
against the PyTorch formula they replace on CPU: values, gradients, masking, threads, and
when the PyTorch path runs instead."""
import pytest
import torch

from spacy_rnn.torch import native
from spacy_rnn.torch.attention import AdditiveScores, BahdanauAttention, masked_softmax
from spacy_rnn.torch.padding import length_mask
from spacy_rnn.torch.quantize import quantize_int8

needs_c = pytest.mark.skipif(not native.available(), reason="the C library is not built here")


def _problem(width: int, steps: int = 3, lengths=(5, 2, 4), seed: int = 0):
    torch.manual_seed(seed)
    lengths = torch.tensor(lengths)
    batch, length = len(lengths), int(lengths.max()) + 1  # one padding column for every sentence
    q = torch.randn(batch, steps, width, requires_grad=True)
    keys = torch.randn(batch, length, width, requires_grad=True)
    v = torch.randn(width, requires_grad=True)
    return q, keys, v, length_mask(lengths, length)


def _torch_scores(q, keys, v, mask):
    scores = torch.tanh(q.unsqueeze(2) + keys.unsqueeze(1)) @ v
    return scores.masked_fill(~mask.unsqueeze(1), float("-inf"))


@needs_c
@pytest.mark.parametrize("width", [1, 8, 13, 256, 300, 600])  # 256-wide chunks on the C stack
def test_c_scores_equal_the_pytorch_formula(width, threads):
    q, keys, v, mask = _problem(width)
    got, expected = native.additive_scores(q, keys, v, mask), _torch_scores(q, keys, v, mask)
    real = mask.unsqueeze(1).expand_as(got)
    assert torch.all(got[~real] == float("-inf"))
    torch.testing.assert_close(got[real], expected[real], rtol=1e-5, atol=1e-5 * width ** 0.5)


@needs_c
@pytest.mark.parametrize("width", [8, 13, 300])
def test_c_score_gradients_equal_autograd_of_the_pytorch_formula(width, threads):
    q, keys, v, mask = _problem(width)
    grad = torch.randn(*q.shape[:2], keys.shape[1]).masked_fill(~mask.unsqueeze(1), 0.0)
    grad[1, 2] = 0.0  # a row the loss does not see, skipped by the C loop
    expected = torch.autograd.grad(_torch_scores(q, keys, v, mask), (q, keys, v), grad)
    got = torch.autograd.grad(AdditiveScores.apply(q, keys, v, mask), (q, keys, v), grad)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-5)
    assert torch.all(got[1][~mask] == 0)  # padded keys get no gradient
    assert torch.all(got[0][1, 2] == 0)


@needs_c
def test_the_gradient_at_masked_positions_is_ignored():
    """-inf scores have no gradient to give: whatever arrives there is not used."""
    q, keys, v, mask = _problem(8)
    grad = torch.randn(*q.shape[:2], keys.shape[1])
    zeroed = grad.masked_fill(~mask.unsqueeze(1), 0.0)
    for got, expected in zip(native.additive_scores_backward(grad, q, keys, v, mask),
                             native.additive_scores_backward(zeroed, q, keys, v, mask)):
        assert torch.equal(got, expected)


@needs_c
def test_bahdanau_attention_on_cpu_uses_the_c_scores(monkeypatch):
    calls = []
    real = native.additive_scores
    monkeypatch.setattr(native, "additive_scores", lambda *args: calls.append(1) or real(*args))
    module = BahdanauAttention(5, 7, 9)
    q, memory = torch.randn(2, 3, 5), torch.randn(2, 4, 7)
    mask = length_mask(torch.tensor([4, 2]), 4)
    context, weights = module(q, module.project_keys(memory), memory, mask)
    assert calls == [1]
    expected = masked_softmax(module.score(q, module.project_keys(memory)), mask)
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(context, torch.bmm(expected, memory))


@pytest.mark.parametrize("why", ["not built", "forced off"])
def test_without_the_c_library_bahdanau_attention_runs_in_pytorch(why, monkeypatch):
    if why == "forced off":
        monkeypatch.setenv("SPACY_RNN_BACKEND", "torch")
    else:
        monkeypatch.setattr(native, "usable", lambda *tensors: False)
    monkeypatch.setattr(native, "additive_scores", lambda *args: pytest.fail("C scores called"))
    module = BahdanauAttention(5, 7, 9)
    q, memory = torch.randn(2, 3, 5), torch.randn(2, 4, 7)
    mask = length_mask(torch.tensor([4, 2]), 4)
    _, weights = module(q, module.project_keys(memory), memory, mask)
    torch.testing.assert_close(weights, masked_softmax(module.score(q, module.project_keys(memory)), mask))


@needs_c
def test_under_cpu_autocast_the_scores_run_in_pytorch(monkeypatch):
    monkeypatch.setattr(native, "additive_scores", lambda *args: pytest.fail("C scores called"))
    module = BahdanauAttention(5, 7, 9)
    q, memory = torch.randn(2, 3, 5), torch.randn(2, 4, 7)
    mask = length_mask(torch.tensor([4, 2]), 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        context, _ = module(q, module.project_keys(memory), memory, mask)
    assert context.shape == (2, 3, 7)


@needs_c
def test_under_cpu_autocast_an_int8_copy_scores_in_pytorch(monkeypatch):
    """Int8 layers give float32 outputs even under autocast, so only the autocast check keeps
    the C scores (float32 only) out of a computation that autocast wants in bfloat16."""
    quantized = quantize_int8(BahdanauAttention(5, 7, 9))
    monkeypatch.setattr(native, "additive_scores", lambda *args: pytest.fail("C scores called"))
    q, memory = torch.randn(2, 1, 5), torch.randn(2, 4, 7)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        quantized(q, quantized.project_keys(memory), memory, length_mask(torch.tensor([4, 3]), 4))


@needs_c
def test_a_v_layer_that_is_not_a_float_linear_scores_in_pytorch(monkeypatch):
    """E.g. a module quantized by the user with torch's own call, v included."""
    from torch.ao.quantization import quantize_dynamic

    module = BahdanauAttention(5, 7, 9).eval()
    with pytest.warns(Warning):  # torch 2.13 marks the API deprecated
        quantized = quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)
    assert type(quantized.v) is not torch.nn.Linear
    monkeypatch.setattr(native, "additive_scores", lambda *args: pytest.fail("C scores called"))
    q, memory = torch.randn(2, 1, 5), torch.randn(2, 4, 7)
    mask = length_mask(torch.tensor([4, 3]), 4)
    with torch.no_grad():
        _, weights = quantized(q, quantized.project_keys(memory), memory, mask)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 1))


@needs_c
def test_the_int8_copy_keeps_v_in_float32_and_its_scores_in_c(monkeypatch):
    module = BahdanauAttention(5, 7, 9)
    quantized = quantize_int8(module)
    assert type(quantized.v) is torch.nn.Linear
    assert type(quantized.query_proj) is not torch.nn.Linear  # the projections are int8
    calls = []
    real = native.additive_scores
    monkeypatch.setattr(native, "additive_scores", lambda *args: calls.append(1) or real(*args))
    q, memory = torch.randn(2, 1, 5), torch.randn(2, 4, 7)
    with torch.no_grad():
        quantized(q, quantized.project_keys(memory), memory, length_mask(torch.tensor([4, 3]), 4))
    assert calls == [1]


@needs_c
@pytest.mark.parametrize("change, message", [
    (lambda q, k, v, m: (q.double(), k, v, m), "float32"),
    (lambda q, k, v, m: (q, k[:, :, :-1], v, m), "keys has shape"),
    (lambda q, k, v, m: (q, k, v[:-1], m), "v has shape"),
    (lambda q, k, v, m: (q, k, v, m[:, :-1]), "mask has shape"),
    (lambda q, k, v, m: (q, k, v, m.float()), "mask must be a bool tensor"),
    (lambda q, k, v, m: (q[0], k, v, m), "(B, T, A)"),
])
def test_c_scores_refuse_inputs_they_would_read_out_of_bounds(change, message):
    q, keys, v, mask = _problem(8)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        native.additive_scores(*change(q.detach(), keys.detach(), v.detach(), mask))

