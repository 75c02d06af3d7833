"""Neural-network ops: fused linear, softmax, log-softmax, cross-entropies, dropout.

``linear`` and the cross-entropies are single nodes with hand-written VJPs (fewer
nodes, less Python per step); the VJPs use lamina ops, so second derivatives
still work.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .base import (Tensor, as_tensor, needs_grad, record, register, wrap, xp_of)
from .elementwise import _float_in, _const, exp, sigmoid


def _linear_back(g, out):
    parents = out._parents
    x, w = parents[0], parents[1]
    from .linalg import matmul
    from .shape import reshape, transpose
    from .reduction import sum as _sum
    xin = x.data.shape[-1]
    g2 = reshape(g, (-1, g.data.shape[-1])) if g.data.ndim != 2 else g
    gx = gw = gb = None
    if x.requires_grad:
        gx = matmul(g, transpose(w))
    if w.requires_grad:
        x2 = reshape(x, (-1, xin)) if x.data.ndim != 2 else x
        gw = matmul(transpose(x2), g2)
    if len(parents) == 3 and parents[2].requires_grad:
        gb = _sum(g2, axis=0)
    return (gx, gw, gb) if len(parents) == 3 else (gx, gw)


@register()
def linear(x, weight, bias=None):
    """x @ weight + bias, with weight (in, out) as Keras stores kernels: (..., in) -> (..., out)."""
    x = as_tensor(x)
    w = as_tensor(weight)
    if x.data.dtype != w.data.dtype:
        x = as_tensor(x, dtype=w.data.dtype)
    if x.data.ndim == 0 or x.data.shape[-1] != w.data.shape[0]:
        raise ValueError(f"linear: input of shape {x.shape} does not match a weight of shape "
                         f"{w.shape}: expected the last axis to be {w.shape[0]}")
    y = x.data @ w.data
    if bias is not None:
        b = as_tensor(bias)
        y += b.data
        if needs_grad(x, w, b):
            return record(y, (x, w, b), _linear_back, "linear")
    elif needs_grad(x, w):
        return record(y, (x, w), _linear_back, "linear")
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
    if needs_grad(x):
        def back(g, out):
            from .reduction import sum as _sum
            return (out * (g - _sum(g * out, axis=axis, keepdims=True)),)
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
    if needs_grad(x):
        def back(g, out):
            from .reduction import sum as _sum
            return (g - exp(out) * _sum(g, axis=axis, keepdims=True),)
        return record(y, (x,), back, "log_softmax")
    return wrap(y)


def _reduce(loss_arr, reduction, op):
    if reduction == "mean":
        return loss_arr.mean() if loss_arr.size else loss_arr.sum()
    if reduction == "sum":
        return loss_arr.sum()
    if reduction == "none":
        return loss_arr
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduction_grad(g, reduction, shape):
    """The per-sample weights the reduction gives the incoming gradient ``g``."""
    from .shape import reshape, broadcast_to
    if reduction == "none":
        return reshape(g, shape + (1,))
    n = int(np.prod(shape)) if reduction == "mean" else 1
    scale = g / max(n, 1)
    return broadcast_to(reshape(scale, (1,) * (len(shape) + 1)), shape + (1,))


@register()
def cross_entropy(logits, target, axis=-1, reduction="mean"):
    """Softmax cross-entropy of ``logits`` (..., C) against ``target``: integer class ids of
    shape (...) (sparse) or probabilities of shape (..., C) (dense).  One fused node:
    never takes log(0); its gradient is softmax(logits) - target."""
    z = _float_in(logits)
    xp = xp_of(z)
    d = z.data
    if axis not in (-1, d.ndim - 1):
        from .shape import moveaxis
        return cross_entropy(moveaxis(z, axis, -1), target, -1, reduction)
    t = target.data if isinstance(target, Tensor) else target
    if xp is not np and isinstance(t, np.ndarray):
        t = xp.asarray(t)
    t = xp.asarray(t)
    C = d.shape[-1]
    m = d.max(axis=-1, keepdims=True)
    s = d - m
    e = xp.exp(s)
    se = e.sum(axis=-1, keepdims=True)
    logp = s - xp.log(se)
    sparse = t.dtype.kind in "iu" or (t.shape == d.shape[:-1] and t.shape != d.shape)
    if sparse:
        if t.shape != d.shape[:-1]:
            raise ValueError(f"cross_entropy: sparse targets of shape {tuple(t.shape)} do not "
                             f"match logits of shape {z.shape} (expected {d.shape[:-1]})")
        t = t.astype(np.int64, copy=False)
        if t.size and (int(t.min()) < 0 or int(t.max()) >= C):
            raise ValueError(f"cross_entropy: class ids must lie in [0, {C}), got range "
                             f"[{int(t.min())}, {int(t.max())}]")
        per = -xp.take_along_axis(logp, t[..., None], axis=-1)[..., 0]
    else:
        if t.shape != d.shape:
            raise ValueError(f"cross_entropy: dense targets of shape {tuple(t.shape)} do not match "
                             f"logits of shape {z.shape}")
        t = t.astype(d.dtype, copy=False)
        per = -(t * logp).sum(axis=-1)
    y = xp.asarray(_reduce(per, reduction, "cross_entropy"))
    tgt_t = target if isinstance(target, Tensor) and not sparse else None
    parents = (z,) if tgt_t is None else (z, tgt_t)
    if needs_grad(*parents):
        bshape = d.shape[:-1]

        def back(g, out):
            zz = out._parents[0]
            from .base import GradMode
            if GradMode.enabled:          # second order: softmax as a recorded op
                from .nn import softmax as _sm
                p = _sm(zz, axis=-1)
            else:
                p = _const(e / se)
            if sparse:
                onehot = xp.zeros(d.shape, dtype=d.dtype)
                xp.put_along_axis(onehot, t[..., None], 1, axis=-1)
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
