"""Build the C time-step loops and attention scores (spacy_rnn/torch/native) with the package.

Metadata lives in pyproject.toml; this file only adds the compiled library, in two variants
(``_steps_avx2`` with AVX2/FMA on x86-64, ``_steps`` portable; the loader picks by CPU). Each
is built with OpenMP where the compiler has it, else without. Both are optional: where no C
compiler works, the install succeeds without them and spacy-rnn runs its PyTorch code,
warning once at run time (spacy_rnn/torch/native/__init__.py).
"""
import hashlib
import platform
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NATIVE = Path("spacy_rnn", "torch", "native")
SOURCES = ("steps.c", "attention.c", "approx.h")  # hashed in this order, as the loader does
# -fno-wrapv undoes the -fwrapv of Python's own CFLAGS, which setuptools puts first: wrapping
# signed arithmetic keeps gcc from optimizing the loops' int-indexed inner loops (BENCHMARKS.md).
FLAGS = ["-O3", "-std=gnu99", "-fno-math-errno", "-fno-trapping-math", "-fno-wrapv"]


def source_hash() -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((NATIVE / name).read_bytes())
    return digest.hexdigest()


def native_extension(name: str, extra_flags: list) -> Extension:
    return Extension(f"spacy_rnn.torch.native.{name}",
                     sources=[str(NATIVE / "steps.c"), str(NATIVE / "attention.c")],
                     depends=[str(NATIVE / "approx.h")],
                     define_macros=[("SPACY_RNN_SOURCE_HASH", f'"{source_hash()}"')],
                     extra_compile_args=FLAGS + extra_flags, extra_link_args=["-lm"], optional=True)


class BuildNative(build_ext):
    """build_ext that retries an extension without OpenMP where the compiler lacks it, and
    skips it (one warning) where it does not build at all."""

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(self._with_openmp(ext))
        except Exception as err:  # noqa: BLE001 - any compiler failure: try without OpenMP
            self.warn(f"{ext.name} with OpenMP failed ({err}); building it without OpenMP")
            super().build_extension(ext)

    @staticmethod
    def _with_openmp(ext: Extension) -> Extension:
        copy = Extension(ext.name, ext.sources, depends=ext.depends, define_macros=ext.define_macros,
                         extra_compile_args=ext.extra_compile_args + ["-fopenmp"],
                         extra_link_args=ext.extra_link_args + ["-fopenmp"], optional=ext.optional)
        copy._full_name, copy._needs_stub = getattr(ext, "_full_name", ext.name), False
        return copy

    def get_export_symbols(self, ext: Extension) -> list:
        return []  # a plain C library loaded with ctypes: no PyInit_ function


def extensions() -> list:
    exts = [native_extension("_steps", [])]
    if platform.machine().lower() in ("x86_64", "amd64"):
        exts.insert(0, native_extension("_steps_avx2", ["-mavx2", "-mfma"]))
    return exts


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildNative})
