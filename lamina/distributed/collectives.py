"""Collectives on Tensors (and raw arrays): all_reduce, broadcast, all_gather.

They return new, non-differentiable Tensors (the inputs are left unchanged).  Device
(CuPy) arrays are staged through host memory and the result is put back on the same
device; NCCL is not used yet (see :func:`nccl_available`).
"""
from __future__ import annotations

import numpy as np

from . import world

__all__ = ["all_reduce", "broadcast", "all_gather", "to_host", "from_host",
           "nccl_available"]

# MPI has no standard half type: reduce these in float32
_WIDEN = {np.dtype(np.float16): np.dtype(np.float32), np.dtype(np.bool_): np.dtype(np.int32)}


def to_host(a):
    """A C-contiguous NumPy copy-or-view of the array ``a`` (NumPy or CuPy) and its
    original dtype, widened where MPI has no matching type."""
    if not isinstance(a, np.ndarray):
        a = a.get() if hasattr(a, "get") else np.asarray(a)
    dt = a.dtype
    if dt in _WIDEN:
        a = a.astype(_WIDEN[dt])
    return np.ascontiguousarray(a), dt


def from_host(h, like, dtype):
    """``h`` back in ``dtype`` on the device of ``like`` (a NumPy or CuPy array)."""
    if h.dtype != dtype:
        h = h.astype(dtype)
    if isinstance(like, np.ndarray) or like is None:
        return h
    from ..backend import device_of, to_device
    # like's own GPU, not the current one
    return to_device(h, device_of(like))


def _private(h, a):
    """``h``, copied when it is the caller's array ``a`` or a view of it (MPI writes the
    result into it).  A device (CuPy) ``a`` was copied to the host already, and
    np.shares_memory would hand it to CuPy, which refuses the NumPy ``h``."""
    on_host = isinstance(a, np.ndarray) or not hasattr(a, "get")     # to_host's test
    if h is a or (on_host and np.shares_memory(h, a)):
        return h.copy()
    return h


def _raw(t, who):
    from ..tensor import Tensor
    if isinstance(t, Tensor):
        return t.data, True
    if hasattr(t, "shape") and hasattr(t, "dtype"):
        return t, False
    if isinstance(t, (int, float, list, tuple)):
        return np.asarray(t), False
    raise TypeError(f"{who}: expected a lamina Tensor or an array, got {type(t).__name__}")


def _out(a, as_tensor):
    if not as_tensor:
        return a
    from ..ops.base import wrap
    return wrap(a)


def all_reduce(tensor, op="sum"):
    """``op`` ("sum", "mean", "max" or "min") of ``tensor`` over all ranks, elementwise:
    a new Tensor of the same shape and dtype on every rank (an array for an array).
    Every rank must pass the same shape and dtype."""
    a, as_tensor = _raw(tensor, "all_reduce")
    if op not in world._OPS:
        raise ValueError(f"all_reduce: op must be one of {world._OPS}, got {op!r}")
    h, dt = to_host(a)
    h = _private(h, a)
    if op == "mean" and h.dtype.kind in "iub":
        h = h.astype(np.float64)        # the mean of integers is not an integer
        dt = np.dtype(np.float64)
    world.allreduce_(h, op)
    return _out(from_host(h, a, dt), as_tensor)


def broadcast(tensor, root=0):
    """Rank ``root``'s value of ``tensor`` on every rank, as a new Tensor (an array for an
    array).  Every rank must pass a tensor of the same shape and dtype."""
    a, as_tensor = _raw(tensor, "broadcast")
    h, dt = to_host(a)
    h = _private(h, a)
    _check_same_shape(h, dt, root)
    world.bcast_(h, root)
    return _out(from_host(h, a, dt), as_tensor)


def _check_same_shape(h, dt, root):
    """Raise on every rank whose shape/dtype differ from the root's (a mismatched Bcast
    would otherwise corrupt memory or hang)."""
    if world.world_size() == 1:
        return
    meta = np.zeros(34, np.int64)
    meta[0], meta[1] = h.ndim, ord(dt.char)
    meta[2:2 + min(h.ndim, 32)] = h.shape[:32]
    mine = meta.copy()
    world.bcast_(meta, root)
    if not np.array_equal(meta, mine):
        theirs = tuple(int(d) for d in meta[2:2 + int(meta[0])])
        raise ValueError(f"broadcast: rank {world.rank()} has a tensor of shape {h.shape} and "
                         f"dtype {dt}, but the root rank {root} has shape {theirs} and dtype "
                         f"{np.dtype(chr(int(meta[1])))}")


def all_gather(tensor):
    """Every rank's ``tensor`` concatenated along axis 0 in rank order (first dimensions
    may differ): a new Tensor (an array for an array)."""
    a, as_tensor = _raw(tensor, "all_gather")
    h, dt = to_host(a)
    if h.ndim == 0:
        h = h.reshape(1)
    return _out(from_host(world.allgatherv(h), a, dt), as_tensor)


def nccl_available():
    """False: lamina does not use NCCL yet; device arrays go through host memory and MPI
    (correct, but bounded by PCIe and the network rather than NVLink)."""
    return False
