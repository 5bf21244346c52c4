import itertools

import pytest
import torch

from spacy_rnn.torch.crf import block_length, log_partition, marginals, negative_log_likelihood, viterbi_decode


def _score(em, tags, trans, start, end):
    s = start[tags[0]] + end[tags[-1]] + sum(em[t, tag] for t, tag in enumerate(tags))
    return s + sum(trans[a, b] for a, b in zip(tags, tags[1:]))


def _random_lattice(T=4, K=3, seed=0):
    torch.manual_seed(seed)
    return (torch.randn(1, T, K), torch.randn(K, K), torch.randn(K), torch.randn(K))


def test_viterbi_hand_computed():
    # Two tags; emissions favour tag 0 then 1, but 0 -> 1 is heavily penalized.
    em = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [0.0, 0.5]]])
    trans = torch.tensor([[0.0, -5.0], [0.0, 0.0]])
    zeros = torch.zeros(2)
    mask = torch.ones(1, 3, dtype=torch.bool)
    # paths: 000 -> 2; 011 -> 2-5+1+.5=-1.5; 111 -> 1.5; 100 -> 0+0+1... compute: em 0+0+0=0 -> 0
    assert viterbi_decode(em, mask, trans, zeros, zeros).tolist() == [[0, 0, 0]]
    trans_free = torch.zeros(2, 2)
    assert viterbi_decode(em, mask, trans_free, zeros, zeros).tolist() == [[0, 1, 1]]


def test_viterbi_matches_brute_force():
    em, trans, start, end = _random_lattice(T=5, K=3, seed=1)
    mask = torch.ones(1, 5, dtype=torch.bool)
    best = max(itertools.product(range(3), repeat=5),
               key=lambda p: float(_score(em[0], p, trans, start, end)))
    assert viterbi_decode(em, mask, trans, start, end)[0].tolist() == list(best)


def test_partition_and_loss_match_brute_force():
    em, trans, start, end = _random_lattice()
    mask = torch.ones(1, 4, dtype=torch.bool)
    scores = torch.stack([_score(em[0], p, trans, start, end)
                          for p in itertools.product(range(3), repeat=4)])
    torch.testing.assert_close(log_partition(em, mask, trans, start, end)[0],
                               torch.logsumexp(scores, 0))
    gold = torch.tensor([[2, 0, 1, 1]])
    expected = torch.logsumexp(scores, 0) - _score(em[0], [2, 0, 1, 1], trans, start, end)
    torch.testing.assert_close(negative_log_likelihood(em, gold, mask, trans, start, end)[0], expected)


def test_missing_tags_are_marginalized():
    em, trans, start, end = _random_lattice()
    mask = torch.ones(1, 4, dtype=torch.bool)
    all_paths = list(itertools.product(range(3), repeat=4))
    log_z = torch.logsumexp(torch.stack([_score(em[0], p, trans, start, end) for p in all_paths]), 0)
    consistent = [p for p in all_paths if p[0] == 1 and p[3] == 2]
    gold = torch.logsumexp(torch.stack([_score(em[0], p, trans, start, end) for p in consistent]), 0)
    tags = torch.tensor([[1, -1, -1, 2]])
    torch.testing.assert_close(negative_log_likelihood(em, tags, mask, trans, start, end)[0],
                               log_z - gold)
    unknown = torch.full((1, 4), -1)
    assert abs(float(negative_log_likelihood(em, unknown, mask, trans, start, end)[0])) < 1e-5


def test_padding_does_not_change_results():
    em, trans, start, end = _random_lattice(T=3, K=3, seed=2)
    padded = torch.cat([em, torch.randn(1, 2, 3) * 10], dim=1)
    mask = torch.tensor([[True, True, True, False, False]])
    full = torch.ones(1, 3, dtype=torch.bool)
    torch.testing.assert_close(log_partition(padded, mask, trans, start, end),
                               log_partition(em, full, trans, start, end))
    path = viterbi_decode(padded, mask, trans, start, end)[0].tolist()
    assert path[:3] == viterbi_decode(em, full, trans, start, end)[0].tolist()
    assert path[3:] == [0, 0]


def test_viterbi_never_takes_forbidden_transitions():
    torch.manual_seed(3)
    em = torch.randn(8, 6, 3) * 5
    trans = torch.zeros(3, 3)
    trans[0, 2] = float("-inf")  # tag 2 may not follow tag 0
    start = torch.tensor([0.0, 0.0, float("-inf")])
    paths = viterbi_decode(em, torch.ones(8, 6, dtype=torch.bool), trans, start, torch.zeros(3))
    for path in paths.tolist():
        assert path[0] != 2
        assert all(not (a == 0 and b == 2) for a, b in zip(path, path[1:]))


def test_the_loss_learns_a_sequence():
    torch.manual_seed(0)
    trans, start, end = (torch.zeros(shape, requires_grad=True) for shape in ((3, 3), (3,), (3,)))
    em = torch.zeros(1, 4, 3, requires_grad=True)
    gold = torch.tensor([[0, 1, 2, 1]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    opt = torch.optim.Adam([em, trans, start, end], lr=0.1)
    for _ in range(100):
        opt.zero_grad()
        loss = negative_log_likelihood(em, gold, mask, trans, start, end).sum()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.05
    assert viterbi_decode(em.detach(), mask, trans.detach(), start.detach(), end.detach()).tolist() == gold.tolist()


def _stepwise_log_partition(em, mask, trans, start, end):
    """The forward algorithm one time step at a time (reference for the blocked one)."""
    alpha = start.unsqueeze(0) + em[:, 0]
    for t in range(1, em.shape[1]):
        step = torch.logsumexp(alpha.unsqueeze(2) + trans.unsqueeze(0), dim=1) + em[:, t]
        alpha = torch.where(mask[:, t].unsqueeze(1), step, alpha)
    return torch.logsumexp(alpha + end.unsqueeze(0), dim=1)


def _padded_batch(seed, lengths, K, constrained=False):
    torch.manual_seed(seed)
    T = max(lengths)
    em = torch.randn(len(lengths), T, K) * 3
    trans, start, end = torch.randn(K, K), torch.randn(K), torch.randn(K)
    if constrained:  # tag K-1 only after itself or tag 0, never first or last
        trans[1:K - 1, K - 1] = float("-inf")
        start[K - 1] = end[K - 1] = float("-inf")
    mask = torch.arange(T).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return em, mask, trans, start, end


def test_marginals_match_brute_force():
    em, trans, start, end = _random_lattice(T=4, K=3, seed=4)
    em = torch.cat([em, torch.randn(1, 2, 3)], dim=1)  # two padding positions
    mask = torch.tensor([[True] * 4 + [False] * 2])
    paths = list(itertools.product(range(3), repeat=4))
    weights = torch.softmax(torch.stack([_score(em[0], p, trans, start, end) for p in paths]), 0)
    expected = torch.zeros(6, 3)
    for path, weight in zip(paths, weights):
        for t, tag in enumerate(path):
            expected[t, tag] += weight
    for block in (None, 1, 2):
        probs = marginals(em, mask, trans, start, end, block=block)[0]
        torch.testing.assert_close(probs, expected)
        assert float(probs.min()) >= 0.0 and float(probs.max()) <= 1.0


def test_marginals_give_forbidden_tags_zero_and_rows_sum_to_one():
    em, mask, trans, start, end = _padded_batch(5, [7, 3, 1], K=4, constrained=True)
    for block in (None, 2, 3):
        probs = marginals(em, mask, trans, start, end, block=block)
        torch.testing.assert_close(probs.sum(-1), mask.float())
        assert float(probs.min()) >= 0.0 and float(probs.max()) <= 1.0 + 1e-6
        assert float(probs[:, 0, 3].max()) == 0.0  # start forbids tag 3


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize("block", [1, 2, 3, 5, 50])
def test_blocked_recursions_equal_the_stepwise_ones(block, constrained):
    """Any block length gives the same paths, log Z and gradients as one step at a time
    (the blocks reassociate sums, so values agree up to rounding)."""
    em, mask, trans, start, end = _padded_batch(6, [13, 9, 1, 12], K=4, constrained=constrained)
    stepwise_paths = viterbi_decode(em, mask, trans, start, end, block=em.shape[1] - 1)
    assert torch.equal(viterbi_decode(em, mask, trans, start, end, block=block), stepwise_paths)
    inputs = [x.clone().requires_grad_(True) for x in (em, trans, start, end)]
    reference = [x.clone().requires_grad_(True) for x in (em, trans, start, end)]
    weights = torch.tensor([0.5, 1.0, 2.0, 1.5])
    log_z = log_partition(inputs[0], mask, *inputs[1:], block=block)
    expected = _stepwise_log_partition(reference[0], mask, *reference[1:])
    torch.testing.assert_close(log_z, expected)
    (log_z * weights).sum().backward()
    (expected * weights).sum().backward()
    for got, want in zip(inputs, reference):  # autograd of -inf entries gives nan there
        assert not torch.isnan(got.grad).any()
        torch.testing.assert_close(got.grad, torch.nan_to_num(want.grad), atol=1e-4, rtol=1e-4)


def test_long_sequences_are_decoded_in_blocks():
    assert block_length(1, 24000, 9) < 200  # about sqrt(T) steps per block
    assert block_length(64, 24000, 50) == 24000  # large batch x tags: one block
    em, mask, trans, start, end = _padded_batch(7, [700, 650], K=3)
    assert block_length(2, 699, 3) < 699
    assert torch.equal(viterbi_decode(em, mask, trans, start, end),
                       viterbi_decode(em, mask, trans, start, end, block=699))
