"""BIO / BILUO tagging schemes: label sets, gold conversion, allowed transitions, spans."""
from typing import Iterable, List, Optional, Tuple

import numpy

SCHEMES = ("BIO", "BILUO")


def scheme_labels(entity_types: Iterable[str], scheme: str) -> List[str]:
    """All tags of ``scheme`` for the entity types, "O" first."""
    prefixes = "BI" if scheme == "BIO" else "BILU"
    return ["O"] + [f"{p}-{t}" for t in sorted(set(entity_types)) for p in prefixes]


def biluo_to_scheme(tags: List[Optional[str]], scheme: str) -> List[Optional[str]]:
    """Convert gold BILUO tags ("-"/None = unknown -> None) to ``scheme``."""
    out = []
    for tag in tags:
        if tag in (None, "", "-"):
            out.append(None)
        elif scheme == "BIO" and tag[0] in "LU":
            out.append(("I" if tag[0] == "L" else "B") + tag[1:])
        else:
            out.append(tag)
    return out


def scheme_to_biluo(tags: List[str], scheme: str) -> List[str]:
    """Convert valid ``scheme`` tags to BILUO (identity for BILUO)."""
    if scheme == "BILUO":
        return list(tags)
    out = []
    for i, tag in enumerate(tags):
        following = tags[i + 1] if i + 1 < len(tags) else "O"
        continues = following == "I-" + tag[2:]
        if tag == "O":
            out.append("O")
        elif tag.startswith("B-"):
            out.append(("B-" if continues else "U-") + tag[2:])
        else:
            out.append(("I-" if continues else "L-") + tag[2:])
    return out


def allowed_transitions(labels: List[str], scheme: str) -> Tuple[numpy.ndarray, ...]:
    """Boolean (allowed[i, j], allowed_first[j], allowed_last[i]) for ``labels``."""
    inside = "I" if scheme == "BIO" else "IL"
    opens = [_opens(label) for label in labels]
    first = numpy.asarray([label[0] not in inside for label in labels])
    allowed = numpy.zeros((len(labels), len(labels)), dtype=bool)
    for i, prev in enumerate(labels):
        for j, label in enumerate(labels):
            allowed[i, j] = _may_follow(prev, label, inside, scheme, opens[i])
    last = numpy.asarray([scheme == "BIO" or label[0] in "OLU" for label in labels])
    return allowed, first, last


def _opens(label: str) -> bool:
    return label[0] in "BI"


def _may_follow(prev: str, label: str, inside: str, scheme: str, prev_open: bool) -> bool:
    if scheme == "BILUO" and prev_open:
        return label[0] in "IL" and label[2:] == prev[2:]
    if label[0] in inside:
        return prev[0] in "BI" and label[2:] == prev[2:]
    return True


def is_valid(tags: List[str], scheme: str) -> bool:
    """Whether a tag sequence obeys ``scheme`` (used in tests and checks)."""
    allowed, first, last = allowed_transitions(sorted(set(tags) | {"O"}), scheme)
    index = {t: i for i, t in enumerate(sorted(set(tags) | {"O"}))}
    if not tags:
        return True
    ids = [index[t] for t in tags]
    return bool(first[ids[0]] and last[ids[-1]]
                and all(allowed[a, b] for a, b in zip(ids, ids[1:])))
