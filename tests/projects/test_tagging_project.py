"""The tagging comparison project: the whole command chain on tiny generated corpora in a copy
of the project outside the repository (data_dir with the shared folder's layout), the assets and
their checksums, the configs it ships, the seed loop (spacy_rnn.seeds), the IOB2 converter's errors, the deps of
project.yml, evaluate_tagger.py's input and --task checks, and what summarize.py states (budgets,
untrained runs, missing scores, unreadable metrics)."""
import importlib.util
import re
import subprocess
import sys

import pytest
import srsly

from project_corpora import (ROOT, SHARED_DATA, copy_project, joined_items, md5, outside_paths,
                             project_config, run_script)

PROJECT = ROOT / "projects" / "tagging"
POS_RUNS = ["spacy_cnn", "spacy_bilstm", "rnn", "lstm", "gru", "lstm_crf"]
NER_RUNS = ["spacy_cnn", "rnn_crf", "lstm_crf", "gru_crf"]
# the offline setting of the shared folder: its UNER train file is the project's draft
OFFLINE = {"uner_train": "uner_en_ewt/train.draft.iob2"}


def load_script(name, project=PROJECT):
    spec = importlib.util.spec_from_file_location(name, project / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# the runs the end-to-end test trains: the project's own configs (spaCy's baselines) and one
# recurrent tagger and entity recognizer; the others are the package's configs, which
# tests/test_configs.py trains, and project.yml's `all` is checked to name every run
E2E_POS_RUNS = ["spacy_cnn", "spacy_bilstm", "lstm_crf"]
E2E_NER_RUNS = ["spacy_cnn", "rnn_crf"]


def test_the_all_workflow_trains_and_evaluates_every_run():
    steps = project_config(PROJECT)["workflows"]["all"]
    runs = [f"pos-{n}" for n in POS_RUNS] + [f"ner-{n}" for n in NER_RUNS]
    assert steps == ["convert-ud", "convert-uner",
                     *[f"{verb}-{run}" for run in runs for verb in ("train", "evaluate")], "summarize"]


@pytest.mark.slow
def test_tagging_workflow_runs_end_to_end_in_a_copy(tmp_path, tiny_tagging_data):
    project = copy_project("tagging", tmp_path)
    runs = [f"pos-{n}" for n in E2E_POS_RUNS] + [f"ner-{n}" for n in E2E_NER_RUNS]
    variables = ["--vars.data_dir", str(tiny_tagging_data), "--vars.uner_train", OFFLINE["uner_train"],
                 "--vars.seeds", "0", "--vars.preset", "quick", "--vars.quick_minutes", "0.01",
                 "--vars.extra_overrides", " --training.eval_frequency 3"]  # leading space: see project.yml
    steps = ["convert-ud", "convert-uner", *[f"{verb}-{run}" for run in runs for verb in ("train", "evaluate")]]
    for step in steps:
        command = [sys.executable, "-m", "spacy", "project", "run", step, str(project), *variables]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, step + result.stdout[-3000:] + result.stderr[-3000:]
    # summarize's script itself: the step's deps want every run's metrics
    result = run_script(project / "scripts" / "summarize.py", "metrics", "results", "--threads", "1", cwd=project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for split in ("train", "dev", "test"):
        for corpus in ("pos", "tag", "ner"):
            assert (project / "corpus" / corpus / f"{split}.spacy").is_file()
    for run in runs:
        seed_dir = project / "training" / run / "seed0"
        assert (seed_dir / "model-best" / "meta.json").is_file(), run
        assert list(srsly.read_jsonl(seed_dir / "log.jsonl")), run
        metrics = srsly.read_json(project / "metrics" / run / "seed0.json")
        assert set(metrics["by_length"]) == {"1-10", "11-20", "21-40", "41+"}
        assert metrics["parameters"] > 0 and metrics["pipe_words_per_second"] > 0
        assert metrics["training_settings"]["max_minutes"] == 0.01, run  # the quick preset
        assert "cores" in metrics["machine"] and "torch " in metrics["machine"], run
    ner = srsly.read_json(project / "metrics" / "ner-rnn_crf" / "seed0.json")
    assert set(ner["ner"]["ents_per_type"]) <= {"PER", "ORG", "LOC"}
    summary = (project / "results" / "summary.md").read_text()
    assert all(name in summary for name in E2E_POS_RUNS + E2E_NER_RUNS)
    for task in ("POS", "NER"):
        assert (f"- {task}: machine (CPU, vector extensions, versions; recorded at evaluation): "
                f"{metrics['machine']}") in summary


def test_the_project_names_no_path_outside_itself():
    config = project_config(PROJECT)
    assert not outside_paths(config) and not joined_items(config)
    for command in config["commands"]:  # its configs are its own
        assert not [d for d in command.get("deps", []) if d.endswith(".cfg")
                    and not (PROJECT / d).is_file()], command["name"]


@pytest.mark.parametrize("name", ["tagger_rnn", "tagger_lstm", "tagger_gru", "tagger_lstm_crf",
                                  "ner_lstm_crf", "ner_gru_crf"])
def test_the_project_configs_are_the_package_configs(name):
    assert (PROJECT / "configs" / f"{name}.cfg").read_text() == \
        (ROOT / "configs" / f"{name}.cfg").read_text(), f"copy configs/{name}.cfg into the project"


def test_the_rnn_ner_config_is_the_lstm_one_with_a_vanilla_rnn():
    rnn = (PROJECT / "configs" / "ner_rnn_crf.cfg").read_text().splitlines()
    lstm = (ROOT / "configs" / "ner_lstm_crf.cfg").read_text().splitlines()
    changed = {(a, b) for a, b in zip(rnn, lstm) if a != b and not a.startswith("#")}
    assert len(rnn) == len(lstm) and changed == {('cell = "rnn"', 'cell = "lstm"')}


def test_assets_live_in_data_dir_and_the_commands_read_them_there():
    config = project_config(PROJECT, data_dir="/data", **OFFLINE)
    dests = {asset["dest"] for asset in config["assets"]}
    assert dests == {"/data/ud_en_ewt/train.conllu", "/data/ud_en_ewt/dev.conllu",
                     "/data/ud_en_ewt/test.conllu", "/data/uner_en_ewt/train.draft.iob2",
                     "/data/uner_en_ewt/en_ewt-ud-dev.iob2", "/data/uner_en_ewt/en_ewt-ud-test.iob2"}
    deps = {dep for command in config["commands"] for dep in command.get("deps", [])}
    assert dests <= deps  # each a single path (weasel can join list items: see project.yml)
    urls = [asset["url"] for asset in config["assets"]]
    assert all("/UD_English-EWT/r2.16/" in url for url in urls if "UniversalDependencies" in url)
    default = project_config(PROJECT)
    assert {asset["dest"].split("/")[0] for asset in default["assets"]} == {"assets"}


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="no shared data folder")
def test_declared_checksums_match_the_shared_copies():
    config = project_config(PROJECT, data_dir=str(SHARED_DATA), **OFFLINE)
    checked = {asset["dest"]: asset["checksum"] for asset in config["assets"] if asset.get("checksum")}
    assert len(checked) == 4  # train files: no published md5 (see project.yml)
    assert {dest: md5(dest) for dest in checked} == checked


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="no shared data folder")
def test_assets_offline_only_verify_the_local_copies(tmp_path):
    project = copy_project("tagging", tmp_path)
    command = [sys.executable, "-m", "spacy", "project", "assets", str(project),
               "--vars.data_dir", str(SHARED_DATA), "--vars.uner_train", OFFLINE["uner_train"]]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    output = " ".join(result.stdout.split())
    assert result.returncode == 0 and "✘" not in output, output
    assert output.count("Skipping download with matching checksum") == 4
    assert not (project / "assets").exists() or not any((project / "assets").iterdir())


def test_assets_report_a_local_copy_with_the_wrong_checksum(tmp_path, tiny_tagging_data):
    project = copy_project("tagging", tmp_path)
    before = md5(tiny_tagging_data / "ud_en_ewt" / "dev.conllu")
    command = [sys.executable, "-m", "spacy", "project", "assets", str(project),
               "--vars.data_dir", str(tiny_tagging_data), "--vars.uner_train", OFFLINE["uner_train"]]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    output = " ".join(result.stdout.split())
    assert f"Checksum doesn't match value defined in project.yml: {tiny_tagging_data}/ud_en_ewt/dev.conllu" \
        in output
    assert output.count("Checksum doesn't match") == 4
    assert md5(tiny_tagging_data / "ud_en_ewt" / "dev.conllu") == before  # never overwritten


# spacy_rnn.seeds: the loop over seeds of the train and evaluate commands

def trained_seeds(calls):
    return [int(command[command.index("--system.seed") + 1]) for command in calls]


def test_seeds_train_skips_finished_runs_and_retrains_when_something_changed(tmp_path, monkeypatch):
    import spacy_rnn.seeds as seeds
    calls = []

    def fake_spacy_train(command):  # saves model-best as spacy train does
        calls.append(command)
        (tmp_path / command[command.index("--output") + 1] / "model-best").mkdir(parents=True)
    monkeypatch.setattr(seeds, "run", fake_spacy_train)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.cfg").write_text("[training]\n")
    grid = ["train", "x.cfg", "training/pos-x", "--preset", "quick", "--quick-minutes", "2",
            "--patience", "700", "--max-minutes", "90"]
    seeds.main(grid + ["--seeds", "0", "1", "--", "--paths.train", "x.cfg"])
    assert trained_seeds(calls) == [0, 1]
    first = calls[0]
    assert first[first.index("--output") + 1] == "training/pos-x/seed0"
    assert first[first.index("--training.logger.@loggers") + 1] == "spacy-rnn.JSONLLogger.v1"
    assert first[first.index("--training.logger.path") + 1] == "training/pos-x/seed0/log.jsonl"
    assert first[-6:] == ["--training.patience", "0", "--training.batcher.max_minutes", "2.0",
                          "--paths.train", "x.cfg"]
    calls.clear()
    seeds.main(grid + ["--seeds", "0", "1", "2", "--", "--paths.train", "x.cfg"])
    assert trained_seeds(calls) == [2]  # a new seed trains alone
    calls.clear()
    (tmp_path / "training" / "pos-x" / "seed0" / "stale.txt").write_text("old run")
    (tmp_path / "x.cfg").write_text("[training]\ndropout = 0.2\n")  # a file it reads changed
    seeds.main(grid + ["--seeds", "0", "--", "--paths.train", "x.cfg"])
    assert trained_seeds(calls) == [0]
    assert not (tmp_path / "training" / "pos-x" / "seed0" / "stale.txt").exists()
    calls.clear()
    seeds.main(["converge" if word == "quick" else word for word in grid]
               + ["--seeds", "0", "--", "--paths.train", "x.cfg"])
    assert trained_seeds(calls) == [0]  # another preset: another command
    assert calls[0][-6:-2] == ["--training.patience", "700", "--training.batcher.max_minutes", "90.0"]


@pytest.mark.slow
def test_the_converge_preset_stops_when_the_dev_score_stops_improving(tmp_path, tiny_tagging_data):
    """A real converge run: spaCy's patience ends the training long before its step limit, once
    the dev score has not improved for `patience` steps."""
    project = copy_project("tagging", tmp_path)
    variables = ["--vars.data_dir", str(tiny_tagging_data), "--vars.seeds", "0", "--vars.preset", "converge",
                 "--vars.patience", "6", "--vars.max_minutes", "10",
                 "--vars.extra_overrides", " --training.eval_frequency 2 --training.max_steps 1000"]
    for step in ("convert-ud", "train-pos-spacy_cnn"):
        command = [sys.executable, "-m", "spacy", "project", "run", step, str(project), *variables]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, step + result.stdout[-3000:] + result.stderr[-3000:]
    records = [r for r in srsly.read_jsonl(project / "training" / "pos-spacy_cnn" / "seed0" / "log.jsonl")
               if r.get("score") is not None]
    steps = [r["step"] for r in records]
    best = max(records, key=lambda r: r["score"])["step"]  # the first evaluation with the best score
    assert steps[-1] < 1000 and steps[-1] - best >= 6, steps


def test_seeds_each_runs_the_command_once_per_seed_and_stops_at_a_failure(tmp_path):
    write = "import sys; open('out' + sys.argv[1], 'w').close(); sys.exit(int(sys.argv[1]) % 5)"
    result = run_script("-m", "spacy_rnn.seeds", "each", "--seeds", "0", "5", "--", "python", "-c", write, "{seed}",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out0", "out5"]
    result = run_script("-m", "spacy_rnn.seeds", "each", "--seeds", "6", "7", "--", "python", "-c", write, "{seed}",
                        cwd=tmp_path)
    assert result.returncode == 1 and "Failed (exit code 1)" in result.stdout
    assert not (tmp_path / "out7").exists()  # stopped at the first failure
    result = run_script("-m", "spacy_rnn.seeds", "each", "--seeds", "1", cwd=tmp_path)
    assert result.returncode == 1 and "put the command after --" in result.stdout


def write_iob2(path, rows):
    path.write_text("# sent_id = s1\n" + "".join("\t".join(r) + "\n" for r in rows) + "\n",
                    encoding="utf8")
    return path


def test_convert_iob2_names_file_and_line_of_a_stray_i_tag(tmp_path):
    convert_iob2 = load_script("convert_iob2")
    path = write_iob2(tmp_path / "x.iob2", [("1", "in", "O", "-", "-"), ("2", "Paris", "I-LOC", "-", "-")])
    nlp = __import__("spacy").blank("en")
    with pytest.raises(convert_iob2.IOBError, match=r"x\.iob2, line 3: I-LOC follows O"):
        convert_iob2.convert(path, nlp)
    docs, counts = convert_iob2.convert(path, nlp, repair=True)
    assert [(e.text, e.label_) for e in docs[0].ents] == [("Paris", "LOC")]
    assert counts["repaired"] == 1


@pytest.mark.parametrize("row,message", [
    (("1", "Paris"), "expected at least 3 tab-separated columns"),
    (("2", "Paris", "B-LOC"), "token ID '2' where 1 was expected"),
    (("1", "Paris", "LOC"), "invalid IOB2 tag 'LOC'"),
])
def test_convert_iob2_rejects_invalid_lines(tmp_path, row, message):
    convert_iob2 = load_script("convert_iob2")
    path = write_iob2(tmp_path / "bad.iob2", [row])
    with pytest.raises(convert_iob2.IOBError, match=rf"bad\.iob2, line 2: {message}"):
        convert_iob2.convert(path, __import__("spacy").blank("en"))


def test_convert_iob2_drops_types_when_asked(tmp_path):
    convert_iob2 = load_script("convert_iob2")
    rows = [("1", "Acme", "B-OTH", "-", "-"), ("2", "Paris", "B-LOC", "-", "-")]
    docs, counts = convert_iob2.convert(write_iob2(tmp_path / "x.iob2", rows),
                                        __import__("spacy").blank("en"), drop_types=["OTH"])
    assert [e.label_ for e in docs[0].ents] == ["LOC"] and counts["dropped OTH"] == 1


def test_convert_iob2_names_file_and_line_of_a_non_utf8_byte(tmp_path):
    convert_iob2 = load_script("convert_iob2")
    path = write_iob2(tmp_path / "latin1.iob2", [("1", "in", "O"), ("2", "Paris", "B-LOC")])
    path.write_bytes(path.read_bytes().replace(b"Paris", b"Par\xeds"))  # latin-1 í
    with pytest.raises(convert_iob2.IOBError, match=r"latin1\.iob2, line 3: not valid UTF-8 "
                       r"\(invalid continuation byte at byte 5 of the line\)\. Convert the file"):
        convert_iob2.convert(path, __import__("spacy").blank("en"))


@pytest.mark.parametrize("column", ["0", "-1"])
def test_convert_iob2_rejects_a_tag_column_below_1(tmp_path, capsys, column):
    convert_iob2 = load_script("convert_iob2")
    path = write_iob2(tmp_path / "x.iob2", [("1", "Paris", "B-LOC", "-", "-")])
    with pytest.raises(SystemExit) as info:
        convert_iob2.main([str(path), str(tmp_path / "x.spacy"), "--tag-column", column])
    assert info.value.code == 2
    assert (f"argument --tag-column: must be 1 or more (columns count from 1), got {column}"
            in capsys.readouterr().err)
    assert not (tmp_path / "x.spacy").exists()


def test_every_script_a_command_runs_is_one_of_its_deps():
    commands = srsly.read_yaml(PROJECT / "project.yml")["commands"]
    for command in commands:
        scripts = set(re.findall(r"scripts/\w+\.py", " ".join(command["script"])))
        assert scripts <= set(command.get("deps", [])), command["name"]
    assert len([c for c in commands if "scripts/evaluate_tagger.py" in c.get("deps", [])]) == 10


# evaluate_tagger.py: inputs checked, a --task that does not fit refused, settings recorded

WORDS = ["Anna", "sees", "the", "dog", "in", "Paris"]
UPOS = ["PROPN", "VERB", "DET", "NOUN", "ADP", "PROPN"]


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory):
    """An initialized (untrained) spaCy tagger + ner saved as training/pos-tiny/model-best, with
    a time-limited batcher of 3 minutes and eval_frequency 7 in its config."""
    import spacy
    from spacy.tokens import Doc
    from spacy.training import Example
    batcher = {"@batchers": "spacy.batch_by_words.v1", "size": 100, "tolerance": 0.2,
               "discard_oversize": False}
    nlp = spacy.blank("en", config={"training": {"eval_frequency": 7, "batcher": {
        "@batchers": "spacy-rnn.time_limited_batcher.v1", "max_minutes": 3, "batcher": batcher}}})
    nlp.add_pipe("tagger")
    nlp.add_pipe("ner")
    gold = Doc(nlp.vocab, words=WORDS, tags=UPOS, pos=UPOS, ents=["B-PER"] + ["O"] * 4 + ["B-LOC"])
    nlp.initialize(lambda: [Example(Doc(nlp.vocab, words=WORDS), gold)])
    model = tmp_path_factory.mktemp("eval") / "training" / "pos-tiny" / "model-best"
    model.parent.mkdir(parents=True)
    nlp.to_disk(model)
    return model


def write_test_docs(path, **annotations):
    import spacy
    from spacy.tokens import Doc, DocBin
    vocab = spacy.blank("en").vocab
    DocBin(docs=[Doc(vocab, words=WORDS, **annotations)] * 3).to_disk(path)
    return path


@pytest.mark.parametrize("task,annotations,message", [
    ("pos", {"pos": UPOS, "tags": UPOS}, r"--task pos does not fit .*model-best.*token\.pos, "
     r"which its pipes \(tagger, ner\) do not set: use --task tag or ner"),
    ("tag", {"pos": UPOS}, r"--task tag: the gold docs of .*pos\.spacy have no token\.tag"),
    ("ner", {"tags": UPOS}, r"--task ner: the gold docs of .*pos\.spacy have no doc\.ents"),
])
def test_evaluate_refuses_a_task_that_does_not_fit(tmp_path, tiny_pipeline, task, annotations,
                                                   message):
    evaluate_tagger = load_script("evaluate_tagger")
    test = write_test_docs(tmp_path / "pos.spacy", **annotations)
    with pytest.raises(evaluate_tagger.EvaluationError) as info:
        evaluate_tagger.evaluate(tiny_pipeline, test, task, threads=1)
    assert re.search(message, " ".join(info.value.args)), info.value.args


def test_evaluate_records_the_training_settings(tmp_path, tiny_pipeline):
    evaluate_tagger = load_script("evaluate_tagger")
    test = write_test_docs(tmp_path / "tag.spacy", tags=UPOS)
    result = evaluate_tagger.evaluate(tiny_pipeline, test, "tag", threads=1)
    settings = result["training_settings"]
    assert settings["max_minutes"] == 3 and settings["eval_frequency"] == 7
    assert settings["seed"] == 0  # interpolated from ${system.seed}


def test_evaluate_names_a_missing_test_file_or_model_and_the_step(tmp_path, tiny_pipeline):
    script = PROJECT / "scripts" / "evaluate_tagger.py"
    out = tmp_path / "m.json"
    result = run_script(script, "corpus/pos/tst.spacy", "--task", "pos", "--model", tiny_pipeline,
                        "--out", out, cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "✘ Test file corpus/pos/tst.spacy not found" in result.stdout
    assert "convert-ud" in result.stdout
    test = write_test_docs(tmp_path / "test.spacy", pos=UPOS)
    missing = tiny_pipeline.parent / "model-last"
    result = run_script(script, test, "--task", "pos", "--model", tiny_pipeline, "--model", missing,
                        "--out", out, "--out", tmp_path / "m2.json", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"No trained pipeline at {missing}" in result.stdout.replace("\n", " ")
    assert "spacy project run train-pos-tiny" in result.stdout and "--vars.checkpoint" in result.stdout
    assert not out.exists()  # checked before anything was evaluated


# summarize.py

def metrics(task="pos", score=0.9, settings=None, **extra):
    """A metrics dict as evaluate_tagger.py writes it (settings=None: an older file without them)."""
    result = {"task": task, "score": score, "pipe_words_per_second": 1000.0, "size_bytes": 10**6,
              "parameters": 1000, "torch_threads": 1, "train_seconds": 60, "train_steps": 100,
              "train_words_per_second": 500.0,
              "by_length": {b: {"n": n, "score": score} for b, n in
                            zip(["1-10", "11-20", "21-40", "41+"], [5, 4, 3, 2])}}
    if task == "ner":
        result["ner"] = {"ents_p": score, "ents_r": score, "ents_f": score,
                         "ents_per_type": {"PER": {"p": score, "r": score, "f": score}}}
    if settings is not None:
        result["training_settings"] = settings
    return {**result, **extra}


def run_summarize(tmp_path, files, *args):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir(exist_ok=True)
    for name, content in files.items():
        path = metrics_dir / name
        path.write_text(content, encoding="utf8") if isinstance(content, str) else \
            srsly.write_json(path, content)
    result = run_script(PROJECT / "scripts" / "summarize.py", "metrics", "results", *args,
                        cwd=tmp_path)
    summary = tmp_path / "results" / "summary.md"
    return result, summary.read_text(encoding="utf8") if summary.exists() else None


def test_committed_summary_is_what_summarize_writes(tmp_path):
    """results/summary.md is summarize's output on the committed metrics and training logs, so the
    README's tables (copied from it) come from the runs' files."""
    result = run_script(PROJECT / "scripts" / "summarize.py", "metrics", tmp_path / "results",
                        "--threads", "1", cwd=PROJECT)
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "results" / "summary.md").read_text(encoding="utf8")
    assert written == (PROJECT / "results" / "summary.md").read_text(encoding="utf8")
    for path in sorted((PROJECT / "metrics").glob("*/seed*.json")):
        assert str(path.relative_to(PROJECT)) in written, path


def test_summarize_states_the_budget_from_the_metrics(tmp_path):
    settings = {"max_minutes": 6, "eval_frequency": 500}
    result, summary = run_summarize(tmp_path, {"pos-rnn.json": metrics(settings=settings),
                                               "ner-rnn_crf.json": metrics("ner", settings=settings)},
                                    "--max-minutes", "10")
    assert result.returncode == 0, result.stdout + result.stderr
    for task in ("POS", "NER"):
        assert (f"- {task}: training budget (wall clock, time-limited batcher): 6 minutes, as every "
                "run's metrics record.") in summary
        assert f"- {task}: dev evaluation interval: 500 steps, as every run's metrics record." in summary
    assert "10 minutes" not in summary  # --max-minutes only stands in for unrecorded budgets
    assert "metrics/pos-rnn.json" in summary and "Read metrics/ner-rnn_crf.json" in result.stdout


def test_summarize_flags_differing_and_unrecorded_budgets(tmp_path):
    result, summary = run_summarize(tmp_path, {
        "pos-rnn.json": metrics(settings={"max_minutes": 2, "eval_frequency": 200}),
        "pos-lstm.json": metrics(), "pos-gru.json": metrics()}, "--max-minutes", "6")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("**⚠ POS: training budget (wall clock, time-limited batcher) differs between the runs, "
            "so they are not comparable**: 2 minutes: rnn; 6 minutes as given to summarize (not "
            "recorded in the metrics, so not checked): lstm, gru.") in summary
    assert "200 steps: rnn; not recorded in the metrics: lstm, gru" in summary
    assert "differs between the runs" in result.stdout
    result, summary = run_summarize(tmp_path, {"pos-rnn.json": metrics()})  # no fallback given
    assert "- POS: training budget (wall clock, time-limited batcher): not recorded in the metrics." \
        in summary


def test_summarize_checks_settings_within_a_task_and_sums_training_time(tmp_path):
    """POS and NER may have budgets of their own; each table's runs must agree."""
    pos, ner = {"max_minutes": 15, "eval_frequency": 500}, {"max_minutes": 12, "eval_frequency": 200}
    result, summary = run_summarize(tmp_path, {
        "pos-rnn.json": metrics(settings=pos, train_seconds=600),
        "pos-lstm.json": metrics(settings=pos, train_seconds=1200),
        "ner-rnn_crf.json": metrics("ner", settings=ner, train_seconds=360)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "differs between the runs" not in summary
    assert "- NER: training budget (wall clock, time-limited batcher): 12 minutes" in summary
    assert ("- POS: 2 trainings; training time up to each run's last dev evaluation, summed over the "
            "2 runs whose logs record it: 0.5 h") in summary
    assert "- NER: 1 training; training time" in summary


def test_summarize_shows_missing_scores_as_dashes_and_flags_untrained_runs(tmp_path):
    untrained = metrics("ner", score=None, train_steps=0, ner=None)
    untrained["by_length"]["1-10"]["score"] = 0.5
    result, summary = run_summarize(tmp_path, {"ner-gru_crf.json": untrained,
                                               "ner-rnn_crf.json": metrics("ner")})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| gru_crf ⚠ untrained | – | – | – | – | – | – | 50.00 | – | – | – | 60 |" in summary
    assert "**⚠ untrained**: NER gru_crf: no dev evaluation after step 0" in summary
    assert "Untrained: NER gru_crf" in result.stdout  # the warning is repeated
    assert (tmp_path / "results" / "score_vs_speed.png").stat().st_size > 1000


@pytest.mark.parametrize("content,message", [
    ('{"task": "pos", "score": 0.9', r"Cannot read .*pos-rnn\.json: not valid JSON"),
    ('{"task": "pos", "score": 0.9}', r"Unexpected metrics in .*pos-rnn\.json: missing by_length"),
    (srsly.json_dumps(metrics("dep")), r"Unexpected metrics in .*pos-rnn\.json: unknown task 'dep'"),
])
def test_summarize_names_an_unreadable_metrics_file(tmp_path, content, message):
    result, summary = run_summarize(tmp_path, {"pos-lstm.json": metrics(), "pos-rnn.json": content})
    output = result.stdout.replace("\n", " ")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert re.search(message, output) and "evaluate-pos-rnn" in output
    assert summary is None


def test_summarize_skips_a_json_file_that_is_no_metrics(tmp_path):
    result, summary = run_summarize(tmp_path, {"pos-lstm.json": metrics(), "notes.json": "[1, 2]"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Skipping" in result.stdout and "notes.json" in result.stdout
    assert "Metrics read (1 files): " in summary and "notes.json" not in summary


def test_summarize_plots_a_run_in_the_same_colour_in_both_panels():
    summarize = load_script("summarize")
    runs = {"POS": {"spacy_cnn": {}, "lstm_crf": {}, "gru": {}}, "NER": {"lstm_crf": {}, "rnn_crf": {}}}
    colour = summarize.colours(runs, summarize.pyplot())
    assert len(set(colour.values())) == 4 and set(colour) == {"spacy_cnn", "lstm_crf", "gru", "rnn_crf"}
    assert summarize.bucket_labels({"a": metrics(), "b": metrics()})[-1] == "41+\n(n=2)"
    assert summarize.Y_LABELS == {"POS": "UPOS accuracy (%)", "NER": "entity F1 (%)"}


def test_convert_iob2_checks_every_input_before_converting_any(tmp_path, capsys):
    convert_iob2 = load_script("convert_iob2")
    first = write_iob2(tmp_path / "train.iob2", [("1", "Paris", "B-LOC", "-", "-")])
    missing = tmp_path / "dev.iob2"
    with pytest.raises(SystemExit) as info:
        convert_iob2.main([str(first), str(tmp_path / "train.spacy"), str(missing),
                           str(tmp_path / "dev.spacy")])
    output = capsys.readouterr().out.replace("\n", " ")
    assert info.value.code == 1
    assert "Missing IOB2 input" in output and f"not found: {missing}" in output
    assert "spacy project assets" in output
    assert not (tmp_path / "train.spacy").exists()  # nothing converted


def test_convert_iob2_writes_nothing_if_a_later_file_is_invalid(tmp_path, capsys):
    convert_iob2 = load_script("convert_iob2")
    first = write_iob2(tmp_path / "train.iob2", [("1", "Paris", "B-LOC", "-", "-")])
    bad = write_iob2(tmp_path / "dev.iob2", [("1", "Paris", "LOC", "-", "-")])
    with pytest.raises(SystemExit):
        convert_iob2.main([str(first), str(tmp_path / "train.spacy"), str(bad),
                           str(tmp_path / "dev.spacy")])
    assert "invalid IOB2 tag 'LOC'" in capsys.readouterr().out
    assert not (tmp_path / "train.spacy").exists()
