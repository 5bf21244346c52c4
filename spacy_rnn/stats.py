"""Size statistics of trained pipelines and a description of the machine, shared by the
workflows' evaluation scripts and the benchmarks."""
import os
import platform
import subprocess
from pathlib import Path
from typing import List, Union

from spacy.language import Language

from .torch.precision import cpuinfo_fields


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


# the x86 vector extensions that change the speed ratios of this package's kernels
VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what the platform module says."""
    names = [value for key, value in cpuinfo_fields() if key == "model name"]
    return names[0] if names else (platform.processor() or platform.machine())


def vector_extensions() -> List[str]:
    """The VECTOR_FLAGS this CPU has (empty where /proc/cpuinfo is not readable)."""
    flags = {flag for key, value in cpuinfo_fields() if key == "flags" for flag in value.split()}
    return [flag for flag in VECTOR_FLAGS if flag in flags]


def code_version(package_dir: Union[str, Path, None] = None) -> str:
    """This package's version and, when it runs from its own git checkout (the package folder
    at the top of a repository with pyproject.toml), the commit ("+modified" if the package's
    files differ from it), e.g. "spacy-rnn 0.1.0, git 1a2b3c4+modified"; metrics record it so
    that a result names the code that produced it. An installed copy (site-packages, even
    inside some other repository) gives the version alone."""
    from . import __version__

    folder = Path(package_dir or Path(__file__).parent).resolve()
    text = f"spacy-rnn {__version__}"
    if not (folder.parent / "pyproject.toml").is_file():
        return text
    try:
        top = _git(folder, "rev-parse", "--show-toplevel").stdout.strip()
        if not top or Path(top).resolve() != folder.parent:
            return text
        commit = _git(folder, "rev-parse", "--short", "HEAD").stdout.strip()
        modified = _git(folder, "diff", "--quiet", "HEAD", "--", ".").returncode != 0
    except (OSError, subprocess.SubprocessError):
        return text
    return f"{text}, git {commit}{'+modified' if modified else ''}" if commit else text


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10)


def machine_description() -> str:
    """One line naming the CPU, its cores and vector extensions, and the library versions,
    e.g. "AMD EPYC, 2 cores, avx2 fma avx512f avx512_vnni avx512_bf16; torch 2.13.0+cpu, spaCy 3.8.18"."""
    import spacy
    import torch

    flags = " ".join(vector_extensions()) or "vector extensions unknown"
    return (f"{cpu_model()}, {os.cpu_count()} cores, {flags}; torch {torch.__version__}, "
            f"spaCy {spacy.__version__}")
