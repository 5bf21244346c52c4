"""Length-correct stacked (bi)directional recurrent encoder.

Each direction of each layer is a separate unidirectional ``nn.RNN``/``nn.LSTM``/
``nn.GRU`` run over a batch-first padded tensor. The forward direction reads
real tokens before any padding; the backward direction runs over each sequence
reversed *within its own length*, so it too starts at the last real token.
The output for a sequence therefore does not depend on what else is in the
batch, unlike a bidirectional cuDNN call over a padded batch.
"""
from typing import List, Optional, Tuple

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
    """

    def __init__(self, width: int, depth: int, cell: str = "lstm",
                 bidirectional: bool = True, dropout: float = 0.0,
                 residual: bool = False):
        super().__init__()
        if bidirectional and width % 2:
            raise ValueError(f"A bidirectional encoder needs an even width, got {width}")
        self.width, self.cell, self.residual = width, cell, residual
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
