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
    """In the package's own checkout: the short commit, "+modified" once a file of the package
    differs from it; an installed copy, even inside another repository: the version alone."""
    import subprocess

    from spacy_rnn import __version__
    from spacy_rnn.stats import code_version

    package = tmp_path / "spacy_rnn"
    package.mkdir()
    (package / "module.py").write_text("x = 1\n")
    assert code_version(package) == f"spacy-rnn {__version__}"  # not a repository
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "m"], check=True)
    assert code_version(package) == f"spacy-rnn {__version__}"  # no pyproject.toml: some other repository
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'spacy-rnn'\n")
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert code_version(package) == f"spacy-rnn {__version__}, git {commit}"
    (package / "module.py").write_text("x = 2\n")
    assert code_version(package) == f"spacy-rnn {__version__}, git {commit}+modified"
