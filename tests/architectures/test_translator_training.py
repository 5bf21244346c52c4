"""Training settings of ``spacy-rnn.Seq2SeqTranslator.v1``: length-grouped sub-batches
(``train_group_size``) and bfloat16 autocast (``train_precision``)."""
import platform
import warnings

import pytest
import spacy
import torch
from thinc.api import Adam, fix_random_seed
from thinc.config import ConfigValidationError

from spacy_rnn.architectures.sentencepiece import load_sentencepiece
from spacy_rnn.architectures.translator import (build_seq2seq_translator, length_groups,
                                                torch_module)
from spacy_rnn.torch.precision import bf16_supported

needs_cpu_bf16 = pytest.mark.skipif(
    not bf16_supported("cpu"), reason="this CPU has no native bfloat16 kernels (needs AVX512-BF16 or AMX)")


@pytest.mark.parametrize("n,size", [(10, 3), (64, 64), (65, 64), (256, 64), (7, 1)])
def test_groups_partition_sorted_indices_in_balanced_groups(n, size):
    lengths = [(i * 37) % 11 for i in range(n)]
    groups = length_groups(lengths, size)
    flat = [i for group in groups for i in group]
    assert sorted(flat) == list(range(n))
    if len(groups) > 1:
        assert [lengths[i] for i in flat] == sorted(lengths)
    assert len(groups) == -(-n // size)
    sizes = [len(g) for g in groups]
    assert max(sizes) - min(sizes) <= 1 and max(sizes) <= size


def test_no_grouping_keeps_the_batch_order():
    assert length_groups([5, 1, 3], 0) == [[0, 1, 2]]
    assert length_groups([5, 1, 3], 3) == [[0, 1, 2]]
    assert length_groups([], 4) == []


def test_negative_group_size_is_rejected():
    with pytest.raises(ValueError, match="train_group_size must be >= 0"):
        build_seq2seq_translator(train_group_size=-1)


SOURCES = ["a b c d e f g h", "a b", "c d e", "f", "g h a b c", "b c d e f g h a b c d", "e f"]
TARGETS = ["x y", "y z w v u t s", "z", "w v u", "t s x y z w v u t s x", "s", "x y z w"]


def loss_and_grads(group_size: int, precision: str = "float32", logit_dtypes=None):
    fix_random_seed(0)
    model = build_seq2seq_translator(emb_size=8, hidden=16, vocab_size=40, dropout=0.0,
                                     label_smoothing=0.1, train_group_size=group_size,
                                     train_precision=precision)
    model.initialize(X={"sources": SOURCES * 3, "targets": TARGETS * 3})
    module = torch_module(model.get_ref("core"))
    if logit_dtypes is not None:
        module.generator.register_forward_hook(lambda mod, args, out: logit_dtypes.append(out.dtype))
    loss, backprop = model.get_ref("loss")((SOURCES, TARGETS), is_train=True)
    backprop(1.0)
    return loss, {name: p.grad.clone() for name, p in module.named_parameters()}


@pytest.mark.filterwarnings("ignore:SentencePiece")
def test_grouped_loss_and_gradients_equal_the_whole_batch():
    whole_loss, whole_grads = loss_and_grads(0)
    grouped_loss, grouped_grads = loss_and_grads(2)
    assert grouped_loss == pytest.approx(whole_loss, rel=1e-5)
    assert set(grouped_grads) == set(whole_grads)
    for name, grad in whole_grads.items():
        torch.testing.assert_close(grouped_grads[name], grad, rtol=1e-4, atol=1e-6)


@pytest.mark.filterwarnings("ignore:SentencePiece")
def test_group_size_comes_from_the_config_not_the_saved_bytes():
    """Bytes saved by a model built with one group size (or before the setting existed)
    load into a model built with another, which then trains with its own setting."""
    fix_random_seed(0)
    saved = build_seq2seq_translator(emb_size=8, hidden=16, vocab_size=40, train_group_size=0)
    saved.initialize(X={"sources": SOURCES * 3, "targets": TARGETS * 3})
    saved.get_ref("core").attrs["hyper"].pop("train_group_size", None)  # as an older version
    loaded = build_seq2seq_translator(emb_size=8, hidden=16, vocab_size=40, dropout=0.0,
                                      train_group_size=2).from_bytes(saved.to_bytes())
    calls = []
    module = torch_module(loaded.get_ref("core"))
    module.src_embed.register_forward_hook(lambda mod, args, out: calls.append(args[0].shape[0]))
    loss, backprop = loaded.get_ref("loss")((SOURCES, TARGETS), is_train=True)
    backprop(1.0)
    assert loss > 0 and sorted(calls) == [1, 2, 2, 2]  # 7 pairs in groups of <= 2


@pytest.mark.filterwarnings("ignore:SentencePiece")
def test_empty_batch_has_zero_loss():
    model = build_seq2seq_translator(emb_size=8, hidden=16, vocab_size=40)
    model.initialize(X={"sources": SOURCES * 3, "targets": TARGETS * 3})
    loss, backprop = model.get_ref("loss")(([], []), is_train=True)
    assert loss == 0.0 and backprop(1.0) == []


CUT_WARNING = "longer than training takes"


def cut_warnings(record):
    return [str(w.message) for w in record if CUT_WARNING in str(w.message)]


def n_longer(core, sources, targets, limit):
    """Pairs with a source longer than limit pieces or a target longer than 2 * limit."""
    source, target = (load_sentencepiece(core.attrs[k]) for k in ("spm_source", "spm_target"))
    return sum(1 for s, t in zip(sources, targets)
               if len(source.encode(s)) > limit or len(target.encode(t)) > 2 * limit)


@pytest.mark.filterwarnings("ignore:SentencePiece")
def test_pairs_cut_in_training_are_counted_at_initialization_once():
    fix_random_seed(0)
    model = build_seq2seq_translator(emb_size=8, hidden=16, vocab_size=40, max_source_pieces=4)
    core = model.get_ref("core")
    with pytest.warns(UserWarning, match=r"Seq2SeqTranslator: \d+ of 21 training pairs are longer "
                                         r"than training takes: sources are cut to "
                                         r"max_source_pieces = 4 pieces, targets to 8 \(2 x "
                                         r"max_source_pieces\).*Raise max_source_pieces") as record:
        model.initialize(X={"sources": SOURCES * 3, "targets": TARGETS * 3})
    n_long = n_longer(core, SOURCES * 3, TARGETS * 3, 4)
    assert 0 < n_long < 21 and f" {n_long} of 21 " in cut_warnings(record)[0]
    with warnings.catch_warnings(record=True) as later:  # reported already: not per batch
        warnings.simplefilter("always")
        model.get_ref("loss")((SOURCES, TARGETS), is_train=True)
    assert not cut_warnings(later)


@pytest.mark.filterwarnings("ignore:SentencePiece")
def test_pairs_cut_in_a_batch_warn_once_per_model():
    """A model initialized without long pairs (or loaded) warns at the first batch that cuts,
    with the count of that batch, and not again."""
    fix_random_seed(0)
    model = build_seq2seq_translator(emb_size=8, hidden=16, vocab_size=40)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.initialize(X={"sources": SOURCES * 3, "targets": TARGETS * 3})
        model.get_ref("loss")((SOURCES, TARGETS), is_train=True)
    assert not cut_warnings(record)
    core = model.get_ref("core")
    core.attrs["hyper"]["max_source_pieces"] = 1
    n_long = n_longer(core, SOURCES, TARGETS, 1)
    with pytest.warns(UserWarning, match=f"{n_long} of 7 training pairs in a batch are longer "
                                         f"than training takes: sources are cut to "
                                         f"max_source_pieces = 1 pieces, targets to 2"):
        model.get_ref("loss")((SOURCES, TARGETS), is_train=True)
    with warnings.catch_warnings(record=True) as later:
        warnings.simplefilter("always")
        model.get_ref("loss")((SOURCES, TARGETS), is_train=True)
    assert not cut_warnings(later)


@needs_cpu_bf16
@pytest.mark.filterwarnings("ignore:SentencePiece")
def test_bfloat16_runs_the_forward_in_bf16_and_keeps_float32_gradients():
    dtypes32, dtypes16 = [], []
    loss32, grads32 = loss_and_grads(0, "float32", dtypes32)
    loss16, grads16 = loss_and_grads(0, "bfloat16", dtypes16)
    assert dtypes32 == [torch.float32] and dtypes16 == [torch.bfloat16]
    assert loss16 == pytest.approx(loss32, rel=0.02)
    for name, grad in grads32.items():
        assert grads16[name].dtype == torch.float32 and torch.isfinite(grads16[name]).all()
    cosine = torch.nn.functional.cosine_similarity(
        grads16["generator.weight"].flatten(), grads32["generator.weight"].flatten(), dim=0)
    assert cosine > 0.98


@needs_cpu_bf16
@pytest.mark.filterwarnings("ignore:SentencePiece")
def test_bfloat16_training_overfits_a_tiny_set():
    fix_random_seed(0)
    model = build_seq2seq_translator(emb_size=16, hidden=32, vocab_size=40, dropout=0.0,
                                     label_smoothing=0.0, train_precision="bfloat16")
    model.initialize(X={"sources": SOURCES * 3, "targets": TARGETS * 3})
    optimizer = Adam(0.01)
    losses = []
    for _ in range(60):
        loss, backprop = model.get_ref("loss")((SOURCES, TARGETS), is_train=True)
        backprop(1.0)
        model.finish_update(optimizer)
        losses.append(loss)
    assert losses[-1] < 0.1 * losses[0]


@pytest.mark.filterwarnings("ignore:SentencePiece")
def test_bfloat16_without_bf16_kernels_warns_and_trains_in_float32(monkeypatch):
    monkeypatch.setattr("spacy_rnn.architectures.translator.bf16_supported", lambda device_type: False)
    monkeypatch.setattr("spacy_rnn.architectures.translator._WARNED_NO_BF16", set())
    dtypes32, dtypes16 = [], []
    loss32, grads32 = loss_and_grads(0, "float32", dtypes32)
    with pytest.warns(UserWarning, match=r"train_precision = 'bfloat16', but this CPU has no "
                                         r"native bfloat16 kernels .*training runs in float32"):
        loss16, grads16 = loss_and_grads(0, "bfloat16", dtypes16)
    assert dtypes16 == dtypes32 == [torch.float32]
    assert loss16 == pytest.approx(loss32, rel=1e-6)
    for name, grad in grads32.items():
        torch.testing.assert_close(grads16[name], grad)
    with warnings.catch_warnings(record=True) as again:  # a new registry: still once per process
        warnings.simplefilter("always")
        loss_and_grads(0, "bfloat16")
    assert not [w for w in again if "train_precision" in str(w.message)]


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="elsewhere a CPU LSTM may not use oneDNN, and runs in float32 under autocast")
def test_bf16_support_check_agrees_with_a_bf16_lstm_on_this_cpu():
    from spacy_rnn.torch.precision import NATIVE_BF16_FLAGS, _bf16_lstm_runs, x86_cpu_flags

    native = x86_cpu_flags() is None or bool(x86_cpu_flags() & NATIVE_BF16_FLAGS)
    assert bf16_supported("cpu") == (native and _bf16_lstm_runs())


@pytest.mark.parametrize("flags, expected", [
    (frozenset({"avx2", "fma"}), False),  # AVX2 only: no oneDNN bf16 at all
    (frozenset({"avx2", "avx512f", "avx512bw"}), False),  # AVX-512 without bf16: emulated, slow
    (frozenset({"avx512f", "avx512_bf16"}), True),
    (frozenset({"avx512f", "amx_bf16"}), True),
    (None, True),  # not x86 (or no /proc/cpuinfo): oneDNN's own check decides
])
def test_bf16_on_cpu_needs_native_bf16_instructions(monkeypatch, flags, expected):
    from spacy_rnn.torch import precision

    monkeypatch.setattr(precision, "x86_cpu_flags", lambda: flags)
    monkeypatch.setattr(precision.torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True,
                        raising=False)
    precision.bf16_supported.cache_clear()
    try:
        assert precision.bf16_supported("cpu") is expected
    finally:
        precision.bf16_supported.cache_clear()


def test_unknown_precision_is_rejected():
    with pytest.raises(ValueError, match="train_precision must be 'float32' or 'bfloat16'"):
        build_seq2seq_translator(train_precision="float16")


def test_config_validation_lists_the_allowed_precisions():
    nlp = spacy.blank("en")
    with pytest.raises(ConfigValidationError) as error:
        nlp.add_pipe("rnn_translator", config={"model": {"train_precision": "fp16"}})
    assert "float32" in str(error.value) and "bfloat16" in str(error.value)


@pytest.mark.filterwarnings("ignore:SentencePiece")
def test_translator_loss_uses_label_smoothing():
    from spacy_rnn.architectures.translator import build_seq2seq_translator
    S = ["a b c d", "a b", "c d e"]
    T = ["x y", "y z w", "z"]
    losses = []
    for ls in (0.0, 0.3):
        fix_random_seed(0)
        model = build_seq2seq_translator(emb_size=8, hidden=16, vocab_size=40, dropout=0.0,
                                         label_smoothing=ls)
        model.initialize(X={"sources": S * 3, "targets": T * 3})
        loss, _ = model.get_ref("loss")((S, T), is_train=True)
        losses.append(loss)
    assert losses[1] != pytest.approx(losses[0], rel=1e-3)

