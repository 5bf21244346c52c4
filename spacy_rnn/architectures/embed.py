"""Token embeddings for the sequence labeler: hashed word features + character CNN."""
import functools
from typing import List, Optional

import numpy
from spacy.attrs import IDS
from spacy.ml.models import MultiHashEmbed
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import ArgsKwargs, Maxout, Model, chain
from thinc.api import torch2xp, with_array, xp2torch
from thinc.types import Floats2d, Ints2d

from ..torch.charcnn import CharCNN
from .shim import WeightsOnlyPyTorchWrapper


def char_ids(model: Model, docs: List[Doc], max_chars: int, n_rows: int) -> Ints2d:
    """(n_tokens, C) character ids: codepoints hashed into ``n_rows - 1`` buckets, 0 = pad.

    Words longer than ``max_chars`` keep their first and last ``max_chars // 2``
    characters; any character, seen or not, maps to some bucket.
    """
    words = [token.text for doc in docs for token in doc]
    width = max([min(len(w), max_chars) for w in words], default=1)
    ids = numpy.zeros((len(words), max(width, 1)), dtype="int64")  # filled on the host, moved once
    half = max_chars // 2
    for i, word in enumerate(words):
        chars = word if len(word) <= max_chars else word[:half] + word[-(max_chars - half):]
        ids[i, : len(chars)] = [ord(c) % (n_rows - 1) + 1 for c in chars]
    return model.ops.asarray(ids)


def _char_inputs(max_chars: int, n_rows: int):
    # a partial of a module-level function, not a closure, so that the model pickles:
    # pickle.dumps(nlp), and nlp.pipe(n_process=...) with the "spawn" start method (the
    # default on macOS and Windows) which pickles the pipeline for its workers
    return functools.partial(_convert_char_inputs, max_chars=max_chars, n_rows=n_rows)


def _convert_char_inputs(model: Model, docs: List[Doc], is_train: bool, *, max_chars: int,
                         n_rows: int):
    ids = char_ids(model, docs, max_chars, n_rows)
    tensor = xp2torch(ids, device=model.shims[0].device)
    return ArgsKwargs(args=(tensor,), kwargs={}), _no_input_gradient


def _no_input_gradient(d_args: ArgsKwargs) -> List[Doc]:
    return []


def _char_outputs(model: Model, docs_and_output, is_train: bool):
    docs, Y_torch = docs_and_output
    Ys = model.ops.unflatten(torch2xp(Y_torch, ops=model.ops), [len(doc) for doc in docs])

    def backprop(dYs: List[Floats2d]) -> ArgsKwargs:
        d_flat = model.ops.xp.ascontiguousarray(model.ops.flatten(dYs, pad=0), dtype="float32")
        return ArgsKwargs(args=(Y_torch,), kwargs={"grad_tensors": xp2torch(d_flat)})

    return Ys, backprop


def concat_features(first: Model, second: Model) -> Model[List[Doc], List[Floats2d]]:
    """Per-doc column concatenation of two Doc -> List[Floats2d] feature models."""
    return Model("concat-features", _concat_forward, init=_concat_init,
                 layers=[first, second], dims={"nO": None})


def _concat_init(model: Model, X=None, Y=None) -> None:
    for layer in model.layers:
        layer.initialize(X=X)
    model.set_dim("nO", sum(layer.get_dim("nO") for layer in model.layers))


def _concat_forward(model: Model, docs: List[Doc], is_train: bool):
    first, second = model.layers
    Y1, backprop1 = first(docs, is_train)
    Y2, backprop2 = second(docs, is_train)
    split = Y1[0].shape[1] if Y1 else 0
    Ys = [model.ops.xp.hstack([a, b]) for a, b in zip(Y1, Y2)]

    def backprop(dYs: List[Floats2d]) -> List[Doc]:
        backprop1([d[:, :split] for d in dYs])
        backprop2([d[:, split:] for d in dYs])
        return []

    return Ys, backprop


@registry.architectures("spacy-rnn.CharEmbed.v1")
def build_char_embed(width: int = 64, char_dim: int = 32, rows: int = 1000,
                     max_chars: int = 16, window: int = 3) -> Model[List[Doc], List[Floats2d]]:
    """Character CNN features per token, width ``width``."""
    _check_char_settings(width=width, char_dim=char_dim, rows=rows, max_chars=max_chars, window=window)
    module = CharCNN(rows, char_dim, width, window)
    model = WeightsOnlyPyTorchWrapper(module, convert_inputs=_char_inputs(max_chars, rows),
                                      convert_outputs=_char_outputs)
    model.name = "char-cnn"
    model.set_dim("nO", width)
    return model


def _check_char_settings(**settings: int) -> None:
    """Refuse CharEmbed settings the character CNN cannot run with, naming the setting."""
    least = {"rows": 2}  # id 0 is padding, so at least one bucket besides it
    for name, value in settings.items():
        if value < least.get(name, 1):
            raise ValueError(f"spacy-rnn.CharEmbed.v1: {name} must be >= {least.get(name, 1)}, got {value}")
    if settings["window"] % 2 == 0:
        raise ValueError(f"spacy-rnn.CharEmbed.v1: window must be odd (the convolution is centred on each "
                         f"character), got {settings['window']}")


@registry.architectures("spacy-rnn.WordCharEmbed.v1")
def build_word_char_embed(
    width: int,
    rows: List[int] = [5000, 1000, 2500, 2500],
    attrs: List[str] = ["NORM", "PREFIX", "SUFFIX", "SHAPE"],
    char_embed: Optional[Model[List[Doc], List[Floats2d]]] = None,
    include_static_vectors: bool = False,
    word_dropout: float = 0.0,
) -> Model[List[Doc], List[Floats2d]]:
    """Hashed word features (spaCy's MultiHashEmbed) and character features, mixed to ``width``.

    ``word_dropout``: in training, the share of tokens whose word features (all hashed attrs and
    static vectors) are replaced by zeros, so that the model learns to tag from the characters
    alone, as it must for words it has not seen.
    """
    _check_word_settings(width, rows, attrs, word_dropout)
    words = MultiHashEmbed(width=width, attrs=attrs, rows=rows,
                           include_static_vectors=include_static_vectors)
    chars = char_embed if char_embed is not None else build_char_embed()
    n_in = width + chars.get_dim("nO")
    words.set_dim("nO", width)
    if word_dropout > 0:
        words = chain(words, token_dropout(word_dropout))
        words.set_dim("nO", width)
    model = chain(concat_features(words, chars), with_array(Maxout(width, n_in, nP=3, normalize=True)))
    model.set_dim("nO", width)
    model.set_ref("chars", chars)
    if include_static_vectors:
        model.init = functools.partial(_init_with_vectors, inner=model.init)
    return model


def token_dropout(rate: float) -> Model[List[Floats2d], List[Floats2d]]:
    """In training, zero the whole feature row of each token with probability ``rate``, and its
    gradient with it; not rescaled, since the zeros are not noise to average out but a token
    whose word the model must tag from its characters. At inference every row passes. The rate
    is an attribute of its own, so spaCy's ``training.dropout`` does not overwrite it."""
    return Model("token-dropout", _token_dropout_forward, attrs={"token_dropout": rate})


def _token_dropout_forward(model: Model, Xs: List[Floats2d], is_train: bool):
    rate = model.attrs["token_dropout"]
    if not is_train or rate <= 0 or not Xs:
        return Xs, lambda dYs: dYs
    xp = model.ops.xp
    masks = [(xp.random.uniform(0, 1, (len(X), 1)) >= rate).astype(X.dtype) for X in Xs]

    def backprop(dYs: List[Floats2d]) -> List[Floats2d]:
        return [dY * mask for dY, mask in zip(dYs, masks)]

    return [X * mask for X, mask in zip(Xs, masks)], backprop


def _init_with_vectors(model: Model, X: Optional[List[Doc]] = None, Y=None, *, inner) -> None:
    """Refuse to initialize static-vector features without vectors (spaCy's StaticVectors
    would fail later with an IndexError naming nothing)."""
    if X and X[0].vocab.vectors.shape[0] == 0:
        raise ValueError(f"{_WORD_CHAR}: include_static_vectors = true, but the vocab has no vectors. "
                         "Set [initialize] vectors (e.g. --paths.vectors en_core_web_md, or the directory "
                         "of a pipeline with vectors), or set include_static_vectors = false.")
    inner(model, X, Y)


_WORD_CHAR = "spacy-rnn.WordCharEmbed.v1"


def _check_word_settings(width: int, rows: List[int], attrs: List[str], word_dropout: float) -> None:
    """Refuse WordCharEmbed settings that thinc would fail on with messages naming none of
    them ("negative dimensions are not allowed", "Out of bounds on buffer access")."""
    if width < 1:
        raise ValueError(f"{_WORD_CHAR}: width must be >= 1, got {width}")
    if not 0 <= word_dropout < 1:
        raise ValueError(f"{_WORD_CHAR}: word_dropout must be in [0, 1), got {word_dropout}")
    if not attrs or len(rows) != len(attrs):
        raise ValueError(f"{_WORD_CHAR}: rows and attrs need one entry per hashed feature, at least "
                         f"one; got {len(rows)} rows {list(rows)} for {len(attrs)} attrs {list(attrs)}")
    for i, (attr, n_rows) in enumerate(zip(attrs, rows)):
        if str(attr).upper() not in IDS or not attr:
            raise ValueError(f"{_WORD_CHAR}: attrs[{i}] = {attr!r} is not a spaCy token attribute; "
                             f"use e.g. NORM, LOWER, PREFIX, SUFFIX, SHAPE")
        if n_rows < 1:
            raise ValueError(f"{_WORD_CHAR}: rows[{i}] (the table for {attr}) must be >= 1, got {n_rows}")
