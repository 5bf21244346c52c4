"""The package's layers import downwards only (docs/ARCHITECTURE.md): the spaCy components in
``spacy_rnn/pipeline/`` reach their models through the model tree and config, never by
importing ``spacy_rnn.architectures`` or ``spacy_rnn.torch``."""
import ast
from pathlib import Path
from typing import Iterator

import spacy_rnn

PACKAGE = Path(spacy_rnn.__file__).parent
FORBIDDEN_IN_PIPELINE = ("spacy_rnn.architectures", "spacy_rnn.torch")


def imported_modules(code: str, package: str) -> Iterator[str]:
    """The absolute names of the modules some source code imports (relative imports resolved
    against ``package``; ``from .. import x`` also yields ``<parent>.x``: x may be a module)."""
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            prefix = ".".join(base) if node.level else ""
            module = ".".join(p for p in (prefix, node.module or "") if p)
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def is_within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_resolving_relative_imports():
    code = ("from ..architectures.translator import x\nfrom .. import torch\n"
            "from .labeler import y\nimport spacy\n")
    modules = set(imported_modules(code, "spacy_rnn.pipeline"))
    assert {"spacy_rnn.architectures.translator", "spacy_rnn.torch",
            "spacy_rnn.pipeline.labeler", "spacy"} <= modules


def test_pipeline_imports_no_architectures_nor_torch_modules():
    offenders = [f"{path.name}: {module}"
                 for path in sorted((PACKAGE / "pipeline").glob("*.py"))
                 for module in imported_modules(path.read_text(encoding="utf8"),
                                                "spacy_rnn.pipeline")
                 if any(is_within(module, bad) for bad in FORBIDDEN_IN_PIPELINE)]
    assert not offenders, f"pipeline/ imports what it must reach by config: {offenders}"


def test_the_pipelines_copy_of_the_quantize_options_matches_the_torch_layers():
    from spacy_rnn.pipeline import translator as component
    from spacy_rnn.torch import quantize

    assert component.QUANTIZE_OPTIONS == quantize.QUANTIZE_OPTIONS
