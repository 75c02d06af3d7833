"""Keras's backend-level settings and dtype rules, as lamina keeps them: floatx, epsilon,
image_data_format and their setters, layer-name uids, standardize_dtype, result_type and the
dtype predicates (``keras.backend`` and ``keras.config`` re-export them)."""
import gc as _gc

import numpy as _np

from ..backend import default_dtype as _default_dtype, set_default_dtype as set_floatx  # noqa: F401
from .layers import base as _base
from .layers.base import reset_uids as _reset_uids
from .keras_tensors import is_keras_tensor  # noqa: F401

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


_STATE = {"epsilon": 1e-7, "image_data_format": "channels_last"}


def epsilon():
    """The fuzz factor of numeric expressions (1e-7 unless :func:`set_epsilon` changed it)."""
    return _STATE["epsilon"]


def set_epsilon(value):
    """Set the value :func:`epsilon` returns.  lamina's built-in losses and layers keep
    their own 1e-7 constants."""
    _STATE["epsilon"] = value


def image_data_format():
    """'channels_last' (the default) or what :func:`set_image_data_format` set."""
    return _STATE["image_data_format"]


def set_image_data_format(data_format):
    """Set the value :func:`image_data_format` returns ('channels_last' or
    'channels_first'): the data format of the layers and ops made afterwards with
    ``data_format=None`` (each layer keeps the format it was made with)."""
    df = str(data_format).lower()
    if df not in ("channels_first", "channels_last"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', "
                         f"'channels_last'}}. Received: data_format={data_format}")
    _STATE["image_data_format"] = df


def get_uid(prefix=""):
    """The next integer of ``prefix``'s counter (1, 2, ...); the counters are those that
    name layers (after one ``Dense``, ``get_uid('dense')`` is 2), reset by
    :func:`clear_session`."""
    uids = _base._UIDS
    uids[prefix] = uids.get(prefix, 0) + 1
    return uids[prefix]


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


def is_float_dtype(dtype):
    """True for floating dtypes (float16/32/64, bfloat16, float8)."""
    return standardize_dtype(dtype).startswith(("float", "bfloat"))


def is_int_dtype(dtype):
    """True for signed and unsigned integer dtypes."""
    return standardize_dtype(dtype).startswith(("int", "uint"))


# Keras's (JAX's) promotion lattice: each dtype and its next wider ones; "int" and "float"
# are the weak types of Python scalars
_NEXT = {"bool": ("int",), "int": ("uint8", "int8", "complex64"),
         "uint8": ("int16", "uint16"), "uint16": ("int32", "uint32"),
         "uint32": ("int64", "uint64"), "uint64": ("float",),
         "int8": ("int16",), "int16": ("int32",), "int32": ("int64",), "int64": ("float",),
         "float": ("bfloat16", "float16"), "bfloat16": ("float32",), "float16": ("float32",),
         "float32": ("float64", "complex64"), "float64": ("complex128",),
         "complex64": ("complex128",), "complex128": ()}
_UPPER = {}
_NARROW = {"int64": "int32", "uint64": "uint32", "float64": "float32",
           "complex128": "complex64"}


def _upper(node):
    """``node`` and every dtype it promotes to."""
    if node not in _UPPER:
        if node not in _NEXT:
            raise ValueError(f"dtype={node!r} is not a valid dtype for Keras type promotion")
        _UPPER[node] = frozenset({node}).union(*(_upper(n) for n in _NEXT[node]))
    return _UPPER[node]


def _join(nodes):
    common = frozenset.intersection(*(_upper(n) for n in nodes))
    least = [c for c in common if _upper(c) == common]
    if not least:
        raise ValueError(f"Input dtypes {tuple(nodes)} have no available implicit dtype "
                         "promotion path; cast the inputs explicitly")
    return least[0]


def _weak(name):
    return "float" if "float" in name else "int" if "int" in name else name


def result_type(*dtypes):
    """The dtype of combining ``dtypes`` under Keras's promotion rules (as
    ``jnp.result_type`` on 32-bit defaults): Python ``int``/``float`` are weak, 64-bit
    results narrow to 32 bits, no arguments give floatx()."""
    if not dtypes:
        return floatx()
    args = [floatx() if d is None else d for d in dtypes]
    for d in args:
        if isinstance(d, str) and d.startswith("float8"):
            raise ValueError("There is no implicit conversions from float8 dtypes to others. "
                             f"You must cast it internally. Received: {dtypes}")
    names = [standardize_dtype(d) for d in args]
    weak = [d is int or d is float for d in args]
    if len(names) == 1:
        out, is_weak = names[0], weak[0]
    elif len(set(names)) == 1 and not all(weak):
        out, is_weak = names[0], False
    elif all(weak):
        out, is_weak = _join(set(names)), True
    else:
        out = _join({_weak(n) if w and n != "bool" else n for n, w in zip(names, weak)})
        is_weak = out in ("int", "float")
    if is_weak and out != "bool":
        bits = floatx()[-2:]
        kind = "float" if out.startswith(("float", "bfloat", "complex")) else \
            "uint" if out.startswith("uint") else "int"
        out = kind + bits
    return _NARROW.get(out, out)


_FLAGS = {"traceback_filtering": True, "flash_attention": None}


def enable_unsafe_deserialization():
    """Accepted for Keras compatibility; lamina's loaders never run code, so nothing changes."""


def set_backend(backend):
    """Only 'lamina' (this package is its own single backend); anything else raises."""
    if backend != "lamina":
        raise ValueError(f"set_backend({backend!r}): lamina's Keras API has one backend, "
                         "'lamina'; to run on TensorFlow, JAX or PyTorch use Keras itself")


def enable_traceback_filtering():
    """Recorded for Keras compatibility (lamina does not rewrite tracebacks)."""
    _FLAGS["traceback_filtering"] = True


def disable_traceback_filtering():
    """Recorded for Keras compatibility (lamina does not rewrite tracebacks)."""
    _FLAGS["traceback_filtering"] = False


def is_traceback_filtering_enabled():
    """The flag set by enable/disable_traceback_filtering (True by default)."""
    return _FLAGS["traceback_filtering"]


def enable_flash_attention():
    """Recorded for Keras compatibility (lamina's attention has no flash kernel)."""
    _FLAGS["flash_attention"] = True


def disable_flash_attention():
    """Recorded for Keras compatibility (lamina's attention has no flash kernel)."""
    _FLAGS["flash_attention"] = False


def is_flash_attention_enabled():
    """The flag set by enable/disable_flash_attention (None, 'automatic', by default)."""
    return _FLAGS["flash_attention"]
