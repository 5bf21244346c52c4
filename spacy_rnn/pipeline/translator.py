"""The ``rnn_translator`` component: ``doc._.translation`` from a recurrent seq2seq model."""
import math
import warnings
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional

from spacy.errors import Errors
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer

from ..architectures.translator import quantized_module, torch_module
from ..extensions import ensure_doc_extensions

ensure_doc_extensions()

default_model_config = """
[model]
@architectures = "spacy-rnn.Seq2SeqTranslator.v1"
cell = "lstm"
encoder_cell = null
decoder_cell = null
attention = "bahdanau"
input_feeding = false
emb_size = 128
hidden = 256
encoder_depth = 1
decoder_depth = 1
bidirectional = true
dropout = 0.1
label_smoothing = 0.1
tie_target_embeddings = false
vocab_size = 8000
shared_vocab = true
subword_model = "unigram"
character_coverage = 1.0
max_source_pieces = 200
train_group_size = 64
train_precision = "float32"
"""
DEFAULT_TRANSLATOR_MODEL = Config().from_str(default_model_config)["model"]
SEARCH_KEYS = ("beam_size", "length_penalty", "max_length_ratio", "max_length_constant")
QUANTIZE_OPTIONS = (None, "int8")
# model settings that the config decides also for a saved pipeline (the others are fixed by
# training: the saved weights and SentencePiece models were made with them)
CONFIG_MODEL_KEYS = ("max_source_pieces",)


@Language.factory(
    "rnn_translator",
    assigns=["doc._.translation"],
    default_config={"model": DEFAULT_TRANSLATOR_MODEL, "beam_size": 5, "length_penalty": 0.6,
                    "max_length_ratio": 1.5, "max_length_constant": 10, "quantize": None,
                    "scorer": {"@scorers": "spacy-rnn.translation_scorer.v1"}},
    default_score_weights={"translation_bleu": 1.0, "translation_chrf": 0.0},
)
def make_rnn_translator(nlp: Language, name: str, model: Model, beam_size: int,
                        length_penalty: float, max_length_ratio: float,
                        max_length_constant: int, quantize: Optional[str],
                        scorer: Optional[Callable]) -> "RNNTranslator":
    """A recurrent translator writing ``doc._.translation``.

    beam_size: 1 = greedy search; larger = beam search with GNMT length penalty
        ``length_penalty`` (alpha).
    max_length_ratio, max_length_constant: the longest output of a sentence is
        ``ratio * source pieces + constant`` pieces.
    quantize: null, or "int8" to decode with an int8 dynamically quantized copy
        of the network (CPU only; faster, slightly different output; training
        still updates the float32 weights).

    These decoding settings come from the config, also when a saved pipeline is
    loaded: ``spacy.load(path, config={"components": {name: {"beam_size": 1}}})``;
    so does the model's ``max_source_pieces`` (``{name: {"model": {...}}}``). The other
    model settings are fixed by training: loading keeps the trained ones and warns where the
    config asks for others.
    """
    return RNNTranslator(nlp.vocab, model, name, beam_size=beam_size,
                         length_penalty=length_penalty, max_length_ratio=max_length_ratio,
                         max_length_constant=max_length_constant, quantize=quantize,
                         scorer=scorer)


class RNNTranslator(TrainablePipe):
    """Translates each doc (sentence by sentence when sentence boundaries are set)."""

    def __init__(self, vocab: Vocab, model: Model, name: str = "rnn_translator", *,
                 beam_size: int = 5, length_penalty: float = 0.6, max_length_ratio: float = 1.5,
                 max_length_constant: int = 10, quantize: Optional[str] = None,
                 scorer: Optional[Callable] = None):
        self.vocab, self.model, self.name, self.scorer = vocab, model, name, scorer
        self.cfg = {"beam_size": beam_size, "length_penalty": length_penalty,
                    "max_length_ratio": max_length_ratio,
                    "max_length_constant": max_length_constant, "quantize": quantize}
        _check_search(self.cfg)
        _check_quantize(quantize)
        self._int8 = None  # (weights key, quantized copy or None where int8 is impossible)
        self._warned_empty = False

    def predict(self, docs: Iterable[Doc]) -> List[str]:
        """One translation per doc."""
        self._check_initialized()
        _check_search(self.cfg)  # (also read here: cfg may be changed at runtime)
        docs = list(docs)
        segments = [self._segments(doc) for doc in docs]
        flat = [text for doc_segments in segments for text in doc_segments]
        search = {key: self.cfg[key] for key in SEARCH_KEYS}
        search["module"] = self._decoding_module()
        translated = self.model.get_ref("translate").predict((flat, search)) if flat else []
        return _regroup(translated, [len(s) for s in segments])

    def _decoding_module(self):
        """The int8 copy of the network when cfg["quantize"] asks for it, else None."""
        _check_quantize(self.cfg.get("quantize"))
        if self.cfg.get("quantize") != "int8":
            return None
        core = self.model.get_ref("core")
        key = _weights_key(core)
        if self._int8 is None or self._int8[0] != key:
            module = quantized_module(core)
            if module is None:
                warnings.warn(f"[{self.name}] quantize = 'int8' runs on CPU only; this model "
                              f"is on a GPU, so it decodes in float32.")
            self._int8 = (key, module)
        return self._int8[1]

    def _check_initialized(self) -> None:
        if not self.model.get_ref("core").attrs["spm_source"]:
            raise ValueError(Errors.E109.format(name=self.name) + " (it has no SentencePiece "
                             "model: initialize it on training data, or load a saved pipeline "
                             "that was initialized)")

    def finish_update(self, sgd: Optional[Optimizer]) -> None:
        """Update the weights (and drop the quantized copy made from the old ones)."""
        self._int8 = None
        super().finish_update(sgd)

    def from_bytes(self, bytes_data, *, exclude=tuple()):
        """Load weights; the decoding settings and max_source_pieces stay those of the config
        (see the factory). Warns when the config's other model settings differ from the saved
        ones (they are fixed by training, and kept)."""
        return self._keeping_cfg(super().from_bytes, bytes_data, exclude=exclude)

    def from_disk(self, path, *, exclude=tuple()):
        """Load weights; the decoding settings and max_source_pieces stay those of the config
        (see the factory). Raises when the config's other model settings differ from the saved
        ones (they are fixed by training, and kept). Warns when the saved pipeline holds runtime changes
        its config.cfg lacks."""
        self._keeping_cfg(super().from_disk, path, exclude=exclude)
        self._warn_unsaved_changes(Path(path))
        return self

    def _keeping_cfg(self, load, data, exclude):
        cfg, hyper = dict(self.cfg), dict(self._hyper())
        load(data, exclude=exclude)
        self._loaded_cfg = dict(self.cfg)
        self.cfg, self._int8 = cfg, None
        self._keep_config_model_settings(hyper)
        return self

    def _hyper(self) -> Dict:
        return self.model.get_ref("core").attrs["hyper"]

    def _keep_config_model_settings(self, config: Dict) -> None:
        """Warn where the config's fixed model settings differ from the loaded ones (the loaded
        ones are kept); take its CONFIG_MODEL_KEYS (the loaded values go to self._loaded_model)."""
        loaded = self._hyper()
        fixed = {k: (v, loaded[k]) for k, v in config.items()
                 if k in loaded and k not in CONFIG_MODEL_KEYS and _differs(v, loaded[k])}
        if fixed:
            listed = ", ".join(f"{k} = {c!r} (trained with {t!r})" for k, (c, t) in fixed.items())
            warnings.warn(f"[{self.name}] the config sets model settings that cannot change "
                          f"after training: {listed}. The saved weights and SentencePiece "
                          f"model were made with the trained values, which the loaded component "
                          f"keeps: remove these settings from the config (the one given to "
                          f"spacy.load(..., config=...), or config.cfg), or train a new pipeline "
                          f"with them.", UserWarning, stacklevel=4)
        self._loaded_model = {k: loaded[k] for k in CONFIG_MODEL_KEYS if k in loaded}
        self.model.get_ref("core").attrs["hyper"] = {
            **loaded, **{k: config[k] for k in CONFIG_MODEL_KEYS if k in config}}

    def _warn_unsaved_changes(self, path: Path) -> None:
        config_path = path.parent / "config.cfg"
        if not config_path.is_file():
            return
        saved = Config().from_disk(config_path, interpolate=False)
        component = saved.get("components", {}).get(self.name, {})
        changed = _unsaved(self._loaded_cfg, component, self.cfg)
        model_changed = _unsaved(self._loaded_model, component.get("model", {}), self._hyper())
        if model_changed:
            changed["model"] = model_changed
        if changed:
            warnings.warn(f"[{self.name}] {path} holds decoding settings {changed} that were "
                          f"changed at runtime before saving but are not in its config.cfg; "
                          f"the config's values are used. Pass them to spacy.load(..., config="
                          f"{{'components': {{'{self.name}': {changed}}}}}) or set them in the "
                          f"training config.")

    def _segments(self, doc: Doc) -> List[str]:
        if doc.has_annotation("SENT_START") and len(doc):
            return [sent.text for sent in doc.sents]
        return [doc.text]

    def set_annotations(self, docs: Iterable[Doc], translations: List[str]) -> None:
        for doc, translation in zip(docs, translations):
            doc._.translation = translation

    def update(self, examples: Iterable[Example], *, drop: float = 0.0,
               sgd: Optional[Optimizer] = None, losses: Optional[Dict[str, float]] = None):
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "RNNTranslator.update")
        self._check_initialized()
        sources, targets, n_skipped = _training_pairs(examples)
        self._warn_skipped(n_skipped, len(examples))
        if not sources:
            return losses
        loss, backprop = self.model.get_ref("loss")((sources, targets), is_train=True)
        backprop(1.0)
        if sgd not in (None, False):
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *,
                   nlp: Optional[Language] = None,
                   sentencepiece_model: Optional[Path] = None,
                   target_sentencepiece_model: Optional[Path] = None) -> None:
        """Train SentencePiece on the training pairs (or load the given ``.model`` files,
        set under ``[initialize.components.<name>]``) and build the network."""
        validate_get_examples(get_examples, "RNNTranslator.initialize")
        sources, targets, n_skipped = _training_pairs(get_examples())
        if not sources:
            raise ValueError(f"[{self.name}] the training corpus yielded no examples with a "
                             f"non-empty source and reference translation (doc._.translation). "
                             f"With spacy-rnn.ParallelCorpus.v1 the likely cause is empty files, "
                             f"or every pair skipped as empty or longer than max_length (see the "
                             f"reader's warnings); with another reader, set doc._.translation "
                             f"on the reference docs.")
        self._warn_skipped(n_skipped, len(sources) + n_skipped)
        self.model.initialize(X={"sources": sources, "targets": targets,
                                 "source_model": sentencepiece_model,
                                 "target_model": target_sentencepiece_model})
        self._int8 = None

    def _warn_skipped(self, n_skipped: int, n_examples: int) -> None:
        """Warn (once per component) about training examples without a source or translation."""
        if n_skipped and not self._warned_empty:
            self._warned_empty = True
            warnings.warn(f"[{self.name}] {n_skipped} of {n_examples} training examples were "
                          f"skipped because their source text or reference translation "
                          f"(doc._.translation) is empty: remove them from the training data "
                          f"or set doc._.translation. (Reported once.)")


def _unsaved(loaded: Dict, saved: Dict, current: Dict) -> Dict:
    """The loaded settings that differ from both the saved config's and the current ones."""
    return {k: v for k, v in loaded.items()
            if k in saved and k in current and _differs(saved[k], v) and _differs(current[k], v)}


def _differs(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return not (isinstance(a, (int, float)) and isinstance(b, (int, float))
                    and math.isclose(a, b, rel_tol=1e-9))
    return a != b


def _weights_key(core: Model) -> tuple:
    """Changes when the network is replaced (loading, initialization), moved to another
    device, or edited in place (torch bumps a tensor's version on in-place writes; thinc's
    optimizer step is caught by finish_update instead)."""
    module = torch_module(core)
    params = list(module.parameters())
    device = str(params[0].device) if params else "cpu"
    return id(module), device, sum(p._version for p in params)


def _check_quantize(value) -> None:
    if value not in QUANTIZE_OPTIONS:
        raise ValueError(f"rnn_translator: quantize must be one of "
                         f"{', '.join(repr(v) if v else 'null' for v in QUANTIZE_OPTIONS)}, "
                         f"got {value!r}.")


def _check_search(cfg: Dict) -> None:
    if cfg["beam_size"] < 1:
        raise ValueError(f"rnn_translator: beam_size must be >= 1 (1 = greedy search), "
                         f"got {cfg['beam_size']}")
    if cfg["length_penalty"] < 0:
        raise ValueError(f"rnn_translator: length_penalty must be >= 0 (0 = no penalty), "
                         f"got {cfg['length_penalty']}")
    for key in ("max_length_ratio", "max_length_constant"):
        if cfg[key] < 0:
            raise ValueError(f"rnn_translator: {key} must be >= 0, got {cfg[key]}")
    if cfg["max_length_ratio"] == 0 and cfg["max_length_constant"] == 0:
        raise ValueError("rnn_translator: max_length_ratio and max_length_constant are both 0, "
                         "which cuts every translation to one piece (the longest output is "
                         "max_length_ratio * source pieces + max_length_constant, at least 1): "
                         "set max_length_ratio (e.g. 1.5), max_length_constant (e.g. 10), or both.")


def _training_pairs(examples: Iterable[Example]):
    """Sources and reference translations of the examples that have both non-empty, and
    the number of examples skipped."""
    sources, targets, n_skipped = [], [], 0
    for eg in examples:
        target = eg.reference._.translation
        if target and target.strip() and eg.predicted.text.strip():
            sources.append(eg.predicted.text)
            targets.append(target)
        else:
            n_skipped += 1
    return sources, targets, n_skipped


def _regroup(flat: List[str], counts: List[int]) -> List[str]:
    out, start = [], 0
    for n in counts:
        out.append(" ".join(t for t in flat[start:start + n] if t))
        start += n
    return out
