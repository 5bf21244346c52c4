"""Size statistics of trained pipelines, shared by the workflows' evaluation scripts."""
from pathlib import Path
from typing import Union

from spacy.language import Language


def count_parameters(nlp: Language) -> int:
    """Number of trainable numbers in all components: thinc params and wrapped torch modules."""
    total = 0
    for _, proc in nlp.pipeline:
        model = getattr(proc, "model", None)
        if model is None:
            continue
        for node in model.walk():
            total += sum(node.get_param(n).size for n in node.param_names if node.has_param(n))
            total += sum(p.numel() for shim in node.shims for p in shim._model.parameters())
    return total


def directory_size(path: Union[str, Path]) -> int:
    """Bytes of all files below ``path`` (a saved pipeline's size on disk)."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
