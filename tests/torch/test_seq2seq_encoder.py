"""The translator's encoder on CPU: the fused loops of spacy_rnn.torch.fused give the
memory, final states and gradients of the PyTorch module over a packed batch."""
import pytest
import torch
from torch import nn

from spacy_rnn.torch import seq2seq
from spacy_rnn.torch.fused import fusable
from spacy_rnn.torch.seq2seq import Seq2Seq


def _model(cell, layers, bidirectional, dropout=0.0):
    torch.manual_seed(0)
    return Seq2Seq(11, 9, emb_size=5, hidden=6, enc_layers=layers, dec_layers=2, cell=cell,
                   bidirectional=bidirectional, dropout=dropout)


def _encode(model, path, emb, lengths):
    emb = emb.clone().requires_grad_(True)
    memory, final_h, final_c = getattr(model, path)(emb, lengths)
    outputs = [x for x in (memory, final_h, final_c) if x is not None]
    torch.manual_seed(3)
    loss = sum((x * torch.randn_like(x)).sum() for x in outputs)
    params = list(model.encoder_rnn.parameters())
    grads = torch.autograd.grad(loss, [emb] + params)
    return outputs, grads


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_fused_encoder_equals_the_packed_module(cell, layers, bidirectional):
    model = _model(cell, layers, bidirectional).eval()
    lengths = torch.tensor([4, 7, 1, 5, 7, 2])
    emb = torch.randn(6, 9, 5)  # two columns past the longest source, as a padded batch may have
    fused, fused_grads = _encode(model, "_run_encoder_fused", emb, lengths)
    packed, packed_grads = _encode(model, "_run_encoder_packed", emb, lengths)
    assert len(fused) == len(packed) == (3 if cell == "lstm" else 2)
    for a, b in zip(fused, packed):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    assert fused[0][:, 7:].abs().sum() == 0 and fused[0][2, 1:].abs().sum() == 0  # zeros on padding
    for a, b in zip(fused_grads, packed_grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_fused_encoder_drops_out_between_layers_like_the_module(cell):
    """nn.LSTM drops out each non-top layer's packed output rows; the fused encoder
    draws the same mask over the same rows, so with one seed the results are equal."""
    model = _model(cell, 3, True, dropout=0.5).train()
    lengths, emb = torch.tensor([3, 5, 1, 4]), torch.randn(4, 6, 5)
    results = []
    for path in ("_run_encoder_fused", "_run_encoder_packed"):
        torch.manual_seed(7)
        results.append([x for x in getattr(model, path)(emb, lengths) if x is not None])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    model.eval()
    assert not torch.allclose(model._run_encoder_fused(emb, lengths)[0], results[0][0])


def _which_path(model, monkeypatch):
    calls = []
    for path in ("_run_encoder_fused", "_run_encoder_packed"):
        original = getattr(model, path)
        monkeypatch.setattr(model, path, lambda *a, p=path, f=original: calls.append(p) or f(*a))
    model.encode(torch.tensor([[3, 4, 5], [6, 7, 0]]), torch.tensor([3, 2]))
    return calls


def test_cpu_float32_uses_the_fused_loops_and_autocast_the_module(monkeypatch):
    model = _model("lstm", 2, True).eval()
    assert _which_path(model, monkeypatch) == ["_run_encoder_fused"]
    monkeypatch.setattr(seq2seq, "autocast_on", lambda device_type: True)
    assert _which_path(model, monkeypatch) == ["_run_encoder_packed"]


def test_only_plain_float_modules_are_fusable():
    assert fusable(nn.LSTM(4, 3, num_layers=2, bidirectional=True)) and fusable(nn.GRU(4, 3))
    assert fusable(nn.RNN(4, 3))
    assert not fusable(nn.RNN(4, 3, nonlinearity="relu"))
    assert not fusable(nn.LSTM(4, 3, proj_size=2))
    assert not fusable(nn.LSTM(4, 3, bias=False))
    assert not fusable(nn.Linear(4, 3))
