"""A saved pipeline is tied to no device.

thinc's ``PyTorchShim.from_bytes`` loads every torch module with ``map_location`` set to the
current default device (the CPU unless ``spacy.require_gpu()`` was called), and the
translator's own deserializer (``spacy_rnn.architectures.translator._deserialize_module``)
passes that device on to ``torch.load``. So:

- on CPU, the saved bytes name no CUDA device, and the modules come back on the CPU;
- bytes written on a GPU (simulated here: ``torch.save`` made to tag every storage
  ``cuda:0``) load on a machine without CUDA (simulated: ``torch.cuda.is_available``
  patched to False), with the same outputs;
- with a GPU (and CuPy, which ``spacy.require_gpu`` needs), a pipeline trained on the GPU
  and saved loads on the CPU in a process that sees no GPU, with the same annotations.
  These tests skip without one.
"""
import io
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import spacy
import srsly
import torch
import torch.serialization

from tiny_pipelines import (TAGGED, SOURCES, TEXTS, tags, trained_tagger, trained_translator,
                            translations)

ROOT = Path(__file__).parent.parent
HAS_CUDA = torch.cuda.is_available()
try:
    import cupy  # noqa: F401
    HAS_CUPY = True
except ImportError:
    HAS_CUPY = False


@pytest.fixture(scope="module")
def pipelines():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"tagger": trained_tagger(), "translator": trained_translator()}


def outputs(nlp, texts=TEXTS):
    return tags(nlp, texts) if "rnn_tagger" in nlp.pipe_names else translations(nlp, texts)


def shims(nlp):
    return [shim for _, pipe in nlp.pipeline for node in pipe.model.walk() for shim in node.shims]


def devices(nlp):
    found = set()
    for shim in shims(nlp):
        found |= {p.device.type for p in shim._model.parameters()}
        found |= {b.device.type for b in shim._model.buffers()}
    return found


def fresh_copy(nlp):
    """A new pipeline from ``nlp``'s config, weights loaded from ``nlp.to_bytes()``."""
    return spacy.blank("en").from_config(nlp.config).from_bytes(nlp.to_bytes())


def tag_storages_as_cuda(monkeypatch):
    """Make ``torch.save`` record every tensor as living on ``cuda:0``, as it does for a
    module on a GPU (the data itself is written the same way for both)."""
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")


@pytest.mark.parametrize("kind", ["tagger", "translator"])
def test_round_trip_puts_modules_on_cpu(pipelines, kind, tmp_path):
    nlp = pipelines[kind]
    assert len(shims(nlp)) >= 1
    copy = fresh_copy(nlp)
    assert devices(copy) == {"cpu"}
    assert all(shim.device.type == "cpu" for shim in shims(copy))
    assert outputs(copy) == outputs(nlp)
    nlp.to_disk(tmp_path)
    loaded = spacy.load(tmp_path)
    assert devices(loaded) == {"cpu"}
    assert outputs(loaded) == outputs(nlp)


@pytest.mark.parametrize("kind", ["tagger", "translator"])
def test_cpu_saved_bytes_name_no_cuda_device(pipelines, kind):
    nlp = pipelines[kind]
    for shim in shims(nlp):
        data = shim.to_bytes()
        assert b"cpu" in data  # torch.save's storage location tag is there ...
        assert b"cuda" not in data  # ... and is not a GPU
    assert b"cuda" not in nlp.to_bytes()


@pytest.mark.parametrize("kind", ["tagger", "translator"])
def test_bytes_saved_on_gpu_load_without_cuda(pipelines, kind, monkeypatch):
    nlp = pipelines[kind]
    expected = outputs(nlp)
    with monkeypatch.context() as patch:
        tag_storages_as_cuda(patch)
        gpu_bytes = nlp.to_bytes()
        state = srsly.msgpack_loads(shims(nlp)[0].to_bytes())["state"]
    assert b"cuda:0" in gpu_bytes
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    # the simulation is faithful: a plain torch.load of such bytes fails without CUDA ...
    with pytest.raises(RuntimeError, match="(?i)cuda"):
        torch.load(io.BytesIO(state), weights_only=True)
    # ... while the pipeline maps everything to the CPU
    copy = spacy.blank("en").from_config(nlp.config).from_bytes(gpu_bytes)
    assert devices(copy) == {"cpu"}
    assert outputs(copy) == expected


# -- with a GPU -------------------------------------------------------------------------------
needs_gpu = pytest.mark.skipif(not (HAS_CUDA and HAS_CUPY),
                               reason="needs a CUDA GPU, and CuPy for spacy.require_gpu()")

LOAD_ON_CPU = r"""
import json, sys
import torch
assert not torch.cuda.is_available()
import spacy
nlp = spacy.load(sys.argv[1])
texts = json.loads(sys.argv[2])
devices = sorted({p.device.type for _, pipe in nlp.pipeline for node in pipe.model.walk()
                  for shim in node.shims for p in shim._model.parameters()})
docs = list(nlp.pipe(texts))
print(json.dumps({"devices": devices, "tags": [[t.tag_ for t in d] for d in docs],
                  "translations": [d._.translation if d.has_extension("translation") else None
                                   for d in docs]}))
"""


@needs_gpu
@pytest.mark.parametrize("kind", ["tagger", "translator"])
def test_trained_on_gpu_loads_on_cpu(kind, tmp_path):
    texts = [text for text, _ in TAGGED] if kind == "tagger" else SOURCES
    spacy.require_gpu()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nlp = trained_tagger(n_iter=60) if kind == "tagger" else trained_translator(n_iter=120)
        assert devices(nlp) == {"cuda"}
        on_gpu = outputs(nlp, texts)
        nlp.to_disk(tmp_path / "pipeline")
    finally:
        spacy.require_cpu()
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run([sys.executable, "-c", LOAD_ON_CPU, str(tmp_path / "pipeline"),
                          json.dumps(texts)], capture_output=True, text=True, env=env,
                         timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["devices"] == ["cpu"]
    on_cpu = result["tags"] if kind == "tagger" else result["translations"]
    assert on_cpu == on_gpu  # trained to memorize: GPU/CPU rounding does not flip outputs
    loaded = spacy.load(tmp_path / "pipeline")  # also in this process, after require_cpu
    assert devices(loaded) == {"cpu"}
    assert outputs(loaded, texts) == on_cpu


COMPACT_ON_GPU = r"""
import sys, warnings
sys.path.insert(0, "tests")
import spacy
spacy.require_gpu()
if sys.argv[2] == "without-compacting":  # the control: PyTorch's own behaviour
    import spacy_rnn.torch.encoder, spacy_rnn.torch.seq2seq
    spacy_rnn.torch.encoder.compact_weights = spacy_rnn.torch.seq2seq.compact_weights = lambda *m: None
from tiny_pipelines import SOURCES, TAGGED, tags, trained_tagger, trained_translator, translations
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    if sys.argv[1] == "tagger":
        tags(trained_tagger(n_iter=5), [text for text, _ in TAGGED])
    else:
        translations(trained_translator(n_iter=5), SOURCES)
print(sum("contiguous chunk of memory" in str(w.message) for w in caught))
"""


@needs_gpu
@pytest.mark.parametrize("kind", ["tagger", "translator"])
def test_gpu_training_keeps_cudnn_weights_compact(kind):
    """After thinc's optimizer replaces the weights, cuDNN must not warn that it compacts
    them at every call (fresh processes: PyTorch warns only once per process). The control run,
    with compacting switched off, must show the warning, or this test proves nothing."""
    warned = {}
    for mode in ("without-compacting", "compacting"):
        run = subprocess.run([sys.executable, "-c", COMPACT_ON_GPU, kind, mode], capture_output=True,
                             text=True, timeout=300, cwd=ROOT)
        assert run.returncode == 0, run.stderr[-3000:]
        warned[mode] = int(run.stdout.strip().splitlines()[-1])
    assert warned["without-compacting"] > 0, "control: no cuDNN warning even without compacting"
    assert warned["compacting"] == 0
