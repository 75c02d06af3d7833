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
    """Every test starts with grad mode on, the default dtype float32, the default
    (float32) global dtype policy, Keras's channels_last image data format and epsilon 1e-7."""
    from lamina.autograd import GradMode
    from lamina.nn import keras_backend, mixed_precision
    GradMode.enabled = True
    lamina.set_default_dtype("float32")
    mixed_precision._reset()
    keras_backend.set_image_data_format("channels_last")
    keras_backend.set_epsilon(1e-7)
    yield
    GradMode.enabled = True
    lamina.set_default_dtype("float32")
    mixed_precision._reset()
    keras_backend.set_image_data_format("channels_last")
    keras_backend.set_epsilon(1e-7)


@pytest.fixture
def clean_custom_objects():
    """keras.utils.get_custom_objects(), restored with the serialization registry after the
    test: a class one test registers must not satisfy another test's lookups."""
    from lamina.keras import utils
    from lamina.nn import serialization
    saved = dict(utils.get_custom_objects())
    reg = dict(serialization._REGISTRY)
    yield utils.get_custom_objects()
    utils.get_custom_objects().clear()
    utils.get_custom_objects().update(saved)
    serialization._REGISTRY.clear()
    serialization._REGISTRY.update(reg)


@pytest.fixture
def rng():
    """A seeded NumPy generator for test data."""
    return np.random.default_rng(0)
