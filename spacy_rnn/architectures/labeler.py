"""``spacy-rnn.SequenceLabeler.v1``: embeddings -> recurrent encoder -> softmax or CRF.

The returned model maps docs to per-token label scores (``List[Floats2d]``).
The encoder is optional: without one (``encoder = null``) the output layer reads
the ``tok2vec`` features directly, so a head over a shared, already contextual
``tok2vec`` (a ``spacy.Tok2VecListener.v1``) is only a softmax or CRF layer, and
several heads can share one encoder (``configs/tagger_joint_lstm.cfg``).

Two further layers live in the same model tree and are reached by reference,
so the component needs no import of this module:

- ``model.get_ref("loss")``: ``(scores, truths) -> loss`` with a backprop that
  returns the gradient of the scores; truths hold -1 where a token's annotation
  is missing, and those tokens are left out of (softmax) or marginalized in (CRF)
  the loss.
- ``model.get_ref("decoder")``: ``(scores, constraints) -> List[Ints1d]``, the
  best label per token; ``constraints`` is None or ``(allowed, allowed_start,
  allowed_end)`` boolean arrays, and a constrained decoding never outputs a
  forbidden transition (e.g. ``O -> I-X``).

``spacy-rnn.SequenceLabeler.v2`` is the same model with one more reference:

- ``model.get_ref("probs")``: ``(scores, constraints) -> List[Floats2d]``, each
  token's probability of each label (rows sum to 1): the softmax of the scores, or,
  with a CRF or constraints, the marginals (forward-backward) of the distribution
  the decoder maximizes.
"""
from typing import List, Optional

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Linear, Model, chain, with_array
from thinc.types import Floats2d

from .crf_layers import (build_crf_loss, build_crf_params, build_decoder, build_label_probs,
                         build_softmax_loss)


@registry.architectures("spacy-rnn.SequenceLabeler.v1")
def build_sequence_labeler(
    tok2vec: Model[List[Doc], List[Floats2d]],
    encoder: Optional[Model[List[Floats2d], List[Floats2d]]] = None,
    crf: bool = False,
    nO: Optional[int] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """Per-token label scores from ``tok2vec`` features run through ``encoder``.

    ``tok2vec`` may be the labeler's own embeddings (``spacy-rnn.WordCharEmbed.v1``)
    or a ``spacy.Tok2VecListener.v1``; its width must equal the encoder's width.
    Without ``encoder`` (None) the output layer reads the ``tok2vec`` features, its
    input width being the ``tok2vec``'s ``nO``; the ``encoder`` reference is then None.
    With ``crf = true`` a linear-chain CRF is trained and decoded with Viterbi.
    """
    return _build(tok2vec, encoder, crf, nO, with_probs=False)


@registry.architectures("spacy-rnn.SequenceLabeler.v2")
def build_sequence_labeler_v2(
    tok2vec: Model[List[Doc], List[Floats2d]],
    encoder: Optional[Model[List[Floats2d], List[Floats2d]]] = None,
    crf: bool = False,
    nO: Optional[int] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """``spacy-rnn.SequenceLabeler.v1`` plus the ``probs`` reference: per-token label
    probabilities, which components store on request (``store_scores``)."""
    return _build(tok2vec, encoder, crf, nO, with_probs=True)


def _build(tok2vec: Model, encoder: Optional[Model], crf: bool, nO: Optional[int],
           with_probs: bool) -> Model:
    if encoder is not None:
        _check_widths(tok2vec, encoder)
    output = Linear(nO=nO, nI=_feature_width(tok2vec, encoder))
    # with an encoder the tree must stay chain(tok2vec, encoder, output): saved pipelines'
    # weights are matched to layers by their place in it
    features = [tok2vec] if encoder is None else [tok2vec, encoder]
    scorer = chain(*features, with_array(output))
    params = build_crf_params(nO) if crf else None
    loss = build_crf_loss(params) if crf else build_softmax_loss()
    decoder = build_decoder(params)
    layers = [scorer, loss, decoder]
    refs = {"tok2vec": tok2vec, "encoder": encoder, "output": output,
            "loss": loss, "decoder": decoder, "crf": params}
    if with_probs:
        refs["probs"] = build_label_probs(params)
        layers.append(refs["probs"])
    return Model("rnn-sequence-labeler", _forward, init=_init, layers=layers, refs=refs,
                 dims={"nO": nO}, attrs={"crf": crf})


def _feature_width(tok2vec: Model, encoder: Optional[Model]) -> Optional[int]:
    """Width of the features the output layer reads: the encoder's output, or without an
    encoder the tok2vec's (None if not known yet: then inferred at initialize)."""
    if encoder is not None:
        return encoder.get_dim("nO")
    return tok2vec.get_dim("nO") if tok2vec.has_dim("nO") else None


def _check_widths(tok2vec: Model, encoder: Model) -> None:
    if tok2vec.has_dim("nO") and encoder.has_dim("nI"):
        t_width, e_width = tok2vec.get_dim("nO"), encoder.get_dim("nI")
        if t_width and e_width and t_width != e_width:
            raise ValueError(f"SequenceLabeler: the tok2vec width ({t_width}) differs from the "
                             f"encoder width ({e_width}); set both to the same value.")


def _init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> None:
    if model.has_dim("nO"):
        n_labels = model.get_dim("nO")
        model.get_ref("output").set_dim("nO", n_labels)
        if model.attrs["crf"]:
            model.get_ref("crf").set_dim("nO", n_labels)
    model.layers[0].initialize(X=X)
    if model.attrs["crf"]:
        model.get_ref("crf").initialize()


def _forward(model: Model, docs: List[Doc], is_train: bool):
    return model.layers[0](docs, is_train)
