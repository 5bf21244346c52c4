"""The translator's encoder: the step-loop backends (C loops, PyTorch loops) give the memory,
final states and gradients of the PyTorch module over a packed batch, and the backend
selector decides which runs."""
import pytest
import torch

from spacy_rnn.torch import native
from spacy_rnn.torch.quantize import quantize_int8
from spacy_rnn.torch.seq2seq import Seq2Seq


def _model(cell, layers, bidirectional, dropout=0.0):
    torch.manual_seed(0)
    return Seq2Seq(11, 9, emb_size=5, hidden=6, enc_layers=layers, dec_layers=2, cell=cell,
                   bidirectional=bidirectional, dropout=dropout)


def _steps_backends(cell):
    """The step-loop backends that can run ``cell`` here."""
    with_c = cell in ("lstm", "gru") and native.available()
    return ["native", "loop"] if with_c else ["loop"]


def _run(model, backend, emb, lengths):
    if backend == "torch":
        return model._run_encoder_packed(emb, lengths)
    return model._run_encoder_steps(backend, emb, lengths)


def _encode(model, backend, emb, lengths):
    emb = emb.clone().requires_grad_(True)
    outputs = [x for x in _run(model, backend, emb, lengths) if x is not None]
    torch.manual_seed(3)
    loss = sum((x * torch.randn_like(x)).sum() for x in outputs)
    params = list(model.encoder_rnn.parameters())
    grads = torch.autograd.grad(loss, [emb] + params)
    return outputs, grads


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_step_loops_equal_the_packed_module(cell, layers, bidirectional):
    model = _model(cell, layers, bidirectional).eval()
    lengths = torch.tensor([4, 7, 1, 5, 7, 2])
    emb = torch.randn(6, 9, 5)  # two columns past the longest source, as a padded batch may have
    packed, packed_grads = _encode(model, "torch", emb, lengths)
    for backend in _steps_backends(cell):
        steps, steps_grads = _encode(model, backend, emb, lengths)
        assert len(steps) == len(packed) == (3 if cell == "lstm" else 2)
        for a, b in zip(steps, packed):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
        assert steps[0][:, 7:].abs().sum() == 0 and steps[0][2, 1:].abs().sum() == 0  # zeros on padding
        for a, b in zip(steps_grads, packed_grads):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_without_gradients_the_step_loops_equal_the_packed_module(cell):
    model = _model(cell, 2, True).eval()
    lengths, emb = torch.tensor([4, 7, 1, 5]), torch.randn(4, 7, 5)
    with torch.no_grad():
        want = _run(model, "torch", emb, lengths)
        for backend in _steps_backends(cell):
            for a, b in zip(_run(model, backend, emb, lengths), want):
                torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_step_loops_drop_out_between_layers_like_the_module(cell):
    """nn.LSTM drops out each non-top layer's packed output rows; the step loops draw the
    same mask over the same rows, so with one seed the results are equal."""
    model = _model(cell, 3, True, dropout=0.5).train()
    lengths, emb = torch.tensor([3, 5, 1, 4]), torch.randn(4, 6, 5)
    torch.manual_seed(7)
    want = [x for x in _run(model, "torch", emb, lengths) if x is not None]
    for backend in _steps_backends(cell):
        torch.manual_seed(7)
        got = [x for x in _run(model, backend, emb, lengths) if x is not None]
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    model.eval()
    assert not torch.allclose(_run(model, "loop", emb, lengths)[0], want[0])


def _which_backend(model, monkeypatch):
    calls = []
    packed, steps = model._run_encoder_packed, model._run_encoder_steps
    monkeypatch.setattr(model, "_run_encoder_packed", lambda *a: calls.append("torch") or packed(*a))
    monkeypatch.setattr(model, "_run_encoder_steps", lambda name, *a: calls.append(name) or steps(name, *a))
    model.encode(torch.tensor([[3, 4, 5], [6, 7, 0]]), torch.tensor([3, 2]))
    return calls


def test_the_encoder_runs_the_backend_the_selector_chose(monkeypatch):
    model = _model("lstm", 2, True).eval()
    expected = "native" if native.available() else "loop"
    assert _which_backend(model, monkeypatch) == [expected]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert _which_backend(model, monkeypatch) == ["torch"]
    monkeypatch.setenv("SPACY_RNN_BACKEND", "torch")
    assert _which_backend(model, monkeypatch) == ["torch"]
    monkeypatch.setenv("SPACY_RNN_BACKEND", "loop")
    assert _which_backend(model, monkeypatch) == ["loop"]


def test_an_int8_copy_runs_its_quantized_module(monkeypatch):
    """The step loops cannot read int8 weights: the copy's encoder runs the module, even
    where a backend is forced."""
    monkeypatch.setenv("SPACY_RNN_BACKEND", "loop")
    model = quantize_int8(_model("lstm", 1, True))
    assert model.encoder_backend(torch.zeros(1, 2, 5)).backend == "torch"
    assert _which_backend(model, monkeypatch) == ["torch"]
