"""Character-level word features: a convolution over each word's characters, max-pooled."""
import torch
from torch import nn


class CharCNN(nn.Module):
    """Embed character ids, convolve, and max-pool over each word's real characters.

    :param n_rows: number of character id buckets (id 0 is padding)
    :param char_dim: character embedding width
    :param width: output width (number of filters)
    :param window: convolution window (odd)
    """

    def __init__(self, n_rows: int, char_dim: int, width: int, window: int = 3):
        super().__init__()
        self.width = width
        self.embed = nn.Embedding(n_rows, char_dim, padding_idx=0)
        self.conv = nn.Conv1d(char_dim, width, window, padding=window // 2)

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        """:param char_ids: shape (N, C) int64, 0 = padding
        :return: shape (N, width)
        """
        if char_ids.shape[0] == 0:
            # "+ sum * 0": an empty output still on the autograd graph, so that backward runs
            return self.embed.weight.new_zeros((0, self.width)) + self.embed.weight.sum() * 0
        hidden = self.conv(self.embed(char_ids).transpose(1, 2)).transpose(1, 2)
        pad = (char_ids == 0).unsqueeze(2)
        pooled = hidden.masked_fill(pad, float("-inf")).max(dim=1).values
        return torch.tanh(pooled.masked_fill(pad.all(dim=1), 0.0))
