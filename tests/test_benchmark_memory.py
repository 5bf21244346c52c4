"""python -m spacy_rnn.benchmarks.memory: its document and its per-budget decoding (in-process
here; the command runs each budget in its own process to measure peak memory)."""
from spacy_rnn.benchmarks.memory import decode, long_text, train_and_save


def test_long_text_has_the_asked_length():
    text = long_text(5000)
    assert 5000 <= len(text) < 5200 and text.endswith(" .")


def test_decoding_is_the_same_under_any_budget(tmp_path):
    train_and_save(tmp_path / "model", steps=5)
    small = decode(str(tmp_path / "model"), 64, 3000, beam=2)
    large = decode(str(tmp_path / "model"), 10**9, 3000, beam=2)
    assert small["sentences"] == large["sentences"] > 10
    assert small["translation_sha256"] == large["translation_sha256"]
    assert small["peak_rss_mib"] > 0
