"""keras.config (minimal): floatx, set_floatx, epsilon, backend, image_data_format,
dtype_policy, set_dtype_policy, and enable_unsafe_deserialization (a no-op: lamina never
deserializes code)."""
from .backend import floatx, set_floatx, epsilon, backend, image_data_format  # noqa: F401
from ..nn.mixed_precision import dtype_policy, set_dtype_policy  # noqa: F401


def enable_unsafe_deserialization():
    """Accepted for Keras compatibility; lamina's loaders never run code, so nothing changes."""
