"""A tiny benchmark harness shared by every script in benchmarks/.

Run benchmarks with the machine's OpenBLAS tuning variables removed, so that
NumPy and PyTorch use the same BLAS settings:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_core.py

Timings are per call, in seconds.  ``compare`` alternates the cases (A B A B ...)
so that noise from other processes hits every case alike, and reports medians.
"""
from __future__ import annotations

import gc
import json
import statistics
import sys
import time

__all__ = ["measure", "compare", "emit", "ratio", "synced", "same_threads"]


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def measure(fn, repeat=20, number=100, clock="wall"):
    """Time ``fn()``: ``repeat`` samples of ``number`` calls each; returns a list of
    ``repeat`` per-call times in seconds.  ``clock="cpu"`` counts this process's CPU
    time instead of wall time: on a loaded machine it leaves out the time spent waiting
    for a core (use it with single-threaded BLAS)."""
    out = []
    timer = CLOCKS[clock]
    for _ in range(repeat):
        t0 = timer()
        for _ in range(number):
            fn()
        out.append((timer() - t0) / number)
    return out


def _auto_number(fn, target=0.02):
    """Calls per sample so that one sample lasts about ``target`` seconds."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= target or n >= 1 << 20:
            return max(1, int(n * target / max(dt, 1e-9)))
        n *= 4


def compare(cases, rounds=15, number=None, warmup=3, clock="wall"):
    """Time several cases alternately (A B C A B C ...) and return
    ``{name: median seconds per call}``.

    ``cases`` maps a name to a zero-argument callable.  Each round times
    ``number`` calls of every case (chosen automatically when None, from the
    slowest case, so all cases run the same number of calls).  ``clock``: see
    :func:`measure`.
    """
    names = list(cases)
    for name in names:
        for _ in range(warmup):
            cases[name]()
    if number is None:
        number = min(_auto_number(cases[n]) for n in names)
    samples = {n: [] for n in names}
    gc.collect()
    for _ in range(rounds):
        for n in names:
            samples[n].extend(measure(cases[n], repeat=1, number=number, clock=clock))
    return {n: statistics.median(s) for n, s in samples.items()}


def ratio(a, b):
    """a / b, rounded for reports."""
    return round(a / b, 3) if b else float("inf")


def emit(record, out=None):
    """Print ``record`` (a dict) as one JSON line on stdout, with the BLAS lamina's large
    products ran on (``lamina.ops.blas``: "mkl" with the mkl extra, else "numpy"); with
    ``out``, append the same line to that file."""
    blas = sys.modules.get("lamina.ops.blas")
    if blas is not None and "blas" not in record:
        record = dict(record, blas=blas.backend())
    line = json.dumps(record, sort_keys=False) + "\n"
    sys.stdout.write(line)
    sys.stdout.flush()
    if out:
        with open(out, "a") as f:
            f.write(line)


def synced(fn, sync):
    """``fn`` followed by ``sync()`` (a device synchronisation), for wall-clock timing of
    work queued on a GPU."""
    def call():
        fn()
        sync()
    return call


def same_threads(n, torch=None):
    """Give each library ``n`` threads: PyTorch's intra-op pool (when ``torch`` is given),
    NumPy's BLAS (through threadpoolctl, where installed) and lamina's own workers, which
    split its large MKL products (``lamina.ops.threads``)."""
    if torch is not None:
        torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(n, user_api="blas")
    except ImportError:
        pass
    from lamina.ops import threads
    threads.set_num_threads(n)
