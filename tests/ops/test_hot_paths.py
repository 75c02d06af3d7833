"""The short paths taken by a training step (cross-entropy's NumPy path, scaling by a
Python number, in-place updates, the seed gradient) agree with the general ones."""
import numpy as np
import pytest

import lamina as lm
from lamina.nn import functional as F


def _ref_ce(z, t):
    z = z.astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z - m).sum(axis=1)) + m[:, 0]
    p = np.exp(z - lse[:, None])
    return lse - z[np.arange(len(t)), t], p


@pytest.mark.parametrize("n", [1, 5, 32, 5])       # 5 twice: the cached row ids are reused
def test_cross_entropy_mean_value_and_scaled_gradient(n):
    rng = np.random.default_rng(n)
    z = rng.standard_normal((n, 7)).astype(np.float32) * 3
    t = rng.integers(0, 7, n)
    per, p = _ref_ce(z, t)
    x = lm.tensor(z, requires_grad=True)
    loss = F.cross_entropy(x, t)
    np.testing.assert_allclose(loss.item(), per.mean(), rtol=1e-5)
    (loss * 2.5).backward()          # a non-unit incoming gradient takes the scale path
    p[np.arange(n), t] -= 1
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), 2.5 * p / n, rtol=1e-4, atol=1e-6)


def test_cross_entropy_nan_logit_gives_nan_only_in_its_row():
    z = np.array([[1.0, np.nan, 0.0], [0.5, 2.0, -1.0]], np.float32)
    per = F.cross_entropy(lm.tensor(z), np.array([0, 1]), reduction="none").numpy()
    assert np.isnan(per[0])
    np.testing.assert_allclose(per[1], _ref_ce(z[1:], np.array([1]))[0][0], rtol=1e-5)


def test_cross_entropy_negative_class_id_still_rejected():
    with pytest.raises(ValueError, match=r"cross_entropy: class ids must lie in \[0, 3\)"):
        F.cross_entropy(lm.tensor(np.zeros((2, 3), np.float32)), np.array([0, -1]))


def test_scale_by_python_number_keeps_dtype_and_records_only_with_grad():
    a = lm.tensor(np.array([1.5, -2.0], np.float32), requires_grad=True)
    with lm.no_grad():
        y = 0.5 * a
        s = lm.tensor(np.float32(3.0)) * 2
    assert y.dtype == np.float32 and not y.requires_grad
    np.testing.assert_array_equal(y.numpy(), [0.75, -1.0])
    assert s.shape == () and s.dtype == np.float32 and s.item() == 6.0
    z = a * 4
    assert z.requires_grad
    z.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [4.0, 4.0])


def test_inplace_same_shape_update_bumps_version_and_casts_ints():
    w = lm.tensor(np.ones(3, np.float32), requires_grad=True)
    y = (w * w).sum()
    with lm.no_grad():
        w -= lm.tensor(np.full(3, 0.5, np.float32))
    np.testing.assert_array_equal(w.numpy(), [0.5, 0.5, 0.5])
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()
    i = lm.tensor(np.array([3, 4]))
    i -= lm.tensor(np.array([1.0, 1.0], np.float32))      # different dtype: the checked path
    assert i.dtype.kind == "i"
    np.testing.assert_array_equal(i.numpy(), [2, 3])
    with pytest.raises(ValueError, match=r"in-place -=: shape \(2,\)"):
        lm.tensor(np.ones(3, np.float32)).__isub__(lm.tensor(np.ones(2, np.float32)))


def test_backward_seed_for_one_element_non_scalar_output():
    x = lm.tensor(np.array([[2.0]], np.float32), requires_grad=True)
    (x * x).backward()
    assert x.grad.shape == (1, 1)
    np.testing.assert_array_equal(x.grad.numpy(), [[4.0]])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_python_float_times_tensor_keeps_dtype_under_no_grad(dtype):
    g = lm.tensor(np.array([1.0, -2.0, 4.0], dtype))
    with lm.no_grad():
        for y in (0.25 * g, g * 0.25, 3 * g):
            assert y.dtype == dtype and not y.requires_grad
    np.testing.assert_array_equal((0.25 * g).numpy(), np.array([0.25, -0.5, 1.0], dtype))


def test_inplace_add_and_sub_fast_path_keep_the_checks():
    w = lm.tensor(np.ones(3, np.float32), requires_grad=True)
    step = lm.tensor(np.full(3, 0.25, np.float32))
    with pytest.raises(RuntimeError, match=r"in-place \+= on a tensor that requires grad"):
        w += step
    with pytest.raises(RuntimeError, match="in-place -= on a tensor that requires grad"):
        w -= step
    v0 = w._version
    with lm.no_grad():
        w += step
        w -= step * 2
    assert w._version == v0 + 2 and w.dtype == np.float32
    np.testing.assert_array_equal(w.numpy(), [0.75, 0.75, 0.75])
    b = lm.tensor(np.zeros((2, 3), np.float32))
    b += lm.tensor(np.arange(3, dtype=np.float32))          # broadcasting: the checked path
    np.testing.assert_array_equal(b.numpy(), [[0, 1, 2], [0, 1, 2]])
