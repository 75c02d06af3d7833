"""lamina.ops.ccalls: C functions called by address, from Python (ctypes) and from loops
numba compiles, give the same results."""
import ctypes

import numpy as np
import pytest

from lamina.ops import blas, ccalls

mkl = pytest.mark.skipif(not blas.mkl_available() or blas.mkl_float32_exp() is None,
                         reason="MKL (pip install lamina[mkl]) absent")


def _product_args(a, b, c):
    m, k = a.shape
    n = b.shape[1]
    return (101, 111, 111, m, n, k, 1.0, a.ctypes.data, k, b.ctypes.data, n, 0.0,
            c.ctypes.data, n)


def _run_all(addrs, a, b, c, x, ts):
    """c = a @ b, x = exp(x), the clock into ts; sched_yield's result."""
    ccalls.c_sgemm(addrs[0], (101, 111, 111, a.shape[0], b.shape[1], a.shape[1],
                              np.float32(1.0), a.ctypes.data, a.shape[1], b.ctypes.data,
                              b.shape[1], np.float32(0.0), c.ctypes.data, b.shape[1]))
    ccalls.c_vml(addrs[1], (x.size, x.ctypes.data, x.ctypes.data, 0x101))
    ccalls.c_clock(addrs[2], (1, ts.ctypes.data))
    return ccalls.c_yield(addrs[3], ())


def _case():
    r = np.random.default_rng(0)
    a = r.standard_normal((5, 4)).astype(np.float32)
    b = r.standard_normal((4, 3)).astype(np.float32)
    return a, b, np.zeros((5, 3), np.float32), r.standard_normal(7).astype(np.float32), \
        np.zeros(2, np.int64)


def _addresses():
    libc = ctypes.CDLL(None)
    return ccalls.addresses(blas._SGEMM, blas.mkl_float32_exp(), libc.clock_gettime,
                            libc.sched_yield)


@mkl
def test_python_calls_by_address():
    a, b, c, x, ts = _case()
    x0 = x.copy()
    assert _run_all(_addresses(), a, b, c, x, ts) == 0
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x, np.exp(x0), rtol=1e-5)
    assert ts[0] > 0 or ts[1] > 0
    d = np.zeros((5, 3))
    ccalls.c_dgemm(ccalls.address(blas._DGEMM), _product_args(a.astype(np.float64),
                                                               b.astype(np.float64), d))
    np.testing.assert_allclose(d, a.astype(np.float64) @ b, rtol=1e-12)


@mkl
def test_compiled_calls_by_address_match_python():
    numba = pytest.importorskip("numba")
    ccalls.register_for_numba()
    run = numba.njit(nogil=True)(_run_all)
    got, want = _case(), _case()
    assert run(_addresses(), *got) == 0
    _run_all(_addresses(), *want)
    for g, w in zip(got[2:4], want[2:4]):
        np.testing.assert_array_equal(g, w)


def test_address_of_nothing_is_zero():
    assert ccalls.address(None) == 0
    assert ccalls.addresses(None).tolist() == [0]
