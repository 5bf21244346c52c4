"""The LSTM and GRU time-step loops in C (``steps.c``) and additive attention scores
(``attention.c``), compiled when the package is installed (``setup.py``).

The PyTorch loops of :mod:`..loops` run a dozen small operations per time step; on CPU their
dispatch, and PyTorch's batched products of tiny matrices, cost more than the arithmetic.
``steps.c`` runs all directions' loops of a layer in one call: the small products as
register-blocked loops, the gate activations in one pass with an exp approximation that the
compiler vectorizes (sigmoid and tanh within 1e-7 and 2e-7 of float64). The tensors that cross
to and from a layer are in the caller's row order, the loops gathering and scattering each
direction's rows themselves (``rows``, from :func:`..layout.direction_rows`; :mod:`..recurrence`).
``attention.c`` computes Bahdanau attention's scores and their gradients without PyTorch's
(B, T, S, A) intermediate tensors (:mod:`..attention`).

The library is a file of this package directory, built at install time in two variants
(``_steps_avx2``: AVX2 and FMA, loaded where torch reports AVX2 or better; ``_steps``: the
compiler's defaults), with OpenMP where the compiler has it (then the two directions of a
layer run on two threads of torch's own OpenMP runtime when torch has 2 or more threads, and
the attention scores share the sentences among torch's threads). It is loaded only from
there, and only if it exports every function below and was built from the C sources next to
it (their hash, compiled into the library). Where it is missing (no compiler at install
time), incomplete or stale, the PyTorch code runs instead (same results up to float
rounding), with one warning per process. Whether the C code runs is decided in
:mod:`..backend` alone (``SPACY_RNN_BACKEND=torch`` or ``=loop`` keeps all of it out, the
attention scores included, and the library is then not even loaded).
"""
import ctypes
import hashlib
import importlib.machinery
import threading
import warnings
from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

HERE = Path(__file__).parent
SOURCES = ("steps.c", "attention.c", "approx.h")  # in the order of the source hash
LIBRARY_NAMES = ("_steps_avx2", "_steps")
# Every function the wrappers below call; a library that lacks one is not loaded.
REQUIRED = ("lstm_forward", "lstm_backward", "gru_forward", "gru_backward", "additive_scores",
            "additive_scores_backward", "spacy_rnn_source_hash")
_LIBRARY: Optional[ctypes.CDLL] = None
_PROBLEM: Optional[str] = None
_TRIED = False
_LOCK = threading.Lock()


def source_hash(folder: Path = HERE) -> str:
    """The sha256 of the C sources in ``folder`` (what ``setup.py`` compiles into the library)."""
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()


def library_path(folder: Path = HERE) -> Optional[Path]:
    """The built library this CPU should load from ``folder``, or None if none is there: the
    AVX2 variant where torch reports AVX2 or better, else the portable one."""
    names = LIBRARY_NAMES if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512") \
        else LIBRARY_NAMES[1:]
    for name in names:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            if (folder / f"{name}{suffix}").is_file():
                return folder / f"{name}{suffix}"
    return None


def library() -> Optional[ctypes.CDLL]:
    """The loaded C library (loading it on first call); None if unusable, with one warning
    per process saying why."""
    global _LIBRARY, _PROBLEM, _TRIED
    with _LOCK:  # threads racing on first use all get the same library
        if not _TRIED:
            _TRIED = True
            _LIBRARY, _PROBLEM = load(HERE)
            if _PROBLEM:
                warnings.warn(f"spacy-rnn: {_PROBLEM}; using the slower PyTorch code instead. Reinstall "
                              f"spacy-rnn where a C compiler (cc, gcc or clang) is available to build "
                              f"them; SPACY_RNN_BACKEND=loop silences this.", RuntimeWarning, stacklevel=3)
    return _LIBRARY


def load(folder: Path) -> Tuple[Optional[ctypes.CDLL], Optional[str]]:
    """Load and check the library built in ``folder``: (library, None), or (None, the problem)."""
    path = library_path(folder)
    if path is None:
        return None, f"the compiled C loops are not installed (no _steps library in {folder})"
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as err:
        return None, f"the compiled C loops in {path} do not load ({err})"
    missing = [name for name in REQUIRED if not hasattr(lib, name)]
    if missing:
        return None, f"the compiled C loops in {path} lack the functions {', '.join(missing)}"
    lib.spacy_rnn_source_hash.restype = ctypes.c_char_p
    if lib.spacy_rnn_source_hash().decode() != source_hash(folder):
        return None, (f"the compiled C loops in {path} were built from other sources than those next to "
                      f"them (a stale build)")
    return _declare(lib), None


def available() -> bool:
    """Whether the C library is enabled and loaded (loading it on first call)."""
    return library() is not None


def problem() -> Optional[str]:
    """Why the C library is not available, or None if it is."""
    return None if library() is not None else _PROBLEM


def _loaded() -> ctypes.CDLL:
    """The loaded library (a backward pass runs on the library its forward pass used)."""
    lib = _LIBRARY if _LIBRARY is not None else library()
    if lib is None:
        raise RuntimeError(f"the C time-step loops are not available: {problem()}")
    return lib


def usable(*tensors: torch.Tensor) -> bool:
    """Whether the C code can take these tensors (float32, on CPU) and the library is
    loaded (loading it on first call)."""
    if any(t.dtype != torch.float32 or t.device.type != "cpu" for t in tensors):
        return False
    return library() is not None


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    for name, n_pointers in (("lstm_forward", 7), ("lstm_backward", 8), ("gru_forward", 8),
                             ("gru_backward", 9)):
        function = getattr(lib, name)
        function.argtypes = [i64, i64, i64, i64, ptr, ptr] + [ptr] * n_pointers
        function.restype = None
    lib.additive_scores.argtypes = [i64] * 4 + [ptr] * 5
    lib.additive_scores_backward.argtypes = [i64] * 4 + [ptr] * 8
    lib.additive_scores.restype = lib.additive_scores_backward.restype = None
    return lib


def _ptr(t: Optional[torch.Tensor]):
    return None if t is None else ctypes.c_void_p(t.data_ptr())


def _check_shapes(**tensors) -> None:
    """Raise ValueError unless each tensor has the shape given with it: name=(tensor, shape).
    The C loops index by these shapes, so a mismatch would read or write out of bounds."""
    for name, (tensor, shape) in tensors.items():
        if tensor is not None and tuple(tensor.shape) != tuple(shape):
            raise ValueError(f"{name} has shape {tuple(tensor.shape)}, the C loops need {tuple(shape)}")


def _sizes_checked(batch_sizes: Sequence[int], n_rows: int) -> torch.Tensor:
    """The per-step batch sizes as the int64 tensor the C loops read, after checking what
    they rely on to stay inside the tensors: positive, non-increasing, summing to N."""
    sizes = [int(size) for size in batch_sizes]
    ok = bool(sizes) and sum(sizes) == n_rows and sizes[-1] > 0 and \
        all(later <= earlier for earlier, later in zip(sizes, sizes[1:]))
    if not ok:
        raise ValueError(f"batch sizes {sizes} do not describe {n_rows} packed rows: they must be "
                         f"positive, non-increasing and sum to the number of rows")
    return torch.tensor(sizes, dtype=torch.int64)


def _rows_checked(rows: torch.Tensor, n_dirs: int, n_rows: int) -> torch.Tensor:
    """``rows`` (D, N) as the contiguous int64 tensor the C loops read, after checking that
    each direction's row is a permutation of 0..N-1 (the loops read and write those rows,
    each once)."""
    _check_shapes(rows=(rows, (n_dirs, n_rows)))
    if rows.dtype != torch.int64 or rows.device.type != "cpu":
        raise ValueError(f"rows must be an int64 tensor on the CPU, got {rows.dtype} on {rows.device}")
    if not _permutations(rows.numpy(), n_rows):
        raise ValueError(f"each direction's rows must be a permutation of 0..{n_rows - 1}: every row read "
                         f"and written once")
    return rows.contiguous()


def _permutations(rows: np.ndarray, n_rows: int) -> bool:
    """Whether each row of ``rows`` (D, N) holds every index 0..N-1 once."""
    if rows.size and (rows.min() < 0 or rows.max() >= n_rows):
        return False
    seen = np.zeros(rows.shape, dtype=bool)
    seen[np.arange(rows.shape[0])[:, None], rows] = True
    return bool(seen.all())


def _check_float32(**tensors) -> None:
    """Raise ValueError unless each tensor given (None: skipped) is float32 on the CPU: the C
    loops read and write 4-byte floats in host memory."""
    for name, tensor in tensors.items():
        if tensor is not None and (tensor.dtype != torch.float32 or tensor.device.type != "cpu"):
            raise ValueError(f"{name} is {tensor.dtype} on {tensor.device}; the C loops need float32 "
                             f"on the CPU")


def _projected_shape(projected: torch.Tensor, rows: torch.Tensor, n_gates: int) -> Tuple:
    """(D, N, H) of (N, D * n_gates * H) input projections and (D, N) ``rows``."""
    if projected.dim() != 2:
        raise ValueError(f"projections of shape {tuple(projected.shape)}: the C loops need (N, D * {n_gates}H)")
    shape = rows.shape[0], projected.shape[0], projected.shape[-1] // (n_gates * max(rows.shape[0], 1))
    if shape[2] < 1:
        raise ValueError(f"projections of shape {tuple(projected.shape)} leave no hidden units")
    return shape


def lstm_forward(projected: torch.Tensor, w_hh: torch.Tensor, batch_sizes: Sequence[int],
                 rows: torch.Tensor):
    """(N, D * 4H) input projections (both biases in), (D, H, 4H) recurrent weights, the
    per-step batch sizes and ``rows`` (D, N): direction d's packed row r is row ``rows[d, r]``
    of the projections -> (D, N, H) hidden states, (D, N, H) cell states and the (D, N, 4H)
    gate activations (input, forget, cell candidate, output), in packed order, and the hidden
    states in the projections' row order, (N, D * H)."""
    _check_float32(projected=projected, w_hh=w_hh)
    projected, w_hh = projected.contiguous(), w_hh.contiguous()
    n_dirs, n_rows, hidden = _projected_shape(projected, rows, 4)
    _check_shapes(projected=(projected, (n_rows, n_dirs * 4 * hidden)), w_hh=(w_hh, (n_dirs, hidden, 4 * hidden)))
    batch_sizes, rows = _sizes_checked(batch_sizes, n_rows), _rows_checked(rows, n_dirs, n_rows)
    states, cells = (projected.new_empty((n_dirs, n_rows, hidden)) for _ in range(2))
    acts = projected.new_empty((n_dirs, n_rows, 4 * hidden))
    merged = projected.new_empty((n_rows, n_dirs * hidden))
    zeros = projected.new_zeros(int(batch_sizes[0]) * hidden)
    _loaded().lstm_forward(n_dirs, n_rows, hidden, batch_sizes.numel(), _ptr(batch_sizes), _ptr(rows),
                           _ptr(projected), _ptr(w_hh), _ptr(states), _ptr(cells), _ptr(acts), _ptr(zeros),
                           _ptr(merged))
    return states, cells, acts, merged


def lstm_backward(grad_states: torch.Tensor, grad_cells: Optional[torch.Tensor], w_hh: torch.Tensor,
                  acts: torch.Tensor, cells: torch.Tensor, batch_sizes: Sequence[int], rows: torch.Tensor):
    """Gradient w.r.t. the gate pre-activations, (D, N, 4H) in packed order and (N, D * 4H) in
    the order of ``rows``, from the gradients w.r.t. the hidden states, (N, D * H) in the order
    of ``rows``, and, if not None, the (D, N, H) cell states, with ``acts`` and ``cells`` from
    :func:`lstm_forward`."""
    _check_float32(grad_states=grad_states, grad_cells=grad_cells, w_hh=w_hh, acts=acts, cells=cells)
    n_dirs, n_rows, hidden = cells.shape
    _check_shapes(grad_states=(grad_states, (n_rows, n_dirs * hidden)), grad_cells=(grad_cells, cells.shape), w_hh=(w_hh, (n_dirs, hidden, 4 * hidden)),
                  acts=(acts, (n_dirs, n_rows, 4 * hidden)))
    batch_sizes, rows = _sizes_checked(batch_sizes, n_rows), _rows_checked(rows, n_dirs, n_rows)
    grad_states, acts, cells = grad_states.contiguous(), acts.contiguous(), cells.contiguous()
    grad_cells = None if grad_cells is None else grad_cells.contiguous()
    w_t = w_hh.transpose(1, 2).contiguous()
    d_pre = torch.empty_like(acts)
    d_flat = acts.new_empty((n_rows, n_dirs * 4 * hidden))
    work = acts.new_empty(n_dirs * (3 * int(batch_sizes[0]) + n_rows) * hidden)
    _loaded().lstm_backward(n_dirs, n_rows, hidden, batch_sizes.numel(), _ptr(batch_sizes), _ptr(rows),
                            _ptr(w_t), _ptr(acts), _ptr(cells), _ptr(grad_states), _ptr(grad_cells), _ptr(d_pre),
                            _ptr(work), _ptr(d_flat))
    return d_pre, d_flat


def gru_forward(projected: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor,
                batch_sizes: Sequence[int], rows: torch.Tensor):
    """(N, D * 3H) input projections (input bias in), (D, H, 3H) recurrent weights, (D, 1, 3H)
    recurrent bias -> (D, N, H) hidden states, the (D, N, 3H) gates (reset, update, candidate)
    and the (D, N, H) recurrent products of the candidate, h W_n + b_n, in packed order, and
    the hidden states in the projections' row order (``rows`` as in :func:`lstm_forward`)."""
    _check_float32(projected=projected, w_hh=w_hh, b_hh=b_hh)
    projected, w_hh, b_hh = projected.contiguous(), w_hh.contiguous(), b_hh.contiguous()
    n_dirs, n_rows, hidden = _projected_shape(projected, rows, 3)
    _check_shapes(projected=(projected, (n_rows, n_dirs * 3 * hidden)),
                  w_hh=(w_hh, (n_dirs, hidden, 3 * hidden)), b_hh=(b_hh, (n_dirs, 1, 3 * hidden)))
    batch_sizes, rows = _sizes_checked(batch_sizes, n_rows), _rows_checked(rows, n_dirs, n_rows)
    states, rec_n = (projected.new_empty((n_dirs, n_rows, hidden)) for _ in range(2))
    gates = projected.new_empty((n_dirs, n_rows, 3 * hidden))
    merged = projected.new_empty((n_rows, n_dirs * hidden))
    work = projected.new_empty(n_dirs * (4 * int(batch_sizes[0]) + 3 * n_rows) * hidden)
    _loaded().gru_forward(n_dirs, n_rows, hidden, batch_sizes.numel(), _ptr(batch_sizes), _ptr(rows),
                          _ptr(projected), _ptr(w_hh), _ptr(b_hh), _ptr(states), _ptr(gates), _ptr(rec_n),
                          _ptr(work), _ptr(merged))
    return states, gates, rec_n, merged


def gru_backward(grad_states: torch.Tensor, w_hh: torch.Tensor, gates: torch.Tensor, rec_n: torch.Tensor,
                 states: torch.Tensor, batch_sizes: Sequence[int], rows: torch.Tensor):
    """Gradients w.r.t. the input projections and w.r.t. the recurrent products h W + b_hh,
    (D, N, 3H) each in packed order, and the first again in the order of ``rows``,
    (N, D * 3H), with ``gates``, ``rec_n`` and ``states`` from :func:`gru_forward` and the
    hidden states' gradient (N, D * H) in the order of ``rows``."""
    _check_float32(grad_states=grad_states, w_hh=w_hh, gates=gates, rec_n=rec_n, states=states)
    n_dirs, n_rows, hidden = states.shape
    _check_shapes(grad_states=(grad_states, (n_rows, n_dirs * hidden)),
                  w_hh=(w_hh, (n_dirs, hidden, 3 * hidden)), gates=(gates, (n_dirs, n_rows, 3 * hidden)),
                  rec_n=(rec_n, states.shape))
    batch_sizes, rows = _sizes_checked(batch_sizes, n_rows), _rows_checked(rows, n_dirs, n_rows)
    grad_states, gates = grad_states.contiguous(), gates.contiguous()
    rec_n, states = rec_n.contiguous(), states.contiguous()
    w_t = w_hh.transpose(1, 2).contiguous()
    d_proj, d_rec = torch.empty_like(gates), torch.empty_like(gates)
    d_flat = gates.new_empty((n_rows, n_dirs * 3 * hidden))
    work = gates.new_empty(n_dirs * (2 * int(batch_sizes[0]) + n_rows) * hidden)
    _loaded().gru_backward(n_dirs, n_rows, hidden, batch_sizes.numel(), _ptr(batch_sizes), _ptr(rows),
                           _ptr(w_t), _ptr(gates), _ptr(rec_n), _ptr(states), _ptr(grad_states), _ptr(d_proj),
                           _ptr(d_rec), _ptr(work), _ptr(d_flat))
    return d_proj, d_rec, d_flat


def additive_scores(q: torch.Tensor, keys: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Additive attention scores ``v . tanh(q[b, t] + keys[b, s])`` (B, T, S), -inf where ``mask``
    (B, S) is False, from q (B, T, A), keys (B, S, A) and v (A,) (``attention.c``)."""
    q, keys, v, mask = _additive_inputs(q, keys, v, mask)
    (batch, steps, width), length = q.shape, keys.shape[1]
    scores = q.new_empty((batch, steps, length))
    _loaded().additive_scores(batch, steps, length, width, _ptr(q), _ptr(keys), _ptr(v), _ptr(mask),
                              _ptr(scores))
    return scores


def additive_scores_backward(grad: torch.Tensor, q: torch.Tensor, keys: torch.Tensor, v: torch.Tensor,
                             mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients w.r.t. q, keys and v from ``grad`` (B, T, S), that of :func:`additive_scores`'s
    result (ignored where ``mask`` is False)."""
    q, keys, v, mask = _additive_inputs(q, keys, v, mask)
    (batch, steps, width), length = q.shape, keys.shape[1]
    _check_float32(grad=grad)
    _check_shapes(grad=(grad, (batch, steps, length)))
    grad = grad.contiguous()
    d_q, d_keys, d_v = torch.empty_like(q), torch.empty_like(keys), q.new_empty((batch, width))
    _loaded().additive_scores_backward(batch, steps, length, width, _ptr(q), _ptr(keys), _ptr(v), _ptr(mask),
                                       _ptr(grad), _ptr(d_q), _ptr(d_keys), _ptr(d_v))
    return d_q, d_keys, d_v.sum(0)


def _additive_inputs(q, keys, v, mask):
    """The inputs of the additive attention scores checked (float32 on the CPU, shapes that
    agree) and contiguous, the mask as bytes."""
    _check_float32(q=q, keys=keys, v=v)
    if q.dim() != 3:
        raise ValueError(f"q has shape {tuple(q.shape)}, the attention scores need (B, T, A)")
    batch, _, width = q.shape
    length = keys.shape[1] if keys.dim() == 3 else -1
    _check_shapes(keys=(keys, (batch, length, width)), v=(v, (width,)), mask=(mask, (batch, length)))
    if mask.dtype != torch.bool or mask.device.type != "cpu":
        raise ValueError(f"mask must be a bool tensor on the CPU, got {mask.dtype} on {mask.device}")
    return q.contiguous(), keys.contiguous(), v.contiguous(), mask.contiguous().view(torch.uint8)
