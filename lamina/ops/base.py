"""Shared machinery for ops: turning operands into tensors with lamina's dtype
rules, recording nodes, and summing gradients back over broadcast axes."""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..autograd import GradMode
from ..tensor import Tensor, _node, _wrap

__all__ = ["Tensor", "GradMode", "as_tensor", "as_tensor_on", "binary_operands", "unbroadcast",
           "unbroadcast_array", "first_order_only", "record", "check_device", "other_device",
           "on_one_device",
           "wrap", "xp_of", "needs_grad", "float_dtype", "normalize_axis", "OPS", "register"]

wrap = _wrap
record = _node

# The op table: name -> public function.  Tests and docs enumerate it.
OPS: dict = {}


def register(*names):
    """Decorator adding an op to the table under its name (and aliases); returns it unchanged."""
    def deco(fn):
        for n in (names or (fn.__name__,)):
            OPS[n] = fn
        return fn
    return deco


def xp_of(t):
    """Array module of a tensor's data."""
    d = t.data
    return np if isinstance(d, np.ndarray) else backend.get_xp(d)


def needs_grad(*ts):
    """True when the op should record a node: grad mode is on and an input requires grad."""
    if not GradMode.enabled:
        return False
    for t in ts:
        if t.requires_grad:
            return True
    return False


def float_dtype(dt):
    """``dt`` if it is a float dtype, else the default float dtype."""
    return dt if dt.kind in "fc" else backend.default_dtype()


def as_tensor(x, dtype=None, like=None):
    """``x`` as a Tensor.  Python scalars and raw arrays take ``like``'s float dtype
    (they never promote a float32 tensor to float64)."""
    if isinstance(x, Tensor):
        if dtype is not None and x.data.dtype != dtype:
            from .elementwise import cast
            return cast(x, dtype)
        return x
    if like is not None:
        ld = like.data
        xp = np if isinstance(ld, np.ndarray) else backend.get_xp(ld)
        if dtype is None:
            if isinstance(x, (bool, np.bool_)):
                dtype = ld.dtype if ld.dtype.kind != "b" else np.bool_
            elif isinstance(x, numbers.Integral) and not isinstance(x, bool):
                dtype = ld.dtype if ld.dtype.kind in "fciu" else np.int64
            elif isinstance(x, numbers.Number):
                dtype = ld.dtype if ld.dtype.kind in "fc" else backend.default_dtype()
            else:
                arr = x if hasattr(x, "dtype") else np.asarray(x)
                k = arr.dtype.kind
                if ld.dtype.kind in "fc":
                    dtype = ld.dtype if k in "fciub" else None
                elif k == "f" and not hasattr(x, "dtype"):
                    dtype = backend.default_dtype()
                else:
                    dtype = arr.dtype
        arr = xp.asarray(x, dtype=dtype)
        return _wrap(arr)
    return Tensor(x, dtype=dtype)


def as_tensor_on(x, ref, dtype=None):
    """``x`` as a tensor (of ``dtype`` when given) on ``ref``'s device: a tensor stays
    where it is; raw data (arrays, lists, numbers) is converted with :func:`as_tensor`'s
    rules, not ``like``'s dtype rules, and follows ``ref`` as a constant would (host data
    given with GPU tensors goes to the GPU, and stays on the CPU beside CPU tensors when
    lamina's default device is a GPU)."""
    if isinstance(x, Tensor):
        return x if dtype is None else as_tensor(x, dtype)
    if backend._default_device is None and isinstance(ref.data, np.ndarray):
        return Tensor(x, dtype=dtype)       # the CPU path, as before
    return Tensor(x, dtype=dtype, device=ref.device)


def other_device(da, db):
    """True when raw arrays ``da`` and ``db`` are on different devices (one a NumPy
    array, the other not); the cheap type test comes first."""
    return type(da) is not type(db) and isinstance(da, np.ndarray) != isinstance(db, np.ndarray)


def check_device(op, what, t, ref_what, ref):
    """Raise the clear error naming ``op`` when tensor ``t`` (``what``) is on another
    device than ``ref`` (``ref_what``); tensors are never moved implicitly."""
    if other_device(t.data, ref.data):
        raise ValueError(f"{op}: {what} is on {t.device}, {ref_what} on {ref.device}; "
                         "move one with .to(device)")


def on_one_device(items, op, noun):
    """``items`` as a list of tensors on one device: raw data follows the first tensor's
    device, as constants do; a tensor on another device than the first raises, naming
    ``op`` and both devices (``noun`` names the entries: 'tensor', 'operand')."""
    ts = list(items)
    raw = [i for i, t in enumerate(ts) if not isinstance(t, Tensor)]
    if raw:
        ref = next((t for t in ts if isinstance(t, Tensor)), None)
        for i in raw:
            ts[i] = as_tensor(ts[i]) if ref is None else as_tensor_on(ts[i], ref)
    if ts:
        d0 = ts[0].data
        for i, t in enumerate(ts):
            if type(t.data) is not type(d0) and other_device(t.data, d0):
                raise ValueError(f"{op}: {noun} {i} is on {t.device}, {noun} 0 on "
                                 f"{ts[0].device}; move one with .to(device)")
    return ts


def first_order_only(op):
    """Call at the top of a raw-array backward: raises when a second derivative is being
    recorded (``create_graph=True``), which such a backward cannot provide."""
    if GradMode.enabled:
        raise RuntimeError(f"{op}: this fused op's backward works on raw arrays and supports "
                           "first derivatives only; create_graph=True / grad of grad through "
                           f"'{op}' is not supported")


def _device_error(op, a, b):
    raise ValueError(f"{op}: operands are on different devices ({a.device} and {b.device}); "
                     "move one with .to(device)")


def binary_operands(a, b, op):
    """Both operands as tensors of one dtype and device.

    Python numbers and raw arrays adopt the tensor's dtype; int tensors meeting
    float ones become that float dtype (as in PyTorch, not NumPy's float64).
    """
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            da, db = a.data, b.data
            if type(da) is type(db) and da.dtype == db.dtype:
                return a, b                 # the common case, kept short
        elif type(b) is float or type(b) is int:
            da = a.data
            if da.dtype.kind == "f":         # a Python number takes the tensor's float dtype
                return a, _wrap(np.array(b, dtype=da.dtype) if type(da) is np.ndarray
                                else backend.get_xp(da).asarray(b, dtype=da.dtype))
            b = as_tensor(b, like=a)
        else:
            b = as_tensor(b, like=a)
    elif isinstance(b, Tensor):
        db = b.data
        if (type(a) is float or type(a) is int) and db.dtype.kind == "f":
            return _wrap(np.array(a, dtype=db.dtype) if type(db) is np.ndarray
                         else backend.get_xp(db).asarray(a, dtype=db.dtype)), b
        a = as_tensor(a, like=b)
    else:
        a = as_tensor(a)
        b = as_tensor(b, like=a)
    da, db = a.data, b.data
    if type(da) is not type(db) and isinstance(da, np.ndarray) != isinstance(db, np.ndarray):
        _device_error(op, a, b)
    if da.dtype != db.dtype:
        ka, kb = da.dtype.kind, db.dtype.kind
        from .elementwise import cast
        if ka in "fc" and kb not in "fc":
            b = cast(b, da.dtype)
        elif kb in "fc" and ka not in "fc":
            a = cast(a, db.dtype)
        else:
            dt = np.result_type(da.dtype, db.dtype)
            if da.dtype != dt:
                a = cast(a, dt)
            if db.dtype != dt:
                b = cast(b, dt)
    return a, b


def _broadcast_axes(gs, shape):
    """The axes of a broadcast result of shape ``gs`` that broadcasting added (leading) or
    stretched (size 1 in ``shape``)."""
    lead = len(gs) - len(shape)
    return tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and gs[i + lead] != 1)


def unbroadcast(g, shape):
    """Sum gradient ``g`` over the axes that broadcasting added or stretched, to ``shape``."""
    gs = g.data.shape
    if gs == shape:
        return g
    from .reduction import sum as _sum
    from .shape import reshape
    axes = _broadcast_axes(gs, shape)
    if axes:
        g = _sum(g, axis=axes, keepdims=False)
    if g.data.shape != shape:
        g = reshape(g, shape)
    return g


def unbroadcast_array(g, shape):
    """Raw-array :func:`unbroadcast`: sum ``g`` over broadcast axes down to ``shape``."""
    gs = g.shape
    if gs == shape:
        return g
    axes = _broadcast_axes(gs, shape)
    if axes:
        g = g.sum(axis=axes)
    if g.shape != shape:
        g = g.reshape(shape)
    return g


def normalize_axis(axis, ndim, op):
    """``axis`` (None, int or tuple) as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"{op}: axis {a} is out of range for a tensor of {ndim} dimensions")
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out))
