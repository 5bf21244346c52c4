"""The LSTM and GRU loops in C (spacy_rnn.torch.native) against the PyTorch loops of
spacy_rnn.torch.fused_lstm and fused_gru, and how the library is built, cached and skipped."""
import shutil

import pytest
import torch

from spacy_rnn.torch import native
from spacy_rnn.torch.fused import packed_layout
from spacy_rnn.torch.fused_gru import GRUSteps, gru_states
from spacy_rnn.torch.fused_lstm import LSTMSteps, lstm_states

needs_c = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                             reason="no C compiler")


def _problem(hidden: int, lengths, seed: int = 0):
    torch.manual_seed(seed)
    layout = packed_layout(torch.tensor(lengths))
    n_rows = sum(layout.batch_sizes)
    projected = torch.randn(2, n_rows, 4 * hidden, requires_grad=True)
    w_hh = (torch.randn(2, hidden, 4 * hidden) * 0.4).requires_grad_()
    return layout, projected, w_hh


def _run(layout, projected, w_hh, grad_states, grad_cells):
    projected.grad = w_hh.grad = None
    states, cells = LSTMSteps.apply(projected, w_hh, layout.batch_sizes, layout.previous)
    loss = (states * grad_states).sum() + (0 if grad_cells is None else (cells * grad_cells).sum())
    loss.backward()
    return states, cells, projected.grad, w_hh.grad


@needs_c
def test_the_library_builds_where_there_is_a_compiler():
    assert native.library() is not None


@needs_c
def test_without_openmp_the_build_without_it_is_used(tmp_path, monkeypatch):
    """A compiler without OpenMP (here: -fopenmp rejected) still gives the C loops."""
    monkeypatch.setenv("SPACY_RNN_CACHE", str(tmp_path))
    real_flags = native.compile_flags
    monkeypatch.setattr(native, "compile_flags",
                        lambda openmp=True: real_flags(openmp) + (["-fno-such-flag"] if openmp else []))
    lib = native._load()
    assert hasattr(lib, "gru_backward")
    assert [p.name.split("-")[1] for p in tmp_path.iterdir()] == ["serial"]


def _assert_c_equals_pytorch(monkeypatch, run):
    """Run ``run()`` with the C loops and with the PyTorch loops; assert all results agree
    within 2e-6 and return the PyTorch loops' results."""
    monkeypatch.setenv("SPACY_RNN_NATIVE", "1")
    got = run()
    monkeypatch.setenv("SPACY_RNN_NATIVE", "0")
    want = run()
    for c_result, pytorch_result in zip(got, want):
        torch.testing.assert_close(c_result, pytorch_result, atol=2e-6, rtol=1e-5)
    return want


@needs_c
@pytest.mark.parametrize("hidden", [1, 3, 16, 48, 50])  # 4H and H with and without a 16-column rest
@pytest.mark.parametrize("with_cell_grad", [False, True])
def test_c_loops_equal_pytorch_loops(hidden, with_cell_grad, threads, monkeypatch):
    # 11 sequences: step batches of 11, 9, 6, 5, 1 rows (4-row blocks and leftovers), one empty
    layout, projected, w_hh = _problem(hidden, [5, 0, 2, 4, 1, 3, 2, 4, 3, 1, 2, 4])
    grad_states = torch.randn(2, projected.shape[1], hidden)
    grad_cells = torch.randn_like(grad_states) if with_cell_grad else None
    _assert_c_equals_pytorch(monkeypatch, lambda: _run(layout, projected, w_hh, grad_states, grad_cells))


def _run_gru(layout, projected, w_hh, b_hh, grad_states):
    projected.grad = w_hh.grad = b_hh.grad = None
    states = GRUSteps.apply(projected, w_hh, b_hh, layout.batch_sizes, layout.previous)
    (states * grad_states).sum().backward()
    return states, projected.grad, w_hh.grad, b_hh.grad


@needs_c
@pytest.mark.parametrize("hidden", [1, 5, 16, 48, 50])
def test_c_gru_loops_equal_pytorch_loops(hidden, threads, monkeypatch):
    torch.manual_seed(3)
    layout = packed_layout(torch.tensor([5, 0, 2, 4, 1, 3, 2, 4, 3, 1, 2, 4]))
    n_rows = sum(layout.batch_sizes)
    projected = torch.randn(2, n_rows, 3 * hidden, requires_grad=True)
    w_hh = (torch.randn(2, hidden, 3 * hidden) * 0.4).requires_grad_()
    b_hh = torch.randn(2, 1, 3 * hidden, requires_grad=True)
    grad_states = torch.randn(2, n_rows, hidden)
    want = _assert_c_equals_pytorch(monkeypatch, lambda: _run_gru(layout, projected, w_hh, b_hh, grad_states))
    monkeypatch.setenv("SPACY_RNN_NATIVE", "1")
    with torch.no_grad():
        torch.testing.assert_close(gru_states(projected, w_hh, b_hh, layout.batch_sizes), want[0],
                                   atol=2e-6, rtol=1e-5)


@needs_c
def test_c_inference_loop_equals_the_training_loop(monkeypatch):
    layout, projected, w_hh = _problem(7, [6, 2, 6, 3])
    with torch.no_grad():
        states, cells = lstm_states(projected, w_hh, layout.batch_sizes)
    monkeypatch.setenv("SPACY_RNN_NATIVE", "0")
    want = LSTMSteps.apply(projected, w_hh, layout.batch_sizes, layout.previous)
    torch.testing.assert_close((states, cells), tuple(x.detach() for x in want), atol=2e-6, rtol=1e-5)


@needs_c
def test_activations_stay_finite_for_large_inputs():
    """The exp approximation clamps its argument: saturated gates give 0/1, not NaN."""
    layout, projected, w_hh = _problem(4, [3, 2])
    with torch.no_grad():
        projected.mul_(1e4)
        states, cells, acts = native.lstm_forward(projected, w_hh, layout.batch_sizes)
    assert torch.isfinite(states).all() and torch.isfinite(cells).all()
    assert ((acts >= -1) & (acts <= 1)).all()
    torch.testing.assert_close(acts, torch.cat([projected[..., :8].sigmoid(), projected[..., 8:12].tanh(),
                                                projected[..., 12:].sigmoid()], -1), atol=1e-30, rtol=0)


def test_float64_and_disabled_runs_take_the_pytorch_loops(monkeypatch):
    assert not native.usable(torch.zeros(2, dtype=torch.float64))
    monkeypatch.setenv("SPACY_RNN_NATIVE", "0")
    assert native.library() is None and not native.usable(torch.zeros(2))


@needs_c
def test_build_is_cached_by_source_and_flags(tmp_path, monkeypatch):
    monkeypatch.setenv("SPACY_RNN_CACHE", str(tmp_path))
    first = native.build()
    stamp = first.stat().st_mtime_ns
    assert native.build() == first and first.stat().st_mtime_ns == stamp
    assert first.parent == tmp_path and [p.name for p in tmp_path.iterdir()] == [first.name]


def test_a_failed_build_warns_once_and_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("SPACY_RNN_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setattr(native, "_LIBRARY", None)
    monkeypatch.setattr(native, "_TRIED", False)
    with pytest.warns(RuntimeWarning, match="could not build or load the C time-step loops.*"
                                            "no-such-compiler.*SPACY_RNN_CACHE.*SPACY_RNN_NATIVE=0"):
        assert native.library() is None
    assert not native.usable(torch.zeros(2))  # no second warning: the build is not retried
    layout, projected, w_hh = _problem(3, [3, 1])
    states, _ = LSTMSteps.apply(projected, w_hh, layout.batch_sizes, layout.previous)
    assert states.shape == (2, 4, 3)


@needs_c
@pytest.mark.parametrize("sizes", [[3, 2], [2, 3, 1], [3, 3, 0], []])
def test_batch_sizes_that_do_not_fit_the_rows_are_refused(sizes):
    """The C loops index by the batch sizes: ones that would run outside the tensors raise."""
    projected, w_hh = torch.zeros(1, 6, 8), torch.zeros(1, 2, 8)
    with pytest.raises(ValueError, match="do not describe 6 packed rows"):
        native.lstm_forward(projected, w_hh, sizes)


@needs_c
def test_backward_uses_the_library_of_its_forward_pass(monkeypatch):
    """Turning the C loops off between forward and backward does not break the backward."""
    layout, projected, w_hh = _problem(4, [3, 2, 2])
    assert native.usable(projected)
    states, _ = LSTMSteps.apply(projected, w_hh, layout.batch_sizes, layout.previous)
    monkeypatch.setenv("SPACY_RNN_NATIVE", "0")
    states.sum().backward()
    assert projected.grad is not None and torch.isfinite(projected.grad).all()


@needs_c
def test_shapes_that_do_not_match_are_refused():
    """A bias shared by both directions (which broadcasting would accept) would make the C loop
    read past its end: refused with the shapes named."""
    projected, w_hh = torch.zeros(2, 3, 6), torch.zeros(2, 2, 6)
    sizes = [2, 1]
    with pytest.raises(ValueError, match=r"b_hh has shape \(1, 1, 6\), the C loops need \(2, 1, 6\)"):
        native.gru_forward(projected, w_hh, torch.zeros(1, 1, 6), sizes)
    with pytest.raises(ValueError, match=r"w_hh has shape \(2, 3, 8\)"):
        native.lstm_forward(torch.zeros(2, 3, 8), torch.zeros(2, 3, 8), sizes)


@needs_c
def test_nan_inputs_give_nan_outputs():
    layout, projected, w_hh = _problem(3, [2, 1])
    with torch.no_grad():
        projected[0, 0, 0] = float("nan")
        states, cells, _ = native.lstm_forward(projected, w_hh, layout.batch_sizes)
    assert torch.isnan(states[0, 0]).any() and torch.isnan(cells[0, 0]).any()
    assert torch.isfinite(states[1]).all()  # the other direction is untouched


@needs_c
def test_a_damaged_cached_library_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("SPACY_RNN_CACHE", str(tmp_path))
    path = native.build()
    path.write_bytes(b"not a shared library")
    lib = native._load()
    assert hasattr(lib, "lstm_forward") and path.read_bytes()[:4] != b"not "


@needs_c
def test_cc_may_carry_arguments_and_old_builds_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("SPACY_RNN_CACHE", str(tmp_path))
    (tmp_path / "steps-openmp-0000000000000000.so").write_bytes(b"stale")
    monkeypatch.setenv("CC", f"env {native.compiler()[0]}")
    path = native.build()
    assert native.compiler()[0] == "env"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def _rows_problem(n_gates: int, hidden: int, lengths):
    """Flat-order projections (N, D * G), the rows of both directions, and the same
    projections in packed order (D, N, G)."""
    from spacy_rnn.torch.flat_layers import direction_rows

    torch.manual_seed(1)
    layout = packed_layout(torch.tensor(lengths))
    rows = direction_rows(layout, 2)
    width = n_gates * hidden
    flat = torch.randn(rows.shape[1], 2 * width)
    packed = torch.stack([flat[rows[d], d * width:(d + 1) * width] for d in range(2)])
    return layout, rows, flat, packed


def _to_packed(flat_rows, rows, width):
    return torch.stack([flat_rows[rows[d], d * width:(d + 1) * width] for d in range(2)])


@needs_c
def test_lstm_loops_in_the_callers_row_order_equal_the_packed_ones(threads):
    """With `rows` the C loops gather the projections and the states' gradients and scatter
    the states and the gate gradients themselves: same numbers as on packed rows."""
    hidden = 5
    layout, rows, flat, packed = _rows_problem(4, hidden, [3, 0, 5, 1, 5, 2])
    w_hh = torch.randn(2, hidden, 4 * hidden) * 0.4
    states, cells, acts = native.lstm_forward(packed, w_hh, layout.batch_sizes)
    got = native.lstm_forward(flat, w_hh, layout.batch_sizes, rows)
    for want, have in zip((states, cells, acts), got):
        assert torch.equal(want, have)
    assert torch.equal(_to_packed(got[3], rows, hidden), states)
    grad = torch.randn(rows.shape[1], 2 * hidden)
    d_pre = native.lstm_backward(_to_packed(grad, rows, hidden), None, w_hh, acts, cells, layout.batch_sizes)
    got_pre, d_flat = native.lstm_backward(grad, None, w_hh, acts, cells, layout.batch_sizes, rows)
    assert torch.equal(got_pre, d_pre)
    assert torch.equal(_to_packed(d_flat, rows, 4 * hidden), d_pre)


@needs_c
def test_gru_loops_in_the_callers_row_order_equal_the_packed_ones(threads):
    hidden = 5
    layout, rows, flat, packed = _rows_problem(3, hidden, [3, 0, 5, 1, 5, 2])
    w_hh, b_hh = torch.randn(2, hidden, 3 * hidden) * 0.4, torch.randn(2, 1, 3 * hidden)
    want = native.gru_forward(packed, w_hh, b_hh, layout.batch_sizes)
    got = native.gru_forward(flat, w_hh, b_hh, layout.batch_sizes, rows)
    for a, b in zip(want, got):
        assert torch.equal(a, b)
    assert torch.equal(_to_packed(got[3], rows, hidden), want[0])
    grad = torch.randn(rows.shape[1], 2 * hidden)
    states, gates, rec_n = want
    d_proj, d_rec = native.gru_backward(_to_packed(grad, rows, hidden), w_hh, gates, rec_n, states,
                                        layout.batch_sizes)
    got_proj, got_rec, d_flat = native.gru_backward(grad, w_hh, gates, rec_n, states, layout.batch_sizes, rows)
    assert torch.equal(got_proj, d_proj) and torch.equal(got_rec, d_rec)
    assert torch.equal(_to_packed(d_flat, rows, 3 * hidden), d_proj)


@needs_c
@pytest.mark.parametrize("bad", [-1, 7, 0])
def test_rows_that_are_not_a_permutation_are_refused(bad):
    """Out of range, or a row twice (another never written): the loops would read or write
    outside the tensors, or leave rows of the output unwritten."""
    layout, rows, flat, _ = _rows_problem(4, 2, [4, 3])
    rows[1, 2] = bad
    with pytest.raises(ValueError, match=r"each direction's rows must be a permutation of 0..6"):
        native.lstm_forward(flat, torch.zeros(2, 2, 8), layout.batch_sizes, rows)
    with pytest.raises(ValueError, match=r"rows has shape \(2, 6\), the C loops need \(2, 7\)"):
        native.gru_forward(flat[:, :12], torch.zeros(2, 2, 6), torch.zeros(2, 1, 6), layout.batch_sizes,
                           rows[:, :6])
    with pytest.raises(ValueError, match="rows must be an int64 tensor on the CPU, got torch.int32"):
        native.lstm_forward(flat, torch.zeros(2, 2, 8), layout.batch_sizes, rows.int())


@needs_c
def test_tensors_that_are_not_float32_are_refused():
    """The loops read and write 4-byte floats: a bfloat16 or float16 tensor would be read past
    its end."""
    layout, rows, flat, packed = _rows_problem(4, 2, [4, 3])
    w_hh = torch.zeros(2, 2, 8)
    with pytest.raises(ValueError, match="projected is torch.bfloat16 on cpu; the C loops need float32"):
        native.lstm_forward(flat.bfloat16(), w_hh, layout.batch_sizes, rows)
    with pytest.raises(ValueError, match="w_hh is torch.float16"):
        native.lstm_forward(packed, w_hh.half(), layout.batch_sizes)
    states, cells, acts = native.lstm_forward(packed, w_hh, layout.batch_sizes)
    with pytest.raises(ValueError, match="grad_states is torch.bfloat16"):
        native.lstm_backward(states.bfloat16(), None, w_hh, acts, cells, layout.batch_sizes)
    with pytest.raises(ValueError, match="b_hh is torch.float16"):
        native.gru_forward(flat[:, :12], torch.zeros(2, 2, 6), torch.zeros(2, 1, 6).half(), layout.batch_sizes,
                           rows)
    with pytest.raises(ValueError, match="leave no hidden units"):
        native.lstm_forward(torch.zeros(2, 7, 0), torch.zeros(2, 0, 0), layout.batch_sizes)
