import pytest
import torch

from spacy_rnn.torch.attention import (
    BahdanauAttention, LuongAttention, NoAttention, make_attention, masked_softmax)
from spacy_rnn.torch.padding import length_mask

KINDS = ["none", "bahdanau", "luong"]
B, T, S, Q, K, A = 3, 4, 6, 5, 7, 8


def _inputs(seed=0):
    torch.manual_seed(seed)
    lengths = torch.tensor([6, 2, 4])
    return torch.randn(B, T, Q), torch.randn(B, S, K), length_mask(lengths, S)


def _attend(module, query, memory, mask):
    return module(query, module.project_keys(memory), memory, mask)


@pytest.mark.parametrize("kind", KINDS)
def test_shapes(kind):
    query, memory, mask = _inputs()
    module = make_attention(kind, Q, K, A)
    context, weights = _attend(module, query, memory, mask)
    assert context.shape == (B, T, module.context_size)
    assert weights.shape == (B, T, S)


@pytest.mark.parametrize("kind", ["bahdanau", "luong"])
def test_padding_gets_exactly_zero_weight(kind):
    query, memory, mask = _inputs()
    _, weights = _attend(make_attention(kind, Q, K, A), query, memory, mask)
    assert torch.all(weights.masked_select(~mask.unsqueeze(1).expand_as(weights)) == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, T))


@pytest.mark.parametrize("kind", ["bahdanau", "luong"])
def test_padding_values_do_not_matter(kind):
    query, memory, mask = _inputs()
    module = make_attention(kind, Q, K, A)
    context, _ = _attend(module, query, memory, mask)
    noisy = memory.masked_fill(~mask.unsqueeze(-1), 1e4)
    context_noisy, _ = _attend(module, query, noisy, mask)
    assert torch.equal(context, context_noisy)


def test_luong_is_bilinear():
    query, memory, mask = _inputs()
    module = LuongAttention(Q, K)
    _, weights = _attend(module, query, memory, mask)
    W = module.key_proj.weight  # (Q, K)
    scores = torch.einsum("btq,qk,bsk->bts", query, W, memory)
    torch.testing.assert_close(weights, masked_softmax(scores, mask))


def test_bahdanau_is_additive_mlp():
    query, memory, mask = _inputs()
    module = BahdanauAttention(Q, K, A)
    context, weights = _attend(module, query, memory, mask)
    b, t = 1, 2
    scores = torch.stack([module.v(torch.tanh(module.query_proj(query[b, t])
                                              + module.key_proj(memory[b, j])))
                          for j in range(S)]).squeeze(-1)
    expected = masked_softmax(scores.view(1, 1, S), mask[b : b + 1]).view(S)
    torch.testing.assert_close(weights[b, t], expected)
    torch.testing.assert_close(context[b, t], expected @ memory[b])


def test_none_gives_empty_context():
    query, memory, mask = _inputs()
    context, weights = _attend(NoAttention(), query, memory, mask)
    assert context.shape == (B, T, 0)
    assert torch.all(weights == 0)


def test_masked_softmax_single_real_position():
    scores = torch.randn(2, 1, 3)
    mask = torch.tensor([[True, False, False], [False, True, True]])
    weights = masked_softmax(scores, mask)
    assert weights[0, 0].tolist() == [1.0, 0.0, 0.0]
    assert weights[1, 0, 0] == 0


def test_invalid_kind_lists_allowed_values():
    with pytest.raises(ValueError) as err:
        make_attention("dot-product", Q, K, A)
    for kind in KINDS:
        assert kind in str(err.value)


def test_gradients_flow_through_keys_and_query():
    query, memory, mask = _inputs()
    query.requires_grad_(True)
    memory.requires_grad_(True)
    for kind in ["bahdanau", "luong"]:
        context, _ = _attend(make_attention(kind, Q, K, A), query, memory, mask)
        context.sum().backward()
        assert query.grad.abs().sum() > 0
        # padded memory rows get no gradient: they are never attended
        assert torch.all(memory.grad[~mask] == 0)
