"""Per-sentence test results, written next to a metrics file by the evaluation scripts.

``metrics/<task>-<arch>/seed<N>.json`` has ``metrics/<task>-<arch>/seed<N>.sentences.jsonl``
beside it, one JSON line per test sentence, in test-file order:

- tagging (pos, tag): ``{"n": tokens, "correct": correctly tagged tokens}``
- NER: ``{"tp": ..., "fp": ..., "fn": ...}`` (entities matched on start, end and label)
- translation: ``{"reference": str, "greedy": str, "beam": str}`` (hypotheses per search)
"""
from pathlib import Path
from typing import Dict, Iterable, List, Tuple, Union

import numpy as np
import srsly

SUFFIX = ".sentences.jsonl"
COUNT_FIELDS = {"accuracy": ("n", "correct"), "f1": ("tp", "fp", "fn")}


def sentences_path(metrics_path: Union[str, Path]) -> Path:
    """metrics/pos-lstm/seed0.json -> metrics/pos-lstm/seed0.sentences.jsonl."""
    path = Path(metrics_path)
    return path.with_name(path.name[:-len(".json")] + SUFFIX if path.name.endswith(".json")
                          else path.name + SUFFIX)


def write_sentences(metrics_path: Union[str, Path], records: Iterable[dict]) -> Path:
    """Write the per-sentence records beside ``metrics_path``; returns their path."""
    path = sentences_path(metrics_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_jsonl(path, records)
    return path


def read_sentences(metrics_path: Union[str, Path]) -> List[dict]:
    """The per-sentence records beside ``metrics_path``; [] if there are none."""
    path = sentences_path(metrics_path)
    return list(srsly.read_jsonl(path)) if path.is_file() else []


def token_counts(predicted: List[str], gold: List[str]) -> Dict[str, int]:
    """{"n", "correct"} of one sentence's tags (gold tokens, so the lists align)."""
    return {"n": len(gold), "correct": sum(p == g for p, g in zip(predicted, gold))}


def entity_counts(predicted: Iterable[Tuple[int, int, str]],
                  gold: Iterable[Tuple[int, int, str]]) -> Dict[str, int]:
    """{"tp", "fp", "fn"} of one sentence's entities given as (start, end, label)."""
    predicted, gold = set(predicted), set(gold)
    return {"tp": len(predicted & gold), "fp": len(predicted - gold), "fn": len(gold - predicted)}


def counts_array(records: List[dict], metric: str) -> np.ndarray:
    """Counts of shape (n_sentences, k) for ``metric`` ("accuracy" or "f1") from the records."""
    fields = COUNT_FIELDS[metric]
    missing = [f for f in fields if records and f not in records[0]]
    if missing:
        raise ValueError(f"per-sentence records have no {', '.join(missing)} (needed for {metric}); "
                         f"they have {', '.join(records[0])}: rerun the evaluation")
    return np.array([[r[f] for f in fields] for r in records], dtype=float).reshape(len(records), len(fields))
