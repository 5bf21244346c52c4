"""The demo workflow: a smoke test of the whole command chain on the shipped corpora with tiny
budgets, and fast tests of its deps/outputs, prepare, train_cell's checks and timing, and summarize."""
import filecmp
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import srsly

from project_corpora import copy_project, joined_items, outside_paths, project_config, run_script

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "projects" / "demo"
SCRIPTS = PROJECT / "scripts"
DEMO_DATA = ROOT / "assets" / "demo"
CELLS = ["rnn", "lstm", "gru"]
TASKS = ["tagging", "translation"]
_SCRIPTS = {}


@pytest.mark.slow
def test_demo_workflow_runs_end_to_end_in_a_copy(tmp_path):
    project = copy_project("demo", tmp_path)  # outside the repository: it generates its corpora
    command = [sys.executable, "-m", "spacy", "project", "run", "all", str(project),
               "--vars.seeds", "0 1", "--vars.tagging_steps", "4", "--vars.translation_steps", "3"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    generated = sorted(p.relative_to(project / "assets") for p in (project / "assets").rglob("*"))
    assert generated == sorted(p.relative_to(DEMO_DATA) for p in DEMO_DATA.rglob("*"))
    assert all(filecmp.cmp(project / "assets" / name, DEMO_DATA / name, shallow=False)
               for name in generated if (DEMO_DATA / name).is_file())  # the shipped corpora
    for name in ["corpus/tagging/train.spacy", "results/summary.md",
                 "results/accuracy_by_distance.png"]:
        assert (project / name).is_file(), name
    for task in ("tagging", "translation"):
        for cell in CELLS:
            assert (project / "metrics" / f"{task}-{cell}.json").is_file()
    summary = (project / "results" / "summary.md").read_text()
    for cell in CELLS:
        assert summary.count(f"| {cell} |") >= 2  # a row per cell in each task table
    assert "d 31-40" in summary
    assert (project / "results" / "accuracy_by_distance.png").stat().st_size > 10_000
    run = srsly.read_json(project / "metrics" / "tagging-rnn.json")["runs"][0]
    log = list(srsly.read_jsonl(project / "training" / "tagging-rnn" / "seed0" / "log.jsonl"))
    assert run["train_seconds"] == log[-1]["seconds"] <= run["wall_seconds"]  # from the log
    for task, fields in (("tagging", {"seed", "n", "correct"}),
                         ("translation", {"seed", "reference", "greedy"})):
        sentences = list(srsly.read_jsonl(project / "metrics" / f"{task}-gru.sentences.jsonl"))
        assert [r["seed"] for r in sentences] == [0] * 100 + [1] * 100  # per seed and test sentence
        assert all(set(r) == fields for r in sentences)
    targets = [len(r["targets"]) for r in srsly.read_jsonl(DEMO_DATA / "tagging" / "test.jsonl")]
    tagging = list(srsly.read_jsonl(project / "metrics" / "tagging-rnn.sentences.jsonl"))
    assert [r["n"] for r in tagging[:100]] == targets
    assert sum(r["correct"] for r in tagging[:100]) / sum(targets) == pytest.approx(run["score"])


def load_script(name):
    """A demo script as a module (cached: train_cell imports spaCy)."""
    if name not in _SCRIPTS:
        spec = importlib.util.spec_from_file_location(f"demo_{name}", SCRIPTS / f"{name}.py")
        _SCRIPTS[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_SCRIPTS[name])
    return _SCRIPTS[name]


def flat(text):
    """wasabi wraps long messages: compare with single spaces."""
    return " ".join(text.split())


def commands():
    return {c["name"]: c for c in srsly.read_yaml(PROJECT / "project.yml")["commands"]}


def test_the_project_names_no_path_outside_itself():
    config = project_config(PROJECT)
    assert not outside_paths(config) and not joined_items(config)
    generate = next(c for c in config["commands"] if c["name"] == "generate")
    assert {f"{config['vars']['data_dir']}/{task}" for task in TASKS} <= set(generate["outputs"])
    assert config["workflows"]["all"][:2] == ["generate", "prepare"]


def test_train_cell_saves_each_run_in_the_layout_summarize_reads():
    args = type("Args", (), {"training": "training", "task": "tagging", "cell": "gru"})
    assert load_script("train_cell").run_dir(args, 2) == Path("training/tagging-gru/seed2")


def test_training_and_summarize_deps_cover_what_the_scripts_read():
    train_cell, cmds = load_script("train_cell"), commands()
    for task, config in (("tagging", "configs/tagger.cfg"), ("translation", "configs/translator.cfg")):
        corpus = {str(p) for p in train_cell.corpus_files(task, Path("corpus")).values()}
        for cell in CELLS:
            deps = set(cmds[f"{task}-{cell}"]["deps"])
            assert corpus | {config, "scripts/train_cell.py"} <= deps, f"{task}-{cell}"
    metrics = {f"metrics/{task}-{cell}.json" for task in TASKS for cell in CELLS}
    assert metrics | {"scripts/summarize.py"} <= set(cmds["summarize"]["deps"])


def test_prepare_deps_and_outputs_list_every_corpus_file():
    prepare = commands()["prepare"]
    files = [f"{task}/{name}" for task, names in load_script("prepare").FILES.items() for name in names]
    assert {"scripts/prepare.py"} | {f"${{vars.data_dir}}/{f}" for f in files} <= set(prepare["deps"])
    spacy_files = {f"corpus/tagging/{split}.spacy" for split in ("train", "dev", "test")}
    assert set(prepare["outputs"]) == {f"corpus/{f}" for f in files} | spacy_files


def test_prepare_fails_before_copying_if_data_dir_lacks_a_file(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DEMO_DATA, data)
    (data / "tagging" / "test.jsonl").unlink()
    (data / "translation" / "dev.tgt").unlink()
    result = run_script(SCRIPTS / "prepare.py", data, "corpus", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    for text in (str(data), "tagging/test.jsonl", "translation/dev.tgt", "python -m spacy_rnn.synthetic"):
        assert text in flat(result.stdout)
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "corpus").exists()


def test_prepare_replaces_an_old_corpus_and_writes_its_outputs(tmp_path):
    assert run_script(SCRIPTS / "prepare.py", DEMO_DATA, "corpus", cwd=tmp_path).returncode == 0
    (tmp_path / "corpus" / "tagging" / "stale.jsonl").write_text("old\n")
    data = tmp_path / "data"
    shutil.copytree(DEMO_DATA, data)
    lines = (data / "tagging" / "test.jsonl").read_text().splitlines(keepends=True)
    (data / "tagging" / "test.jsonl").write_text("".join(lines[:10]))
    result = run_script(SCRIPTS / "prepare.py", data, "corpus", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test.jsonl -> .spacy (10 docs)" in result.stdout
    written = {str(p.relative_to(tmp_path)) for p in (tmp_path / "corpus").rglob("*") if p.is_file()}
    assert written == set(commands()["prepare"]["outputs"])  # stale.jsonl is gone


@pytest.mark.parametrize("script", ["prepare.py", "summarize.py"])
def test_scripts_without_arguments_print_their_usage(tmp_path, script):
    result = run_script(SCRIPTS / script, cwd=tmp_path)
    assert result.returncode == 2 and "usage:" in result.stderr
    assert "TypeError" not in result.stderr


def test_train_cell_checks_the_corpus_before_training(tmp_path):
    result = run_script(SCRIPTS / "train_cell.py", "translation", "gru", "--steps", "2",
                        "--data", tmp_path / "nocorpus", "--out", "metrics/x.json", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Run `spacy project run prepare`" in flat(result.stdout)
    assert "nocorpus/translation/train.src" in result.stdout
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "training").exists()


def test_train_stats_come_from_the_training_log(tmp_path):
    log = tmp_path / "log.jsonl"
    srsly.write_jsonl(log, [{"step": 0, "seconds": 1, "words": 0},
                            {"step": 600, "seconds": 12, "words": 30000}])
    stats = load_script("train_cell").train_stats(log)
    assert stats == {"train_seconds": 12, "train_words": 30000, "train_words_per_second": 2500.0}
    srsly.write_jsonl(log, [{"step": 3, "seconds": 0, "words": 90}])
    assert load_script("train_cell").train_stats(log)["train_words_per_second"] is None


def fake_metrics(task, cell, seeds=(0, 1), steps=600, words_per_second=1500.0):
    """A metrics JSON as train_cell.py writes it (its own summarize), without training."""
    runs = [{"seed": s, "score": 0.7 + 0.1 * s, "by_distance": {"1-5": 0.9, "11-20": 0.5 + 0.1 * s},
             "train_seconds": 12, "wall_seconds": 15.0, "train_words_per_second": words_per_second,
             "parameters": 1000} for s in seeds]
    return {"task": task, "cell": cell, "steps": steps, "seeds": list(seeds), "runs": runs,
            **load_script("train_cell").summarize(runs)}


def write_metrics(metrics_dir, *results):
    metrics_dir.mkdir(exist_ok=True)
    for result in results:
        srsly.write_json(metrics_dir / f"{result['task']}-{result['cell']}.json", result)


def test_summarize_warns_for_each_missing_metrics_file(tmp_path, capsys):
    write_metrics(tmp_path / "metrics", fake_metrics("tagging", "rnn"))
    load_script("summarize").main(tmp_path / "metrics", tmp_path / "results")
    out = flat(capsys.readouterr().out)
    for name in ["tagging-lstm", "tagging-gru", "translation-rnn", "translation-lstm", "translation-gru"]:
        assert f"metrics/{name}.json missing: run `spacy project run {name}`" in out
    assert "tagging-rnn.json missing" not in out


def test_summarize_shows_n_a_for_a_single_seed(tmp_path, capsys):
    write_metrics(tmp_path / "metrics", *[fake_metrics("tagging", c, seeds=(0,), words_per_second=None)
                                          for c in CELLS])
    load_script("summarize").main(tmp_path / "metrics", tmp_path / "results")
    summary = (tmp_path / "results" / "summary.md").read_text()
    assert "70.0 ± n/a" in summary and "± 0.0" not in summary
    assert "| 12.0 | n/a | 1,000 |" in summary
    assert "1 seed (0), 600 training steps per run; one seed, so no standard deviation (n/a)." in summary


def test_summarize_fails_when_cells_ran_with_different_settings(tmp_path, capsys):
    write_metrics(tmp_path / "metrics", fake_metrics("tagging", "rnn", seeds=(0,), steps=5),
                  fake_metrics("tagging", "lstm", seeds=(0, 1, 2), steps=600))
    with pytest.raises(SystemExit):
        load_script("summarize").main(tmp_path / "metrics", tmp_path / "results")
    out = flat(capsys.readouterr().out)
    assert "tagging-rnn: seeds 0, 5 steps" in out and "tagging-lstm: seeds 0 1 2, 600 steps" in out
    assert not (tmp_path / "results").exists()


def test_plot_labels_the_unit_the_seeds_and_the_chance_level(tmp_path):
    import matplotlib.pyplot as plt

    found = {(t, c): fake_metrics(t, c, steps=600 if t == "tagging" else 300)
             for t in TASKS for c in CELLS}
    fig = load_script("summarize").plot(found, tmp_path / "plot.png")
    tagging, translation = fig.axes
    assert tagging.get_ylabel() == "accuracy (%)" and translation.get_ylabel() == "BLEU"
    assert "mean of 2 seeds, band: min-max over seeds; 600 training steps" in tagging.get_title()
    assert "300 training steps" in translation.get_title()
    assert [line.get_ydata()[0] for line in tagging.lines if "chance" in line.get_label()] == [50]
    assert not [line for line in translation.lines if "chance" in line.get_label()]
    plt.close(fig)
