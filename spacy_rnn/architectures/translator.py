"""``spacy-rnn.Seq2SeqTranslator.v1``: SentencePiece + recurrent encoder-decoder in thinc.

The model tree has three nodes the component reaches by reference:

- ``core``: holds the torch ``Seq2Seq`` module (in a ``WeightsOnlyPyTorchShim`` whose bytes
  carry the module's sizes, so loading rebuilds it before loading weights) and
  the SentencePiece model bytes (in ``attrs``, so a saved pipeline needs no
  extra file). It is initialized with ``X = (sources, targets)``: all training
  texts, from which SentencePiece is trained unless a model was given.
- ``loss``: ``(sources, targets) -> mean token loss``, backprop accumulates
  gradients into the torch parameters.
- ``translate``: ``(sources, search) -> translations``, where ``search`` is a
  dict with ``beam_size``, ``length_penalty``, ``max_length_ratio``,
  ``max_length_constant`` and optionally ``quantize``: None (float32) or
  ``"int8"``: decode with an int8 dynamically quantized copy of the core's
  module (CPU only; elsewhere it warns once and decodes in float32), made on
  first use and kept in an :class:`Int8Cache` bound to the ``loss`` and
  ``translate`` layers: any training step (the loss forward) empties it, and
  it is made again when the weights changed otherwise (see :mod:`.int8_cache`);
  ``max_batch_pieces``: decode in batches of at most this many padded source
  pieces (unbounded without it); ``n_best`` (0: off) and ``attention`` (False:
  off): with either set, each translation is instead a list of one dict per
  chunk of the source (see ``split_long``), ``{"nbest": [(text, score), ...],
  "attention": {"source", "target", "weights"} or None}`` (see ``_detailed``).

Loading checks what it reads (:mod:`.saved_translator`), in the shim's
deserialize function (thinc loads a node's attrs before its shims): the network's
sizes, and the core's SentencePiece models against them, before allocating it.
"""
import functools
import hashlib
import io
import warnings
from typing import Dict, List, Literal, Optional, Tuple, get_args

import torch
from spacy.util import registry
from thinc.api import Model
from thinc.shims import PyTorchShim

from ..torch.precision import bf16_supported
from ..torch.search import beam_search, beam_search_nbest, forced_attention, greedy_search
from ..torch.seq2seq import Seq2Seq
from .int8_cache import Int8Cache, decoding_module
from .saved_translator import (check_state_shapes, check_subwords, load_state,
                               read_saved_network)
from .sentencepiece import (BOS_ID, EOS_ID, PAD_ID, load_sentencepiece, read_model_file,
                            train_sentencepiece)
from .shim import WeightsOnlyPyTorchShim, torch_module

Cell = Literal["rnn", "lstm", "gru"]
Attention = Literal["none", "bahdanau", "luong"]
SubwordModel = Literal["unigram", "bpe"]
Precision = Literal["float32", "bfloat16"]


@registry.architectures("spacy-rnn.Seq2SeqTranslator.v1")
def build_seq2seq_translator(
    cell: Cell = "lstm",
    encoder_cell: Optional[Cell] = None,
    decoder_cell: Optional[Cell] = None,
    attention: Attention = "bahdanau",
    input_feeding: bool = False,
    emb_size: int = 128,
    hidden: int = 256,
    encoder_depth: int = 1,
    decoder_depth: int = 1,
    bidirectional: bool = True,
    dropout: float = 0.1,
    label_smoothing: float = 0.1,
    tie_target_embeddings: bool = False,
    vocab_size: int = 8000,
    shared_vocab: bool = True,
    subword_model: SubwordModel = "unigram",
    character_coverage: float = 1.0,
    max_source_pieces: int = 200,
    train_group_size: int = 64,
    train_precision: Precision = "float32",
) -> Model:
    """A recurrent encoder-decoder translator with attention over SentencePiece pieces.

    max_source_pieces: training cuts longer sources (and targets longer than twice this),
        decoding splits longer sources into chunks; both warn. The config decides it, also
        for a saved pipeline; the other settings above are fixed by training.
    train_group_size: in training, a batch is sorted by target length and run in
        sub-batches of about this many sentence pairs (one loss, one backward), so
        that little time goes into padding; 0 runs the whole batch padded to its
        longest pair. Either way the output layer runs on real target positions only,
        and the decoder on the sentences still going: step by step with input feeding,
        in a few time chunks without (``Seq2Seq.loss``).
    train_precision: "bfloat16" runs the training forward pass under torch autocast
        in bfloat16 (weights, gradients and the loss stay float32). Measured faster
        on a CPU with AVX512-BF16 (BENCHMARKS.md); not measured on GPU. Where the
        device has no native bf16 kernels (an x86 CPU without AVX512-BF16 or AMX, a
        GPU without bf16) it warns and trains in float32. Decoding always runs in
        float32 (or int8, see quantize).
    """
    hyper = dict(cell=cell, encoder_cell=encoder_cell, decoder_cell=decoder_cell,
                 attention=attention, input_feeding=input_feeding, emb_size=emb_size,
                 hidden=hidden, encoder_depth=encoder_depth, decoder_depth=decoder_depth,
                 bidirectional=bidirectional, dropout=dropout, label_smoothing=label_smoothing,
                 tie_target_embeddings=tie_target_embeddings, vocab_size=vocab_size,
                 shared_vocab=shared_vocab, subword_model=subword_model,
                 character_coverage=character_coverage, max_source_pieces=max_source_pieces)
    _check_sizes(hyper)
    _check_rates(hyper)
    _check_training(train_group_size, train_precision)
    owner = CoreRef()  # lets the shim's loader check the core's SentencePiece models
    core = Model("seq2seq-core", _no_forward, init=_init_core, shims=[_make_shim(hyper, owner)],
                 attrs={"hyper": hyper, "spm_source": b"", "spm_target": b"", "spm_sha256": {}})
    owner.core = core
    # train_group_size and train_precision are bound here, not stored with the weights: they
    # are training settings, so the config decides them, also for pipelines saved without them.
    # Both layers share the int8 copy's cache: training empties it, decoding fills it.
    int8 = Int8Cache()
    loss = Model("seq2seq-loss", functools.partial(_loss_forward, group_size=train_group_size,
                                                   precision=train_precision, int8=int8),
                 layers=[core])
    translate = Model("seq2seq-translate", functools.partial(_translate_forward, int8=int8),
                      layers=[core])
    return Model("rnn-translator", _no_forward, init=_init_top, layers=[core, loss, translate],
                 refs={"core": core, "loss": loss, "translate": translate})


def _check_training(train_group_size: int, train_precision: str) -> None:
    if train_group_size < 0:
        raise ValueError(f"Seq2SeqTranslator: train_group_size must be >= 0 (0 = no grouping), "
                         f"got {train_group_size}.")
    if train_precision not in get_args(Precision):
        allowed = " or ".join(repr(p) for p in get_args(Precision))
        raise ValueError(f"Seq2SeqTranslator: train_precision must be {allowed}, "
                         f"got {train_precision!r}.")


def _check_sizes(hyper: Dict) -> None:
    for key in ("emb_size", "hidden", "encoder_depth", "decoder_depth", "max_source_pieces"):
        if hyper[key] < 1:
            raise ValueError(f"Seq2SeqTranslator: {key} must be >= 1, got {hyper[key]}.")
    if hyper["bidirectional"] and hyper["hidden"] % 2:
        raise ValueError(f"Seq2SeqTranslator: a bidirectional encoder needs an even hidden "
                         f"size, got hidden = {hyper['hidden']}.")
    if hyper["vocab_size"] < 8:
        raise ValueError(f"Seq2SeqTranslator: vocab_size must be at least 8, got {hyper['vocab_size']}.")


def _check_rates(hyper: Dict) -> None:
    for key in ("dropout", "label_smoothing"):
        if not 0 <= hyper[key] < 1:
            raise ValueError(f"Seq2SeqTranslator: {key} must be >= 0 and < 1 (0 = none), "
                             f"got {hyper[key]}.")
    if not 0.98 <= hyper["character_coverage"] <= 1:
        raise ValueError(f"Seq2SeqTranslator: character_coverage must be between 0.98 and 1 "
                         f"(SentencePiece's limits; 1 = every character of the training texts), "
                         f"got {hyper['character_coverage']}.")


def _init_top(model: Model, X=None, Y=None) -> None:
    model.get_ref("core").initialize(X=X)


def _no_forward(model: Model, X, is_train: bool):
    raise ValueError("Use the translator's 'loss' or 'translate' layer (model.get_ref(...)).")


# ----- the torch module inside a shim -----------------------------------------------------------

def _module_config(hyper: Dict, src_vocab: int, tgt_vocab: int) -> Dict:
    return dict(src_vocab=src_vocab, tgt_vocab=tgt_vocab, emb_size=hyper["emb_size"],
                hidden=hyper["hidden"], enc_layers=hyper["encoder_depth"],
                dec_layers=hyper["decoder_depth"], cell=hyper["cell"],
                enc_cell=hyper["encoder_cell"], dec_cell=hyper["decoder_cell"],
                bidirectional=hyper["bidirectional"], attention=hyper["attention"],
                input_feeding=hyper["input_feeding"], dropout=hyper["dropout"],
                tie_target_embeddings=hyper["tie_target_embeddings"],
                pad_id=PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID)


class CoreRef:
    """The core layer whose shim loads the network (set once the core exists), so that loading
    checks the core's SentencePiece models, loaded just before (thinc's ``Model.from_dict``
    sets a node's attrs before it loads its shims)."""

    def __init__(self, core: Optional[Model] = None):
        self.core = core

    def __deepcopy__(self, memo):
        """The copy of the core when the whole model is copied (``copy.deepcopy``: the core is
        in ``memo``), else an empty reference: thinc's ``Model.copy`` copies the shim alone,
        which must not copy the whole core along (its copy then loads without this check)."""
        return CoreRef(memo.get(id(self.core)))


def _make_shim(hyper: Dict, owner: CoreRef) -> PyTorchShim:
    placeholder = Seq2Seq(**_module_config(hyper, 8, 8))
    return WeightsOnlyPyTorchShim(placeholder, serialize_model=_serialize_module,
                                  deserialize_model=functools.partial(_deserialize_module, owner=owner))


def _serialize_module(module) -> bytes:
    buffer = io.BytesIO()
    torch.save({"config": module.config, "state": module.state_dict()}, buffer)
    return buffer.getvalue()


def _deserialize_module(module, data: bytes, device, owner: Optional[CoreRef] = None):
    """Rebuild the saved ``Seq2Seq``: tensors only (``weights_only``), and its sizes checked
    against sane limits, the saved tensors and the owning core's SentencePiece models (already
    loaded: see :class:`CoreRef`) before the network is allocated."""
    saved = read_saved_network(data, device)
    check_state_shapes(saved["config"], saved["state"])
    if owner is not None and owner.core is not None:
        check_subwords(owner.core.attrs, saved["config"])
    rebuilt = Seq2Seq(**saved["config"])
    load_state(rebuilt, saved["state"])
    return rebuilt.to(device)


def int8_cache(model: Model) -> Int8Cache:
    """The int8 copy's cache of a ``Seq2SeqTranslator`` model (for tests and tools)."""
    return model.get_ref("translate")._func.keywords["int8"]


# ----- initialization: SentencePiece + module sizes -----------------------------------------------

def _init_core(model: Model, X: Optional[Dict] = None, Y=None) -> None:
    """X: {"sources": [...], "targets": [...], "source_model": path|None, "target_model": path|None,
    "component": the pipeline component's name, for messages}."""
    X = X or {}
    _check_subword_files(model.attrs["hyper"], X.get("source_model"), X.get("target_model"),
                         X.get("component", "<translator>"))
    if X.get("source_model"):
        set_subword_models(model, X["source_model"], X.get("target_model"))
    elif X.get("sources"):
        _train_subwords(model, X["sources"], X["targets"])
    elif not model.attrs["spm_source"]:
        raise ValueError("The translator needs training texts (or a SentencePiece model) "
                         "to initialize.")
    hyper = model.attrs["hyper"]
    sizes = [load_sentencepiece(model.attrs[k]).get_piece_size() for k in ("spm_source", "spm_target")]
    _replace_module(model, _module_config(hyper, *sizes))
    if X.get("sources"):
        _warn_cut(model, *_uncut_pieces(model, X["sources"], X["targets"]), "")


def _check_subword_files(hyper: Dict, source_model, target_model, component: str) -> None:
    """Refuse SentencePiece files that would be ignored or used for the wrong side. (With
    two files, ``shared_vocab`` has nothing to decide: it only says how initialize trains
    SentencePiece when no file is given.)"""
    where = f"[initialize.components.{component}]"
    if target_model and not source_model:
        raise ValueError(f"{where} target_sentencepiece_model is set without sentencepiece_model: "
                         f"give sentencepiece_model too (the source side's model), or neither to "
                         f"train both on the training texts.")
    if source_model and not target_model and not hyper["shared_vocab"]:
        raise ValueError(f"{where} sentencepiece_model is set but target_sentencepiece_model is "
                         f"not, and the model has shared_vocab = false: give the target side's "
                         f"model as target_sentencepiece_model, or set shared_vocab = true to use "
                         f"the one model for both sides.")


def _train_subwords(model: Model, sources: List[str], targets: List[str]) -> None:
    hyper = model.attrs["hyper"]
    args = (hyper["vocab_size"], hyper["subword_model"], hyper["character_coverage"])
    if hyper["shared_vocab"]:
        shared = train_sentencepiece(list(sources) + list(targets), *args)
        _set_subwords(model, shared, shared)
    else:
        _set_subwords(model, train_sentencepiece(sources, *args),
                      train_sentencepiece(targets, *args))


def set_subword_models(core: Model, source_path, target_path=None) -> None:
    """Use existing SentencePiece ``.model`` files instead of training new ones."""
    _set_subwords(core, read_model_file(source_path), read_model_file(target_path or source_path))


def _set_subwords(core: Model, source: bytes, target: bytes) -> None:
    """Store the SentencePiece models and their SHA-256 sums (checked on load)."""
    core.attrs["spm_source"], core.attrs["spm_target"] = source, target
    core.attrs["spm_sha256"] = {side: hashlib.sha256(data).hexdigest()
                                for side, data in (("source", source), ("target", target))}


def _replace_module(model: Model, config: Dict) -> None:
    shim = model.shims[0]
    shim._model = Seq2Seq(**config).to(shim.device)


# ----- encoding texts ---------------------------------------------------------------------------

class SubwordModels:
    """The SentencePiece processors of a core layer (loaded once per model bytes)."""

    def __init__(self, core: Model):
        self.source = _processor(core.attrs["spm_source"])
        self.target = _processor(core.attrs["spm_target"])


@functools.lru_cache(maxsize=16)
def _processor(model_bytes: bytes):
    return load_sentencepiece(model_bytes)


def _padded(rows: List[List[int]], device):
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    batch = torch.full((len(rows), max(lengths.tolist(), default=1)), PAD_ID, dtype=torch.long)
    for i, row in enumerate(rows):
        batch[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return batch.to(device), lengths.to(device)


def encode_sources(core: Model, sources: List[str]) -> List[List[int]]:
    """Source piece ids of each text (empty for blank text)."""
    processor = SubwordModels(core).source
    return [processor.encode(s) if s.strip() else [] for s in sources]


def split_long(rows: List[List[int]], limit: int) -> Tuple[List[List[int]], List[int]]:
    """Cut rows longer than ``limit`` pieces into chunks; returns (chunks, owner row index)."""
    chunks, owners = [], []
    for i, row in enumerate(rows):
        for start in range(0, len(row), limit):
            chunks.append(row[start:start + limit])
            owners.append(i)
    n_long = sum(1 for row in rows if len(row) > limit)
    if n_long:
        warnings.warn(f"Seq2SeqTranslator: {n_long} sentence(s) longer than max_source_pieces = "
                      f"{limit} were split into chunks of at most {limit} pieces and translated "
                      f"chunk by chunk; raise max_source_pieces (for a saved pipeline: "
                      f"spacy.load(path, config={{'components': {{'<translator name>': {{'model': "
                      f"{{'max_source_pieces': N}}}}}}}})) or set sentence boundaries.")
    return chunks, owners


# ----- loss ------------------------------------------------------------------------------------

def _loss_forward(model: Model, sources_targets: Tuple[List[str], List[str]], is_train: bool, *,
                  group_size: int, precision: str, int8: Int8Cache):
    int8.clear()  # an optimizer step follows: the int8 copy would be stale
    core = model.layers[0]
    module = torch_module(core)
    module.train(is_train)
    hyper = core.attrs["hyper"]
    src_rows, tgt_rows = training_pieces(core, *sources_targets)
    if not src_rows:
        return 0.0, lambda d_loss=1.0: []
    total, n_tokens = 0.0, 0
    for group in length_groups([len(row) for row in tgt_rows], group_size):
        src, src_lengths, tgt_in, tgt_out = training_batch(
            core, [src_rows[i] for i in group], [tgt_rows[i] for i in group])
        with _autocast(src.device, precision):
            group_total, group_tokens = module.loss(src, src_lengths, tgt_in, tgt_out,
                                                    hyper["label_smoothing"])
        total, n_tokens = total + group_total, n_tokens + group_tokens
    loss = total / max(n_tokens, 1)

    def backprop(d_loss: float = 1.0):
        (loss * d_loss).backward()
        return []

    return float(loss.detach()), backprop


def _autocast(device, precision: str):
    """torch autocast in bfloat16 for ``precision == "bfloat16"`` where the device has
    bf16 kernels (else a warning and float32); else a no-op context."""
    enabled = precision == "bfloat16" and bf16_supported(device.type)
    if precision == "bfloat16" and not enabled:
        _warn_no_bf16(device.type)
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


_WARNED_NO_BF16 = set()


def _warn_no_bf16(device_type: str) -> None:
    """Warn once per process and device type (not at every batch, nor again after some
    other code resets Python's warning registry, as ``warnings.catch_warnings`` does)."""
    if device_type in _WARNED_NO_BF16:
        return
    _WARNED_NO_BF16.add(device_type)
    what = ("this CPU has no native bfloat16 kernels (on x86: AVX512-BF16 or AMX; oneDNN's "
            "emulation is slower than float32)"
            if device_type == "cpu" else f"this {device_type} device does not support bfloat16")
    warnings.warn(f"Seq2SeqTranslator: train_precision = 'bfloat16', but {what}; training runs "
                  f"in float32. Set train_precision = 'float32' to silence this warning.",
                  stacklevel=3)


def training_pieces(core: Model, sources: List[str], targets: List[str]):
    """Source and target piece ids (sources cut at max_source_pieces, targets at twice that;
    the first batch that cuts pairs warns, unless initialization already did)."""
    src_rows, tgt_rows = _uncut_pieces(core, sources, targets)
    limit = core.attrs["hyper"]["max_source_pieces"]
    if core.id not in _WARNED_CUT:
        _warn_cut(core, src_rows, tgt_rows, " in a batch")
    return [row[:limit] or [EOS_ID] for row in src_rows], [row[: 2 * limit] for row in tgt_rows]


def _uncut_pieces(core: Model, sources: List[str], targets: List[str]):
    pieces = SubwordModels(core)
    return [pieces.source.encode(s) for s in sources], [pieces.target.encode(t) for t in targets]


_WARNED_CUT = set()  # ids of the core layers that warned about cut training pairs


def _warn_cut(core: Model, src_rows: List[List[int]], tgt_rows: List[List[int]], where: str):
    """Warn when pairs are longer than training takes, and mark the model as warned."""
    limit = core.attrs["hyper"]["max_source_pieces"]
    n_cut = sum(1 for src, tgt in zip(src_rows, tgt_rows)
                if len(src) > limit or len(tgt) > 2 * limit)
    if not n_cut:
        return
    _WARNED_CUT.add(core.id)
    warnings.warn(f"Seq2SeqTranslator: {n_cut} of {len(src_rows)} training pairs{where} are "
                  f"longer than training takes: sources are cut to max_source_pieces = {limit} "
                  f"pieces, targets to {2 * limit} (2 x max_source_pieces), so the model learns "
                  f"target text for source text it never sees. Raise max_source_pieces in the "
                  f"model config, or split long pairs into sentences. (Reported once per model.)",
                  stacklevel=2)


def length_groups(lengths: List[int], group_size: int) -> List[List[int]]:
    """Indices sorted by length, cut into ceil(n / group_size) groups of near-equal size
    (one group of all indices in their order when group_size is 0 or covers them all)."""
    n = len(lengths)
    if group_size <= 0 or n <= group_size:
        return [list(range(n))] if n else []
    order = sorted(range(n), key=lambda i: lengths[i])
    n_groups = -(-n // group_size)
    bounds = [round(k * n / n_groups) for k in range(n_groups + 1)]
    return [order[bounds[k]:bounds[k + 1]] for k in range(n_groups)]


def training_batch(core: Model, src_rows: List[List[int]], tgt_rows: List[List[int]]):
    """Padded tensors on the model's device: (src (B, S), src_lengths (B,), tgt_in (B, T), tgt_out (B, T))."""
    device = core.shims[0].device
    src, src_lengths = _padded(src_rows, device)
    tgt_in, _ = _padded([[BOS_ID] + row for row in tgt_rows], device)
    tgt_out, _ = _padded([row + [EOS_ID] for row in tgt_rows], device)
    return src, src_lengths, tgt_in, tgt_out


# ----- translation -----------------------------------------------------------------------------

def _translate_forward(model: Model, sources_search: Tuple[List[str], Dict], is_train: bool, *,
                       int8: Int8Cache):
    sources, search = sources_search
    core = model.layers[0]
    module = decoding_module(core, search.get("quantize"), int8)
    chunks, owners = split_long(encode_sources(core, sources),
                                core.attrs["hyper"]["max_source_pieces"])
    if search.get("n_best", 0) or search.get("attention", False):
        return _detailed(core, module, chunks, owners, len(sources), search), _no_backprop
    pieces: List[List[str]] = [[] for _ in sources]
    if chunks:
        target = SubwordModels(core).target
        batches = _in_piece_batches(core, module, chunks, search, _best_ids)
        for owner, ids in zip(owners, batches):
            pieces[owner].append(target.decode(ids))
    return [" ".join(p for p in parts if p) for parts in pieces], _no_backprop


def _no_backprop(dY):
    raise ValueError("Translation has no gradient: use the 'loss' layer for training.")


def _detailed(core: Model, module, chunks: List[List[int]], owners: List[int], n_sources: int,
              search: Dict) -> List[List[Dict]]:
    """Per source, one dict per chunk: "nbest" (text, score) pairs, best first, and
    "attention" (see :func:`_alignment`) or None."""
    out: List[List[Dict]] = [[] for _ in range(n_sources)]
    found = _in_piece_batches(core, module, chunks, search, _hypotheses)
    pieces = SubwordModels(core)
    for owner, row, (hypotheses, weights) in zip(owners, chunks, found):
        nbest = [(pieces.target.decode(ids), score) for ids, score in hypotheses]
        alignment = None if weights is None else _alignment(pieces, row, hypotheses[0][0], weights)
        out[owner].append({"nbest": nbest, "attention": alignment})
    return out


def _alignment(pieces: "SubwordModels", source: List[int], target: List[int], weights) -> Dict:
    """The best hypothesis's attention: {"source": source piece strings, "target": target
    piece strings, "weights": float32 array (target pieces, source pieces)}."""
    return {"source": [pieces.source.id_to_piece(i) for i in source],
            "target": [pieces.target.id_to_piece(i) for i in target],
            "weights": weights.numpy()}


def piece_batches(lengths: List[int], budget: int) -> List[List[int]]:
    """Indices sorted by length, longest first, cut into batches whose padded size (rows x
    longest row) is at most ``budget`` pieces; a row longer than the budget goes alone."""
    batches: List[List[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        if batches and (len(batches[-1]) + 1) * lengths[batches[-1][0]] <= budget:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _in_piece_batches(core: Model, module, rows: List[List[int]], search: Dict, run) -> List:
    """``run(module, src, src_lengths, search)`` over batches of at most
    ``search["max_batch_pieces"]`` padded source pieces (unbounded without it), so that
    peak memory does not grow with the number or length of the texts; results in row order."""
    module.eval()
    budget = search.get("max_batch_pieces") or max((len(r) for r in rows), default=1) * len(rows)
    out: List = [None] * len(rows)
    with torch.inference_mode():
        for batch in piece_batches([len(r) for r in rows], budget):
            src, src_lengths = _padded([rows[i] for i in batch], core.shims[0].device)
            for i, result in zip(batch, run(module, src, src_lengths, search)):
                out[i] = result
    return out


def _limits(search: Dict) -> Dict:
    return dict(max_len_ratio=search["max_length_ratio"],
                max_len_const=search["max_length_constant"])


def _best_ids(module, src, src_lengths, search: Dict) -> List[List[int]]:
    """The best hypothesis of each source: greedy (beam_size 1) or beam search."""
    if search["beam_size"] <= 1:
        return greedy_search(module, src, src_lengths, **_limits(search))
    return beam_search(module, src, src_lengths, beam_size=search["beam_size"],
                       alpha=search["length_penalty"], **_limits(search))


def _hypotheses(module, src, src_lengths, search: Dict) -> List[Tuple]:
    """Per source: the max(n_best, 1) best (ids, score) pairs by beam search (beam size 1 is
    greedy search), and the best one's attention weights (a (target, source) tensor) when
    search["attention"], else None."""
    found = beam_search_nbest(module, src, src_lengths, beam_size=search["beam_size"],
                              n_best=max(search.get("n_best", 0), 1),
                              alpha=search["length_penalty"], **_limits(search))
    if not search.get("attention", False):
        return [(hypotheses, None) for hypotheses in found]
    weights = forced_attention(module, src, src_lengths, [h[0][0] for h in found])
    return list(zip(found, weights))
