"""The projects are self-contained (each carries its configs), so their copies of the shipped
configs in configs/ must not drift: a change to a shipped config reaches the workflows."""
import pytest

from project_corpora import ROOT

COPIES = sorted(path for path in (ROOT / "projects").glob("*/configs/*.cfg")
                if (ROOT / "configs" / path.name).is_file())


def test_the_projects_copy_shipped_configs():
    names = {path.name for path in COPIES}
    assert {"tagger_lstm.cfg", "ner_lstm_crf.cfg", "translator_lstm.cfg"} <= names


@pytest.mark.parametrize("copy", COPIES, ids=lambda path: f"{path.parts[-3]}/{path.name}")
def test_a_projects_copy_equals_the_shipped_config(copy):
    shipped = ROOT / "configs" / copy.name
    assert copy.read_text(encoding="utf8") == shipped.read_text(encoding="utf8"), (
        f"{copy} differs from {shipped}: copy the shipped config into the project again")
