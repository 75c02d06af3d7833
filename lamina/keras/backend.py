"""keras.backend (minimal): floatx, set_floatx, epsilon, clear_session, image_data_format,
standardize_dtype."""
import gc as _gc

import numpy as _np

from ..backend import default_dtype as _default_dtype, set_default_dtype as set_floatx  # noqa: F401
from ..nn.layers.base import reset_uids as _reset_uids

# Keras 3's dtype names (standardize_dtype accepts nothing else)
_ALLOWED_DTYPES = ("float16", "float32", "float64", "uint8", "uint16", "uint32", "uint64",
                   "int8", "int16", "int32", "int64", "bfloat16", "bool", "string",
                   "float8_e4m3fn", "float8_e5m2", "complex64", "complex128")
# Python types and names as Keras maps them on its non-TensorFlow backends
_PYTHON_DTYPES = {bool: "bool", int: "int32", float: "float32", str: "string",
                  "int": "int32", complex: "complex64"}


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
    """Reset the automatic layer-name counters (so names start at dense, dense_1 again);
    with ``free_memory`` also run the garbage collector, so that the arrays of models no
    longer referenced are released now."""
    _reset_uids()
    if free_memory:
        _gc.collect()


def standardize_dtype(dtype):
    """The Keras name of ``dtype`` ('float32', 'int64', 'bool', 'string', ...): accepts
    names, NumPy dtypes and scalar types, Python types (int -> 'int32', float -> 'float32'
    as Keras maps them), torch dtypes; None gives floatx().  ValueError for anything
    else."""
    if dtype is None:
        return floatx()
    try:
        dtype = _PYTHON_DTYPES.get(dtype, dtype)
    except TypeError:            # unhashable: not a dtype, reported below
        pass
    if isinstance(dtype, _np.dtype):
        name = dtype.name
    elif isinstance(dtype, type) and issubclass(dtype, _np.generic):
        name = _np.dtype(dtype).name
    elif hasattr(dtype, "name") and isinstance(dtype.name, str):
        name = dtype.name
    elif hasattr(dtype, "__name__"):
        name = dtype.__name__
    elif "torch" in str(dtype) or "jax.numpy" in str(dtype):
        name = str(dtype).split(".")[-1]
    else:
        name = dtype
    if name not in _ALLOWED_DTYPES:
        raise ValueError(f"standardize_dtype: invalid dtype {dtype!r}; expected one of "
                         f"{', '.join(_ALLOWED_DTYPES)}")
    return name
