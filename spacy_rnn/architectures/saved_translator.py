"""Checks of a saved translator, run while it loads: the network's sizes before anything
is allocated, and the SentencePiece models against the network they were trained with.

A saved pipeline is data: a damaged or edited one must fail at load with an error that
says which part is wrong, not allocate what its sizes ask for, nor fail later at the
first call. The errors here say what is wrong; the component adds its name and file.
"""
import hashlib
import io
from typing import Dict

from .sentencepiece import check_special_ids, load_sentencepiece

# Far above any real translator, far below what would exhaust a machine's memory.
MAX_VOCAB = 1 << 20
MAX_WIDTH = 1 << 16
MAX_LAYERS = 64
SIZE_LIMITS = {"src_vocab": MAX_VOCAB, "tgt_vocab": MAX_VOCAB, "emb_size": MAX_WIDTH,
               "hidden": MAX_WIDTH, "enc_layers": MAX_LAYERS, "dec_layers": MAX_LAYERS}
SIDES = (("source", "spm_source", "src_vocab"), ("target", "spm_target", "tgt_vocab"))


def read_saved_network(data: bytes, device) -> Dict:
    """The ``{"config", "state"}`` dict of a saved ``Seq2Seq`` (tensors only: torch's
    ``weights_only`` loader, which runs no code), with its sizes checked."""
    import torch

    try:
        saved = torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except Exception as err:  # torch raises pickle, zip and runtime errors alike
        raise ValueError(f"the saved network is damaged: torch could not read it ({err})") from None
    if not (isinstance(saved, dict) and isinstance(saved.get("config"), dict)
            and isinstance(saved.get("state"), dict)):
        raise ValueError("the saved network is damaged: it lacks its 'config' or 'state'")
    check_sizes(saved["config"])
    return saved


def check_sizes(config: Dict) -> None:
    """Every size of a saved network's config is a positive int within SIZE_LIMITS."""
    for key, limit in SIZE_LIMITS.items():
        value = config.get(key)
        if type(value) is not int or not 1 <= value <= limit:
            raise ValueError(f"the saved network has {key} = {value!r}, outside the sane range "
                             f"1..{limit}: the file is damaged or was not written by spacy-rnn")


def check_state_shapes(config: Dict, state: Dict) -> None:
    """The sizes that decide how much memory the network takes (vocabularies, widths, layers)
    match the saved tensors, so that rebuilding it allocates no more than the file holds
    (``load_state_dict`` then checks every tensor: :func:`load_state`)."""
    expected = {"src_embed.weight": (config["src_vocab"], config["emb_size"]),
                "tgt_embed.weight": (config["tgt_vocab"], config["emb_size"]),
                "bridge_hidden.weight": (config["dec_layers"] * config["hidden"], config["hidden"])}
    found = {key: tuple(getattr(state.get(key), "shape", ())) for key in expected}
    wrong = [f"{key} {found[key]} (config: {shape})" for key, shape in expected.items()
             if found[key] != shape]
    for side, key in (("encoder", "enc_layers"), ("decoder", "dec_layers")):
        if f"{side}_rnn.weight_hh_l{config[key] - 1}" not in state:
            wrong.append(f"{side} layers ({key} = {config[key]})")
    if wrong:
        raise ValueError(f"the saved network's tensors do not match its config: "
                         f"{'; '.join(wrong)}. The file is damaged")


def load_state(module, state: Dict) -> None:
    """``module.load_state_dict(state)``, a mismatch raised as a ValueError."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError) as err:
        raise ValueError(f"the saved network's tensors do not match its config: {err}") from None


def check_subwords(attrs: Dict, network_config: Dict) -> None:
    """The SentencePiece models of a loaded core: present when the network was trained,
    unchanged since saving (SHA-256), readable, with the translator's special ids, and with
    as many pieces as the network's vocabularies. A core never initialized (no models, no
    sums) passes: using it raises spaCy's E109."""
    sums = attrs.get("spm_sha256") or {}
    if not sums and not attrs["spm_source"] and not attrs["spm_target"]:
        return
    for side, key, vocab_key in SIDES:
        data = attrs[key]
        if not data:
            raise ValueError(f"the {side} SentencePiece model is missing from the saved model")
        if side in sums and hashlib.sha256(data).hexdigest() != sums[side]:
            raise ValueError(f"the {side} SentencePiece model is damaged (its SHA-256 sum "
                             f"differs from the one saved with it)")
        _check_readable(data, side, network_config[vocab_key])


def _check_readable(data: bytes, side: str, vocab: int) -> None:
    try:
        processor = load_sentencepiece(data)
    except Exception as err:  # sentencepiece raises RuntimeError/OSError variants
        raise ValueError(f"the {side} SentencePiece model is damaged: {err}") from None
    check_special_ids(processor, f"the {side} SentencePiece model")
    if processor.get_piece_size() != vocab:
        raise ValueError(f"the {side} SentencePiece model has {processor.get_piece_size()} "
                         f"pieces, but the network was trained with {vocab}")
