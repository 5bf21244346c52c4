"""Shared base of the recurrent sequence labeling components.

Subclasses say which label each gold token has (``gold_labels``) and how a
predicted label is written onto a Doc (``write_labels``); everything else
(labels, training, decoding, serialization) is here. The model is any
``spacy-rnn.SequenceLabeler.v1``-like model, reached only through its refs
``loss`` and ``decoder`` (and ``probs``, from ``spacy-rnn.SequenceLabeler.v2`` on,
for ``store_scores``).

With ``store_scores = true`` a component also stores, on each doc it processes,
each token's probability of each label in ``doc._.label_probs[<component name>]``
(a float32 array of shape (len(doc), len(labels)), columns in the order of the
component's ``labels``); an entity recognizer also writes each entity's confidence
(see ``rnn_ner``).
"""
import warnings
from itertools import islice
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy
from spacy import util
from spacy.errors import Errors
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Model, Optimizer, set_dropout_rate

from ..extensions import LABEL_PROBS_ATTR, ensure_score_extensions
from .loading import load_parts_from_bytes, load_parts_from_disk

ensure_score_extensions()


class LabelPredictions(NamedTuple):
    """What ``predict`` returns: label ids per doc (Ints1d), and per-token label
    probabilities per doc ((n_tokens, n_labels) float32), or None without ``store_scores``."""
    label_ids: List[Any]
    probs: Optional[List[numpy.ndarray]]


class SequenceLabelingPipe(TrainablePipe):
    """A trainable component that assigns one label per token."""

    #: cfg settings saved with the component: loading it keeps the saved values, with a
    #: warning where the config asked for others
    saved_settings: Tuple[str, ...] = ()
    #: cfg settings that only say where outputs are written: loading takes the config's value
    config_settings: Tuple[str, ...] = ()

    def __init__(self, vocab: Vocab, model: Model, name: str, *,
                 scorer: Optional[Callable] = None, store_scores: bool = False, **cfg):
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg = {"labels": [], **cfg}
        # a run-time choice, not a trained setting: it comes from the config, never the saved cfg
        self.store_scores = self._checked_store_scores(store_scores)
        self._unknown_seen = set()  # gold labels outside the label set, warned about once

    def _checked_store_scores(self, store_scores: Any) -> bool:
        if not isinstance(store_scores, bool):
            raise ValueError(f"[{self.name}] store_scores must be true or false, got {store_scores!r}.")
        if store_scores and not self.model.has_ref("probs"):
            raise ValueError(f"[{self.name}] store_scores = true needs a model that gives label "
                             f"probabilities, but its model ({self.model.name}) has none: set "
                             f"[components.{self.name}.model] @architectures = "
                             f"\"spacy-rnn.SequenceLabeler.v2\" (a trained v1 model cannot store "
                             f"scores; train a v2 one).")
        return store_scores

    # -- what subclasses define ------------------------------------------------
    def gold_labels(self, example: Example) -> List[Optional[str]]:
        """The gold label of each predicted token; None where unknown."""
        raise NotImplementedError

    def write_labels(self, doc: Doc, labels: List[str],
                     confidences: Optional[numpy.ndarray] = None) -> None:
        """Write one predicted label per token onto ``doc``; ``confidences``, shape
        (len(doc),), is each token's probability of its label (None: not requested)."""
        raise NotImplementedError

    def constraints(self):
        """None, or (allowed transitions, allowed first, allowed last) boolean arrays."""
        return None

    def training_constraints(self):
        """The constraints the loss normalises over (None: all label sequences)."""
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
    def predict(self, docs: Iterable[Doc]) -> LabelPredictions:
        self._check_initialized()
        docs = list(docs)
        if not any(len(doc) for doc in docs):
            empty = [numpy.zeros((0, len(self.labels)), dtype="float32") for _ in docs]
            return LabelPredictions([numpy.zeros((0,), dtype="int32") for _ in docs],
                                    empty if self.store_scores else None)
        scores = self.model.predict(docs)
        label_ids = self.model.get_ref("decoder").predict((scores, self.constraints()))
        if not self.store_scores:
            return LabelPredictions(label_ids, None)
        probs = self.model.get_ref("probs").predict((scores, self.constraints()))
        return LabelPredictions(label_ids, [self.model.ops.to_numpy(p) for p in probs])

    def set_annotations(self, docs: Iterable[Doc], predictions: LabelPredictions) -> None:
        labels = self.labels
        docs = list(docs)
        all_probs = predictions.probs if predictions.probs is not None else [None] * len(docs)
        for doc, ids, probs in zip(docs, predictions.label_ids, all_probs):
            ids = numpy.asarray(self.model.ops.to_numpy(ids), dtype="int64")
            confidences = None if probs is None else probs[numpy.arange(len(ids)), ids]
            self.write_labels(doc, [labels[i] for i in ids], confidences)
            if probs is not None:
                store_label_probs(doc, self.name, probs)

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
        loss_inputs = (scores, truths, self.training_constraints())
        loss, backprop = self.model.get_ref("loss")(loss_inputs, is_train=True)
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
        path = util.ensure_path(path)
        load_parts_from_disk(self, path, exclude)
        self._check_label_count(str(path / "cfg"), str(path / "model"))
        self._reconcile_settings(wanted)
        return self

    def from_bytes(self, bytes_data, *, exclude=tuple()):
        wanted = dict(self.cfg)
        load_parts_from_bytes(self, bytes_data, exclude)
        self._check_label_count("the 'cfg' part of its bytes", "the 'model' part of its bytes")
        self._reconcile_settings(wanted)
        return self

    def _check_label_count(self, cfg_source: str, model_source: str) -> None:
        """Refuse a loaded label list whose length differs from the output layer's width."""
        width = self._output_width()
        if width is None or not self.labels or width == len(self.labels):
            return
        raise ValueError(f"[{self.name}] {cfg_source} lists {len(self.labels)} labels, but the output "
                         f"layer in {model_source} scores {width}: the two come from different "
                         f"trainings (or one was edited). Restore both from the same saved pipeline.")

    def _output_width(self) -> Optional[int]:
        """Outputs of the model's output layer, or None if not known (not initialized)."""
        layer = self.model.get_ref("output") if self.model.has_ref("output") else self.model
        return layer.get_dim("nO") if layer.has_dim("nO") else None

    def _reconcile_settings(self, wanted: Dict) -> None:
        """After loading the saved cfg: settings that only say where or how outputs are written
        (``config_settings``) take the config's value again; where a setting fixed by training
        (``saved_settings``) was replaced by the saved value, say so."""
        for key in self.config_settings:
            if key in wanted:
                self.cfg[key] = wanted[key]
        changed = {key: wanted[key] for key in self.saved_settings
                   if key in wanted and wanted[key] != self.cfg.get(key)}
        if changed:
            saved = ", ".join(f"{key} = {self.cfg.get(key)!r}" for key in changed)
            asked = ", ".join(f"{key} = {value!r}" for key, value in changed.items())
            warnings.warn(f"[{self.name}] was saved with {saved}; the loaded component keeps that, not the "
                          f"config's {asked}: train a new component for another value.",
                          UserWarning, stacklevel=3)


def store_label_probs(doc: Doc, name: str, probs: numpy.ndarray) -> None:
    """Keep ``probs`` ((len(doc), n_labels)) as ``doc._.label_probs[name]``."""
    stored = dict(doc._.get(LABEL_PROBS_ATTR) or {})
    stored[name] = numpy.ascontiguousarray(probs, dtype="float32")
    doc._.set(LABEL_PROBS_ATTR, stored)


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
