"""The workflows' summaries of runs per seed: mean ± standard deviation, paired bootstrap tests
against the reference with generated prose, learning curves and time to accuracy, summaries
without matplotlib, and the per-sentence results the evaluation scripts write for the tests."""
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import srsly

from project_corpora import ROOT, run_script

PROJECTS = ROOT / "projects"
NO_MATPLOTLIB = ("import runpy, sys; sys.modules['matplotlib'] = None; sys.argv = sys.argv[1:]; "
                 "runpy.run_path(sys.argv[0], run_name='__main__')")
REFERENCES = [f"The {a} {b} runs to the {c} house." for a in ("small", "big", "old")
              for b in ("dog", "cat", "man", "woman") for c in ("red", "green", "blue", "white")]


def load_script(project, name):
    spec = importlib.util.spec_from_file_location(f"{project}_{name}", PROJECTS / project / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flat(text):
    return " ".join(text.split())


def tagging_metrics(score, seed):
    """A metrics dict as evaluate_tagger.py writes it for seed ``seed`` of a POS run."""
    return {"task": "pos", "score": score, "pipe_words_per_second": 1000.0, "size_bytes": 10**6,
            "parameters": 1000, "torch_threads": 1, "train_seconds": 60, "train_steps": 100,
            "train_words_per_second": 500.0, "training_settings": {"max_minutes": 2, "eval_frequency": 50},
            "by_length": {b: {"n": 30, "score": score} for b in ["1-10", "11-20", "21-40", "41+"]},
            "train_log": f"training/pos-x/seed{seed}/log.jsonl"}


def sentence_counts(seed, extra):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(5, 20, 120)
    correct = np.minimum(tokens, rng.binomial(tokens, 0.7) + extra)
    return [{"n": int(n), "correct": int(c)} for n, c in zip(tokens, correct)]


def write_log(path, scores, minutes_per_eval):
    srsly.write_jsonl(path, [{"step": 50 * i, "epoch": 0, "seconds": 60 * minutes_per_eval * i, "words": 100 * i,
                              "words_per_second": 1.0, "losses": {}, "score": s,
                              "scores": {"translation_bleu": s}} for i, s in enumerate(scores)])


def tagging_tree(root):
    """metrics/ and training/ of pos-spacy_cnn and pos-lstm, two seeds each; lstm tags 2 more
    tokens right in every sentence and reaches the reference's final dev score in 1 minute."""
    for arch, extra, scores, minutes in [("spacy_cnn", 0, [0.1, 0.5, 0.7], 1.0), ("lstm", 2, [0.2, 0.8, 0.9], 0.5)]:
        for seed in (0, 1):
            sentences = sentence_counts(seed, extra)
            score = sum(r["correct"] for r in sentences) / sum(r["n"] for r in sentences)
            folder = root / "metrics" / f"pos-{arch}"
            folder.mkdir(parents=True, exist_ok=True)
            srsly.write_json(folder / f"seed{seed}.json", {**tagging_metrics(score, seed), "train_log": None})
            srsly.write_jsonl(folder / f"seed{seed}.sentences.jsonl", sentences)
            log = root / "training" / f"pos-{arch}" / f"seed{seed}" / "log.jsonl"
            log.parent.mkdir(parents=True, exist_ok=True)
            write_log(log, scores, minutes * (1 + seed))


def test_tagging_summary_of_two_seeds_tests_against_spacy_cnn(tmp_path):
    tagging_tree(tmp_path)
    result = run_script(PROJECTS / "tagging" / "scripts" / "summarize.py", "metrics", "results", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = (tmp_path / "results" / "summary.md").read_text(encoding="utf8")
    lstm_row = next(line for line in summary.splitlines() if line.startswith("| lstm (n=2) |"))
    assert " ± " in lstm_row.split("|")[2] and lstm_row.split("|")[2].strip().endswith("*")
    assert "| spacy_cnn (n=2) |" in summary and "mean ± standard deviation over the seeds" in summary
    assert "| lstm | 0, 1 | +" in summary and "| yes, higher |" in summary
    prose = flat(summary)
    assert "scores higher than spacy_cnn on UPOS accuracy (p < 0.05)" in prose
    assert "not corrected for multiple comparisons" in prose
    assert "| lstm | 2 | 90.00 ± 0.00 | 0.8 ± 0.4 min |" in summary  # reaches 70.00 at 0.5 and 1.0 min
    assert "| spacy_cnn | 2 | 70.00 ± 0.00 | 3.0 ± 1.4 min |" in summary
    assert "metrics/pos-lstm/seed1.json" in summary
    for plot in ("score_by_length.png", "score_vs_speed.png", "learning_curves_pos.png"):
        assert (tmp_path / "results" / plot).stat().st_size > 1000, plot
        assert f"({plot})" in summary


def test_tagging_summary_reads_the_old_one_run_layout_too(tmp_path):
    tagging_tree(tmp_path)
    srsly.write_json(tmp_path / "metrics" / "pos-gru.json", tagging_metrics(0.5, 0))
    shutil.copy(tmp_path / "metrics" / "pos-lstm" / "seed0.json", tmp_path / "metrics" / "pos-lstm.json")
    result = run_script(PROJECTS / "tagging" / "scripts" / "summarize.py", "metrics", "results", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = (tmp_path / "results" / "summary.md").read_text(encoding="utf8")
    assert "| gru | 50.00 |" in summary  # one run: no n, no ±
    assert "| gru | – | – | – | – | not tested: no per-sentence results" in summary
    assert "gru was not tested against spacy_cnn" in flat(summary)
    # the runs per seed replace an old file of the same name
    assert "metrics/pos-lstm.json (one run, the old layout) is ignored" in flat(result.stdout)
    assert "| lstm (n=2) |" in summary


def run_without_matplotlib(script, cwd, *args):
    return subprocess.run([sys.executable, "-c", NO_MATPLOTLIB, str(script), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_summaries_are_written_without_matplotlib(tmp_path):
    tagging_tree(tmp_path / "tagging")
    translation_tree(tmp_path / "translation")
    demo_tree(tmp_path / "demo" / "metrics")
    for project in ("tagging", "translation", "demo"):
        extra = TEST_FILES if project == "translation" else []
        result = run_without_matplotlib(PROJECTS / project / "scripts" / "summarize.py", tmp_path / project,
                                        "metrics", "results", *extra)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
        assert flat(result.stdout).count('matplotlib is not installed: the summary is written without plots') == 1
        summary = (tmp_path / project / "results" / "summary.md").read_text(encoding="utf8")
        assert "not made: matplotlib is not installed" in summary and ".png)" not in summary
        assert not list((tmp_path / project / "results").glob("*.png"))
        assert "yes, higher" in summary, project


def translation_metrics(template, seed, name):
    metrics = dict(template, train_log=f"training/mt-{name}/seed{seed}/log.jsonl")
    metrics["training_config"] = {"max_minutes": 5, "eval_frequency": 100, "torch_threads": 1}
    return metrics


TEST_FILES = ["--test-source", "test.en", "--test-target", "test.de"]


def translation_tree(root):
    """metrics/ and training/ of mt-lstm (drops the end of every sentence) and mt-gru (exact),
    two seeds each, from the committed metrics of the translation project; and the test files
    (TEST_FILES) with the references."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "test.en").write_text("".join(f"source {i}\n" for i in range(len(REFERENCES))), encoding="utf8")
    (root / "test.de").write_text("".join(f"{r}\n" for r in REFERENCES), encoding="utf8")
    template = srsly.read_json(Path(__file__).parent / "data" / "translation_11min" / "lstm.json")
    for name, hypotheses, scores in [("lstm", [" ".join(r.split()[:4]) for r in REFERENCES], [0.1, 0.2]),
                                     ("gru", REFERENCES, [0.1, 0.3])]:
        for seed in (0, 1):
            folder = root / "metrics" / f"mt-{name}"
            folder.mkdir(parents=True, exist_ok=True)
            srsly.write_json(folder / f"seed{seed}.json", translation_metrics(template, seed, name))
            srsly.write_jsonl(folder / f"seed{seed}.sentences.jsonl",
                              [{"greedy": h, "beam": h} for h in hypotheses])
            log = root / "training" / f"mt-{name}" / f"seed{seed}" / "log.jsonl"
            log.parent.mkdir(parents=True, exist_ok=True)
            write_log(log, scores, 1.0)


def test_translation_summary_tests_bleu_and_chrf_with_sacrebleu(tmp_path):
    translation_tree(tmp_path)
    result = run_script(PROJECTS / "translation" / "scripts" / "summarize.py", "metrics", "results",
                        *TEST_FILES, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = (tmp_path / "results" / "summary.md").read_text(encoding="utf8")
    assert "| gru (n=2) | lstm | bahdanau | 20.46 ± 0.00 |" in summary and "| lstm (n=2) |" in summary
    assert "### BLEU" in summary and "### chrF" in summary
    prose = flat(summary)
    assert "scores higher than lstm on BLEU (p < 0.05)" in prose
    assert "scores higher than lstm on chrF (p < 0.05)" in prose
    assert "| gru | 2 | 30.00 ± 0.00 | 1.0 ± 0.0 min |" in summary  # lstm's final dev BLEU: 20.00
    assert "sacreBLEU's paired bootstrap (paired_bs" in summary
    assert "mt-gru/seed1.json" in summary
    assert (tmp_path / "results" / "learning_curves_mt.png").stat().st_size > 1000


def test_best_summary_tests_against_the_comparisons_lstm(tmp_path):
    translation_tree(tmp_path)
    (tmp_path / "metrics-best").mkdir()
    shutil.copytree(tmp_path / "metrics" / "mt-gru", tmp_path / "metrics-best" / "mt-best")
    script = PROJECTS / "translation" / "scripts" / "summarize.py"
    result = run_script(script, "metrics-best", "results-best", "--runs", "best", "--reference-from",
                        "metrics", *TEST_FILES, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = (tmp_path / "results-best" / "summary.md").read_text(encoding="utf8")
    assert summary.startswith("# Translation: best against lstm (spacy-rnn rnn_translator)")
    assert "| best (n=2) |" in summary and "| lstm (n=2) |" in summary and "| gru" not in summary
    assert "scores higher than lstm on BLEU (p < 0.05)" in flat(summary)
    assert "mt-best/seed1.json, metrics/mt-lstm/seed0.json, metrics/mt-lstm/seed1.json." in summary
    alone = run_script(script, "metrics-best", "results-alone", "--runs", "best", "--reference-from",
                       "gone", *TEST_FILES, cwd=tmp_path)
    assert alone.returncode == 0 and "No metrics of lstm in gone" in flat(alone.stdout)
    assert "Not tested: there is no lstm run" in (tmp_path / "results-alone" / "summary.md").read_text()


def test_translation_summary_without_the_test_files_tests_nothing(tmp_path):
    translation_tree(tmp_path)
    result = run_script(PROJECTS / "translation" / "scripts" / "summarize.py", "metrics", "results", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = (tmp_path / "results" / "summary.md").read_text(encoding="utf8")
    assert "no test references: pass --test-source and --test-target" in summary
    assert "### BLEU" not in summary
    missing = run_script(PROJECTS / "translation" / "scripts" / "summarize.py", "metrics", "results",
                         "--test-source", "gone.en", "--test-target", "gone.de", cwd=tmp_path)
    assert missing.returncode == 1 and "Test file not found: gone.en" in missing.stdout


def demo_tree(metrics_dir):
    """The demo's tagging metrics of three cells (two seeds) with per-sentence results: gru gets
    every long-range target right, lstm and rnn those of sentence_counts."""
    fake = load_script("demo", "train_cell").summarize
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for cell, extra in [("rnn", 0), ("lstm", 0), ("gru", 20)]:
        runs = [{"seed": s, "score": 0.7, "by_distance": {"1-5": 0.9}, "train_seconds": 12,
                 "wall_seconds": 15.0, "train_words_per_second": 1.0, "parameters": 1000} for s in (0, 1)]
        srsly.write_json(metrics_dir / f"tagging-{cell}.json",
                         {"task": "tagging", "cell": cell, "steps": 10, "seeds": [0, 1], "runs": runs, **fake(runs)})
        srsly.write_jsonl(metrics_dir / f"tagging-{cell}.sentences.jsonl",
                          [{"seed": s, **r} for s in (0, 1) for r in sentence_counts(s, extra)])


def test_demo_summary_tests_each_cell_against_lstm(tmp_path):
    demo_tree(tmp_path / "metrics")
    load_script("demo", "summarize").main(tmp_path / "metrics", tmp_path / "results")
    summary = (tmp_path / "results" / "summary.md").read_text(encoding="utf8")
    assert "| gru | 0, 1 | +" in summary and "| yes, higher |" in summary
    assert "| rnn | 0, 1 | +0.00 |" in summary and "| 1.000 | no |" in summary  # the same results as lstm
    prose = flat(summary)
    assert "gru (+" in prose and "scores higher than lstm on accuracy (p < 0.05)" in prose
    assert "does not separate rnn from lstm" in prose


def test_evaluate_tagger_writes_counts_that_give_spacys_scores(tmp_path):
    import spacy
    from spacy.tokens import Doc, Span
    from spacy.training import Example

    evaluate_tagger = load_script("tagging", "evaluate_tagger")
    nlp = spacy.blank("en")
    words = ["Anna", "met", "Bob", "in", "Paris", "today"]
    gold = Doc(nlp.vocab, words=words, pos=["PROPN", "VERB", "PROPN", "ADP", "PROPN", "NOUN"])
    gold.ents = [Span(gold, 0, 1, "PER"), Span(gold, 2, 3, "PER"), Span(gold, 4, 5, "LOC")]
    predicted = Doc(nlp.vocab, words=words, pos=["PROPN", "NOUN", "PROPN", "ADP", "NOUN", "NOUN"])
    predicted.ents = [Span(predicted, 0, 1, "PER"), Span(predicted, 4, 5, "ORG")]
    examples = [Example(predicted, gold), Example(Doc(nlp.vocab, words=["Hi"], pos=["INTJ"]),
                                                  Doc(nlp.vocab, words=["Hi"], pos=["INTJ"]))]
    pos = evaluate_tagger.sentence_results(examples, "pos")
    assert pos == [{"n": 6, "correct": 4}, {"n": 1, "correct": 1}]
    assert sum(r["correct"] for r in pos) / sum(r["n"] for r in pos) == evaluate_tagger.score(examples, "pos")
    ner = evaluate_tagger.sentence_results(examples, "ner")
    assert ner == [{"tp": 1, "fp": 1, "fn": 2}, {"tp": 0, "fp": 0, "fn": 0}]
    assert 2 * 1 / (2 * 1 + 1 + 2) == evaluate_tagger.score(examples, "ner")
    evaluate_tagger.write_result(tmp_path / "metrics" / "pos-x" / "seed3.json", {"score": 0.5}, pos)
    assert list(srsly.read_jsonl(tmp_path / "metrics" / "pos-x" / "seed3.sentences.jsonl")) == pos


def test_evaluate_translator_keeps_every_searchs_hypothesis_per_sentence():
    evaluate_translator = load_script("translation", "evaluate_translator")
    records = evaluate_translator.sentence_results({"greedy": ["Hund.", "Katze."], "beam": ["Ein Hund.", "Katze."]})
    assert records == [{"greedy": "Hund.", "beam": "Ein Hund."}, {"greedy": "Katze.", "beam": "Katze."}]
