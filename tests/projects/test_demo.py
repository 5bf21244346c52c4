"""Smoke test of the demo workflow: the whole command chain on the shipped corpora with
tiny budgets, checking each step's outputs and one row per cell in the summary."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CELLS = ["rnn", "lstm", "gru"]


@pytest.mark.slow
def test_demo_workflow_runs_end_to_end(tmp_path):
    project = tmp_path / "demo"
    shutil.copytree(ROOT / "projects" / "demo", project,
                    ignore=shutil.ignore_patterns("corpus", "training", "metrics", "results",
                                                  "project.lock"))
    command = [sys.executable, "-m", "spacy", "project", "run", "all", str(project),
               "--vars.data_dir", str(ROOT / "assets" / "demo"), "--vars.seeds", "0 1",
               "--vars.tagging_steps", "4", "--vars.translation_steps", "3"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for name in ["corpus/tagging/train.spacy", "results/summary.md",
                 "results/accuracy_by_distance.png"]:
        assert (project / name).is_file(), name
    for task in ("tagging", "translation"):
        for cell in CELLS:
            assert (project / "metrics" / f"{task}-{cell}.json").is_file()
    summary = (project / "results" / "summary.md").read_text()
    for cell in CELLS:
        assert summary.count(f"| {cell} |") == 2  # one row per cell in each task table
    assert "d 31-40" in summary
    assert (project / "results" / "accuracy_by_distance.png").stat().st_size > 10_000
