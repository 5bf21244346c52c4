"""Tiny trained pipelines shared by the reliability tests (packaging, reproducibility,
multiprocessing, devices, scale-out, resuming).

The same toy data as ``tests/pipeline/test_tagger.py`` and ``test_translator.py``,
with even smaller models: the tests here check that outputs and weights survive
saving, packaging, other processes and devices, not that the models are good, so a
few updates suffice. Importable as ``tiny_pipelines`` because ``tests/`` holds a
rootdir ``conftest.py`` (pytest puts its folder on ``sys.path``).
"""
from pathlib import Path
from typing import Dict, List

import numpy

import spacy
from spacy.language import Language
from spacy.training import Example
from thinc.api import fix_random_seed

ROOT_CONFIGS = Path(__file__).parent.parent / "configs"
TAGGED = [
    ("I like green eggs", ["N", "V", "J", "N"]),
    ("Eat blue ham", ["V", "J", "N"]),
    ("We eat ham now", ["N", "V", "N", "R"]),
]
TAGGER_SMALL = {"tok2vec": {"width": 16, "rows": [200, 50, 50, 50],
                            "char_embed": {"width": 8, "char_dim": 8, "rows": 100}},
                "encoder": {"width": 16, "depth": 1}}
PAIRS = [
    ("the cat sleeps", "die katze schläft"),
    ("a dog runs", "ein hund läuft"),
    ("the dog sleeps", "der hund schläft"),
    ("a cat runs fast", "eine katze läuft schnell"),
    ("two men talk", "zwei männer reden"),
    ("the man eats an apple", "der mann isst einen apfel"),
    ("a woman reads a book", "eine frau liest ein buch"),
    ("the children play outside", "die kinder spielen draußen"),
    ("the boy drinks water", "der junge trinkt wasser"),
    ("a girl sings a song", "ein mädchen singt ein lied"),
]
SOURCES = [source for source, _ in PAIRS]
TRANSLATOR_SMALL = {"cell": "gru", "attention": "bahdanau", "emb_size": 16, "hidden": 32,
                    "vocab_size": 60}
# texts to compare outputs on: seen, unseen, empty, unseen script
TEXTS = [text for text, _ in TAGGED] + SOURCES[:4] + [
    "", "the green cat eats ham now", "Кошка спит", "बिल्ली सोती है"]


def tagger_nlp(crf: bool = True, seed: int = 0) -> Language:
    fix_random_seed(seed)
    nlp = spacy.blank("en")
    nlp.add_pipe("rnn_tagger", config={"model": {**TAGGER_SMALL, "crf": crf}})
    return nlp


def tagger_examples(nlp: Language) -> List[Example]:
    return [Example.from_dict(nlp.make_doc(text), {"tags": tags}) for text, tags in TAGGED]


def translator_nlp(seed: int = 0, **model) -> Language:
    fix_random_seed(seed)
    nlp = spacy.blank("en")
    nlp.add_pipe("rnn_translator",
                 config={"model": {**TRANSLATOR_SMALL, **model}, "beam_size": 1})
    return nlp


def translator_examples(nlp: Language, pairs=PAIRS) -> List[Example]:
    egs = []
    for source, target in pairs:
        reference = nlp.make_doc(source)
        reference._.translation = target
        egs.append(Example(nlp.make_doc(source), reference))
    return egs


def train(nlp: Language, egs: List[Example], n_iter: int, seed: int = 0) -> Dict[str, float]:
    """``nlp.initialize`` + ``n_iter`` full-batch updates (dropout 0.1), seeded."""
    fix_random_seed(seed)
    optimizer = nlp.initialize(lambda: egs)
    optimizer.learn_rate = 0.01
    losses: Dict[str, float] = {}
    for _ in range(n_iter):
        losses = {}
        nlp.update(egs, sgd=optimizer, drop=0.1, losses=losses)
    return losses


def trained_tagger(crf: bool = True, n_iter: int = 20, seed: int = 0) -> Language:
    nlp = tagger_nlp(crf, seed)
    train(nlp, tagger_examples(nlp), n_iter, seed)
    return nlp


def trained_translator(n_iter: int = 30, seed: int = 0, **model) -> Language:
    nlp = translator_nlp(seed, **model)
    train(nlp, translator_examples(nlp), n_iter, seed)
    return nlp


def tags(nlp: Language, texts=TEXTS, **pipe_kwargs) -> List[List[str]]:
    return [[token.tag_ for token in doc] for doc in nlp.pipe(texts, **pipe_kwargs)]


def translations(nlp: Language, texts=TEXTS, **pipe_kwargs) -> List[str]:
    return [doc._.translation for doc in nlp.pipe(texts, **pipe_kwargs)]


def component_weights(nlp: Language, name: str) -> Dict[str, numpy.ndarray]:
    """Every thinc param and every torch tensor of a component's model, by position."""
    weights = {}
    for i, node in enumerate(nlp.get_pipe(name).model.walk()):
        for param in node.param_names:
            if node.has_param(param):
                weights[f"{i}:{node.name}:{param}"] = numpy.array(node.get_param(param))
        for j, shim in enumerate(node.shims):
            for key, tensor in shim._model.state_dict().items():
                weights[f"{i}:{node.name}:shim{j}:{key}"] = tensor.detach().cpu().numpy().copy()
    return weights
