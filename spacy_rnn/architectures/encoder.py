"""``spacy-rnn.RNNEncoder.v1``: a length-correct recurrent encoder for spaCy's encoder slot."""
from typing import List, Literal

from spacy.util import registry
from thinc.api import Model, PyTorchWrapper_v2
from thinc.types import Floats2d

from .convert import flat_inputs, flat_outputs

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
    from ..torch.encoder import RNNEncoder

    if width < 1 or depth < 1:
        raise ValueError(f"RNNEncoder needs width >= 1 and depth >= 1, got width={width}, depth={depth}")
    if bidirectional and width % 2:
        raise ValueError(f"A bidirectional RNNEncoder splits width between two directions, so width "
                         f"must be even; got width={width}. Use an even width or bidirectional = false.")
    module = RNNEncoder(width, depth, cell=cell, bidirectional=bidirectional,
                        dropout=dropout, residual=residual)
    model = PyTorchWrapper_v2(module, convert_inputs=flat_inputs, convert_outputs=flat_outputs)
    model.name = f"rnn-encoder-{cell}"
    model.set_dim("nI", width)
    model.set_dim("nO", width)
    return model
