"""Keep torch usable in processes forked from one that already ran it with several threads.

torch's CPU kernels run on an OpenMP thread pool. A forked child inherits the parent's
record of that pool but not its threads, so the child's first parallel torch operation
waits forever for workers that do not exist: ``nlp.pipe(texts, n_process=2)`` with the
"fork" start method (the default on Linux) hangs once the parent has run a long doc with
two or more threads. With one thread torch never enters the pool, so the child is told
to use one thread before it can run any torch code. One single-threaded process per core
is also what ``n_process`` workers want: they must not oversubscribe the cores.
"""
import os
import sys


def use_one_torch_thread_in_child() -> None:
    """Set torch's intra-op threads to 1 in a freshly forked child (if torch is loaded).

    A child that has not imported torch needs nothing: its torch starts afresh.
    """
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads"):
        torch.set_num_threads(1)


_registered = False


def register_fork_handler() -> None:
    """Run :func:`use_one_torch_thread_in_child` in every child forked by ``os.fork``
    (multiprocessing's "fork" start method included). Registered once per process;
    a no-op where the platform cannot fork (Windows)."""
    global _registered
    if hasattr(os, "register_at_fork") and not _registered:
        os.register_at_fork(after_in_child=use_one_torch_thread_in_child)
        _registered = True
