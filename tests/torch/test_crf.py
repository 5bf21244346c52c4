import itertools

import torch

from spacy_rnn.torch.crf import CRF, log_partition, negative_log_likelihood, viterbi_decode


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


def test_crf_module_learns_a_sequence():
    torch.manual_seed(0)
    crf = CRF(3)
    em = torch.zeros(1, 4, 3, requires_grad=True)
    gold = torch.tensor([[0, 1, 2, 1]])
    opt = torch.optim.Adam([em, *crf.parameters()], lr=0.1)
    for _ in range(100):
        opt.zero_grad()
        loss = crf(em, gold).sum()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.05
    assert crf.decode(em).tolist() == gold.tolist()
