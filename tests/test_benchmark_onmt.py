"""The OpenNMT-py comparison (python -m spacy_rnn.benchmarks.onmt): its batches, its training
step and its message without OpenNMT-py; the whole command where OpenNMT-py is installed."""
import importlib.util
import sys

import pytest
import torch

from spacy_rnn.benchmarks import onmt as benchmark_onmt
from spacy_rnn.benchmarks import run as benchmark
from spacy_rnn.architectures.sentencepiece import PAD_ID
from spacy_rnn.torch.seq2seq import Seq2Seq, sequence_loss

HAS_ONMT = importlib.util.find_spec("onmt") is not None


@pytest.fixture(scope="module")
def quick_groups():
    sizes = benchmark_onmt.settings(benchmark_onmt.parse_args(["--quick", "--batches", "2"]))
    pairs = benchmark.translator_pairs(sizes)
    variant = next(iter(benchmark.translator_variants("reference").values()))
    run = benchmark.TranslatorRun("ours", variant, pairs, sizes, "cpu")
    core = run.translator.model.get_ref("core")
    return run, benchmark_onmt.pair_groups(core, run.batches, sizes["group"])


def test_without_onmt_the_command_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "onmt", None)  # makes `import onmt` fail
    with pytest.raises(SystemExit) as err:
        benchmark_onmt.main(["--quick"])
    assert "pip install --no-deps OpenNMT-py==3.5.1" in str(err.value)


def test_groups_are_the_batch_sorted_by_target_length(quick_groups):
    run, batches = quick_groups
    assert len(batches) == len(run.batches) == 3
    for examples, groups in zip(run.batches, batches):
        assert len(groups) == 2  # 8 pairs in groups of 4
        assert sum(g[0].shape[0] for g in groups) == len(examples)
        lengths = [int(n) for g in groups for n in (g[3] != PAD_ID).sum(1)]
        assert max(lengths[:4]) <= min(lengths[4:])
        targets = run.pieces([eg.reference._.translation for eg in examples], "target")
        assert sum(lengths) == targets  # every target piece and each EOS, nothing cut
        for src, src_lengths, tgt_in, tgt_out in groups:
            assert (tgt_in[:, 1:][tgt_out[:, 1:] != PAD_ID] == tgt_out[:, :-1][tgt_out[:, 1:] != PAD_ID]).all()
            assert ((src != PAD_ID).sum(1) == src_lengths).all()


def test_a_step_is_the_whole_batch_loss_and_one_adam_step(quick_groups):
    """Sub-batch losses divided by the batch's piece count sum to the whole batch's mean loss,
    and the step changes the weights once."""
    _, batches = quick_groups
    torch.manual_seed(0)
    model = Seq2Seq(120, 120, emb_size=8, hidden=8, attention="bahdanau", pad_id=PAD_ID)
    trainer = benchmark_onmt.Trainer(model, benchmark_onmt.ours_loss)
    groups = batches[0]
    n = sum(int((g[3] != PAD_ID).sum()) for g in groups)
    model.eval()  # no dropout: the same logits twice
    with torch.no_grad():
        want = sum(float(sequence_loss(model(g[0], g[1], g[2]), g[3], PAD_ID)[0]) for g in groups) / n
    trainer.model.eval()
    before = [p.detach().clone() for p in model.parameters()]
    assert trainer.step(groups) == pytest.approx(want, rel=1e-5)
    assert all(p.grad is None for p in model.parameters())
    changed = [not torch.equal(a, b) for a, b in zip(before, model.parameters())]
    assert sum(changed) > len(changed) // 2


def test_training_steps_overfit_one_batch(quick_groups):
    _, batches = quick_groups
    torch.manual_seed(0)
    model = Seq2Seq(120, 120, emb_size=32, hidden=32, attention="bahdanau", pad_id=PAD_ID)
    trainer = benchmark_onmt.Trainer(model, benchmark_onmt.ours_loss, learn_rate=1e-2)
    losses = [trainer.step(batches[0]) for _ in range(100)]
    assert losses[-1] < 0.2 * losses[0]


def test_onmt_options_describe_the_reference_model():
    sizes = dict(mt_hidden=512, mt_emb=256)
    options = benchmark_onmt.onmt_options(sizes, input_feeding=True)
    pairs = dict(zip(options[::2], options[1:1 + len(options):2]))
    assert pairs["-encoder_type"] == "brnn" and pairs["-global_attention"] == "mlp"
    assert pairs["-enc_hid_size"] == pairs["-dec_hid_size"] == "512"
    assert pairs["-input_feed"] == "1"
    assert benchmark_onmt.onmt_options(sizes, input_feeding=False)[options.index("-input_feed") + 1] == "0"


@pytest.mark.skipif(not HAS_ONMT, reason="OpenNMT-py is not installed (see spacy_rnn/benchmarks/onmt.py)")
def test_whole_comparison_with_onmt(capsys):
    results = benchmark_onmt.main(["--quick", "--repeats", "1", "--batches", "1"])
    assert [row["input_feeding"] for row in results["rows"]] == [True, False]
    for row in results["rows"]:
        assert row["OpenNMT-py"]["pieces_per_s"] > 0 and row["spacy-rnn"]["pieces_per_s"] > 0
        # same sizes: the translator adds only its bridge layers, encoder state (H) -> decoder
        # states (2 layers x H), for h and c
        bridge = 2 * (32 * 64 + 64)
        assert row["spacy-rnn"]["parameters"] - row["OpenNMT-py"]["parameters"] == bridge
    assert "| 2+2-layer lstm + bahdanau + input feeding |" in capsys.readouterr().out
