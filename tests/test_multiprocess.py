"""``nlp.pipe(texts, n_process=2)`` gives the same annotations as one process, for trained,
saved and reloaded ``rnn_tagger`` and ``rnn_translator`` pipelines.

spaCy starts its workers with Python's default start method: "fork" on Linux, "spawn" on
macOS and Windows. Spawned workers receive the pipeline pickled, so pickling is checked
directly and one test runs the workers with "spawn" (found broken and fixed: the character
CNN's input converter and the translation scorer were closures, which do not pickle).
"""
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import warnings
from pathlib import Path

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


# Run in a fresh interpreter: the parent must have used torch with 2 threads (this test
# process runs with 1, see conftest.py) and a hang must end in a timeout, not stall pytest.
AFTER_TWO_THREADS = '''
import multiprocessing, sys, warnings
import torch
sys.path.insert(0, {tests!r})
from tiny_pipelines import TEXTS, tags, trained_tagger

if __name__ == "__main__":
    torch.set_num_threads(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nlp = trained_tagger(crf=False, n_iter=2)
    nlp("word " * 20000)  # a long doc: torch's OpenMP pool runs with 2 threads
    assert torch.get_num_threads() == 2
    single = tags(nlp, TEXTS * 3, batch_size=4)
    for method in ("fork", "spawn"):
        multiprocessing.set_start_method(method, force=True)
        assert tags(nlp, TEXTS * 3, batch_size=4, n_process=2) == single, method
        print(method, "ok", flush=True)
'''


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")
def test_workers_do_not_hang_after_the_parent_used_two_threads(tmp_path):
    """Forked workers used to wait forever for the parent's OpenMP threads; spacy_rnn's
    fork handler (spacy_rnn/threads.py) keeps torch single-threaded in forked children."""
    script = tmp_path / "two_threads_then_pipe.py"
    script.write_text(AFTER_TWO_THREADS.format(tests=str(Path(__file__).parent)), encoding="utf8")
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    with subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as run:
        try:
            stdout, stderr = run.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)  # the hung workers too, not only their parent
            stdout, stderr = run.communicate()
            raise AssertionError(f"nlp.pipe(n_process=2) hung; output so far: {stdout!r}") from None
    assert run.returncode == 0, stderr[-3000:]
    assert stdout.split("\n")[:2] == ["fork ok", "spawn ok"]
