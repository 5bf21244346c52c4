"""Shared base of the recurrent sequence labeling components.

Subclasses say which label each gold token has (``gold_labels``) and how a
predicted label is written onto a Doc (``write_labels``); everything else
(labels, training, decoding, serialization) is here. The model is any
``spacy-rnn.SequenceLabeler.v1``-like model, reached only through its refs
``loss`` and ``decoder``.
"""
import warnings
from itertools import islice
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

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

    #: cfg settings saved with the component: loading it keeps the saved values, with a
    #: warning where the config asked for others
    saved_settings: Tuple[str, ...] = ()

    def __init__(self, vocab: Vocab, model: Model, name: str, *,
                 scorer: Optional[Callable] = None, **cfg):
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg = {"labels": [], **cfg}
        self._unknown_seen = set()  # gold labels outside the label set, warned about once

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

    def checked_labels(self, labels: Sequence[str]) -> List[str]:
        """Labels given to ``initialize`` as the component will use them; raise if unusable."""
        return list(labels)

    def annotation_name(self) -> str:
        """Where the gold annotation is read from, for messages (e.g. "token.tag")."""
        raise NotImplementedError

    def score_keys(self) -> List[str]:
        """The scores the component's scorer reports, the main one first."""
        return []

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
        self._check_initialized()
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
        self._check_initialized()
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

    def _check_initialized(self) -> None:
        if not self.labels:
            raise ValueError(Errors.E109.format(name=self.name) + " (it has no labels: initialize it "
                             "on training data, or load a saved pipeline that has its cfg file)")

    def _label_index(self) -> Dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    def truth_ids(self, example: Example, index: Optional[Dict[str, int]] = None) -> numpy.ndarray:
        """Gold label ids of the predicted tokens, -1 where unknown (``index``: label -> id)."""
        index = self._label_index() if index is None else index
        gold = self.gold_labels(example)
        self._warn_unknown({g for g in gold if g is not None and g not in index})
        return numpy.asarray([index.get(g, -1) if g is not None else -1 for g in gold], dtype="int64")

    def _warn_unknown(self, unknown: set) -> None:
        """Warn once per label about gold labels outside the label set (left out of the loss)."""
        new = sorted(unknown - self._unknown_seen)
        if new:
            self._unknown_seen.update(new)
            warnings.warn(f"[{self.name}] gold label(s) {new} from {self.annotation_name()} are not among the "
                          f"component's labels {list(self.labels)}, which were fixed at initialize (from the "
                          f"training data then, from [initialize.components.{self.name}] labels, or with a "
                          f"sourced component): those tokens are left out of the loss. Initialize on data "
                          f"with these labels (or update the labels file) to learn them.", UserWarning,
                          stacklevel=3)

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *,
                   nlp: Optional[Language] = None, labels: Optional[Sequence[str]] = None):
        validate_get_examples(get_examples, f"{type(self).__name__}.initialize")
        if labels is None:
            seen = (g for eg in get_examples() for g in self.gold_labels(eg) if g is not None)
            labels = self.labels_from_gold(seen)
        else:
            labels = self.checked_labels(labels)
        self.cfg["labels"] = list(labels)
        if not self.labels:
            raise ValueError(f"[{self.name}] found no labels in the training data ({self.annotation_name()}): "
                             f"check that the corpus has the annotation this component learns.")
        self.model.set_dim("nO", len(self.labels))
        doc_sample = [eg.predicted for eg in islice(get_examples(), 10)]
        self.model.initialize(X=doc_sample)
        if nlp is not None:
            warn_unweighted_score(nlp, self.name, self.score_keys())

    # -- serialization -------------------------------------------------------------
    def from_disk(self, path, *, exclude=tuple()):
        wanted = dict(self.cfg)
        super().from_disk(path, exclude=exclude)
        self._reconcile_settings(wanted)
        return self

    def from_bytes(self, bytes_data, *, exclude=tuple()):
        wanted = dict(self.cfg)
        super().from_bytes(bytes_data, exclude=exclude)
        self._reconcile_settings(wanted)
        return self

    def _reconcile_settings(self, wanted: Dict) -> None:
        """After loading the saved cfg: say so where it replaced a setting the config gave."""
        changed = {key: wanted[key] for key in self.saved_settings
                   if key in wanted and wanted[key] != self.cfg.get(key)}
        if changed:
            saved = ", ".join(f"{key} = {self.cfg.get(key)!r}" for key in changed)
            asked = ", ".join(f"{key} = {value!r}" for key, value in changed.items())
            warnings.warn(f"[{self.name}] was saved with {saved}; the loaded component keeps that, not the "
                          f"config's {asked}: train a new component for another value.{self.reload_hint(changed)}",
                          UserWarning, stacklevel=3)

    def reload_hint(self, changed: Dict) -> str:
        """Advice appended to the warning of :meth:`_reconcile_settings`."""
        return ""


def warn_unweighted_score(nlp: Language, name: str, reported: Sequence[str]) -> None:
    """Warn if ``[training.score_weights]`` weighs none of the scores component ``name``
    reports but some its factory declares and it does not report with its settings (e.g.
    ``tag_acc`` for a tagger of ``pos``), which no other component reports either: then
    ``spacy train`` would choose model-best on a score that stays 0."""
    weights = nlp.config["training"].get("score_weights") or {}
    if not reported or name not in nlp.pipe_names or any(weights.get(key) for key in reported):
        return
    others = {key for pipe in nlp.pipe_names if pipe != name
              for key in nlp.get_pipe_meta(pipe).default_score_weights}
    stale = [key for key in nlp.get_pipe_meta(name).default_score_weights
             if weights.get(key) and key not in reported and key not in others]
    if stale:
        warnings.warn(f"[{name}] reports {reported[0]}, but [training.score_weights] gives it no weight and "
                      f"weighs {', '.join(stale)}, which it does not report with its settings: `spacy train` "
                      f"would choose model-best on a score that stays 0. Set, in the config's "
                      f"[training.score_weights], {reported[0]} = 1.0 and {stale[0]} = null.", UserWarning,
                      stacklevel=3)
