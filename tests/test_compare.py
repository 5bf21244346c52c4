"""spacy_rnn.analysis: seed aggregation, the paired bootstrap tests (our own on per-sentence counts,
sacreBLEU's on translations), learning curves from a training log, and the generated prose."""
import numpy as np
import pytest
import srsly

from spacy_rnn.analysis.bootstrap import accuracy, f1, paired_bootstrap, paired_sacrebleu, pool_counts
from spacy_rnn.analysis.curves import best_at_last, final_scores, format_time_to_reach, mean_curve, \
    minutes_to_reach, read_curve, zoom_floor
from spacy_rnn.analysis.report import compare_counts, paired_seeds, seeds_text, significance_prose, \
    significance_table, time_to_accuracy_table
from spacy_rnn.analysis.seeds import format_seeds, over_seeds
from spacy_rnn.analysis.sentences import counts_array, entity_counts, token_counts

N_SENTENCES = 120


def tagging_counts(seed, shift=0):
    """Per-sentence [tokens, correct] of a made-up tagger; shift adds correct tokens (capped)."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(5, 30, N_SENTENCES)
    correct = np.minimum(tokens, rng.binomial(tokens, 0.8) + shift)
    return np.stack([tokens, correct], axis=1)


def test_identical_systems_give_p_near_1_and_an_interval_around_0():
    counts = tagging_counts(0)
    result = paired_bootstrap(accuracy, counts, counts.copy())
    assert result.p_value > 0.99 and result.difference == 0
    assert result.low <= 0 <= result.high and result.high - result.low < 1e-9
    assert not result.significant


def test_a_system_better_on_every_sentence_gives_p_below_0_01():
    reference = tagging_counts(0)
    reference[:, 1] = np.minimum(reference[:, 1], reference[:, 0] - 1)  # room to be better everywhere
    better = reference.copy()
    better[:, 1] += 1
    result = paired_bootstrap(accuracy, better, reference, n_resamples=1000)
    assert result.p_value < 0.01 and result.significant
    assert 0 < result.low <= result.difference <= result.high
    assert result.n_resamples == 1000 and result.n_units == N_SENTENCES
    worse = paired_bootstrap(accuracy, reference, better)  # the same test the other way round
    assert worse.p_value < 0.01 and worse.high < 0


def test_systems_of_the_same_quality_are_not_separated():
    # two draws of the same tagger: the difference is noise, and the test must say so
    result = paired_bootstrap(accuracy, tagging_counts(1), tagging_counts(2))
    assert result.p_value > 0.05 and result.low < 0 < result.high


def test_the_bootstrap_recomputes_f1_from_counts_and_is_seeded():
    reference = np.array([[1, 1, 1]] * 50 + [[2, 0, 0]] * 50)  # tp, fp, fn
    system = np.array([[2, 0, 0]] * 100)
    assert f1(reference.sum(0)) == pytest.approx(2 * 150 / (300 + 50 + 50))
    first = paired_bootstrap(f1, system, reference, name="f1", seed=3)
    assert first == paired_bootstrap(f1, system, reference, name="f1", seed=3)
    assert first.score == 1.0 and first.reference_score == pytest.approx(0.75)
    assert first.p_value < 0.01 and first.metric == "f1"


def test_paired_bootstrap_refuses_counts_of_different_sentences():
    with pytest.raises(ValueError, match="same test sentences"):
        paired_bootstrap(accuracy, tagging_counts(0), tagging_counts(0)[:-1])


REFERENCES = [f"The {a} {b} runs to the {c} house." for a in ("small", "big", "old")
              for b in ("dog", "cat", "man", "woman") for c in ("red", "green", "blue", "white")]


def test_sacrebleu_paired_bootstrap_on_identical_and_better_translations():
    worse = [" ".join(r.split()[:4]) for r in REFERENCES]  # drops the end of every sentence
    same = paired_sacrebleu(worse, list(worse), REFERENCES)
    assert same["bleu"].p_value == 1.0 and same["chrf"].p_value == 1.0
    assert same["bleu"].low == same["bleu"].high == 0.0
    better = paired_sacrebleu(REFERENCES, worse, REFERENCES, n_resamples=1000)
    for comparison in better.values():
        assert comparison.p_value < 0.01 and comparison.low > 0 and comparison.significant
    assert better["bleu"].score == pytest.approx(100.0) and better["bleu"].difference > 50


def test_sacrebleu_p_value_is_sacrebleus_own():
    from sacrebleu.metrics import BLEU, CHRF
    from sacrebleu.significance import PairedTest

    system = [r.replace("runs", "walks") if i % 3 else r for i, r in enumerate(REFERENCES)]
    baseline = [r.replace("house", "home") if i % 2 else r for i, r in enumerate(REFERENCES)]
    ours = paired_sacrebleu(system, baseline, REFERENCES, n_resamples=200, seed=7)
    import os
    os.environ["SACREBLEU_SEED"] = "7"
    try:
        _, scores = PairedTest([("b", baseline), ("s", system)], {"bleu": BLEU(), "chrf": CHRF()},
                               [REFERENCES], test_type="bs", n_samples=200)()
    finally:
        del os.environ["SACREBLEU_SEED"]
    assert ours["bleu"].p_value == scores["BLEU"][1].p_value
    assert ours["chrf"].p_value == scores["chrF2"][1].p_value


def test_seed_aggregation():
    scores = over_seeds([0.90, 0.94, None])
    assert scores.n == 2 and scores.mean == pytest.approx(0.92)
    assert scores.std == pytest.approx(np.std([0.90, 0.94], ddof=1))  # the sample standard deviation
    assert format_seeds(scores, ".2f", 100.0) == "92.00 ± 2.83"
    assert format_seeds(over_seeds([0.9]), ".1f", 100.0) == "90.0"  # one seed: no spread
    assert over_seeds([None]).n == 0 and format_seeds(over_seeds([])) == "–"


def test_pooled_seeds_keep_each_sentence_together():
    pooled = pool_counts([tagging_counts(0), tagging_counts(1)])
    assert pooled.shape == (N_SENTENCES, 2)
    np.testing.assert_array_equal(pooled, tagging_counts(0) + tagging_counts(1))
    with pytest.raises(ValueError, match="same test sentences"):
        pool_counts([tagging_counts(0), tagging_counts(0)[:5]])


def records(counts):
    return [{"n": int(n), "correct": int(c)} for n, c in counts]


def test_compare_counts_pairs_the_seeds_and_says_why_a_system_is_untested():
    systems = {"ref": {0: records(tagging_counts(0)), 1: records(tagging_counts(1))},
               "same": {1: records(tagging_counts(1)), 0: records(tagging_counts(0))},
               "better": {0: records(tagging_counts(0, 3)), 1: records(tagging_counts(1, 3))},
               "seed1": {1: records(tagging_counts(1))},
               "old": {None: []}, "short": {0: records(tagging_counts(0)[:10])}}
    outcomes = compare_counts(systems, "ref", "accuracy")
    assert outcomes["same"].p_value == 1.0  # seed s paired with seed s, not in dict order
    assert outcomes["seed1"].p_value == 1.0  # paired with the reference's seed 1 only
    assert outcomes["better"].significant and outcomes["better"].difference > 0
    assert outcomes["old"] == "no per-sentence results (rerun its evaluation to write them)"
    assert "not evaluated on the same test sentences (10 vs 120" in outcomes["short"]
    assert outcomes["same"].seeds == ((1, 1), (0, 0)) and seeds_text(outcomes["seed1"]) == "1"
    table = "\n".join(significance_table("ref", outcomes, "accuracy", 100.0))
    assert "| seed1 | 1 | +0.00 |" in table and "| same | 0, 1 |" in table
    unshared = compare_counts({"ref": {0: records(tagging_counts(0))}, "x": {3: records(tagging_counts(0))},
                               "old": {None: records(tagging_counts(0))}}, "ref", "accuracy")
    assert seeds_text(unshared["x"]) == "3/0" and seeds_text(unshared["old"]) == "–"
    assert seeds_text(paired_bootstrap(accuracy, tagging_counts(0), tagging_counts(0))) == "–"
    assert paired_seeds([2, 1], [0, 1, 2]) == [(2, 2), (1, 1)]
    assert paired_seeds([5, 3], [1, 2]) == [(3, 1), (5, 2)]


def test_per_sentence_counts():
    assert token_counts(["NOUN", "VERB", "DET"], ["NOUN", "NOUN", "DET"]) == {"n": 3, "correct": 2}
    counts = entity_counts([(0, 1, "PER"), (3, 5, "ORG")], [(0, 1, "PER"), (3, 5, "LOC"), (7, 8, "LOC")])
    assert counts == {"tp": 1, "fp": 1, "fn": 2}
    np.testing.assert_array_equal(counts_array([counts], "f1"), [[1, 1, 2]])
    with pytest.raises(ValueError, match="no tp, fp, fn"):
        counts_array([{"n": 3, "correct": 2}], "f1")


def write_log(path, rows):
    srsly.write_jsonl(path, [{"step": step, "epoch": 0, "seconds": seconds, "words": 10 * step,
                              "words_per_second": 1.0, "losses": {}, "score": score,
                              "scores": {"translation_bleu": score / 2}} for step, seconds, score in rows])
    return path


def test_learning_curve_and_time_to_accuracy_from_a_small_log(tmp_path):
    fast = read_curve(write_log(tmp_path / "a.jsonl", [(0, 0, 0.1), (100, 60, 0.5), (200, 120, 0.8)]))
    slow = read_curve(write_log(tmp_path / "b.jsonl", [(0, 0, 0.1), (100, 120, 0.3), (200, 240, 0.6)]))
    assert fast.steps == [0, 100, 200] and fast.minutes == [0, 1, 2] and fast.scores == [0.1, 0.5, 0.8]
    assert read_curve(tmp_path / "a.jsonl", "translation_bleu").scores == [0.05, 0.25, 0.4]
    # several names: the first one a record has (the translation scorers' v2 key, then v1's)
    assert read_curve(tmp_path / "a.jsonl", ("bleu", "translation_bleu")).scores == [0.05, 0.25, 0.4]
    assert read_curve(tmp_path / "a.jsonl", ("chrf",)) is None
    assert read_curve(tmp_path / "missing.jsonl") is None
    x, mean, low, high = mean_curve([fast, slow], "steps", n_points=3)
    np.testing.assert_allclose(x, [0, 100, 200])
    np.testing.assert_allclose(mean, [0.1, 0.4, 0.7])
    np.testing.assert_allclose(low, [0.1, 0.3, 0.6])
    np.testing.assert_allclose(high, [0.1, 0.5, 0.8])
    x, mean, _, _ = mean_curve([fast, slow], "minutes", n_points=3)
    assert x[-1] == 2  # ends where the shorter curve ends, so every point is a mean over both
    np.testing.assert_allclose(mean, [0.1, (0.5 + 0.2) / 2, (0.8 + 0.3) / 2])
    assert final_scores([fast, slow]).mean == pytest.approx(0.7)
    minutes, n_reached = minutes_to_reach([fast, slow], 0.7)
    assert (minutes.mean, n_reached) == (2.0, 1)
    assert format_time_to_reach(minutes, n_reached, 2) == "2.0 min (1 of 2 seeds; 1 did not reach it)"
    minutes, n_reached = minutes_to_reach([fast, slow], 0.5)  # at the first evaluation reaching it
    assert format_time_to_reach(minutes, n_reached, 2) == "2.5 ± 2.1 min"
    minutes, n_reached = minutes_to_reach([fast, slow], 0.9)
    assert format_time_to_reach(minutes, n_reached, 2) == "not reached"
    # from a quarter of the way on (0.5 of 2 minutes; rising curves: the value there): fast alone
    # is at 0.1 + 0.5 * 0.4 = 0.3, the mean of fast and slow at (0.3 + 0.15) / 2
    assert zoom_floor({"a": [fast], "b": [fast, slow]}) == pytest.approx(min(0.3, (0.3 + 0.15) / 2))
    dip = read_curve(write_log(tmp_path / "c.jsonl", [(0, 0, 0.1), (100, 60, 0.6), (200, 120, 0.2),
                                                      (300, 180, 0.7)]))
    # its later dip (to within the 60-point grid the mean curve is sampled on)
    assert zoom_floor({"a": [fast], "dip": [dip]}) == pytest.approx(0.2, abs=0.01)


def test_runs_still_improving_when_training_stopped_are_counted(tmp_path):
    """A run whose best dev score is its last one had not passed its peak: the table counts them
    and the sentence under it says so; runs past their peak are called so."""
    rising = read_curve(write_log(tmp_path / "a.jsonl", [(0, 0, 0.1), (100, 60, 0.5), (200, 120, 0.8)]))
    level = read_curve(write_log(tmp_path / "b.jsonl", [(0, 0, 0.1), (100, 60, 0.6), (200, 120, 0.6)]))
    peaked = read_curve(write_log(tmp_path / "c.jsonl", [(0, 0, 0.1), (100, 60, 0.6), (200, 120, 0.2)]))
    assert best_at_last([rising, level, peaked]) == 2
    lines = time_to_accuracy_table("ref", {"ref": [peaked], "x": [rising, level]}, "accuracy", 100.0)
    assert lines[2].endswith("| 0 of 1 |") and lines[3].endswith("| 2 of 2 |")
    assert lines[-1].startswith("2 of 3 runs had their best dev accuracy at their last evaluation")
    lines = time_to_accuracy_table("ref", {"ref": [peaked]}, "accuracy", 100.0)
    assert lines[-1] == ("Every run's best dev accuracy came before its last evaluation: the run had passed "
                         "its dev peak when training stopped.")
    untrained = read_curve(write_log(tmp_path / "d.jsonl", [(0, 0, 0.1)]))
    assert best_at_last([untrained]) == 0  # one evaluation: no trend


def test_generated_prose_claims_only_what_the_tests_support():
    better = tagging_counts(0, 2)
    outcomes = {"up": paired_bootstrap(accuracy, better, tagging_counts(0)),
                "noise": paired_bootstrap(accuracy, tagging_counts(1), tagging_counts(0)),
                "old": "no per-sentence results"}
    assert outcomes["up"].significant and not outcomes["noise"].significant
    prose = " ".join(significance_prose("ref", outcomes, "accuracy", 100.0))
    assert "up (+" in prose and "scores higher than ref on accuracy (p < 0.05)" in prose
    assert "does not separate noise from ref" in prose and "do not rank them" in prose
    assert "noise scores" not in prose and "old was not tested" in prose
    assert "not corrected for multiple comparisons" in prose
    table = "\n".join(significance_table("ref", outcomes, "accuracy", 100.0))
    assert "| up | – | +" in table and "| yes, higher |" in table and "| noise |" in table
    assert "not tested: no per-sentence results" in table
    assert significance_prose("ref", {"old": "no per-sentence results"}, "accuracy", 100.0) == []


def test_a_p_value_below_alpha_with_an_interval_across_zero_is_not_significant():
    """sacreBLEU's p-value and the percentile interval come from different resamples: where they
    disagree, the table and the prose make no claim."""
    from spacy_rnn.analysis.bootstrap import Comparison

    borderline = Comparison("bleu", 33.5, 32.7, 0.81, -0.12, 1.76, 0.048, 1000, 1000)
    clear = Comparison("bleu", 31.1, 32.7, -1.60, -2.72, -0.44, 0.006, 1000, 1000)
    assert not borderline.significant and clear.significant
    outcomes = {"gru": borderline, "rnn": clear}
    table = "\n".join(significance_table("lstm", outcomes, "BLEU", 1.0))
    assert "| gru | – | +0.81 | [-0.12, +1.76] | 0.048 | no |" in table
    assert "| rnn | – | -1.60 | [-2.72, -0.44] | 0.006 | yes, lower |" in table
    prose = significance_prose("lstm", outcomes, "BLEU", 1.0, "BLEU")[0]
    assert "rnn (-1.60 BLEU" in prose and "scores lower than lstm" in prose
    assert "does not separate gru from lstm on BLEU (gru p = 0.048, but its 95% interval includes 0)" in prose
    assert "gru (+0.81" not in prose
