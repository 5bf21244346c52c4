"""SentencePiece models trained from texts and kept as bytes inside the pipeline.

Ids are fixed so that they match the seq2seq module: 0 = padding, 1 = begin of
sentence, 2 = end of sentence, 3 = unknown.
"""
import io
import re
import warnings
from typing import Iterable, List

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3


def train_sentencepiece(texts: Iterable[str], vocab_size: int, model_type: str = "unigram",
                        character_coverage: float = 1.0) -> bytes:
    """Train a SentencePiece model; on a corpus too small for ``vocab_size``,
    retry with the largest size it supports and warn."""
    import sentencepiece as spm

    sentences = [t for t in texts if t.strip()]
    if not sentences:
        raise ValueError("Cannot train a SentencePiece model: the training texts are all empty.")
    try:
        return _train(spm, sentences, vocab_size, model_type, character_coverage)
    except RuntimeError as err:
        cap = _vocab_cap(str(err))
        if cap is None or cap >= vocab_size:
            raise
        warnings.warn(f"SentencePiece: the training texts support at most {cap} pieces, "
                      f"not the configured vocab_size {vocab_size}; using {cap}.")
        return _train(spm, sentences, cap, model_type, character_coverage)


def _train(spm, sentences: List[str], vocab_size: int, model_type: str, coverage: float) -> bytes:
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=buffer, vocab_size=vocab_size,
        model_type=model_type, character_coverage=coverage, pad_id=PAD_ID, bos_id=BOS_ID,
        eos_id=EOS_ID, unk_id=UNK_ID, minloglevel=2, input_sentence_size=2_000_000,
        shuffle_input_sentence=True)
    return buffer.getvalue()


def _vocab_cap(message: str):
    match = re.search(r"<= (\d+)", message)
    return int(match.group(1)) if match else None


def load_sentencepiece(model_bytes: bytes):
    """A ``SentencePieceProcessor`` from serialized model bytes."""
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_proto=model_bytes)


def read_model_file(path) -> bytes:
    """Bytes of an existing SentencePiece ``.model`` file, with a clear error if it is unusable."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SentencePiece model file not found: {path}")
    data = path.read_bytes()
    try:
        processor = load_sentencepiece(data)
    except Exception as err:  # sentencepiece raises RuntimeError/OSError variants
        raise ValueError(f"{path} is not a valid SentencePiece model: {err}") from None
    check_special_ids(processor, path)
    return data


def check_special_ids(processor, where) -> None:
    """The translator pads with id 0, starts/ends with 1/2 and reads unknown text as 3: a
    model trained with other special ids (SentencePiece's defaults are unk 0, bos 1, eos 2,
    no padding) would turn padding into real pieces, or pieces into padding.

    :param where: names the model in the error (a path, or e.g. "the source SentencePiece model")
    """
    expected = {"pad_id": PAD_ID, "bos_id": BOS_ID, "eos_id": EOS_ID, "unk_id": UNK_ID}
    found = {name: getattr(processor, name)() for name in expected}
    if found != expected:
        raise ValueError(
            f"{where}: SentencePiece special ids {found} differ from the ids the translator uses "
            f"{expected} (id 0 is padding inside the network, so it cannot be a real piece such "
            f"as unk). Retrain it with --pad_id=0 --bos_id=1 --eos_id=2 --unk_id=3 (spm_train), "
            f"or pad_id=0, bos_id=1, eos_id=2, unk_id=3 in "
            f"sentencepiece.SentencePieceTrainer.train(...); or leave sentencepiece_model unset "
            f"to train one at initialization.")
