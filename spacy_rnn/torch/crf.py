"""Linear-chain conditional random field: forward algorithm, loss, Viterbi.

Shapes: ``B`` sequences, ``T`` padded time steps, ``K`` tags.
``transitions[i, j]`` scores tag ``i`` followed by tag ``j``; ``start[j]`` and
``end[j]`` score a sequence that starts or ends with tag ``j``. Every sequence
in a batch must have at least one real position.
"""
from typing import Optional

import torch
from torch import nn

NEG_INF = float("-inf")


def log_partition(emissions: torch.Tensor, mask: torch.Tensor, transitions: torch.Tensor,
                  start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """Log of the sum of exp(score) over all tag paths.

    :param emissions: shape (B, T, K)
    :param mask: shape (B, T), bool, True on real positions (a prefix of each row)
    :param transitions: shape (K, K)
    :param start: shape (K,)
    :param end: shape (K,)
    :return: shape (B,)
    """
    alpha = start.unsqueeze(0) + emissions[:, 0]
    for t in range(1, emissions.shape[1]):
        scores = alpha.unsqueeze(2) + transitions.unsqueeze(0)
        step = torch.logsumexp(scores, dim=1) + emissions[:, t]
        alpha = torch.where(mask[:, t].unsqueeze(1), step, alpha)
    return torch.logsumexp(alpha + end.unsqueeze(0), dim=1)


def restrict_to_gold(emissions: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
    """Emissions with every tag but the gold one set to -inf.

    Positions whose tag is negative (annotation missing) keep all tags, so the
    loss marginalizes over them instead of learning a label for them.

    :param emissions: shape (B, T, K)
    :param tags: shape (B, T), int64, -1 where unknown
    """
    known = tags >= 0
    onehot = torch.zeros_like(emissions, dtype=torch.bool)
    onehot.scatter_(2, tags.clamp(min=0).unsqueeze(2), True)
    allowed = onehot | ~known.unsqueeze(2)
    return emissions.masked_fill(~allowed, NEG_INF)


def negative_log_likelihood(emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor,
                            transitions: torch.Tensor, start: torch.Tensor,
                            end: torch.Tensor) -> torch.Tensor:
    """-log p(gold tags | emissions) per sequence, shape (B,).

    :param tags: shape (B, T), int64; -1 marks tokens without annotation
    """
    log_z = log_partition(emissions, mask, transitions, start, end)
    gold = log_partition(restrict_to_gold(emissions, tags), mask, transitions, start, end)
    return log_z - gold


def viterbi_decode(emissions: torch.Tensor, mask: torch.Tensor, transitions: torch.Tensor,
                   start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """Best tag path per sequence, shape (B, T); padding positions hold 0.

    Disallowed transitions can be passed as -inf entries of ``transitions``,
    ``start`` or ``end``; they are never chosen while any allowed path exists.
    """
    batch, length, _ = emissions.shape
    score = start.unsqueeze(0) + emissions[:, 0]
    history = []
    for t in range(1, length):
        best, best_prev = (score.unsqueeze(2) + transitions.unsqueeze(0)).max(dim=1)
        step = best + emissions[:, t]
        keep = mask[:, t].unsqueeze(1)
        score = torch.where(keep, step, score)
        history.append(torch.where(keep, best_prev, _identity_pointers(best_prev)))
    return _backtrack(score + end.unsqueeze(0), history, mask)


def _identity_pointers(pointers: torch.Tensor) -> torch.Tensor:
    """Back-pointers that keep each tag (used to step through padding)."""
    return torch.arange(pointers.shape[1], device=pointers.device).expand_as(pointers)


def _backtrack(final: torch.Tensor, history: list, mask: torch.Tensor) -> torch.Tensor:
    """Follow back-pointers from the best final tag."""
    batch, length = mask.shape
    paths = torch.zeros((batch, length), dtype=torch.long, device=final.device)
    current = final.argmax(dim=1)
    paths[:, length - 1] = current
    for t in range(length - 2, -1, -1):
        current = history[t].gather(1, current.unsqueeze(1)).squeeze(1)
        paths[:, t] = current
    return paths.masked_fill(~mask, 0)


class CRF(nn.Module):
    """The CRF functions above with their parameters, for plain PyTorch users."""

    def __init__(self, n_tags: int):
        super().__init__()
        self.transitions = nn.Parameter(torch.zeros(n_tags, n_tags))
        self.start = nn.Parameter(torch.zeros(n_tags))
        self.end = nn.Parameter(torch.zeros(n_tags))

    def forward(self, emissions: torch.Tensor, tags: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Negative log-likelihood per sequence, shape (B,)."""
        mask = _full_mask(emissions) if mask is None else mask
        return negative_log_likelihood(emissions, tags, mask, self.transitions, self.start, self.end)

    def decode(self, emissions: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Viterbi paths, shape (B, T)."""
        mask = _full_mask(emissions) if mask is None else mask
        return viterbi_decode(emissions, mask, self.transitions, self.start, self.end)


def _full_mask(emissions: torch.Tensor) -> torch.Tensor:
    return torch.ones(emissions.shape[:2], dtype=torch.bool, device=emissions.device)
