"""Functions that make tensors: from data, filled, ranges, random."""
from __future__ import annotations

import numpy as np

from . import backend
from . import random as _random
from .tensor import Tensor, _wrap


def _xp(device):
    if device is None:
        device = backend._default_device
    return np if device is None else backend.Device(device).xp


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _done(arr, requires_grad):
    t = _wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A new tensor holding (a copy of) ``data``.  Python floats become float32
    (the default dtype); NumPy arrays keep their dtype."""
    if isinstance(data, Tensor):
        data = data.data.copy()
    elif isinstance(data, np.ndarray):
        data = data.copy()
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def asarray(data, dtype=None, device=None) -> Tensor:
    """``data`` as a tensor, sharing memory with a NumPy array where possible."""
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    return Tensor(data, dtype=dtype, device=device)


def from_numpy(array) -> Tensor:
    """A tensor sharing memory with the NumPy array ``array``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return _wrap(array)


def zeros(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Zeros of ``shape``."""
    return _done(_xp(device).zeros(_shape(shape), dtype=backend.as_dtype(dtype)), requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Ones of ``shape``."""
    return _done(_xp(device).ones(_shape(shape), dtype=backend.as_dtype(dtype)), requires_grad)


def full(shape, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``shape`` filled with ``fill_value``."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _done(_xp(device).full(shape, fill_value, dtype=backend.as_dtype(dtype)), requires_grad)


def empty(*shape, dtype=None, device=None) -> Tensor:
    """Uninitialized tensor of ``shape``."""
    return _wrap(_xp(device).empty(_shape(shape), dtype=backend.as_dtype(dtype)))


def _like(t, dtype, device):
    t = t if isinstance(t, Tensor) else Tensor(t)
    xp = backend.get_xp(t.data) if device is None else _xp(device)
    return xp, (t.dtype if dtype is None else backend.as_dtype(dtype)), t.shape


def zeros_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    xp, dt, shape = _like(t, dtype, device)
    return _done(xp.zeros(shape, dtype=dt), requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    xp, dt, shape = _like(t, dtype, device)
    return _done(xp.ones(shape, dtype=dt), requires_grad)


def full_like(t, fill_value, dtype=None, device=None) -> Tensor:
    xp, dt, shape = _like(t, dtype, device)
    return _wrap(xp.full(shape, fill_value, dtype=dt))


def arange(start, stop=None, step=1, dtype=None, device=None) -> Tensor:
    """Evenly spaced values in [start, stop); ints stay int64 unless a float is involved."""
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        floaty = any(isinstance(v, float) for v in (start, stop, step))
        dtype = backend.default_dtype() if floaty else np.int64
    return _wrap(_xp(device).arange(start, stop, step, dtype=backend.as_dtype(dtype)))


def linspace(start, stop, num=50, endpoint=True, dtype=None, device=None) -> Tensor:
    """``num`` evenly spaced values from start to stop."""
    xp = _xp(device)
    return _wrap(xp.linspace(start, stop, num, endpoint=endpoint).astype(backend.as_dtype(dtype)))


def eye(n, m=None, dtype=None, device=None) -> Tensor:
    """Identity matrix (n, m)."""
    return _wrap(_xp(device).eye(n, m, dtype=backend.as_dtype(dtype)))


def rand(*shape, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """Uniform samples in [0, 1)."""
    gen = generator or _random.default_generator()
    return _done(gen.uniform_array(_shape(shape), _xp(device), dtype=dtype), requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """Standard normal samples."""
    gen = generator or _random.default_generator()
    return _done(gen.normal_array(_shape(shape), _xp(device), dtype=dtype), requires_grad)


def randint(low, high=None, size=(), dtype=np.int64, device=None, generator=None) -> Tensor:
    """Random integers in [low, high)."""
    gen = generator or _random.default_generator()
    size = (size,) if isinstance(size, int) else tuple(size)
    return _wrap(gen.integers_array(low, high, size, _xp(device), dtype))


__all__ = ["tensor", "asarray", "from_numpy", "zeros", "ones", "full", "empty", "zeros_like",
           "ones_like", "full_like", "arange", "linspace", "eye", "rand", "randn", "randint"]
