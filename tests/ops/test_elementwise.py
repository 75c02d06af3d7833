"""Elementwise ops beyond the table: numerical stability, ties, dtypes, clip/where details."""
import warnings

import numpy as np
import pytest

import lamina as lm
from lamina.nn import functional as F


@pytest.mark.parametrize("fn", [lm.sigmoid, lm.softplus, lm.silu, lm.gelu, lm.elu, lm.selu,
                                lm.tanh, lm.softsign, lm.hard_sigmoid, lm.log_softmax,
                                lm.softmax, lm.logsumexp])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_no_overflow_at_large_magnitudes(fn, dtype):
    x = lm.tensor([-1000.0, -30.0, 0.0, 30.0, 1000.0], dtype=dtype, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no overflow / invalid-value warnings
        y = fn(x)
        y.sum().backward()
    assert y.dtype == np.dtype(dtype) and x.grad.dtype == np.dtype(dtype)
    assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(x.grad.numpy()))


def test_sigmoid_and_softplus_exact_in_the_tails():
    x = lm.tensor([-1000.0, 1000.0, -50.0])
    np.testing.assert_array_equal(lm.sigmoid(x).numpy()[:2], [0.0, 1.0])
    np.testing.assert_allclose(lm.softplus(x).numpy(), [0.0, 1000.0, np.exp(-50.0)], rtol=1e-6)


@pytest.mark.parametrize("op", [lm.maximum, lm.minimum])
def test_maximum_minimum_split_the_gradient_at_ties(op, torch):
    a = lm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = lm.tensor([1.0, 0.0, 5.0], requires_grad=True)
    op(a, b).sum().backward()
    ta = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    tb = torch.tensor([1.0, 0.0, 5.0], requires_grad=True)
    getattr(torch, op.__name__)(ta, tb).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())
    np.testing.assert_array_equal(b.grad.numpy(), tb.grad.numpy())
    assert a.grad.numpy()[0] == 0.5


def test_relu_and_abs_gradient_at_zero_is_zero():
    x = lm.tensor([0.0, 0.0], requires_grad=True)
    (lm.relu(x) + lm.abs(x)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


def test_clip_gradient_passes_at_the_bounds_and_with_tensor_bounds():
    x = lm.tensor([-1.0, 0.0, 0.5, 1.0, 2.0], requires_grad=True)
    lm.clip(x, lm.tensor(0.0), lm.tensor(1.0)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 1, 1, 0])
    with pytest.raises(ValueError, match="clip: at least one"):
        lm.clip(x)


def test_where_accepts_scalars_and_masks_gradients():
    x = lm.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = lm.where(x > 0, x, 0.0)
    y.sum().backward()
    np.testing.assert_array_equal(y.numpy(), [1.0, 0.0, 3.0])
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 1.0])
    assert y.dtype == np.float32


def test_int_inputs_to_float_ops_become_float32():
    i = lm.tensor([1, 2, 4])
    for fn in (lm.exp, lm.log, lm.sqrt, lm.sigmoid, lm.relu, lm.tanh, lm.reciprocal):
        assert fn(i).dtype == np.float32
    assert (i ** 0.5).dtype == np.float32 and (i ** 2).dtype == np.int64


def test_power_of_zero_base_with_tensor_exponent_has_finite_gradient():
    a = lm.tensor([0.0, 2.0], requires_grad=True)
    b = lm.tensor([2.0, 3.0], requires_grad=True)
    (a ** b).sum().backward()
    assert np.all(np.isfinite(b.grad.numpy())) and b.grad.numpy()[0] == 0.0
    np.testing.assert_allclose(a.grad.numpy(), [0.0, 12.0])


def test_leaky_relu_default_slope_is_keras():
    x = lm.tensor([-2.0, 3.0])
    np.testing.assert_allclose(F.leaky_relu(x).numpy(), [-0.4, 3.0])
    np.testing.assert_allclose(F.leaky_relu(x, 0.01).numpy(), [-0.02, 3.0])


def test_cast_gradient_returns_to_source_dtype():
    x = lm.tensor([1.0, 2.0], requires_grad=True)
    (lm.cast(x, "float64") * 3).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erfinv_and_erfc_without_scipy(monkeypatch, dtype):
    """The fallbacks used when SciPy is absent: erf(erfinv(a)) = a (checked with the
    standard library's erf) and erfc = math.erfc, tails included."""
    import math
    import sys
    monkeypatch.setitem(sys.modules, "scipy.special", None)     # import now raises
    a = np.concatenate([np.linspace(-0.9999, 0.9999, 401), [0.0, 1e-9]]).astype(dtype)
    y = lm.erfinv(lm.tensor(a)).numpy()
    assert y.dtype == dtype and np.isfinite(y).all()
    back = np.array([math.erf(v) for v in y.astype(np.float64)])
    tol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(back, a, rtol=tol, atol=tol)
    x = np.linspace(-4, 8, 49).astype(dtype)
    np.testing.assert_allclose(lm.erfc(lm.tensor(x)).numpy(), [math.erfc(v) for v in x],
                               rtol=1e-6 if dtype == np.float32 else 1e-14, atol=0)
