"""The scale-out recipe of ``docs/SCALE.md``, run locally: the pipeline is loaded once per
worker process, each partition of the corpus goes through ``nlp.pipe`` in one call, and the
concatenated results equal a single-process run. ``multiprocessing.Pool`` with the "spawn"
start method stands in for Ray actors / Spark executors: fresh processes that share nothing
with the driver but the saved pipeline's path.
"""
import multiprocessing
import random
import warnings
from typing import Dict, List

import pytest
import spacy

from tiny_pipelines import TEXTS, trained_tagger, trained_translator

_NLP = None  # one pipeline per worker process


def load_pipeline(path: str) -> None:
    """Pool initializer: what a Ray actor's ``__init__`` or the first call in a Spark
    Python worker does."""
    global _NLP
    import torch

    torch.set_num_threads(1)  # one process per core; torch must not oversubscribe them
    _NLP = spacy.load(path)


def annotate_partition(texts: List[str]) -> List[Dict]:
    """One partition in, one record per text out (the function ``docs/SCALE.md`` shows)."""
    return [{"text": doc.text, "tags": [token.tag_ for token in doc],
             "translation": doc._.translation}
            for doc in _NLP.pipe(texts, batch_size=32)]


def partitions_of(texts: List[str], n: int, seed: int = 0) -> List[List[str]]:
    """Uneven, contiguous partitions (one of them empty), as a file-based splitter gives."""
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(texts)), n - 2)) + [len(texts), len(texts)]
    bounds = [0] + cuts
    return [texts[a:b] for a, b in zip(bounds, bounds[1:])]


@pytest.fixture(scope="module")
def pipeline_path(tmp_path_factory) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nlp = trained_tagger()
        nlp.add_pipe("rnn_translator", source=trained_translator())
    path = tmp_path_factory.mktemp("scale_out") / "pipeline"
    nlp.to_disk(path)
    return str(path)


def test_partitions_in_worker_processes_equal_one_process(pipeline_path, monkeypatch):
    rng = random.Random(1)
    words = " ".join(TEXTS).split()
    corpus = TEXTS + [" ".join(rng.choice(words) for _ in range(rng.randint(1, 12)))
                      for _ in range(150)]
    partitions = partitions_of(corpus, 7)
    assert sum(map(len, partitions)) == len(corpus) and [] in partitions

    load_pipeline(pipeline_path)
    single = annotate_partition(corpus)

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    context = multiprocessing.get_context("spawn")
    with context.Pool(2, initializer=load_pipeline, initargs=(pipeline_path,)) as pool:
        results = pool.map(annotate_partition, partitions, chunksize=1)
    assert [len(r) for r in results] == [len(p) for p in partitions]
    assert [record for result in results for record in result] == single
    assert any(record["translation"] for record in single)


def test_scale_docs_code_blocks_are_valid_python():
    """The sketches in docs/SCALE.md at least parse (Ray and Spark are not installed here)."""
    import ast
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "SCALE.md").read_text(encoding="utf8")
    blocks = [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]
    assert len(blocks) >= 3
    for block in blocks:
        ast.parse(block)
    assert "def annotate_partition(rows)" in text and "map_batches(" in text
