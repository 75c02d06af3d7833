"""Matrix products on raw arrays, through the fastest BLAS at hand.

``xp.matmul`` runs the BLAS that NumPy was built with: OpenBLAS in NumPy's PyPI wheels.  Where
Intel's MKL is installed as well (``pip install "lamina[mkl]"``, the ``mkl`` wheel), large
float32/float64 products go to MKL's ``cblas_sgemm``/``cblas_dgemm`` through ctypes instead.
On the Xeon this project is measured on, MKL is 1.2-1.7x faster than OpenBLAS on the product
shapes of the course's models (conv, LSTM and Transformer GEMMs: benchmarks/bench_blas.py), and
PyTorch's CPU build uses MKL too.  Small products stay with NumPy: a ctypes call costs a few
microseconds, more than MKL saves on them.

The choice never changes a result beyond floating-point rounding: both compute the same
product.  ``LAMINA_BLAS=numpy`` in the environment, or :func:`set_backend`, turns MKL off.
MKL runs single-threaded unless ``MKL_THREADING_LAYER`` says otherwise: NumPy's own BLAS keeps
its thread pool for everything else, and two thread pools busy-waiting on the same cores made
whole training runs 2-5x slower (measured on the labs, 2 cores).  For a threaded MKL, set
``MKL_THREADING_LAYER=GNU`` together with ``OPENBLAS_NUM_THREADS=1`` or
``OMP_WAIT_POLICY=PASSIVE`` (MKL's threads then sleep instead of spinning between calls).
Only NumPy arrays take the MKL path; CuPy arrays always use ``cupy.matmul`` (cuBLAS).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

import numpy as np

from ..backend import get_xp
from . import threads as _threads

__all__ = ["matmul", "prepared_matmul", "backend", "set_backend", "mkl_available",
           "mkl_float32_functions", "mkl_min_work", "parallel_min_work", "pair_min_work",
           "MIN_MKL_WORK", "PARALLEL_MIN_WORK"]

# Products with fewer multiply-adds (m * n * k) stay with NumPy: around this size (32x128x512,
# 128x128x128) MKL and OpenBLAS are within 5% of each other once the ctypes call (~5 us) is
# paid; MKL's lead grows with the size, to 12-30% on the course's large GEMMs
# (benchmarks/bench_blas.py).
MIN_MKL_WORK = 1 << 21
# Where lamina's workers spin (lamina.ops.threads.spinning), from this size on: OpenBLAS
# splits a product of more than 4 x 65536 multiply-adds over its own threads, which then
# spin too and take the core a worker needs (a 784-512-512-10 MLP's fit ran 0.84 of its
# time with its 10-class layer's products on MKL instead, 1.06 without)
SPINNING_MKL_WORK = 1 << 18

# Products of at least this many multiply-adds (~0.4 ms on one core) are split over
# lamina's threads (lamina.ops.threads) in blocks of at least _MIN_BLOCK rows or columns,
# where the workers block on locks (no numba).  Smaller ones gained little or lost: a
# 784-512-512-10 MLP's fit (products of 33-51 M) ran 10-20% slower split, while the LSTM's
# and Transformer's (84-250 M) gained.
PARALLEL_MIN_WORK = 1 << 26
# Where the workers spin (lamina.ops.handoff: ~5 us a hand-off, not ~80), from this size:
# the Transformer benchmark's 33 M products gain (its step: 1.02 -> 0.99 of PyTorch's time
# against 64 M), and the MLP's fit ran 0.90 of the blocking workers' time (0.92 from 16 M)
SPINNING_MIN_WORK = 1 << 25
_MIN_BLOCK = 64

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_SEQUENTIAL = 1      # MKL_Set_Threading_Layer's code for MKL_THREADING_LAYER=SEQUENTIAL


def _find_mkl():
    """Path of ``libmkl_rt`` from the ``mkl`` wheel (or a system install), else None."""
    try:
        from importlib import metadata
        for f in metadata.files("mkl") or ():
            if f.name.startswith("libmkl_rt.so") or f.name in ("mkl_rt.2.dll", "libmkl_rt.dylib"):
                return str(f.locate())
    except Exception:       # no mkl distribution, or metadata without a file list
        pass
    return ctypes.util.find_library("mkl_rt")


def _load_mkl():
    """(sgemm, dgemm, vmsTanh, vmsExp) ctypes functions, or Nones when MKL cannot be loaded
    (the last two also where this MKL lacks them)."""
    if os.environ.get("LAMINA_BLAS", "").lower() in ("numpy", "openblas", "off", "0"):
        return None, None, None, None
    path = _find_mkl()
    if not path:
        return None, None, None, None
    try:
        lib = ctypes.CDLL(path)
        # MKL's threading layer: MKL_THREADING_LAYER when set, else sequential.  A threaded
        # MKL beside NumPy's threaded OpenBLAS leaves each pool's threads spinning while the
        # other library works: the course's labs ran 2-5x slower on 2 cores (GRU and CNN
        # training alike), and the sequential layer loads no OpenMP runtime at all.
        if not os.environ.get("MKL_THREADING_LAYER"):
            lib.MKL_Set_Threading_Layer.argtypes = [ctypes.c_int]
            lib.MKL_Set_Threading_Layer(_SEQUENTIAL)
        fns = []
        for name, real in (("cblas_sgemm", ctypes.c_float), ("cblas_dgemm", ctypes.c_double)):
            f = getattr(lib, name)
            i, p = ctypes.c_int, ctypes.c_void_p
            f.argtypes = [i, i, i, i, i, i, real, p, i, p, i, real, p, i]
            f.restype = None
            fns.append(f)
        # the vector math library's tanh and exp, for compiled loops (lamina.ops.kernels)
        vml = []
        for name in ("vmsTanh", "vmsExp"):
            f = getattr(lib, name, None)
            if f is not None:
                f.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                              ctypes.c_longlong]
                f.restype = None
            vml.append(f)
        return fns[0], fns[1], vml[0], vml[1]
    except (OSError, AttributeError):
        return None, None, None, None


_SGEMM, _DGEMM, _VSTANH, _VSEXP = _load_mkl()
_use_mkl = _SGEMM is not None


def mkl_available():
    """True when MKL's GEMM was found and loaded."""
    return _SGEMM is not None


def mkl_float32_functions():
    """MKL's ``cblas_sgemm`` and ``vmsTanh`` (ctypes functions, for loops compiled by
    :mod:`lamina.ops.kernels` that call them without the GIL), or None where MKL is off or
    lacks them."""
    if not _use_mkl or _SGEMM is None or _VSTANH is None:
        return None
    return _SGEMM, _VSTANH


def mkl_float32_exp():
    """MKL's ``vmsExp`` (a ctypes function, for compiled loops), or None where MKL is off or
    lacks it."""
    return _VSEXP if _use_mkl else None


def backend():
    """The BLAS that large NumPy products go to: ``"mkl"`` or ``"numpy"``."""
    return "mkl" if _use_mkl else "numpy"


def set_backend(name):
    """Send large NumPy products to ``"mkl"`` (raises if MKL is not installed) or back to
    ``"numpy"``.  Returns the previous backend's name."""
    global _use_mkl
    prev = backend()
    if name == "mkl":
        if _SGEMM is None:
            raise RuntimeError("blas.set_backend: MKL is not available; install it with "
                               "pip install \"lamina[mkl]\"")
        _use_mkl = True
    elif name in ("numpy", "openblas"):
        _use_mkl = False
    else:
        raise ValueError(f"blas.set_backend: unknown backend {name!r}; expected 'mkl' or 'numpy'")
    return prev


def _layout(a, item):
    """(transpose flag, leading dimension) of a 2-D array for a row-major GEMM, or None when
    neither axis has unit stride (MKL then cannot read it in place)."""
    s0, s1 = a.strides
    r, c = a.shape
    if s1 == item and s0 >= c * item and s0 % item == 0:
        return _NO_TRANS, s0 // item
    if s0 == item and s1 >= r * item and s1 % item == 0:
        return _TRANS, s1 // item
    return None


def parallel_min_work():
    """The size (m * n * k) from which a product is split over lamina's threads."""
    return SPINNING_MIN_WORK if _threads.spinning() else PARALLEL_MIN_WORK


def pair_min_work():
    """The size (both products' m * n * k) from which :func:`matmul_pair` runs its two
    products at once: twice :func:`parallel_min_work`."""
    return 2 * parallel_min_work()


def _plan(a, b, out):
    """How MKL computes ``out = a @ b`` for 2-D NumPy arrays a (m, k), b (k, n) and ``out``
    (m, n) or None (a fresh C-contiguous result): ``(gemm, m, n, k, trans_a, lda, trans_b,
    ldb, ldc)``, or None when the operands do not fit it (another dtype, mixed dtypes,
    mismatched shapes, an axis of length 1, a layout MKL cannot read in place)."""
    dt = a.dtype
    if dt == np.float32:
        fn = _SGEMM
    elif dt == np.float64:
        fn = _DGEMM
    else:
        return None
    if b.dtype != dt or (out is not None and out.dtype != dt):
        return None
    m, k = a.shape
    n = b.shape[1]
    if b.shape[0] != k or m < 2 or n < 2 or k < 2:
        return None     # (axes of length 1 have arbitrary strides: left to NumPy)
    item = dt.itemsize
    la, lb = _layout(a, item), _layout(b, item)
    if la is None or lb is None:
        return None
    if out is None:
        ldc = n
    else:
        c0, c1 = out.strides
        if out.shape != (m, n) or c1 != item or c0 < n * item or c0 % item:
            return None
        ldc = c0 // item
    return fn, m, n, k, la[0], la[1], lb[0], lb[1], ldc


def _bound_gemm(a, b, out, beta):
    """``(out, gemm, args)`` such that ``gemm(*args)`` computes out = a @ b (+ out when
    beta) with MKL (``out`` a fresh C-contiguous result where None), or None when the
    operands do not fit it."""
    plan = _plan(a, b, out)
    if plan is None:
        return None
    fn, m, n, k, ta, lda, tb, ldb, ldc = plan
    if out is None:
        out = np.empty((m, n), a.dtype)
    return out, fn, [_ROW_MAJOR, ta, tb, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data,
                     ldb, float(beta), out.ctypes.data, ldc]


def _mkl_gemm(a, b, out, beta, split=True):
    """out = a @ b (+ out when beta) with MKL, or False when the operands do not fit it.
    A large product is split into row (or column) blocks computed at once on lamina's
    threads (unless ``split`` is False), each block one sequential MKL call."""
    bound = _bound_gemm(a, b, out, beta)
    if bound is None:
        return False
    out, fn, args = bound
    m, n, k = args[3:6]
    parts = _threads.num_threads()
    if split and parts > 1 and m * n * k >= parallel_min_work() and not _threads.in_worker():
        blocks = _blocks(args, a.strides[0], b.strides[1], out.strides, parts)
        if blocks is not None:
            # each task is the MKL call itself with its arguments bound: a spinning worker
            # runs it without the GIL (lamina.ops.handoff), a blocking one goes straight
            # into MKL (a block's start came ~30 us later with a Python frame between)
            _on_threads([functools.partial(fn, *block) for block in blocks])
            return out
    fn(*args)
    return out


def _blocks(args, a_row_stride, b_col_stride, out_strides, parts):
    """The MKL argument lists of ``parts`` (or fewer) disjoint blocks of the product whose
    arguments are ``args``, cut along the longer side of the result: by rows of a and out,
    or by columns of b and out (each block's start address offset by its first row or
    column).  (Each block's GEMM packs the whole of the operand it shares, so cutting the
    short side repeats the larger packing: a (128, 784) @ (784, 512) cut by rows ran
    slower on two threads than on one.)  None when the product is too narrow."""
    m, n = args[3], args[4]
    if max(m, n) < 2 * _MIN_BLOCK:
        return None
    # by rows: the count m (args[3]), a's start (args[7]); by columns: n (args[4]), b's
    # start (args[9]); out's start (args[12]) moves either way
    size, dim, ptr, step, out_step = (m, 3, 7, a_row_stride, out_strides[0]) if m >= n \
        else (n, 4, 9, b_col_stride, out_strides[1])
    cuts = _cuts(size, min(parts, size // _MIN_BLOCK))
    blocks = []
    for i, j in zip(cuts, cuts[1:]):
        block = list(args)
        block[dim] = j - i
        block[ptr] += i * step
        block[12] += i * out_step
        blocks.append(block)
    return blocks


def _cuts(size, parts):
    """Boundaries splitting ``size`` into ``parts`` near-equal blocks."""
    return [size * i // parts for i in range(parts + 1)]


def mkl_min_work():
    """The size (m * n * k) from which a float product goes to MKL rather than NumPy."""
    return SPINNING_MKL_WORK if _threads.spinning() else MIN_MKL_WORK


def _on_threads(tasks):
    """``threads.run_parallel`` for MKL calls split over lamina's threads; the first time,
    NumPy's OpenBLAS goes to one thread (:func:`_quiet_numpy_blas`)."""
    if not _numpy_blas["checked"]:
        _quiet_numpy_blas()
    _threads.run_parallel(tasks)


_numpy_blas = {"checked": False, "threads": None}


def _quiet_numpy_blas():
    """Where lamina's threads split MKL's products, set NumPy's OpenBLAS to one thread
    (unless OPENBLAS_NUM_THREADS, OMP_NUM_THREADS or GOTO_NUM_THREADS says otherwise):
    the small products and vector products left to it gain little from threads, and its
    threads keep spinning after each call on the cores lamina's workers use (the MNIST
    CNN's step, own processes, 2 threads: 1.03 -> 0.86 of PyTorch's time).  Records the
    count it replaced in ``_numpy_blas["threads"]``."""
    _numpy_blas["checked"] = True
    if any(os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                       "GOTO_NUM_THREADS")):
        return
    fns = _numpy_openblas()
    if fns is not None:
        setter, getter = fns
        _numpy_blas["threads"] = getter()
        setter(1)


def _numpy_openblas():
    """(set_num_threads, get_num_threads) of the OpenBLAS loaded in this process (NumPy's
    wheels bring one, its symbols renamed ``scipy_openblas_*64_``), or None."""
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:         # not Linux: NumPy's macOS wheels use Accelerate
        return None
    paths = sorted({line.split()[-1] for line in maps.splitlines()
                    if "openblas" in line.lower() and line.split()[-1].startswith("/")})
    for path in paths:
        try:
            lib = ctypes.CDLL(path)     # loaded already: a handle, not a second copy
        except OSError:
            continue
        for prefix, suffix in (("", ""), ("scipy_", "64_"), ("", "64_"), ("scipy_", "")):
            setter = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
            getter = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                return setter, getter
    return None


def _for_mkl(a, b):
    """True for a NumPy product a (m, k) @ b (k, n) large enough to go to MKL."""
    return (type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == 2 and
            b.ndim == 2 and a.shape[1] == b.shape[0] and
            a.shape[0] * a.shape[1] * b.shape[1] >= mkl_min_work())


def matmul(a, b, out=None, accumulate=False):
    """``a @ b`` for raw 2-D arrays a (m, k) and b (k, n) -> (m, n), written into ``out`` when
    given; with ``accumulate=True`` the product is added to ``out`` (out += a @ b, in one
    GEMM on MKL).  Large float32/float64 NumPy products run on MKL when it is available;
    everything else (other shapes, dtypes, CuPy arrays) is ``xp.matmul``."""
    if accumulate and out is None:
        raise ValueError("blas.matmul: accumulate=True needs out=")
    if _use_mkl and _for_mkl(a, b) and (out is None or type(out) is np.ndarray):
        res = _mkl_gemm(a, b, out, 1.0 if accumulate else 0.0)
        if res is not False:
            return res
    if accumulate:
        out += a @ b
        return out
    if out is None:
        return a @ b
    return get_xp(a).matmul(a, b, out=out)


# Two independent products together at least this large run one on each of two threads
# (with blocking workers; pair_min_work).
PAIR_MIN_WORK = 2 * PARALLEL_MIN_WORK


def matmul_pair(a1, b1, a2, b2, then=None):
    """``(a1 @ b1, a2 @ b2)`` for two independent products of raw 2-D arrays (a layer's
    input and weight gradients): on two of lamina's threads at once, each one sequential
    MKL call, where both go to MKL and they are large enough together; else one after the
    other through :func:`matmul`.  One hand-off for both, where splitting each product
    costs two, and no block repacks the other's shared operand.  ``then``, a callable,
    runs on the calling thread once its product (the first) is done, while the other may
    still be running (linear's bias gradient)."""
    if (_use_mkl and _threads.num_threads() > 1 and not _threads.in_worker() and
            _for_mkl(a1, b1) and _for_mkl(a2, b2) and
            a1.shape[0] * a1.shape[1] * b1.shape[1] + a2.shape[0] * a2.shape[1] * b2.shape[1]
            >= pair_min_work()):
        first, second = _bound_gemm(a1, b1, None, 0.0), _bound_gemm(a2, b2, None, 0.0)
        if first is not None and second is not None:
            def mine():
                first[1](*first[2])
                if then is not None:
                    then()
            # the second product as a bound MKL call: a spinning worker runs it without
            # the GIL
            _on_threads([functools.partial(second[1], *second[2]), mine])
            return first[0], second[0]
    p1 = matmul(a1, b1)
    if then is not None:
        then()
    return p1, matmul(a2, b2)


def prepared_matmul(a, b, out):
    """For a loop that multiplies each slice of a stack by one fixed matrix: ``a`` (S, m, k),
    ``b`` (k, n) and ``out`` (m, n) NumPy arrays whose memory stays put, returns ``run(i)``
    computing ``out[...] = a[i] @ b`` with MKL, its pointers and layouts worked out once (a
    call then costs ~1 us of Python, a fraction of ``matmul``'s checks).  Returns None where
    MKL is off or cannot read these arrays in place; the caller then uses ``xp.matmul``.
    ``run`` keeps the three arrays alive; the caller must not resize or replace them."""
    if not _use_mkl or type(a) is not np.ndarray or type(b) is not np.ndarray or \
            type(out) is not np.ndarray or a.ndim != 3 or b.ndim != 2 or out.ndim != 2 or \
            a.shape[0] < 1:
        return None
    plan = _plan(a[0], b, out)      # every slice of the stack has the first one's layout
    if plan is None:
        return None
    fn, m, n, k, ta, lda, tb, ldb, ldc = plan
    base, step = a.ctypes.data, a.strides[0]
    pb, pc = b.ctypes.data, out.ctypes.data
    keep = (a, b, out)      # the pointers above are only valid while these arrays live

    def run(i):
        fn(_ROW_MAJOR, ta, tb, m, n, k, 1.0, base + i * step, lda, pb, ldb, 0.0, pc, ldc)
    run.arrays = keep
    return run
