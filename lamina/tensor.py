"""The Tensor: an array, the node that made it, and its gradient.

A tensor made by an op remembers its parents and a backward function (its VJP);
a tensor made by the user is a leaf.  ``loss.backward()`` walks these links in
reverse (see :mod:`lamina.autograd`).  The class is slotted and its constructor
path short, because per-op Python overhead dominates small models.
"""
from __future__ import annotations

import itertools

import numpy as np

from . import backend
from .backend import Device, get_xp


class Tensor:
    """An n-dimensional array that can record the ops applied to it.

    ``data`` is the raw NumPy/CuPy array, ``grad`` the accumulated gradient (a
    Tensor or None), ``requires_grad`` whether ops on it are recorded.
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "_versions",
                 "_version", "_op", "_hooks", "_retain", "name", "_seq", "__weakref__")
    # numpy defers `ndarray + Tensor` to Tensor.__radd__ when this is high
    __array_priority__ = 1000.0

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        arr = _to_array(data, dtype, device)
        self.data = arr
        self.grad = None
        self.requires_grad = False
        self._parents = ()
        self._backward = None
        self._versions = ()
        self._version = 0
        self._op = None
        self._hooks = None
        self._retain = False
        self.name = None
        self._seq = 0
        if requires_grad:
            self.requires_grad_(True)

    # ------------------------------------------------------------------ basics
    @property
    def shape(self):
        """The shape as a tuple of ints."""
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        """Number of elements (an int, as in NumPy)."""
        return self.data.size

    @property
    def dtype(self):
        """The NumPy dtype of the data."""
        return self.data.dtype

    @property
    def device(self) -> Device:
        return backend.device_of(self.data)

    @property
    def is_leaf(self):
        """True for tensors made by the user rather than by a recorded op."""
        return self._backward is None

    @property
    def T(self):
        from .ops import shape as _shape
        return _shape.transpose(self)

    @property
    def mT(self):
        from .ops import shape as _shape
        return _shape.swapaxes(self, -1, -2)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def __hash__(self):
        return id(self)

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                             "use .any() or .all()")
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.data.dtype.kind not in "iub":
            raise TypeError(f"only integer tensors can be used as an index, not {self.dtype}")
        return int(self.item())

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        if dtype is not None and arr.dtype != dtype:
            arr = arr.astype(dtype)
        elif copy:
            arr = arr.copy()
        return arr

    def __repr__(self):
        arr = self.numpy()
        body = np.array2string(arr, separator=", ", prefix="tensor(", precision=4)
        extras = []
        if arr.dtype != backend.default_dtype() and arr.dtype.kind == "f" or arr.dtype.kind not in "fib":
            extras.append(f"dtype={arr.dtype}")
        elif arr.dtype.kind in "iu" and arr.dtype != np.int64:
            extras.append(f"dtype={arr.dtype}")
        dev = self.device
        if dev.type != "cpu":
            extras.append(f"device='{dev}'")
        if self._op is not None and self.requires_grad:
            extras.append(f"grad_fn=<{self._op}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # ----------------------------------------------------------- conversions
    def numpy(self):
        """The data as a NumPy array (shared with the tensor on the CPU, copied from a GPU)."""
        d = self.data
        if isinstance(d, np.ndarray):
            return d
        return backend.to_device(d, backend.CPU)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self):
        """A new leaf tensor sharing this tensor's data, outside any graph."""
        return _wrap(self.data)

    def requires_grad_(self, flag=True):
        """Set whether ops on this (leaf) tensor are recorded; returns self."""
        if flag and self.data.dtype.kind not in "fc":
            raise TypeError(f"requires_grad_: only float tensors can require gradients, got {self.dtype}")
        if not flag and self._backward is not None:
            raise RuntimeError("requires_grad_(False): only leaf tensors can stop requiring grad; "
                               "use .detach()")
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward()."""
        self._retain = True
        return self

    def zero_grad(self):
        """Forget the accumulated gradient."""
        self.grad = None

    def to(self, target=None, dtype=None):
        """Move to a device (``'cpu'``, ``'cuda'``) and/or cast to a dtype; differentiable."""
        out = self
        if target is not None:
            if isinstance(target, (Device,)) or (isinstance(target, str) and
                                                 target.split(":")[0] in ("cpu", "cuda", "gpu")):
                from .ops.elementwise import to_device
                out = to_device(out, Device(target))
            else:
                dtype = target
        if dtype is not None:
            out = out.astype(dtype)
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, index=0):
        return self.to(f"cuda:{index}")

    def astype(self, dtype):
        """Cast to ``dtype``; the gradient is cast back."""
        from .ops.elementwise import cast
        return cast(self, dtype)

    def float(self):
        return self.astype(np.float32)

    def double(self):
        return self.astype(np.float64)

    def backward(self, grad=None, retain_graph=False, create_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``grad`` is the gradient flowing in (required unless self is a scalar).
        The graph is freed afterwards unless ``retain_graph``; ``create_graph``
        records the backward pass itself so it can be differentiated again.
        """
        if _autograd_backward is None:
            _grad_mode()      # loads lamina.autograd
        _autograd_backward(self, grad, retain_graph, create_graph)

    def register_hook(self, fn):
        """Call ``fn(grad)`` when this tensor's gradient is computed; a non-None
        return value replaces the gradient.  Returns a handle with ``remove()``."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that "
                               "does not require grad")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(fn)
        return _HookHandle(self._hooks, fn)

    # In-place arithmetic: only where no graph can be corrupted.
    def _inplace(self, other, opname, fn):
        if self.requires_grad and (_GradMode or _grad_mode()).enabled:
            raise RuntimeError(
                f"in-place {opname} on a tensor that requires grad would corrupt the recorded "
                f"graph; use `x = x {opname[0]} y`, or wrap the update in `with lamina.no_grad():`")
        d = self.data
        if type(other) is Tensor:
            o = other.data
            # the optimizer-update case (same shape, dtype and array type): nothing to check
            if type(o) is type(d) and o.shape == d.shape and o.dtype == d.dtype:
                fn(d, o, out=d, casting="unsafe")
                self._version += 1
                return self
        else:
            o = other.data if isinstance(other, Tensor) else other
        oshape = getattr(o, "shape", None)
        if oshape is not None and oshape != d.shape and \
                _broadcast_or_none(d.shape, oshape) != d.shape:
            raise ValueError(f"in-place {opname}: shape {tuple(oshape)} cannot be broadcast "
                             f"to the tensor's shape {self.shape}")
        fn(d, o, out=d, casting="unsafe")
        self._version += 1
        return self

    def __iadd__(self, other):
        d = self.data
        if type(other) is Tensor and type(d) is np.ndarray:
            o = other.data
            # an update of the same shape and dtype (optimizers): nothing to check or cast,
            # and the operator skips a ufunc call with keywords
            if type(o) is np.ndarray and o.shape == d.shape and o.dtype == d.dtype and \
                    not (self.requires_grad and (_GradMode or _grad_mode()).enabled):
                d += o
                self._version += 1
                return self
        return self._inplace(other, "+=", np.add if type(d) is np.ndarray else get_xp(d).add)

    def __isub__(self, other):
        d = self.data
        if type(other) is Tensor and type(d) is np.ndarray:
            o = other.data
            # the SGD update ``p -= lr * g``: as in __iadd__
            if type(o) is np.ndarray and o.shape == d.shape and o.dtype == d.dtype and \
                    not (self.requires_grad and (_GradMode or _grad_mode()).enabled):
                d -= o
                self._version += 1
                return self
        return self._inplace(other, "-=",
                             np.subtract if type(d) is np.ndarray else get_xp(d).subtract)

    def __imul__(self, other):
        d = self.data
        return self._inplace(other, "*=",
                             np.multiply if type(d) is np.ndarray else get_xp(d).multiply)

    def __itruediv__(self, other):
        d = self.data
        return self._inplace(other, "/=",
                             np.true_divide if type(d) is np.ndarray else get_xp(d).true_divide)

    def copy_(self, other):
        """Overwrite this tensor's data with ``other`` (same shape); in-place."""
        o = other.data if isinstance(other, Tensor) else other
        self._inplace(o, "copy_", lambda a, b, out, casting: get_xp(a).copyto(out, b, casting=casting))
        return self

    def fill_(self, value):
        self._inplace(value, "fill_", lambda a, b, out, casting: out.fill(b))
        return self


def _broadcast_or_none(a, b):
    """The broadcast shape of ``a`` and ``b``, or None when they do not broadcast."""
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        return None


def _grad_mode():
    """lamina.autograd.GradMode (imported late: autograd imports this module)."""
    global _GradMode, _autograd_backward
    if _GradMode is None:
        from .autograd import GradMode, backward
        _GradMode, _autograd_backward = GradMode, backward
    return _GradMode


_GradMode = _autograd_backward = None


class _HookHandle:
    __slots__ = ("_hooks", "_fn")

    def __init__(self, hooks, fn):
        self._hooks, self._fn = hooks, fn

    def remove(self):
        if self._fn in self._hooks:
            self._hooks.remove(self._fn)


# object.__new__ bound once: ``Tensor.__new__`` looks the name up through the class each call
_new = object.__new__


def _wrap(data):
    """A leaf tensor around an array, without any checks (the hot path)."""
    if type(data) is not np.ndarray and isinstance(data, np.generic):
        data = np.asarray(data)     # NumPy turns 0-d results into scalars; keep arrays
    t = _new(Tensor)
    t.data = data
    t.grad = None
    t.requires_grad = False
    t._parents = ()
    t._backward = None
    t._versions = ()
    t._version = 0
    t._op = None
    t._hooks = None
    t._retain = False
    t.name = None
    t._seq = 0
    return t


# Every recorded node gets a larger sequence number than its parents: walking nodes by
# decreasing number is a reverse topological order (the engine relies on it).
_next_seq = itertools.count(1).__next__


def _node(data, parents, backward, op):
    """A tensor made by ``op`` from ``parents``; ``backward(g, out)`` is its VJP."""
    if type(data) is not np.ndarray and isinstance(data, np.generic):
        data = np.asarray(data)
    t = _new(Tensor)
    t.data = data
    t.grad = None
    t.requires_grad = True
    t._parents = parents
    t._backward = backward
    n = len(parents)     # the common arities spelled out: a list comprehension costs 4x more
    t._versions = (parents[0]._version,) if n == 1 else \
        (parents[0]._version, parents[1]._version) if n == 2 else \
        (parents[0]._version, parents[1]._version, parents[2]._version) if n == 3 else \
        tuple([p._version for p in parents])
    t._version = 0
    t._op = op
    t._hooks = None
    t._retain = False
    t.name = None
    t._seq = _next_seq()
    return t


def _to_array(data, dtype=None, device=None):
    """Turn user data into an array with lamina's dtype rules on the given device."""
    if isinstance(data, Tensor):
        data = data.data
    dt = backend.as_dtype(dtype) if dtype is not None else None
    if device is None and backend._default_device is not None:
        device = backend._default_device
    if device is not None:
        dev = Device(device)
        xp = dev.xp
    else:
        dev = None
        xp = get_xp(data)
    if hasattr(data, "__cuda_array_interface__") or backend.is_cupy_array(data):
        arr = data if dev is None or dev.type == "cuda" else backend.to_device(data, backend.CPU)
        if dev is not None and dev.type == "cuda":
            arr = backend.to_device(arr, dev)
        xp = get_xp(arr)
    elif isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data)
    else:
        arr = np.asarray(data)
        # Python floats become the default float dtype, never float64 by accident
        if arr.dtype == np.float64 and dt is None:
            arr = arr.astype(backend.default_dtype())
    if dt is not None and arr.dtype != dt:
        arr = arr.astype(dt)
    if arr.dtype == object:
        raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} "
                        "(ragged or non-numeric data)")
    if dev is not None and dev.type == "cuda" and not backend.is_cupy_array(arr):
        arr = backend.to_device(arr, dev)
    elif arr.dtype.kind != "O" and isinstance(arr, np.ndarray) and not arr.flags.writeable:
        arr = arr.copy()
    return arr
