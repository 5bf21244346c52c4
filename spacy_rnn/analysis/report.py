"""Significance tests of every architecture against a reference, and the result tables and
prose generated from them: no sentence ranks two systems unless the test supports it.

Several seeds: each system's per-sentence results of the seeds it shares with the reference
are pooled (seed s of the system is paired with seed s of the reference; without shared seeds
the seeds are paired in sorted order); the tables name the seeds paired. For accuracy and F1
each sentence's counts are summed over the seeds and sentences are resampled, so a sentence's
seeds stay together; for BLEU and chrF the seeds' outputs are concatenated and sacreBLEU
resamples (seed, sentence) pairs, which does not keep a sentence's seeds together (its
intervals are narrower than a resampling of sentences would give).
"""
import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple, Union

from .bootstrap import ALPHA, N_RESAMPLES, Comparison, accuracy, f1, paired_bootstrap, paired_sacrebleu, \
    pool_counts, pool_texts
from .sentences import counts_array

# per system: {seed (None: the old one-run layout): per-sentence records}
SeedSentences = Dict[Optional[int], List[dict]]
# a Comparison, or why there is none
Outcome = Union[Comparison, str]
COUNT_METRICS = {"accuracy": accuracy, "f1": f1}


def paired_seeds(seeds: Sequence, reference_seeds: Sequence) -> List[Tuple]:
    """(system seed, reference seed) pairs: the shared seeds, else both sorted and zipped."""
    shared = [s for s in seeds if s in set(reference_seeds)]
    if shared:
        return [(s, s) for s in shared]
    return list(zip(sorted(seeds, key=str), sorted(reference_seeds, key=str)))


def untestable(system: SeedSentences, reference: SeedSentences, reference_name: str) -> Optional[str]:
    """Why the system cannot be tested against the reference, or None."""
    if not any(system.values()):
        return "no per-sentence results (rerun its evaluation to write them)"
    if not any(reference.values()):
        return f"the reference {reference_name} has no per-sentence results (rerun its evaluation)"
    lengths = {len(r) for r in [*system.values(), *reference.values()] if r}
    if len(lengths) > 1:
        sizes = " vs ".join(map(str, sorted(lengths)))
        return f"not evaluated on the same test sentences ({sizes} sentences)"
    return None


def compare_counts(systems: Dict[str, SeedSentences], reference: str, metric: str,
                   n_resamples: int = N_RESAMPLES) -> Dict[str, Outcome]:
    """{system: Comparison with the reference on "accuracy" or "f1", or why untested}."""
    def test(system: SeedSentences, baseline: SeedSentences, pairs: List) -> Comparison:
        counts = pool_counts([counts_array(system[s], metric) for s, _ in pairs])
        reference_counts = pool_counts([counts_array(baseline[b], metric) for _, b in pairs])
        return paired_bootstrap(COUNT_METRICS[metric], counts, reference_counts, name=metric,
                                n_resamples=n_resamples)

    return _compare_each(systems, reference, test)


def compare_texts(systems: Dict[str, SeedSentences], reference: str, search: str,
                  references: Optional[List[str]] = None,
                  n_resamples: int = N_RESAMPLES) -> Dict[str, Union[Dict[str, Comparison], str]]:
    """{system: {"bleu": Comparison, "chrf": Comparison} against the reference, or why untested}.

    ``search`` names the hypothesis field of the records ("greedy" or "beam"); ``references``:
    the test references, one per record (None: each record's own "reference" field, for data
    the project generates itself)."""
    def test(system: SeedSentences, baseline: SeedSentences, pairs: List) -> Dict[str, Comparison]:
        hypotheses = pool_texts([[r[search] for r in system[s]] for s, _ in pairs])
        baseline_texts = pool_texts([[r[search] for r in baseline[b]] for _, b in pairs])
        gold = pool_texts([references if references is not None else [r["reference"] for r in baseline[b]]
                           for _, b in pairs])
        return paired_sacrebleu(hypotheses, baseline_texts, gold, n_resamples=n_resamples)

    return _compare_each(systems, reference, test)


def _compare_each(systems: Dict[str, SeedSentences], reference: str, test) -> Dict:
    """{system: test(system, reference, seed pairs), or why it cannot be tested} for every
    system but the reference."""
    outcomes = {}
    for name, system in systems.items():
        if name == reference:
            continue
        reason = untestable(system, systems.get(reference, {}), reference)
        if reason:
            outcomes[name] = reason
            continue
        pairs = paired_seeds(_with_results(system), _with_results(systems[reference]))
        outcomes[name] = _with_seeds(test(system, systems[reference], pairs), pairs)
    return outcomes


def _with_seeds(outcome, pairs):
    """The Comparison(s) of one system with the seed pairs they pool recorded."""
    if isinstance(outcome, dict):
        return {key: _with_seeds(comparison, pairs) for key, comparison in outcome.items()}
    return dataclasses.replace(outcome, seeds=tuple(pairs))


def seeds_text(comparison: Comparison) -> str:
    """The seeds a comparison pooled: '0, 1, 2' (seed s with the reference's seed s), '0/1'
    (system seed 0 with reference seed 1), '–' if not recorded or if a side is a one-run file
    (no seed)."""
    if not comparison.seeds or any(s is None for pair in comparison.seeds for s in pair):
        return "–"
    return ", ".join(str(s) if s == b else f"{s}/{b}" for s, b in sorted(comparison.seeds, key=str))


def _with_results(system: SeedSentences) -> List:
    return [seed for seed, records in system.items() if records]


def signed(value: float, scale: float) -> str:
    return f"{value * scale:+.2f}"


def significance_table(reference: str, outcomes: Dict[str, Outcome], label: str, scale: float) -> List[str]:
    """Markdown table: difference to the reference, its 95% interval, p, and whether p < ALPHA;
    one line if no architecture could be tested."""
    reasons = sorted({o for o in outcomes.values() if isinstance(o, str)})
    if len(reasons) == 1 and all(isinstance(o, str) for o in outcomes.values()):
        return [f"Not tested against {reference}: {reasons[0]}."]
    lines = [f"| architecture | seeds paired | {label} minus {reference} | 95% interval | p | significant |",
             "|---|---|---|---|---|---|"]
    for name, outcome in outcomes.items():
        if isinstance(outcome, str):
            lines.append(f"| {name} | – | – | – | – | not tested: {outcome} |")
            continue
        verdict = ("yes, higher" if outcome.difference > 0 else "yes, lower") if outcome.significant else "no"
        lines.append(f"| {name} | {seeds_text(outcome)} | {signed(outcome.difference, scale)} | "
                     f"[{signed(outcome.low, scale)}, {signed(outcome.high, scale)}] | {format_p(outcome)} | "
                     f"{verdict} |")
    return lines


def format_p(comparison: Comparison) -> str:
    """'0.031', or '< 0.001' (the p-values of 1000 resamples end at 1/1001)."""
    return "< 0.001" if comparison.p_value < 0.001 + 1e-6 else f"{comparison.p_value:.3f}"


def p_text(comparison: Comparison) -> str:
    """'p = 0.031' or 'p < 0.001'."""
    text = format_p(comparison)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def significance_prose(reference: str, outcomes: Dict[str, Outcome], label: str, scale: float,
                       unit: str = "points") -> List[str]:
    """Sentences generated from the tests: a ranking against the reference only where the
    difference is significant (p < ALPHA and the 95% interval excludes 0)."""
    tested = {n: o for n, o in outcomes.items() if not isinstance(o, str)}
    if not tested:
        return []  # the table's one line says why
    higher = [n for n, o in tested.items() if o.significant and o.difference > 0]
    lower = [n for n, o in tested.items() if o.significant and o.difference < 0]
    unclear = [n for n, o in tested.items() if not o.significant]
    sentences = [_direction(higher, "higher", reference, label, tested, scale, unit)] if higher else []
    sentences += [_direction(lower, "lower", reference, label, tested, scale, unit)] if lower else []
    if unclear:
        details = ", ".join(f"{n} {p_text(tested[n])}" + ("" if tested[n].p_value >= ALPHA else
                                                          ", but its 95% interval includes 0")
                            for n in unclear)
        sentences.append(f"The test does not separate {_names(unclear)} from {reference} on {label} "
                         f"({details}); these results do not rank them against it.")
    untested = [n for n, o in outcomes.items() if isinstance(o, str)]
    if untested:
        sentences.append(f"{_names(untested)} {'was' if len(untested) == 1 else 'were'} not tested "
                         f"against {reference} (see above), so nothing is claimed about "
                         f"{'it' if len(untested) == 1 else 'them'}.")
    sentences.append(f"Each architecture was tested against {reference} only; differences between "
                     f"the other architectures were not tested, and "
                     + ("the test is" if len(tested) == 1 else f"the {len(tested)} tests are")
                     + " not corrected for multiple comparisons.")
    return [" ".join(sentences)]


def _direction(names, word, reference, label, tested, scale, unit):
    parts = [f"{n} ({signed(tested[n].difference, scale)} {unit}, 95% interval "
             f"{signed(tested[n].low, scale)} to {signed(tested[n].high, scale)}, {p_text(tested[n])})"
             for n in names]
    verb = "scores" if len(names) == 1 else "score"
    return f"{_names(parts)} {verb} {word} than {reference} on {label} (p < {ALPHA:g})."


def _names(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def method_note(counts: bool = True, texts: bool = False, n_resamples: int = N_RESAMPLES) -> str:
    """How the tests were made, for the summary's notes: on per-sentence counts (accuracy, F1)
    and/or on translations (BLEU, chrF)."""
    parts = [f"Significance: paired bootstrap over test sentences ({n_resamples} resamples, seeded), "
             "two-sided, of each architecture against the reference named in its table, pooled over "
             "the seeds paired (column \"seeds paired\": seed s of the architecture with seed s of the "
             "reference, or s/r for seed s with the reference's seed r where they share none), so the "
             "gap tested is that of the pooled scores, not of the means over all seeds above"]
    if counts:
        parts.append("accuracy and F1 are recomputed from per-sentence counts in each resample (with "
                     "several seeds, each sentence's counts are summed over the seeds, so its seeds are "
                     "resampled together)")
    if texts:
        parts.append("BLEU and chrF use sacreBLEU's paired bootstrap (paired_bs); with several seeds it runs "
                     "on the seeds' outputs concatenated and resamples (seed, sentence) pairs, so a "
                     "sentence's seeds are not kept together and its p-values and intervals are less "
                     "cautious than a resampling of sentences would give")
    # worded without "differ": the summaries keep that word for settings the runs do not share
    parts.append("the 95% interval spans the 2.5th to 97.5th percentile of the resampled score gaps "
                 f"(system minus reference), and a gap is called significant when p < {ALPHA:g} and "
                 "that interval excludes 0.")
    return "; ".join(parts)


def training_count(trained: Sequence[dict], recorded_by: str) -> str:
    """'3 trainings; training time up to each run's last dev evaluation, summed over the 3 runs
    whose <recorded_by> record it: 1.2 h' from the metrics of the trained runs (their
    train_seconds), for the summaries' setting notes."""
    seconds = [m["train_seconds"] for m in trained if isinstance(m.get("train_seconds"), (int, float))]
    text = f"{len(trained)} training{'s' if len(trained) != 1 else ''}"
    if seconds:
        text += (f"; training time up to each run's last dev evaluation, summed over the {len(seconds)} runs "
                 f"whose {recorded_by} record it: {sum(seconds) / 3600:.1f} h")
    return text


def time_to_accuracy_table(reference: str, curves: Dict[str, list], label: str, scale: float) -> List[str]:
    """Markdown table: final dev score over seeds and the minutes each architecture takes to reach
    the reference's final dev score (mean over its seeds); a line saying why if it cannot be made."""
    from .curves import best_at_last, final_scores, format_time_to_reach, minutes_to_reach
    from .seeds import format_seeds

    if not curves.get(reference):
        return [f"Time to accuracy: not computed, as there is no training log of the reference {reference}."]
    target = final_scores(curves[reference]).mean
    lines = [f"| architecture | seeds | final dev {label} | minutes to {reference}'s final dev {label} "
             f"({target * scale:.2f}) | best dev {label} at the last evaluation |", "|---|---|---|---|---|"]
    for name, runs in curves.items():
        minutes, n_reached = minutes_to_reach(runs, target)
        lines.append(f"| {name} | {len(runs)} | {format_seeds(final_scores(runs), scale=scale)} | "
                     f"{format_time_to_reach(minutes, n_reached, len(runs))} | "
                     f"{best_at_last(runs)} of {len(runs)} |")
    return lines + ["", convergence_sentence(curves, label)]


def convergence_sentence(curves: Dict[str, list], label: str) -> str:
    """Whether the runs had passed their dev peak when training stopped (generated from the logs)."""
    from .curves import best_at_last

    improving = sum(best_at_last(runs) for runs in curves.values())
    total = sum(len(runs) for runs in curves.values())
    runs = "the run" if total == 1 else f"all {total} runs"
    if not improving:
        return (f"Every run's best dev {label} came before its last evaluation: {runs} had passed "
                f"{'its' if total == 1 else 'their'} dev peak when training stopped.")
    return (f"{improving} of {total} runs had their best dev {label} at their last evaluation: they were "
            f"still improving (or level) when training stopped, so their scores may rise with a longer "
            f"budget.")
