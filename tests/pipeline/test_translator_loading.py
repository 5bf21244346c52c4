"""Loading a saved ``rnn_translator`` checks what it reads: damaged, truncated or edited
files fail at load with an error that names the component and the file, before anything
the file's sizes ask for is allocated, and no code in them runs (torch's weights_only)."""
import hashlib
import io
from pathlib import Path

import pytest
import sentencepiece as spm
import spacy
import srsly
import torch

from tiny_pipelines import SOURCES, trained_translator, translations

COMPONENT = r"\[rnn_translator\] cannot load "


@pytest.fixture(scope="module")
def trained_and_saved(tmp_path_factory):
    """A saved pipeline, and what it translated before it was saved."""
    path = tmp_path_factory.mktemp("translator")
    nlp = trained_translator(n_iter=2)
    before = translations(nlp, SOURCES)
    nlp.to_disk(path)
    return path, before


@pytest.fixture(scope="module")
def saved(trained_and_saved) -> Path:
    return trained_and_saved[0]


def model_file(path: Path) -> Path:
    return path / "rnn_translator" / "model"


def read_model(path: Path):
    """The component's model file as thinc's msgpack dict, and the index of the core node."""
    msg = srsly.msgpack_loads(model_file(path).read_bytes())
    core = [node["name"] for node in msg["nodes"]].index("seq2seq-core")
    return msg, core


def write_model(path: Path, msg) -> None:
    model_file(path).write_bytes(srsly.msgpack_dumps(msg))


def copy_of(saved: Path, tmp_path: Path) -> Path:
    target = tmp_path / "pipeline"
    for source in saved.rglob("*"):
        if source.is_file():
            (target / source.relative_to(saved)).parent.mkdir(parents=True, exist_ok=True)
            (target / source.relative_to(saved)).write_bytes(source.read_bytes())
    return target


def edit_network(path: Path, edit) -> None:
    """Rewrite the saved torch payload ({"config", "state"}) of the core with ``edit``."""
    msg, core = read_model(path)
    shim = srsly.msgpack_loads(msg["shims"][core][0])
    payload = torch.load(io.BytesIO(shim["state"]), weights_only=True)
    edit(payload)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    shim["state"] = buffer.getvalue()
    msg["shims"][core][0] = srsly.msgpack_dumps(shim)
    write_model(path, msg)


def edit_attr(path: Path, name: str, value) -> None:
    msg, core = read_model(path)
    msg["attrs"][core][name] = srsly.msgpack_dumps(value)
    write_model(path, msg)


def get_attr(path: Path, name: str):
    msg, core = read_model(path)
    return srsly.msgpack_loads(msg["attrs"][core][name])


def test_saved_pipeline_loads_and_translates_the_same(trained_and_saved):
    saved, before = trained_and_saved
    assert any(text.strip() for text in before)
    assert translations(spacy.load(saved), SOURCES) == before


def test_huge_saved_vocabulary_is_refused_before_allocating(saved, tmp_path, monkeypatch):
    path = copy_of(saved, tmp_path)
    edit_network(path, lambda payload: payload["config"].update(src_vocab=2_000_000_000))
    built = []
    real_init = torch.nn.Embedding.__init__

    def no_huge_tables(self, num_embeddings, *args, **kwargs):
        built.append(num_embeddings)
        if num_embeddings > 10 ** 7:
            raise MemoryError(f"would allocate {num_embeddings} rows")
        real_init(self, num_embeddings, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Embedding, "__init__", no_huge_tables)
    message = r"rnn_translator/model: the saved network has src_vocab = 2000000000, outside the sane"
    with pytest.raises(ValueError, match=COMPONENT + ".*" + message + r" range 1\.\.1048576"):
        spacy.load(path)
    assert max(built) <= 10 ** 7


@pytest.mark.parametrize("change,message", [
    ({"tgt_vocab": 1000}, r"tgt_embed\.weight \(\d+, 16\) \(config: \(1000, 16\)\)"),
    ({"hidden": 64}, r"bridge_hidden\.weight \(32, 32\) \(config: \(64, 64\)\)"),
    ({"enc_layers": 3}, r"encoder layers \(enc_layers = 3\)"),
    ({"cell": "lstm"}, r"Missing key\(s\) in state_dict"),
])
def test_sizes_that_do_not_match_the_saved_tensors_are_refused(saved, tmp_path, change, message):
    path = copy_of(saved, tmp_path)
    edit_network(path, lambda payload: payload["config"].update(change))
    with pytest.raises(ValueError, match=r"(?s)" + COMPONENT + r".*model: the saved network's "
                                         r"tensors do not match its config: .*" + message):
        spacy.load(path)


def test_truncated_model_file_names_the_component_and_the_file(saved, tmp_path):
    path = copy_of(saved, tmp_path)
    data = model_file(path).read_bytes()
    model_file(path).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=COMPONENT + r".*pipeline/rnn_translator/model: .*The "
                                                     r"saved pipeline is damaged, incomplete"):
        spacy.load(path)


def test_garbled_cfg_file_names_the_component_and_the_file(saved, tmp_path):
    path = copy_of(saved, tmp_path)
    (path / "rnn_translator" / "cfg").write_text('{"beam_size": 1,', encoding="utf8")
    with pytest.raises(ValueError, match=COMPONENT + r".*pipeline/rnn_translator/cfg: "):
        spacy.load(path)


def test_truncated_component_bytes_name_the_component(saved):
    translator = spacy.load(saved).get_pipe("rnn_translator")
    data = translator.to_bytes()
    with pytest.raises(ValueError, match=COMPONENT + "its bytes"):
        translator.from_bytes(data[: len(data) // 2])


def test_deleted_sentencepiece_model_fails_at_load(saved, tmp_path):
    path = copy_of(saved, tmp_path)
    edit_attr(path, "spm_target", b"")
    with pytest.raises(ValueError, match=COMPONENT + r".*rnn_translator/model: the target "
                                                     r"SentencePiece model is missing"):
        spacy.load(path)


def test_damaged_sentencepiece_model_fails_at_load(saved, tmp_path):
    path = copy_of(saved, tmp_path)
    data = bytearray(get_attr(path, "spm_source"))
    data[len(data) // 2] ^= 0x01  # may still parse: the saved SHA-256 sum catches it
    edit_attr(path, "spm_source", bytes(data))
    with pytest.raises(ValueError, match=COMPONENT + r".*model: the source SentencePiece model is "
                                                     r"damaged \(its SHA-256 sum differs"):
        spacy.load(path)


def test_unreadable_sentencepiece_model_without_sums_fails_at_load(saved, tmp_path):
    """Pipelines saved before the sums existed: the models are still parsed at load."""
    path = copy_of(saved, tmp_path)
    edit_attr(path, "spm_sha256", {})
    edit_attr(path, "spm_source", b"not a SentencePiece model")
    with pytest.raises(ValueError, match=COMPONENT + r".*model: the source SentencePiece model is "
                                                     r"damaged: "):
        spacy.load(path)


def test_sentencepiece_model_with_default_ids_in_a_saved_pipeline_is_refused(saved, tmp_path):
    path = copy_of(saved, tmp_path)
    size = spm.SentencePieceProcessor(model_proto=get_attr(path, "spm_source")).get_piece_size()
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(SOURCES * 3), model_writer=buffer,
                                   vocab_size=size, minloglevel=2, hard_vocab_limit=False)
    default_ids = buffer.getvalue()  # unk 0, bos 1, eos 2, no padding: SentencePiece's defaults
    assert spm.SentencePieceProcessor(model_proto=default_ids).unk_id() == 0
    for name in ("spm_source", "spm_target"):
        edit_attr(path, name, default_ids)
    digest = hashlib.sha256(default_ids).hexdigest()
    edit_attr(path, "spm_sha256", {"source": digest, "target": digest})
    message = (r".*the source SentencePiece model: SentencePiece special ids .*'unk_id': 0.*"
               r"id 0 is padding .*--pad_id=0 --bos_id=1 --eos_id=2 --unk_id=3")
    with pytest.raises(ValueError, match=COMPONENT + message):
        spacy.load(path)


class RunsCode:
    """Unpickling this would call ``Path.touch(marker)``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_saved_network_cannot_run_code(saved, tmp_path, monkeypatch):
    path = copy_of(saved, tmp_path)
    marker = tmp_path / "code-ran"
    edit_network(path, lambda payload: payload.update(extra=RunsCode(marker)))
    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **kw: loads.append(kw) or real_load(*a, **kw))
    with pytest.raises(ValueError, match=COMPONENT + r".*model: the saved network is damaged: "
                                                     r"torch could not read it"):
        spacy.load(path)
    assert not marker.exists()
    assert loads and all(kw.get("weights_only") is True for kw in loads)


def test_the_model_itself_checks_its_sentencepiece_models_before_allocating(saved, tmp_path,
                                                                            monkeypatch):
    """The check runs where the network is deserialized (thinc loads the core's attrs before
    its shim), so it holds for the thinc model loaded without the component too."""
    path = copy_of(saved, tmp_path)
    edit_attr(path, "spm_target", b"")
    model = spacy.load(saved).get_pipe("rnn_translator").model
    built = []
    monkeypatch.setattr(torch.nn.Embedding, "__init__", lambda *a, **kw: built.append(a))
    with pytest.raises(ValueError, match=r"^the target SentencePiece model is missing"):
        model.from_bytes(model_file(path).read_bytes())
    assert not built  # refused before the network was rebuilt
