"""Shared fixtures: ``device`` (every available device; CUDA runs are marked ``gpu``)
and ``torch`` (the PyTorch module, or a clean skip when it is not installed)."""
import numpy as np
import pytest

import lamina


def _devices():
    params = [pytest.param("cpu", id="cpu")]
    if lamina.cuda.is_available():
        params.append(pytest.param("cuda", id="cuda", marks=pytest.mark.gpu))
    return params


@pytest.fixture(params=_devices())
def device(request):
    """A device name: 'cpu', and 'cuda' when CuPy sees a GPU."""
    return request.param


@pytest.fixture
def torch():
    """The torch module (the tests' oracle); skips the test when torch is missing."""
    return pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Every test starts with grad mode on and the default dtype float32."""
    from lamina.autograd import GradMode
    GradMode.enabled = True
    lamina.set_default_dtype("float32")
    yield
    GradMode.enabled = True
    lamina.set_default_dtype("float32")


@pytest.fixture
def rng():
    """A seeded NumPy generator for test data."""
    return np.random.default_rng(0)
