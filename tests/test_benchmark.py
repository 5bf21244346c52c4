"""Smoke test of ``python -m spacy_rnn.benchmarks.run --quick``, run in-process (a few seconds).

Only the shape of the results is checked: every architecture is there with positive
numbers. No timing assertions.
"""
import json
import os
import re
from pathlib import Path

import pytest
from spacy.util import load_config

from spacy_rnn.benchmarks import run as benchmark
from spacy_rnn.torch.precision import bf16_supported

TAGGER_ARCHS = {"spacy.MaxoutWindowEncoder.v2 (CNN)", "spacy.TorchBiLSTMEncoder.v1",
                "spacy-rnn.RNNEncoder.v1 lstm", "spacy-rnn.RNNEncoder.v1 gru",
                "spacy-rnn.RNNEncoder.v1 rnn"}
TRANSLATORS = {"rnn_translator lstm + bahdanau", "rnn_translator lstm + luong"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    printed = benchmark.main(["--quick", "--out", str(out)])
    return printed, json.loads(out.read_text(encoding="utf8"))


def test_json_has_machine_info(quick_run):
    _, results = quick_run
    machine = results["machine"]
    for key in ("platform", "cpu_count", "torch_threads", "python", "spacy", "thinc", "torch"):
        assert machine[key], key
    assert machine["torch_threads"] == 1
    assert results["settings"]["quick"] is True


def test_every_tagger_architecture_has_positive_numbers(quick_run):
    _, results = quick_run
    rows = {r["architecture"]: r for r in results["devices"]["cpu"]["tagger"]}
    assert set(rows) == TAGGER_ARCHS
    for row in rows.values():
        for key in ("train_wps", "infer_wps", "train_ratio", "infer_ratio", "enc_train_wps",
                    "enc_infer_wps", "enc_train_ratio", "encoder_share_train", "train_words",
                    "infer_words"):
            assert row[key] > 0, (row["architecture"], key)
    assert rows["spacy.TorchBiLSTMEncoder.v1"]["train_ratio"] == pytest.approx(1.0)
    assert results["devices"]["cpu"]["peak_rss_mib_after_taggers"] > 0


def test_every_translator_has_positive_numbers(quick_run):
    _, results = quick_run
    rows = {r["model"]: r for r in results["devices"]["cpu"]["translator"]}
    assert set(rows) == TRANSLATORS
    for row in rows.values():
        for key in ("train_tokens_per_s", "greedy_sents_per_s", "greedy_pieces_per_s",
                    "beam5_sents_per_s", "beam5_pieces_per_s", "peak_rss_mib",
                    "greedy_int8_sents_per_s", "beam5_int8_sents_per_s"):
            assert row[key] > 0, (row["model"], key)
        assert row["beam5_int8_speedup"] == pytest.approx(
            row["beam5_seconds"] / row["beam5_int8_seconds"])


def test_gpu_section_measured_or_explained(quick_run):
    _, results = quick_run
    gpu = results["devices"]["gpu"]
    if "skipped" in gpu:  # a reason that names what was missing or failed
        assert re.search(r"cuda\.is_available\(\) is False|GPU run failed: \w+", gpu["skipped"])
    else:
        assert {r["architecture"] for r in gpu["tagger"]} == TAGGER_ARCHS


def test_skip_translator_and_table(capsys):
    results = benchmark.main(["--quick", "--skip-translator", "--batches", "1"])
    assert "translator" not in results["devices"]["cpu"]
    printed = capsys.readouterr().out
    assert "| spacy-rnn.RNNEncoder.v1 lstm |" in printed
    assert "torch threads 1" in printed
    assert "The encode layer alone" in printed


def test_reads_a_spacy_file(tmp_path):
    from spacy.tokens import Doc, DocBin
    import spacy

    vocab = spacy.blank("en").vocab
    docs = [Doc(vocab, words=["a", "dog", "runs", "."], tags=["DT", "NN", "VBZ", "."])] * 5
    DocBin(docs=docs).to_disk(tmp_path / "tiny.spacy")
    results = benchmark.main(["--quick", "--skip-translator", "--data", str(tmp_path / "tiny.spacy")])
    assert all(r["train_wps"] > 0 for r in results["devices"]["cpu"]["tagger"])


def test_reference_preset_on_given_parallel_files(tmp_path, capsys):
    pairs = benchmark.generate_parallel(100, dict(benchmark.QUICK, vocab=50), seed=0)
    (tmp_path / "src.txt").write_text("".join(s + "\n" for s, _ in pairs), encoding="utf8")
    (tmp_path / "tgt.txt").write_text("".join(t + "\n" for _, t in pairs), encoding="utf8")
    results = benchmark.main(["--quick", "--skip-taggers", "--mt-preset", "reference", "--mt-data",
                              str(tmp_path / "src.txt"), str(tmp_path / "tgt.txt")])
    cpu = results["devices"]["cpu"]
    assert "tagger" not in cpu
    rows = {r["model"]: r for r in cpu["translator"]}
    assert set(rows) == set(benchmark.translator_variants("reference"))
    feeding = [r["config"]["input_feeding"] for r in rows.values()]
    assert sorted(feeding) == [False, True]
    for row in rows.values():
        assert row["config"]["encoder_depth"] == row["config"]["decoder_depth"] == 2
        assert row["parameters"] > 0 and row["train_tokens_per_s"] > 0
        assert row["target_pieces_per_batch"] > 0
    printed = capsys.readouterr().out
    assert "src.txt" in printed and "Tagger" not in printed


def test_vocabulary_preset_gives_each_model_its_own_vocabulary():
    variants = benchmark.translator_variants("vocabulary")
    assert [(v["vocab_size"], v["shared_vocab"]) for v in variants.values()] == [
        (8000, True), (4000, True), (4000, False)]
    sizes = benchmark.make_settings(benchmark.parse_args(["--mt-preset", "vocabulary"]))
    best = load_config(Path(__file__).parents[1] / "configs" / "translator_lstm_luong.cfg")
    best_model = best["components"]["rnn_translator"]["model"]
    assert (sizes["mt_emb"], sizes["mt_hidden"]) == (best_model["emb_size"], best_model["hidden"])
    assert sizes["mt_batch"] == 150 and sizes["mt_pairs"] == 29000
    separate = benchmark.translator_pipeline(variants["rnn_translator lstm + luong, separate 4k"], sizes)
    model = separate.get_pipe_config("rnn_translator")["model"]
    assert (model["vocab_size"], model["shared_vocab"], model["hidden"]) == (4000, False, 256)


def test_vocabulary_preset_times_the_same_pairs_for_every_model():
    results = benchmark.main(["--quick", "--skip-taggers", "--mt-preset", "vocabulary"])
    rows = results["devices"]["cpu"]["translator"]
    assert [r["model"] for r in rows] == list(benchmark.translator_variants("vocabulary"))
    pairs = benchmark.QUICK["mt_batch"] * benchmark.QUICK["mt_batches"]
    for row in rows:
        assert row["train_pairs_per_s"] == pytest.approx(pairs / row["train_seconds"])
    assert len({r["target_pieces_per_batch"] for r in rows}) > 1  # segmented differently


def test_bf16_flag_adds_a_bf16_trained_row_per_model():
    variants = benchmark.translator_variants("default", bf16=True)
    precisions = sorted(v.get("train_precision", "float32") for v in variants.values())
    assert precisions == ["bfloat16", "bfloat16", "float32", "float32"]
    results = benchmark.main(["--quick", "--skip-taggers", "--mt-bf16"])
    cpu = results["devices"]["cpu"]
    rows = cpu["translator"]
    if bf16_supported("cpu"):
        assert {r["model"] for r in rows} == set(variants) and "translator_note" not in cpu
    else:  # e.g. an AVX2-only CPU: the bf16 rows are left out, and the report says why
        assert {r["model"] for r in rows} == {name for name, v in variants.items()
                                              if "train_precision" not in v}
        assert "no bfloat16 kernels" in cpu["translator_note"]
    assert all(r["train_tokens_per_s"] > 0 for r in rows)


def test_bf16_flag_without_bf16_kernels_leaves_the_bf16_rows_out(monkeypatch, capsys):
    monkeypatch.setattr(benchmark, "bf16_supported", lambda device_type: False)
    results = benchmark.main(["--quick", "--skip-taggers", "--mt-bf16", "--repeats", "1"])
    rows = results["devices"]["cpu"]["translator"]
    assert rows and not any("bf16" in r["model"] for r in rows)
    assert "--mt-bf16: this cpu has no bfloat16 kernels" in capsys.readouterr().out


def test_too_few_given_pairs_is_a_clear_error(tmp_path):
    (tmp_path / "src.txt").write_text("a b\n" * 5, encoding="utf8")
    (tmp_path / "tgt.txt").write_text("c d\n" * 5, encoding="utf8")
    with pytest.raises(SystemExit, match=r"5 non-empty pairs, the translator benchmark needs at least"):
        benchmark.main(["--quick", "--skip-taggers", "--mt-data",
                        str(tmp_path / "src.txt"), str(tmp_path / "tgt.txt")])


def test_paths_command_compares_every_backend(monkeypatch):
    from spacy_rnn.benchmarks import paths

    monkeypatch.setenv("SPACY_RNN_BACKEND", "auto")
    printed = paths.main(["--quick", "--widths", "16", "--repeats", "1", "--batches", "2", "--cell", "gru"])
    assert os.environ["SPACY_RNN_BACKEND"] == "auto"  # the forced backend is undone
    header, row = printed.splitlines()[1], printed.splitlines()[-1]
    for backend in paths.backends("gru"):
        assert f"gru {backend} fwd+bwd" in header and f"gru {backend} fwd " in header
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[0] == "16" and len(cells) == 1 + 2 * len(paths.backends("gru"))
    assert all(c.endswith("x") and float(c[:-1]) > 0 for c in cells[1:]), row


def test_add_ratios_divides_each_figure_by_the_baselines_same_figure():
    from spacy_rnn.benchmarks.run import BASELINE, add_ratios
    keys = ("train", "infer", "enc_train", "enc_infer")
    base = {"architecture": BASELINE, **{f"{k}_wps": w for k, w in zip(keys, (100, 200, 50, 400))}}
    other = {"architecture": "x", **{f"{k}_wps": 100.0 for k in keys}}
    add_ratios([other, base])
    assert [other[f"{k}_ratio"] for k in keys] == pytest.approx([1.0, 0.5, 2.0, 0.25])
    assert [base[f"{k}_ratio"] for k in keys] == pytest.approx([1.0] * 4)
