"""Masked attention over an encoder memory: none, Bahdanau (additive), Luong (general).

Shapes: ``B`` sentences, ``T`` decoder steps (queries), ``S`` padded source
positions, ``Q`` query width, ``K`` memory (key/value) width.

Every module splits its work in two: :meth:`Attention.project_keys` runs once
per source batch (and is reused by every decoding step), :meth:`Attention.forward`
scores all ``T`` queries against the projected keys at once. Padding positions
are set to ``-inf`` before the softmax, so their weights are exactly zero.

On CPU in float32, Bahdanau attention's scores run in C (:func:`.native.additive_scores`)
where the C library could be built: same scores within float rounding, without the
(B, T, S, A) tensors PyTorch would build (several times faster, and O(B * T * S) memory).
Their backward pass is not itself differentiable (no gradients of gradients through the
scores, e.g. for a gradient penalty: set SPACY_RNN_BACKEND=torch for that).
"""
from typing import Optional, Tuple

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from . import backend, native


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over source positions that gives padding exactly zero weight.

    :param scores: shape (B, T, S)
    :param mask: shape (B, S), bool, True on real positions (at least one per row)
    :return: shape (B, T, S)
    """
    scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
    return torch.softmax(scores.float(), dim=-1).to(scores.dtype)


class Attention(nn.Module):
    """Base class: subclasses define :meth:`project_keys` and :meth:`score`.

    :attr context_size: width of the context vector this module returns
    """

    context_size: int

    def project_keys(self, memory: torch.Tensor) -> Optional[torch.Tensor]:
        """Precompute the keys once per batch.

        :param memory: shape (B, S, K)
        :return: shape (B, S, A), module-specific width A
        """
        raise NotImplementedError

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Unnormalized scores.

        :param query: shape (B, T, Q)
        :param keys: shape (B, S, A), from :meth:`project_keys`
        :return: shape (B, T, S)
        """
        raise NotImplementedError

    def forward(self, query: torch.Tensor, keys: Optional[torch.Tensor], memory: torch.Tensor,
                mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Attend from every query to the memory.

        :param query: shape (B, T, Q)
        :param keys: shape (B, S, A), from :meth:`project_keys`
        :param memory: shape (B, S, K), the values
        :param mask: shape (B, S), bool, True on real source positions
        :return: context of shape (B, T, K) and weights of shape (B, T, S)
        """
        weights = masked_softmax(self._masked_scores(query, keys, mask), mask)
        return torch.bmm(weights, memory), weights

    def _masked_scores(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """:meth:`score`, for modules whose scores can use the mask (e.g. to skip padding)."""
        return self.score(query, keys)


class NoAttention(Attention):
    """No attention: an empty context (width 0) and all-zero weights."""

    context_size = 0

    def project_keys(self, memory: torch.Tensor) -> None:
        return None

    def forward(self, query, keys, memory, mask):
        batch, steps = query.shape[:2]
        context = memory.new_zeros((batch, steps, 0))
        return context, memory.new_zeros((batch, steps, memory.shape[1]))


class BahdanauAttention(Attention):
    """Additive attention: ``v . tanh(W_q q + W_k m)`` with an MLP of width ``hidden``.

    In PyTorch (:meth:`score`; GPU, other dtypes, no C library) memory for all queries at once
    is O(B * T * S * hidden); the C scores (:class:`AdditiveScores`) need O(B * T * S).
    """

    def __init__(self, query_size: int, key_size: int, hidden: int):
        super().__init__()
        self.context_size = key_size
        self.key_proj = nn.Linear(key_size, hidden, bias=False)
        self.query_proj = nn.Linear(query_size, hidden)
        self.v = nn.Linear(hidden, 1, bias=False)
        self.v.keep_float = True  # a dot product: int8 would gain nothing and lose the C scores

    def project_keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key_proj(memory)

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """The scores in PyTorch (the C scores' reference)."""
        return self._tanh_scores(self.query_proj(query), keys)

    def _tanh_scores(self, projected: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return self.v(torch.tanh(projected.unsqueeze(2) + keys.unsqueeze(1))).squeeze(-1)

    def _masked_scores(self, query, keys, mask):
        projected = self.query_proj(query)
        if _c_scores(projected, keys, self.v):
            return AdditiveScores.apply(projected, keys, self.v.weight.view(-1), mask)
        return self._tanh_scores(projected, keys)


def _c_scores(projected: torch.Tensor, keys: torch.Tensor, v: nn.Module) -> bool:
    """Whether the C scores run: a float ``v`` layer (not an int8 copy), and
    :func:`.backend.c_attention`'s rules."""
    return type(v) is nn.Linear and backend.c_attention(projected, keys, v.weight)


class AdditiveScores(torch.autograd.Function):
    """``v . tanh(q + k)`` scores (B, T, S) from q (B, T, A), keys (B, S, A), v (A,), -inf where
    the (B, S) mask is False, in C with a hand-written backward pass (not itself
    differentiable)."""

    @staticmethod
    def forward(ctx, q, keys, v, mask):
        ctx.save_for_backward(q, keys, v, mask)
        return native.additive_scores(q, keys, v, mask)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        q, keys, v, mask = ctx.saved_tensors
        return (*native.additive_scores_backward(grad, q, keys, v, mask), None)


class LuongAttention(Attention):
    """Luong "general" (bilinear) attention: ``q^T W m``."""

    def __init__(self, query_size: int, key_size: int):
        super().__init__()
        self.context_size = key_size
        self.key_proj = nn.Linear(key_size, query_size, bias=False)

    def project_keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key_proj(memory)

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return torch.bmm(query, keys.transpose(1, 2))


ATTENTIONS = ("bahdanau", "luong", "none")


def make_attention(kind: str, query_size: int, key_size: int, hidden: int) -> Attention:
    """Build an attention module by name.

    :param kind: "none", "bahdanau" or "luong"
    :param query_size: decoder state width Q
    :param key_size: encoder memory width K
    :param hidden: MLP width of Bahdanau attention (unused by the others)
    """
    if kind == "none":
        return NoAttention()
    if kind == "bahdanau":
        return BahdanauAttention(query_size, key_size, hidden)
    if kind == "luong":
        return LuongAttention(query_size, key_size)
    raise ValueError(f"Unknown attention {kind!r}: use one of {list(ATTENTIONS)}")
