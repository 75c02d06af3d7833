"""Fused scaled dot-product attention: softmax(q @ k^T * scale + mask) @ v in one node.

The forward keeps only the attention probabilities (and the dropout keep mask); the
backward is written on raw arrays (two batched GEMMs per input), so second
derivatives through this op raise an error.  Masks follow Keras: True (or 1) means
"may attend"; masked scores are set to -1e9 before the softmax, so a fully masked
row attends uniformly, as in Keras.
"""
from __future__ import annotations

import math

import numpy as np

from .base import GradMode, Tensor, as_tensor, needs_grad, record, register, wrap, xp_of

__all__ = ["scaled_dot_product_attention"]

_NEG = -1e9


def _as_float(t, like):
    t = t if isinstance(t, Tensor) else as_tensor(t, like=like)
    if t.data.dtype != like.data.dtype:
        t = as_tensor(t, dtype=like.data.dtype)
    return t


def _unbroadcast_array(a, shape):
    """Sum ``a`` over the leading axes that broadcasting added or stretched."""
    lead = a.ndim - len(shape)
    if lead:
        a = a.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and a.shape[i] != 1)
    if axes:
        a = a.sum(axis=axes, keepdims=True)
    return a


@register()
def scaled_dot_product_attention(q, k, v, mask=None, causal=False, scale=None, dropout=0.0,
                                 training=True, return_weights=False, generator=None):
    """Attention of queries q (..., Lq, d) over keys k (..., Lk, d) and values v (..., Lk, dv):
    softmax(q k^T * scale) v -> (..., Lq, dv).  ``scale`` defaults to 1/sqrt(d); ``mask``
    (bool, broadcastable to (..., Lq, Lk)) marks allowed positions; ``causal`` also masks
    keys after each query (query i sees keys j <= i, as Keras's use_causal_mask); ``dropout`` drops attention
    weights while ``training``.  With ``return_weights`` also returns the (..., Lq, Lk)
    weights (without dropout, and outside the graph).
    """
    q = q if isinstance(q, Tensor) else as_tensor(q)
    if q.data.dtype.kind != "f":
        q = as_tensor(q, dtype=_default_float())
    k = _as_float(k, q)
    v = _as_float(v, q)
    qd, kd, vd = q.data, k.data, v.data
    op = "scaled_dot_product_attention"
    if qd.ndim < 2 or kd.ndim < 2 or vd.ndim < 2:
        raise ValueError(f"{op}: q, k, v need at least 2 dimensions (..., L, features), got "
                         f"{q.shape}, {k.shape}, {v.shape}")
    if qd.shape[-1] != kd.shape[-1]:
        raise ValueError(f"{op}: q of shape {q.shape} and k of shape {k.shape} must have the "
                         "same last dimension")
    if kd.shape[-2] != vd.shape[-2]:
        raise ValueError(f"{op}: k of shape {k.shape} and v of shape {v.shape} must have the "
                         "same length (axis -2)")
    if not 0 <= dropout < 1:
        raise ValueError(f"{op}: dropout must be in [0, 1), got {dropout}")
    xp = xp_of(q)
    dt = qd.dtype
    Lq, Lk = qd.shape[-2], kd.shape[-2]
    sc = dt.type(1.0 / math.sqrt(qd.shape[-1]) if scale is None else scale)
    s = qd @ xp.swapaxes(kd, -1, -2)
    s *= sc
    allowed = None
    if mask is not None:
        md = mask.data if isinstance(mask, Tensor) else mask
        allowed = xp.asarray(md).astype(bool)
        try:
            ok = np.broadcast_shapes(tuple(allowed.shape), s.shape) == s.shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{op}: mask of shape {tuple(allowed.shape)} does not broadcast to "
                             f"the scores' shape {s.shape} (..., Lq, Lk)")
    if causal:
        tri = xp.tril(xp.ones((Lq, Lk), dtype=bool))
        allowed = tri if allowed is None else (allowed & tri)
    if allowed is not None:
        s = xp.where(allowed, s, dt.type(_NEG))
    s -= s.max(axis=-1, keepdims=True)
    p = xp.exp(s, out=s)
    p /= p.sum(axis=-1, keepdims=True)
    keep = None
    pd = p
    if dropout and training:
        from .. import random as _random
        gen = generator if generator is not None else _random.default_generator()
        keep = (gen.uniform_array(p.shape, xp, dtype=dt) >= dropout).astype(dt)
        keep *= dt.type(1.0 / (1.0 - dropout))
        pd = p * keep
    y = pd @ vd
    if not needs_grad(q, k, v):
        out = wrap(y)
    else:
        def back(g, o):
            if GradMode.enabled:
                raise RuntimeError(f"{op}: second derivatives through the fused attention op "
                                   "are not supported (its backward runs on raw arrays)")
            gq, gk, gv = o._parents
            gd = g.data
            dv = None
            if gv.requires_grad:
                dv = _unbroadcast_array(xp.swapaxes(pd, -1, -2) @ gd, vd.shape)
            dp = gd @ xp.swapaxes(vd, -1, -2)
            if keep is not None:
                dp *= keep
            # dp is a fresh array: finish the softmax VJP in place (fewer temporaries)
            dp -= (dp * p).sum(axis=-1, keepdims=True)
            dp *= p
            ds = dp
            if allowed is not None:
                ds = xp.where(allowed, ds, dt.type(0))
            ds *= sc
            dq = _unbroadcast_array(ds @ kd, qd.shape) if gq.requires_grad else None
            dk = _unbroadcast_array(xp.swapaxes(ds, -1, -2) @ qd, kd.shape) \
                if gk.requires_grad else None
            return tuple(None if a is None else wrap(a) for a in (dq, dk, dv))
        out = record(y, (q, k, v), back, op)
    if return_weights:
        return out, wrap(p)
    return out


def _default_float():
    from .. import backend
    return backend.default_dtype()
