"""spacy-rnn.JSONLLogger.v1: numpy scalars in the JSON lines (spaCy's ner reports np.float32 losses),
no words per second before time has passed, spaCy's progress bar values, the training budget after
each evaluation row, distinct BLEU and chrF columns for a translator."""
import sys

import numpy
import pytest
import spacy
import srsly
from spacy.training import Example
from spacy.util import registry

from spacy_rnn.training import _bar_kind


def test_jsonl_logger_writes_numpy_losses_and_scores(tmp_path):
    path = tmp_path / "log.jsonl"
    setup = registry.loggers.get("spacy-rnn.JSONLLogger.v1")(path=str(path), console=False)
    log_step, finalize = setup(None)
    info = {"step": 3, "epoch": 1, "seconds": 2, "words": 100, "score": numpy.float32(0.5),
            "losses": {"ner": numpy.float32(51.4), "tok2vec": 0.0},
            "other_scores": {"ents_f": numpy.float32(0.25), "ents_per_type": {}, "speed": 10}}
    log_step(None)
    log_step(info)
    finalize()
    (record,) = srsly.read_jsonl(path)
    assert record["losses"] == {"ner": pytest.approx(51.4), "tok2vec": 0.0}
    assert record["scores"] == {"ents_f": 0.25, "speed": 10.0}
    assert record["words_per_second"] == 50.0


def test_step_zero_has_no_words_per_second(tmp_path):
    """spaCy logs step 0 with the first batch's words after 0 seconds: no rate can be computed."""
    path = tmp_path / "log.jsonl"
    log_step, finalize = registry.loggers.get("spacy-rnn.JSONLLogger.v1")(path=str(path), console=False)(None)
    for step, seconds in ((0, 0), (10, 4)):
        log_step({"step": step, "epoch": 0, "seconds": seconds, "words": 160, "score": 0.0,
                  "losses": {}, "other_scores": {}})
    finalize()
    first, second = srsly.read_jsonl(path)
    assert first["words_per_second"] is None
    assert second["words_per_second"] == 40.0


def test_translator_console_columns_tell_bleu_from_chrf(tmp_path, capsys):
    """The rnn_translator's default score keys are short enough for spaCy's console table,
    which cuts names over 13 characters (``translation_bleu`` -> ``TRANSLATIO...``)."""
    nlp = spacy.blank("en")
    translator = nlp.add_pipe("rnn_translator")
    scores = translator.scorer([translation_example(nlp, "a b c d", "a b c d"),
                                translation_example(nlp, "x y", "a b c d")])
    setup = registry.loggers.get("spacy-rnn.JSONLLogger.v1")(path=str(tmp_path / "log.jsonl"))
    log_step, finalize = setup(nlp, stdout=sys.stdout, stderr=sys.stderr)
    log_step({"step": 0, "epoch": 0, "seconds": 0, "words": 10, "score": 0.25,
              "losses": {"rnn_translator": 3.0}, "other_scores": scores, "checkpoints": []})
    finalize()
    header, _, row = capsys.readouterr().out.splitlines()[:3]
    assert header.split()[-3:] == ["BLEU", "CHRF", "SCORE"]
    assert row.split()[-3:] == [f"{100 * scores['bleu']:.2f}", f"{100 * scores['chrf']:.2f}", "0.25"]


def translation_example(nlp, hypothesis, reference):
    predicted = nlp.make_doc("source")
    gold = predicted.copy()
    predicted._.translation, gold._.translation = hypothesis, reference
    return Example(predicted, gold)


def budget_nlp(minutes):
    nlp = spacy.blank("en")
    nlp.config["training"]["batcher"] = {"@batchers": "spacy-rnn.time_limited_batcher.v1",
                                         "max_minutes": minutes, "batcher": {}}
    return nlp


def test_evaluation_rows_say_how_much_of_the_budget_is_spent(tmp_path, capsys):
    for minutes, expected in ((85, "1.5 of 85 minutes of the training budget spent"), (0, None)):
        setup = registry.loggers.get("spacy-rnn.JSONLLogger.v1")(path=str(tmp_path / "log.jsonl"))
        log_step, finalize = setup(budget_nlp(minutes), stdout=sys.stdout, stderr=sys.stderr)
        log_step({"step": 200, "epoch": 1, "seconds": 90, "words": 1000, "score": 0.5, "losses": {},
                  "other_scores": {}, "checkpoints": []})
        finalize()
        out = capsys.readouterr().out
        assert (expected in out) if expected else ("training budget" not in out)


@pytest.mark.parametrize("value,kind", [(False, None), (None, None), (True, "eval"), ("eval", "eval"),
                                        ("train", "train")])
def test_progress_bar_takes_spacys_values_and_booleans(value, kind):
    assert _bar_kind(value) == kind
    registry.loggers.get("spacy-rnn.JSONLLogger.v1")(path="unused.jsonl", progress_bar=value)


def test_unknown_progress_bar_is_refused():
    with pytest.raises(ValueError, match=r"progress_bar must be \"eval\", \"train\", true, false or null"):
        registry.loggers.get("spacy-rnn.JSONLLogger.v1")(path="unused.jsonl", progress_bar="steps")
