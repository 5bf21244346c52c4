"""Length-correct stacked (bi)directional recurrent encoder.

Each direction of each layer is a separate unidirectional ``nn.RNN``/``nn.LSTM``/
``nn.GRU`` run over a batch-first padded tensor. The forward direction reads
real tokens before any padding; the backward direction runs over each sequence
reversed *within its own length*, so it too starts at the last real token.
The output for a sequence therefore does not depend on what else is in the
batch, unlike a bidirectional cuDNN call over a padded batch.
"""

import torch
from torch import nn

from .padding import pad_flat, reverse_index, reverse_padded, unpad

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
    :param length_groups: run sequences of similar length together, in up to this
        many groups (less padding; the output is the same as with one group)
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
        hidden = width // n_dirs
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
            return flat.new_zeros((0, self.width)) + flat.sum() * 0
        groups = length_groups(lengths, self.length_groups)
        if len(groups) == 1:
            return self._encode(flat, lengths)
        out = flat.new_zeros((flat.shape[0], self.width))
        for group in groups:
            rows = group_rows(lengths, group)
            out = out.index_copy(0, rows, self._encode(flat.index_select(0, rows), lengths[group]))
        return out

    def _encode(self, flat: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Encode one group of sequences as a single padded batch."""
        padded = pad_flat(flat, lengths)
        index = reverse_index(lengths, padded.shape[1])
        for i in range(len(self.forward_layers)):
            layer_in = self.dropout(padded) if i else padded
            out = self._layer(i, layer_in, index)
            padded = out + padded if (self.residual and i) else out
        return unpad(padded, lengths)

    def _layer(self, i: int, padded: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Run layer ``i`` (both directions) over a (B, T, W) padded batch."""
        forward_out, _ = self.forward_layers[i](padded)
        if not len(self.backward_layers):
            return forward_out
        reversed_in = reverse_padded(padded, index)
        backward_out, _ = self.backward_layers[i](reversed_in)
        return torch.cat([forward_out, reverse_padded(backward_out, index)], dim=-1)


def length_groups(lengths: torch.Tensor, max_groups: int) -> list:
    """Split sequence indices, sorted by length, into up to ``max_groups`` groups of
    about equal size (one group for small batches).

    :param lengths: shape (B,)
    :return: list of int64 index tensors into B
    """
    n_groups = min(max_groups, lengths.numel() // 8)
    order = torch.argsort(lengths)
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
