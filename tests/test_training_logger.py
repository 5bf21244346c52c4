"""spacy-rnn.JSONLLogger.v1 writes numpy scalars (spaCy's ner reports np.float32 losses)."""
import numpy
import pytest
import srsly
from spacy.util import registry


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
