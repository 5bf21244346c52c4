"""Loading saved rnn_tagger / rnn_ner components: weights load without running code, and
damaged or mismatched files give errors that name the component and the file."""
import io
import pathlib

import pytest
import spacy
import srsly
import torch
from spacy.training import Example
from thinc.api import fix_random_seed

TAGGED = [("I like green eggs", ["N", "V", "J", "N"]), ("Eat blue ham", ["V", "J", "N"])]
SMALL = {"tok2vec": {"width": 16, "rows": [200, 50, 50, 50],
                     "char_embed": {"width": 8, "char_dim": 8, "rows": 100}},
         "encoder": {"width": 16, "depth": 1}}


class Payload:
    """Unpickling this creates ``marker``: what a malicious weights file could run."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


@pytest.fixture(scope="module")
def saved_tagger(tmp_path_factory):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("rnn_tagger", config={"model": {**SMALL, "crf": True}})
    nlp.initialize(lambda: [Example.from_dict(nlp.make_doc(t), {"tags": tags}) for t, tags in TAGGED])
    path = tmp_path_factory.mktemp("tagger")
    nlp.to_disk(path)
    return path


def _copy(src: pathlib.Path, dst: pathlib.Path) -> pathlib.Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _with_payload_weights(model_bytes: bytes, marker: pathlib.Path) -> bytes:
    """The model bytes with every torch shim's weights replaced by a pickle payload."""
    msg = srsly.msgpack_loads(model_bytes)
    buffer = io.BytesIO()
    torch.save(Payload(marker), buffer)
    n_replaced = 0
    for node_shims in msg["shims"]:
        for i, shim_bytes in enumerate(node_shims):
            shim = srsly.msgpack_loads(shim_bytes)
            shim["state"] = buffer.getvalue()
            node_shims[i] = srsly.msgpack_dumps(shim)
            n_replaced += 1
    assert n_replaced == 2  # the character CNN and the encoder
    return srsly.msgpack_dumps(msg)


@pytest.mark.parametrize("force_unsafe_env", [False, True])
def test_weights_holding_a_pickle_payload_are_refused_unrun(saved_tagger, tmp_path, monkeypatch,
                                                           force_unsafe_env):
    if force_unsafe_env:  # makes torch.load unpickle anything, unless weights_only is passed
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    path = _copy(saved_tagger, tmp_path / "pipeline")
    marker = tmp_path / "payload-ran"
    model_file = path / "rnn_tagger" / "model"
    model_file.write_bytes(_with_payload_weights(model_file.read_bytes(), marker))
    with pytest.raises(ValueError, match=r"\[rnn_tagger\] cannot load .*rnn_tagger/model.*"
                                         r"objects other than tensors"):
        spacy.load(path)
    assert not marker.exists()


def test_the_same_payload_runs_without_weights_only(tmp_path):
    """The payload above is live: a plain torch.load runs it (so the test above can fail)."""
    marker = tmp_path / "payload-ran"
    buffer = io.BytesIO()
    torch.save(Payload(marker), buffer)
    torch.load(io.BytesIO(buffer.getvalue()), weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("change", [-1, 1])
def test_a_label_list_that_does_not_fit_the_output_layer_is_refused(saved_tagger, tmp_path, change):
    path = _copy(saved_tagger, tmp_path / "pipeline")
    cfg = srsly.read_json(path / "rnn_tagger" / "cfg")
    cfg["labels"] = cfg["labels"][:-1] if change < 0 else cfg["labels"] + ["EXTRA"]
    srsly.write_json(path / "rnn_tagger" / "cfg", cfg)
    n = 3 + change
    with pytest.raises(ValueError, match=rf"\[rnn_tagger\] .*rnn_tagger/cfg lists {n} labels, but the "
                                         rf"output layer in .*rnn_tagger/model scores 3"):
        spacy.load(path)


def test_a_label_list_that_does_not_fit_is_refused_from_bytes(saved_tagger):
    nlp = spacy.load(saved_tagger)
    tagger = nlp.get_pipe("rnn_tagger")
    tagger.cfg["labels"] = tagger.cfg["labels"][:2]
    data = tagger.to_bytes()
    with pytest.raises(ValueError, match=r"\[rnn_tagger\] the 'cfg' part of its bytes lists 2 labels"):
        spacy.load(saved_tagger).get_pipe("rnn_tagger").from_bytes(data)


@pytest.mark.parametrize("name", ["model", "cfg"])
def test_a_truncated_file_names_the_component_and_the_file(saved_tagger, tmp_path, name):
    path = _copy(saved_tagger, tmp_path / "pipeline")
    damaged = path / "rnn_tagger" / name
    damaged.write_bytes(damaged.read_bytes()[: len(damaged.read_bytes()) // 2])
    with pytest.raises(ValueError, match=rf"\[rnn_tagger\] cannot load .*rnn_tagger/{name}: "):
        spacy.load(path)


def test_truncated_bytes_name_the_component(saved_tagger):
    data = spacy.load(saved_tagger).get_pipe("rnn_tagger").to_bytes()
    tagger = spacy.load(saved_tagger).get_pipe("rnn_tagger")
    with pytest.raises(ValueError, match=r"\[rnn_tagger\] cannot load its bytes"):
        tagger.from_bytes(data[:-10])


def test_a_load_error_names_the_type_of_the_failure():
    from spacy_rnn.pipeline.loading import LoadError, naming_errors

    def missing_key(data):
        return data["model"]

    with pytest.raises(LoadError, match=r"^\[ner\] cannot load its bytes: KeyError: 'model'\. The saved"):
        naming_errors("ner", "its bytes", missing_key)({})
    with pytest.raises(LoadError, match=r"^\[ner\] cannot load f: ValueError\. The saved"):
        naming_errors("ner", "f", lambda data: (_ for _ in ()).throw(ValueError()))(None)
    with pytest.raises(LoadError, match=r"^\[ner\] cannot load f: the file is bad\. The saved"):
        naming_errors("ner", "f", lambda data: (_ for _ in ()).throw(ValueError("the file is bad.")))(None)
