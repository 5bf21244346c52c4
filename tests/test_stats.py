"""spacy_rnn.stats: the machine description every workflow's metrics record."""
from spacy_rnn import stats

CPUINFO = [("processor", "0"), ("model name", "Some CPU 9000"),
           ("flags", "fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni"),
           ("processor", "1"), ("model name", "Some CPU 9000"), ("flags", "fpu avx2")]


def test_vector_extensions_lists_the_known_flags_in_a_fixed_order(monkeypatch):
    monkeypatch.setattr(stats, "cpuinfo_fields", lambda: CPUINFO)
    assert stats.vector_extensions() == ["avx2", "fma", "avx512f", "avx512_vnni"]
    assert stats.cpu_model() == "Some CPU 9000"


def test_machine_description_names_cpu_flags_and_versions(monkeypatch):
    import spacy
    import torch

    monkeypatch.setattr(stats, "cpuinfo_fields", lambda: CPUINFO)
    text = stats.machine_description()
    assert text.startswith("Some CPU 9000, ")
    assert "avx2 fma avx512f avx512_vnni" in text and "avx512_bf16" not in text
    assert f"torch {torch.__version__}" in text and f"spaCy {spacy.__version__}" in text


def test_without_cpuinfo_the_extensions_are_unknown(monkeypatch):
    monkeypatch.setattr(stats, "cpuinfo_fields", lambda: [])
    assert stats.vector_extensions() == []
    assert "vector extensions unknown" in stats.machine_description()


def test_code_version_names_the_commit_and_local_changes(tmp_path):
    """In a git checkout: the short commit, "+modified" once a file of the package differs from
    it; outside one (an installed wheel): the version alone."""
    import subprocess

    from spacy_rnn import __version__
    from spacy_rnn.stats import code_version

    assert code_version(tmp_path) == f"spacy-rnn {__version__}"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "module.py").write_text("x = 1\n")
    subprocess.run([*git, "add", "module.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "m"], check=True)
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert code_version(tmp_path) == f"spacy-rnn {__version__}, git {commit}"
    (tmp_path / "module.py").write_text("x = 2\n")
    assert code_version(tmp_path) == f"spacy-rnn {__version__}, git {commit}+modified"
