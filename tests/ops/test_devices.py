"""Operands on two devices (lamina/ops/*): raw host data follows the tensors' device as a
constant would; tensors on different devices are a clear error naming the op and both
devices, never a CuPy/NumPy type error from deep inside the op.  A stand-in array plays
the GPU tensor, so these run without a GPU."""
import numpy as np
import pytest

import lamina as lm
from lamina import backend
from lamina.ops.attention import scaled_dot_product_attention
from lamina.ops.conv import conv2d, conv2d_transpose
from lamina.ops.recurrent import gru, lstm, simple_rnn


class _FakeGPUArray:
    """Stands in for a CuPy array: only its device, dtype and shape are ever read."""

    def __init__(self, a):
        self.a = a
        self.dtype, self.shape, self.ndim, self.size = a.dtype, a.shape, a.ndim, a.size


@pytest.fixture
def gpu(monkeypatch):
    """Makes a 'GPU' tensor from a NumPy array (device cuda:0 as lamina reports it)."""
    real = backend.device_of
    monkeypatch.setattr(backend, "device_of",
                        lambda arr: lm.device("cuda:0") if isinstance(arr, _FakeGPUArray)
                        else real(arr))

    def make(a):
        t = lm.tensor(np.asarray(a), device="cpu")
        t.data = _FakeGPUArray(t.data)
        return t
    return make


def _cpu(a):
    return lm.tensor(np.asarray(a), device="cpu")


R = np.random.default_rng(0)
F = lambda *s: R.standard_normal(s).astype(np.float32)  # noqa: E731


@pytest.mark.parametrize("name,call", [
    ("linear", lambda c, g: lm.nn.functional.linear(c(F(2, 3)), g(F(3, 4)))),
    ("linear", lambda c, g: lm.nn.functional.linear(c(F(2, 3)), c(F(3, 4)), g(F(4)))),
    ("conv2d", lambda c, g: conv2d(c(F(1, 4, 4, 2)), g(F(3, 3, 2, 5)))),
    ("conv2d", lambda c, g: conv2d(c(F(1, 4, 4, 2)), c(F(3, 3, 2, 5)), g(F(5)))),
    ("conv2d_transpose", lambda c, g: conv2d_transpose(c(F(1, 4, 4, 2)), g(F(3, 3, 5, 2)))),
    ("lstm", lambda c, g: lstm(c(F(2, 3, 4)), None, None, g(F(4, 8)), g(F(2, 8)))),
    ("lstm", lambda c, g: lstm(g(F(2, 3, 4)), None, c(F(2, 2)), g(F(4, 8)), g(F(2, 8)))),
    ("gru", lambda c, g: gru(c(F(2, 3, 4)), None, c(F(4, 6)), g(F(2, 6)))),
    ("simple_rnn", lambda c, g: simple_rnn(c(F(2, 3, 4)), None, c(F(4, 2)), c(F(2, 2)),
                                           g(F(2)))),
    ("einsum", lambda c, g: lm.einsum("ij,jk->ik", c(F(2, 3)), g(F(3, 4)))),
    ("concatenate", lambda c, g: lm.concatenate([c(F(2, 3)), g(F(2, 3))])),
    ("cross_entropy", lambda c, g: lm.nn.functional.cross_entropy(c(F(2, 3)), g([0, 2]))),
    ("binary_cross_entropy_with_logits",
     lambda c, g: lm.nn.functional.binary_cross_entropy_with_logits(c(F(2, 3)), g(F(2, 3)))),
    ("where", lambda c, g: lm.where(g(np.ones((2, 3), bool)), c(F(2, 3)), c(F(2, 3)))),
    ("masked_fill", lambda c, g: lm.masked_fill(c(F(2, 3)), g(np.ones((2, 3), bool)), 0.0)),
    ("scaled_dot_product_attention",
     lambda c, g: scaled_dot_product_attention(c(F(2, 3, 4)), g(F(2, 3, 4)), c(F(2, 3, 4)))),
    ("clip", lambda c, g: lm.clip(c(F(2, 3)), g(F(2, 3)))),
])
def test_tensors_on_two_devices_name_the_op_and_devices(name, call, gpu):
    with pytest.raises(ValueError, match=rf"^{name}: .* on (cpu|cuda:0), .* on "
                                         r"(cuda:0|cpu)(; move one with \.to\(device\))?$"):
        call(_cpu, gpu)


def test_raw_condition_and_mask_follow_cpu_values_under_a_gpu_default(monkeypatch):
    # the default device only places new tensors made from scratch: a raw condition or
    # mask given with CPU values is a constant of theirs (no CuPy is needed here)
    monkeypatch.setattr(backend, "_default_device", lm.device("cuda:0"))
    a, b = _cpu([1.0, 2.0, 3.0]), _cpu([4.0, 5.0, 6.0])
    cond = np.array([True, False, True])
    np.testing.assert_array_equal(lm.where(cond, a, b).numpy(), [1.0, 5.0, 3.0])
    np.testing.assert_array_equal(lm.masked_fill(a, cond, 0.0).numpy(), [0.0, 2.0, 0.0])
    y = lm.nn.functional.linear(np.ones((1, 3), np.float32), _cpu(np.eye(3, dtype=np.float32)))
    assert y.device == lm.device("cpu")
    y = lm.concatenate([_cpu([1.0]), np.array([2.0], np.float32)])
    assert y.device == lm.device("cpu")
    np.testing.assert_array_equal(y.numpy(), [1.0, 2.0])


def test_raw_condition_keeps_its_meaning():
    a = lm.tensor([1.0, 2.0], requires_grad=True)
    y = lm.where([0, 1], a, 0.0)
    np.testing.assert_array_equal(y.numpy(), [0.0, 2.0])
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 1.0])
    # a tensor condition with constants on both sides: the constants take its device
    y = lm.where(lm.tensor([True, False]), 1.0, 0.0)
    np.testing.assert_array_equal(y.numpy(), [1.0, 0.0])


@pytest.mark.parametrize("op", ["take", "embedding"])
def test_text_indices_are_a_type_error(op):
    table = lm.zeros(5, 2)
    fn = (lambda i: lm.take(table, i, axis=0)) if op == "take" else \
        (lambda i: lm.embedding(i, table))
    with pytest.raises(TypeError, match=f"{op}: indices must be integers"):
        fn(np.array(["a"]))
