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

from ..extensions import ensure_doc_extensions
from .loading import load_parts_from_bytes, load_parts_from_disk

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
# spacy_rnn.torch.quantize.QUANTIZE_OPTIONS (pipeline/ does not import the layers below it; a
# test keeps the two equal)
QUANTIZE_OPTIONS = (None, "int8")
# model settings that the config decides also for a saved pipeline (the others are fixed by
# training: the saved weights and SentencePiece models were made with them)
CONFIG_MODEL_KEYS = ("max_source_pieces",)


@Language.factory(
    "rnn_translator",
    assigns=["doc._.translation", "doc._.translation_nbest", "doc._.translation_attention"],
    default_config={"model": DEFAULT_TRANSLATOR_MODEL, "beam_size": 5, "length_penalty": 0.6,
                    "max_length_ratio": 1.5, "max_length_constant": 10, "quantize": None,
                    "n_best": 0, "return_attention": False, "max_batch_pieces": 8192,
                    "scorer": {"@scorers": "spacy-rnn.translation_scorer.v2"}},
    default_score_weights={"bleu": 1.0, "chrf": 0.0},
)
def make_rnn_translator(nlp: Language, name: str, model: Model, beam_size: int,
                        length_penalty: float, max_length_ratio: float,
                        max_length_constant: int, quantize: Optional[str], n_best: int,
                        return_attention: bool, max_batch_pieces: int,
                        scorer: Optional[Callable]) -> "RNNTranslator":
    """A recurrent translator writing ``doc._.translation``.

    beam_size: 1 = greedy search; larger = beam search with GNMT length penalty
        ``length_penalty`` (alpha).
    max_length_ratio, max_length_constant: the longest output of a sentence is
        ``ratio * source pieces + constant`` pieces.
    quantize: null, or "int8" to decode with an int8 dynamically quantized copy
        of the network (CPU only; faster, slightly different output; training
        still updates the float32 weights).
    n_best: 0 (off), or N <= beam_size: also write ``doc._.translation_nbest``, the N best
        (translation, score) pairs, best first (the first one is ``doc._.translation``).
    return_attention: also write ``doc._.translation_attention``, the attention of the best
        translation (needs a model with attention). Both cost time: only when asked.
    max_batch_pieces: decode in batches of at most this many (padded) source pieces, so
        that memory does not grow with a long document or a large ``nlp.pipe`` batch
        (beam search holds beam_size times as much).

    These decoding settings come from the config, also when a saved pipeline is
    loaded: ``spacy.load(path, config={"components": {name: {"beam_size": 1}}})``;
    so does the model's ``max_source_pieces`` (``{name: {"model": {...}}}``). The other
    model settings are fixed by training: loading keeps the trained ones and warns where the
    config asks for others.
    """
    return RNNTranslator(nlp.vocab, model, name, beam_size=beam_size,
                         length_penalty=length_penalty, max_length_ratio=max_length_ratio,
                         max_length_constant=max_length_constant, quantize=quantize,
                         n_best=n_best, return_attention=return_attention,
                         max_batch_pieces=max_batch_pieces, scorer=scorer)


class RNNTranslator(TrainablePipe):
    """Translates each doc (sentence by sentence when sentence boundaries are set)."""

    def __init__(self, vocab: Vocab, model: Model, name: str = "rnn_translator", *,
                 beam_size: int = 5, length_penalty: float = 0.6, max_length_ratio: float = 1.5,
                 max_length_constant: int = 10, quantize: Optional[str] = None,
                 n_best: int = 0, return_attention: bool = False, max_batch_pieces: int = 8192,
                 scorer: Optional[Callable] = None):
        self.vocab, self.model, self.name, self.scorer = vocab, model, name, scorer
        self.cfg = {"beam_size": beam_size, "length_penalty": length_penalty,
                    "max_length_ratio": max_length_ratio,
                    "max_length_constant": max_length_constant, "quantize": quantize,
                    "n_best": n_best, "return_attention": return_attention,
                    "max_batch_pieces": max_batch_pieces}
        self._search()  # bad settings are refused when the component is made
        self._warned_empty = False

    def predict(self, docs: Iterable[Doc]) -> List[Dict]:
        """One dict per doc: "translation" (str), and with n_best / return_attention also
        "nbest" / "attention" (see set_annotations)."""
        self._check_initialized()
        search = self._search()
        docs = list(docs)
        segments = [self._segments(doc) for doc in docs]
        flat = [text for doc_segments in segments for text in doc_segments]
        translated = self.model.get_ref("translate").predict((flat, search)) if flat else []
        counts = [len(s) for s in segments]
        if self.cfg["n_best"] or self.cfg["return_attention"]:
            return _regroup_detailed(translated, counts, self.cfg["n_best"],
                                     self.cfg["return_attention"])
        return [{"translation": text} for text in _regroup(translated, counts)]

    def _search(self) -> Dict:
        """The translate layer's settings (see spacy-rnn.Seq2SeqTranslator.v1), once cfg's
        decoding settings are checked (at every call: cfg may be changed at runtime)."""
        _check_search(self.cfg, self.name)
        self._check_outputs()
        search = {key: self.cfg[key] for key in SEARCH_KEYS}
        # the architecture makes and keeps the int8 copy of the network
        search.update(quantize=self.cfg["quantize"], n_best=self.cfg["n_best"],
                      attention=self.cfg["return_attention"],
                      max_batch_pieces=self.cfg["max_batch_pieces"])
        return search

    def _check_outputs(self) -> None:
        """n_best, return_attention and max_batch_pieces."""
        cfg, name = self.cfg, self.name
        if not _is_int(cfg["n_best"]) or not 0 <= cfg["n_best"] <= cfg["beam_size"]:
            raise ValueError(f"{name}: n_best must be an integer from 0 (off) to beam_size "
                             f"({cfg['beam_size']}; a beam of K finds at most K translations), "
                             f"got {cfg['n_best']!r}: lower n_best or raise beam_size.")
        if not isinstance(cfg["return_attention"], bool):
            raise ValueError(f"{name}: return_attention must be true or false, "
                             f"got {cfg['return_attention']!r}.")
        if cfg["return_attention"] and self._hyper().get("attention") == "none":
            raise ValueError(f"{name}: return_attention = true needs a model with attention, "
                             f"but this one has attention = 'none': set return_attention = "
                             f"false, or train a model with attention 'bahdanau' or 'luong'.")
        if not _is_int(cfg["max_batch_pieces"]) or cfg["max_batch_pieces"] < 1:
            raise ValueError(f"{name}: max_batch_pieces must be an integer >= 1 (source pieces "
                             f"decoded at once), got {cfg['max_batch_pieces']!r}.")

    def _check_initialized(self) -> None:
        if not self.model.get_ref("core").attrs["spm_source"]:
            raise ValueError(Errors.E109.format(name=self.name) + " (it has no SentencePiece "
                             "model: initialize it on training data, or load a saved pipeline "
                             "that was initialized)")

    def from_bytes(self, bytes_data, *, exclude=tuple()):
        """Load weights; the decoding settings and max_source_pieces stay those of the config
        (see the factory). Warns when the config's other model settings differ from the saved
        ones (they are fixed by training, and kept). A damaged part (or SentencePiece model, or
        network sizes beyond sane limits) raises a LoadError (spacy_rnn.pipeline.loading) naming the component."""
        return self._keeping_cfg(load_parts_from_bytes, bytes_data, exclude=exclude)

    def from_disk(self, path, *, exclude=tuple()):
        """Load weights; the decoding settings and max_source_pieces stay those of the config
        (see the factory). Warns when the config's other model settings differ from the saved
        ones (they are fixed by training, and kept). Warns when the saved pipeline holds runtime changes
        its config.cfg lacks. A damaged file (or SentencePiece model, or network sizes beyond sane
        limits) raises a LoadError naming the component and the file."""
        self._keeping_cfg(load_parts_from_disk, path, exclude=exclude)
        self._warn_unsaved_changes(Path(path))
        return self

    def _keeping_cfg(self, load, data, exclude):
        cfg, hyper = dict(self.cfg), dict(self._hyper())
        load(self, data, exclude=exclude)
        self._loaded_cfg = dict(self.cfg)
        self.cfg = cfg
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

    def set_annotations(self, docs: Iterable[Doc], translations: List[Dict]) -> None:
        """Write doc._.translation; doc._.translation_nbest and doc._.translation_attention
        where n_best / return_attention asked for them (else None)."""
        for doc, result in zip(docs, translations):
            doc._.translation = result["translation"]
            doc._.translation_nbest = result.get("nbest")
            doc._.translation_attention = result.get("attention")

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
                                 "target_model": target_sentencepiece_model,
                                 "component": self.name})

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


def _check_search(cfg: Dict, name: str) -> None:
    """beam_size, length_penalty, the length limits and quantize."""
    if not _is_int(cfg["beam_size"]) or cfg["beam_size"] < 1:
        raise ValueError(f"{name}: beam_size must be an integer >= 1 (1 = greedy "
                         f"search), got {cfg['beam_size']!r}")
    if cfg["length_penalty"] < 0:
        raise ValueError(f"{name}: length_penalty must be >= 0 (0 = no penalty), "
                         f"got {cfg['length_penalty']}")
    for key in ("max_length_ratio", "max_length_constant"):
        if cfg[key] < 0:
            raise ValueError(f"{name}: {key} must be >= 0, got {cfg[key]}")
    if cfg["max_length_ratio"] == 0 and cfg["max_length_constant"] == 0:
        raise ValueError(f"{name}: max_length_ratio and max_length_constant are both 0, "
                         "which cuts every translation to one piece (the longest output is "
                         "max_length_ratio * source pieces + max_length_constant, at least 1): "
                         "set max_length_ratio (e.g. 1.5), max_length_constant (e.g. 10), or both.")
    if cfg["quantize"] not in QUANTIZE_OPTIONS:
        raise ValueError(f"{name}: quantize must be one of "
                         f"{', '.join(repr(v) if v else 'null' for v in QUANTIZE_OPTIONS)}, "
                         f"got {cfg['quantize']!r}.")


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


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _regroup_detailed(translated: List[List[Dict]], counts: List[int], n_best: int,
                      attention: bool) -> List[Dict]:
    """Per doc, from the chunk results of its segments (the translate layer's detailed
    output): the translation, and the n-best list / attention where asked for."""
    out, start = [], 0
    for n in counts:
        chunks = [chunk for segment in translated[start:start + n] for chunk in segment]
        start += n
        result = {"translation": " ".join(c["nbest"][0][0] for c in chunks if c["nbest"][0][0])}
        if n_best:
            result["nbest"] = _combine_nbest([c["nbest"] for c in chunks], n_best)
        if attention:
            result["attention"] = [c["attention"] for c in chunks]
        out.append(result)
    return out


def _combine_nbest(options: List[List[tuple]], n_best: int) -> List[tuple]:
    """The n_best best translations of a doc translated in parts: one (text, score) option
    per part, texts joined by spaces, scores summed; sorted best first, the first one made of
    every part's first option (stable sort: it stays first among equal scores)."""
    best = [("", 0.0)]
    for part in options:
        joined = [(" ".join(t for t in (text, other) if t), score + other_score)
                  for text, score in best for other, other_score in part]
        best = sorted(joined, key=lambda pair: -pair[1])[:n_best]
    return best
