"""The compiled hand-off between lamina's threads (optional: numba): workers that wait for
work by spinning, without the GIL, and run matrix-product blocks without it.

Handing work to a sleeping thread and waiting for it costs two wake-ups: a worker blocked
on a lock woke ~40 us after the call on the 2-core benchmark machine, and the caller ~35 us
after the worker was done (80 us for two empty tasks, as much as a 2048x128x128 product
gains from two threads).  A thread that must wait for the GIL sleeps the same way.  Here
each worker has a row of integers (its mailbox): the caller writes a job into it and bumps
its ``POSTED`` count; the worker, spinning in a compiled loop that holds no GIL, sees it
within a microsecond.  A job of MKL's ``cblas_sgemm``/``cblas_dgemm`` runs right there, so
a split product never touches the GIL on the worker; a Python job sends the worker back to
Python for its callable.  The caller waits for ``DONE`` the same way.  A tiny product
split in two blocks now takes 6 us (2 us unsplit; 83 us with blocking workers), and a
2048x128x128 product 0.6 of its single-thread time.  A Python job still costs ~30 us: the
worker, back in Python, usually finds the caller holding the GIL and sleeps until it is
released.

Spinning calls ``sched_yield`` between looks, so another runnable thread on the core gets
it, and ends after :data:`SPIN_MICROSECONDS` without work: the worker then parks on a
queue (lamina.ops.threads) until the next post wakes it.  PyTorch's OpenMP threads spin in
the same way between parallel regions.  Needs numba and a C library with ``sched_yield``,
``usleep`` and ``clock_gettime`` (Linux, macOS); elsewhere, or with ``LAMINA_JIT=0``,
lamina's threads block on locks instead.
"""
from __future__ import annotations

import ctypes
import os

import numpy as np

from .ccalls import c_clock, c_dgemm, c_sgemm, c_usleep, c_yield

__all__ = ["load", "POSTED", "TAKEN", "DONE", "KIND", "ARGS", "ROW", "PYTHON", "SGEMM",
           "DGEMM", "STOP", "SPIN_MICROSECONDS"]

# A mailbox row: the counts of jobs posted, taken and done, the job's kind, then a GEMM
# job's arguments (order, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc; alpha and beta
# in a float row beside).  32 int64s (256 bytes) per row keep workers' rows on cache lines
# of their own.
POSTED, TAKEN, DONE, KIND, ARGS = 0, 1, 2, 3, 4
ROW = 32
PYTHON, SGEMM, DGEMM, STOP = 0, 1, 2, 3

# How long an idle worker spins before it parks (and how long a caller spins before it
# polls with short sleeps): longer than the gaps between one training step's parallel
# regions, short enough that an idle process gives its cores back at once.
SPIN_MICROSECONDS = 300

_STATE = {"loaded": False, "kernels": None}

# The compiled helpers the two loops call, set by _compile before the first compile
_gemm_job = _full_fence = _now = None

# Where the loops find their C functions: the addresses in their ``calls`` argument
# (lamina.ops.ccalls), not constants baked in, so that numba can cache them on disk
_YIELD, _CLOCK, _SGEMM, _DGEMM, _USLEEP = range(5)


class _Kernels:
    """The compiled loops, with the addresses of the C functions they call bound."""

    def __init__(self, serve, wait, calls, kinds):
        self._serve, self._wait, self.calls = serve, wait, calls
        self.kinds = kinds      # ((ctypes GEMM function, job kind), ...): what serve runs

    def serve(self, row, fargs, spin_ns, finished, ts):
        """A worker's wait for jobs (:func:`_serve`)."""
        return self._serve(row, fargs, spin_ns, finished, ts, self.calls)

    def wait(self, rows, n, seqs, spin_ns, ts):
        """The caller's wait for its jobs (:func:`_wait`)."""
        return self._wait(rows, n, seqs, spin_ns, ts, self.calls)

    def gemm_kind(self, fn):
        """The job kind of MKL GEMM function ``fn``, or None for any other callable."""
        for f, kind in self.kinds:
            if fn is f:
                return kind
        return None


def load():
    """The compiled ``serve`` and ``wait`` loops (see :func:`_serve`, :func:`_wait`) and the
    GEMM functions they run as ``kinds``, or None: ``LAMINA_JIT=0``, no numba, no usable C
    library, or the compile failed."""
    if not _STATE["loaded"]:
        _STATE["loaded"] = True
        _STATE["kernels"] = _compile()
    return _STATE["kernels"]


def _libc():
    """The C library's (sched_yield, clock_gettime, usleep), or None."""
    try:
        lib = ctypes.CDLL(None)
        return lib.sched_yield, lib.clock_gettime, lib.usleep
    except (OSError, AttributeError, TypeError):
        return None


def _compile():
    from . import kernels as _kernels       # its on/off switch (LAMINA_JIT) covers this too
    if not _kernels._STATE["enabled"]:
        return None
    try:
        import numba
    except ImportError:
        return None
    libc = _libc()
    if libc is None:
        return None
    from . import blas as _blas
    from . import ccalls
    gemms, kinds = (None, None), ()
    if _blas.mkl_available():       # else no GEMM job is ever posted
        gemms = (_blas._SGEMM, _blas._DGEMM)
        kinds = ((gemms[0], SGEMM), (gemms[1], DGEMM))
    calls = ccalls.addresses(libc[0], libc[1], gemms[0], gemms[1], libc[2])
    try:
        ccalls.register_for_numba()
        globals()["_full_fence"] = _fence_intrinsic()
        k = None
        for cache in (True, False):     # (False: no writable place for numba's cache)
            try:
                jit = numba.njit(cache=cache, nogil=True, boundscheck=False)
                globals().update(_gemm_job=jit(_gemm_job_py), _now=jit(_now_py))
                k = _Kernels(jit(_serve), jit(_wait), calls, kinds)
                break
            except RuntimeError:
                continue
        # compile (or load) both now, on trivial input: a failure shows here, not in a
        # worker
        rows = np.zeros((1, ROW), np.int64)
        ts = np.zeros(2, np.int64)
        k.serve(rows[0], np.zeros(2), 0, -1, ts)
        k.wait(rows, 0, np.zeros(1, np.int64), 0, ts)
    except Exception as e:      # numba's errors have no common base worth naming
        import warnings
        warnings.warn(f"lamina.ops.handoff: compiling the spinning hand-off failed ({e}); "
                      "lamina's threads block on locks instead", RuntimeWarning, stacklevel=3)
        return None
    return k


def _fence_intrinsic():
    """A compiled full memory fence: orders MKL's stores (streaming ones included) before
    the ``DONE`` count that publishes them, and a job's reads after its ``POSTED`` count."""
    from numba.core import types
    from numba.core.extending import intrinsic

    @intrinsic
    def full_fence(typingctx):
        def codegen(context, builder, signature, args):
            builder.fence("seq_cst")
            return context.get_dummy_value()
        return types.void(), codegen
    return full_fence


def _now_py(ts, calls):
    """Monotonic clock in nanoseconds (``ts``: a 2-element int64 scratch array)."""
    c_clock(calls[_CLOCK], (1, ts.ctypes.data))         # CLOCK_MONOTONIC
    return ts[0] * 1000000000 + ts[1]


def _gemm_job_py(row, fargs, calls):
    """The GEMM job in ``row``: out = alpha * a @ b + beta * out, by MKL."""
    if row[KIND] == SGEMM:
        c_sgemm(calls[_SGEMM], (row[4], row[5], row[6], row[7], row[8], row[9],
                                np.float32(fargs[0]), row[10], row[11], row[12], row[13],
                                np.float32(fargs[1]), row[14], row[15]))
    else:
        c_dgemm(calls[_DGEMM], (row[4], row[5], row[6], row[7], row[8], row[9], fargs[0],
                                row[10], row[11], row[12], row[13], fargs[1], row[14],
                                row[15]))


def _serve(row, fargs, spin_ns, finished, ts, calls):
    """A worker's wait for jobs in its mailbox ``row`` (float arguments in ``fargs``).
    First marks job ``finished`` done (>= 0: a Python job the worker has just run, so that
    the caller wakes only once this thread has let go of the GIL).  Runs GEMM jobs as they
    come; returns a Python job's number, -1 after ``spin_ns`` nanoseconds without work,
    or -2 for a STOP job (the thread is to end)."""
    if finished >= 0:
        _full_fence()
        row[DONE] = finished
    start = _now(ts, calls)
    looks = 0
    while True:
        posted = row[POSTED]
        if posted != row[TAKEN]:
            _full_fence()
            row[TAKEN] = posted
            if row[KIND] == PYTHON:
                return posted
            if row[KIND] == STOP:
                row[DONE] = posted
                return -2
            _gemm_job(row, fargs, calls)
            _full_fence()
            row[DONE] = posted
            start = _now(ts, calls)
            continue
        # an opaque call each look: the compiler must read row[POSTED] again
        c_yield(calls[_YIELD], ())
        looks += 1
        if looks % 16 == 0 and _now(ts, calls) - start > spin_ns:
            return -1


def _wait(rows, n, seqs, spin_ns, ts, calls):
    """The caller's wait until rows[i, DONE] == seqs[i] for i < n: spinning for
    ``spin_ns`` nanoseconds, then looking every 20 us."""
    start = _now(ts, calls)
    while True:
        done = True
        for i in range(n):
            if rows[i, DONE] != seqs[i]:
                done = False
                break
        if done:
            _full_fence()
            return
        if _now(ts, calls) - start < spin_ns:
            c_yield(calls[_YIELD], ())
        else:
            c_usleep(calls[_USLEEP], (20,))


def spin_nanoseconds():
    """SPIN_MICROSECONDS in nanoseconds, or ``LAMINA_SPIN_US`` from the environment."""
    env = os.environ.get("LAMINA_SPIN_US", "").strip()
    try:
        us = int(env) if env else SPIN_MICROSECONDS
    except ValueError:
        raise ValueError(f"LAMINA_SPIN_US must be a non-negative integer, got {env!r}") \
            from None
    return max(us, 0) * 1000
