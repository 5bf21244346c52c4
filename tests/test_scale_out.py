"""The Ray Data and Spark recipes of ``docs/SCALE.md``, run as written on local engines
(Ray with 2 CPUs, Spark ``local[2]``): the code blocks are read from the document and
executed with only their locations and sizes replaced (corpus, output and pipeline paths,
number of actors, batch size). Their output must equal one process's ``nlp.pipe``.

The engines come with the extras ``spacy-rnn[ray]`` and ``spacy-rnn[spark]`` (installed by
``.ci/run``); the tests skip where an engine is not installed. Spark also needs Java 17+.
"""
import random
import re
import shutil
import sys
import warnings
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import spacy

from tiny_pipelines import TEXTS, trained_tagger, trained_translator

SCALE_MD = Path(__file__).parent.parent / "docs" / "SCALE.md"
Record = Tuple[str, str, str]  # text, space-separated tags, translation


def recipe(heading: str, index: int = 0) -> str:
    """The ``index``-th ``python`` code block after the line ``heading`` of docs/SCALE.md."""
    text = SCALE_MD.read_text(encoding="utf8")
    assert heading + "\n" in text, f"docs/SCALE.md has no section {heading!r}"
    section = re.split(r"\n#{1,3} ", text.split(heading + "\n", 1)[1], maxsplit=1)[0]
    return section.split("```python\n")[1 + index].split("```", 1)[0]


def localized(code: str, replacements: Dict[str, str]) -> str:
    """``code`` with each key replaced by its value; every key must occur exactly once, so
    that the test stops running the recipe when the document changes."""
    for old, new in replacements.items():
        assert code.count(old) == 1, f"docs/SCALE.md: expected {old!r} once in the recipe"
        code = code.replace(old, new)
    return code


def run_recipe(code: str) -> None:
    # a module name that workers cannot import: the engines pickle the recipe's class and
    # function by value, as they do for code in a driver script
    exec(compile(code, str(SCALE_MD), "exec"), {"__name__": "scale_recipe"})


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


@pytest.fixture(scope="module")
def corpus() -> List[str]:
    """Seen and unseen texts, no empty line (Ray's read_text drops empty lines by default)."""
    rng = random.Random(1)
    words = " ".join(TEXTS).split()
    return [text for text in TEXTS if text] + [
        " ".join(rng.choice(words) for _ in range(rng.randint(1, 12))) for _ in range(80)]


@pytest.fixture(scope="module")
def corpus_dir(corpus, tmp_path_factory) -> Path:
    """The corpus as uneven text files, one of them empty: several partitions per engine."""
    folder = tmp_path_factory.mktemp("corpus")
    for i, part in enumerate(partitions_of(corpus, 5)):
        (folder / f"part-{i}.txt").write_text("".join(line + "\n" for line in part), encoding="utf8")
    return folder


@pytest.fixture(scope="module")
def one_process(pipeline_path, corpus) -> List[Record]:
    nlp = spacy.load(pipeline_path)
    return sorted((doc.text, " ".join(token.tag_ for token in doc), doc._.translation)
                  for doc in nlp.pipe(corpus, batch_size=32))


def records_of(columns: Dict[str, list]) -> List[Record]:
    return sorted(zip(columns["text"], columns["tags"], columns["translation"]))


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance with 2 CPUs (skips first, before the pipeline is trained)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_data_recipe_equals_one_process(local_ray, pipeline_path, corpus_dir, one_process,
                                            tmp_path):
    output = tmp_path / "annotated"
    code = localized(recipe("### Ray Data"), {
        '"s3://bucket/corpus/"': repr(str(corpus_dir)),
        '"s3://bucket/annotated/"': repr(str(output)),
        '("en_rnn_pipeline",)': repr((pipeline_path,)),
        "batch_size=1024": "batch_size=16",
        "max_size=32": "max_size=2"})
    run_recipe(code)  # on the local_ray instance
    import pyarrow.parquet  # a dependency of ray[data]

    records = records_of(pyarrow.parquet.read_table(output).to_pydict())
    assert records == one_process
    assert any(translation for _, _, translation in records)


@pytest.fixture(scope="module")
def local_spark():
    """A local[2] Spark session (skips first, before the pipeline is trained)."""
    pyspark_sql = pytest.importorskip("pyspark.sql")
    if shutil.which("java") is None:
        pytest.skip("Spark needs a Java runtime (java on PATH)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYSPARK_PYTHON", sys.executable)  # workers: this environment
        patch.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
        spark = (pyspark_sql.SparkSession.builder.master("local[2]").appName("spacy-rnn-test")
                 .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                 .getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        yield spark
        spark.stop()


def test_spark_recipe_equals_one_process(local_spark, pipeline_path, corpus_dir, one_process,
                                         tmp_path):
    output = tmp_path / "annotated"
    module = tmp_path / "annotate.py"  # the worker module of the recipe
    module.write_text(localized(recipe("### Spark", 0), {
        'spacy.load("en_rnn_pipeline")': f"spacy.load({pipeline_path!r})"}), encoding="utf8")
    driver = localized(recipe("### Spark", 1), {
        'addPyFile("annotate.py")': f"addPyFile({str(module)!r})",
        '"hdfs:///corpus/"': repr(str(corpus_dir)),
        '"hdfs:///annotated/"': repr(str(output))})
    try:
        run_recipe(driver)  # its getOrCreate() finds the local[2] session
    finally:
        sys.modules.pop("annotate", None)
    rows = local_spark.read.parquet(str(output)).collect()
    records = sorted((row.text, row.tags, row.translation) for row in rows)
    assert records == one_process
    assert any(translation for _, _, translation in records)


def test_scale_docs_code_blocks_are_valid_python():
    """Every sketch in docs/SCALE.md parses, the engine recipes included."""
    import ast

    text = SCALE_MD.read_text(encoding="utf8")
    blocks = [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]
    assert len(blocks) >= 3
    for block in blocks:
        ast.parse(block)
    assert "def annotate_partition(rows)" in recipe("### Spark", 0)
    assert "mapPartitions(annotate_partition)" in recipe("### Spark", 1)
    assert "map_batches(" in recipe("### Ray Data")
