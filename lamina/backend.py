"""Array modules (NumPy on the CPU, CuPy on CUDA), devices and the default dtype.

Every op asks this module for the array module of its inputs (``xp``) instead of
importing NumPy directly, so the same op code runs on CuPy arrays.  CuPy is
imported lazily: a machine without it imports lamina fine.
"""
from __future__ import annotations

import os

import numpy as np

_cupy = None          # the cupy module once imported, False when unavailable
_default_dtype = np.dtype(np.float32)


def _import_cupy():
    global _cupy
    if _cupy is None:
        try:
            import cupy  # noqa: F401
            _cupy = cupy
        except Exception:  # ImportError, or a broken CUDA install
            _cupy = False
    return _cupy


def cupy_module():
    """Return the cupy module, or raise ImportError naming the package to install."""
    cp = _import_cupy()
    if not cp:
        raise ImportError(
            "lamina: the 'cuda' device needs CuPy; install it with "
            "`pip install lamina[cuda13]` (cupy-cuda13x) or `lamina[cuda12]` (cupy-cuda12x)")
    return cp


def get_xp(array):
    """Array module (numpy or cupy) that owns ``array``."""
    if type(array) is np.ndarray or isinstance(array, (np.ndarray, np.generic)):
        return np
    cp = _import_cupy()
    if cp and isinstance(array, cp.ndarray):
        return cp
    return np


def is_cupy_array(array) -> bool:
    """True when ``array`` is a CuPy array (never imports CuPy for NumPy input)."""
    if isinstance(array, np.ndarray):
        return False
    cp = _cupy if _cupy is not None else (_import_cupy() if "cupy" in type(array).__module__ else False)
    return bool(cp) and isinstance(array, cp.ndarray)


class Device:
    """Where a tensor's data lives: ``Device('cpu')`` or ``Device('cuda:0')``."""

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu"):
        if isinstance(spec, Device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device: expected a string like 'cpu' or 'cuda:0', got {spec!r}")
        kind, _, idx = spec.partition(":")
        if kind not in ("cpu", "cuda", "gpu"):
            raise ValueError(f"device: unknown device {spec!r}; expected 'cpu', 'cuda' or 'cuda:N'")
        self.type = "cuda" if kind == "gpu" else kind
        if self.type == "cpu":
            if idx not in ("", "0"):
                raise ValueError(f"device: cpu has no index, got {spec!r}")
            self.index = None
        else:
            self.index = int(idx) if idx else 0

    @property
    def xp(self):
        """The array module of this device."""
        return np if self.type == "cpu" else cupy_module()

    def __eq__(self, other):
        try:
            other = Device(other)
        except (TypeError, ValueError):
            return NotImplemented
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self):
        return hash((self.type, self.index or 0))

    def __repr__(self):
        return f"device('{self}')"

    def __str__(self):
        return "cpu" if self.type == "cpu" else f"cuda:{self.index}"


CPU = Device("cpu")

# Where new tensors made from host data go when no device is named: None means the CPU.
# LAMINA_DEVICE=cuda in the environment sets it at import (as torch.set_default_device does
# in code), so a script written for the CPU runs on the GPU unchanged.
_default_device = None


def default_device() -> Device:
    """The device new tensors get when none is named (the CPU unless changed)."""
    return _default_device or CPU


def set_default_device(spec) -> None:
    """Make ``spec`` ('cpu', 'cuda', 'cuda:N' or None for the CPU) the device of new tensors
    built from host data, of creation functions (zeros, randn, ...) and of layer weights."""
    global _default_device
    dev = Device(spec) if spec is not None else CPU
    if dev.type == "cuda":
        cupy_module()                   # fail now, naming the package, not at first use
    _default_device = None if dev.type == "cpu" else dev


def device(spec="cpu") -> Device:
    """Make a :class:`Device` from ``'cpu'``, ``'cuda'`` or ``'cuda:N'``."""
    return Device(spec)


def device_of(array) -> Device:
    """The device holding ``array``."""
    if isinstance(array, np.ndarray):
        return CPU
    if is_cupy_array(array):
        return Device(f"cuda:{array.device.id}")
    return CPU


def to_device(array, dev: Device):
    """Copy ``array`` to ``dev`` (no copy when it is already there)."""
    dev = Device(dev)
    if dev.type == "cpu":
        if is_cupy_array(array):
            return array.get()
        return np.asarray(array)
    cp = cupy_module()
    with cp.cuda.Device(dev.index or 0):
        return cp.asarray(array)


def to_host(value):
    """``value`` (a number, list, NumPy or CuPy array, or Tensor) as a NumPy array, copied
    off the GPU (``np.asarray`` refuses CuPy arrays); a NumPy array is returned as it is."""
    from .tensor import Tensor
    if isinstance(value, Tensor):
        value = value.data
    if is_cupy_array(value):
        return value.get()
    return np.asarray(value)


def cuda_is_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    cp = _import_cupy()
    if not cp:
        return False
    try:
        return cp.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def default_dtype() -> np.dtype:
    """The dtype new float tensors get (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the dtype for new float tensors ('float32' or 'float64')."""
    global _default_dtype
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"set_default_dtype: expected a float dtype, got {dt}")
    _default_dtype = dt


_DTYPE_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64",
                  "int": "int64", "bool": "bool"}


def as_dtype(dtype) -> np.dtype:
    """Normalize a dtype given as a string, NumPy dtype, type, or torch-like alias."""
    if dtype is None:
        return _default_dtype
    if isinstance(dtype, str):
        dtype = _DTYPE_ALIASES.get(dtype, dtype)
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}") from None


if os.environ.get("LAMINA_DEVICE"):
    set_default_device(os.environ["LAMINA_DEVICE"])
