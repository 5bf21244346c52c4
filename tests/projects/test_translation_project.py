"""The translation comparison project: the whole command chain on a tiny generated parallel
corpus in a copy of the project outside the repository (data_dir with the shared folder's layout),
the assets and their checksums, the configs it ships, the evaluation's output and errors, and
summarize on (edited copies of) the committed metrics."""
import copy
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import srsly

from project_corpora import (ROOT, SHARED_DATA, copy_project, joined_items, md5, outside_paths,
                             project_config, run_script)

from spacy_rnn.tune import DEFAULT_ALPHAS

PROJECT = ROOT / "projects" / "translation"
RUNS = ["rnn", "lstm", "gru", "lstm_luong", "lstm_none"]
TINY_MODEL = (" --components.rnn_translator.model.vocab_size 40 --components.rnn_translator.model.hidden 16"
              " --components.rnn_translator.model.emb_size 16")


@pytest.mark.slow
def test_translation_workflow_runs_end_to_end_in_a_copy(tmp_path, tiny_translation_data):
    project = copy_project("translation", tmp_path)
    command = [sys.executable, "-m", "spacy", "project", "run", "all", str(project),
               "--vars.data_dir", str(tiny_translation_data), "--vars.seeds", "0",
               "--vars.preset", "quick", "--vars.quick_minutes", "0.01", "--vars.eval_frequency", "3",
               "--vars.extra_overrides", TINY_MODEL]  # leading space: see project.yml
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for run in RUNS:
        seed_dir = project / "training" / f"mt-{run}" / "seed0"
        assert (seed_dir / "model-best" / "meta.json").is_file(), run
        assert list(srsly.read_jsonl(seed_dir / "log.jsonl")), run
        metrics = srsly.read_json(project / "metrics" / f"mt-{run}" / "seed0.json")
        check_metrics(run, metrics, project)
        assert metrics["training_config"]["max_minutes"] == 0.01  # the quick preset
        assert metrics["training_config"]["eval_frequency"] == 3
    summary = (project / "results" / "summary.md").read_text()
    assert all(run in summary for run in RUNS)
    assert "No training logs found" not in summary  # the dev BLEU curves of the v2 scorer's logs
    assert "nrefs:1|case:mixed|eff:no|tok:13a" in summary  # the BLEU signature
    assert "### BLEU" in summary and "| rnn | " in summary  # tested against lstm: the test files were read


@pytest.mark.slow
def test_best_workflow_runs_end_to_end_in_a_copy(tmp_path, tiny_translation_data):
    project = copy_project("translation", tmp_path)
    command = [sys.executable, "-m", "spacy", "project", "run", "best", str(project),
               "--vars.data_dir", str(tiny_translation_data), "--vars.seeds", "0",
               "--vars.best_minutes", "0.01", "--vars.best_eval_frequency", "3",
               "--vars.extra_overrides", TINY_MODEL]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    metrics = srsly.read_json(project / "metrics-best" / "mt-best" / "seed0.json")
    assert metrics["model_config"]["cell"] == "lstm" and metrics["model_config"]["attention"] == "luong"
    assert metrics["training_config"]["eval_frequency"] == 3
    assert metrics["training_config"]["max_minutes"] == 0.01
    summary = (project / "results-best" / "summary.md").read_text()
    assert summary.startswith("# Translation: best (spacy-rnn rnn_translator)")
    assert "nrefs:1|case:mixed|eff:no|tok:13a" in summary and "Not in the tables" not in summary
    assert not (project / "metrics").exists() or not any((project / "metrics").iterdir())


def check_metrics(run, metrics, project):
    attention = {"lstm_luong": "luong", "lstm_none": "none"}.get(run, "bahdanau")
    assert metrics["model_config"]["attention"] == attention
    assert metrics["model_config"]["cell"] == run.split("_")[0]
    assert metrics["greedy"]["beam_size"] == 1 and metrics["beam"]["beam_size"] == 5
    assert metrics["beam_int8"]["quantize"] == "int8" and metrics["beam_int8"]["beam_size"] == 5
    assert metrics["beam_int8"]["speedup"] > 0
    assert "cores" in metrics["machine"] and "torch " in metrics["machine"]
    for search in ("greedy", "beam", "greedy_int8", "beam_int8"):
        assert set(metrics[search]["by_length"]) == {"1-10", "11-15", "16-20", "21+"}
        assert metrics[search]["sentences_per_second"] > 0
    assert metrics["train_words"] > 0 and metrics["train_target_tokens_estimated"] > 0
    dev = [100 * r["scores"]["bleu"] for r in srsly.read_jsonl(project / metrics["train_log"])]
    assert metrics["best_dev_bleu"] == pytest.approx(max(dev))
    assert metrics["parameters"] > 0 and metrics["n_sentences"] == 20
    assert metrics["length_penalty"]["tuned_on"].endswith("val.en.gz")


def test_the_project_names_no_path_outside_itself():
    config = project_config(PROJECT)
    assert not outside_paths(config) and not joined_items(config)
    configs = {d for command in config["commands"] for d in command.get("deps", []) if d.endswith(".cfg")}
    assert configs == {f"configs/translator_{name}.cfg" for name in ("rnn", "lstm", "gru", "lstm_luong")}


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "lstm_luong"])
def test_the_project_configs_are_the_package_configs(name):
    filename = f"translator_{name}.cfg"
    assert (PROJECT / "configs" / filename).read_text() == (ROOT / "configs" / filename).read_text(), \
        f"copy configs/{filename} into the project"


def test_assets_live_in_data_dir_and_the_commands_read_them_there():
    config = project_config(PROJECT, data_dir="/data")
    dests = {asset["dest"] for asset in config["assets"]}
    assert dests == {f"/data/multi30k/{split}.{lang}.gz" for split in ("train", "val", "test_2016_flickr")
                     for lang in ("en", "de")}
    assert dests <= {dep for command in config["commands"] for dep in command.get("deps", [])}
    default = project_config(PROJECT)
    assert {asset["dest"].split("/")[0] for asset in default["assets"]} == {"assets"}


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="no shared data folder")
def test_declared_checksums_match_the_shared_copies():
    config = project_config(PROJECT, data_dir=str(SHARED_DATA))
    checked = {asset["dest"]: asset["checksum"] for asset in config["assets"]}
    assert {dest: md5(dest) for dest in checked} == checked


@pytest.mark.parametrize("beam", ["0", "-2"])
def test_evaluate_refuses_a_beam_below_one(tmp_path, beam):
    result = run_script(PROJECT / "scripts" / "evaluate_translator.py", tmp_path / "model",
                        tmp_path / "out.json", "--source", "test.src", "--target", "test.tgt",
                        "--train-source", "train.src", "--train-target", "train.tgt",
                        "--beam", beam, cwd=tmp_path)
    assert result.returncode == 2  # argparse's usage error, before anything is loaded
    assert f"argument --beam: must be >= 1 (1 = greedy search), got {beam}" in result.stderr
    assert not (tmp_path / "out.json").exists()


def test_evaluate_reports_each_search_and_records_the_training_settings(tmp_path, tiny_translation_data):
    data_dir = tiny_translation_data
    data = {name: data_dir / "multi30k" / f"{name}.gz" for name in
            ("train.en", "train.de", "val.en", "val.de", "test_2016_flickr.en", "test_2016_flickr.de")}
    train = subprocess.run(
        [sys.executable, "-m", "spacy", "train", str(ROOT / "configs" / "translator_lstm.cfg"),
         "--output", "training/lstm", "--paths.train_source", data["train.en"], "--paths.train_target",
         data["train.de"], "--paths.dev_source", data["val.en"], "--paths.dev_target", data["val.de"],
         "--training.max_steps", "4", "--training.batcher.max_minutes", "0.5",
         "--training.logger.@loggers", "spacy-rnn.JSONLLogger.v1", "--training.logger.path",
         "training/lstm/log.jsonl", "--training.eval_frequency", "3", *TINY_MODEL.split()],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-2000:]
    result = run_script(PROJECT / "scripts" / "evaluate_translator.py", "training/lstm/model-best",
                        "metrics/lstm.json", "--source", data["test_2016_flickr.en"], "--target",
                        data["test_2016_flickr.de"], "--train-source", data["train.en"],
                        "--train-target", data["train.de"], "--dev-source", data["val.en"],
                        "--dev-target", data["val.de"], "--int8", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    for search in ("greedy", "beam 5", "greedy int8", "beam 5 int8"):  # one line as each ends
        assert f"✔ {search}: 20 sentences, " in result.stdout, search
    assert "/20 [" in result.stderr  # tqdm's bar: sentences done / total [elapsed<left]
    metrics = srsly.read_json(tmp_path / "metrics" / "lstm.json")
    check_tuned_length_penalty(metrics, data["val.en"], result.stdout)
    greedy_only = run_script(PROJECT / "scripts" / "evaluate_translator.py", "training/lstm/model-best",
                             "metrics/greedy.json", "--source", data["test_2016_flickr.en"], "--target",
                             data["test_2016_flickr.de"], "--train-source", data["train.en"],
                             "--train-target", data["train.de"], "--dev-source", data["val.en"],
                             "--dev-target", data["val.de"], "--beam", "1", cwd=tmp_path)
    assert "--beam 1 is greedy search, which the length penalty does not change" in greedy_only.stdout
    assert srsly.read_json(tmp_path / "metrics" / "greedy.json")["length_penalty"]["tuned_on"] is None
    config = metrics["training_config"]
    assert config["max_minutes"] == 0.5 and config["eval_frequency"] == 3 and config["max_steps"] == 4
    assert config["train_source"] == str(data["train.en"])
    summary = run_summarize(tmp_path / "metrics", tmp_path / "results", cwd=tmp_path)
    assert ("budget 0.5 minutes per run; dev evaluation every 3 steps; torch threads 1; precision "
            "float32; SentencePiece vocabulary ") in summary
    assert "Multi30k en-de, test_2016_flickr (20 sentences)" in summary


def check_tuned_length_penalty(metrics, dev_source, stdout):
    """The alpha with the best dev BLEU (smaller alpha on a tie) is the one recorded and printed,
    and the one both beam searches on the test set used (greedy search takes none)."""
    chosen = metrics["length_penalty"]
    assert chosen["alpha"] != 0.6  # differs from the config's, so a lost hand-off would show
    assert metrics["beam"]["length_penalty"] == metrics["beam_int8"]["length_penalty"] == chosen["alpha"]
    assert metrics["greedy"]["length_penalty"] is None
    assert chosen["tuned_on"] == str(dev_source)
    rows = chosen["rows"]
    assert [row["alpha"] for row in rows] == pytest.approx(DEFAULT_ALPHAS)
    assert chosen["alpha"] == min(rows, key=lambda row: (-row["bleu"], row["alpha"]))["alpha"]
    assert f"length_penalty {chosen['alpha']:g} (best dev BLEU)" in stdout


def test_evaluate_refuses_a_dev_source_without_its_target(tmp_path):
    result = run_script(PROJECT / "scripts" / "evaluate_translator.py", tmp_path / "model", "out.json",
                        "--source", "s", "--target", "t", "--train-source", "a", "--train-target", "b",
                        "--dev-source", "val.en.gz", cwd=tmp_path)
    assert result.returncode == 1
    assert "--dev-source and --dev-target go together" in result.stdout
    assert not (tmp_path / "out.json").exists()


def test_evaluate_names_a_missing_model_and_its_training_step(tmp_path):
    result = run_script(PROJECT / "scripts" / "evaluate_translator.py", "training/gru/model-best",
                        "metrics/gru.json", "--source", "test.en", "--target", "test.de",
                        "--train-source", "train.en", "--train-target", "train.de", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "✘ No trained pipeline at training/gru/model-best" in result.stdout
    assert "python -m spacy project run train-gru" in result.stdout


def test_evaluate_names_the_training_step_of_a_seed_run(tmp_path):
    result = run_script(PROJECT / "scripts" / "evaluate_translator.py", "training/mt-lstm_luong/seed1/model-best",
                        "metrics/mt-lstm_luong/seed1.json", "--source", "test.en", "--target", "test.de",
                        "--train-source", "train.en", "--train-target", "train.de", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "python -m spacy project run train-lstm_luong" in result.stdout


def test_evaluate_names_a_missing_test_file_and_the_assets_command(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.cfg").write_text("")  # found: the data files are checked first
    for name in ("test.en", "train.en", "train.de"):
        (tmp_path / name).write_text("A dog.\n")
    result = run_script(PROJECT / "scripts" / "evaluate_translator.py", "model", "out.json",
                        "--source", "test.en", "--target", "assets/multi30k/test.de.gz",
                        "--train-source", "train.en", "--train-target", "train.de", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "✘ Missing data file assets/multi30k/test.de.gz" in result.stdout
    assert "python -m spacy project assets" in result.stdout
    assert not (tmp_path / "out.json").exists()


def run_summarize(metrics_dir, out_dir, *args, cwd, returncode=0):
    """summarize.py's printed output (the summary, then the warnings), whitespace collapsed
    (wasabi wraps long lines); checks the exit code."""
    result = run_script(PROJECT / "scripts" / "summarize.py", metrics_dir, out_dir, *args, cwd=cwd)
    assert result.returncode == returncode, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return " ".join(result.stdout.split())


# metrics of single 11-minute runs of every architecture (the evaluation's earlier one-run layout,
# metrics/<arch>.json): inputs for the summarize tests
ONE_RUN_METRICS = Path(__file__).parent / "data" / "translation_11min"


def committed_metrics(tmp_path, edit=None):
    """A copy of ONE_RUN_METRICS, each changed by edit(name, metrics) if given."""
    metrics_dir = tmp_path / "metrics"
    shutil.copytree(ONE_RUN_METRICS, metrics_dir)
    for path in metrics_dir.glob("*.json"):
        metrics = srsly.read_json(path)
        if edit:
            edit(path.stem, metrics)
        srsly.write_json(path, metrics)
    return metrics_dir


def test_committed_summary_is_what_summarize_writes(tmp_path):
    """The committed results/summary.md is summarize's output on the committed metrics (with
    the test files where the shared data is; without them the significance tests are left out)."""
    test_files = [SHARED_DATA / "multi30k" / f"test_2016_flickr.{lang}.gz" for lang in ("en", "de")]
    if not all(path.is_file() for path in test_files):
        pytest.skip("the Multi30k test files are not here (../shared/data)")
    output = run_summarize(PROJECT / "metrics", tmp_path / "results", "--test-source", test_files[0],
                           "--test-target", test_files[1], cwd=PROJECT)
    written = (tmp_path / "results" / "summary.md").read_text()
    assert written == (PROJECT / "results" / "summary.md").read_text()
    for folder in sorted((PROJECT / "metrics").iterdir()):
        for path in sorted(folder.glob("seed*.json")):
            assert f"Read {path} (modified " in output, path


def test_committed_best_summary_is_what_summarize_best_writes(tmp_path):
    """results-best/summary.md is summarize-best's output on the committed metrics, tested against
    the comparison's lstm."""
    test_files = [SHARED_DATA / "multi30k" / f"test_2016_flickr.{lang}.gz" for lang in ("en", "de")]
    if not all(path.is_file() for path in test_files):
        pytest.skip("the Multi30k test files are not here (../shared/data)")
    run_summarize(PROJECT / "metrics-best", tmp_path / "results-best", "--runs", "best", "--reference-from",
                  "metrics", "--test-source", test_files[0], "--test-target", test_files[1], cwd=PROJECT)
    written = (tmp_path / "results-best" / "summary.md").read_text()
    assert written == (PROJECT / "results-best" / "summary.md").read_text()
    assert "| best (n=3) |" in written and "| lstm (n=3) |" in written


def test_summarize_says_when_runs_differ_in_budget_and_beam(tmp_path):
    def edit(name, metrics):
        metrics["training_config"] = {"max_minutes": 6 if name == "lstm" else 11, "eval_frequency": 200,
                                      "torch_threads": 1}
        if name == "gru":
            metrics["beam"]["beam_size"] = 4
    output = run_summarize(committed_metrics(tmp_path, edit), tmp_path / "results", cwd=tmp_path)
    summary = (tmp_path / "results" / "summary.md").read_text()
    assert ("⚠ The runs differ in training budget: rnn: 11 minutes per run; lstm: 6 minutes per run; "
            "gru: 11 minutes per run;") in summary
    assert "⚠ The runs differ in beam size: rnn: 5; lstm: 5; gru: 4;" in summary
    assert "| BLEU beam | chrF beam |" in summary  # the header no longer takes the first run's beam
    assert "BLEU beam 5" not in summary and "(beam 5) |" in summary
    assert "| gru | gru | bahdanau | 21.98 | 46.50 | 23.34 (beam 4) |" in summary
    assert "dev evaluation every 200 steps" in summary
    assert "⚠ The runs differ in training budget" in output.split("![BLEU vs decoding speed]")[1]


def test_summarize_states_a_shared_budget_from_the_metrics(tmp_path):
    def edit(name, metrics):
        metrics["training_config"] = {"max_minutes": 11, "eval_frequency": 200, "torch_threads": 1}
        metrics["model_config"]["train_precision"] = "bfloat16"
    run_summarize(committed_metrics(tmp_path, edit), tmp_path / "results", cwd=tmp_path)
    summary = (tmp_path / "results" / "summary.md").read_text()
    assert ("budget 11 minutes per run; dev evaluation every 200 steps; torch threads 1; precision "
            "bfloat16; SentencePiece vocabulary 8,000 shared.") in summary
    assert "differ" not in summary


def test_summarize_states_each_runs_length_penalty_and_where_it_was_tuned(tmp_path):
    def edit(name, metrics):
        if name != "gru":  # gru: evaluated before the alpha was recorded
            tuned = name != "lstm_none"
            rows = [{"alpha": alpha, "bleu": 20.0, "chrf": 50.0, "length_ratio": 1.0} for alpha in (0.0, 1.2)]
            metrics["length_penalty"] = {"alpha": 0.8 if tuned else 0.6, "rows": rows if tuned else [],
                                         "tuned_on": "data/multi30k/val.en.gz" if tuned else None}
    run_summarize(committed_metrics(tmp_path, edit), tmp_path / "results", cwd=tmp_path)
    summary = (tmp_path / "results" / "summary.md").read_text()
    assert ("- Beam search length penalty (GNMT alpha), chosen on val.en.gz for each run not "
            "marked otherwise (best dev BLEU of beam search over alphas 0-1.2): rnn: 0.8; lstm: 0.8; gru: not "
            "recorded; lstm_luong: 0.8; lstm_none: 0.6 (the pipeline's own).") in summary


def test_summarize_flags_untrained_models(tmp_path):
    def edit(name, metrics):
        if name == "lstm_none":
            metrics["train_steps"] = 0
    output = run_summarize(committed_metrics(tmp_path, edit), tmp_path / "results", cwd=tmp_path)
    summary = (tmp_path / "results" / "summary.md").read_text()
    assert "| lstm_none ⚠ untrained | lstm | none |" in summary
    assert "⚠ Untrained (lstm_none): no dev evaluation after step 0" in summary
    warnings_after_summary = output.split("![BLEU vs decoding speed]")[1]
    assert "⚠ Untrained (lstm_none)" in warnings_after_summary  # repeated after the summary


def test_summarize_names_a_truncated_metrics_file(tmp_path):
    metrics_dir = committed_metrics(tmp_path)
    path = metrics_dir / "gru.json"
    path.write_text(path.read_text()[:500])
    output = run_summarize(metrics_dir, tmp_path / "results", cwd=tmp_path, returncode=1)
    assert f"✘ Unreadable metrics {path}: not valid JSON" in output
    assert "python -m spacy project run evaluate-gru" in output
    assert not (tmp_path / "results").exists()


def test_summarize_skips_unknown_files_and_lists_extra_runs(tmp_path):
    metrics_dir = committed_metrics(tmp_path)
    srsly.write_json(metrics_dir / "notes.json", {"comment": "not metrics"})
    (metrics_dir / "broken.json").write_text("{")
    shutil.copy(metrics_dir / "lstm.json", metrics_dir / "lstm_bf16.json")
    output = run_summarize(metrics_dir, tmp_path / "results", cwd=tmp_path)
    assert f"⚠ Skipping {metrics_dir / 'notes.json'}: no n_sentences" in output
    assert f"⚠ Skipping {metrics_dir / 'broken.json'}: not valid JSON" in output
    assert f"Read {metrics_dir / 'lstm_bf16.json'} (modified " in output
    assert "not one of this summary's runs" in output
    summary = (tmp_path / "results" / "summary.md").read_text()
    assert "| lstm_bf16 | lstm |" in summary and "lstm_none.json, lstm_bf16.json." in summary


def load_summarize():
    spec = importlib.util.spec_from_file_location("translation_summarize", PROJECT / "scripts" / "summarize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plots_colour_runs_style_searches_and_name_the_data(tmp_path):
    summarize = load_summarize()
    plt = summarize.pyplot()
    runs = summarize.load(ONE_RUN_METRICS)
    setting = summarize.settings(runs)
    by_length = summarize.plot_by_length(plt, runs, setting, tmp_path / "by_length.png")
    ax = by_length.axes[0]
    styles = {(line.get_color(), line.get_linestyle()) for line in ax.get_lines()}
    assert len(styles) == 2 * len(runs)  # a colour per run, solid beam and dashed greedy
    assert {style for _, style in styles} == {"-", "--"}
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "21+\n(n=37)"
    assert "Multi30k en-de, test_2016_flickr (1000 sentences)" in ax.get_title()
    assert "training budget not recorded, beam 5" in ax.get_title()
    by_length.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 > ax.get_window_extent().x1  # outside the axes
    vs_speed = summarize.plot_vs_speed(plt, runs, setting, tmp_path / "vs_speed.png")
    ax = vs_speed.axes[0]
    assert not ax.texts  # no point labels to overlap: a legend names the runs
    assert [t.get_text() for t in ax.get_legend().get_texts()] == RUNS + ["greedy", "beam 5"]
    assert "Multi30k en-de, test_2016_flickr" in ax.get_title()


def test_every_file_a_command_reads_is_a_dependency():
    """A rerun skips a step only if nothing it reads changed: scripts and data files are deps."""
    commands = srsly.read_yaml(PROJECT / "project.yml")["commands"]
    for command in commands:
        named = command.get("deps", []) + command.get("outputs", [])
        words = {word.strip('"') for line in command["script"] for word in line.split()}
        paths = {word for word in words if word.startswith(
            ("${vars.data_dir}/", "configs/", "scripts/", "training/", "metrics/", "metrics-best/"))}
        missing = [path for path in paths if not any(path == n or path.startswith(n + "/") for n in named)]
        assert not missing, (command["name"], missing)
    evaluate = next(c for c in commands if c["name"] == "evaluate-rnn")
    assert {"scripts/evaluate_translator.py", "training/mt-rnn"} <= set(evaluate["deps"])
    assert "${vars.data_dir}/multi30k/train.${vars.target_lang}.gz" in evaluate["deps"]


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_grid_trainings_take_the_precision_variable_and_best_keeps_its_own(precision):
    config = project_config(PROJECT, precision=precision)
    trainings = [c for c in config["commands"] if c["name"].startswith("train-")]
    assert {c["name"] for c in trainings} == {f"train-{run}" for run in RUNS} | {"train-best"}
    for command in trainings:
        overridden = "--components.rnn_translator.model.train_precision" in command["script"][0]
        assert overridden == (command["name"] != "train-best"), command["name"]
        if overridden:
            assert f"--components.rnn_translator.model.train_precision {precision}" in command["script"][0]


def test_the_best_workflow_trains_its_config_for_its_own_budget():
    config = project_config(PROJECT, preset="converge", quick_minutes=25)
    command = next(c for c in config["commands"] if c["name"] == "train-best")["script"][0]
    assert "configs/translator_lstm_luong.cfg training/mt-best" in command
    assert "--preset quick" in command and "--quick-minutes 75" in command
    assert "--training.eval_frequency 500" in command
    assert config["workflows"]["best"] == ["train-best", "evaluate-best", "summarize-best"]
    assert not set(config["workflows"]["best"]) & set(config["workflows"]["all"])


def test_every_evaluation_tunes_the_length_penalty_on_val():
    config = project_config(PROJECT)
    evaluations = [c for c in config["commands"] if c["name"].startswith("evaluate-")]
    assert len(evaluations) == len(RUNS) + 1  # and evaluate-best
    for command in evaluations:
        assert "--dev-source assets/multi30k/val.en.gz --dev-target assets/multi30k/val.de.gz" in command["script"][0]
        assert "assets/multi30k/val.de.gz" in command["deps"]


def load_evaluate():
    spec = importlib.util.spec_from_file_location("translation_evaluate",
                                                  PROJECT / "scripts" / "evaluate_translator.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("key", ["bleu", "translation_bleu"])
def test_best_dev_bleu_reads_either_scorers_key(tmp_path, key):
    log = tmp_path / "log.jsonl"
    srsly.write_jsonl(log, [{"step": s, "seconds": s, "scores": {key: b, "chrf": 0.9}}
                            for s, b in ((0, 0.01), (200, 0.31), (400, 0.27))])
    assert load_evaluate().best_dev_bleu(log) == pytest.approx(31.0)


def test_best_dev_bleu_of_a_log_without_bleu_is_unknown(tmp_path, capsys):
    log = tmp_path / "log.jsonl"
    srsly.write_jsonl(log, [{"step": 0, "seconds": 1, "scores": {"tag_acc": 0.5}}])
    assert load_evaluate().best_dev_bleu(log) is None
    assert "no dev BLEU in the training log" in " ".join(capsys.readouterr().out.split())


def test_runs_per_seed_replace_the_old_one_run_file(tmp_path):
    metrics_dir = committed_metrics(tmp_path)
    old = srsly.read_json(metrics_dir / "lstm.json")
    (metrics_dir / "mt-lstm").mkdir()
    for seed, bleu in ((0, 30.1), (1, 30.3)):
        new = copy.deepcopy(old)
        new["beam"]["bleu"] = bleu
        srsly.write_json(metrics_dir / "mt-lstm" / f"seed{seed}.json", new)
    output = run_summarize(metrics_dir, tmp_path / "results", cwd=tmp_path)
    assert f"{metrics_dir / 'lstm'}.json (one run, the old layout) is ignored" in output
    summary = (tmp_path / "results" / "summary.md").read_text()
    lstm_row = next(line for line in summary.splitlines() if line.startswith("| lstm (n=2) |"))
    assert "30.20 ± 0.14" in lstm_row
