"""Where the workflows keep each run's metrics and training log.

New layout (one run per seed): ``metrics/<name>/seed<N>.json`` with the training log at
``training/<name>/seed<N>/log.jsonl``. Old layout (one run): ``metrics/<name>.json`` with the log
at ``training/<name>/log.jsonl``. ``<name>`` is ``<task>-<arch>`` (``pos-lstm``, ``mt-gru``; the
translation project's old files are named by the architecture alone).
"""
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from wasabi import msg

SEED_FILE = re.compile(r"^seed(\d+)\.json$")

# (seed or None for the old layout, metrics path)
SeedFile = Tuple[Optional[int], Path]


def discover(metrics_dir: Union[str, Path]) -> Dict[str, List[SeedFile]]:
    """{run name: [(seed, metrics path), ...] sorted by seed} for both layouts.

    A name with files in both layouts keeps the new (per-seed) ones, with a warning: the reruns
    replace the single run.
    """
    metrics_dir = Path(metrics_dir)
    runs: Dict[str, List[SeedFile]] = {}
    for folder in sorted(p for p in metrics_dir.iterdir() if p.is_dir()) if metrics_dir.is_dir() else []:
        seeds = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := SEED_FILE.match(p.name)))
        if seeds:
            runs[folder.name] = seeds
    for path in sorted(metrics_dir.glob("*.json")):
        if path.stem in runs:
            msg.warn(f"{path} (one run, the old layout) is ignored: {metrics_dir / path.stem}/ has the "
                     "runs per seed; remove it")
            continue
        runs[path.stem] = [(None, path)]
    return runs


def log_path(metrics: dict, metrics_path: Path, name: str, seed: Optional[int]) -> Path:
    """The training log of a run: the train_log its metrics record if that file exists (relative
    to the working directory or the project), else where the layout puts it."""
    metrics_dir = Path(metrics_path).parent.parent if seed is not None else Path(metrics_path).parent
    project = metrics_dir.parent
    recorded = metrics.get("train_log")
    if recorded:
        for candidate in (Path(recorded), project / recorded):
            if candidate.is_file():
                return candidate
    folder = project / "training" / name
    return folder / f"seed{seed}" / "log.jsonl" if seed is not None else folder / "log.jsonl"
