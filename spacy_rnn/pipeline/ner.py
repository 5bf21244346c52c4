"""The ``rnn_ner`` component: named entities from BIO or BILUO tags."""
import copy
from typing import Callable, Dict, Iterable, List, Literal, Optional, Sequence

import numpy
from spacy.language import Language
from spacy.scorer import Scorer, get_ner_prf
from spacy.tokens import Doc, Span
from spacy.training import Example, biluo_tags_to_spans
from spacy.util import registry
from spacy.vocab import Vocab
from thinc.api import Model

from ..extensions import CONFIDENCE_ATTR
from .labeler import SequenceLabelingPipe
from .schemes import allowed_transitions, biluo_to_scheme, scheme_labels, scheme_to_biluo
from .tagger import DEFAULT_TAGGER_MODEL

Scheme = Literal["BIO", "BILUO"]
DEFAULT_NER_MODEL = {**copy.deepcopy(DEFAULT_TAGGER_MODEL), "crf": True}


@Language.factory(
    "rnn_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type"],
    default_config={"model": DEFAULT_NER_MODEL, "scheme": "BILUO", "spans_key": None,
                    "store_scores": False, "constrained_training": False,
                    "scorer": {"@scorers": "spacy-rnn.entity_scorer.v1"}},
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_rnn_ner(nlp: Language, name: str, model: Model, scheme: Scheme,
                 spans_key: Optional[str], store_scores: bool, constrained_training: bool,
                 scorer: Optional[Callable]) -> "RNNEntityRecognizer":
    """A recurrent entity recognizer; writes ``doc.ents``, or ``doc.spans[spans_key]`` if set.

    ``store_scores``: also keep each token's tag probabilities in
    ``doc._.label_probs[name]`` and each entity's confidence in ``span._.confidence``
    (and, with ``spans_key``, in ``doc.spans[spans_key].attrs["scores"]``, as spaCy's
    spancat does). An entity's confidence is the smallest, over its tokens, of the
    probability of the token's predicted tag (the CRF's marginal, or the softmax under
    the scheme's constraints): an upper bound of the probability of the whole labeled
    span, in [0, 1].

    ``constrained_training``: the CRF loss normalises over the tag sequences the scheme
    allows, the ones decoding searches (false: over all sequences; decoding is constrained
    either way). A training setting: it changes no weights, and a loaded pipeline takes it
    from its config like any other setting.
    """
    return RNNEntityRecognizer(nlp.vocab, model, name, scheme=scheme, spans_key=spans_key,
                               store_scores=store_scores, constrained_training=constrained_training,
                               scorer=scorer)


def score_entities(examples: Iterable[Example], spans_key: Optional[str] = None,
                   **kwargs) -> Dict[str, float]:
    """``ents_p/r/f`` and ``ents_per_type`` (or ``spans_<key>_p/r/f`` when a key is set)."""
    if spans_key is None:
        return get_ner_prf(examples)
    return Scorer.score_spans(examples, f"spans_{spans_key}",
                              getter=lambda doc, attr: doc.spans.get(spans_key, []),
                              has_annotation=lambda doc: spans_key in doc.spans,
                              allow_overlap=True)


@registry.scorers("spacy-rnn.entity_scorer.v1")
def make_entity_scorer() -> Callable:
    return score_entities


class RNNEntityRecognizer(SequenceLabelingPipe):
    """Tags tokens with BIO/BILUO labels and decodes only valid sequences into entities."""

    def __init__(self, vocab: Vocab, model: Model, name: str = "rnn_ner", *,
                 scheme: Scheme = "BILUO", spans_key: Optional[str] = None,
                 store_scores: bool = False, constrained_training: bool = False,
                 scorer: Optional[Callable] = score_entities):
        if scheme not in ("BIO", "BILUO"):
            raise ValueError(f"rnn_ner: scheme must be 'BIO' or 'BILUO', got {scheme!r}")
        if not isinstance(constrained_training, bool):
            raise ValueError(f"[{name}] constrained_training must be true or false, got "
                             f"{constrained_training!r}.")
        super().__init__(vocab, model, name, scorer=scorer, store_scores=store_scores,
                         scheme=scheme, spans_key=spans_key)
        self.constrained_training = constrained_training

    saved_settings = ("scheme",)
    config_settings = ("spans_key",)

    @property
    def scheme(self) -> str:
        return self.cfg["scheme"]

    def annotation_name(self) -> str:
        key = self.cfg["spans_key"]
        return "doc.ents" if key is None else f"doc.spans[{key!r}]"

    def score_keys(self) -> List[str]:
        key = self.cfg["spans_key"]
        prefix = "ents" if key is None else f"spans_{key}"
        return [f"{prefix}_f", f"{prefix}_p", f"{prefix}_r"]

    def gold_labels(self, example: Example) -> List[Optional[str]]:
        key = self.cfg["spans_key"]
        if key is not None:
            return self._gold_from_spans(example, key)
        return biluo_to_scheme(example.get_aligned_ner(), self.scheme)

    def _gold_from_spans(self, example: Example, key: str) -> List[Optional[str]]:
        from spacy.training import offsets_to_biluo_tags

        if key not in example.reference.spans:
            return [None] * len(example.predicted)
        offsets = [(s.start_char, s.end_char, s.label_) for s in example.reference.spans[key]]
        return biluo_to_scheme(offsets_to_biluo_tags(example.predicted, offsets), self.scheme)

    def labels_from_gold(self, gold: Iterable[str]) -> List[str]:
        types = {tag[2:] for tag in gold if tag != "O"}
        return scheme_labels(types, self.scheme) if types else []

    def checked_labels(self, labels: Sequence[str]) -> List[str]:
        """``scheme``'s tags for some entity types (any order), or bare types to expand."""
        labels = list(labels)
        if labels and not any(_is_tag(label) for label in labels):
            return scheme_labels(labels, self.scheme)
        types = {label[2:] for label in labels if label != "O"}
        expected = scheme_labels(types, self.scheme)
        if set(labels) != set(expected) or len(labels) != len(expected):
            raise ValueError(f"[{self.name}] labels {labels} are not the {self.scheme} tag set of their entity "
                             f"types: expected {expected} (in any order), or just the types "
                             f"{sorted(types)}. Regenerate the labels (spacy init labels) for scheme = "
                             f"{self.scheme!r}.")
        return labels

    def constraints(self):
        return allowed_transitions(list(self.labels), self.scheme)

    def training_constraints(self):
        return self.constraints() if self.constrained_training else None

    def write_labels(self, doc: Doc, labels: List[str],
                     confidences: Optional[numpy.ndarray] = None) -> None:
        spans = _without_edge_space(biluo_tags_to_spans(doc, scheme_to_biluo(labels, self.scheme)))
        key = self.cfg["spans_key"]
        if key is None:
            doc.ents = spans
        else:
            doc.spans[key] = spans
        if confidences is not None:
            self._write_confidences(doc, spans, confidences)

    def _write_confidences(self, doc: Doc, spans: List[Span], confidences: numpy.ndarray) -> None:
        """Each span's confidence: the least of its tokens' ``confidences`` (shape (len(doc),))."""
        scores = numpy.asarray([confidences[s.start:s.end].min() for s in spans], dtype="float32")
        for span, score in zip(spans, scores):
            span._.set(CONFIDENCE_ATTR, float(score))
        if self.cfg["spans_key"] is not None:
            doc.spans[self.cfg["spans_key"]].attrs["scores"] = scores


def _is_tag(label: str) -> bool:
    """A BIO/BILUO tag ("O", "B-PER", ...) rather than a bare entity type ("PER", "GPE-LOC")."""
    return label == "O" or label[:2] in ("B-", "I-", "L-", "U-")


def _without_edge_space(spans: List[Span]) -> List[Span]:
    """The spans with whitespace tokens trimmed from both ends; spans of whitespace only
    dropped (an entity never starts or ends on a space or newline token, as in spaCy's ner)."""
    kept = []
    for span in spans:
        start, end = span.start, span.end
        while start < end and span.doc[start].is_space:
            start += 1
        while end > start and span.doc[end - 1].is_space:
            end -= 1
        if start < end:
            kept.append(Span(span.doc, start, end, label=span.label))
    return kept
