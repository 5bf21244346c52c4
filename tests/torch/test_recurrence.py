"""The layer driver's step-loop backends (spacy_rnn.torch.recurrence: the C loops and the
PyTorch loops over packed rows) against the per-direction PyTorch modules they take their
weights from (the "torch" backend)."""
import pytest
import torch

from spacy_rnn.torch import native
from spacy_rnn.torch.encoder import PaddedIndex, RNNEncoder
from spacy_rnn.torch.layout import packed_layout
from spacy_rnn.torch.loops import GRUSteps, LSTMSteps, RNNSteps
from spacy_rnn.torch.padding import permute_rows

CELLS = ["rnn", "lstm", "gru"]


def _cell_loops():
    """(cell, step-loop backend) pairs to compare with the PyTorch modules: the PyTorch loops run
    every cell, the C loops (where they are built) the LSTM and the GRU."""
    unbuilt = pytest.mark.skipif(not native.available(), reason="the C loops are not built here")
    pairs = [pytest.param(cell, "loop", id=f"{cell}-loop") for cell in CELLS]
    return pairs + [pytest.param(cell, "native", id=f"{cell}-native", marks=unbuilt)
                    for cell in ("lstm", "gru")]


CELL_LOOPS = _cell_loops()


def test_packed_layout_orders_rows_time_major_longest_first():
    # flat rows: seq0 = rows 0-1, seq1 = (empty), seq2 = rows 2-4
    layout = packed_layout(torch.tensor([2, 0, 3]))
    assert layout.batch_sizes == [2, 2, 1]
    assert layout.to_packed.tolist() == [2, 0, 3, 1, 4]
    assert layout.to_flat[layout.to_packed].tolist() == [0, 1, 2, 3, 4]
    # packed rows (t, seq): (0,2) (0,0) (1,2) (1,0) (2,2); reversal within length
    assert layout.reverse.tolist() == [4, 3, 2, 1, 0]


def _reference_layout(lengths):
    """The packed layout built row by row: step t holds the sequences longer than t,
    longest first (ties in input order)."""
    starts = [sum(lengths[:b]) for b in range(len(lengths))]
    order = sorted(range(len(lengths)), key=lambda b: -lengths[b])
    rows = [(t, b) for t in range(max(lengths, default=0)) for b in order if lengths[b] > t]
    where = {row: i for i, row in enumerate(rows)}
    return dict(to_packed=[starts[b] + t for t, b in rows],
                reverse=[where[(lengths[b] - 1 - t, b)] for t, b in rows],
                previous=[where[(t - 1, b)] if t else len(rows) for t, b in rows],
                batch_sizes=[sum(1 for t, _ in rows if t == step) for step in range(max(lengths, default=0))])


@pytest.mark.parametrize("lengths", [[2, 0, 3], [1], [0, 0], [], [4, 4, 4], [3, 0, 5, 1, 5, 2, 9, 1]])
def test_packed_layout_matches_row_by_row_reference(lengths):
    layout = packed_layout(torch.tensor(lengths, dtype=torch.int64))
    expected = _reference_layout(lengths)
    assert layout.to_packed.tolist() == expected["to_packed"]
    assert layout.reverse.tolist() == expected["reverse"]
    assert layout.previous.tolist() == expected["previous"]
    assert layout.batch_sizes == expected["batch_sizes"]
    assert layout.to_flat.tolist() == sorted(range(len(expected["to_packed"])),
                                             key=lambda i: expected["to_packed"][i])


def test_permute_rows_equals_index_select_forward_and_backward():
    order = torch.tensor([3, 0, 4, 1, 2])
    inverse = torch.argsort(order)
    rows = torch.randn(5, 3, requires_grad=True)
    grad = torch.randn(5, 3)
    expected = rows.index_select(0, order)
    (expected_grad,) = torch.autograd.grad(expected, rows, grad)
    permuted = permute_rows(rows, order, inverse)
    (permuted_grad,) = torch.autograd.grad(permuted, rows, grad)
    assert torch.equal(permuted, expected)
    assert torch.equal(permuted_grad, expected_grad)
    with torch.no_grad():
        assert torch.equal(permute_rows(rows, order, inverse), expected)


def test_padded_index_pads_and_reverses_within_length():
    index = PaddedIndex.build(torch.tensor([2, 3]))
    assert index.shape == (2, 3)
    assert index.forward.tolist() == [0, 1, 5, 2, 3, 4]
    assert index.backward.tolist() == [1, 0, 5, 4, 3, 2]
    assert index.forward_out.tolist() == [0, 1, 3, 4, 5]
    assert index.backward_out.tolist() == [1, 0, 5, 4, 3]


def _grads(encoder, backend, flat, lengths, grad_out):
    x = flat.clone().requires_grad_()
    out = encoder.encode_with(backend, x, lengths)
    grads = torch.autograd.grad(out, [x] + list(encoder.parameters()), grad_out)
    return out, grads


@pytest.mark.parametrize("cell,loops", CELL_LOOPS)
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("residual", [False, True])
def test_step_loops_equal_pytorch_modules(cell, bidirectional, residual, loops):
    torch.manual_seed(0)
    encoder = RNNEncoder(8, 2, cell=cell, bidirectional=bidirectional, residual=residual)
    lengths = torch.tensor([3, 0, 7, 1, 7, 5, 2] * 4)
    flat = torch.randn(int(lengths.sum()), 8)
    grad_out = torch.randn(flat.shape[0], 8)
    steps, steps_grads = _grads(encoder, loops, flat, lengths, grad_out)
    modules, module_grads = _grads(encoder, "torch", flat, lengths, grad_out)
    torch.testing.assert_close(steps, modules, atol=1e-5, rtol=1e-4)
    for got, want in zip(steps_grads, module_grads):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cell", CELLS)
def test_grouped_batches_equal_one_sequence_at_a_time(cell):
    torch.manual_seed(1)
    encoder = RNNEncoder(6, 2, cell=cell).eval()
    lengths = torch.tensor([4, 9, 1, 6, 2, 8, 3, 5, 7, 2, 9, 1, 4, 6, 3, 8, 2])
    flat = torch.randn(int(lengths.sum()), 6)
    batched = encoder._encode_grouped(flat, lengths)
    alone = torch.cat([encoder._encode_padded(rows, torch.tensor([len(rows)]))
                       for rows in torch.split(flat, lengths.tolist())])
    torch.testing.assert_close(batched, alone, atol=1e-6, rtol=0)


def test_lstm_steps_backward_passes_gradcheck():
    """The hand-written LSTM backward against finite differences (float64), through
    both outputs (hidden and cell states), with sequences ending at different steps
    and an empty one."""
    torch.manual_seed(2)
    layout = packed_layout(torch.tensor([3, 0, 5, 1, 5, 2]))
    n_rows, hidden = sum(layout.batch_sizes), 3
    projected = torch.randn(2, n_rows, 4 * hidden, dtype=torch.float64, requires_grad=True)
    w_hh = torch.randn(2, hidden, 4 * hidden, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda p, w: LSTMSteps.apply(p, w, layout.batch_sizes, layout.previous), (projected, w_hh))


def test_previous_rows_point_one_step_back():
    layout = packed_layout(torch.tensor([2, 0, 3]))
    # packed rows (t, seq): 0=(0,2) 1=(0,0) 2=(1,2) 3=(1,0) 4=(2,2); 5 = zero row
    assert layout.previous.tolist() == [5, 5, 0, 1, 2]


def test_gru_steps_backward_passes_gradcheck():
    torch.manual_seed(4)
    layout = packed_layout(torch.tensor([3, 0, 5, 1, 5, 2]))
    n_rows, hidden = sum(layout.batch_sizes), 3
    projected = torch.randn(2, n_rows, 3 * hidden, dtype=torch.float64, requires_grad=True)
    w_hh = torch.randn(2, hidden, 3 * hidden, dtype=torch.float64, requires_grad=True)
    b_hh = torch.randn(2, 1, 3 * hidden, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda p, w, b: GRUSteps.apply(p, w, b, layout.batch_sizes, layout.previous),
        (projected, w_hh, b_hh))


def test_rnn_steps_backward_passes_gradcheck():
    torch.manual_seed(5)
    layout = packed_layout(torch.tensor([3, 0, 5, 1, 5, 2]))
    n_rows, hidden = sum(layout.batch_sizes), 3
    projected = torch.randn(2, n_rows, hidden, dtype=torch.float64, requires_grad=True)
    w_hh = torch.randn(2, hidden, hidden, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda p, w: RNNSteps.apply(p, w, layout.batch_sizes, layout.previous), (projected, w_hh))


@pytest.mark.parametrize("cell,loops", CELL_LOOPS)
def test_training_with_the_step_loops_follows_the_pytorch_modules(cell, loops):
    """A few Adam steps through either computation give the same weights and a falling loss."""
    torch.manual_seed(6)
    lengths = torch.tensor([5, 1, 9, 3, 7, 2, 8, 4, 6, 9] * 2)
    flat = torch.randn(int(lengths.sum()), 8)
    target = torch.tanh(flat.roll(1, dims=1))  # learnable from each token alone
    trained = {}
    for backend in (loops, "torch"):
        torch.manual_seed(7)
        encoder = RNNEncoder(8, 2, cell=cell)
        optimizer = torch.optim.Adam(encoder.parameters(), lr=0.03)
        losses = []
        for _ in range(20):
            optimizer.zero_grad()
            loss = ((encoder.encode_with(backend, flat, lengths) - target) ** 2).mean()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert losses[-1] < 0.9 * losses[0]
        trained[backend] = encoder.state_dict()
    for name, value in trained[loops].items():
        torch.testing.assert_close(value, trained["torch"][name], atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("cell,loops", CELL_LOOPS)
@pytest.mark.parametrize("bidirectional", [True, False])
def test_inference_loops_equal_pytorch_modules(cell, bidirectional, loops):
    """Without gradients (the "loop" backend's plain loops, the native layers recording no
    graph): the same outputs as PyTorch's modules."""
    torch.manual_seed(8)
    encoder = RNNEncoder(8, 2, cell=cell, bidirectional=bidirectional).eval()
    lengths = torch.tensor([3, 0, 7, 1, 7, 5, 2] * 4)
    flat = torch.randn(int(lengths.sum()), 8)
    with torch.no_grad():
        torch.testing.assert_close(encoder.encode_with(loops, flat, lengths),
                                   encoder.encode_with("torch", flat, lengths), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cell", CELLS)
def test_many_empty_docs_in_length_groups(cell):
    """Sorted by length, empty docs could fill a whole group; they must be left out of it."""
    torch.manual_seed(9)
    encoder = RNNEncoder(8, 2, cell=cell).eval()
    lengths = torch.tensor([0] * 10 + [3] * 6 + [0, 5])
    flat = torch.randn(int(lengths.sum()), 8)
    with torch.no_grad():
        grouped = encoder.encode_with("torch", flat, lengths)
        torch.testing.assert_close(grouped, encoder.encode_with("loop", flat, lengths), atol=1e-5, rtol=1e-4)
    assert grouped.shape == (23, 8)


@pytest.mark.parametrize("cell,loops", CELL_LOOPS)
def test_cpu_autocast_leaves_the_encoder_in_float32(cell, loops, monkeypatch):
    """CPU autocast would hand the loops bfloat16 projections (which the C loops cannot take
    and the PyTorch loops' preallocated outputs refuse) and oneDNN a bfloat16 LSTM (which it
    lacks without AVX-512): the encoder turns it off on CPU and computes in the input's
    dtype, the same numbers as without autocast."""
    monkeypatch.setenv("SPACY_RNN_BACKEND", loops)
    torch.manual_seed(0)
    encoder = RNNEncoder(8, 2, cell=cell)
    lengths = torch.tensor([3, 0, 5, 2])
    flat = torch.randn(10, 8, requires_grad=True)
    want = encoder(flat, lengths)
    (want_grad,) = torch.autograd.grad(want.sum(), flat)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = encoder(flat, lengths)
    (got_grad,) = torch.autograd.grad(got.sum(), flat)
    assert got.dtype == torch.float32
    assert torch.equal(got, want) and torch.equal(got_grad, want_grad)
