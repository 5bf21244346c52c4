"""The ``rnn_translator`` component: ``doc._.translation`` from a recurrent seq2seq model."""
import math
import warnings
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional

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
    loaded: ``spacy.load(path, config={"components": {name: {"beam_size": 1}}})``.
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
        if beam_size < 1:
            raise ValueError(f"rnn_translator: beam_size must be >= 1, got {beam_size}")
        _check_quantize(quantize)
        self.vocab, self.model, self.name, self.scorer = vocab, model, name, scorer
        self.cfg = {"beam_size": beam_size, "length_penalty": length_penalty,
                    "max_length_ratio": max_length_ratio,
                    "max_length_constant": max_length_constant, "quantize": quantize}
        self._int8 = None  # (weights key, quantized copy or None where int8 is impossible)

    def predict(self, docs: Iterable[Doc]) -> List[str]:
        """One translation per doc."""
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

    def finish_update(self, sgd: Optional[Optimizer]) -> None:
        """Update the weights (and drop the quantized copy made from the old ones)."""
        self._int8 = None
        super().finish_update(sgd)

    def from_bytes(self, bytes_data, *, exclude=tuple()):
        """Load weights; the decoding settings stay those of the config (see the factory)."""
        return self._keeping_cfg(super().from_bytes, bytes_data, exclude=exclude)

    def from_disk(self, path, *, exclude=tuple()):
        """Load weights; the decoding settings stay those of the config (see the factory).
        Warns when the saved pipeline's cfg holds runtime changes its config.cfg lacks."""
        self._keeping_cfg(super().from_disk, path, exclude=exclude)
        self._warn_unsaved_changes(Path(path))
        return self

    def _keeping_cfg(self, load, data, exclude):
        cfg = dict(self.cfg)
        load(data, exclude=exclude)
        self._loaded_cfg = dict(self.cfg)
        self.cfg, self._int8 = cfg, None
        return self

    def _warn_unsaved_changes(self, path: Path) -> None:
        config_path = path.parent / "config.cfg"
        if not config_path.is_file():
            return
        saved = Config().from_disk(config_path, interpolate=False)
        component = saved.get("components", {}).get(self.name, {})
        changed = {k: v for k, v in self._loaded_cfg.items()
                   if k in component and k in self.cfg and _differs(component[k], v)
                   and _differs(self.cfg[k], v)}
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
        sources, targets = _training_pairs(examples)
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
        sources, targets = _training_pairs(get_examples())
        if not sources:
            raise ValueError(f"[{self.name}] no training example has a reference "
                             f"translation (doc._.translation): read the corpus with "
                             f"spacy-rnn.ParallelCorpus.v1 or set doc._.translation.")
        self.model.initialize(X={"sources": sources, "targets": targets,
                                 "source_model": sentencepiece_model,
                                 "target_model": target_sentencepiece_model})
        self._int8 = None


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


def _training_pairs(examples: Iterable[Example]):
    sources, targets = [], []
    for eg in examples:
        target = eg.reference._.translation
        if target and target.strip() and eg.predicted.text.strip():
            sources.append(eg.predicted.text)
            targets.append(target)
    return sources, targets


def _regroup(flat: List[str], counts: List[int]) -> List[str]:
    out, start = [], 0
    for n in counts:
        out.append(" ".join(t for t in flat[start:start + n] if t))
        start += n
    return out
