"""BIO / BILUO tagging schemes: label sets, gold conversion, allowed transitions, spans."""
from typing import Iterable, List, Optional, Tuple

import numpy


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
    """Boolean (allowed[i, j], allowed_first[j], allowed_last[i]) for ``labels``; the start and
    the end of a sequence count as "O"."""
    allowed = numpy.asarray([[_may_follow(prev, label, scheme) for label in labels] for prev in labels],
                            dtype=bool).reshape(len(labels), len(labels))
    first = numpy.asarray([_may_follow("O", label, scheme) for label in labels], dtype=bool)
    last = numpy.asarray([_may_follow(label, "O", scheme) for label in labels], dtype=bool)
    return allowed, first, last


def _may_follow(prev: str, label: str, scheme: str) -> bool:
    continues = label[0] in ("I" if scheme == "BIO" else "IL")  # label goes on with an entity
    goes_on = prev[0] in "BI" and label[2:] == prev[2:]  # prev's entity may go on with label
    if scheme == "BILUO" and prev[0] in "BI":
        return continues and goes_on  # an open BILUO entity must go on
    return not continues or goes_on  # going on needs an entity of the same type before
