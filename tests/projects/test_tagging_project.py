"""The tagging comparison project: the whole command chain on tiny generated corpora (in a
data_dir with the real folder layout), checksum verification of the fetch step, and the IOB2
converter's errors."""
import importlib.util
import shutil
import subprocess
import sys

import pytest
import srsly

from project_corpora import ROOT, run_script

PROJECT = ROOT / "projects" / "tagging"
GENERATED = ("assets", "corpus", "training", "metrics", "results", "project.lock")
POS_RUNS = ["spacy_cnn", "spacy_bilstm", "rnn", "lstm", "gru", "lstm_crf"]
NER_RUNS = ["spacy_cnn", "rnn_crf", "lstm_crf", "gru_crf"]


def copy_project(tmp_path):
    project = tmp_path / "tagging"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns(*GENERATED, "__pycache__"))
    return project


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, PROJECT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_tagging_workflow_runs_end_to_end(tmp_path, tiny_tagging_data):
    data_dir, checksums = tiny_tagging_data
    project = copy_project(tmp_path)
    command = [sys.executable, "-m", "spacy", "project", "run", "all", str(project),
               "--vars.data_dir", str(data_dir), "--vars.checksums", str(checksums),
               "--vars.configs_dir", str(ROOT / "configs"), "--vars.max_minutes", "0.01",
               "--vars.extra_overrides", " --training.eval_frequency 3"]  # leading space: see project.yml
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for split in ("train", "dev", "test"):
        for corpus in ("pos", "tag", "ner"):
            assert (project / "corpus" / corpus / f"{split}.spacy").is_file()
    runs = [f"pos-{n}" for n in POS_RUNS] + [f"ner-{n}" for n in NER_RUNS]
    for run in runs:
        assert (project / "training" / run / "model-best" / "meta.json").is_file(), run
        assert list(srsly.read_jsonl(project / "training" / run / "log.jsonl")), run
        metrics = srsly.read_json(project / "metrics" / f"{run}.json")
        assert set(metrics["by_length"]) == {"1-10", "11-20", "21-40", "41+"}
        assert metrics["parameters"] > 0 and metrics["pipe_words_per_second"] > 0
    assert set(srsly.read_json(project / "metrics" / "ner-rnn_crf.json")["ner"]["ents_per_type"]) \
        <= {"PER", "ORG", "LOC"}
    check_summary(project)


def check_summary(project):
    summary = (project / "results" / "summary.md").read_text()
    for table, names in zip(summary.split("## NER"), (POS_RUNS, NER_RUNS)):
        rows = [line.split(" | ")[0] for line in table.splitlines() if line.startswith("| ")]
        assert sorted(rows[1:]) == sorted(f"| {name}" for name in names)  # one row per architecture
    assert "train.draft.iob2" in summary  # the fallback train file is declared
    provenance = srsly.read_json(project / "assets" / "provenance.json")
    assert provenance["assets/uner_en_ewt/train.iob2"]["fallback"] is True
    assert all(info["verified"] for info in provenance.values())
    for png in ("score_by_length.png", "score_vs_speed.png"):
        assert (project / "results" / png).stat().st_size > 10_000


def test_fetch_refuses_a_corrupted_local_file(tmp_path, tiny_tagging_data):
    data_dir, checksums = tiny_tagging_data
    project = copy_project(tmp_path)
    corrupted = data_dir / "ud_en_ewt" / "dev.conllu"
    expected = srsly.read_json(checksums)["ud_en_ewt/dev.conllu"]
    corrupted.write_text(corrupted.read_text()[:-50], encoding="utf8")  # truncated
    result = run_script(project / "scripts" / "fetch_assets.py", "project.yml", "--data-dir",
                        data_dir, "--checksums", checksums, cwd=project)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert str(corrupted) in output and expected in output and "mismatch" in output
    assert not (project / "assets" / "ud_en_ewt" / "dev.conllu").exists()


def test_fetch_checks_the_published_checksums(tmp_path, tiny_tagging_data):
    data_dir, _ = tiny_tagging_data
    project = copy_project(tmp_path)
    result = run_script(project / "scripts" / "fetch_assets.py", "project.yml", "--data-dir",
                        data_dir, cwd=project)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "fa9865539033efcf99ea90f8b93d6646" in output  # UD EWT train md5 from project.yml
    assert str(data_dir / "ud_en_ewt" / "train.conllu") in output


def test_fetch_without_data_dir_asks_for_downloaded_assets(tmp_path):
    project = copy_project(tmp_path)
    result = run_script(project / "scripts" / "fetch_assets.py", "project.yml", "--data-dir", "",
                        cwd=project)
    assert result.returncode == 1
    assert "spacy project assets" in result.stdout + result.stderr


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
