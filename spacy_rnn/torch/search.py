"""Batched greedy decoding and vectorized beam search.

Shapes: ``B`` sentences, ``K`` beam size, ``V`` target vocabulary, ``t`` the
number of tokens produced so far.

Both work with any ``model`` that has ``encode(src, src_lengths) -> encoded``,
``decode_step(prev_tokens, state, encoded) -> (logits, state)``, ``bos_id``,
``eos_id`` and ``pad_id``, where ``encoded`` and ``state`` have
``select(index)`` (see :mod:`spacy_rnn.torch.seq2seq`). Put the model in eval
mode first: the search runs it as it is, under ``torch.no_grad``.

Sentence ``b`` may produce at most ``max_len[b] = int(max_len_ratio * src_len[b] +
max_len_const)`` tokens (EOS included); a hypothesis still open at that length
ends there. Outputs are token id lists without BOS and EOS.

Beam search keeps the ``K`` best of all extensions of the open hypotheses, by
total log-probability. Extensions that end with EOS leave the beam (so the beam
shrinks, and beam size 1 is exactly greedy decoding); each finished hypothesis
is scored with the GNMT length penalty ``log P(Y) / lp(Y)``,
``lp(Y) = ((5 + |Y|) / 6) ** alpha`` (``|Y|`` counts EOS), and the best one is
kept until a strictly better one finishes. A sentence stops when no open
hypothesis is left, when none can still beat its best finished one, or at its
maximum length. :func:`beam_search_nbest` keeps the ``N`` best finished
hypotheses with their scores instead (and stops a sentence when none can beat
the N-th), and :func:`forced_attention` gives the attention weights of chosen
hypotheses.
"""
from typing import List, Tuple

import torch
import torch.nn.functional as F

NEG_INF = float("-inf")


def length_penalty(length, alpha: float):
    """GNMT length penalty ``((5 + length) / 6) ** alpha``.

    :param length: an int, or a tensor of any shape (the result has that shape)
    """
    if isinstance(length, torch.Tensor):
        length = length.float()
    return ((5.0 + length) / 6.0) ** alpha


def max_lengths(src_lengths: torch.Tensor, ratio: float, const: int) -> torch.Tensor:
    """Per-sentence output limit (B,), at least 1. :param src_lengths: shape (B,)."""
    return (src_lengths.float() * ratio + const).long().clamp(min=1)


def _trim(tokens: torch.Tensor, lengths: torch.Tensor) -> List[List[int]]:
    """Rows of (B, T) ids cut at their lengths (B,), as lists."""
    return [row[:n] for row, n in zip(tokens.tolist(), lengths.tolist())]


def _log_probs(model, prev: torch.Tensor, state, encoded):
    """One step of the model as float log-probabilities (N, V) and the next state."""
    logits, state = model.decode_step(prev, state, encoded)
    return torch.log_softmax(logits.float(), dim=-1), state


# ----- greedy ------------------------------------------------------------------------------

@torch.no_grad()
def greedy_search(model, src: torch.Tensor, src_lengths: torch.Tensor, *,
                  max_len_ratio: float = 2.0, max_len_const: int = 10) -> List[List[int]]:
    """Pick the most probable token at each step, for a whole batch at once.

    :param src: shape (B, S), int64
    :param src_lengths: shape (B,), int64
    :return: B token id lists, without BOS and EOS
    """
    if src.shape[0] == 0:
        return []
    encoded = model.encode(src, src_lengths)
    limit = max_lengths(src_lengths, max_len_ratio, max_len_const).to(src.device)
    prev = torch.full_like(src_lengths, model.bos_id, device=src.device)
    out_len = torch.zeros_like(limit)
    open_ = torch.ones_like(limit, dtype=torch.bool)
    state, steps = encoded.state, []
    for t in range(int(limit.max())):
        log_probs, state = _log_probs(model, prev, state, encoded)
        prev = log_probs.argmax(dim=-1)
        steps.append(prev)
        out_len += (open_ & (prev != model.eos_id)).long()
        open_ &= (prev != model.eos_id) & (t + 1 < limit)
        if not bool(open_.any()):
            break
    return _trim(torch.stack(steps, dim=1), out_len)


# ----- beam search -------------------------------------------------------------------------

class _Finished:
    """The ``N`` best finished hypotheses per sentence, best first, kept as tensors.

    :attr score: shape (B, N), length-normalized scores, -inf in unused slots
    :attr tokens: shape (B, N, T_max), ids of the hypotheses (EOS excluded)
    :attr length: shape (B, N)
    """

    def __init__(self, batch: int, n_best: int, max_len: int, device: torch.device):
        self.score = torch.full((batch, n_best), NEG_INF, device=device)
        self.tokens = torch.zeros((batch, n_best, max_len), dtype=torch.long, device=device)
        self.length = torch.zeros((batch, n_best), dtype=torch.long, device=device)

    def offer(self, scores: torch.Tensor, history: torch.Tensor, length: int) -> None:
        """Keep, per sentence, the N best of the kept and the K candidates; among equal
        scores the kept ones first, then the candidates in slot order (so with N = 1 a
        candidate replaces the kept one only when strictly better).

        :param scores: shape (B, K), normalized, -inf for no candidate
        :param history: shape (B, K, t), candidate ids (EOS excluded)
        :param length: t, the number of ids of every candidate
        """
        n_best, max_len = self.tokens.shape[1:]
        rows = F.pad(history[..., :length], (0, max_len - length))
        all_scores = torch.cat([self.score, scores], dim=1)
        order = torch.sort(all_scores, dim=1, descending=True, stable=True).indices[:, :n_best]
        self.score = all_scores.gather(1, order)
        self.tokens = torch.cat([self.tokens, rows], dim=1).gather(
            1, order.unsqueeze(-1).expand(-1, -1, max_len))
        self.length = torch.cat([self.length, torch.full_like(scores, length, dtype=torch.long)],
                                dim=1).gather(1, order)

    def hypotheses(self) -> List[List[Tuple[List[int], float]]]:
        """Per sentence, the (ids, score) of its finished hypotheses, best first."""
        out = []
        for tokens, lengths, scores in zip(self.tokens.tolist(), self.length.tolist(),
                                           self.score.tolist()):
            out.append([(row[:n], score) for row, n, score in zip(tokens, lengths, scores)
                        if score > NEG_INF])
        return out


def _expand(scores: torch.Tensor, log_probs: torch.Tensor, beam: int):
    """Top-K extensions of the open hypotheses of every sentence.

    :param scores: shape (B, K), total log-probability, -inf for closed slots
    :param log_probs: shape (B * K, V)
    :return: new scores (B, K), the slot each extends (B, K), the token added (B, K)
    """
    vocab = log_probs.shape[-1]
    total = scores.unsqueeze(-1) + log_probs.view(scores.shape[0], beam, vocab)
    top_scores, top_index = total.view(scores.shape[0], -1).topk(beam, dim=1)
    return top_scores, torch.div(top_index, vocab, rounding_mode="floor"), top_index % vocab


def _reorder(history: torch.Tensor, origin: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Follow back-pointers and append the new tokens.

    :param history: shape (B, K, t)
    :param origin: shape (B, K), slot each new hypothesis extends
    :param tokens: shape (B, K), the token each adds
    :return: shape (B, K, t + 1)
    """
    index = origin.unsqueeze(-1).expand(-1, -1, history.shape[-1])
    return torch.cat([history.gather(1, index), tokens.unsqueeze(-1)], dim=-1)


def _flat_index(origin: torch.Tensor) -> torch.Tensor:
    """(B, K) slot numbers -> (B * K,) row numbers in the flat (B * K, ...) layout."""
    batch, beam = origin.shape
    return (origin + beam * torch.arange(batch, device=origin.device).unsqueeze(1)).view(-1)


def _close_sentences(scores: torch.Tensor, finished: _Finished, limit: torch.Tensor,
                     alpha: float) -> torch.Tensor:
    """Open-hypothesis scores with sentences that are done set to -inf.

    A sentence is done when it has no open hypothesis, or when even its best
    open one cannot beat the worst of its N kept finished ones (-inf while fewer than N
    finished): log-probabilities only fall,
    and with ``alpha >= 0`` ``lp`` is largest at the maximum length, so
    ``score / lp(max_len)`` bounds every completion.

    :param scores: shape (B, K), -inf on closed slots
    :param limit: shape (B,), maximum lengths
    """
    bound = scores.max(dim=1).values / length_penalty(limit, alpha)
    done = bound <= finished.score[:, -1]
    return scores.masked_fill(done.unsqueeze(1), NEG_INF)


class _Beam:
    """The fixed parts of one beam search: model, sizes and limits.

    :param encoded: encoder output repeated to B * K rows
    :param limit: shape (B,), maximum output lengths
    """

    def __init__(self, model, beam: int, n_best: int, alpha: float, encoded, limit: torch.Tensor):
        self.model, self.beam, self.alpha = model, beam, alpha
        self.encoded, self.limit = encoded, limit
        self.finished = _Finished(limit.shape[0], n_best, int(limit.max()), limit.device)

    def run(self, scores: torch.Tensor, prev: torch.Tensor) -> List[List[Tuple[List[int], float]]]:
        """Step until every sentence is done.

        :param scores: shape (B, K), 0 for slot 0 and -inf for the others
        :param prev: shape (B * K,), BOS
        """
        history = scores.new_zeros(scores.shape + (0,), dtype=torch.long)
        state = self.encoded.state
        while bool((scores > NEG_INF).any()):
            scores, history, prev, state = self.step(scores, history, prev, state)
        return self.finished.hypotheses()

    def step(self, scores: torch.Tensor, history: torch.Tensor, prev: torch.Tensor, state):
        """Extend every open hypothesis by one token.

        :param scores: shape (B, K); :param history: shape (B, K, t); :param prev: shape (B * K,)
        :return: scores (B, K), history (B, K, t + 1), prev (B * K,), state
        """
        log_probs, state = _log_probs(self.model, prev, state, self.encoded)
        scores, origin, tokens = _expand(scores, log_probs, self.beam)
        history = _reorder(history, origin, tokens)
        scores = self._finish(scores, tokens, history)
        state = state.select(_flat_index(origin))
        scores = _close_sentences(scores, self.finished, self.limit, self.alpha)
        return scores, history, tokens.view(-1), state

    def _finish(self, scores: torch.Tensor, tokens: torch.Tensor,
                history: torch.Tensor) -> torch.Tensor:
        """Offer hypotheses that end here (EOS, or maximum length) to the finished
        set and close their slots.

        :param scores: shape (B, K); :param tokens: shape (B, K); :param history: shape (B, K, t)
        :return: scores (B, K) with closed slots at -inf
        """
        step = history.shape[-1]
        penalty = length_penalty(step, self.alpha)
        ended = (tokens == self.model.eos_id) & (scores > NEG_INF)
        self.finished.offer(torch.where(ended, scores, NEG_INF) / penalty,
                            history[..., :-1], step - 1)
        scores = scores.masked_fill(ended, NEG_INF)
        at_limit = (step >= self.limit).unsqueeze(1) & (scores > NEG_INF)
        self.finished.offer(torch.where(at_limit, scores, NEG_INF) / penalty, history, step)
        return scores.masked_fill(at_limit, NEG_INF)


def beam_search(model, src: torch.Tensor, src_lengths: torch.Tensor, *, beam_size: int = 5,
                alpha: float = 0.6, max_len_ratio: float = 2.0,
                max_len_const: int = 10) -> List[List[int]]:
    """Batched beam search with the GNMT length penalty.

    :param src: shape (B, S), int64
    :param src_lengths: shape (B,), int64
    :param beam_size: K >= 1; 1 gives exactly :func:`greedy_search`'s output
    :param alpha: length-penalty exponent >= 0 (0: no penalty)
    :return: B token id lists, the best finished hypothesis of each, without BOS and EOS
    """
    found = beam_search_nbest(model, src, src_lengths, beam_size=beam_size, n_best=1,
                              alpha=alpha, max_len_ratio=max_len_ratio,
                              max_len_const=max_len_const)
    return [hypotheses[0][0] for hypotheses in found]


@torch.no_grad()
def beam_search_nbest(model, src: torch.Tensor, src_lengths: torch.Tensor, *,
                      beam_size: int = 5, n_best: int = 1, alpha: float = 0.6,
                      max_len_ratio: float = 2.0,
                      max_len_const: int = 10) -> List[List[Tuple[List[int], float]]]:
    """Batched beam search that keeps the ``n_best`` best finished hypotheses of each sentence.

    :param src: shape (B, S), int64
    :param src_lengths: shape (B,), int64
    :param beam_size: K >= 1
    :param n_best: N, 1 <= N <= K; N = 1 finds exactly :func:`beam_search`'s hypotheses
    :param alpha: length-penalty exponent >= 0 (0: no penalty)
    :return: per sentence, up to N (ids without BOS and EOS, score) pairs, best first; the
        score is the length-normalized log-probability ``log P(Y) / lp(Y)``
    """
    if beam_size < 1 or alpha < 0 or not 1 <= n_best <= beam_size:
        raise ValueError(f"beam_size must be >= 1, alpha >= 0 and 1 <= n_best <= beam_size, "
                         f"got beam_size {beam_size}, alpha {alpha}, n_best {n_best}")
    if src.shape[0] == 0:
        return []
    encoded, scores, prev = _start(model, src, src_lengths, beam_size)
    limit = max_lengths(src_lengths, max_len_ratio, max_len_const).to(src.device)
    return _Beam(model, beam_size, n_best, alpha, encoded, limit).run(scores, prev)


def _start(model, src: torch.Tensor, src_lengths: torch.Tensor, beam: int) -> Tuple:
    """Encode once, repeat each sentence K times, open only slot 0 of each.

    :return: encoded (B * K rows), scores (B, K), first input tokens (B * K,)
    """
    batch = src.shape[0]
    encoded = model.encode(src, src_lengths)
    encoded = encoded.select(torch.arange(batch, device=src.device).repeat_interleave(beam))
    scores = torch.full((batch, beam), NEG_INF, device=src.device)
    scores[:, 0] = 0.0
    prev = torch.full((batch * beam,), model.bos_id, dtype=torch.long, device=src.device)
    return encoded, scores, prev


# ----- attention of found hypotheses ----------------------------------------------------------

@torch.no_grad()
def forced_attention(model, src: torch.Tensor, src_lengths: torch.Tensor,
                     hypotheses: List[List[int]]) -> List[torch.Tensor]:
    """The attention weights of ``model`` over the source while it reads each hypothesis
    (teacher forcing: BOS and the hypothesis as the decoder's inputs), one extra decoder pass
    run only for this. ``model`` also needs an ``attention`` module that returns ``(context,
    weights)``; its forward hook records the weights.

    :param src: shape (B, S), int64
    :param src_lengths: shape (B,), int64
    :param hypotheses: B token id lists without BOS and EOS
    :return: B float tensors of shape (len(hypothesis), src_length): row t holds the weights
        at the step that produced hypothesis[t] (rows sum to 1 with attention, 0 without)
    """
    steps = max((len(h) for h in hypotheses), default=0)
    inputs = torch.full((len(hypotheses), max(steps, 1)), model.eos_id, dtype=torch.long,
                        device=src.device)
    inputs[:, 0] = model.bos_id
    for b, hypothesis in enumerate(hypotheses):
        inputs[b, 1:len(hypothesis)] = torch.tensor(hypothesis[:-1], dtype=torch.long)
    weights = _recorded_weights(model, src, src_lengths, inputs[:, :steps])
    lengths = src_lengths.tolist()
    return [weights[b, :len(h), :lengths[b]].float().cpu() for b, h in enumerate(hypotheses)]


def _recorded_weights(model, src: torch.Tensor, src_lengths: torch.Tensor,
                      inputs: torch.Tensor) -> torch.Tensor:
    """Attention weights (B, T, S) of T decoder steps on the given inputs (B, T)."""
    if inputs.shape[1] == 0:
        return torch.zeros((src.shape[0], 0, src.shape[1]))
    recorded = []
    hook = model.attention.register_forward_hook(lambda _, args, out: recorded.append(out[1]))
    try:
        encoded = model.encode(src, src_lengths)
        state = encoded.state
        for t in range(inputs.shape[1]):
            _, state = model.decode_step(inputs[:, t], state, encoded)
    finally:
        hook.remove()
    return torch.cat(recorded, dim=1)
