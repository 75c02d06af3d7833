"""lamina.ops.cuda_kernels: the fused CuPy kernels give the plain CuPy path's values and
gradients, and none of them is turned off by a failed compile or check."""
import numpy as np
import pytest

import lamina as lm
from lamina.ops import cuda_kernels as ck
from lamina.ops.recurrent import lstm
from lamina.nn import functional as F

gpu = pytest.mark.skipif(not lm.cuda.is_available(), reason="needs CUDA and CuPy")


def test_no_kernels_for_numpy_arrays():
    for name in ck._ELEMENTWISE:
        assert ck.elementwise(name, np, np.float32) is None
    assert ck.lstm_step(np, np.float64) is None


def _run_both(fn):
    """fn() with the fused kernels on, then off: both results."""
    prev = ck.set_enabled(True)
    try:
        on = fn()
        ck.set_enabled(False)
        off = fn()
    finally:
        ck.set_enabled(prev)
    return on, off


def _assert_same(on, off, dtype, tol32=2e-5, tol64=1e-11):
    """The kernels' results equal the plain calls' to ``dtype``'s rounding, and no kernel
    was turned off along the way."""
    tol = tol32 if dtype == "float32" else tol64
    for a, b in zip(on, off):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    assert not ck.failures


def _lstm_grads(dtype, mask=None, go_backwards=False, return_sequences=True):
    rng = np.random.default_rng(0)
    N, T, D, H = 3, 5, 4, 6
    arrs = [rng.standard_normal(s).astype(dtype) * 0.5 for s in
            ((N, T, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,))]
    ts = [lm.tensor(a, device="cuda", requires_grad=True) for a in arrs]
    seq, h, c = lstm(*ts, mask=mask, go_backwards=go_backwards,
                     return_sequences=return_sequences)
    ((seq * seq).sum() + (h * 2).sum() + (c * c).sum()).backward()
    return [seq.numpy(), h.numpy(), c.numpy()] + [t.grad.numpy() for t in ts]


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", ["plain", "masked", "backwards", "last"])
def test_lstm_step_kernels_match_cupy_calls(dtype, case):
    mask = None
    if case == "masked":
        mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0]], bool)
    on, off = _run_both(lambda: _lstm_grads(dtype, mask, case == "backwards",
                                            case != "last"))
    _assert_same(on, off, dtype)


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", ["sigmoid", "gelu"])
def test_activation_kernels_match_cupy_calls(dtype, op):
    x = np.linspace(-12, 12, 97).astype(dtype)

    def run():
        t = lm.tensor(x, device="cuda", requires_grad=True)
        y = getattr(F, op)(t)
        (y * y).sum().backward()
        return y.numpy(), t.grad.numpy()
    on, off = _run_both(run)
    _assert_same(on, off, dtype, 1e-5, 1e-12)


@gpu
@pytest.mark.gpu
def test_adam_kernel_matches_cupy_calls():
    from lamina import keras
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((7, 5)).astype(np.float32)
    gs = [rng.standard_normal((7, 5)).astype(np.float32) for _ in range(3)]

    def run():
        w = lm.tensor(w0, device="cuda", requires_grad=True)
        opt = keras.optimizers.Adam(0.01)
        for g in gs:
            opt.apply([lm.tensor(g, device="cuda")], [w])
        return [w.numpy()]
    on, off = _run_both(run)
    np.testing.assert_allclose(on[0], off[0], rtol=1e-5, atol=1e-6)
    assert not ck.failures


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("affine", [(True, True), (True, False), (False, False)])
def test_layer_norm_kernels_match_cupy_calls(dtype, affine):
    from lamina.nn.layers.normalization import normalize_affine
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal((3, 7, 45)).astype(dtype) * 2 + 1
    g0, b0 = rng.standard_normal(45).astype(dtype), rng.standard_normal(45).astype(dtype)

    def run():
        x = lm.tensor(x0, device="cuda", requires_grad=True)
        g = lm.tensor(g0, device="cuda", requires_grad=True) if affine[0] else None
        b = lm.tensor(b0, device="cuda", requires_grad=True) if affine[1] else None
        y, mean, var = normalize_affine(x, g, b, (2,), 1e-3)
        (y * y * lm.tensor(x0, device="cuda")).sum().backward()
        return [y.numpy(), mean.get(), var.get(), x.grad.numpy()] + \
            [t.grad.numpy() for t in (g, b) if t is not None]
    on, off = _run_both(run)
    _assert_same(on, off, dtype)


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_softmax_cross_entropy_kernels_match_cupy_calls(dtype, reduction):
    rng = np.random.default_rng(2)
    z0 = rng.standard_normal((4, 3, 53)).astype(dtype) * 5
    t0 = rng.integers(0, 53, (4, 3))

    def run():
        z = lm.tensor(z0, device="cuda", requires_grad=True)
        loss = lm.nn.functional.cross_entropy(z, t0, reduction=reduction)
        (loss * loss).sum().backward()
        return [loss.numpy(), z.grad.numpy()]
    on, off = _run_both(run)
    _assert_same(on, off, dtype)
    with pytest.raises(ValueError, match="class ids must lie in"):
        lm.nn.functional.cross_entropy(lm.tensor(z0, device="cuda"), t0 + 53)
    assert not ck.failures
