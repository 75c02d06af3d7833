"""lamina.backend: devices, dtypes and array-module dispatch."""
import numpy as np
import pytest

import lamina as lm
from lamina import backend


def test_as_dtype_aliases_and_errors():
    assert backend.as_dtype("float") == np.float32 and backend.as_dtype("double") == np.float64
    assert backend.as_dtype("long") == np.int64 and backend.as_dtype(None) == np.float32
    assert backend.as_dtype(np.float16) == np.float16
    with pytest.raises(TypeError, match="unknown dtype"):
        backend.as_dtype("not-a-dtype")


def test_device_equality_hash_and_str():
    assert lm.device("cuda") == lm.device("cuda:0") == "cuda:0"
    assert lm.device("cpu") != lm.device("cuda")
    assert len({lm.device("cuda"), lm.device("cuda:0")}) == 1
    assert str(lm.device("cuda:2")) == "cuda:2" and repr(lm.device("cpu")) == "device('cpu')"
    with pytest.raises(ValueError, match="cpu has no index"):
        lm.device("cpu:1")


def test_get_xp_and_device_of_numpy():
    a = np.zeros(2)
    assert backend.get_xp(a) is np and backend.device_of(a) == lm.device("cpu")
    assert not backend.is_cupy_array(a)
    assert backend.to_device(a, "cpu") is a


def test_default_dtype_round_trip():
    backend.set_default_dtype("float64")
    try:
        assert lm.zeros(1).dtype == np.float64 and (lm.tensor([1.0]) * 2.5).dtype == np.float64
    finally:
        backend.set_default_dtype("float32")
    assert lm.default_dtype() == np.float32


@pytest.mark.skipif(lm.default_device().type != "cpu", reason="LAMINA_DEVICE set a GPU")
def test_default_device_is_the_cpu_and_cuda_needs_cupy(monkeypatch):
    import lamina as lm
    from lamina import backend
    assert lm.default_device() == lm.device("cpu")
    lm.set_default_device("cpu")
    assert lm.zeros(2).device == lm.device("cpu")
    assert lm.tensor([1.0]).device == lm.device("cpu")
    monkeypatch.setattr(backend, "_cupy", False)        # as on a machine without CuPy
    with pytest.raises(ImportError, match="cupy"):
        lm.set_default_device("cuda")
    assert lm.default_device() == lm.device("cpu")      # unchanged by the failed call


def test_to_host_gives_numpy_arrays():
    import lamina as lm
    from lamina.backend import to_host
    a = np.arange(6.0).reshape(2, 3)
    assert to_host(a) is a                                  # no copy on the host
    np.testing.assert_array_equal(to_host(lm.tensor(a)), a)
    assert to_host([1, 2]).dtype.kind == "i" and to_host(2.5).shape == ()
