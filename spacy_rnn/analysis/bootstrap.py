"""Paired bootstrap tests of a system against a reference system on the same test sentences.

Accuracy and entity F1 are recomputed from per-sentence counts in each resample (our own
bootstrap); BLEU and chrF use sacreBLEU's paired bootstrap (``PairedTest`` with ``paired_bs``).
Both give a two-sided p-value for "the corpus-level scores differ" and a 95% percentile interval
of the difference (system minus reference) over the same resamples.
"""
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, Sequence, Tuple

import numpy as np

ALPHA = 0.05  # the level at which summaries call a difference significant
N_RESAMPLES = 1000
SEED = 12345  # sacreBLEU's default seed, used for our own bootstrap too

# counts (..., k) -> score (...): a corpus-level metric recomputed from summed per-sentence counts
CountMetric = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Comparison:
    """A system against the reference: scores, difference with its 95% interval, p-value."""

    metric: str
    score: float
    reference_score: float
    difference: float  # score - reference_score
    low: float  # 2.5th percentile of the resampled differences
    high: float  # 97.5th percentile
    p_value: float
    n_resamples: int
    n_units: int  # test sentences resampled (with pooled seeds: see pool_counts / pool_texts)
    seeds: Tuple[Tuple, ...] = ()  # the (system seed, reference seed) pairs pooled; () if not recorded

    @property
    def significant(self) -> bool:
        """p < ALPHA, and the 95% interval excludes 0 (sacreBLEU's p-value and the percentile
        interval come from different resamples and can disagree at the margin: then no claim)."""
        return self.p_value < ALPHA and (self.low > 0 or self.high < 0)


def accuracy(counts: np.ndarray) -> np.ndarray:
    """Token accuracy from counts of shape (..., 2): [tokens, correct tokens]; 0 without tokens."""
    tokens, correct = counts[..., 0], counts[..., 1]
    return np.where(tokens > 0, correct / np.maximum(tokens, 1), 0.0)


def f1(counts: np.ndarray) -> np.ndarray:
    """Micro F1 from counts of shape (..., 3): [true pos., false pos., false neg.]; 0 if all are 0."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def pool_counts(per_seed: Sequence[np.ndarray]) -> np.ndarray:
    """Per-sentence counts summed over seeds: (n_sentences, k) from a list of such arrays.

    Resampling sentences of the pooled counts keeps each test sentence's seeds together, and
    the corpus metric of the pooled counts is the metric of all seeds' outputs concatenated.
    """
    shapes = {np.shape(c) for c in per_seed}
    if len(shapes) != 1:
        raise ValueError(f"pool_counts: the seeds' per-sentence counts differ in shape {sorted(shapes)}: "
                         "every seed must be evaluated on the same test sentences")
    return np.sum([np.asarray(c, dtype=float) for c in per_seed], axis=0)


def pool_texts(per_seed: Sequence[Sequence[str]]) -> list:
    """The seeds' outputs concatenated, in seed order (sacreBLEU resamples them as sentences)."""
    return [text for texts in per_seed for text in texts]


def paired_bootstrap(metric: CountMetric, counts: np.ndarray, reference_counts: np.ndarray, *,
                     name: str = "score", n_resamples: int = N_RESAMPLES, seed: int = SEED) -> Comparison:
    """Paired bootstrap of ``metric`` over sentences.

    counts, reference_counts: shape (n_sentences, k), row i is the same test sentence in both.
    The p-value is the share of resampled differences at least as far from the observed one as
    the observed one is from 0 (the bootstrap distribution shifted to the null), with +1
    smoothing: identical systems give p = 1.
    """
    counts, reference_counts = _check_counts(counts, reference_counts)
    n = len(counts)
    idx = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    score, reference_score = float(metric(counts.sum(0))), float(metric(reference_counts.sum(0)))
    deltas = metric(counts[idx].sum(1)) - metric(reference_counts[idx].sum(1))
    return _comparison(name, score, reference_score, deltas, n)


def _check_counts(counts, reference_counts):
    counts, reference_counts = np.asarray(counts, dtype=float), np.asarray(reference_counts, dtype=float)
    if counts.shape != reference_counts.shape or counts.ndim != 2 or not len(counts):
        raise ValueError(f"paired_bootstrap needs per-sentence counts of the same test sentences, shape "
                         f"(n_sentences, k) for both systems; got {counts.shape} and "
                         f"{reference_counts.shape}")
    return counts, reference_counts


def _comparison(name, score, reference_score, deltas, n_units) -> Comparison:
    score, reference_score = float(score), float(reference_score)
    observed = score - reference_score
    # a tolerance, so that float noise in equal resamples does not count as a smaller difference
    extreme = np.abs(deltas - observed) >= abs(observed) - 1e-12
    p_value = (int(extreme.sum()) + 1) / (len(deltas) + 1)
    low, high = np.percentile(deltas, [2.5, 97.5])
    return Comparison(name, score, reference_score, observed, float(low), float(high), p_value,
                      len(deltas), n_units)


def paired_sacrebleu(hypotheses: Sequence[str], reference_hypotheses: Sequence[str],
                     references: Sequence[str], *, n_resamples: int = N_RESAMPLES,
                     seed: int = SEED) -> Dict[str, Comparison]:
    """{"bleu": Comparison, "chrf": Comparison} from sacreBLEU's paired bootstrap (paired_bs).

    The p-value is sacreBLEU's. sacreBLEU reports an interval per system, not of the difference,
    so the interval is computed here from the same resamples (the same seeded indices) and
    sacreBLEU's sufficient statistics. Identical outputs get p = 1 and the interval [0, 0]
    without resampling: sacreBLEU's p-value is 1/(n+1) for them, as no resampled difference
    exceeds a difference of 0.
    """
    from sacrebleu.metrics import BLEU, CHRF

    _check_texts(hypotheses, reference_hypotheses, references)
    metrics = {"bleu": BLEU(), "chrf": CHRF()}
    if list(hypotheses) == list(reference_hypotheses):
        return {key: _identical(key, m, hypotheses, references, n_resamples) for key, m in metrics.items()}
    p_values = _sacrebleu_p_values(hypotheses, reference_hypotheses, references, metrics, n_resamples, seed)
    idx = np.random.default_rng(seed).choice(len(hypotheses), size=(n_resamples, len(hypotheses)),
                                             replace=True)
    result = {}
    for key, metric in metrics.items():
        system, reference = (_resampled_scores(metric, h, references, idx)
                             for h in (hypotheses, reference_hypotheses))
        comparison = _comparison(key, system[0], reference[0], system[1] - reference[1], len(hypotheses))
        result[key] = _with_p_value(comparison, p_values[key])
    return result


def _check_texts(hypotheses, reference_hypotheses, references):
    if not len(references) or not len(hypotheses) == len(reference_hypotheses) == len(references):
        raise ValueError(f"paired_sacrebleu needs one hypothesis per reference for both systems; got "
                         f"{len(hypotheses)} and {len(reference_hypotheses)} hypotheses for "
                         f"{len(references)} references")


@contextmanager
def _sacrebleu_seed(seed: int) -> Iterator[None]:
    """PairedTest reads its seed from SACREBLEU_SEED only; set it for the test, then restore it."""
    old = os.environ.get("SACREBLEU_SEED")
    os.environ["SACREBLEU_SEED"] = str(seed)
    try:
        yield
    finally:
        if old is None:
            del os.environ["SACREBLEU_SEED"]
        else:
            os.environ["SACREBLEU_SEED"] = old


def _sacrebleu_p_values(hypotheses, reference_hypotheses, references, metrics, n_resamples, seed):
    """{"bleu": p, "chrf": p} of sacreBLEU's PairedTest (paired_bs), reference system as baseline."""
    from sacrebleu.significance import PairedTest

    with _sacrebleu_seed(seed):
        test = PairedTest([("reference", list(reference_hypotheses)), ("system", list(hypotheses))],
                          metrics, [list(references)], test_type="bs", n_samples=n_resamples)
        _, scores = test()
    # the score columns ("BLEU", "chrF2") follow the order of metrics
    columns = [name for name in scores if name != "System"]
    return {key: scores[column][1].p_value for key, column in zip(metrics, columns)}


def _resampled_scores(metric, hypotheses, references, idx):
    """(corpus score, scores of the resamples idx (n_resamples, n)) from sufficient statistics."""
    stats = np.array(metric._extract_corpus_statistics(list(hypotheses), [list(references)]),
                     dtype="float32")
    score = metric._compute_score_from_stats(stats.sum(0)).score
    return score, np.array([metric._compute_score_from_stats(s.sum(0)).score for s in stats[idx]])


def _identical(key, metric, hypotheses, references, n_resamples) -> Comparison:
    score = metric.corpus_score(list(hypotheses), [list(references)]).score
    return Comparison(key, score, score, 0.0, 0.0, 0.0, 1.0, n_resamples, len(hypotheses))


def _with_p_value(comparison: Comparison, p_value: float) -> Comparison:
    fields = dict(comparison.__dict__, p_value=float(p_value))
    return Comparison(**fields)
