"""Converters between thinc's ``List[Floats2d]`` and flat torch tensors.

A batch of docs is passed to torch as one flat ``(sum(lengths), width)`` tensor
plus a ``lengths`` vector, built with a single concatenation and no per-doc
copies; torch pads and unpads internally. On CPU ``xp2torch``/``torch2xp``
share memory with the numpy arrays.
"""
import itertools
from typing import Callable, List, Tuple

from thinc.api import ArgsKwargs, Model, torch2xp, xp2torch
from thinc.types import Floats2d


def split_rows(flat, lengths: List[int]) -> List[Floats2d]:
    """Views of each doc's rows of ``flat`` (what ``ops.unflatten(flat, lengths)`` returns, at
    a third of its per-call cost)."""
    ends = itertools.accumulate(lengths)
    return [flat[end - length:end] for end, length in zip(ends, lengths)]


def lengths_tensor(model: Model, lengths: List[int]):
    """An int64 tensor of sequence lengths on the model's torch device."""
    ints = model.ops.asarray1i(lengths).astype("int64")
    return xp2torch(ints, device=model.shims[0].device)


def _check_input_width(model: Model, Xs: List[Floats2d]) -> None:
    """Refuse inputs whose width is not the encoder's (e.g. an embedding layer of another
    width in front of it), before torch fails with a bare shape error."""
    width = model.get_dim("nI") if model.has_dim("nI") else None
    if Xs and width is not None and Xs[0].shape[1] != width:
        raise ValueError(f"{model.name}: its input has {Xs[0].shape[1]} columns but the encoder's width is "
                         f"{width}: give the encoder the width of the layer before it (in spaCy's Tok2Vec, "
                         f"the embed layer's width)")


def flat_inputs(model: Model, Xs: List[Floats2d], is_train: bool) -> Tuple[ArgsKwargs, Callable]:
    """convert_inputs for a PyTorchWrapper whose module takes (flat, lengths)."""
    lengths = [len(x) for x in Xs]
    _check_input_width(model, Xs)
    flat = model.ops.flatten(Xs, pad=0) if Xs else model.ops.alloc2f(0, model.get_dim("nI"))
    flat = model.ops.xp.ascontiguousarray(flat, dtype="float32")
    args = ArgsKwargs(args=(xp2torch(flat, requires_grad=is_train, device=model.shims[0].device),
                            lengths_tensor(model, lengths)), kwargs={})

    def backprop(d_args: ArgsKwargs) -> List[Floats2d]:
        return split_rows(torch2xp(d_args.args[0], ops=model.ops), lengths)

    return args, backprop


def flat_outputs(model: Model, inputs_outputs, is_train: bool) -> Tuple[List[Floats2d], Callable]:
    """convert_outputs matching :func:`flat_inputs`: split the flat output per doc."""
    Xs, Y_torch = inputs_outputs
    lengths = [len(x) for x in Xs]
    Ys = split_rows(torch2xp(Y_torch, ops=model.ops), lengths)

    def backprop(dYs: List[Floats2d]) -> ArgsKwargs:
        d_flat = model.ops.flatten(dYs, pad=0) if dYs else model.ops.alloc2f(0, Y_torch.shape[1])
        d_flat = model.ops.xp.ascontiguousarray(d_flat, dtype="float32")
        grad = xp2torch(d_flat, device=model.shims[0].device)
        return ArgsKwargs(args=(Y_torch,), kwargs={"grad_tensors": grad})

    return Ys, backprop
