"""Length-correct stacked (bi)directional recurrent encoder.

Each direction of each layer is a single-layer unidirectional ``nn.RNN``/``nn.LSTM``/
``nn.GRU``. The forward direction reads real tokens before any padding; the backward
direction reads each sequence reversed *within its own length*, so it too starts at the
last real token. The output for a sequence therefore does not depend on what else is in the
batch, unlike a bidirectional cuDNN call over a padded batch.

:mod:`.backend` picks, per forward pass, how the layers are computed: the "native" and
"loop" backends run them through the layer driver of :mod:`.recurrence` over flat rows; the
"torch" backend runs the modules themselves (cuDNN on GPU, oneDNN on CPU) over padded
batches of sequences of similar length (:meth:`RNNEncoder._encode_grouped`). All give the
same results (tests/torch/test_recurrence.py).
"""

from dataclasses import dataclass
from typing import Tuple

import torch
from torch import nn

from . import backend
from .padding import inverse_permutation
from .recurrence import compact_weights, module_weights, run_stack

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def make_cell(cell: str, n_in: int, n_hidden: int) -> nn.Module:
    """One single-layer, unidirectional, batch-first recurrent module."""
    if cell not in CELLS:
        raise ValueError(f"Unknown cell {cell!r}: use one of {sorted(CELLS)}")
    module = CELLS[cell](n_in, n_hidden, num_layers=1, batch_first=True)
    if cell == "lstm":
        init_forget_bias(module, 1.0)
    return module


def init_forget_bias(lstm: nn.LSTM, value: float) -> None:
    """Set the LSTM forget-gate bias (sum of both bias vectors) to ``value``."""
    hidden = lstm.hidden_size
    with torch.no_grad():
        for name, param in lstm.named_parameters():
            if name.startswith("bias_ih"):
                param[hidden : 2 * hidden].fill_(value)
            elif name.startswith("bias_hh"):
                param[hidden : 2 * hidden].fill_(0.0)


class RNNEncoder(nn.Module):
    """Stacked recurrent encoder over flat token rows.

    :param width: input and output width
    :param depth: number of stacked layers
    :param cell: "rnn", "lstm" or "gru"
    :param bidirectional: if True each layer has width // 2 units per direction
    :param dropout: dropout on the input of every layer after the first
    :param residual: add each layer's input to its output (layers after the first)
    :param length_groups: with the "torch" backend, run sequences of similar length together,
        in up to this many groups (less padding; the output is the same as with one group)
    """

    def __init__(self, width: int, depth: int, cell: str = "lstm",
                 bidirectional: bool = True, dropout: float = 0.0,
                 residual: bool = False, length_groups: int = 3):
        super().__init__()
        if bidirectional and width % 2:
            raise ValueError(f"A bidirectional encoder needs an even width, got {width}")
        self.width, self.cell, self.residual = width, cell, residual
        self.length_groups = length_groups
        n_dirs = 2 if bidirectional else 1
        hidden = self.hidden = width // n_dirs
        self.forward_layers = nn.ModuleList(make_cell(cell, width, hidden) for _ in range(depth))
        self.backward_layers = nn.ModuleList(
            make_cell(cell, width, hidden) for _ in range(depth if bidirectional else 0))
        self.dropout = nn.Dropout(dropout)

    def forward(self, flat: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Encode a flat batch.

        :param flat: shape (N, width), rows of all sequences concatenated
        :param lengths: shape (B,), int64, summing to N
        :return: shape (N, width)
        """
        if flat.shape[0] == 0:
            # "+ sum * 0": an empty output still on the autograd graph, so that backward runs
            return flat.new_zeros((0, self.width)) + flat.sum() * 0
        with torch.autocast("cpu", enabled=False):  # see choose_backend; CUDA autocast stays
            return self.encode_with(self.choose_backend(flat).backend, flat, lengths)

    def choose_backend(self, flat: torch.Tensor) -> backend.Choice:
        """The backend (and the reason) :meth:`forward` uses for this input. On CPU the encoder
        computes in the input's dtype even under autocast: the C loops take float32 only, and
        oneDNN has no bfloat16 LSTM without AVX-512."""
        with torch.autocast("cpu", enabled=False):
            return backend.choose(self.cell, flat, self.hidden)

    def encode_with(self, name: str, flat: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Encode a non-empty flat batch (see :meth:`forward`) with the backend ``name``."""
        if name == "torch":
            return self._encode_grouped(flat, lengths)
        layers = [module_weights(self._directions(i)) for i in range(len(self.forward_layers))]
        between = lambda rows, layout: self.dropout(rows)  # noqa: E731
        return run_stack(name, self.cell, layers, flat, lengths.cpu(), between, self.residual).out

    def _directions(self, i: int) -> list:
        """The modules of layer ``i``: forward, then backward if bidirectional."""
        if len(self.backward_layers):
            return [self.forward_layers[i], self.backward_layers[i]]
        return [self.forward_layers[i]]

    def _encode_grouped(self, flat: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Run the PyTorch modules (cuDNN on GPU, oneDNN on CPU) on padded batches
        of sequences of similar length."""
        compact_weights(*self.forward_layers, *self.backward_layers)
        groups = length_groups(lengths, self.length_groups)
        if len(groups) == 1:
            return self._encode_padded(flat, lengths)
        rows = [group_rows(lengths, group) for group in groups]
        outputs = [self._encode_padded(flat.index_select(0, r), lengths[g]) for r, g in zip(rows, groups)]
        return torch.cat(outputs).index_select(0, inverse_permutation(torch.cat(rows)))

    def _encode_padded(self, flat: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Encode one group of sequences as a single padded batch."""
        index = PaddedIndex.build(lengths)
        for i in range(len(self.forward_layers)):
            layer_in = self.dropout(flat) if i else flat
            out = self._padded_layer(i, layer_in, index)
            flat = out + flat if (self.residual and i) else out
        return flat

    def _padded_layer(self, i: int, flat: torch.Tensor, index: "PaddedIndex") -> torch.Tensor:
        """Run layer ``i`` (both directions) over flat rows, padding them first."""
        with_zero = torch.cat([flat, flat.new_zeros((1, flat.shape[1]))])
        outputs = [index.run(self.forward_layers[i], with_zero, index.forward, index.forward_out)]
        if len(self.backward_layers):
            outputs.append(index.run(self.backward_layers[i], with_zero, index.backward, index.backward_out))
        return torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]


@dataclass
class PaddedIndex:
    """Row indices that pad a flat batch (forward, and reversed within each
    sequence's length for the backward direction) and that unpad the outputs.

    ``forward``/``backward`` index rows of the flat input with one zero row
    appended (index N) for padding; ``forward_out``/``backward_out`` index the
    (B * T) rows of a direction's padded output, in flat row order.
    """

    shape: Tuple[int, int]
    forward: torch.Tensor
    backward: torch.Tensor
    forward_out: torch.Tensor
    backward_out: torch.Tensor

    @classmethod
    def build(cls, lengths: torch.Tensor) -> "PaddedIndex":
        max_len = int(lengths.max())
        steps = torch.arange(max_len, device=lengths.device).unsqueeze(0)
        ends = lengths.unsqueeze(1)
        valid = steps < ends
        mirrored = ends - 1 - steps
        starts = (torch.cumsum(lengths, 0) - lengths).unsqueeze(1)
        padding = int(lengths.sum())
        base = torch.arange(lengths.numel(), device=lengths.device).unsqueeze(1) * max_len
        return cls(
            shape=(lengths.numel(), max_len),
            forward=torch.where(valid, starts + steps, padding).reshape(-1),
            backward=torch.where(valid, starts + mirrored, padding).reshape(-1),
            forward_out=(base + steps)[valid],
            backward_out=(base + mirrored)[valid],
        )

    def run(self, module: nn.Module, with_zero: torch.Tensor, rows: torch.Tensor,
            out_rows: torch.Tensor) -> torch.Tensor:
        """Pad ``with_zero`` by ``rows``, run ``module``, unpad by ``out_rows``."""
        padded = with_zero.index_select(0, rows).view(*self.shape, with_zero.shape[1])
        out, _ = module(padded)
        return out.reshape(-1, out.shape[-1]).index_select(0, out_rows)


def length_groups(lengths: torch.Tensor, max_groups: int) -> list:
    """Split the indices of the non-empty sequences, sorted by length, into up to
    ``max_groups`` groups of about equal size (one group for small batches).

    :param lengths: shape (B,)
    :return: list of int64 index tensors into B
    """
    order = torch.argsort(lengths)
    order = order[lengths[order] > 0]  # empty sequences have no rows; a group of them can't run
    n_groups = min(max_groups, order.numel() // 8)
    if n_groups <= 1:
        return [order]
    return [chunk for chunk in torch.chunk(order, n_groups) if chunk.numel()]


def group_rows(lengths: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """Flat row indices of the sequences ``group``, in group order.

    :param lengths: shape (B,), lengths of all sequences in flat order
    :param group: shape (G,), sequence indices
    :return: shape (sum(lengths[group]),)
    """
    starts = torch.cumsum(lengths, 0) - lengths
    group_lengths = lengths[group]
    first = torch.repeat_interleave(starts[group], group_lengths)
    within = torch.arange(int(group_lengths.sum()), device=lengths.device)
    offsets = torch.repeat_interleave(torch.cumsum(group_lengths, 0) - group_lengths, group_lengths)
    return first + within - offsets
