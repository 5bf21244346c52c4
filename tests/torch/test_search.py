import itertools
import math

import pytest
import torch

from spacy_rnn.torch.search import (beam_search, beam_search_nbest, forced_attention,
                                    greedy_search, length_penalty, max_lengths)
from spacy_rnn.torch.seq2seq import DecoderState, Encoded, Seq2Seq, sequence_loss

CELLS = ["rnn", "lstm", "gru"]
ATTENTIONS = ["none", "bahdanau", "luong"]
PAD, BOS, EOS, A = 0, 1, 2, 3
SRC_V, TGT_V = 12, 10


class MarkovModel:
    """A fake model whose next-token distribution depends only on the previous
    token, through a fixed (V, V) table of probabilities."""

    pad_id, bos_id, eos_id = PAD, BOS, EOS

    def __init__(self, table):
        self.log_table = torch.tensor(table).log()
        self.calls = 0

    def encode(self, src, src_lengths):
        batch = src.shape[0]
        state = DecoderState(torch.zeros(1, batch, 1), None, None)
        mask = torch.ones(batch, 1, dtype=torch.bool)
        return Encoded(torch.zeros(batch, 1, 1), mask, state, None)

    def decode_step(self, prev_tokens, state, encoded):
        self.calls += 1
        return self.log_table[prev_tokens], state


def _table(from_bos, from_a):
    """Rows for PAD, BOS, EOS, A: probabilities of next PAD, BOS, EOS, A."""
    uniform = [0.25] * 4
    return [uniform, [0.0, 0.0] + from_bos, uniform, [0.0, 0.0] + from_a]


ONE_WORD = torch.tensor([[A]]), torch.tensor([1])


def test_length_penalty_values():
    assert length_penalty(1, 0.0) == 1.0
    assert length_penalty(1, 1.0) == 1.0
    assert math.isclose(length_penalty(7, 0.6), 2.0 ** 0.6)
    torch.testing.assert_close(length_penalty(torch.tensor([1, 7]), 1.0), torch.tensor([1.0, 2.0]))


def test_max_lengths_per_sentence():
    assert max_lengths(torch.tensor([1, 4, 10]), 1.5, 2).tolist() == [3, 8, 17]


def test_finished_hypothesis_beats_longer_worse_ones_and_stops_early():
    # [] scores log 0.4 = -0.92; every longer hypothesis scores <= log 0.3 = -1.20.
    model = MarkovModel(_table([0.4, 0.6], [0.5, 0.5]))
    assert beam_search(model, *ONE_WORD, beam_size=2, alpha=0.0) == [[]]
    # step 2 leaves an open hypothesis at -1.20 that cannot beat -0.92: stop there
    assert model.calls == 2


def test_length_penalty_lets_a_longer_hypothesis_win():
    # alpha = 2: [A] scores log(0.3) / (7/6)**2 = -0.885 > log(0.4) / 1 = -0.916 for []
    model = MarkovModel(_table([0.4, 0.6], [0.5, 0.5]))
    assert beam_search(model, *ONE_WORD, beam_size=2, alpha=2.0) == [[A]]


def test_hypotheses_end_at_max_length():
    model = MarkovModel(_table([0.01, 0.99], [0.01, 0.99]))
    src, lengths = torch.tensor([[A, PAD, PAD], [A, A, A]]), torch.tensor([1, 3])
    expected = [[A] * 3, [A] * 5]
    assert greedy_search(model, src, lengths, max_len_ratio=1.0, max_len_const=2) == expected
    for beam in (1, 3):
        assert beam_search(model, src, lengths, beam_size=beam, alpha=0.6,
                           max_len_ratio=1.0, max_len_const=2) == expected


def test_beam_search_finds_better_than_greedy():
    # greedy takes A (0.6) then EOS (0.5): 0.3; beam sees [] directly at 0.4
    model = MarkovModel(_table([0.4, 0.6], [0.5, 0.5]))
    assert greedy_search(model, *ONE_WORD) == [[A]]
    assert beam_search(model, *ONE_WORD, beam_size=2, alpha=0.0) == [[]]


def test_invalid_search_arguments():
    model = MarkovModel(_table([0.4, 0.6], [0.5, 0.5]))
    with pytest.raises(ValueError, match=r"beam_size must be >= 1.*got beam_size 0,"):
        beam_search(model, *ONE_WORD, beam_size=0)
    with pytest.raises(ValueError, match=r"alpha >= 0.*alpha -1\.0,"):
        beam_search(model, *ONE_WORD, alpha=-1.0)


def test_empty_batch():
    model = MarkovModel(_table([0.4, 0.6], [0.5, 0.5]))
    empty = torch.zeros((0, 3), dtype=torch.long), torch.zeros((0,), dtype=torch.long)
    assert greedy_search(model, *empty) == []
    assert beam_search(model, *empty) == []


# ----- real models ---------------------------------------------------------------------------


def _model(cell, attention, input_feeding, seed=0, **sizes):
    torch.manual_seed(seed)
    sizes = {"emb_size": 8, "hidden": 12, "dec_layers": 2, **sizes}
    return Seq2Seq(SRC_V, TGT_V, cell=cell, attention=attention, input_feeding=input_feeding,
                   pad_id=PAD, bos_id=BOS, eos_id=EOS, **sizes)


def _train(model, steps, lr=0.01):
    """Adam on the fixed pairs from :func:`_pairs`; returns the model in eval mode."""
    src, src_len, tgt_in, tgt_out, _ = _pairs()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss, n_tokens = sequence_loss(model(src, src_len, tgt_in), tgt_out, PAD)
        (loss / n_tokens).backward()
        optimizer.step()
    return model.eval()


def _half_trained(cell, attention="luong", input_feeding=False):
    """A model trained just enough to end its outputs at varied lengths."""
    return _train(_model(cell, attention, input_feeding), steps=30)


def _sources(lengths, seed=3):
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    return torch.randint(3, SRC_V, (len(lengths), int(lengths.max())), generator=gen), lengths


@pytest.mark.parametrize("cell,input_feeding", list(itertools.product(CELLS, [False, True])))
def test_beam_one_is_greedy(cell, input_feeding):
    model = _half_trained(cell, "bahdanau", input_feeding)
    src, lengths = _sources([3, 6, 1, 4, 5, 2, 6, 3])
    greedy = greedy_search(model, src, lengths)
    assert beam_search(model, src, lengths, beam_size=1, alpha=0.6) == greedy
    assert len(set(map(len, greedy))) > 1  # outputs end at different lengths


@pytest.mark.parametrize("cell", CELLS)
def test_search_is_independent_of_batch(cell):
    model = _half_trained(cell, "luong", input_feeding=True)
    src, lengths = _sources([2, 7, 5, 6])
    alone = src[:1, :2], lengths[:1]
    assert greedy_search(model, src, lengths)[0] == greedy_search(model, *alone)[0]
    batched = beam_search(model, src, lengths, beam_size=4)
    assert batched[0] == beam_search(model, *alone, beam_size=4)[0]
    assert batched[2] == beam_search(model, src[2:3, :5], lengths[2:3], beam_size=4)[0]


def test_outputs_hold_no_special_tokens():
    model = _half_trained("gru")
    src, lengths = _sources([3, 6, 1, 4])
    outputs = beam_search(model, src, lengths, beam_size=3) + greedy_search(model, src, lengths)
    for output in outputs:
        assert BOS not in output and EOS not in output


# ----- n-best lists and attention -----------------------------------------------------------


def test_nbest_scores_are_length_normalized_log_probabilities():
    # alpha = 0: [] scores log 0.4, [A] log(0.6 * 0.5) = log 0.3, [A, A] log 0.15 (at most)
    model = MarkovModel(_table([0.4, 0.6], [0.5, 0.5]))
    found = beam_search_nbest(model, *ONE_WORD, beam_size=2, n_best=2, alpha=0.0)
    assert [ids for ids, _ in found[0]] == [[], [A]]
    assert [score for _, score in found[0]] == pytest.approx([math.log(0.4), math.log(0.3)])
    # alpha = 2 ranks [A] first: log(0.3) / (7/6)**2 > log(0.4)
    found = beam_search_nbest(model, *ONE_WORD, beam_size=2, n_best=2, alpha=2.0)
    assert [ids for ids, _ in found[0]] == [[A], []]
    assert found[0][0][1] == pytest.approx(math.log(0.3) / (7 / 6) ** 2)


def test_nbest_search_goes_on_while_an_open_hypothesis_can_beat_the_nth_best():
    # tokens PAD, BOS, EOS, A, B; BOS -> EOS .5 | A .5; A -> EOS .01 | B .99; B -> EOS
    model = MarkovModel([[0.2] * 5, [0, 0, 0.5, 0.5, 0], [0.2] * 5, [0, 0, 0.01, 0, 0.99],
                         [0, 0, 1.0, 0, 0]])
    # after step 2: [] (.5) and [A] (.005) finished, [A, B] (.495) open: it cannot beat the
    # best, but it beats the second, so the search goes on and finds [A, B] (.495)
    found = beam_search_nbest(model, *ONE_WORD, beam_size=2, n_best=2, alpha=0.0)
    assert [ids for ids, _ in found[0]] == [[], [A, A + 1]]
    assert [score for _, score in found[0]] == pytest.approx([math.log(0.5), math.log(0.495)])
    assert beam_search(model, *ONE_WORD, beam_size=2, alpha=0.0) == [[]]


@pytest.mark.parametrize("cell", CELLS)
def test_nbest_is_sorted_and_its_first_is_the_beam_search_output(cell):
    model = _half_trained(cell, "bahdanau")
    src, lengths = _sources([3, 6, 1, 4, 5, 2])
    best = beam_search(model, src, lengths, beam_size=4)
    found = beam_search_nbest(model, src, lengths, beam_size=4, n_best=3)
    assert [hypotheses[0][0] for hypotheses in found] == best
    for hypotheses in found:
        scores = [score for _, score in hypotheses]
        assert len(hypotheses) == 3 and scores == sorted(scores, reverse=True)
        assert len({tuple(ids) for ids, _ in hypotheses}) == 3


def test_nbest_one_with_beam_one_is_greedy():
    model = _half_trained("gru", "bahdanau", input_feeding=True)
    src, lengths = _sources([3, 6, 1, 4, 5, 2, 6, 3])
    found = beam_search_nbest(model, src, lengths, beam_size=1, n_best=1)
    assert [hypotheses[0][0] for hypotheses in found] == greedy_search(model, src, lengths)


def test_nbest_larger_than_the_beam_is_refused():
    model = MarkovModel(_table([0.4, 0.6], [0.5, 0.5]))
    with pytest.raises(ValueError, match="1 <= n_best <= beam_size"):
        beam_search_nbest(model, *ONE_WORD, beam_size=2, n_best=3)


@pytest.mark.parametrize("attention,input_feeding", [("bahdanau", False), ("luong", True)])
def test_forced_attention_is_the_attention_of_the_search(attention, input_feeding):
    model = _half_trained("lstm", attention, input_feeding)
    src, lengths = _sources([3, 6, 1, 4])
    hypotheses = greedy_search(model, src, lengths)
    assert len(set(map(len, hypotheses))) > 1
    weights = forced_attention(model, src, lengths, hypotheses)
    for b, (hypothesis, w) in enumerate(zip(hypotheses, weights)):
        assert w.shape == (len(hypothesis), int(lengths[b]))
        torch.testing.assert_close(w.sum(1), torch.ones(len(hypothesis)))
        recorded = []
        hook = model.attention.register_forward_hook(lambda _, a, out: recorded.append(out[1]))
        try:
            assert greedy_search(model, src[b:b + 1, :lengths[b]], lengths[b:b + 1]) == [hypothesis]
        finally:
            hook.remove()
        steps = torch.cat(recorded, dim=1)[0, :len(hypothesis)]
        torch.testing.assert_close(w, steps, atol=1e-5, rtol=1e-4)


# ----- overfitting ---------------------------------------------------------------------------


def _pairs(n=10, seed=5):
    """n random (source, target) pairs of 2-5 tokens, padded; targets as BOS+y and y+EOS."""
    gen = torch.Generator().manual_seed(seed)
    src_len = torch.randint(2, 6, (n,), generator=gen)
    tgt_len = torch.randint(2, 6, (n,), generator=gen)
    src = torch.randint(3, SRC_V, (n, 5), generator=gen)
    tgt = torch.randint(3, TGT_V, (n, 5), generator=gen)
    targets = [row[:k].tolist() for row, k in zip(tgt, tgt_len)]
    tgt_in = torch.full((n, 6), PAD)
    tgt_out = torch.full((n, 6), PAD)
    for i, y in enumerate(targets):
        tgt_in[i, : len(y) + 1] = torch.tensor([BOS] + y)
        tgt_out[i, : len(y) + 1] = torch.tensor(y + [EOS])
    return src, src_len, tgt_in, tgt_out, targets


@pytest.mark.parametrize("cell,attention", list(itertools.product(CELLS, ATTENTIONS)))
def test_overfit_reproduces_targets(cell, attention):
    src, src_len, _, _, targets = _pairs()
    model = _model(cell, attention, input_feeding=attention == "luong", emb_size=16, hidden=32,
                   dec_layers=1, tie_target_embeddings=cell == "gru")
    _train(model, steps=200)
    assert greedy_search(model, src, src_len) == targets
    assert beam_search(model, src, src_len, beam_size=3) == targets
