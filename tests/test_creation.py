"""Tensor creation functions (lamina/creation.py)."""
import numpy as np
import pytest

import lamina as lm

# these check the CPU's semantics (memory shared with NumPy, reprs without a device): they do
# not apply when LAMINA_DEVICE puts new tensors on a GPU
cpu_default = pytest.mark.skipif(lm.default_device().type != "cpu",
                                 reason="checks CPU semantics; the default device is a GPU")


def test_filled_and_like():
    assert lm.zeros(2, 3).shape == (2, 3) and lm.zeros((2, 3)).shape == (2, 3)
    assert lm.ones(2, dtype="float64").dtype == np.float64
    np.testing.assert_array_equal(lm.full((2,), 7.0).numpy(), [7.0, 7.0])
    assert lm.empty(3).shape == (3,)
    x = lm.tensor([[1, 2]], dtype="int32")
    assert lm.zeros_like(x).dtype == np.int32 and lm.ones_like(x, dtype="float32").dtype == np.float32
    assert lm.full_like(x, 3).tolist() == [[3, 3]]
    assert lm.zeros(2, requires_grad=True).requires_grad


def test_ranges_and_eye():
    assert lm.arange(5).dtype == np.int64 and lm.arange(0.0, 1.0, 0.25).dtype == np.float32
    np.testing.assert_allclose(lm.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5))
    assert lm.linspace(0, 1, 3).dtype == np.float32
    np.testing.assert_array_equal(lm.eye(2, 3).numpy(), np.eye(2, 3))


@cpu_default
def test_tensor_copies_but_from_numpy_and_asarray_share():
    a = np.zeros(3, np.float32)
    t, s, u = lm.tensor(a), lm.from_numpy(a), lm.asarray(a)
    a[0] = 5
    assert t.numpy()[0] == 0 and s.numpy()[0] == 5 and u.numpy()[0] == 5
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray"):
        lm.from_numpy([1.0])
    assert lm.asarray(t) is t


def test_read_only_arrays_are_copied():
    a = np.ones(3)
    a.setflags(write=False)
    t = lm.Tensor(a)
    t += 1
    np.testing.assert_array_equal(a, np.ones(3))
