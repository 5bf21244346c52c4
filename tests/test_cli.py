"""``python -m spacy_rnn evaluate``: every score a pipeline reports, BLEU and chrF with their
sacreBLEU signatures, on a DocBin or on parallel text; clear errors for unusable input.

The pipelines are tiny and trained a few steps: the tests compare the command's output with
``nlp.evaluate`` on the same saved pipeline, not with good scores.
"""
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Example

import tiny_pipelines
from spacy_rnn.cli import main, per_type_tables, score_rows, translation_settings
from spacy_rnn.scorers import translation_signatures

NER_DATA = [
    ("Alice lives in Paris", [(0, 5, "PER"), (15, 20, "LOC")]),
    ("New York is big", [(0, 8, "LOC")]),
    ("Bob met Alice Smith", [(0, 3, "PER"), (8, 19, "PER")]),
    ("I like London", [(7, 13, "LOC")]),
]


def write_lines(path: Path, lines: List[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf8")
    return path


def write_docbin(path: Path, examples: List[Example], store_user_data: bool = False) -> Path:
    DocBin(docs=[eg.reference for eg in examples], store_user_data=store_user_data).to_disk(path)
    return path


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    """A saved tiny translator and its gold data as text files and as DocBins."""
    folder = tmp_path_factory.mktemp("translator")
    nlp = tiny_pipelines.trained_translator(n_iter=10)
    nlp.to_disk(folder / "model")
    examples = tiny_pipelines.translator_examples(nlp)
    return {"model": folder / "model",
            "source": write_lines(folder / "dev.src", [source for source, _ in tiny_pipelines.PAIRS]),
            "target": write_lines(folder / "dev.tgt", [target for _, target in tiny_pipelines.PAIRS]),
            "docbin": write_docbin(folder / "dev.spacy", examples, store_user_data=True),
            "docbin_no_user_data": write_docbin(folder / "plain.spacy", examples)}


@pytest.fixture(scope="module")
def ner(tmp_path_factory):
    """A saved tiny rnn_ner pipeline and its gold DocBin."""
    folder = tmp_path_factory.mktemp("ner")
    nlp = spacy.blank("en")
    nlp.add_pipe("rnn_ner", config={"model": tiny_pipelines.TAGGER_SMALL})
    examples = [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in NER_DATA]
    tiny_pipelines.train(nlp, examples, n_iter=20)
    nlp.to_disk(folder / "model")
    return {"model": folder / "model", "docbin": write_docbin(folder / "dev.spacy", examples)}


def expected_scores(model: Path, examples_path: Path) -> dict:
    """``nlp.evaluate`` of the saved pipeline on a DocBin, in this process."""
    nlp = spacy.load(model)
    docs = DocBin().from_disk(examples_path).get_docs(nlp.vocab)
    return nlp.evaluate([Example(nlp.make_doc(doc.text), doc) for doc in docs])


def run_cli(*args: object) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "spacy_rnn", "evaluate", *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def row(output: str, label: str) -> List[str]:
    """The words of the output line that starts with ``label``."""
    (line,) = [line for line in output.splitlines() if line.startswith(label + " ")]
    return line.split()


def test_translator_on_parallel_text_prints_bleu_and_chrf_with_signatures(translator, tmp_path):
    output = tmp_path / "scores.json"
    result = run_cli(translator["model"], translator["source"], "--target", translator["target"],
                     "--output", output)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = expected_scores(translator["model"], translator["docbin"])
    signatures = translation_signatures()
    assert row(result.stdout, "BLEU") == ["BLEU", f"{100 * expected['bleu']:.2f}", signatures["bleu"]]
    assert row(result.stdout, "chrF") == ["chrF", f"{100 * expected['chrf']:.2f}", signatures["chrf"]]
    assert "Translation (rnn_translator)" in result.stdout
    saved = json.loads(output.read_text())
    assert saved["bleu"] == pytest.approx(expected["bleu"])
    assert saved["chrf"] == pytest.approx(expected["chrf"])
    assert saved["sacrebleu_signatures"] == {"rnn_translator": signatures}


def test_translator_on_docbin_with_user_data_gives_the_same_scores(translator, capsys):
    assert main(["evaluate", str(translator["model"]), str(translator["docbin"])]) == 0
    out = capsys.readouterr().out
    expected = expected_scores(translator["model"], translator["docbin"])
    assert row(out, "BLEU")[1] == f"{100 * expected['bleu']:.2f}"
    assert row(out, "chrF")[1] == f"{100 * expected['chrf']:.2f}"
    assert row(out, "TOK") == ["TOK", "100.00"]


def test_docbin_without_reference_translations_is_explained(translator):
    result = run_cli(translator["model"], translator["docbin_no_user_data"])
    assert result.returncode == 1
    message = " ".join(result.stdout.split())
    assert "plain.spacy: gold document 0 has no reference translation" in message
    assert "DocBin(store_user_data=True)" in message and "--target" in message


def test_ner_prints_precision_recall_f_and_per_type(ner, capsys):
    assert main(["evaluate", str(ner["model"]), str(ner["docbin"])]) == 0
    out = capsys.readouterr().out
    expected = expected_scores(ner["model"], ner["docbin"])
    for label, key in (("NER P", "ents_p"), ("NER R", "ents_r"), ("NER F", "ents_f")):
        assert row(out, label)[2] == f"{100 * expected[key]:.2f}"
    assert "NER (per type)" in out
    for label in ("PER", "LOC"):
        prf = expected["ents_per_type"][label]
        assert row(out, label)[1:] == [f"{100 * prf[k]:.2f}" for k in "prf"]
    assert "BLEU" not in out


def test_score_rows_use_spacys_names_and_skip_nested_scores():
    scores = {"token_acc": 1.0, "token_p": 1.0, "tag_acc": 0.875, "pos_acc": None,
              "morph_per_feat": {"Number": {"p": 1.0}}, "spans_sc_f": 0.5, "speed": 1234.4}
    assert score_rows(scores) == [("TOK", "100.00"), ("TAG", "87.50"), ("POS", "-"),
                                  ("SPANS SC F", "50.00"), ("SPEED", "1234")]


def test_per_type_tables_take_prf_dicts_only():
    scores = {"cats_f_per_type": {"POS": {"p": 1.0, "r": 0.5, "f": 2 / 3}},
              "cats_auc_per_type": {"POS": 0.9}, "ents_per_type": {}}
    assert per_type_tables(scores) == [("cats_f_per_type", [("POS", "100.00", "50.00", "66.67")])]


def test_translation_settings_follow_the_scorer_version():
    nlp = spacy.blank("en")
    nlp.add_pipe("rnn_translator", name="v2")
    nlp.add_pipe("rnn_translator", name="v1", config={"scorer": {
        "@scorers": "spacy-rnn.translation_scorer.v1", "lowercase": True, "tokenize": "intl"}})
    nlp.add_pipe("sentencizer")
    assert translation_settings(nlp) == {"v2": (("bleu", "chrf"), False, "13a"),
                                         "v1": (("translation_bleu", "translation_chrf"), True, "intl")}


def test_bad_input_fails_with_a_message(ner, translator, tmp_path, capsys):
    model, source = str(ner["model"]), str(translator["source"])
    cases = [
        ([model, source], "is not a .spacy DocBin"),
        ([model, str(ner["docbin"]), "--target", source], "has no translator"),
        ([str(tmp_path / "missing"), str(ner["docbin"])], "Cannot load the pipeline"),
        ([model, str(tmp_path / "missing.spacy")], "Gold data not found"),
        ([str(translator["model"]), source, "--target", str(tmp_path / "none.tgt")],
         "Parallel corpus file not found"),
        ([model, str(ner["docbin"]), "--batch-size", "0"], "--batch-size must be a positive number"),
    ]
    for args, message in cases:
        assert main(["evaluate", *args]) == 1, args
        assert message in " ".join(capsys.readouterr().out.split()), args
