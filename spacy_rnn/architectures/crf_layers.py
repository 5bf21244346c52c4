"""thinc layers for the labeler's output: CRF parameters, losses and decoding.

CRF parameters are thinc params (so thinc's optimizer and serialization handle
them); the forward algorithm and Viterbi run in plain torch (``spacy_rnn.torch.crf``).
"""
from typing import Callable, List, NamedTuple, Optional, Tuple

import numpy
import torch
from thinc.api import Model, torch2xp, xp2torch
from thinc.types import Floats2d, Ints1d

from ..torch.crf import marginals, negative_log_likelihood, viterbi_decode
from ..torch.padding import length_mask, pad_flat

CRF_PARAMS = ("transitions", "start", "end")


def build_crf_params(nO: Optional[int]) -> Model:
    """A layer that only holds the CRF scores: transitions (nO, nO), start (nO,), end (nO,)."""
    return Model("crf-params", _identity, init=_init_crf_params, dims={"nO": nO},
                 params={name: None for name in CRF_PARAMS})


def _identity(model: Model, X, is_train: bool):
    return X, lambda dY: dY


def _init_crf_params(model: Model, X=None, Y=None) -> None:
    n = model.get_dim("nO")
    model.set_param("transitions", model.ops.alloc2f(n, n))
    model.set_param("start", model.ops.alloc1f(n))
    model.set_param("end", model.ops.alloc1f(n))


def _loss_inputs(inputs) -> Tuple:
    """``(scores, truths)`` or ``(scores, truths, constraints)`` -> all three."""
    return (*inputs, None) if len(inputs) == 2 else tuple(inputs)


def build_softmax_loss() -> Model:
    """Token-level cross-entropy, averaged over tokens with known labels. Constraints, if
    given, are left to decoding: each token's softmax does not see its neighbours."""
    return Model("softmax-loss", _softmax_loss_forward)


def _softmax_loss_forward(model: Model, inputs, is_train: bool):
    scores, truths, _ = _loss_inputs(inputs)
    ops = model.ops
    xp = ops.xp  # numpy on CPU, cupy on GPU: index arrays must live with the scores
    flat = ops.flatten(scores, pad=0) if scores else ops.alloc2f(0, 0)
    gold = xp.asarray(_concat_labels(truths))
    known = gold >= 0
    n_known = max(int(known.sum()), 1)
    probs = ops.softmax(flat, axis=-1) if len(flat) else flat
    rows = xp.nonzero(known)[0]
    loss = -float(xp.log(probs[rows, gold[rows]] + 1e-12).sum()) / n_known
    d_flat = probs.copy()
    d_flat[rows, gold[rows]] -= 1.0
    d_flat[~known] = 0.0
    d_flat /= n_known

    def backprop(d_loss: float = 1.0) -> List[Floats2d]:
        return ops.unflatten(d_flat * d_loss, [len(s) for s in scores])

    return loss, backprop


def _concat_labels(truths) -> numpy.ndarray:
    """All docs' gold label indices in one int64 array (on the host)."""
    parts = [numpy.asarray(t.get() if hasattr(t, "get") else t, dtype="int64") for t in truths]
    return numpy.concatenate(parts) if parts else numpy.zeros((0,), dtype="int64")


def build_crf_loss(params: Model) -> Model:
    """CRF negative log-likelihood, summed over docs and divided by the number of tokens.

    ``(scores, truths[, constraints])``: with constraints (as the decoder's), the
    distribution is normalised over the allowed tag sequences only, the ones that
    decoding searches; the disallowed transitions get no gradient.
    """
    return Model("crf-loss", _crf_loss_forward, layers=[params])


def _crf_loss_forward(model: Model, inputs, is_train: bool):
    scores, truths, constraints = _loss_inputs(inputs)
    params = model.layers[0]
    padded = _padded(model, scores, requires_grad=True)
    if padded is None:
        return 0.0, lambda d_loss=1.0: [model.ops.alloc2f(*s.shape) for s in scores]
    gold = torch.from_numpy(_concat_labels([truths[i] for i in padded.keep])).to(padded.flat.device)
    # per annotated token, as the softmax loss: unannotated tokens (-1) are marginalized and add
    # nothing to the loss, so they must not dilute it either
    n_tokens = max(int((gold >= 0).sum()), 1)
    tags = pad_flat(gold, padded.lengths).masked_fill(~padded.mask, -1)
    torch_params = [xp2torch(params.get_param(n), requires_grad=True) for n in CRF_PARAMS]
    constrained = _constrained(torch_params, constraints)
    nll = negative_log_likelihood(padded.emissions, tags, padded.mask, *constrained).sum() / n_tokens
    if not bool(torch.isfinite(nll)):
        raise ValueError("The CRF loss is infinite: a gold label sequence breaks the tag "
                         "scheme's constraints (e.g. an inside tag with no beginning). Check "
                         "the gold annotation, or train without constrained_training.")

    def backprop(d_loss: float = 1.0) -> List[Floats2d]:
        nll.backward()
        for name, tensor in zip(CRF_PARAMS, torch_params):
            params.inc_grad(name, torch2xp(tensor.grad) * d_loss)
        d_rows = model.ops.unflatten(torch2xp(padded.flat.grad) * d_loss, padded.lengths.tolist())
        return _per_doc(scores, padded.keep, d_rows, lambda s: model.ops.alloc2f(*s.shape))

    return float(nll.detach()), backprop


class _Padded(NamedTuple):
    """The non-empty docs' scores as the CRF functions take them."""
    keep: List[int]  # the non-empty docs' indices
    flat: torch.Tensor  # their rows, concatenated: (N, K)
    lengths: torch.Tensor  # (B,)
    emissions: torch.Tensor  # (B, T, K), zero-padded
    mask: torch.Tensor  # (B, T), True on real tokens


def _padded(model: Model, scores: List[Floats2d], requires_grad: bool = False) -> Optional[_Padded]:
    """The docs' scores padded into one batch; None if every doc is empty."""
    keep = [i for i, s in enumerate(scores) if len(s)]
    if not keep:
        return None
    rows = model.ops.xp.ascontiguousarray(model.ops.flatten([scores[i] for i in keep], pad=0),
                                          dtype="float32")
    flat = xp2torch(rows, requires_grad=requires_grad)
    lengths = torch.tensor([len(scores[i]) for i in keep], dtype=torch.long, device=flat.device)
    emissions = pad_flat(flat, lengths)
    return _Padded(keep, flat, lengths, emissions, length_mask(lengths, emissions.shape[1]))


def _per_doc(scores: List[Floats2d], keep: List[int], rows: List, empty: Callable) -> List:
    """One result per doc: ``rows`` for the docs in ``keep`` (in order), ``empty(scores[i])``
    for the others."""
    out = [empty(s) for s in scores]
    for i, row in zip(keep, rows):
        out[i] = row
    return out


def build_decoder(params: Optional[Model]) -> Model:
    """Best label per token: argmax, or Viterbi when there is a CRF or constraints."""
    return Model("label-decoder", _decode_forward, layers=[params] if params is not None else [])


def _decode_forward(model: Model, scores_constraints, is_train: bool):
    scores, constraints = scores_constraints
    if not model.layers and constraints is None:
        return [model.ops.xp.argmax(s, axis=-1) if len(s) else model.ops.alloc1i(0)
                for s in scores], _no_backprop
    return _viterbi(model, scores, constraints), _no_backprop


def build_label_probs(params: Optional[Model]) -> Model:
    """Each token's probability of each label, ``(scores, constraints) -> List[Floats2d]``
    (rows sum to 1): the softmax of the scores, or, with a CRF or constraints, the
    marginals of the distribution Viterbi decodes (forward-backward)."""
    return Model("label-probs", _probs_forward, layers=[params] if params is not None else [])


def _probs_forward(model: Model, scores_constraints, is_train: bool):
    scores, constraints = scores_constraints
    if not model.layers and constraints is None:
        return [model.ops.softmax(s, axis=-1) if len(s) else model.ops.alloc2f(*s.shape)
                for s in scores], _no_backprop
    return _marginals(model, scores, constraints), _no_backprop


def _no_backprop(dY):
    raise ValueError("The label decoder and label probabilities have no gradient; use the 'loss' "
                     "layer for training.")


def _lattice(model: Model, scores: List[Floats2d], constraints):
    """The non-empty docs' indices and (emissions (B, T, K), mask (B, T), transitions,
    start, end) for the CRF functions; ([], None) if every doc is empty."""
    padded = _padded(model, scores)
    if padded is None:
        return [], None
    emissions = padded.emissions
    transitions, start, end = _decoder_params(model, emissions.shape[2], constraints, emissions.device)
    if not model.layers:
        emissions = torch.log_softmax(emissions, dim=-1)
    return padded.keep, (emissions, padded.mask, transitions, start, end)


def _viterbi(model: Model, scores: List[Floats2d], constraints) -> List[Ints1d]:
    keep, lattice = _lattice(model, scores, constraints)
    if lattice is None:
        return [model.ops.alloc1i(0) for _ in scores]
    with torch.no_grad():
        best = viterbi_decode(*lattice).cpu().numpy()
    rows = [best[row, : len(scores[i])].astype("int32") for row, i in enumerate(keep)]
    return _per_doc(scores, keep, rows, lambda s: model.ops.alloc1i(0))


def _marginals(model: Model, scores: List[Floats2d], constraints) -> List[Floats2d]:
    keep, lattice = _lattice(model, scores, constraints)
    if lattice is None:
        return [model.ops.alloc2f(*s.shape) for s in scores]
    with torch.no_grad():
        padded = torch2xp(marginals(*lattice), ops=model.ops)
    rows = [model.ops.xp.ascontiguousarray(padded[row, : len(scores[i])], dtype="float32")
            for row, i in enumerate(keep)]
    return _per_doc(scores, keep, rows, lambda s: model.ops.alloc2f(*s.shape))


def _decoder_params(model: Model, n_labels: int, constraints, device) -> Tuple:
    if model.layers:
        values = [xp2torch(model.layers[0].get_param(n)).to(device) for n in CRF_PARAMS]
    else:
        values = [torch.zeros(n_labels, n_labels, device=device),
                  torch.zeros(n_labels, device=device), torch.zeros(n_labels, device=device)]
    return _constrained(values, constraints)


def _constrained(values: List, constraints) -> List:
    """The CRF (transitions, start, end) tensors with -inf where ``constraints`` (None, or
    the boolean (allowed, allowed first, allowed last) arrays) disallow: new tensors,
    differentiable in the allowed entries; without constraints, ``values`` themselves."""
    if constraints is None:
        return list(values)
    return [value.masked_fill(~torch.as_tensor(numpy.asarray(allowed, dtype=bool),
                                               device=value.device), float("-inf"))
            for value, allowed in zip(values, constraints)]
