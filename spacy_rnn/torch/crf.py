"""Linear-chain conditional random field: forward algorithm, loss, Viterbi, marginals.

Shapes: ``B`` sequences, ``T`` padded time steps, ``K`` tags.
``transitions[i, j]`` scores tag ``i`` followed by tag ``j``; ``start[j]`` and
``end[j]`` score a sequence that starts or ends with tag ``j``. Every sequence
in a batch must have at least one real position.

The time recursions are semiring products of per-step (K, K) matrices
``M_t[i, j] = transitions[i, j] + emissions[t, j]`` (log-sum-exp for the forward
algorithm, max for Viterbi), with the identity matrix on padding positions. Since
the product is associative, a long sequence is cut into blocks of ``C`` steps:
each block's product is built for all blocks at once (C vectorized steps), the
vectors at block boundaries follow (one step per block), and the recursion inside
every block then runs for all blocks at once (C steps). A sequence of ``T`` tokens
thus takes about ``4 * sqrt(T)`` vectorized steps instead of ``T`` Python-level
steps, at ``K`` times the arithmetic; :func:`block_length` decides when that pays.
"""
import math
from typing import Optional, Tuple

import torch

NEG_INF = float("-inf")
#: blocks are used while batch * K**3 (the block products' work per time step) stays
#: under this: above it the plain recursion's per-step overhead is the smaller cost
BLOCK_WORK_LIMIT = 2 ** 15
#: sequences with fewer steps run the plain recursion
MIN_BLOCKED_STEPS = 64


def block_length(batch: int, steps: int, n_tags: int) -> int:
    """Steps per block for a recursion of ``steps`` steps; ``steps`` means no blocks."""
    if steps < MIN_BLOCKED_STEPS or batch * n_tags ** 3 > BLOCK_WORK_LIMIT:
        return max(steps, 1)
    return math.ceil(math.sqrt(steps))


# -- semiring scans --------------------------------------------------------------------------

def _reduce(scores: torch.Tensor, dim: int, use_max: bool) -> torch.Tensor:
    return scores.amax(dim=dim) if use_max else torch.logsumexp(scores, dim=dim)


def _step_matrices(emissions: torch.Tensor, mask: Optional[torch.Tensor], transitions: torch.Tensor,
                   backward: bool) -> torch.Tensor:
    """Per-step matrices, shape (..., K, K), the semiring identity where ``mask`` is False.

    :param emissions: shape (..., K), the emissions of the position each step consumes
    :param mask: shape (...), bool; None: all True
    :param backward: False: ``M[i, j] = transitions[i, j] + emissions[j]`` (forward
        recursion); True: ``M[j, i] = transitions[i, j] + emissions[j]`` (backward one)
    """
    if backward:
        mats = transitions.t() + emissions.unsqueeze(-1)
    else:
        mats = transitions + emissions.unsqueeze(-2)
    if mask is None:
        return mats
    identity = torch.full_like(transitions, NEG_INF).fill_diagonal_(0.0)
    return torch.where(mask.unsqueeze(-1).unsqueeze(-1), mats, identity)


def _blocked_steps(emissions: torch.Tensor, mask: torch.Tensor, block: int):
    """Step inputs arranged by block: emissions (B, n, C, K) and mask (B, n, C).

    Step ``s`` consumes position ``s + 1``; steps past the end are padding.
    """
    batch, length, n_tags = emissions.shape
    steps = max(length - 1, 1)
    n_blocks = math.ceil(steps / block)
    pad = n_blocks * block - (length - 1)
    em = torch.cat([emissions[:, 1:], emissions.new_zeros(batch, pad, n_tags)], dim=1)
    real = torch.cat([mask[:, 1:], mask.new_zeros(batch, pad)], dim=1)
    return em.view(batch, n_blocks, block, n_tags), real.view(batch, n_blocks, block)


def _at(real: Optional[torch.Tensor], step: int, all_but_last: bool = False) -> Optional[torch.Tensor]:
    """The mask of step ``step`` of every block (of all but the last), or None for None."""
    if real is None:
        return None
    return real[:, :-1, step] if all_but_last else real[:, :, step]


def _block_starts(first: torch.Tensor, em: torch.Tensor, real: torch.Tensor,
                  transitions: torch.Tensor, use_max: bool, backward: bool) -> torch.Tensor:
    """The vector entering each block, shape (B, n, K)."""
    n_blocks, block = real.shape[1], real.shape[2]
    if n_blocks == 1:
        return first.unsqueeze(1)
    real = None if bool(real[:, :-1].all()) else real  # no identity steps to mix in
    products = _step_matrices(em[:, :-1, 0], _at(real, 0, True), transitions, backward)
    for i in range(1, block):
        mats = _step_matrices(em[:, :-1, i], _at(real, i, True), transitions, backward)
        products = _reduce(products.unsqueeze(-1) + mats.unsqueeze(-3), -2, use_max)
    starts = [first]
    for c in range(n_blocks - 1):
        starts.append(_reduce(starts[-1].unsqueeze(-1) + products[:, c], -2, use_max))
    return torch.stack(starts, dim=1)


def _scan(first: torch.Tensor, emissions: torch.Tensor, mask: torch.Tensor,
          transitions: torch.Tensor, use_max: bool, backward: bool = False,
          block: Optional[int] = None) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """All vectors of the recursion ``v_t = v_{t-1} (x) M_t``, and for ``use_max`` its
    back-pointers.

    :param first: shape (B, K), ``v_0``
    :param emissions: shape (B, T, K); step ``t`` consumes ``emissions[:, t]``
    :param mask: shape (B, T), bool; steps on False positions are the identity
    :param block: steps per block; None: :func:`block_length` chooses
    :return: vectors of shape (B, T, K) and, for ``use_max``, pointers of shape
        (B, n, C, K): for step ``i`` of block ``c`` (consuming position ``c * C + i + 1``),
        the best tag at ``c * C + i`` for each tag at ``c * C + i + 1``; else None
    """
    batch, length, n_tags = emissions.shape
    if block is None:
        block = block_length(batch, length - 1, n_tags)
    em, real = _blocked_steps(emissions, mask, block)
    vectors = _block_starts(first, em, real, transitions, use_max, backward)
    real = None if bool(real.all()) else real  # no identity steps to mix in
    outputs, pointers = [], []
    for i in range(block):
        scores = vectors.unsqueeze(-1) + _step_matrices(em[:, :, i], _at(real, i), transitions, backward)
        if use_max:
            vectors, best = scores.max(dim=-2)
            pointers.append(best)
        else:
            vectors = torch.logsumexp(scores, dim=-2)
        outputs.append(vectors)
    in_order = torch.stack(outputs, dim=2).flatten(1, 2)  # positions 1 .. n * C
    all_vectors = torch.cat([first.unsqueeze(1), in_order], dim=1)[:, :length]
    return all_vectors, torch.stack(pointers, dim=2) if use_max else None


def _backward_scan(emissions: torch.Tensor, mask: torch.Tensor, transitions: torch.Tensor,
                   end: torch.Tensor, block: Optional[int]) -> torch.Tensor:
    """Backward log-scores ``beta``, shape (B, T, K): log-sum-exp over the tags after
    position ``t`` (``end`` included, emission at ``t`` excluded).

    The backward recursion runs as a forward scan over reversed time whose step ``p``
    consumes position ``T - p``.
    """
    batch, length, n_tags = emissions.shape
    shifted_em = torch.cat([emissions.new_zeros(batch, 1, n_tags), emissions.flip(1)[:, :-1]], dim=1)
    shifted_mask = torch.cat([mask.new_zeros(batch, 1), mask.flip(1)[:, :-1]], dim=1)
    first = end.unsqueeze(0).expand(batch, n_tags)
    betas, _ = _scan(first, shifted_em, shifted_mask, transitions, use_max=False, backward=True,
                     block=block)
    return betas.flip(1)


def _forward_scan(emissions: torch.Tensor, mask: torch.Tensor, transitions: torch.Tensor,
                  start: torch.Tensor, block: Optional[int]) -> torch.Tensor:
    """Forward log-scores ``alpha``, shape (B, T, K), emission at ``t`` included."""
    first = start.unsqueeze(0) + emissions[:, 0]
    alphas, _ = _scan(first, emissions, mask, transitions, use_max=False, block=block)
    return alphas


# -- forward algorithm, loss, marginals ---------------------------------------------------------

def log_partition(emissions: torch.Tensor, mask: torch.Tensor, transitions: torch.Tensor,
                  start: torch.Tensor, end: torch.Tensor, block: Optional[int] = None) -> torch.Tensor:
    """Log of the sum of exp(score) over all tag paths; differentiable (its gradient
    comes from the forward-backward algorithm).

    :param emissions: shape (B, T, K)
    :param mask: shape (B, T), bool, True on real positions (a prefix of each row)
    :param transitions: shape (K, K)
    :param start: shape (K,)
    :param end: shape (K,)
    :param block: steps per block of the recursion; None: :func:`block_length` chooses
    :return: shape (B,)
    """
    return _LogPartition.apply(emissions, mask, transitions, start, end, block)


class _LogPartition(torch.autograd.Function):
    """log Z with the gradients of forward-backward: the tag marginals for the emissions,
    start and end tags, and the expected transition counts for the transitions."""

    @staticmethod
    def forward(ctx, emissions, mask, transitions, start, end, block):
        alphas = _forward_scan(emissions, mask, transitions, start, block)
        log_z = torch.logsumexp(alphas[:, -1] + end, dim=1)
        ctx.block = block
        ctx.save_for_backward(emissions, mask, transitions, end, alphas, log_z)
        return log_z

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_log_z):
        emissions, mask, transitions, end, alphas, log_z = ctx.saved_tensors
        betas = _backward_scan(emissions, mask, transitions, end, ctx.block)
        weight = d_log_z.view(-1, 1, 1)
        unary = _unary_marginals(alphas, betas, log_z, mask) * weight
        d_end = (torch.exp(alphas[:, -1] + end - log_z.unsqueeze(1)) * weight[:, 0]).sum(0)
        d_transitions = None
        if ctx.needs_input_grad[2]:
            d_transitions = _expected_transitions(alphas, betas, emissions, mask, transitions, log_z, weight)
        return unary, None, d_transitions, unary[:, 0].sum(0), d_end, None


def _unary_marginals(alphas: torch.Tensor, betas: torch.Tensor, log_z: torch.Tensor,
                     mask: torch.Tensor) -> torch.Tensor:
    """p(tag at t = k), shape (B, T, K), 0 on padding (alphas, betas: (B, T, K); log_z: (B,))."""
    probs = torch.exp(alphas + betas - log_z.view(-1, 1, 1))
    return probs.masked_fill(~mask.unsqueeze(2), 0.0)


def _expected_transitions(alphas, betas, emissions, mask, transitions, log_z, weight) -> torch.Tensor:
    """Sum over sequences (weighted, ``weight``: (B, 1, 1)) and real positions t >= 1 of
    p(tag t-1 = i, tag t = j), shape (K, K); computed over slices of time to bound memory."""
    batch, length, n_tags = emissions.shape
    total = torch.zeros_like(transitions)
    rows = max(1, 2 ** 22 // max(batch * n_tags * n_tags, 1))
    for t0 in range(1, length, rows):
        t1 = min(length, t0 + rows)
        after = (emissions[:, t0:t1] + betas[:, t0:t1]).unsqueeze(2)  # (B, t, 1, K)
        scores = alphas[:, t0 - 1:t1 - 1].unsqueeze(3) + transitions + after - log_z.view(-1, 1, 1, 1)
        keep = mask[:, t0:t1].unsqueeze(2).unsqueeze(3) * weight.unsqueeze(3)
        total += (torch.exp(scores) * keep).sum(dim=(0, 1))
    return total


def marginals(emissions: torch.Tensor, mask: torch.Tensor, transitions: torch.Tensor,
              start: torch.Tensor, end: torch.Tensor, block: Optional[int] = None) -> torch.Tensor:
    """Posterior probability of each tag at each position (forward-backward).

    Each real position's row sums to 1; padding rows hold 0. Tags excluded by -inf
    ``transitions``/``start``/``end`` entries get probability 0.

    :param emissions: shape (B, T, K)
    :param mask: shape (B, T), bool
    :return: shape (B, T, K)
    """
    with torch.no_grad():
        alphas = _forward_scan(emissions, mask, transitions, start, block)
        log_z = torch.logsumexp(alphas[:, -1] + end, dim=1)
        betas = _backward_scan(emissions, mask, transitions, end, block)
        probs = _unary_marginals(alphas, betas, log_z, mask)
        # rows sum to 1 up to rounding that grows with T; divide it out
        return probs / probs.sum(dim=2, keepdim=True).clamp(min=torch.finfo(probs.dtype).tiny)


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


# -- Viterbi ------------------------------------------------------------------------------------

def viterbi_decode(emissions: torch.Tensor, mask: torch.Tensor, transitions: torch.Tensor,
                   start: torch.Tensor, end: torch.Tensor, block: Optional[int] = None) -> torch.Tensor:
    """Best tag path per sequence, shape (B, T); padding positions hold 0.

    Disallowed transitions can be passed as -inf entries of ``transitions``,
    ``start`` or ``end``; they are never chosen while any allowed path exists.

    :param emissions: shape (B, T, K)
    :param mask: shape (B, T), bool, True on real positions (a prefix of each row)
    :param block: steps per block of the recursion; None: :func:`block_length` chooses
    """
    first = start.unsqueeze(0) + emissions[:, 0]
    vectors, pointers = _scan(first, emissions, mask, transitions, use_max=True, block=block)
    # padding steps are the identity, so the last vector is each sequence's last real one
    final = (vectors[:, -1] + end.unsqueeze(0)).argmax(dim=1)
    paths = _backtrack(final, pointers)[:, : emissions.shape[1]]
    return paths.masked_fill(~mask, 0)


def _backtrack(final: torch.Tensor, pointers: torch.Tensor) -> torch.Tensor:
    """Tags at positions 0 .. n * C, shape (B, n * C + 1), from the tag at the last one.

    :param final: shape (B,), the tag at position n * C
    :param pointers: shape (B, n, C, K), as returned by :func:`_scan`
    """
    batch, n_blocks, block, n_tags = pointers.shape
    # every block at once, for every tag it may end with: the tags at its positions
    current = torch.arange(n_tags, device=pointers.device).expand(batch, n_blocks, n_tags)
    walked = []
    for i in range(block - 1, -1, -1):
        current = pointers[:, :, i].gather(2, current)
        walked.append(current)
    tags = torch.stack(walked[::-1], dim=2)  # (B, n, C, K): tag at c * C + i given block c's end tag
    ends = [final]
    for c in range(n_blocks - 1, 0, -1):
        ends.append(tags[:, c, 0].gather(1, ends[-1].unsqueeze(1)).squeeze(1))
    block_ends = torch.stack(ends[::-1], dim=1)  # (B, n): the tag at (c + 1) * C
    index = block_ends.view(batch, n_blocks, 1, 1).expand(batch, n_blocks, block, 1)
    path = tags.gather(3, index).squeeze(3).flatten(1)
    return torch.cat([path, final.unsqueeze(1)], dim=1)
