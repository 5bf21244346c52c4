"""Trained pipelines survive ``spacy package``: built as wheels, installed into a fresh virtual
environment and loaded there by name, they give the same tags and translations as before.

The fresh environment is made like ``python -m venv --system-site-packages --without-pip``
(with ``venv.EnvBuilder``) and, when the tests themselves run inside a virtual environment
(CI, development), one ``.pth`` file that adds this environment's site-packages behind its
own: installing torch, spaCy and spacy-rnn from scratch would take minutes, and what is tested
is the wheel, not those installs (the wheel is installed with this environment's pip,
``pip --python``). The wheels are installed with ``--no-deps``, so the pipeline package brings nothing
but its own files: everything the pipelines need besides spacy-rnn (and spaCy) must be inside
the wheel, in particular the translator's SentencePiece model (checked: no separate
SentencePiece file is in the wheel). The package's requirements are checked to name spacy-rnn
and spaCy with ranges that include the installed versions.

``spacy package --build wheel`` needs the ``build`` package (in the ``test`` extra).
"""
import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
import spacy
from packaging.requirements import Requirement

import spacy_rnn
from tiny_pipelines import TEXTS, tags, trained_tagger, trained_translator, translations

pytestmark = pytest.mark.slow

VERSION = "0.0.1"
TAGGER_PACKAGE = "en_rnn_tagger_tiny"  # spacy package prefixes the language
TRANSLATOR_PACKAGE = "en_rnn_translator_tiny"

RUN_IN_VENV = r"""
import json, sys
import torch
torch.set_num_threads(1)
import spacy
texts = json.loads(sys.argv[1])
out = {}
for name in sys.argv[2:]:
    nlp = spacy.load(name)
    docs = list(nlp.pipe(texts))
    out[name] = {
        "path": str(nlp.path),
        "pipe_names": nlp.pipe_names,
        "tags": [[t.tag_ for t in doc] for doc in docs],
        "translations": [doc._.translation if doc.has_extension("translation") else None
                         for doc in docs],
    }
print(json.dumps(out))
"""


def package(pipeline_dir: Path, out_dir: Path, name: str) -> Path:
    out_dir.mkdir()
    command = [sys.executable, "-m", "spacy", "package", str(pipeline_dir), str(out_dir),
               "--name", name, "--version", VERSION, "--build", "wheel"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (
        "spacy package failed (it needs the 'build' package: pip install -e '.[test]')\n"
        + result.stdout[-3000:] + result.stderr[-3000:])
    wheels = list(out_dir.glob("*/dist/*.whl"))
    assert len(wheels) == 1, result.stdout[-2000:]
    return wheels[0]


def fresh_venv(path: Path) -> Path:
    """A new virtual environment without pip that sees this environment's packages."""
    venv.EnvBuilder(system_site_packages=True, with_pip=False,
                    symlinks=os.name != "nt").create(path)
    python = path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    ask = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run([str(python), "-c", ask], capture_output=True, text=True,
                             check=True).stdout.strip()
    # --system-site-packages exposes the *base* interpreter's packages; when this process
    # runs in a venv, chain its site-packages too (addsitedir also runs their .pth files,
    # which an editable install of spacy-rnn needs).
    outer = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in outer)
    Path(purelib, "_spacy_rnn_test_outer_env.pth").write_text(lines, encoding="utf8")
    return python


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    root = tmp_path_factory.mktemp("packaging")
    tagger, translator = trained_tagger(), trained_translator()
    before = {TAGGER_PACKAGE: tags(tagger), TRANSLATOR_PACKAGE: translations(translator)}
    spm = translator.get_pipe("rnn_translator").model.get_ref("core").attrs["spm_source"]
    tagger.to_disk(root / "tagger")
    translator.to_disk(root / "translator")
    wheels = {TAGGER_PACKAGE: package(root / "tagger", root / "tagger_pkg", "rnn_tagger_tiny"),
              TRANSLATOR_PACKAGE: package(root / "translator", root / "translator_pkg",
                                          "rnn_translator_tiny")}
    python = fresh_venv(root / "venv")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--disable-pip-version-check", *map(str, wheels.values())],
        capture_output=True, text=True, timeout=120)
    assert install.returncode == 0, install.stdout + install.stderr
    # the pipelines now exist only inside the wheels / the new environment
    for name in ("tagger", "translator", "tagger_pkg", "translator_pkg"):
        for path in sorted((root / name).rglob("*"), reverse=True):
            if path.is_file() and path.suffix != ".whl":
                path.unlink()
    run = subprocess.run([str(python), "-c", RUN_IN_VENV, json.dumps(TEXTS), *wheels],
                         capture_output=True, text=True, timeout=180, cwd=root)
    assert run.returncode == 0, run.stderr[-4000:]
    after = json.loads(run.stdout.strip().splitlines()[-1])
    return {"root": root, "wheels": wheels, "before": before, "after": after, "spm": spm}


def test_installed_packages_load_from_the_new_environment(packaged):
    for name in (TAGGER_PACKAGE, TRANSLATOR_PACKAGE):
        assert not spacy.util.is_package(name)  # not installed in this environment
        assert Path(packaged["after"][name]["path"]).resolve().is_relative_to(
            (packaged["root"] / "venv").resolve())
    assert packaged["after"][TAGGER_PACKAGE]["pipe_names"] == ["rnn_tagger"]
    assert packaged["after"][TRANSLATOR_PACKAGE]["pipe_names"] == ["rnn_translator"]


def test_packaged_tagger_gives_the_same_tags(packaged):
    before = packaged["before"][TAGGER_PACKAGE]
    assert any(before)  # something was tagged
    assert packaged["after"][TAGGER_PACKAGE]["tags"] == before


def test_packaged_translator_gives_the_same_translations(packaged):
    before = packaged["before"][TRANSLATOR_PACKAGE]
    assert any(before)  # something was translated
    assert packaged["after"][TRANSLATOR_PACKAGE]["translations"] == before


def test_translator_wheel_holds_sentencepiece_inside_the_component(packaged):
    with zipfile.ZipFile(packaged["wheels"][TRANSLATOR_PACKAGE]) as wheel:
        names = wheel.namelist()
        component = [n for n in names if "/rnn_translator/" in n]
        assert sorted(n.rsplit("/", 1)[1] for n in component) == ["cfg", "model"]
        assert not [n for n in names if n.endswith((".model", ".vocab"))
                    or "sentencepiece" in n.lower() or "spm" in n.lower()]
        model_bytes = wheel.read(next(n for n in component if n.endswith("/model")))
    assert packaged["spm"] and packaged["spm"] in model_bytes


@pytest.mark.parametrize("name", [TAGGER_PACKAGE, TRANSLATOR_PACKAGE])
def test_package_requirements_are_spacy_rnn_and_spacy(packaged, name):
    with zipfile.ZipFile(packaged["wheels"][name]) as wheel:
        meta = json.loads(wheel.read(f"{name}/meta.json"))
        metadata = wheel.read(f"{name}-{VERSION}.dist-info/METADATA").decode("utf8")
    requirements = {Requirement(r).name: Requirement(r) for r in meta["requirements"]}
    assert set(requirements) == {"spacy-rnn", "spacy"}
    assert spacy_rnn.__version__ in requirements["spacy-rnn"].specifier
    assert spacy.__version__ in requirements["spacy"].specifier
    requires_dist = {Requirement(line.split(":", 1)[1].strip()).name
                     for line in metadata.splitlines() if line.startswith("Requires-Dist:")}
    assert requires_dist == {"spacy-rnn", "spacy"}
