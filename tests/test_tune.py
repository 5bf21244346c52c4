"""``python -m spacy_rnn tune-length-penalty``: one row per alpha with sacreBLEU's scores of the
beam search output, the max-BLEU alpha, the translator's settings restored, a saved pipeline
that decodes with the chosen alpha, and clear errors for unusable input.

The translator is tiny and trained a few steps, so that its beam search output (beam 4) and
BLEU change with alpha; the tests compare the command with sacreBLEU on the same outputs,
not with good scores.
"""
import json
import os
import re
import subprocess
import sys
import warnings
from typing import List

import pytest
import spacy
from sacrebleu.metrics import BLEU, CHRF

import tiny_pipelines
from test_cli import write_lines
from spacy_rnn.cli import main, tune
from spacy_rnn.tune import TuneError, best_alpha, decoding_settings, find_translator

SOURCES = [source for source, _ in tiny_pipelines.PAIRS]
TARGETS = [target for _, target in tiny_pipelines.PAIRS]
ALPHAS = [0.0, 0.6, 1.2]
BEAM = 4
# a table row of the command's output: alpha, BLEU, chrF, length ratio
ROW = re.compile(r"\s*[\d.]+(\s+[\d.]+){3}\s*")


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    """A saved tiny translator (beam_size 1 in its config) and its dev data as text files."""
    folder = tmp_path_factory.mktemp("tune")
    tiny_pipelines.trained_translator(n_iter=30).to_disk(folder / "model")
    return {"model": folder / "model", "folder": folder,
            "source": write_lines(folder / "dev.src", SOURCES),
            "target": write_lines(folder / "dev.tgt", TARGETS)}


def beam_translations(nlp, alpha: float, monkeypatch) -> List[str]:
    """The pipeline's translations of SOURCES with beam size BEAM and length penalty ``alpha``."""
    with monkeypatch.context() as patch:
        patch.setitem(nlp.get_pipe("rnn_translator").cfg, "beam_size", BEAM)
        patch.setitem(nlp.get_pipe("rnn_translator").cfg, "length_penalty", alpha)
        return tiny_pipelines.translations(nlp, SOURCES)


def run_cli(*args: object) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "spacy_rnn", "tune-length-penalty", *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def test_rows_are_sacrebleu_scores_of_the_beam_output_and_best_is_max_bleu(translator, tmp_path,
                                                                          monkeypatch):
    output = tmp_path / "tuning.json"
    result = run_cli(translator["model"], translator["source"], "--target", translator["target"],
                     "--alphas", *ALPHAS, "--beam-size", BEAM, "--output", output)
    assert result.returncode == 0, result.stdout + result.stderr
    printed = [line.split() for line in result.stdout.splitlines() if ROW.fullmatch(line)]
    saved = json.loads(output.read_text())
    assert [float(words[0]) for words in printed] == ALPHAS
    assert [row["alpha"] for row in saved["rows"]] == ALPHAS
    nlp, bleu, chrf = spacy.load(translator["model"]), BLEU(), CHRF()
    for words, row in zip(printed, saved["rows"]):
        hypotheses = beam_translations(nlp, row["alpha"], monkeypatch)
        assert row["bleu"] == pytest.approx(bleu.corpus_score(hypotheses, [TARGETS]).score)
        assert row["chrf"] == pytest.approx(chrf.corpus_score(hypotheses, [TARGETS]).score)
        ratio = sum(len(h.split()) for h in hypotheses) / sum(len(t.split()) for t in TARGETS)
        assert row["length_ratio"] == pytest.approx(ratio)
        assert words[1:3] == [f"{row['bleu']:.2f}", f"{row['chrf']:.2f}"]
    bleus = [row["bleu"] for row in saved["rows"]]
    assert len(set(bleus)) > 1, "alpha changes nothing here: the test would not test the choice"
    assert saved["best_alpha"] == ALPHAS[bleus.index(max(bleus))]
    assert f"Best length_penalty by BLEU: {saved['best_alpha']:g}" in result.stdout
    assert saved["sacrebleu_signatures"] == {"bleu": str(bleu.get_signature()),
                                             "chrf": str(chrf.get_signature())}
    assert saved["sacrebleu_signatures"]["bleu"] in result.stdout
    assert (saved["beam_size"], saved["n_examples"]) == (BEAM, len(SOURCES))
    assert saved["model"] == str(translator["model"])
    assert saved["source"] == str(translator["source"])


def test_best_alpha_is_the_smaller_on_a_tie():
    rows = [{"alpha": 1.0, "bleu": 30.0}, {"alpha": 0.4, "bleu": 30.0},
            {"alpha": 0.2, "bleu": 29.9}]
    assert best_alpha(rows) == 0.4


def test_translator_settings_are_restored(translator):
    nlp, result = tune(translator["model"], translator["source"], translator["target"],
                       alphas=[1.2, 0.0], beam_size=BEAM)
    assert result["rows"][0]["alpha"] == 1.2
    assert nlp.get_pipe("rnn_translator").cfg == spacy.load(translator["model"]).get_pipe(
        "rnn_translator").cfg
    cfg = nlp.get_pipe("rnn_translator").cfg
    with pytest.raises(RuntimeError):
        with decoding_settings(nlp.get_pipe("rnn_translator"), beam_size=3, length_penalty=2.0):
            raise RuntimeError("decoding failed")
    assert (cfg["beam_size"], cfg["length_penalty"]) == (1, pytest.approx(0.6))


def test_saved_pipeline_decodes_with_the_chosen_alpha(translator, tmp_path, monkeypatch):
    output, saved = tmp_path / "tuning.json", tmp_path / "tuned"
    assert main(["tune-length-penalty", str(translator["model"]), str(translator["source"]),
                 "--target", str(translator["target"]), "--alphas", *map(str, ALPHAS),
                 "--beam-size", str(BEAM), "--output", str(output), "--save", str(saved)]) == 0
    alpha = json.loads(output.read_text())["best_alpha"]
    assert alpha != 0.6, "the chosen alpha is the default: the round trip would not show it"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the saved cfg agrees with config.cfg: no warning
        nlp = spacy.load(saved, config={"components": {"rnn_translator": {"beam_size": BEAM}}})
    assert nlp.config["components"]["rnn_translator"]["length_penalty"] == alpha
    assert nlp.get_pipe("rnn_translator").cfg["length_penalty"] == pytest.approx(alpha)
    original = spacy.load(translator["model"])
    assert tiny_pipelines.translations(nlp, SOURCES) == beam_translations(original, alpha,
                                                                          monkeypatch)
    assert beam_translations(original, alpha, monkeypatch) != beam_translations(original, 0.6,
                                                                              monkeypatch)


def test_empty_lines_are_skipped_as_evaluate_skips_them(translator, tmp_path):
    source = write_lines(tmp_path / "dev.src", SOURCES[:3] + [""])
    target = write_lines(tmp_path / "dev.tgt", TARGETS[:3] + ["ein satz"])
    with pytest.warns(UserWarning, match="Skipped 1 line pair"):
        _, result = tune(translator["model"], source, target, alphas=[0.6], beam_size=BEAM)
    assert result["n_examples"] == 3


def test_several_translators_need_a_component_name():
    nlp = spacy.blank("en")
    nlp.add_pipe("rnn_translator", name="en_de")
    nlp.add_pipe("rnn_translator", name="en_fr")
    with pytest.raises(TuneError, match=r"several rnn_translators, \['en_de', 'en_fr'\]"):
        find_translator(nlp)
    assert find_translator(nlp, "en_fr") == "en_fr"


def test_bad_input_fails_with_a_message(translator, tmp_path, capsys):
    model, source, target = (str(translator[key]) for key in ("model", "source", "target"))
    short = str(write_lines(tmp_path / "short.tgt", TARGETS[:-1]))
    no_translator = tmp_path / "no_translator"
    spacy.blank("en").to_disk(no_translator)
    cases = [
        ([model, source, "-t", target, "--beam-size", "4", "--alphas", "0.2", "-0.5"],
         "--alphas: -0.5 is not a valid length penalty"),
        ([model, source, "-t", target, "--beam-size", "1"],
         "--beam-size 1, but the length penalty only matters for beam search"),
        ([model, source, "-t", target],
         "rnn_translator decodes with beam_size 1, but the length penalty only matters"),
        ([model, source, "-t", short, "--beam-size", "4"],
         f"{source} has 10 lines but {short} has 9 lines"),
        ([str(no_translator), source, "-t", target], "The pipeline has no rnn_translator"),
        ([model, source, "-t", target, "--component", "ner"],
         "--component 'ner' is not an rnn_translator of the pipeline"),
    ]
    for args, message in cases:
        assert main(["tune-length-penalty", *args]) == 1, args
        assert message in " ".join(capsys.readouterr().out.split()), args
