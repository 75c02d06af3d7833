"""lamina's own worker threads, for splitting one large piece of work (a big matrix product)
into parts that run at once.

MKL runs single-threaded inside lamina (see :mod:`lamina.ops.blas`: its OpenMP pool beside
NumPy's OpenBLAS pool made training 2-5x slower on 2 cores).  A product large enough is
instead cut into row (or column) blocks, one per thread, each a sequential MKL call; ctypes
releases the GIL for the call, so the blocks run in parallel with one hand-off per block and
no second thread pool spinning.  On the 2-core Xeon of the benchmarks, the products of the
LSTM's and the Transformer's backward (100-500 M multiply-adds) took 0.55-0.6 of their
single-threaded time.  A hand-off still costs: a worker wakes ~30 us after the call and the
caller ~30 us after the worker is done (65 us for two empty tasks), so only work of a few
hundred microseconds and more is split.

The number of threads is the CPUs this process may run on, or ``LAMINA_NUM_THREADS`` (1
turns splitting off), or :func:`set_num_threads`.  With ``MKL_THREADING_LAYER`` set, MKL
threads itself and lamina does not split.  Work submitted from a worker thread is never
split again (no worker waits on another), and a forked child starts fresh workers.
"""
from __future__ import annotations

import _thread
import os
import queue
import threading

__all__ = ["num_threads", "set_num_threads", "run_parallel", "row_parts", "for_rows"]

# An elementwise pass is split only when each thread gets at least this many elements
# (~0.3 ms of a memory-bound NumPy loop): the hand-off to a worker costs 20-50 us.
MIN_PART_ELEMENTS = 1 << 19


def _default_threads():
    env = os.environ.get("LAMINA_NUM_THREADS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"LAMINA_NUM_THREADS must be a positive integer, got {env!r}") \
                from None
    if os.environ.get("MKL_THREADING_LAYER"):
        return 1        # MKL's own threads do the splitting
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


_state = {"threads": _default_threads(), "workers": []}
_local = threading.local()
_lock = threading.Lock()


def num_threads():
    """The number of threads large work is split over (1: no splitting)."""
    return _state["threads"]


def set_num_threads(n):
    """Split large work over ``n`` threads (1 turns splitting off); returns the previous
    number.  The benchmarks give lamina the thread count they give PyTorch."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int, got {n!r}")
    with _lock:
        prev = _state["threads"]
        _state["threads"] = n
    return prev


class _Worker:
    """A daemon thread running the callables put on its queue, one after the other.
    Lighter than concurrent.futures (no Future objects, one C-level queue): a split
    product's worker started ~70 us after the call with a ThreadPoolExecutor."""

    def __init__(self):
        self.tasks = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="lamina-worker", daemon=True)
        self.thread.start()

    def _loop(self):
        _local.worker = True
        while True:
            fn, done, errors = self.tasks.get()
            try:
                fn()
            except BaseException as e:      # re-raised on the calling thread
                errors.append(e)
            finally:
                done.release()


def _workers(k):
    """At least ``k`` started workers."""
    ws = _state["workers"]
    if len(ws) < k:
        with _lock:
            ws = _state["workers"]
            while len(ws) < k:
                ws.append(_Worker())
    return ws


def in_worker():
    """True on one of lamina's worker threads (where work is not split again)."""
    return getattr(_local, "worker", False)


def run_parallel(tasks):
    """Run the zero-argument callables ``tasks`` at once, the last one on the calling thread
    (the others on workers), and return when all are done, re-raising the first error."""
    if len(tasks) == 1:
        tasks[0]()
        return
    workers = _workers(min(len(tasks) - 1, max(_state["threads"] - 1, 1)))
    dones, errors = [], []
    for n, task in enumerate(tasks[:-1]):
        done = _thread.allocate_lock()
        done.acquire()
        workers[n % len(workers)].tasks.put((task, done, errors))
        dones.append(done)
    try:
        tasks[-1]()
    finally:
        for done in dones:
            done.acquire()
    if errors:
        raise errors[0]


def row_parts(rows, row_size, min_part=None):
    """Row blocks [i, j) covering ``rows`` rows of ``row_size`` elements, one per thread, each
    at least ``min_part`` elements (default MIN_PART_ELEMENTS); [(0, rows)] when that leaves
    one block (or on a worker)."""
    min_part = MIN_PART_ELEMENTS if min_part is None else min_part
    k = min(_state["threads"], rows, rows * row_size // max(min_part, 1))
    if k < 2 or in_worker():
        return [(0, rows)]
    return [(rows * p // k, rows * (p + 1) // k) for p in range(k)]


def for_rows(fn, rows, row_size, min_part=None):
    """Call ``fn(i, j)`` for the row blocks of :func:`row_parts`, at once on lamina's
    threads.  For elementwise NumPy work on large arrays (NumPy drops the GIL in its loops);
    each row's result must not depend on the others, so the result is the same whatever
    the number of threads."""
    run_parallel([lambda i=i, j=j: fn(i, j) for i, j in row_parts(rows, row_size, min_part)])


def _after_fork():
    # the parent's worker threads do not exist in a forked child
    _state["workers"] = []


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
