"""The Tensor class (lamina/tensor.py): attributes, conversions, dtype rules,
operators, indexing, in-place arithmetic, repr and error messages."""
import numpy as np
import pytest

import lamina as lm
from lamina import backend

# these check the CPU's semantics (memory shared with NumPy, reprs without a device): they do
# not apply when LAMINA_DEVICE puts new tensors on a GPU
cpu_default = pytest.mark.skipif(lm.default_device().type != "cpu",
                                 reason="checks CPU semantics; the default device is a GPU")


@cpu_default
def test_attributes():
    t = lm.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and t.dtype == np.float64
    assert t.device == lm.device("cpu") and str(t.device) == "cpu"
    assert t.T.shape == (3, 2) and t.is_leaf and t.requires_grad and t.grad is None
    assert isinstance(t.data, np.ndarray) and len(t) == 2


def test_default_dtype_float32_and_int64():
    assert lm.tensor([1.0, 2.0]).dtype == np.float32
    assert lm.tensor(3.5).dtype == np.float32
    assert lm.tensor([1, 2]).dtype == np.int64
    assert lm.tensor(np.array([1.0])).dtype == np.float64     # NumPy arrays keep theirs
    assert lm.tensor([1.0], dtype="float64").dtype == np.float64
    assert lm.zeros(2).dtype == np.float32 and lm.randn(2).dtype == np.float32


@pytest.mark.parametrize("scalar", [2.5, 2, np.float64(2.5), True])
def test_python_scalars_never_promote_float32(scalar):
    x = lm.tensor([1.0, 2.0])
    for y in (x + scalar, scalar * x, x / scalar, x - scalar, x ** 2.0, scalar - x):
        assert y.dtype == np.float32


def test_dtype_promotion_rules():
    i = lm.tensor([1, 2, 3])
    f32 = lm.tensor([1.0, 2.0, 3.0])
    f64 = lm.tensor(np.array([1.0, 2.0, 3.0]))
    assert (i + 1.5).dtype == np.float32          # int + Python float -> default float
    assert (i + f32).dtype == np.float32          # int tensor adopts the float tensor's dtype
    assert (i + 1).dtype == np.int64
    assert (i / 2).dtype == np.float32            # true division of ints gives floats
    assert (f64 + 1.5).dtype == np.float64        # float64 stays float64
    assert (f64 * f32).dtype == np.float64
    assert (f32 + np.ones(3)).dtype == np.float32  # a raw float64 array adopts the tensor dtype
    lm.set_default_dtype("float64")
    assert lm.tensor([1.0]).dtype == np.float64
    lm.set_default_dtype("float32")
    with pytest.raises(TypeError, match="float dtype"):
        lm.set_default_dtype("int32")


@cpu_default
def test_conversions():
    t = lm.tensor([[1.0, 2.0], [3.0, 4.0]])
    a = np.asarray(t)
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    np.testing.assert_array_equal(a, [[1, 2], [3, 4]])
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert lm.tensor([7.5]).item() == 7.5 and isinstance(lm.tensor(3).item(), int)
    with pytest.raises(ValueError, match=r"item.*shape \(2, 2\)"):
        t.item()
    assert float(lm.tensor(2.5)) == 2.5 and int(lm.tensor(3)) == 3
    assert t.numpy() is t.data


@cpu_default
def test_to_and_astype():
    x = lm.tensor([1.5, 2.5], requires_grad=True)
    y = x.to("float64")
    assert y.dtype == np.float64 and y.requires_grad
    y.sum().backward()
    assert x.grad.dtype == np.float32
    assert x.astype("int32").dtype == np.int32 and not x.astype("int32").requires_grad
    assert x.to("cpu") is x and x.to(lm.device("cpu"), dtype="float64").dtype == np.float64
    assert x.double().dtype == np.float64 and x.double().float().dtype == np.float32


def test_detach_and_requires_grad_():
    x = lm.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    with pytest.raises(TypeError, match="only float tensors"):
        lm.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf"):
        (x * 2).requires_grad_(False)
    x.zero_grad()
    assert x.grad is None


@cpu_default
def test_repr():
    assert repr(lm.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(lm.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    assert repr(lm.tensor(np.array([1.0]))) == "tensor([1.], dtype=float64)"
    assert repr(lm.tensor([1, 2], dtype="int32")) == "tensor([1, 2], dtype=int32)"
    y = lm.tensor([1.0], requires_grad=True) * 2
    assert "grad_fn=<multiply>" in repr(y)


def test_operators_values():
    a = lm.tensor([5.0, -3.0, 2.0])
    b = lm.tensor([2.0, 2.0, -4.0])
    na, nb = a.numpy(), b.numpy()
    for got, want in [(a + b, na + nb), (a - b, na - nb), (a * b, na * nb), (a / b, na / nb),
                      (a // b, na // nb), (a % b, na % nb), (abs(a), np.abs(na)), (-a, -na),
                      (a ** 2, na ** 2), (2 ** b, 2 ** nb), (3 - a, 3 - na), (1 / b, 1 / nb)]:
        np.testing.assert_allclose(got.numpy(), want)
    m = lm.tensor(np.eye(2, dtype=np.float32))
    np.testing.assert_array_equal((m @ m).numpy(), np.eye(2))
    np.testing.assert_array_equal((np.ones((2, 2), np.float32) @ m).numpy(), np.ones((2, 2)))


def test_comparisons_return_bool_without_grad():
    a = lm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for c in (a > 1.5, a >= 2, a < 2, a <= 1, a == 2, a != 2):
        assert c.dtype == np.bool_ and not c.requires_grad
    np.testing.assert_array_equal((a > 1.5).numpy(), [False, True, True])
    with pytest.raises(ValueError, match="ambiguous"):
        bool(a > 1)


def test_numpy_array_on_left_defers_to_tensor():
    a = lm.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0], dtype=np.float32) * a
    assert isinstance(y, lm.Tensor) and y.requires_grad


def test_getitem_gradients_scatter_with_accumulation():
    x = lm.tensor(np.arange(5.0), requires_grad=True)
    x[np.array([1, 1, 3, 1])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 3, 0, 1, 0])
    x.grad = None
    x[lm.tensor([True, False, True, False, True])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 0, 1, 0, 1])
    x.grad = None
    x[1:4:2].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 0, 1, 0])
    with pytest.raises(IndexError, match=r"getitem.*shape \(5,\)"):
        x[7]


def test_iteration_and_len():
    t = lm.tensor([[1.0, 2.0], [3.0, 4.0]])
    rows = list(t)
    assert len(rows) == 2 and rows[1].tolist() == [3.0, 4.0]
    with pytest.raises(TypeError, match="0-d"):
        len(lm.tensor(1.0))


def test_tensor_from_ragged_data_is_a_type_error():
    with pytest.raises((TypeError, ValueError)):
        lm.tensor([[1.0, 2.0], [3.0]])


def test_errors_name_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(32, 64\) and \(32, 10\) cannot be "
                                         r"multiplied: 64 != 32"):
        lm.zeros(32, 64) @ lm.zeros(32, 10)
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\)"):
        lm.zeros(2, 3).reshape(4, 2)
    with pytest.raises(ValueError, match=r"add.*\(2, 3\).*\(4,\)"):
        lm.zeros(2, 3) + lm.zeros(4)
    with pytest.raises(ValueError, match=r"concatenate: tensor 1 has shape \(2, 4\)"):
        lm.concatenate([lm.zeros(2, 3), lm.zeros(2, 4)], axis=0)
    with pytest.raises(ValueError, match=r"linear: input of shape \(5, 3\)"):
        lm.nn.functional.linear(lm.zeros(5, 3), lm.zeros(4, 2))
    with pytest.raises(ValueError, match=r"sum: axis 2 is out of range"):
        lm.zeros(2, 3).sum(axis=2)
    with pytest.raises(ValueError, match=r"cross_entropy: class ids must lie in \[0, 3\)"):
        lm.nn.functional.cross_entropy(lm.zeros(2, 3), np.array([0, 3]))


class _FakeGPUArray:
    """Stands in for a CuPy array so the device check can be tested without a GPU."""

    def __init__(self, a):
        self.a = a
        self.dtype, self.shape, self.ndim, self.size = a.dtype, a.shape, a.ndim, a.size


@cpu_default
def test_device_mix_error_names_op_and_devices(monkeypatch):
    real = backend.device_of
    monkeypatch.setattr(backend, "device_of",
                        lambda arr: lm.device("cuda:0") if isinstance(arr, _FakeGPUArray)
                        else real(arr))
    gpu = lm.Tensor.__new__(lm.Tensor)
    cpu = lm.tensor([1.0, 2.0])
    for k, v in vars(cpu).items() if hasattr(cpu, "__dict__") else []:
        setattr(gpu, k, v)
    for slot in lm.Tensor.__slots__:
        if slot != "__weakref__":
            setattr(gpu, slot, getattr(cpu, slot))
    gpu.data = _FakeGPUArray(np.array([1.0, 2.0], np.float32))
    with pytest.raises(ValueError, match=r"add: operands are on different devices \(cpu and cuda:0\)"):
        cpu + gpu


@pytest.mark.gpu
def test_device_mix_error_on_a_real_gpu():
    if not lm.cuda.is_available():
        pytest.skip("no CUDA device")
    a = lm.tensor([1.0, 2.0], device="cuda")
    assert a.device == lm.device("cuda:0")
    with pytest.raises(ValueError, match="different devices"):
        a + lm.tensor([1.0, 2.0])
    b = lm.tensor([1.0, 2.0], requires_grad=True)
    c = b.to("cuda")
    (c * c).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), [2.0, 4.0])


def test_device_parsing():
    assert lm.device("cuda:1").index == 1 and lm.device("cuda").index == 0
    assert lm.device("gpu").type == "cuda"
    with pytest.raises(ValueError, match="unknown device"):
        lm.device("tpu")
    with pytest.raises(TypeError):
        lm.device(3)
    if not lm.cuda.is_available():
        with pytest.raises(ImportError, match="cupy"):
            lm.zeros(2, device="cuda")
