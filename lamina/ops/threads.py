"""lamina's own worker threads, for splitting one large piece of work (a big matrix product)
into parts that run at once.

MKL runs single-threaded inside lamina (see :mod:`lamina.ops.blas`: its OpenMP pool beside
NumPy's OpenBLAS pool made training 2-5x slower on 2 cores).  A product large enough is
instead cut into row (or column) blocks, one per thread, each a sequential MKL call that
holds no GIL, so the blocks run in parallel with one hand-off per block.  On the 2-core
Xeon of the benchmarks, the products of the LSTM's and the Transformer's backward (100-500
M multiply-adds) took 0.55-0.6 of their single-threaded time.

How a hand-off costs decides what is worth splitting.  Where numba is installed, the
workers spin between jobs without the GIL (:mod:`lamina.ops.handoff`) and run a split
product's blocks without it: ~5 us a hand-off, so products from 33 M multiply-adds are
split.  Elsewhere they block on locks: a worker wakes ~40 us after the call and the caller
~35 us after the worker is done (80 us for two empty tasks), so only work of a few hundred
microseconds is split.  A Python callable on a spinning worker costs ~30 us: it needs the
GIL, which the caller usually still holds (NumPy's loops and compiled kernels drop it,
the Python between them does not).

The number of threads is the CPUs this process may run on, or ``LAMINA_NUM_THREADS`` (1
turns splitting off), or :func:`set_num_threads`.  With ``MKL_THREADING_LAYER`` set, MKL
threads itself and lamina does not split.  Work submitted from a worker thread is never
split again (no worker waits on another), and a forked child starts fresh workers.
"""
from __future__ import annotations

import _thread
import atexit
import functools
import os
import queue
import threading

import numpy as _np

from . import handoff
from .handoff import ARGS as _ARGS, KIND as _KIND, POSTED as _POSTED, PYTHON as _PYTHON, \
    TAKEN as _TAKEN

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


_state = {"threads": _default_threads(), "workers": [], "spinning": True}
_local = threading.local()
_lock = threading.RLock()
_pool = _thread.allocate_lock()     # held by the thread whose jobs are in the mailboxes
# Spinning workers' mailboxes are rows of one preallocated array: at most this many
_MAX_WORKERS = 256


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
    """A daemon thread running the work handed to it, one piece after the other.

    Blocking (without numba): it sleeps on its queue of callables.  Spinning (with
    :mod:`lamina.ops.handoff`): it waits in a compiled loop without the GIL, watching its
    mailbox row, runs GEMM jobs there and returns to Python for a callable; after
    ``handoff.SPIN_MICROSECONDS`` without work it parks on ``wake`` until a post wakes
    it."""

    def __init__(self, index, hand):
        self.tasks = queue.SimpleQueue()
        self.hand = hand
        if hand is not None:
            self.row = _state["rows"][index]
            self.fargs = _state["fargs"][index]
            self.posted = 0         # jobs posted here (only the pool's holder posts)
            self.parked = False
            self.park_lock = _thread.allocate_lock()
            self.wake = queue.SimpleQueue()
        loop = self._loop if hand is None else self._spin_loop
        self.thread = threading.Thread(target=loop, name="lamina-worker", daemon=True)
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

    def _spin_loop(self):
        _local.worker = True
        row, fargs, serve = self.row, self.fargs, self.hand.serve
        spin, clock = _state["spin_ns"], _np.zeros(2, _np.int64)
        finished = -1
        while True:
            job = serve(row, fargs, spin, finished, clock)
            finished = -1
            if job == -2:           # stopped (at exit)
                return
            if job >= 0:            # a callable: run it, mark it done on the next serve
                fn, errors = self.tasks.get()
                try:
                    fn()
                except BaseException as e:
                    errors.append(e)
                finished = job
                continue
            with self.park_lock:    # idle: park, unless a job came in meanwhile
                if row[_POSTED] != row[_TAKEN]:
                    continue
                self.parked = True
            self.wake.get()

    def post(self, task, errors):
        """Hand ``task`` to this spinning worker: a GEMM job where ``task`` is MKL's GEMM
        with its arguments bound, else a callable.  Returns the job's number."""
        row = self.row
        kind = self.hand.gemm_kind(task.func) if type(task) is functools.partial else None
        if task is _STOP:
            row[_KIND] = handoff.STOP
        elif kind is not None:
            args = task.args        # (order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            row[_ARGS:_ARGS + 12] = args[:6] + args[7:11] + args[12:14]
            self.fargs[0], self.fargs[1] = args[6], args[11]
            row[_KIND] = kind
        else:
            self.tasks.put((task, errors))
            row[_KIND] = _PYTHON
        self.posted += 1
        with self.park_lock:
            row[_POSTED] = self.posted
            wake, self.parked = self.parked, False
        if wake:
            self.wake.put(None)
        return self.posted


def _spin_kernels():
    """lamina.ops.handoff's compiled loops, or None (the workers then block on locks)."""
    if "hand" in _state:
        return _state["hand"]
    with _lock:
        if "hand" in _state:        # another thread loaded it meanwhile
            return _state["hand"]
        hand = handoff.load() if _state["spinning"] else None
        if hand is not None:
            _state["rows"] = _np.zeros((_MAX_WORKERS, handoff.ROW), _np.int64)
            _state["fargs"] = _np.zeros((_MAX_WORKERS, 2))
            _state["seqs"] = _np.zeros(_MAX_WORKERS, _np.int64)
            _state["clock"] = _np.zeros(2, _np.int64)
            _state["spin_ns"] = handoff.spin_nanoseconds()
        _state["hand"] = hand
    return _state["hand"]


def _workers(k):
    """At least ``k`` started workers (at most _MAX_WORKERS)."""
    ws = _state["workers"]
    if len(ws) < k:
        with _lock:
            hand = _spin_kernels()
            ws = _state["workers"]
            while len(ws) < min(k, _MAX_WORKERS):
                ws.append(_Worker(len(ws), hand))
    return ws


def spinning():
    """True where lamina's workers spin (lamina.ops.handoff, ~5 us a hand-off) rather than
    block on locks (~80 us): more work is worth splitting then."""
    return _state["threads"] > 1 and _spin_kernels() is not None


def in_worker():
    """True on one of lamina's worker threads (where work is not split again)."""
    return getattr(_local, "worker", False)


def run_parallel(tasks):
    """Run the zero-argument callables ``tasks`` at once, the last one on the calling thread
    (the others on workers), and return when all are done, re-raising the first error.
    On a worker, or while another thread has the spinning workers, they run one after
    the other here.  MKL GEMM calls bound with ``functools.partial`` (lamina.ops.blas's
    split products) run on spinning workers without the GIL."""
    if len(tasks) == 1 or in_worker():
        for task in tasks:
            task()
        return
    k = min(len(tasks) - 1, max(_state["threads"] - 1, 1))
    workers = _workers(k)[:k]       # (more may exist from a larger thread count before)
    if len(tasks) > len(workers) + 1:
        tasks = _grouped(tasks, len(workers) + 1)
    hand = _state["hand"]
    if hand is None:
        _run_blocking(tasks, workers)
    elif _pool.acquire(False):
        try:
            _run_spinning(tasks, workers, hand)
        finally:
            _pool.release()
    else:       # another thread's work holds the mailboxes: do this one here
        for task in tasks:
            task()


def _grouped(tasks, k):
    """``tasks`` as ``k`` callables, each running a consecutive run of them."""
    cuts = [len(tasks) * i // k for i in range(k + 1)]

    def run(part):
        for task in part:
            task()
    return [functools.partial(run, tasks[i:j]) for i, j in zip(cuts, cuts[1:])]


def _run_blocking(tasks, workers):
    dones, errors = [], []
    for n, task in enumerate(tasks[:-1]):
        done = _thread.allocate_lock()
        done.acquire()
        workers[n].tasks.put((task, done, errors))
        dones.append(done)
    try:
        tasks[-1]()
    finally:
        for done in dones:
            done.acquire()
    if errors:
        raise errors[0]


def _run_spinning(tasks, workers, hand):
    errors = []
    seqs = _state["seqs"]
    n = len(tasks) - 1
    for i in range(n):
        seqs[i] = workers[i].post(tasks[i], errors)
    try:
        tasks[-1]()
    finally:
        hand.wait(_state["rows"], n, seqs, _state["spin_ns"], _state["clock"])
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


_STOP = object()    # posted to each spinning worker at exit


def _stop_spinning():
    """At exit: send each spinning worker out of its compiled loop and wait for it, so no
    thread is left running JIT-compiled code while the interpreter tears it down."""
    workers = [w for w in _state["workers"] + _state.get("saved", {}).get(True, {}).get(
        "workers", []) if w.hand is not None and w.thread.is_alive()]
    if not workers or not _pool.acquire(timeout=1.0):
        return
    try:
        for w in workers:
            w.post(_STOP, None)
        for w in workers:
            w.thread.join(timeout=1.0)
    finally:
        _state["workers"] = []
        _state.pop("saved", None)
        _pool.release()


atexit.register(_stop_spinning)


def _after_fork():
    # the parent's worker threads do not exist in a forked child, and a lock another of its
    # threads held stays held here
    global _pool
    _state["workers"] = []
    _pool = _thread.allocate_lock()
    _state.pop("saved", None)
    if _state.get("hand") is not None:
        for name in ("rows", "fargs", "seqs"):
            _state[name] = _np.zeros_like(_state[name])


def _set_spinning(flag):
    """Use spinning workers where lamina.ops.handoff can (True) or blocking ones (False),
    from the next parallel call on; returns the previous setting.  For tests: each kind's
    workers are kept for when it comes back."""
    flag = bool(flag)
    with _lock:
        prev = _state["spinning"]
        if flag != prev:
            keep = ("hand", "workers", "rows", "fargs", "seqs", "clock", "spin_ns")
            saved = _state.setdefault("saved", {})
            saved[prev] = {k: _state.pop(k) for k in keep if k in _state}
            _state.update(saved.pop(flag, {"workers": []}))
            _state["spinning"] = flag
    return prev


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
