"""``spacy-rnn.RNNEncoder.v1``: a length-correct recurrent encoder for spaCy's encoder slot."""
from typing import List, Literal

from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d

from ..torch.encoder import RNNEncoder
from .convert import flat_inputs, flat_outputs
from .shim import WeightsOnlyPyTorchWrapper

Cell = Literal["rnn", "lstm", "gru"]


@registry.architectures("spacy-rnn.RNNEncoder.v1")
def build_rnn_encoder(
    width: int,
    depth: int,
    cell: Cell = "lstm",
    bidirectional: bool = True,
    dropout: float = 0.0,
    residual: bool = False,
) -> Model[List[Floats2d], List[Floats2d]]:
    """Stacked RNN/LSTM/GRU over each doc's token vectors; input and output width ``width``.

    Drop-in for ``spacy.TorchBiLSTMEncoder.v1`` in ``[components.tok2vec.model.encode]``.
    Each doc is encoded exactly as if it were alone in the batch: the backward
    direction starts at the doc's last token, never at padding.
    """
    _check_encoder_settings(width, depth, cell, bidirectional, dropout)
    module = RNNEncoder(width, depth, cell=cell, bidirectional=bidirectional,
                        dropout=dropout, residual=residual)
    model = WeightsOnlyPyTorchWrapper(module, convert_inputs=flat_inputs, convert_outputs=flat_outputs)
    model.name = f"rnn-encoder-{cell}"
    model.set_dim("nI", width)
    model.set_dim("nO", width)
    return model


_ENCODER = "spacy-rnn.RNNEncoder.v1"


def _check_encoder_settings(width: int, depth: int, cell: str, bidirectional: bool,
                            dropout: float) -> None:
    """Refuse settings torch would fail on later (or silently misuse), naming the setting."""
    for name, value in (("width", width), ("depth", depth)):
        if value < 1:
            raise ValueError(f"{_ENCODER}: {name} must be >= 1, got {value} (the encoder needs "
                             f"width >= 1 and depth >= 1)")
    if bidirectional and width % 2:
        raise ValueError(f"{_ENCODER}: a bidirectional encoder splits width between two directions, so "
                         f"width must be even; got width = {width}. Use an even width or "
                         f"bidirectional = false.")
    if cell not in ("rnn", "lstm", "gru"):
        raise ValueError(f"{_ENCODER}: cell must be one of 'rnn', 'lstm', 'gru', got {cell!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"{_ENCODER}: dropout must be >= 0 and < 1 (0 = none), got {dropout}")
