"""keras.backend (minimal): floatx, set_floatx, epsilon, clear_session, image_data_format."""
from ..backend import default_dtype as _default_dtype, set_default_dtype as set_floatx  # noqa: F401
from ..nn.layers.base import reset_uids as _reset_uids


def floatx():
    """The default float dtype's name ('float32')."""
    return _default_dtype().name


def epsilon():
    """The fuzz factor Keras uses in numeric expressions (1e-7)."""
    return 1e-7


def image_data_format():
    """Always 'channels_last' in lamina."""
    return "channels_last"


def backend():
    """The backend's name ('lamina')."""
    return "lamina"


def clear_session(free_memory=True):
    """Reset the automatic layer-name counters (so names start at dense, dense_1 again)."""
    _reset_uids()
