"""Tiny generated corpora in the layout of the shared data folder, for the project workflow
tests (the real corpora are never copied into the tests), and helpers to copy a project, read
its project.yml as weasel does and run its scripts."""
import hashlib
import random
import shutil
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
# the local copies of the public corpora on developer machines and CI (see its README)
SHARED_DATA = ROOT.parent / "shared" / "data"
# what a project run writes (never part of a copy)
GENERATED = ("assets", "corpus", "training", "metrics", "results", "metrics-best", "results-best", "project.lock",
             "__pycache__")
UPOS = {"the": "DET", "a": "DET", "dog": "NOUN", "cat": "NOUN", "park": "NOUN", "runs": "VERB",
        "sees": "VERB", "in": "ADP", "big": "ADJ", "and": "CCONJ", ".": "PUNCT", "Anna": "PROPN"}
NAMES = {"PER": ["Anna", "John Smith"], "ORG": ["Acme Corp", "UN"], "LOC": ["Paris", "New York"]}
# sentence lengths that cover every length bucket (1-10, 11-20, 21-40, 41+)
LENGTHS = [3, 5, 8, 12, 15, 25, 30, 45]


def md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def conllu_sentence(rng, index, length):
    words = [rng.choice(sorted(UPOS)) for _ in range(length)]
    lines = [f"# sent_id = s{index}", f"# text = {' '.join(words)}"]
    for i, word in enumerate(words, start=1):
        head, rel = (0, "root") if i == 1 else (1, "dep")
        lines.append(f"{i}\t{word}\t{word}\t{UPOS[word]}\t_\t_\t{head}\t{rel}\t_\t_")
    return "\n".join(lines) + "\n\n"


def iob2_sentence(rng, index, length):
    tokens = []
    while len(tokens) < length:
        if rng.random() < 0.3:
            label = rng.choice(sorted(NAMES))
            words = rng.choice(NAMES[label]).split()
            tokens += [(w, ("B-" if i == 0 else "I-") + label) for i, w in enumerate(words)]
        else:
            tokens.append((rng.choice(["the", "dog", "visits", "with", "today", ","]), "O"))
    lines = [f"# sent_id = n{index}", f"# text = {' '.join(w for w, _ in tokens)}"]
    lines += [f"{i}\t{w}\t{t}\t-\t-" for i, (w, t) in enumerate(tokens, start=1)]
    return "\n".join(lines) + "\n\n"


def write_corpus(path, make, n_sentences, seed):
    rng = random.Random(seed)
    text = "".join(make(rng, i, LENGTHS[i % len(LENGTHS)]) for i in range(n_sentences))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf8")


def copy_project(name, tmp_path):
    """A copy of projects/NAME under tmp_path (outside the repository), without generated files."""
    project = tmp_path / name
    shutil.copytree(ROOT / "projects" / name, project, ignore=shutil.ignore_patterns(*GENERATED))
    return project


def project_config(project, **variables):
    """project.yml as weasel reads it, with --vars.NAME VALUE overrides."""
    from weasel.util import load_project_config
    overrides = {f"vars.{name}": value for name, value in variables.items()}
    return load_project_config(Path(project), overrides=overrides)


def named_paths(config):
    """Every path project.yml names: deps, outputs, asset dests and the words of the scripts."""
    paths = [asset["dest"] for asset in config.get("assets", [])]
    for command in config["commands"]:
        paths += command.get("deps", []) + command.get("outputs", [])
        paths += [word for line in command["script"] for word in line.split()]
    return paths


def joined_items(config):
    """deps/outputs that weasel's interpolation joined into one ("a, b"): in a list, an item
    ending in a variable followed by one starting with a variable."""
    return [path for command in config["commands"]
            for path in command.get("deps", []) + command.get("outputs", []) if ", " in path]


def outside_paths(config):
    """The paths project.yml names that lead out of the project folder (breaking a copy)."""
    return [path for path in named_paths(config) if path.startswith("../") or "/../" in path]


def run_script(script, *args, cwd):
    """Run a project script with this interpreter; returns the CompletedProcess."""
    return subprocess.run([sys.executable, str(script), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
