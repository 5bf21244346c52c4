"""The translation comparison project: the whole command chain on a tiny generated parallel
corpus (in a data_dir with the real folder layout) and checksum verification of the fetch step."""
import shutil
import subprocess
import sys

import pytest
import srsly

from project_corpora import ROOT, run_script

PROJECT = ROOT / "projects" / "translation"
GENERATED = ("assets", "training", "metrics", "results", "project.lock")
RUNS = ["rnn", "lstm", "gru", "lstm_luong", "lstm_none"]
TINY_MODEL = (" --components.rnn_translator.model.vocab_size 40 --components.rnn_translator.model.hidden 16"
              " --components.rnn_translator.model.emb_size 16 --training.eval_frequency 3")


def copy_project(tmp_path):
    project = tmp_path / "translation"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns(*GENERATED, "__pycache__"))
    return project


@pytest.mark.slow
def test_translation_workflow_runs_end_to_end(tmp_path, tiny_translation_data):
    data_dir, checksums = tiny_translation_data
    project = copy_project(tmp_path)
    command = [sys.executable, "-m", "spacy", "project", "run", "all", str(project),
               "--vars.data_dir", str(data_dir), "--vars.checksums", str(checksums),
               "--vars.configs_dir", str(ROOT / "configs"), "--vars.max_minutes", "0.01",
               "--vars.extra_overrides", TINY_MODEL]  # leading space: see project.yml
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for run in RUNS:
        assert (project / "training" / run / "model-best" / "meta.json").is_file(), run
        assert list(srsly.read_jsonl(project / "training" / run / "log.jsonl")), run
        metrics = srsly.read_json(project / "metrics" / f"{run}.json")
        check_metrics(run, metrics)
    summary = (project / "results" / "summary.md").read_text()
    sections = {part.split("\n")[0]: part for part in summary.split("\n## ")[1:]}
    main_table = next(text for title, text in sections.items() if title.startswith("Multi30k"))
    int8_table = next(text for title, text in sections.items() if title.startswith("Int8"))
    assert table_names(main_table) == sorted(RUNS)  # one row per architecture
    assert table_names(int8_table) == sorted(RUNS * 2)  # greedy and beam per architecture
    assert "nrefs:1|case:mixed|eff:no|tok:13a" in summary  # the BLEU signature
    for png in ("bleu_by_length.png", "bleu_vs_speed.png"):
        assert (project / "results" / png).stat().st_size > 10_000


def table_names(section):
    rows = [line.split(" | ")[0][2:] for line in section.splitlines() if line.startswith("| ")]
    return sorted(rows[1:])


def check_metrics(run, metrics):
    attention = {"lstm_luong": "luong", "lstm_none": "none"}.get(run, "bahdanau")
    assert metrics["model_config"]["attention"] == attention
    assert metrics["model_config"]["cell"] == run.split("_")[0]
    assert metrics["greedy"]["beam_size"] == 1 and metrics["beam"]["beam_size"] == 5
    assert metrics["beam_int8"]["quantize"] == "int8" and metrics["beam_int8"]["beam_size"] == 5
    assert metrics["beam_int8"]["speedup"] > 0
    for search in ("greedy", "beam", "greedy_int8", "beam_int8"):
        assert set(metrics[search]["by_length"]) == {"1-10", "11-15", "16-20", "21+"}
        assert metrics[search]["sentences_per_second"] > 0
    assert metrics["train_words"] > 0 and metrics["train_target_tokens_estimated"] > 0
    assert metrics["parameters"] > 0 and metrics["n_sentences"] == 20


def test_fetch_refuses_a_corrupted_local_file(tmp_path, tiny_translation_data):
    data_dir, checksums = tiny_translation_data
    project = copy_project(tmp_path)
    corrupted = data_dir / "multi30k" / "val.de.gz"
    expected = srsly.read_json(checksums)["multi30k/val.de.gz"]
    corrupted.write_bytes(corrupted.read_bytes()[:-4])
    result = run_script(project / "scripts" / "fetch_assets.py", "project.yml", "--data-dir",
                        data_dir, "--checksums", checksums, cwd=project)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert str(corrupted) in output and expected in output and "mismatch" in output
    assert not (project / "assets" / "multi30k" / "val.de.gz").exists()


def test_fetch_checks_the_published_checksums(tmp_path, tiny_translation_data):
    data_dir, _ = tiny_translation_data
    project = copy_project(tmp_path)
    result = run_script(project / "scripts" / "fetch_assets.py", "project.yml", "--data-dir",
                        data_dir, cwd=project)
    assert result.returncode == 1
    assert "0065d13af80720a55ca8153d126e6627" in result.stdout + result.stderr  # train.en.gz md5


@pytest.mark.parametrize("beam", ["0", "-2"])
def test_evaluate_refuses_a_beam_below_one(tmp_path, beam):
    result = run_script(PROJECT / "scripts" / "evaluate_translator.py", tmp_path / "model",
                        tmp_path / "out.json", "--source", "test.src", "--target", "test.tgt",
                        "--train-source", "train.src", "--train-target", "train.tgt",
                        "--beam", beam, cwd=tmp_path)
    assert result.returncode == 2  # argparse's usage error, before anything is loaded
    assert f"argument --beam: must be >= 1 (1 = greedy search), got {beam}" in result.stderr
    assert not (tmp_path / "out.json").exists()


def test_both_projects_ship_the_same_fetch_script():
    tagging = (ROOT / "projects" / "tagging" / "scripts" / "fetch_assets.py").read_text()
    assert (PROJECT / "scripts" / "fetch_assets.py").read_text() == tagging
