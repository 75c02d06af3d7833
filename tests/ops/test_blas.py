"""lamina.ops.blas: the MKL path gives NumPy's product for every layout it accepts, and
everything else falls back to xp.matmul."""
import numpy as np
import pytest

from lamina.ops import blas

mkl = pytest.mark.skipif(not blas.mkl_available(), reason="MKL (pip install lamina[mkl]) absent")


def _operand(rng, shape, dtype, layout):
    """A (shape) array laid out as asked: 'c' contiguous, 'f' a transposed view, 'pad' rows
    of a wider array (leading dimension > shape[1])."""
    if layout == "c":
        return rng.standard_normal(shape).astype(dtype)
    if layout == "f":
        return rng.standard_normal(shape[::-1]).astype(dtype).T
    wide = rng.standard_normal((shape[0], shape[1] + 7)).astype(dtype)
    return wide[:, 3:3 + shape[1]]


@mkl
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("la", ["c", "f", "pad"])
@pytest.mark.parametrize("lb", ["c", "f", "pad"])
def test_mkl_matches_numpy_for_every_layout(dtype, la, lb):
    rng = np.random.default_rng(0)
    m, k, n = 96, 150, 160           # m * k * n above MIN_MKL_WORK
    assert m * k * n >= blas.MIN_MKL_WORK
    a, b = _operand(rng, (m, k), dtype, la), _operand(rng, (k, n), dtype, lb)
    want = a.astype(np.float64) @ b.astype(np.float64)
    got = blas._mkl_gemm(a, b, None, 0.0)
    assert got is not False and got.dtype == dtype and got.shape == (m, n)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
    np.testing.assert_allclose(blas.matmul(a, b), want, rtol=tol, atol=tol * np.abs(want).max())


@mkl
def test_mkl_writes_into_out_and_accumulates():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((128, 160)).astype(np.float32)
    b = rng.standard_normal((160, 128)).astype(np.float32)
    big = np.full((128, 140), 5.0, np.float32)
    out = big[:, 4:132]                          # rows of a wider array: ldc > n
    res = blas.matmul(a, b, out=out)
    assert res is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-3)
    assert (big[:, :4] == 5).all() and (big[:, 132:] == 5).all()   # nothing outside touched
    blas.matmul(a, b, out=out, accumulate=True)
    np.testing.assert_allclose(out, 2 * (a @ b), rtol=1e-4, atol=2e-3)


@mkl
def test_mkl_declines_what_it_cannot_read_in_place():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((128, 256)).astype(np.float32)
    b = rng.standard_normal((256, 128)).astype(np.float32)
    assert blas._mkl_gemm(a[:, ::2], b[::2], None, 0.0) is False       # no unit stride
    assert blas._mkl_gemm(a.astype(np.float16), b.astype(np.float16), None, 0.0) is False
    assert blas._mkl_gemm(a, b.astype(np.float64), None, 0.0) is False  # mixed dtypes
    # ... and matmul still answers, through NumPy
    np.testing.assert_allclose(blas.matmul(a[:, ::2], b[::2]), a[:, ::2] @ b[::2], rtol=1e-5)


@mkl
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lb", ["c", "f", "pad"])
def test_prepared_matmul_multiplies_each_slice_of_a_stack(dtype, lb):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((5, 32, 48)).astype(dtype)
    rev = a[::-1]                                # a negative step between slices works too
    b = _operand(rng, (48, 40), dtype, lb)
    big = np.zeros((32, 50), dtype)
    out = big[:, 3:43]                           # ldc > n
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for stack in (a, rev):
        run = blas.prepared_matmul(stack, b, out)
        assert run is not None
        for i in (0, 3, 4, 1):
            run(i)
            np.testing.assert_allclose(out, stack[i] @ b, rtol=tol, atol=tol * 50)
    assert (big[:, :3] == 0).all() and (big[:, 43:] == 0).all()


def test_prepared_matmul_declines_what_mkl_cannot_take():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 8, 6)).astype(np.float32)
    b = rng.standard_normal((6, 5)).astype(np.float32)
    out = np.empty((8, 5), np.float32)
    assert blas.prepared_matmul(a, b.astype(np.float64), out) is None      # mixed dtypes
    assert blas.prepared_matmul(a, b, np.empty((8, 4), np.float32)) is None  # wrong out
    assert blas.prepared_matmul(a[:, :, ::2], b[::2], out) is None         # no unit stride
    assert blas.prepared_matmul(a.astype(np.int64), b.astype(np.int64),
                                np.zeros((8, 5), np.int64)) is None
    prev = blas.set_backend("numpy")
    try:
        assert blas.prepared_matmul(a, b, out) is None                     # MKL turned off
    finally:
        blas.set_backend(prev)


def test_fallback_is_numpy_matmul_for_small_and_odd_operands():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 5)).astype(np.float32)     # below MIN_MKL_WORK
    b = rng.standard_normal((5, 3)).astype(np.float32)
    out = np.empty((4, 3), np.float32)
    assert blas.matmul(a, b, out=out) is out
    np.testing.assert_array_equal(out, a @ b)
    ia, ib = np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)   # integers
    np.testing.assert_array_equal(blas.matmul(ia, ib), ia @ ib)
    acc = np.ones((4, 3), np.float32)
    blas.matmul(a, b, out=acc, accumulate=True)
    np.testing.assert_allclose(acc, 1 + a @ b, rtol=1e-6)
    with pytest.raises(ValueError, match="accumulate=True needs out="):
        blas.matmul(a, b, accumulate=True)


def test_set_backend_switches_and_reports():
    prev = blas.backend()
    assert prev in ("mkl", "numpy")
    try:
        assert blas.set_backend("numpy") == prev
        assert blas.backend() == "numpy"
        a = np.ones((200, 200), np.float32)
        np.testing.assert_array_equal(blas.matmul(a, a), a @ a)
        if blas.mkl_available():
            blas.set_backend("mkl")
            assert blas.backend() == "mkl"
        else:
            with pytest.raises(RuntimeError, match="MKL is not available"):
                blas.set_backend("mkl")
        with pytest.raises(ValueError, match="unknown backend 'atlas'"):
            blas.set_backend("atlas")
    finally:
        blas.set_backend(prev)


@mkl
def test_mkl_is_sequential_unless_asked_otherwise():
    # a threaded MKL beside NumPy's threaded OpenBLAS oversubscribes the cores (the labs ran
    # 2-5x slower): lamina picks the sequential layer unless MKL_THREADING_LAYER is set
    import subprocess
    import sys
    code = ("import ctypes; from lamina.ops import blas; assert blas.mkl_available(); "
            "lib = ctypes.CDLL(blas._find_mkl()); print(lib.MKL_Get_Max_Threads())")
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("MKL_THREADING_LAYER", "MKL_NUM_THREADS", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "1"
