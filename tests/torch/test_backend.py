"""The recurrence backend selector (spacy_rnn.torch.backend): its rules, the forcing
setting, and that the encoders run what it chose."""
import logging

import pytest
import torch

from spacy_rnn.torch import backend, native
from spacy_rnn.torch.encoder import RNNEncoder


@pytest.fixture
def with_c(monkeypatch):
    """Set whether the C library counts as loaded."""
    return lambda loaded: monkeypatch.setattr(native, "available", lambda: loaded)


@pytest.mark.parametrize("cell,hidden,loaded,expected", [
    ("lstm", 48, True, "native"), ("gru", 48, True, "native"), ("rnn", 48, True, "loop"),
    ("lstm", 48, False, "torch"), ("lstm", 64, False, "loop"), ("gru", 8, False, "loop"),
    ("rnn", 8, False, "loop")])
def test_cpu_float32_rules(cell, hidden, loaded, expected, with_c):
    with_c(loaded)
    choice = backend.choose(cell, torch.zeros(3, 2 * hidden), hidden)
    assert choice.backend == expected and choice.reason


def test_other_dtypes_devices_and_weights_take_the_modules(with_c):
    with_c(True)
    assert backend.choose("lstm", torch.zeros(3, 8, dtype=torch.bfloat16), 4).backend == "torch"
    with torch.autocast("cpu", dtype=torch.bfloat16):
        choice = backend.choose("gru", torch.zeros(3, 8), 4)
    assert choice == ("torch", "computing in torch.bfloat16: oneDNN's kernels (the C loops take float32)")
    assert backend.choose("lstm", torch.zeros(3, 8, device="meta"), 4).backend == "torch"
    assert backend.choose("lstm", torch.zeros(3, 8), 4, plain=False).backend == "torch"


@pytest.mark.parametrize("value,cell,loaded,expected", [
    ("torch", "gru", True, "torch"), ("loop", "lstm", True, "loop"), ("native", "lstm", True, "native"),
    (" Native ", "gru", True, "native"), ("native", "rnn", True, "loop"), ("native", "lstm", False, "loop"),
    ("auto", "lstm", False, "torch"), ("", "lstm", True, "native")])
def test_the_setting_forces_a_backend_where_it_can_run(value, cell, loaded, expected, with_c, monkeypatch):
    with_c(loaded)
    monkeypatch.setenv("SPACY_RNN_BACKEND", value)
    choice = backend.choose(cell, torch.zeros(3, 8), 4)
    assert choice.backend == expected
    if value.strip() == "native" and expected == "loop":
        assert "cannot run here" in choice.reason


def test_a_forced_backend_still_leaves_gpus_and_int8_weights_to_the_modules(monkeypatch):
    monkeypatch.setenv("SPACY_RNN_BACKEND", "loop")
    assert backend.choose("lstm", torch.zeros(3, 8, device="meta"), 4).backend == "torch"
    assert backend.choose("lstm", torch.zeros(3, 8), 4, plain=False).backend == "torch"


def test_an_unknown_setting_is_refused_with_the_choices(monkeypatch):
    monkeypatch.setenv("SPACY_RNN_BACKEND", "cudnn")
    with pytest.raises(ValueError, match=r"SPACY_RNN_BACKEND='cudnn'.*torch, native, loop"):
        backend.choose("lstm", torch.zeros(3, 8), 4)


def test_the_choice_is_logged(caplog, with_c):
    with_c(False)
    with caplog.at_level(logging.DEBUG, logger="spacy_rnn.backend"):
        backend.choose("gru", torch.zeros(3, 8), 4)
    assert "gru, 4 units per direction, torch.float32 on cpu: loop" in caplog.text


@pytest.mark.parametrize("forced", ["torch", "loop"])
def test_the_encoder_runs_the_chosen_backend(forced, monkeypatch):
    encoder = RNNEncoder(8, 2, cell="gru")
    calls = []
    real = encoder.encode_with
    monkeypatch.setattr(encoder, "encode_with", lambda name, *a: calls.append(name) or real(name, *a))
    monkeypatch.setenv("SPACY_RNN_BACKEND", forced)
    flat = torch.randn(5, 8)
    assert encoder.choose_backend(flat).backend == forced
    encoder(flat, torch.tensor([2, 3]))
    assert calls == [forced]


def test_the_encoder_computes_in_float32_under_cpu_autocast(with_c):
    """RNNEncoder turns CPU autocast off, so its choice is that of float32 input."""
    with_c(False)
    encoder = RNNEncoder(8, 1, cell="gru")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert encoder.choose_backend(torch.zeros(3, 8)).backend == "loop"
        assert backend.choose("gru", torch.zeros(3, 8), 4).backend == "torch"
