"""Recurrent encoder-decoder with attention, in plain PyTorch.

Shapes: ``B`` sentences, ``S`` padded source length, ``T`` padded target
length, ``L`` decoder layers, ``H`` hidden width, ``E`` embedding width,
``V`` target vocabulary size.

Encoder: a stacked (bi)directional ``nn.RNN``/``nn.LSTM``/``nn.GRU`` run over
real tokens only (the module on a packed batch, or the step loops of :mod:`.recurrence` with
the same weights, as :mod:`.backend` chooses), so each sentence's memory and final states are exactly those it
gets alone (the backward direction starts at its last real token, the final
states are taken at its last real token, LSTM cell state included). With a
bidirectional encoder each direction has ``H // 2`` units, so the memory is
``H`` wide either way.

Bridge: the top encoder layer's final state (both directions concatenated)
goes through Linear + tanh into the initial state of every decoder layer
(and, for an LSTM decoder, Linear + tanh into its initial cell state).

Decoder: a stacked unidirectional recurrent module, then attention, then the
attentional vector ``tanh(W [h_t; context_t])`` (Luong et al. 2015), then the
output projection. Without input feeding the whole target runs through the
recurrent module in one call and attention covers all steps at once (fast; the
training loss splits the target into a few time chunks to skip most padding);
with input feeding the previous attentional vector is concatenated to each
step's input, which needs a loop over time steps.
"""
from typing import List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from . import backend
from .attention import make_attention
from .encoder import CELLS, init_forget_bias
from .layout import PackedLayout
from .padding import length_mask
from .recurrence import compact_weights, plain_module, run_stack, stack_weights


def _select(tensor: Optional[torch.Tensor], index: torch.Tensor,
            dim: int) -> Optional[torch.Tensor]:
    """Rows ``index`` of ``tensor`` along ``dim``; None stays None."""
    return None if tensor is None else tensor.index_select(dim, index)


def _head(tensor: Optional[torch.Tensor], n: int, dim: int) -> Optional[torch.Tensor]:
    """The first ``n`` rows of ``tensor`` along ``dim`` (a view); None stays None."""
    return None if tensor is None else tensor.narrow(dim, 0, n)


class DecoderState(NamedTuple):
    """Recurrent decoder state.

    :attr hidden: shape (L, B, H)
    :attr cell: shape (L, B, H), LSTM decoders only, else None
    :attr feed: shape (B, H), previous attentional vector, input feeding only, else None
    """

    hidden: torch.Tensor
    cell: Optional[torch.Tensor]
    feed: Optional[torch.Tensor]

    def select(self, index: torch.Tensor) -> "DecoderState":
        """Reorder/repeat sentences. :param index: shape (B',), int64 into B."""
        return DecoderState(_select(self.hidden, index, 1), _select(self.cell, index, 1),
                            _select(self.feed, index, 0))

    def head(self, n: int) -> "DecoderState":
        """The first ``n`` sentences (views)."""
        return DecoderState(_head(self.hidden, n, 1), _head(self.cell, n, 1), _head(self.feed, n, 0))

    def contiguous(self) -> "DecoderState":
        """The recurrent states contiguous, as cuDNN requires (a copy only where they are not)."""
        return DecoderState(self.hidden.contiguous(),
                            None if self.cell is None else self.cell.contiguous(), self.feed)

    def rnn_state(self):
        """The state in the form ``nn.RNN``/``nn.GRU``/``nn.LSTM`` take."""
        return self.hidden if self.cell is None else (self.hidden, self.cell)


class Encoded(NamedTuple):
    """Everything the decoder needs from the source side.

    :attr memory: shape (B, S, H), zeros on padding
    :attr src_mask: shape (B, S), bool, True on real source positions
    :attr state: initial decoder state
    :attr keys: shape (B, S, A), attention keys projected once, None without attention
    """

    memory: torch.Tensor
    src_mask: torch.Tensor
    state: DecoderState
    keys: Optional[torch.Tensor]

    def select(self, index: torch.Tensor) -> "Encoded":
        """Reorder/repeat sentences (e.g. B -> B * beam). :param index: shape (B',)."""
        return Encoded(_select(self.memory, index, 0), _select(self.src_mask, index, 0),
                       self.state.select(index), _select(self.keys, index, 0))

    def head(self, n: int) -> "Encoded":
        """The first ``n`` sentences (views, no copies)."""
        return Encoded(_head(self.memory, n, 0), _head(self.src_mask, n, 0), self.state.head(n),
                       _head(self.keys, n, 0))


def check_cell(cell: str) -> str:
    if cell not in CELLS:
        raise ValueError(f"Unknown cell {cell!r}: use one of {sorted(CELLS)}")
    return cell


def make_stack(cell: str, n_in: int, hidden: int, layers: int, bidirectional: bool,
               dropout: float) -> nn.Module:
    """A stacked batch-first recurrent module; LSTM forget-gate bias 1."""
    module = CELLS[check_cell(cell)](
        n_in, hidden, num_layers=layers, bidirectional=bidirectional, batch_first=True,
        dropout=dropout if layers > 1 else 0.0)
    if cell == "lstm":
        init_forget_bias(module, 1.0)
    return module


class Seq2Seq(nn.Module):
    """Attentional recurrent encoder-decoder.

    :param src_vocab: source vocabulary size
    :param tgt_vocab: target vocabulary size V
    :param emb_size: embedding width E (source and target)
    :param hidden: hidden width H of encoder memory and decoder
    :param enc_layers: stacked encoder layers
    :param dec_layers: stacked decoder layers L
    :param cell: "rnn", "lstm" or "gru" for both sides, unless overridden
    :param enc_cell: encoder cell, overrides ``cell``
    :param dec_cell: decoder cell, overrides ``cell``
    :param bidirectional: bidirectional encoder (H // 2 units per direction; H must be even)
    :param attention: "none", "bahdanau" or "luong"
    :param input_feeding: feed the previous attentional vector into each decoder step
    :param dropout: dropout on embeddings, between stacked layers and before the output
    :param tie_target_embeddings: share the target embedding matrix with the output
        layer (through a projection H -> E)
    :param pad_id: padding id in both vocabularies
    :param bos_id: target begin-of-sentence id
    :param eos_id: target end-of-sentence id

    ``self.config`` holds these arguments, so ``Seq2Seq(**model.config)`` rebuilds it.
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, emb_size: int = 256, hidden: int = 256,
                 enc_layers: int = 1, dec_layers: int = 1, cell: str = "lstm",
                 enc_cell: Optional[str] = None, dec_cell: Optional[str] = None,
                 bidirectional: bool = True, attention: str = "luong", input_feeding: bool = False,
                 dropout: float = 0.0, tie_target_embeddings: bool = False,
                 pad_id: int = 0, bos_id: int = 1, eos_id: int = 2):
        super().__init__()
        self.config = dict(
            src_vocab=src_vocab, tgt_vocab=tgt_vocab, emb_size=emb_size, hidden=hidden,
            enc_layers=enc_layers, dec_layers=dec_layers, cell=cell, enc_cell=enc_cell,
            dec_cell=dec_cell, bidirectional=bidirectional, attention=attention,
            input_feeding=input_feeding, dropout=dropout,
            tie_target_embeddings=tie_target_embeddings, pad_id=pad_id, bos_id=bos_id,
            eos_id=eos_id)
        self.enc_cell = check_cell(enc_cell or cell)
        self.dec_cell = check_cell(dec_cell or cell)
        if bidirectional and hidden % 2:
            raise ValueError(f"A bidirectional encoder needs an even hidden size, got {hidden}")
        self.hidden, self.dec_layers = hidden, dec_layers
        self.input_feeding = input_feeding
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.dropout = nn.Dropout(dropout)
        self._build_encoder(src_vocab, emb_size, hidden, enc_layers, bidirectional, dropout)
        self._build_decoder(tgt_vocab, emb_size, hidden, dec_layers, attention, dropout)
        self._build_output(tgt_vocab, emb_size, hidden, tie_target_embeddings)

    def _build_encoder(self, vocab, emb_size, hidden, layers, bidirectional, dropout):
        self.src_embed = nn.Embedding(vocab, emb_size, padding_idx=self.pad_id)
        n_dirs = 2 if bidirectional else 1
        self.encoder_rnn = make_stack(self.enc_cell, emb_size, hidden // n_dirs, layers,
                                      bidirectional, dropout)
        self.bridge_hidden = nn.Linear(hidden, self.dec_layers * hidden)
        self.bridge_cell = nn.Linear(hidden, self.dec_layers * hidden) \
            if self.dec_cell == "lstm" else None

    def _build_decoder(self, vocab, emb_size, hidden, layers, attention, dropout):
        self.tgt_embed = nn.Embedding(vocab, emb_size, padding_idx=self.pad_id)
        n_in = emb_size + (hidden if self.input_feeding else 0)
        self.decoder_rnn = make_stack(self.dec_cell, n_in, hidden, layers, False, dropout)
        self.attention = make_attention(attention, hidden, hidden, hidden)
        self.combine = nn.Linear(hidden + self.attention.context_size, hidden)

    def _build_output(self, vocab, emb_size, hidden, tie):
        self.pre_output = nn.Linear(hidden, emb_size, bias=False) if tie else None
        self.generator = nn.Linear(emb_size if tie else hidden, vocab)
        if tie:
            self.generator.weight = self.tgt_embed.weight

    # ----- encoder -------------------------------------------------------------------------

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> Encoded:
        """Encode a padded source batch.

        :param src: shape (B, S), int64 ids, padded with anything after each length
        :param src_lengths: shape (B,), int64, each >= 1
        :return: :class:`Encoded` with memory (B, S, H), src_mask (B, S) and the
            initial decoder state
        """
        compact_weights(self.encoder_rnn, self.decoder_rnn)
        cpu_lengths = src_lengths.detach().cpu()
        if cpu_lengths.numel() and int(cpu_lengths.min()) < 1:
            raise ValueError("Every source sentence needs at least one token "
                             f"(got lengths {cpu_lengths.tolist()})")
        memory, final_h, final_c = self._run_encoder(self.dropout(self.src_embed(src)), cpu_lengths)
        src_mask = length_mask(src_lengths.to(src.device), src.shape[1])
        state = self._bridge(final_h, final_c, memory)
        return Encoded(memory, src_mask, state, self.attention.project_keys(memory))

    def _run_encoder(self, emb: torch.Tensor, cpu_lengths: torch.Tensor):
        """Run the encoder over real tokens only, with the backend :mod:`.backend` chooses:
        "torch" runs the module on a packed batch, "native" and "loop" the layer driver of
        :mod:`.recurrence` with the same weights; all give the same results
        (tests/torch/test_seq2seq_encoder.py). The step loops' backward passes are not themselves
        differentiable (no gradients of gradients, e.g. for a gradient penalty: set
        ``SPACY_RNN_BACKEND=torch`` for that).

        :param emb: shape (B, S, E)
        :param cpu_lengths: shape (B,), int64 on the CPU
        :return: memory (B, S, H); top-layer final hidden and (LSTM) cell states (B, H)
        """
        choice = self.encoder_backend(emb)
        if choice.backend == "torch":
            return self._run_encoder_packed(emb, cpu_lengths)
        return self._run_encoder_steps(choice.backend, emb, cpu_lengths)

    def encoder_backend(self, emb: torch.Tensor) -> backend.Choice:
        """The backend (and the reason) the encoder uses for the embedded source ``emb``."""
        rnn = self.encoder_rnn
        return backend.choose(self.enc_cell, emb, rnn.hidden_size, plain_module(rnn))

    def _run_encoder_steps(self, name: str, emb: torch.Tensor, cpu_lengths: torch.Tensor):
        """:meth:`_run_encoder` with the layer driver of :mod:`.recurrence` (backend ``name``)
        over the real rows of ``emb``; dropout between layers as ``nn.LSTM`` has it."""
        rnn, (batch, src_len, _) = self.encoder_rnn, emb.shape
        real = torch.nonzero(length_mask(cpu_lengths, src_len).reshape(-1)).squeeze(1)  # (N,)
        flat = emb.reshape(batch * src_len, -1).index_select(0, real)
        layers = [stack_weights(rnn, layer) for layer in range(rnn.num_layers)]
        out = run_stack(name, self.enc_cell, layers, flat, cpu_lengths, self._drop_between_layers,
                        finals=True)
        memory = out.out.new_zeros((batch * src_len, out.out.shape[1])).index_copy(0, real, out.out)
        return memory.view(batch, src_len, -1), out.final_h, out.final_c

    def _drop_between_layers(self, flat: torch.Tensor, layout: PackedLayout) -> torch.Tensor:
        """Dropout on a layer's output rows (N, H), the mask drawn over them in packed order as
        ``nn.LSTM`` draws it, so that one seed drops the same units in both."""
        if not (self.training and self.encoder_rnn.dropout):
            return flat
        noise = F.dropout(flat.new_ones(flat.shape), self.encoder_rnn.dropout, True)
        return flat * noise.index_select(0, layout.to_flat)

    def _run_encoder_packed(self, emb: torch.Tensor, cpu_lengths: torch.Tensor):
        """:meth:`_run_encoder` with the PyTorch module over a packed batch."""
        packed = pack_padded_sequence(emb, cpu_lengths, batch_first=True, enforce_sorted=False)
        out, finals = self.encoder_rnn(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=emb.shape[1])
        if isinstance(finals, tuple):
            return memory, self._top_layer(finals[0]), self._top_layer(finals[1])
        return memory, self._top_layer(finals), None

    def _top_layer(self, finals: torch.Tensor) -> torch.Tensor:
        """(layers * dirs, B, h) -> (B, dirs * h) for the top layer."""
        n_dirs = 2 if self.encoder_rnn.bidirectional else 1
        top = finals[-n_dirs:]
        return top.transpose(0, 1).reshape(finals.shape[1], -1)

    def _bridge(self, final_h: torch.Tensor, final_c: Optional[torch.Tensor],
                memory: torch.Tensor) -> DecoderState:
        """Initial decoder state from encoder final states.

        :param final_h: shape (B, H)
        :param final_c: shape (B, H), LSTM encoders only
        :param memory: shape (B, S, H), only for dtype/device of the zero feed
        """
        hidden = self._spread(torch.tanh(self.bridge_hidden(final_h)))
        cell = None
        if self.bridge_cell is not None:
            source = final_c if final_c is not None else final_h
            cell = self._spread(torch.tanh(self.bridge_cell(source)))
        feed = memory.new_zeros((memory.shape[0], self.hidden)) if self.input_feeding else None
        return DecoderState(hidden, cell, feed)

    def _spread(self, flat: torch.Tensor) -> torch.Tensor:
        """(B, L * H) -> (L, B, H)."""
        return flat.view(flat.shape[0], self.dec_layers, self.hidden).transpose(0, 1).contiguous()

    # ----- decoder -------------------------------------------------------------------------

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor,
                tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits at every target position, padding included: the plain
        reference that :meth:`loss` (training) is tested against.

        :param src: shape (B, S), int64
        :param src_lengths: shape (B,), int64
        :param tgt_in: shape (B, T), int64, BOS followed by the target, padded at the end
        :return: logits of shape (B, T, V)
        """
        return self._project(self._attentional(src, src_lengths, tgt_in))

    def loss(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor,
             tgt_out: torch.Tensor, label_smoothing: float = 0.0) -> Tuple[torch.Tensor, int]:
        """Teacher-forced training loss: :func:`sequence_loss` of :meth:`forward`'s logits,
        computed on the real target positions only: the output layer (the largest product of
        the step) and the softmax always; the decoder too, up to a little padding: with input
        feeding step by step on the sentences still going, without it in a few time chunks.

        :param tgt_out: shape (B, T), int64, the target followed by EOS, padded with pad_id at
            the end (a sentence's real positions are the first ones)
        :return: (scalar sum of the loss over real tokens, number of real tokens)
        """
        att, gold = self._decode_real(*self._by_target_length(src, src_lengths, tgt_in, tgt_out))
        loss = F.cross_entropy(self._project(att).float(), gold, reduction="sum",
                               label_smoothing=label_smoothing)
        return loss, gold.numel()

    def _by_target_length(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor,
                          tgt_out: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """The batch sorted by target length, longest first, and the target lengths."""
        lengths = (tgt_out != self.pad_id).sum(1)
        order = torch.argsort(lengths, descending=True, stable=True)
        return tuple(x.index_select(0, order.to(x.device))
                     for x in (src, src_lengths, tgt_in, tgt_out, lengths))

    def _decode_real(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor,
                     tgt_out: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The decoder on little more than the real target positions (sentences sorted by target
        length, longest first), in time chunks: each chunk is one call of the recurrent module and
        attention for all its steps, on the sentences whose target goes on past the chunk's
        start, from their states at the end of the chunk before. With input feeding a step needs
        the attentional vector of the step before, so every step is its own chunk
        (:func:`step_chunks`); without it, a few chunks (:func:`time_chunks`). The decoder is
        unidirectional, so a sentence's real positions do not depend on what a chunk computes on
        its padding.

        :return: attentional vectors (N, H) and their gold ids (N,), N real target positions
        """
        encoded, emb = self._encode_embed(src, src_lengths, tgt_in)
        chunks = (step_chunks if self.input_feeding else time_chunks)(lengths.tolist())
        state, steps, gold = encoded.state, [], []
        for start, end, n in chunks:
            att, state = self._run(emb[:n, start:end], state.head(n).contiguous(), encoded.head(n))
            real = lengths[:n].unsqueeze(1) > torch.arange(start, end, device=lengths.device)
            steps.append(att[real])
            gold.append(tgt_out[:n, start:end][real])
        return self._real_positions(steps, gold, emb, tgt_out)

    def _real_positions(self, steps, gold, emb: torch.Tensor, tgt_out: torch.Tensor):
        """The attentional vectors and gold ids of the real target positions, concatenated; empty
        (0, H) and (0,) when no target has any (the loss is then 0, as over padded logits)."""
        if not steps:
            return emb.new_zeros((0, self.hidden)), tgt_out.new_zeros((0,))
        return torch.cat(steps), torch.cat(gold)

    def _attentional(self, src: torch.Tensor, src_lengths: torch.Tensor,
                     tgt_in: torch.Tensor) -> torch.Tensor:
        """The decoder's attentional vectors (B, T, H) for teacher forcing."""
        encoded, emb = self._encode_embed(src, src_lengths, tgt_in)
        if self.input_feeding:
            return self._decode_fed(emb, encoded)
        return self._run(emb, encoded.state, encoded)[0]

    def _encode_embed(self, src: torch.Tensor, src_lengths: torch.Tensor,
                      tgt_in: torch.Tensor) -> Tuple[Encoded, torch.Tensor]:
        """The encoded sources and the decoder's input embeddings (with dropout)."""
        return self.encode(src, src_lengths), self.dropout(self.tgt_embed(tgt_in))

    def decode_step(self, prev_tokens: torch.Tensor, state: DecoderState,
                    encoded: Encoded) -> Tuple[torch.Tensor, DecoderState]:
        """One decoding step, for search.

        :param prev_tokens: shape (B,), int64, the previous output token (BOS first)
        :param state: decoder state for B sentences
        :param encoded: encoder output for the same B sentences
        :return: logits of shape (B, V) and the next state
        """
        emb = self.dropout(self.tgt_embed(prev_tokens.unsqueeze(1)))
        att, state = self._run(emb, state, encoded)
        return self._project(att).squeeze(1), state

    def _decode_fed(self, emb: torch.Tensor, encoded: Encoded) -> torch.Tensor:
        """Input-feeding decoder: loop over steps.

        :param emb: shape (B, T, E)
        :return: attentional vectors of shape (B, T, H)
        """
        state, steps = encoded.state, []
        for t in range(emb.shape[1]):
            att, state = self._run(emb[:, t : t + 1], state, encoded)
            steps.append(att)
        return torch.cat(steps, dim=1)

    def _run(self, emb: torch.Tensor, state: DecoderState,
             encoded: Encoded) -> Tuple[torch.Tensor, DecoderState]:
        """Recurrent layers, attention and combination for T steps in one call
        (T must be 1 with input feeding).

        :param emb: shape (B, T, E)
        :return: attentional vectors (B, T, H) and the state after the last step
        """
        if self.input_feeding:
            emb = torch.cat([emb, state.feed.unsqueeze(1)], dim=-1)
        out, rnn_state = self.decoder_rnn(emb, state.rnn_state())
        context, _ = self.attention(out, encoded.keys, encoded.memory, encoded.src_mask)
        att = torch.tanh(self.combine(torch.cat([out, context], dim=-1)))
        hidden, cell = rnn_state if isinstance(rnn_state, tuple) else (rnn_state, None)
        feed = att[:, -1] if self.input_feeding else None
        return att, DecoderState(hidden, cell, feed)

    def _project(self, att: torch.Tensor) -> torch.Tensor:
        """(B, T, H) attentional vectors -> (B, T, V) logits."""
        att = self.dropout(att)
        if self.pre_output is not None:
            att = self.pre_output(att)
        return self.generator(att)


def time_chunks(lengths: List[int], chunks: int = 4) -> List[Tuple[int, int, int]]:
    """Time chunks for a decoder over targets of ``lengths`` (non-increasing): (start, end,
    n), the steps start..end - 1 run on the first n sentences, those longer than ``start``.
    The chunks end where the shortest sentence and those at ranks n/4, n/2 and 3n/4 (for
    ``chunks`` = 4) end, and at the longest: few calls, each still a large batch, with the
    padding they compute limited to the lengths between two boundaries."""
    if not lengths or lengths[0] == 0:
        return []
    ranks = [len(lengths) - 1] + [len(lengths) * j // chunks for j in range(chunks - 1, 0, -1)]
    ends = sorted({lengths[r] for r in ranks if lengths[r] > 0} | {lengths[0]})
    starts = [0] + ends[:-1]
    return [(start, end, sum(1 for length in lengths if length > start)) for start, end in zip(starts, ends)]


def step_chunks(lengths: List[int]) -> List[Tuple[int, int, int]]:
    """One chunk per time step for targets of ``lengths`` (non-increasing): (t, t + 1, n), step
    t runs on the first n sentences, those longer than t."""
    chunks, n = [], len(lengths)
    for t in range(lengths[0] if lengths else 0):
        while lengths[n - 1] <= t:  # drop the sentences that ended (one pass over the batch)
            n -= 1
        chunks.append((t, t + 1, n))
    return chunks


def sequence_loss(logits: torch.Tensor, tgt_out: torch.Tensor, pad_id: int,
                  label_smoothing: float = 0.0) -> Tuple[torch.Tensor, int]:
    """Summed token cross-entropy, ignoring padding.

    :param logits: shape (B, T, V)
    :param tgt_out: shape (B, T), int64, the target followed by EOS, padded with ``pad_id``
    :param pad_id: padding id, excluded from loss and count
    :param label_smoothing: probability mass spread uniformly over the vocabulary
    :return: (scalar sum of the loss over real tokens, number of real tokens)
    """
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tgt_out.reshape(-1),
                           ignore_index=pad_id, reduction="sum", label_smoothing=label_smoothing)
    return loss, int((tgt_out != pad_id).sum())
