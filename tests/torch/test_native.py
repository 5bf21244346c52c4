"""The LSTM and GRU loops in C (spacy_rnn.torch.native) against the PyTorch loops of
spacy_rnn.torch.loops, and how the library built with the package is found, checked and
skipped."""
import importlib.machinery
import shutil
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest
import torch

from spacy_rnn.torch import backend, native
from spacy_rnn.torch.encoder import RNNEncoder
from spacy_rnn.torch.layout import direction_rows, packed_layout
from spacy_rnn.torch.loops import GRUSteps, LSTMSteps

REPO = Path(__file__).parents[2]
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
has_compiler = shutil.which("cc") is not None or shutil.which("gcc") is not None
needs_c = pytest.mark.skipif(not native.available(), reason="the C library is not built here")


def _problem(hidden: int, lengths, seed: int = 0):
    torch.manual_seed(seed)
    layout = packed_layout(torch.tensor(lengths))
    n_rows = sum(layout.batch_sizes)
    projected = torch.randn(2, n_rows, 4 * hidden, requires_grad=True)
    w_hh = (torch.randn(2, hidden, 4 * hidden) * 0.4).requires_grad_()
    return layout, projected, w_hh


def _loop_lstm(layout, projected, w_hh, grad_states, grad_cells):
    """The PyTorch loops: states, cells and the gradient w.r.t. the projections."""
    projected.grad = None
    states, cells = LSTMSteps.apply(projected, w_hh, layout.batch_sizes, layout.previous)
    loss = (states * grad_states).sum() + (0 if grad_cells is None else (cells * grad_cells).sum())
    loss.backward()
    return states.detach(), cells.detach(), projected.grad


def _to_flat(packed, rows):
    """(D, N, X) per direction in packed order -> (N, D * X) in the row order ``rows`` gives."""
    n_dirs, n_rows, width = packed.shape
    flat = packed.new_empty((n_rows, n_dirs * width))
    for d in range(n_dirs):
        flat[rows[d], d * width:(d + 1) * width] = packed[d].detach()
    return flat


def _to_packed(flat, rows, width):
    """The inverse of :func:`_to_flat`."""
    return torch.stack([flat[rows[d], d * width:(d + 1) * width] for d in range(rows.shape[0])])


def _c_lstm(layout, projected, w_hh, grad_states, grad_cells):
    """The same from the C loops, which read the projections and the states' gradients and
    write the states and the gate gradients in the caller's row order (here the encoder's:
    the backward direction reversed within each sequence)."""
    rows = direction_rows(layout, 2)
    hidden = w_hh.shape[1]
    with torch.no_grad():
        states, cells, acts, merged = native.lstm_forward(_to_flat(projected, rows), w_hh, layout.batch_sizes, rows)
        d_pre, d_flat = native.lstm_backward(_to_flat(grad_states, rows), grad_cells, w_hh, acts, cells,
                                             layout.batch_sizes, rows)
    assert torch.equal(_to_packed(merged, rows, hidden), states)
    assert torch.equal(_to_packed(d_flat, rows, 4 * hidden), d_pre)
    return states, cells, d_pre


def _assert_close(got, want):
    for c_result, pytorch_result in zip(got, want):
        torch.testing.assert_close(c_result, pytorch_result, atol=2e-6, rtol=1e-5)


@pytest.mark.skipif(not has_compiler, reason="no C compiler: the package installs without the library")
def test_the_library_is_built_with_the_package():
    """Where a compiler exists, installing the package (pip install [-e] .) built the library
    next to its sources, and it loads: its functions and its source hash check out."""
    assert native.library_path() is not None and native.library_path().parent == native.HERE
    assert native.available() and native.problem() is None


@needs_c
@pytest.mark.parametrize("hidden", [1, 3, 16, 48, 50])  # 4H and H with and without a 16-column rest
@pytest.mark.parametrize("with_cell_grad", [False, True])
def test_c_loops_equal_pytorch_loops(hidden, with_cell_grad, threads):
    # 11 sequences: step batches of 11, 9, 6, 5, 1 rows (4-row blocks and leftovers), one empty
    layout, projected, w_hh = _problem(hidden, [5, 0, 2, 4, 1, 3, 2, 4, 3, 1, 2, 4])
    grad_states = torch.randn(2, projected.shape[1], hidden)
    grad_cells = torch.randn_like(grad_states) if with_cell_grad else None
    _assert_close(_c_lstm(layout, projected, w_hh, grad_states, grad_cells),
                  _loop_lstm(layout, projected, w_hh, grad_states, grad_cells))


@needs_c
@pytest.mark.parametrize("hidden", [1, 5, 16, 48, 50])
def test_c_gru_loops_equal_pytorch_loops(hidden, threads):
    torch.manual_seed(3)
    layout = packed_layout(torch.tensor([5, 0, 2, 4, 1, 3, 2, 4, 3, 1, 2, 4]))
    n_rows = sum(layout.batch_sizes)
    projected = torch.randn(2, n_rows, 3 * hidden, requires_grad=True)
    w_hh = (torch.randn(2, hidden, 3 * hidden) * 0.4).requires_grad_()
    b_hh = torch.randn(2, 1, 3 * hidden, requires_grad=True)
    grad_states = torch.randn(2, n_rows, hidden)
    states = GRUSteps.apply(projected, w_hh, b_hh, layout.batch_sizes, layout.previous)
    (states * grad_states).sum().backward()
    rows = direction_rows(layout, 2)
    with torch.no_grad():
        c_states, gates, rec_n, merged = native.gru_forward(_to_flat(projected, rows), w_hh, b_hh,
                                                            layout.batch_sizes, rows)
        d_proj, d_rec, d_flat = native.gru_backward(_to_flat(grad_states, rows), w_hh, gates, rec_n, c_states,
                                                    layout.batch_sizes, rows)
    assert torch.equal(_to_packed(merged, rows, hidden), c_states)
    assert torch.equal(_to_packed(d_flat, rows, 3 * hidden), d_proj)
    _assert_close((c_states, d_proj, d_rec.sum(1, keepdim=True)), (states.detach(), projected.grad, b_hh.grad))


@needs_c
def test_activations_stay_finite_for_large_inputs():
    """The exp approximation clamps its argument: saturated gates give 0/1, not NaN."""
    layout, projected, w_hh = _problem(4, [3, 2])
    with torch.no_grad():
        projected.mul_(1e4)
        rows = direction_rows(layout, 2)
        states, cells, acts, _ = native.lstm_forward(_to_flat(projected, rows), w_hh, layout.batch_sizes, rows)
    assert torch.isfinite(states).all() and torch.isfinite(cells).all()
    assert ((acts >= -1) & (acts <= 1)).all()
    torch.testing.assert_close(acts, torch.cat([projected[..., :8].sigmoid(), projected[..., 8:12].tanh(),
                                                projected[..., 12:].sigmoid()], -1), atol=1e-30, rtol=0)


@pytest.mark.parametrize("forced", ["torch", "loop"])
def test_forcing_torch_or_loop_keeps_all_c_code_out(forced, monkeypatch, fresh_loader):
    assert not native.usable(torch.zeros(2, dtype=torch.float64))
    monkeypatch.setenv("SPACY_RNN_BACKEND", forced)
    assert backend.choose("lstm", torch.zeros(2, 8), 64).backend == forced
    assert not backend.c_attention(torch.zeros(2), torch.zeros(2))
    assert not native._TRIED  # the library was not even loaded


@needs_c
def test_c_attention_follows_the_backend_rules(monkeypatch):
    x = torch.zeros(2, 3)
    assert backend.c_attention(x, x)
    assert not backend.c_attention(x.double(), x.double())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not backend.c_attention(x, x)
    monkeypatch.setenv("SPACY_RNN_BACKEND", "native")
    assert backend.c_attention(x, x)


@pytest.fixture
def fresh_loader(monkeypatch):
    """The loader as in a new process: nothing loaded or tried yet; returns a function that
    points it at another folder."""
    monkeypatch.setattr(native, "_LIBRARY", None)
    monkeypatch.setattr(native, "_PROBLEM", None)
    monkeypatch.setattr(native, "_TRIED", False)
    return lambda folder: monkeypatch.setattr(native, "HERE", folder)


def _sources(folder: Path) -> Path:
    """A package folder with the C sources and no library, as installed without a compiler."""
    for name in native.SOURCES:
        shutil.copy(native.HERE / name, folder / name)
    return folder


def test_without_the_library_one_warning_and_the_pytorch_loops_run(tmp_path, fresh_loader):
    """An install without a compiler: one warning that says what to do, then the PyTorch code."""
    fresh_loader(_sources(tmp_path))
    with pytest.warns(RuntimeWarning, match=r"C loops are not installed.*PyTorch code.*C compiler"):
        assert native.library() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning: the load is not retried
        assert not native.usable(torch.zeros(2))
        choice = backend.choose("lstm", torch.zeros(2, 8), 64)
        assert choice.backend == "loop" and "without the C loops" in choice.reason
        out = RNNEncoder(8, 1, cell="gru")(torch.randn(5, 8), torch.tensor([2, 3]))
    assert out.shape == (5, 8)


@pytest.mark.skipif(not has_compiler, reason="no C compiler")
def test_a_library_missing_a_function_is_refused(tmp_path, fresh_loader):
    source = tmp_path / "partial.c"
    source.write_text("void lstm_forward(void) {}\nvoid gru_forward(void) {}\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(tmp_path / f"_steps{SUFFIX}"), str(source)], check=True)
    fresh_loader(_sources(tmp_path))
    with pytest.warns(RuntimeWarning, match=r"lack the functions lstm_backward, gru_backward, additive_scores"):
        assert native.library() is None
    assert "lack the functions" in native.problem()


@needs_c
def test_a_stale_library_is_refused(tmp_path, fresh_loader):
    """A library built from other sources than those next to it (e.g. an in-place build
    older than the checkout) could take other arguments: it is not loaded."""
    _sources(tmp_path)
    shutil.copy(native.library_path(), tmp_path / native.library_path().name)
    with open(tmp_path / "steps.c", "a") as source:
        source.write("/* changed */\n")
    fresh_loader(tmp_path)
    with pytest.warns(RuntimeWarning, match="built from other sources"):
        assert native.library() is None


def test_a_damaged_library_file_is_refused(tmp_path, fresh_loader):
    (_sources(tmp_path) / f"_steps{SUFFIX}").write_bytes(b"not a shared library")
    fresh_loader(tmp_path)
    with pytest.warns(RuntimeWarning, match="do not load"):
        assert native.library() is None


def test_the_avx2_build_loads_only_where_torch_reports_avx2(tmp_path, monkeypatch):
    for name in native.LIBRARY_NAMES:
        (tmp_path / f"{name}{SUFFIX}").write_bytes(b"")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert native.library_path(tmp_path).name == f"_steps_avx2{SUFFIX}"
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "DEFAULT")
    assert native.library_path(tmp_path).name == f"_steps{SUFFIX}"


@needs_c
def test_threads_racing_on_first_use_get_one_library(fresh_loader):
    fresh_loader(native.HERE)
    results = []
    threads = [threading.Thread(target=lambda: results.append(native.library())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and results[0] is not None and all(lib is results[0] for lib in results)


@pytest.mark.slow
def test_setup_builds_without_a_compiler(tmp_path):
    """``setup.py build_ext`` with a compiler that does not exist succeeds, without the library
    (what ``pip install`` does on a machine without a C compiler)."""
    env = {**__import__("os").environ, "CC": str(tmp_path / "no-such-cc")}
    result = subprocess.run([sys.executable, "setup.py", "build_ext", "--build-lib", str(tmp_path / "lib"),
                             "--build-temp", str(tmp_path / "tmp")], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "no-such-cc" in result.stderr and not list((tmp_path / "lib").rglob("*.so"))


@needs_c
@pytest.mark.parametrize("sizes", [[3, 2], [2, 3, 1], [3, 3, 0], []])
def test_batch_sizes_that_do_not_fit_the_rows_are_refused(sizes):
    """The C loops index by the batch sizes: ones that would run outside the tensors raise."""
    projected, w_hh = torch.zeros(6, 8), torch.zeros(1, 2, 8)
    with pytest.raises(ValueError, match="do not describe 6 packed rows"):
        native.lstm_forward(projected, w_hh, sizes, torch.arange(6).unsqueeze(0))


@needs_c
def test_backward_uses_the_library_of_its_forward_pass(monkeypatch):
    """Forcing another backend between forward and backward does not break the backward."""
    encoder = RNNEncoder(8, 1, cell="lstm")
    flat = torch.randn(7, 8, requires_grad=True)
    reference = flat.detach().clone().requires_grad_(True)
    encoder.encode_with("torch", reference, torch.tensor([3, 4])).sum().backward()
    out = encoder.encode_with("native", flat, torch.tensor([3, 4]))
    monkeypatch.setenv("SPACY_RNN_BACKEND", "loop")
    out.sum().backward()
    torch.testing.assert_close(flat.grad, reference.grad, rtol=1e-4, atol=1e-5)


@needs_c
def test_shapes_that_do_not_match_are_refused():
    """A bias shared by both directions (which broadcasting would accept) would make the C loop
    read past its end: refused with the shapes named."""
    projected, w_hh, rows = torch.zeros(3, 12), torch.zeros(2, 2, 6), torch.arange(3).repeat(2, 1)
    sizes = [2, 1]
    with pytest.raises(ValueError, match=r"b_hh has shape \(1, 1, 6\), the C loops need \(2, 1, 6\)"):
        native.gru_forward(projected, w_hh, torch.zeros(1, 1, 6), sizes, rows)
    with pytest.raises(ValueError, match=r"w_hh has shape \(2, 3, 8\)"):
        native.lstm_forward(torch.zeros(3, 16), torch.zeros(2, 3, 8), sizes, rows)
    with pytest.raises(ValueError, match=r"projections of shape \(2, 3, 8\): the C loops need \(N, D \* 4H\)"):
        native.lstm_forward(torch.zeros(2, 3, 8), torch.zeros(2, 2, 8), sizes, rows)


@needs_c
def test_nan_inputs_give_nan_outputs():
    layout, projected, w_hh = _problem(3, [2, 1])
    rows = direction_rows(layout, 2)
    with torch.no_grad():
        projected[0, 0, 0] = float("nan")
        states, cells, _, _ = native.lstm_forward(_to_flat(projected, rows), w_hh, layout.batch_sizes, rows)
    assert torch.isnan(states[0, 0]).any() and torch.isnan(cells[0, 0]).any()
    assert torch.isfinite(states[1]).all()  # the other direction is untouched


def _rows_problem(n_gates: int, hidden: int, lengths):
    """Flat-order projections (N, D * G) and the rows of both directions."""
    torch.manual_seed(1)
    layout = packed_layout(torch.tensor(lengths))
    rows = direction_rows(layout, 2)
    return layout, rows, torch.randn(rows.shape[1], 2 * n_gates * hidden)


@needs_c
@pytest.mark.parametrize("bad", [-1, 7, 0])
def test_rows_that_are_not_a_permutation_are_refused(bad):
    """Out of range, or a row twice (another never written): the loops would read or write
    outside the tensors, or leave rows of the output unwritten."""
    layout, rows, flat = _rows_problem(4, 2, [4, 3])
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
    layout, rows, flat = _rows_problem(4, 2, [4, 3])
    w_hh = torch.zeros(2, 2, 8)
    with pytest.raises(ValueError, match="projected is torch.bfloat16 on cpu; the C loops need float32"):
        native.lstm_forward(flat.bfloat16(), w_hh, layout.batch_sizes, rows)
    with pytest.raises(ValueError, match="w_hh is torch.float16"):
        native.lstm_forward(flat, w_hh.half(), layout.batch_sizes, rows)
    _, cells, acts, merged = native.lstm_forward(flat, w_hh, layout.batch_sizes, rows)
    with pytest.raises(ValueError, match="grad_states is torch.bfloat16"):
        native.lstm_backward(merged.bfloat16(), None, w_hh, acts, cells, layout.batch_sizes, rows)
    with pytest.raises(ValueError, match="b_hh is torch.float16"):
        native.gru_forward(flat[:, :12], torch.zeros(2, 2, 6), torch.zeros(2, 1, 6).half(), layout.batch_sizes,
                           rows)
    with pytest.raises(ValueError, match="leave no hidden units"):
        native.lstm_forward(torch.zeros(7, 0), torch.zeros(2, 0, 0), layout.batch_sizes, rows)
