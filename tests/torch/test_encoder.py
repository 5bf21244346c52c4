import pytest
import torch

from spacy_rnn.torch import native
from spacy_rnn.torch.encoder import RNNEncoder, make_cell
from spacy_rnn.torch.padding import length_mask, pad_flat

CELLS = ["rnn", "lstm", "gru"]


@pytest.fixture(params=["torch", "native", "loop"])
def backend(request, monkeypatch):
    """Run a test with each backend forced (SPACY_RNN_BACKEND); native where the C loops are built."""
    if request.param == "native" and not native.available():
        pytest.skip("the C loops are not built here")
    monkeypatch.setenv("SPACY_RNN_BACKEND", request.param)
    return request.param


def _flat(lengths, width, seed=0):
    torch.manual_seed(seed)
    return torch.randn(sum(lengths), width), torch.tensor(lengths)


def test_pad_flat_and_length_mask_round_trip():
    flat, lengths = _flat([3, 1, 0, 5], 4)
    padded = pad_flat(flat, lengths)
    assert padded.shape == (4, 5, 4)
    assert torch.equal(padded[length_mask(lengths, 5)], flat)
    assert torch.all(padded[1, 1:] == 0)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [True, False])
def test_encoder_shapes_and_gradients(cell, bidirectional):
    encoder = RNNEncoder(8, 2, cell=cell, bidirectional=bidirectional)
    flat, lengths = _flat([4, 2, 6], 8)
    flat.requires_grad_()
    out = encoder(flat, lengths)
    assert out.shape == (12, 8)
    out.sum().backward()
    assert flat.grad.shape == (12, 8)
    assert all(p.grad is not None for p in encoder.parameters())


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("residual", [False, True])
def test_encoder_output_does_not_depend_on_batch(cell, residual, backend):
    encoder = RNNEncoder(6, 2, cell=cell, residual=residual).eval()
    flat, lengths = _flat([3, 9, 1], 6)
    batched = encoder(flat, lengths)
    alone = encoder(flat[:3], torch.tensor([3]))
    torch.testing.assert_close(batched[:3], alone, atol=1e-6, rtol=0)
    last = encoder(flat[12:], torch.tensor([1]))
    torch.testing.assert_close(batched[12:], last, atol=1e-6, rtol=0)


def test_backward_direction_starts_at_last_real_token(backend):
    """The backward half at the last real token must only see that token."""
    encoder = RNNEncoder(4, 1, cell="gru").eval()
    flat, lengths = _flat([2, 5], 4)
    out = encoder(flat, lengths)
    single = encoder(flat[1:2], torch.tensor([1]))
    torch.testing.assert_close(out[1, 2:], single[0, 2:], atol=1e-6, rtol=0)


def test_empty_inputs(backend):
    encoder = RNNEncoder(4, 1)
    assert encoder(torch.zeros(0, 4), torch.tensor([0, 0])).shape == (0, 4)
    out = encoder(torch.randn(3, 4), torch.tensor([0, 3]))
    assert out.shape == (3, 4)


def test_lstm_forget_bias_is_one():
    lstm = make_cell("lstm", 4, 5)
    total = lstm.bias_ih_l0 + lstm.bias_hh_l0
    assert torch.all(total[5:10] == 1.0)


def test_bad_cell_and_width():
    with pytest.raises(ValueError, match="rnn.*lstm|gru"):
        make_cell("lsmt", 4, 4)
    with pytest.raises(ValueError, match="even width"):
        RNNEncoder(5, 1, bidirectional=True)


def test_a_very_long_sequence_is_encoded_like_its_prefix():
    """20,000 tokens in one sequence: the forward direction's outputs on the first 100 are
    those of the 100-token prefix alone (memory use is measured by spacy_rnn.benchmarks.memory)."""
    encoder = RNNEncoder(8, 1, cell="lstm").eval()
    x = torch.randn(20000, 8)
    with torch.no_grad():
        out = encoder(x, torch.tensor([20000]))
        prefix = encoder(x[:100], torch.tensor([100]))
    assert out.shape == (20000, 8) and torch.isfinite(out).all()
    torch.testing.assert_close(out[:100, :4], prefix[:, :4])


def test_length_groups_give_the_same_output_and_gradients():
    """The "torch" backend (cuDNN's on GPU) in 3 length groups and in one, against the CPU
    default (the step loops): same outputs and input gradients."""
    from spacy_rnn.torch.encoder import length_groups

    torch.manual_seed(0)
    grouped = RNNEncoder(6, 2, cell="lstm", length_groups=3).eval()
    single = RNNEncoder(6, 2, cell="lstm", length_groups=1).eval()
    single.load_state_dict(grouped.state_dict())
    lengths = torch.randint(0, 30, (40,))
    assert len(length_groups(lengths, 3)) == 3
    flat = torch.randn(int(lengths.sum()), 6, requires_grad=True)
    outputs = [grouped._encode_grouped(flat, lengths), single._encode_grouped(flat, lengths),
               grouped(flat, lengths)]
    grads = [torch.autograd.grad(out.sum(), flat)[0] for out in outputs]
    for out, grad in zip(outputs[1:], grads[1:]):
        torch.testing.assert_close(outputs[0], out, atol=1e-5, rtol=0)
        torch.testing.assert_close(grads[0], grad, atol=1e-5, rtol=0)


def test_group_rows_selects_each_sequence_in_order():
    from spacy_rnn.torch.encoder import group_rows, length_groups

    lengths = torch.tensor([2, 0, 3, 1])
    assert group_rows(lengths, torch.tensor([2, 0])).tolist() == [2, 3, 4, 0, 1]
    groups = length_groups(torch.arange(20), 3)
    # every non-empty sequence once (sequence 0 has length 0: it has no rows to encode)
    assert sorted(torch.cat(groups).tolist()) == list(range(1, 20)) and len(groups) == 2
