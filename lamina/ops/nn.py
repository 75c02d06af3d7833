"""Neural-network ops: fused linear, softmax, log-softmax, cross-entropies, dropout.

``linear`` and the cross-entropies are single nodes with hand-written VJPs (fewer
nodes, less Python per step); the VJPs use lamina ops, so second derivatives
still work.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from . import blas as _blas
from . import cuda_kernels as _cuda_kernels
from . import threads as _threads
from .base import (GradMode, Tensor, as_tensor, as_tensor_on, check_device, needs_grad, record,
                   register, wrap, xp_of)
from .elementwise import _float_in, _const, exp, relu_grad_array, sigmoid
from .linalg import matmul as _matmul
from .reduction import sum as _sum
from .shape import broadcast_to as _broadcast_to, reshape as _reshape, transpose as _transpose


def _linear_back(g, out):
    parents = out._parents
    x, w = parents[0], parents[1]
    has_b = len(parents) == 3
    gd = g.data
    if not GradMode.enabled:       # first order: two GEMMs and a sum on raw arrays
        # one 2-D GEMM over all leading axes: a stacked matmul runs one small GEMM per
        # batch entry, several times slower
        g2 = gd if gd.ndim == 2 else gd.reshape(-1, gd.shape[-1])
        big = _blas._use_mkl and g2.size * w.data.shape[0] >= _blas.mkl_min_work()
        xd = x.data
        x2t = (xd if xd.ndim == 2 else xd.reshape(-1, xd.shape[-1])).T
        gxd = gwd = None
        gb = []

        def bias_grad():
            if has_b and parents[2].requires_grad:
                gb.append(wrap(np.add.reduce(g2, 0) if type(g2) is np.ndarray
                               else g2.sum(axis=0)))
        if big and x.requires_grad and w.requires_grad:
            # both gradients: one product on each thread (lamina.ops.blas.matmul_pair),
            # the bias gradient on this one while the other's product runs
            gxd, gwd = _blas.matmul_pair(g2, w.data.T, x2t, g2, then=bias_grad)
        else:
            if x.requires_grad:
                gxd = _blas.matmul(g2, w.data.T) if big else g2 @ w.data.T
            if w.requires_grad:
                gwd = _blas.matmul(x2t, g2) if big else x2t @ g2
            bias_grad()
        gx = None if gxd is None else wrap(gxd if gd.ndim == 2 else gxd.reshape(xd.shape))
        gw = None if gwd is None else wrap(gwd)
        if has_b:
            return gx, gw, (gb[0] if gb else None)
        return gx, gw
    xin = x.data.shape[-1]
    g2 = _reshape(g, (-1, gd.shape[-1])) if gd.ndim != 2 else g
    gx = gw = gb = None
    if x.requires_grad:
        gx = _matmul(g, _transpose(w))
    if w.requires_grad:
        x2 = _reshape(x, (-1, xin)) if x.data.ndim != 2 else x
        gw = _matmul(_transpose(x2), g2)
    if has_b and parents[2].requires_grad:
        gb = _sum(g2, axis=0)
    return (gx, gw, gb) if has_b else (gx, gw)


def _linear_shape_error(x, w):
    raise ValueError(f"linear: input of shape {x.shape} does not match a weight of shape "
                     f"{w.shape}: expected the last axis to be {w.shape[0] if w.ndim else '?'}"
                     + ("" if w.ndim == 2 else " and a 2-D weight")) from None


def _linear_relu_back(g, out):
    """The backward of linear(..., activation="relu"): the incoming gradient masked where the
    output is 0 (relu's derivative, read off the output itself), then linear's."""
    if out._version:
        raise RuntimeError(f"backward of 'linear_relu': its output (shape {out.shape}) was "
                           "modified in place after it was computed; the gradient would be "
                           "wrong. Make a copy before changing it in place.")
    y = out.data
    if not GradMode.enabled:
        return _linear_back(wrap(relu_grad_array(g.data, y)), out)
    return _linear_back(g * wrap((y > 0).astype(y.dtype)), out)


_ACTIVATIONS = (None, "linear", "relu")


@register()
def linear(x, weight, bias=None, activation=None):
    """x @ weight + bias, with weight (in, out) as Keras stores kernels: (..., in) -> (..., out).
    ``activation="relu"`` applies max(., 0) in place on the result within the same node (a
    Keras ``Dense(activation="relu")``): one node and one array fewer than relu(linear(...))."""
    if activation is not None and activation not in _ACTIVATIONS:
        raise ValueError(f"linear: activation must be None, 'linear' or 'relu', got "
                         f"{activation!r}")
    w = weight if isinstance(weight, Tensor) else as_tensor(weight)
    if not isinstance(x, Tensor):
        x = as_tensor_on(x, w)          # raw inputs follow the weight's device
    xd, wd = x.data, w.data
    if type(xd) is not type(wd):
        check_device("linear", "input", x, "weight", w)
    if xd.dtype is not wd.dtype and xd.dtype != wd.dtype:
        x = as_tensor(x, dtype=wd.dtype)
        xd = x.data
    if wd.ndim != 2:
        _linear_shape_error(x, w)
    try:        # matmul itself rejects a 0-d input or a last axis of the wrong length
        if _blas._use_mkl and xd.ndim >= 2 and xd.size * wd.shape[1] >= _blas.mkl_min_work() \
                and xd.shape[-1] == wd.shape[0]:
            y = _blas.matmul(xd.reshape(-1, xd.shape[-1]), wd)      # large: MKL's GEMM
            if xd.ndim > 2:
                y = y.reshape(xd.shape[:-1] + (wd.shape[1],))
        elif xd.ndim > 2:   # one 2-D GEMM rather than a stacked matmul (one GEMM per batch)
            y = (xd.reshape(-1, xd.shape[-1]) @ wd).reshape(xd.shape[:-1] + (wd.shape[1],))
        else:
            y = xd @ wd
    except ValueError:
        _linear_shape_error(x, w)
    if bias is not None:
        b = bias if isinstance(bias, Tensor) else as_tensor_on(bias, w)
        if type(b.data) is not type(wd):
            check_device("linear", "bias", b, "weight", w)
        try:
            _add_rows(y, b.data)
        except ValueError:
            raise ValueError(f"linear: bias of shape {b.shape} does not match the output shape "
                             f"{tuple(y.shape)}: expected ({wd.shape[1]},)") from None
        if activation == "relu":
            return _relu_node(y, (x, w, b))
        if GradMode.enabled and (x.requires_grad or w.requires_grad or b.requires_grad):
            return record(y, (x, w, b), _linear_back, "linear")
    elif activation == "relu":
        return _relu_node(y, (x, w))
    elif GradMode.enabled and (x.requires_grad or w.requires_grad):
        return record(y, (x, w), _linear_back, "linear")
    return wrap(y)


def _add_rows(y, b):
    """``y += b`` for linear's fresh result y (..., out) and bias b (out,); a large NumPy y
    in row blocks on lamina's threads."""
    if type(y) is np.ndarray and y.ndim >= 2 and type(b) is np.ndarray and b.ndim == 1 and \
            b.shape[0] == y.shape[-1]:
        y2 = y.reshape(-1, y.shape[-1])
        _threads.for_rows(lambda i, j: np.add(y2[i:j], b, out=y2[i:j]), *y2.shape)
    else:
        y += b


def _relu_node(y, parents):
    """linear's result ``y`` after an in-place relu, recorded when a parent needs a gradient."""
    if type(y) is np.ndarray:
        y2 = y.reshape(-1, y.shape[-1]) if y.ndim >= 2 else y.reshape(1, -1)
        _threads.for_rows(lambda i, j: np.maximum(y2[i:j], 0, out=y2[i:j]), *y2.shape)
    else:
        backend.get_xp(y).maximum(y, 0, out=y)
    if GradMode.enabled:
        for p in parents:
            if p.requires_grad:
                return record(y, parents, _linear_relu_back, "linear_relu")
    return wrap(y)


def _softmax_array(xp, d, axis):
    e = xp.exp(d - d.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


@register()
def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``, computed after subtracting the max."""
    x = _float_in(x)
    xp = xp_of(x)
    y = _softmax_array(xp, x.data, axis)
    if GradMode.enabled and x.requires_grad:
        def back(g, out):
            from .reduction import sum as _sum
            return (out * (g - _sum(g * out, axis=axis, keepdims=True)),)
        # read by fit's fused cross-entropy, which needs a softmax over the last axis
        back.softmax_axis = axis % y.ndim if y.ndim else None
        return record(y, (x,), back, "softmax")
    return wrap(y)


@register()
def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis`` (stable)."""
    x = _float_in(x)
    xp = xp_of(x)
    d = x.data
    s = d - d.max(axis=axis, keepdims=True)
    y = s - xp.log(xp.exp(s).sum(axis=axis, keepdims=True))
    if GradMode.enabled and x.requires_grad:
        def back(g, out):
            from .reduction import sum as _sum
            return (g - exp(out) * _sum(g, axis=axis, keepdims=True),)
        return record(y, (x,), back, "log_softmax")
    return wrap(y)


def _sum_all(a):
    return np.add.reduce(a, axis=None) if type(a) is np.ndarray else a.sum()


def _reduce(loss_arr, reduction, op):
    if reduction == "mean":
        n = loss_arr.size
        # sum / n rather than .mean(): the same value, a fraction of NumPy's Python overhead
        return _sum_all(loss_arr) / n if n else _sum_all(loss_arr)
    if reduction == "sum":
        return _sum_all(loss_arr)
    if reduction == "none":
        return loss_arr
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduction_grad(g, reduction, shape):
    """The per-sample weights the reduction gives the incoming gradient ``g``."""
    if reduction == "none":
        return _reshape(g, shape + (1,))
    n = int(np.prod(shape)) if reduction == "mean" else 1
    scale = g / max(n, 1)
    return _broadcast_to(_reshape(scale, (1,) * (len(shape) + 1)), shape + (1,))


_ROWS = {}


def _row_ids(xp, n):
    """arange(n) (row numbers for the sparse gather); NumPy's are cached read-only."""
    if xp is not np:
        return xp.arange(n)
    r = _ROWS.get(n)
    if r is None:
        r = np.arange(n)
        r.flags.writeable = False
        if len(_ROWS) < 64:
            _ROWS[n] = r
    return r


_OFFSETS = {}


def _flat_ids(tf, C):
    """Flat positions ``i * C + tf[i]`` of the target entries of a C-contiguous (n, C)
    NumPy array: one 1-D gather/scatter instead of a 2-D fancy index (half the cost)."""
    n = tf.size
    off = _OFFSETS.get((n, C))
    if off is None:
        off = np.arange(0, n * C, C)
        off.flags.writeable = False
        if len(_OFFSETS) < 64:
            _OFFSETS[n, C] = off
    return off + tf


def _sparse_ids(t, z, C, bshape):
    """Integer targets ``t`` of logits ``z`` (bshape + (C,)) as flat int64 class ids,
    checked: their shape must be ``bshape``, and every id in [0, C)."""
    if t.shape != bshape:
        raise ValueError(f"cross_entropy: sparse targets of shape {tuple(t.shape)} do not "
                         f"match logits of shape {z.shape} (expected {bshape})")
    tf = t.reshape(-1)
    if tf.dtype != np.int64:
        tf = tf.astype(np.int64)
    if tf.size:
        # negative ids become huge as unsigned: one reduction checks both ends (the ufunc
        # directly on NumPy, ndarray.max adds a Python layer; a GPU reads one value back)
        u = tf.view(np.uint64)
        if (np.maximum.reduce(u) if type(u) is np.ndarray else int(u.max())) >= C:
            _class_range_error(tf, C)
    return tf


def _ce_sparse_cuda(rows, z, d, t, reduction):
    """cross_entropy on CuPy logits (..., C) with integer class ids (...): one kernel for
    the per-row losses (log-sum-exp kept) and one for the gradient, where CuPy's calls
    would be ~10 and ~5 launches.  Same results and errors as the general path."""
    C = d.shape[-1]
    bshape = d.shape[:-1]
    tf = _sparse_ids(t, z, C, bshape)      # an id out of range would index outside the row
    n = tf.size
    z2 = d.reshape(-1, C)
    if not z2.flags.c_contiguous:
        z2 = z2.copy()
    per, lse = rows.softmax_ce(z2, tf)
    y = _reduce(per, reduction, "cross_entropy") if reduction != "none" else \
        per.reshape(bshape)
    if not (GradMode.enabled and z.requires_grad):
        return wrap(y)

    def back(g, out):
        if GradMode.enabled:        # second order: the general path records softmax
            return _ce_second_order(g, out._parents[0], tf, reduction, bshape)
        gd = g.data
        scale = gd / max(n, 1) if reduction == "mean" else gd
        return (wrap(rows.softmax_ce_grad(z2, tf, lse, scale).reshape(d.shape)),)
    return record(y, (z,), back, "cross_entropy")


def _ce_sparse_numpy(z, d, t, reduction):
    """cross_entropy on NumPy logits (..., C) with integer class ids (...): the training
    step's case, with as few NumPy calls as the hand-written version.  Same results and
    errors as the general path; a second derivative records softmax with lamina ops."""
    C = d.shape[-1]
    bshape = d.shape[:-1]
    tf = _sparse_ids(t, z, C, bshape)
    # fmax reduces short rows faster than maximum; a NaN logit still makes the row's
    # loss NaN (it stays in d - m)
    s = d - np.fmax.reduce(d, -1, None, None, True)
    e = np.exp(s)
    se = np.add.reduce(e, -1, None, None, True)
    n = tf.size
    flat = _flat_ids(tf, C)
    per = np.log(se).reshape(-1)
    per -= s.reshape(-1)[flat]
    if reduction == "mean":
        y = np.add.reduce(per, None) / n if n else np.add.reduce(per, None)
    elif reduction == "sum":
        y = np.add.reduce(per, None)
    else:
        y = per.reshape(bshape)
    if not (GradMode.enabled and z.requires_grad):
        return wrap(y)

    def back(g, out):
        if GradMode.enabled:        # second order: the general path records softmax
            return _ce_second_order(g, out._parents[0], tf, reduction, bshape)
        p = e / se
        p.reshape(-1)[flat] -= 1
        gd = g.data
        if reduction == "mean":
            # a Python float scales a NumPy array without a 0-d array op (and, being a
            # weak scalar, keeps p's dtype)
            p *= float(gd) / max(n, 1)
        elif reduction == "sum":
            p *= float(gd)
        else:
            p *= gd[..., None]
        return (wrap(p),)
    return record(y, (z,), back, "cross_entropy")


def _ce_second_order(g, zz, tf, reduction, bshape):
    """The sparse cross-entropy's gradient recorded with lamina ops (grad of grad)."""
    d = zz.data
    xp = xp_of(zz)
    C = d.shape[-1]
    onehot = xp.zeros(d.shape, dtype=d.dtype)
    onehot.reshape(-1, C)[_row_ids(xp, tf.size), tf] = 1
    diff = softmax(zz, axis=-1) - _const(onehot)
    return (diff * _reduction_grad(g, reduction, bshape),)


def _class_range_error(t, C):
    raise ValueError(f"cross_entropy: class ids must lie in [0, {C}), got range "
                     f"[{int(t.min())}, {int(t.max())}]")


@register()
def cross_entropy(logits, target, axis=-1, reduction="mean"):
    """Softmax cross-entropy of ``logits`` (..., C) against ``target``: integer class ids of
    shape (...) (sparse) or probabilities of shape (..., C) (dense).  One fused node:
    never takes log(0); its gradient is softmax(logits) - target."""
    z = logits if isinstance(logits, Tensor) and logits.data.dtype.kind == "f" \
        else _float_in(logits)
    d = z.data
    xp = np if type(d) is np.ndarray else xp_of(z)
    if axis != -1 and axis != d.ndim - 1:
        from .shape import moveaxis
        return cross_entropy(moveaxis(z, axis, -1), target, -1, reduction)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got "
                         f"{reduction!r}")
    t = target.data if isinstance(target, Tensor) else target
    if type(t) is not type(d):
        if isinstance(target, Tensor):      # a tensor never moves; raw targets follow z
            check_device("cross_entropy", "target", target, "logits", z)
        t = xp.asarray(t)
    if xp is np and t.dtype.kind in "iu":
        return _ce_sparse_numpy(z, d, t, reduction)
    if t.dtype.kind in "iu" and d.dtype.kind == "f":
        rows = _cuda_kernels.row_kernels(xp, d.dtype)
        if rows is not None:
            return _ce_sparse_cuda(rows, z, d, t, reduction)
    C = d.shape[-1]
    bshape = d.shape[:-1]
    if xp is np:    # the ufunc reductions directly: ndarray.max/.sum add a Python layer
        # fmax reduces short rows faster than maximum; a NaN logit still makes the row's
        # loss NaN (it stays in d - m)
        s = d - np.fmax.reduce(d, axis=-1, keepdims=True)
        e = np.exp(s)
        se = np.add.reduce(e, axis=-1, keepdims=True)
    else:
        s = d - d.max(axis=-1, keepdims=True)
        e = xp.exp(s)
        se = e.sum(axis=-1, keepdims=True)
    sparse = t.dtype.kind in "iu" or (t.shape == bshape and t.shape != d.shape)
    if sparse:
        tf = _sparse_ids(t, z, C, bshape)
        rows = _row_ids(xp, tf.size)
        per = (xp.log(se).reshape(-1) - s.reshape(-1, C)[rows, tf]).reshape(bshape)
    else:
        if t.shape != d.shape:
            raise ValueError(f"cross_entropy: dense targets of shape {tuple(t.shape)} do not match "
                             f"logits of shape {z.shape}")
        t = t.astype(d.dtype, copy=False)
        per = -(t * (s - xp.log(se))).sum(axis=-1)
    y = _reduce(per, reduction, "cross_entropy")
    tgt_t = target if isinstance(target, Tensor) and not sparse else None
    parents = (z,) if tgt_t is None else (z, tgt_t)
    if GradMode.enabled and (z.requires_grad or (tgt_t is not None and tgt_t.requires_grad)):

        def back(g, out):
            zz = out._parents[0]
            if not GradMode.enabled:     # first order, on raw arrays
                gz = gt = None
                if zz.requires_grad:
                    p = e / se
                    if sparse:
                        p.reshape(-1, C)[rows, tf] -= 1
                    else:
                        p -= out._parents[1].data if tgt_t is not None else t
                    gd = g.data
                    if reduction == "none":
                        p *= gd[..., None]
                    elif reduction == "mean":
                        n = max(tf.size if sparse else per.size, 1)
                        # a Python float scales a NumPy array without a 0-d array op (and,
                        # being a weak scalar, keeps p's dtype)
                        p *= float(gd) / n if type(gd) is np.ndarray else gd / n
                    else:
                        p *= gd
                    gz = wrap(p)
                if tgt_t is not None and tgt_t.requires_grad:
                    w = _reduction_grad(g, reduction, bshape)
                    gt = -(log_softmax(zz) * w)
                return (gz,) if tgt_t is None else (gz, gt)
            # second order: softmax as a recorded op
            p = softmax(zz, axis=-1)
            if sparse:
                onehot = xp.zeros(d.shape, dtype=d.dtype)
                onehot.reshape(-1, C)[rows, tf] = 1
                diff = p - _const(onehot)
            else:
                diff = p - (out._parents[1] if tgt_t is not None else _const(t))
            w = _reduction_grad(g, reduction, bshape)
            gz = diff * w
            gt = None
            if tgt_t is not None and tgt_t.requires_grad:
                gt = -(log_softmax(zz) * w)
            return (gz,) if tgt_t is None else (gz, gt)
        return record(y, parents, back, "cross_entropy")
    return wrap(y)


@register()
def binary_cross_entropy_with_logits(logits, target, reduction="mean"):
    """Sigmoid cross-entropy, elementwise: max(z, 0) - z*t + log(1 + exp(-|z|)), reduced.
    Gradient: sigmoid(z) - t; never overflows."""
    z = _float_in(logits)
    t = as_tensor(target, like=z)
    check_device("binary_cross_entropy_with_logits", "target", t, "logits", z)
    if t.data.shape != z.data.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: target shape {t.shape} does not "
                         f"match logits shape {z.shape}")
    xp = xp_of(z)
    d, td = z.data, t.data
    per = xp.maximum(d, 0) - d * td + xp.log1p(xp.exp(-xp.abs(d)))
    y = xp.asarray(_reduce(per, reduction, "binary_cross_entropy_with_logits"))
    if needs_grad(z, t):
        shape = d.shape

        def back(g, out):
            zz, tt = out._parents
            from .shape import reshape, broadcast_to
            if reduction == "none":
                w = g
            else:
                n = max(int(np.prod(shape)), 1) if reduction == "mean" else 1
                w = broadcast_to(reshape(g / n, (1,) * len(shape)), shape)
            gz = (sigmoid(zz) - tt) * w if zz.requires_grad else None
            gt = -(zz * w) if tt.requires_grad else None
            return gz, gt
        return record(y, (z, t), back, "binary_cross_entropy_with_logits")
    return wrap(y)


@register()
def dropout(x, rate, training=True, generator=None):
    """Zero each entry with probability ``rate`` and scale the rest by 1/(1-rate) while
    training; the identity otherwise."""
    x = _float_in(x)
    if not training or rate == 0:
        return x
    if not 0 <= rate < 1:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate}")
    from .. import random as _random
    gen = generator if generator is not None else _random.default_generator()
    keep = gen.uniform_array(x.data.shape, xp_of(x), dtype=x.data.dtype) >= rate
    scale = keep.astype(x.data.dtype) * x.data.dtype.type(1.0 / (1.0 - rate))
    return x * _const(scale)


__all__ = ["linear", "softmax", "log_softmax", "cross_entropy",
           "binary_cross_entropy_with_logits", "dropout"]
