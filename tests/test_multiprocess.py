"""``nlp.pipe(texts, n_process=2)`` gives the same annotations as one process, for trained,
saved and reloaded ``rnn_tagger`` and ``rnn_translator`` pipelines.

spaCy starts its workers with Python's default start method: "fork" on Linux, "spawn" on
macOS and Windows. Spawned workers receive the pipeline pickled, so pickling is checked
directly and one test runs the workers with "spawn" (found broken and fixed: the character
CNN's input converter and the translation scorer were closures, which do not pickle).
"""
import multiprocessing
import pickle
import warnings

import pytest
import spacy

from tiny_pipelines import TEXTS, tags, trained_tagger, trained_translator, translations

# more docs than one batch per worker, so that both workers get several batches
MANY = [text for _ in range(6) for text in TEXTS]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("multiprocess")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trained_tagger().to_disk(root / "tagger")
        trained_translator().to_disk(root / "translator")
    return {"tagger": root / "tagger", "translator": root / "translator"}


@pytest.mark.parametrize("kind", ["tagger", "translator"])
def test_two_processes_give_the_same_output(saved, kind):
    nlp = spacy.load(saved[kind])
    annotate = tags if kind == "tagger" else translations
    single = annotate(nlp, MANY, batch_size=4)
    assert any(single)
    assert annotate(nlp, MANY, batch_size=4, n_process=2) == single


@pytest.mark.parametrize("kind", ["tagger", "translator"])
def test_pipeline_pickles(saved, kind):
    nlp = spacy.load(saved[kind])
    annotate = tags if kind == "tagger" else translations
    copy = pickle.loads(pickle.dumps(nlp))
    assert annotate(copy) == annotate(nlp)


def test_spawned_workers_give_the_same_output(saved, monkeypatch):
    """Both components in one pipeline, workers started with "spawn" (macOS/Windows default)."""
    nlp = spacy.load(saved["tagger"])
    nlp.add_pipe("rnn_translator", source=spacy.load(saved["translator"]))
    single = [(tags(nlp, [text])[0], translations(nlp, [text])[0]) for text in MANY]
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # spawned workers start torch afresh
    previous = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("spawn", force=True)
    try:
        docs = list(nlp.pipe(MANY, batch_size=8, n_process=2))
    finally:
        multiprocessing.set_start_method(previous, force=True)
    assert [([t.tag_ for t in doc], doc._.translation) for doc in docs] == single
