import itertools

import pytest
import torch

from spacy_rnn.torch.seq2seq import Seq2Seq, sequence_loss, step_chunks, time_chunks

CELLS = ["rnn", "lstm", "gru"]
ATTENTIONS = ["none", "bahdanau", "luong"]
PAD, BOS, EOS = 0, 1, 2
SRC_V, TGT_V = 13, 11


def _model(seed=0, **config):
    torch.manual_seed(seed)
    defaults = dict(src_vocab=SRC_V, tgt_vocab=TGT_V, emb_size=6, hidden=8, enc_layers=2,
                    dec_layers=2, pad_id=PAD, bos_id=BOS, eos_id=EOS)
    return Seq2Seq(**{**defaults, **config}).eval()


def _batch(lengths, vocab, seed=1, fill=None):
    """Random ids (B, max_len); padding positions hold `fill` or random junk."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    ids = torch.randint(3, vocab, (len(lengths), int(lengths.max())), generator=gen)
    if fill is not None:
        ids[torch.arange(ids.shape[1]) >= lengths.unsqueeze(1)] = fill
    return ids, lengths


@pytest.mark.parametrize("cell,attention,input_feeding",
                         list(itertools.product(CELLS, ATTENTIONS, [False, True])))
def test_forward_shapes(cell, attention, input_feeding):
    model = _model(cell=cell, attention=attention, input_feeding=input_feeding)
    src, src_lengths = _batch([5, 3, 1], SRC_V)
    tgt, _ = _batch([4, 4, 2], TGT_V, fill=PAD)
    encoded = model.encode(src, src_lengths)
    assert encoded.memory.shape == (3, 5, 8)
    assert encoded.src_mask.tolist()[1] == [True] * 3 + [False] * 2
    assert encoded.state.hidden.shape == (2, 3, 8)
    assert (encoded.state.cell is not None) == (cell == "lstm")
    assert model(src, src_lengths, tgt).shape == (3, 4, TGT_V)
    logits, state = model.decode_step(tgt[:, 0], encoded.state, encoded)
    assert logits.shape == (3, TGT_V) and state.hidden.shape == (2, 3, 8)


@pytest.mark.parametrize("cell,bidirectional", list(itertools.product(CELLS, [True, False])))
def test_encoder_is_length_correct(cell, bidirectional):
    model = _model(cell=cell, bidirectional=bidirectional)
    src, lengths = _batch([3, 7, 5], SRC_V)  # padding holds random ids
    batched = model.encode(src, lengths)
    alone = model.encode(src[:1, :3], lengths[:1])
    torch.testing.assert_close(batched.memory[:1, :3], alone.memory, atol=1e-5, rtol=0)
    assert torch.all(batched.memory[0, 3:] == 0)
    torch.testing.assert_close(batched.state.hidden[:, :1], alone.state.hidden, atol=1e-5, rtol=0)
    if cell == "lstm":
        torch.testing.assert_close(batched.state.cell[:, :1], alone.state.cell, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell,attention,input_feeding",
                         list(itertools.product(CELLS, ATTENTIONS, [False, True])))
def test_decoder_is_length_correct(cell, attention, input_feeding):
    model = _model(cell=cell, attention=attention, input_feeding=input_feeding)
    src, src_lengths = _batch([3, 7, 5], SRC_V)
    tgt, _ = _batch([4, 6, 2], TGT_V, fill=PAD)
    batched = model(src, src_lengths, tgt)
    alone = model(src[:1, :3], src_lengths[:1], tgt[:1, :4])
    torch.testing.assert_close(batched[:1, :4], alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("input_feeding", [False, True])
def test_decode_step_matches_forward(input_feeding):
    model = _model(cell="lstm", attention="bahdanau", input_feeding=input_feeding)
    src, src_lengths = _batch([4, 2], SRC_V)
    tgt, _ = _batch([5, 5], TGT_V)
    full = model(src, src_lengths, tgt)
    encoded = model.encode(src, src_lengths)
    state, steps = encoded.state, []
    for t in range(tgt.shape[1]):
        logits, state = model.decode_step(tgt[:, t], state, encoded)
        steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, dim=1), full, atol=1e-5, rtol=0)


def test_mixed_cells_and_bridge_from_hidden_state():
    model = _model(enc_cell="gru", dec_cell="lstm", attention="luong", input_feeding=True)
    assert isinstance(model.encoder_rnn, torch.nn.GRU)
    assert isinstance(model.decoder_rnn, torch.nn.LSTM)
    src, src_lengths = _batch([4, 2], SRC_V)
    tgt, _ = _batch([3, 3], TGT_V)
    assert model(src, src_lengths, tgt).shape == (2, 3, TGT_V)
    model.eval()
    with torch.no_grad():
        state = model.encode(src, src_lengths).state
        # a GRU encoder has no cell state: the LSTM decoder's comes from the final hidden state
        assert state.cell is not None and state.cell.shape == state.hidden.shape
        assert state.feed is not None and not state.feed.any()  # input feeding starts from zeros
        model.bridge_cell.bias.add_(1.0)
        assert torch.equal(model.encode(src, src_lengths).state.hidden, state.hidden)
        assert not torch.equal(model.encode(src, src_lengths).state.cell, state.cell)


def test_tied_embeddings_share_storage():
    model = _model(tie_target_embeddings=True)
    assert model.generator.weight is model.tgt_embed.weight
    assert model.generator.weight.data_ptr() == model.tgt_embed.weight.data_ptr()
    assert model.pre_output.weight.shape == (6, 8)
    n_params = sum(p.numel() for p in model.parameters())
    untied = _model(tie_target_embeddings=False)
    assert untied.generator.weight.data_ptr() != untied.tgt_embed.weight.data_ptr()
    assert n_params < sum(p.numel() for p in untied.parameters())


def test_lstm_forget_gate_bias_is_one():
    model = _model(cell="lstm")
    for rnn in (model.encoder_rnn, model.decoder_rnn):
        size = rnn.hidden_size
        biases = dict(rnn.named_parameters())
        for name in [n for n in biases if n.startswith("bias_ih")]:
            hh = biases[name.replace("_ih", "_hh")]
            forget = biases[name][size : 2 * size] + hh[size : 2 * size]
            assert torch.all(forget == 1)


def test_config_rebuilds_model():
    model = _model(cell="gru", attention="bahdanau", tie_target_embeddings=True)
    clone = Seq2Seq(**model.config).eval()
    clone.load_state_dict(model.state_dict())
    src, src_lengths = _batch([4, 2], SRC_V)
    tgt, _ = _batch([3, 3], TGT_V)
    assert torch.equal(clone(src, src_lengths, tgt), model(src, src_lengths, tgt))


@pytest.mark.parametrize("config,word", [
    (dict(cell="lstmx"), "'gru', 'lstm', 'rnn'"),
    (dict(enc_cell="transformer"), "'gru', 'lstm', 'rnn'"),
    (dict(dec_cell="GRU"), "'gru', 'lstm', 'rnn'"),
    (dict(attention="dot"), "'bahdanau', 'luong', 'none'"),
    (dict(hidden=7, bidirectional=True), "even"),
])
def test_invalid_config_raises(config, word):
    with pytest.raises(ValueError, match=word):
        _model(**config)


def test_empty_source_sentence_raises():
    model = _model()
    src, _ = _batch([3, 3], SRC_V)
    with pytest.raises(ValueError, match="at least one token"):
        model.encode(src, torch.tensor([3, 0]))


def test_sequence_loss_ignores_padding():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 5)
    tgt = torch.tensor([[3, 4, 2], [4, 2, PAD]])
    loss, n_tokens = sequence_loss(logits, tgt, PAD)
    assert n_tokens == 5
    log_probs = logits.log_softmax(-1)
    expected = -sum(log_probs[b, t, tgt[b, t]] for b, t in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)])
    torch.testing.assert_close(loss, expected)
    changed = logits.clone()
    changed[1, 2] = 100.0
    assert torch.equal(sequence_loss(changed, tgt, PAD)[0], loss)


def test_sequence_loss_label_smoothing():
    """(1 - e) * NLL + e * mean over the vocabulary of -log p, summed over real tokens."""
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 5)
    tgt = torch.tensor([[3, 1, 2], [4, 2, PAD]])
    log_p = logits.log_softmax(-1)
    real = [(b, t) for b in range(2) for t in range(3) if tgt[b, t] != PAD]
    nll = sum(-log_p[b, t, tgt[b, t]] for b, t in real)
    uniform = sum(-log_p[b, t].mean() for b, t in real)
    plain, n_tokens = sequence_loss(logits, tgt, PAD)
    smoothed, _ = sequence_loss(logits, tgt, PAD, label_smoothing=0.1)
    assert n_tokens == 5
    torch.testing.assert_close(plain, nll)
    torch.testing.assert_close(smoothed, 0.9 * nll + 0.1 * uniform)


def test_backward_reaches_all_parameters():
    model = _model(cell="lstm", attention="bahdanau", input_feeding=True,
                   tie_target_embeddings=True).train()
    src, src_lengths = _batch([4, 2], SRC_V)
    tgt, _ = _batch([3, 3], TGT_V)
    loss, _ = sequence_loss(model(src, src_lengths, tgt), tgt, PAD)
    loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing


@pytest.mark.parametrize("cell,input_feeding,tie,smoothing,tgt_lengths", [
    ("lstm", False, False, 0.0, [4, 2, 1]), ("lstm", True, True, 0.1, [4, 2, 1]),
    ("lstm", True, False, 0.0, [2, 1, 4]), ("gru", True, False, 0.1, [1, 4, 4]),
    # without input feeding, several time chunks (lengths spread out) in any order
    ("lstm", False, True, 0.1, [3, 9, 1, 6, 2, 9, 4, 7, 5]), ("gru", False, False, 0.0, [2, 8, 8, 1, 5, 3]),
    ("rnn", False, False, 0.1, [7, 1, 1, 1, 6, 2, 9])])
def test_training_loss_equals_the_loss_of_the_padded_logits(cell, input_feeding, tie, smoothing,
                                                            tgt_lengths):
    """Seq2Seq.loss (output layer on real target positions only, the decoder step by step on
    the sentences still going or in time chunks; sentences in any order of length) gives the
    loss and the gradients of sequence_loss over forward's padded logits, and never projects
    padding."""
    model = _model(cell=cell, attention="bahdanau", input_feeding=input_feeding,
                   tie_target_embeddings=tie)
    batch = len(tgt_lengths)
    src, src_lengths = _batch([5, 3, 2, 6, 1, 4, 2, 3, 5][:batch], SRC_V)
    tgt_out, _ = _batch(tgt_lengths, TGT_V, fill=PAD)
    tgt_in = torch.cat([torch.full((batch, 1), BOS), tgt_out[:, :-1]], 1)
    want, want_n = sequence_loss(model(src, src_lengths, tgt_in), tgt_out, PAD, smoothing)
    want.backward()
    want_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    rows = []
    hook = model.generator.register_forward_hook(lambda m, args, out: rows.append(args[0].shape[0]))
    loss, n = model.loss(src, src_lengths, tgt_in, tgt_out, smoothing)
    hook.remove()
    loss.backward()
    assert n == want_n == sum(tgt_lengths) and rows == [sum(tgt_lengths)]
    torch.testing.assert_close(loss, want)
    for got, expected in zip((p.grad for p in model.parameters()), want_grads):
        torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("input_feeding", [True, False])
def test_training_loss_with_only_eos_targets_and_trailing_padding_columns(input_feeding):
    model = _model(cell="gru", attention="luong", input_feeding=input_feeding, dec_layers=1)
    src, src_lengths = _batch([3, 1], SRC_V)
    tgt_out = torch.tensor([[EOS, PAD, PAD], [EOS, PAD, PAD]])
    tgt_in = torch.tensor([[BOS, PAD, PAD], [BOS, PAD, PAD]])
    want, _ = sequence_loss(model(src, src_lengths, tgt_in), tgt_out, PAD)
    loss, n = model.loss(src, src_lengths, tgt_in, tgt_out)
    assert n == 2
    torch.testing.assert_close(loss, want)


@pytest.mark.parametrize("lengths", [[9, 7, 6, 5, 4, 3, 2, 1], [5, 5, 5], [1], [7, 1, 1, 1], [3, 2, 0, 0], [0, 0]])
def test_time_chunks_cover_every_real_position_once(lengths):
    """Chunks are consecutive from step 0 to the longest target; each runs exactly the
    sentences still going at its start (so no sentence resumes after it stopped)."""
    chunks = time_chunks(lengths)
    if max(lengths) == 0:
        assert chunks == []
        return
    ends = [end for _, end, _ in chunks]
    assert [start for start, _, _ in chunks] == [0] + ends[:-1] and ends[-1] == max(lengths)
    for start, end, n in chunks:
        assert start < end and n == sum(length > start for length in lengths)
    assert len(chunks) <= 5


def test_step_chunks_run_each_step_on_the_sentences_still_going():
    assert step_chunks([3, 1, 0]) == [(0, 1, 2), (1, 2, 1), (2, 3, 1)]
    assert step_chunks([0, 0]) == [] and step_chunks([]) == []


def test_time_chunks_cut_most_of_the_padding():
    lengths = sorted([20, 18, 17, 15, 15, 14, 13, 13, 12, 11, 11, 10, 9, 8, 6, 4], reverse=True)
    computed = sum(n * (end - start) for start, end, n in time_chunks(lengths))
    padded = len(lengths) * max(lengths)
    assert computed - sum(lengths) < (padded - sum(lengths)) / 3


@pytest.mark.parametrize("input_feeding", [True, False])
def test_training_loss_of_targets_without_real_positions_is_zero(input_feeding):
    model = _model(cell="lstm", attention="bahdanau", input_feeding=input_feeding)
    src, src_lengths = _batch([3, 1], SRC_V)
    tgt = torch.full((2, 3), PAD)
    loss, n = model.loss(src, src_lengths, tgt, tgt)
    assert n == 0 and float(loss.detach()) == 0.0
