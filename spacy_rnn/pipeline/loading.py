"""Loading a component's saved parts (cfg, vocab, model) with errors that name the component
and the file, or the part of its bytes, that failed: shared by the labelers and the translator."""
from pathlib import Path
from typing import Callable

import srsly
from spacy import util
from spacy.pipeline import TrainablePipe


class LoadError(ValueError):
    """A saved component that cannot be loaded; the message names it and what failed."""


def load_parts_from_disk(pipe: TrainablePipe, path, exclude=tuple()) -> None:
    """TrainablePipe.from_disk's reading, with every file's errors naming it."""
    path = Path(path)
    readers = {"cfg": lambda p: pipe.cfg.update(srsly.read_json(p) if p.exists() else {}),
               "vocab": lambda p: pipe.vocab.from_disk(p, exclude=exclude),
               "model": lambda p: pipe.model.from_bytes(p.read_bytes())}
    util.from_disk(path, {key: naming_errors(pipe.name, str(path / key), read)
                          for key, read in readers.items()}, exclude)


def load_parts_from_bytes(pipe: TrainablePipe, bytes_data: bytes, exclude=tuple()) -> None:
    """TrainablePipe.from_bytes's reading, with every part's errors naming it."""
    setters = {"cfg": lambda b: pipe.cfg.update(srsly.json_loads(b)),
               "vocab": lambda b: pipe.vocab.from_bytes(b, exclude=exclude),
               "model": pipe.model.from_bytes}
    parts = naming_errors(pipe.name, "its bytes", srsly.msgpack_loads)(bytes_data)
    util.from_dict(parts, {key: naming_errors(pipe.name, f"the {key!r} part of its bytes", set_part)
                           for key, set_part in setters.items()}, exclude)


def naming_errors(name: str, where: str, read: Callable) -> Callable:
    """``read`` with any error re-raised as a LoadError naming the component and ``where``
    (a file, or a part of the bytes); a LoadError passes unchanged."""
    def named(data):
        try:
            return read(data)
        except LoadError:
            raise
        except Exception as err:  # any failure here means unusable data: say where
            detail = _describe(err)
            raise LoadError(f"[{name}] cannot load {where}: {detail}. The "
                            f"saved pipeline is damaged, incomplete or not what this component "
                            f"saved (another model config): save or copy it again, load it with "
                            f"the config it was saved with, or train it again.") from err
    return named


def _describe(err: Exception) -> str:
    """An error's message; prefixed by its type unless it is a ValueError that explains
    itself (e.g. a KeyError's message is only the missing key)."""
    text = str(err).rstrip(".")
    if isinstance(err, ValueError) and text:
        return text
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
