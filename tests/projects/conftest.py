"""Fixtures for the project workflow tests: tiny generated corpora in a data_dir with the
layout of the shared data folder (see project_corpora.py), which is what the projects' data_dir
variable names offline."""
import gzip
import random

import pytest

from project_corpora import conllu_sentence, iob2_sentence, write_corpus


@pytest.fixture
def tiny_tagging_data(tmp_path):
    """data/ud_en_ewt/{train,dev,test}.conllu, data/uner_en_ewt/en_ewt-ud-{dev,test}.iob2 and
    train.draft.iob2 (the shared folder's name of the UNER train file)."""
    data = tmp_path / "data"
    for split, n, seed in [("train", 24, 0), ("dev", 8, 1), ("test", 16, 2)]:
        write_corpus(data / "ud_en_ewt" / f"{split}.conllu", conllu_sentence, n, seed)
    write_corpus(data / "uner_en_ewt" / "train.draft.iob2", iob2_sentence, 24, 3)
    write_corpus(data / "uner_en_ewt" / "en_ewt-ud-dev.iob2", iob2_sentence, 8, 4)
    write_corpus(data / "uner_en_ewt" / "en_ewt-ud-test.iob2", iob2_sentence, 16, 5)
    return data


@pytest.fixture
def tiny_translation_data(tmp_path):
    """data/multi30k/{train,val,test_2016_flickr}.{en,de}.gz."""
    data = tmp_path / "data"
    lexicon = {"a": "ein", "dog": "Hund", "man": "Mann", "runs": "läuft", "sees": "sieht",
               "big": "großer", "small": "kleiner", "cat": "Katze", "the": "der"}
    for split, n, seed in [("train", 60, 0), ("val", 8, 1), ("test_2016_flickr", 20, 2)]:
        rng = random.Random(seed)
        pairs = []
        for i in range(n):
            words = [rng.choice(sorted(lexicon)) for _ in range([4, 8, 13, 18, 24][i % 5])]
            pairs.append((" ".join(words) + ".", " ".join(lexicon[w] for w in words) + "."))
        for lang, column in (("en", 0), ("de", 1)):
            path = data / "multi30k" / f"{split}.{lang}.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            with gzip.open(path, "wt", encoding="utf8") as file_:
                file_.write("".join(pair[column] + "\n" for pair in pairs))
    return data
