"""Tests for ``spacy_rnn.torch.quantize.quantize_int8``."""
import warnings

import pytest
import torch
from torch import nn

from spacy_rnn.torch.quantize import quantize_int8
from spacy_rnn.torch.seq2seq import Seq2Seq


def small_seq2seq(cell: str = "lstm") -> Seq2Seq:
    torch.manual_seed(0)
    return Seq2Seq(src_vocab=50, tgt_vocab=60, emb_size=16, hidden=32, cell=cell,
                   attention="bahdanau").eval()


def batch():
    torch.manual_seed(1)
    src = torch.randint(4, 50, (3, 7))
    lengths = torch.tensor([7, 5, 2])
    tgt = torch.randint(4, 60, (3, 6))
    return src, lengths, tgt


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_quantized_copy_is_close_and_float_model_untouched(cell):
    model = small_seq2seq(cell)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    src, lengths, tgt = batch()
    with torch.no_grad():
        expected = model(src, lengths, tgt)
        quantized = quantize_int8(model)
        got = quantized(src, lengths, tgt)
    assert got.shape == expected.shape
    # int8 weights: close to, but not bit-identical with, the float32 logits
    assert not torch.equal(got, expected)
    assert (got - expected).abs().max() < 0.05 * expected.abs().max()
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert isinstance(model.generator, nn.Linear)


def test_quantizes_linear_and_recurrent_layers_but_not_embeddings():
    quantized = quantize_int8(small_seq2seq("lstm"))
    kinds = {name: type(module).__module__ for name, module in quantized.named_modules()}
    assert "quantized" in kinds["generator"]
    assert "quantized" in kinds["decoder_rnn"]
    assert "quantized" in kinds["encoder_rnn"]
    assert isinstance(quantized.src_embed, nn.Embedding)


def test_no_warnings_reach_the_user():
    model = small_seq2seq()
    src, lengths, tgt = batch()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quantized = quantize_int8(model)
        with torch.no_grad():
            quantized(src, lengths, tgt)
    assert [str(w.message) for w in caught] == []


def test_non_cpu_model_is_refused():
    model = small_seq2seq().to("meta")
    with pytest.raises(ValueError, match="CPU only"):
        quantize_int8(model)
