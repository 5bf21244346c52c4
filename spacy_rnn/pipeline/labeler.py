"""Shared base of the recurrent sequence labeling components.

Subclasses say which label each gold token has (``gold_labels``) and how a
predicted label is written onto a Doc (``write_labels``); everything else
(labels, training, decoding, serialization) is here. The model is any
``spacy-rnn.SequenceLabeler.v1``-like model, reached only through its refs
``loss`` and ``decoder``.
"""
from itertools import islice
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import numpy
from spacy.errors import Errors
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Model, Optimizer, set_dropout_rate


class SequenceLabelingPipe(TrainablePipe):
    """A trainable component that assigns one label per token."""

    def __init__(self, vocab: Vocab, model: Model, name: str, *,
                 scorer: Optional[Callable] = None, **cfg):
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg = {"labels": [], **cfg}

    # -- what subclasses define ------------------------------------------------
    def gold_labels(self, example: Example) -> List[Optional[str]]:
        """The gold label of each predicted token; None where unknown."""
        raise NotImplementedError

    def write_labels(self, doc: Doc, labels: List[str]) -> None:
        """Write one predicted label per token onto ``doc``."""
        raise NotImplementedError

    def constraints(self):
        """None, or (allowed transitions, allowed first, allowed last) boolean arrays."""
        return None

    def labels_from_gold(self, gold: Iterable[str]) -> List[str]:
        """The label set to learn, given the gold labels seen in training data."""
        return sorted(set(gold))

    # -- labels ----------------------------------------------------------------
    @property
    def labels(self) -> tuple:
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        return list(self.labels)

    def add_label(self, label: str) -> int:
        if not isinstance(label, str):
            raise ValueError(Errors.E187)
        if label in self.labels:
            return 0
        self._allow_extra_label()
        self.cfg["labels"].append(label)
        return 1

    # -- prediction --------------------------------------------------------------
    def predict(self, docs: Iterable[Doc]) -> List[numpy.ndarray]:
        docs = list(docs)
        if not any(len(doc) for doc in docs):
            return [numpy.zeros((0,), dtype="int32") for _ in docs]
        scores = self.model.predict(docs)
        return self.model.get_ref("decoder").predict((scores, self.constraints()))

    def set_annotations(self, docs: Iterable[Doc], label_ids: List[numpy.ndarray]) -> None:
        labels = self.labels
        for doc, ids in zip(docs, label_ids):
            self.write_labels(doc, [labels[int(i)] for i in ids])

    # -- training ----------------------------------------------------------------
    def update(self, examples: Iterable[Example], *, drop: float = 0.0,
               sgd: Optional[Optimizer] = None, losses: Optional[Dict[str, float]] = None):
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, f"{type(self).__name__}.update")
        docs = [eg.predicted for eg in examples]
        if not any(len(doc) for doc in docs):
            return losses
        set_dropout_rate(self.model, drop)
        scores, backprop_scores = self.model.begin_update(docs)
        loss, d_scores = self.get_loss(examples, scores)
        backprop_scores(d_scores)
        if sgd not in (None, False):
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def get_loss(self, examples: Iterable[Example], scores) -> tuple:
        validate_examples(examples, f"{type(self).__name__}.get_loss")
        index = self._label_index()
        truths = [self.truth_ids(eg, index) for eg in examples]
        loss, backprop = self.model.get_ref("loss")((scores, truths), is_train=True)
        return float(loss), backprop(1.0)

    def _label_index(self) -> Dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    def truth_ids(self, example: Example, index: Optional[Dict[str, int]] = None) -> numpy.ndarray:
        """Gold label ids of the predicted tokens, -1 where unknown (``index``: label -> id)."""
        index = self._label_index() if index is None else index
        gold = self.gold_labels(example)
        return numpy.asarray([index.get(g, -1) if g is not None else -1 for g in gold],
                             dtype="int64")

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *,
                   nlp: Optional[Language] = None, labels: Optional[Sequence[str]] = None):
        validate_get_examples(get_examples, f"{type(self).__name__}.initialize")
        if labels is None:
            seen = (g for eg in get_examples() for g in self.gold_labels(eg) if g is not None)
            labels = self.labels_from_gold(seen)
        self.cfg["labels"] = list(labels)
        if not self.labels:
            raise ValueError(f"[{self.name}] found no labels in the training data: check that "
                             f"the corpus has the annotation this component learns.")
        self.model.set_dim("nO", len(self.labels))
        doc_sample = [eg.predicted for eg in islice(get_examples(), 10)]
        self.model.initialize(X=doc_sample)
