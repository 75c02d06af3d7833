"""Fused scaled dot-product attention: softmax(q @ k^T * scale + mask) @ v in one node.

The forward keeps only the attention probabilities (and the dropout keep mask); the
backward is written on raw arrays (two batched GEMMs per input), so second
derivatives through this op raise an error.  Masks follow Keras: True (or 1) means
"may attend"; masked scores are set to -1e9 before the softmax, so a fully masked
row attends uniformly, as in Keras.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..backend import device_of, is_cupy_array
from . import kernels as _kernels
from . import threads as _threads
from .base import (GradMode, Tensor, as_tensor, check_device, needs_grad, record, register, wrap,
                   xp_of)

__all__ = ["scaled_dot_product_attention", "qkv_attention"]

_NEG = -1e9

# Attention with at least this many scores (batch x heads x queries x keys) runs in
# lamina.ops.kernels' compiled loops where they apply: below it NumPy is fast enough, and a
# small model does not wait for their first compile (~1.6 s, then cached on disk)
COMPILED_MIN_SCORES = 1 << 15


def _as_float(t, like, name):
    """k or v as a tensor of q's dtype; raw data follows q's device, a tensor elsewhere
    is an error."""
    t = t if isinstance(t, Tensor) else as_tensor(t, like=like)
    check_device("scaled_dot_product_attention", name, t, "q", like)
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


def _scores_key_major(xp, q, k, sc, allowed_t):
    """Attention probabilities in key-major layout, p^T (..., Lk, Lq), and q * scale.

    Key-major, so that the softmax's reductions run over the second-to-last axis: NumPy
    vectorizes those across the contiguous last axis, while a max along a short last
    axis is several times slower (it dominated this op's forward)."""
    qs = q * sc
    s = xp.matmul(k, xp.swapaxes(qs, -1, -2))
    if allowed_t is not None:
        s = xp.where(allowed_t, s, s.dtype.type(_NEG))
    s -= s.max(axis=-2, keepdims=True)
    p = xp.exp(s, out=s)
    # column sums as one batched vector-matrix product (BLAS beats NumPy's reduction)
    r = xp.matmul(xp.ones((1, p.shape[-2]), dtype=p.dtype), p)
    xp.reciprocal(r, out=r)
    p *= r
    return p, qs


def _scores_back(xp, g, p_t, keep_t, v, allowed_t, sc):
    """d scores, key-major (..., Lk, Lq), from the output gradient g (..., Lq, dv)."""
    dp = xp.matmul(v, xp.swapaxes(g, -1, -2))         # (dP)^T
    if keep_t is not None:
        dp *= keep_t
    # softmax VJP: ds = p * (dp - sum_k p dp), the sum over keys = axis -2 here
    dp -= xp.einsum("...ji,...ji->...i", dp, p_t)[..., None, :]
    dp *= p_t
    if allowed_t is not None:
        dp = xp.where(allowed_t, dp, dp.dtype.type(0))
    return dp


def _allowed_t(xp, op, mask, causal, s_shape, Lq, Lk):
    """The 'may attend' mask in key-major layout (broadcastable to (..., Lk, Lq)) or None."""
    allowed = None
    if mask is not None:
        md = mask.data if isinstance(mask, Tensor) else mask
        if xp is np and is_cupy_array(md):
            raise ValueError(f"{op}: mask is on {device_of(md)}, the queries on cpu; move "
                             "one with .to(device)")
        allowed = xp.asarray(md).astype(bool)     # a host mask follows the queries
        try:
            ok = np.broadcast_shapes(tuple(allowed.shape), s_shape) == s_shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{op}: mask of shape {tuple(allowed.shape)} does not broadcast to "
                             f"the scores' shape {s_shape} (..., Lq, Lk)")
    if causal:
        tri = xp.tril(xp.ones((Lq, Lk), dtype=bool))
        allowed = tri if allowed is None else (allowed & tri)
    if allowed is None:
        return None
    if allowed.ndim < 2:
        allowed = allowed.reshape((1,) * (2 - allowed.ndim) + allowed.shape)
    return xp.swapaxes(allowed, -1, -2)


def _no_second_order(op):
    if GradMode.enabled:
        raise RuntimeError(f"{op}: second derivatives through the fused attention op "
                           "are not supported (its backward runs on raw arrays)")


@register()
def scaled_dot_product_attention(q, k, v, mask=None, causal=False, scale=None, dropout=0.0,
                                 training=True, return_weights=False, generator=None):
    """Attention of queries q (..., Lq, d) over keys k (..., Lk, d) and values v (..., Lk, dv):
    softmax(q k^T * scale) v -> (..., Lq, dv).  ``scale`` defaults to 1/sqrt(d); ``mask``
    (bool, broadcastable to (..., Lq, Lk)) marks allowed positions; ``causal`` also masks
    keys after each query (query i sees keys j <= i, as Keras's use_causal_mask);
    ``dropout`` drops attention weights while ``training``.  With ``return_weights`` also returns the (..., Lq, Lk)
    weights (without dropout, and outside the graph).
    """
    q = q if isinstance(q, Tensor) else as_tensor(q)
    if q.data.dtype.kind != "f":
        q = as_tensor(q, dtype=_default_float())
    k = _as_float(k, q, "k")
    v = _as_float(v, q, "v")
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
    s_shape = np.broadcast_shapes(qd.shape[:-2], kd.shape[:-2]) + (Lq, Lk)
    loops = _kernels.attention_loop_kernels(dt) if xp is np and not (dropout and training) \
        and math.prod(s_shape) >= COMPILED_MIN_SCORES else None
    if loops is not None:
        res = _sdpa_compiled(loops, q, k, v, mask, causal, sc, return_weights)
        if res is not None:
            return res
    allowed_t = _allowed_t(xp, op, mask, causal, s_shape, Lq, Lk)
    p_t, qs = _scores_key_major(xp, qd, kd, sc, allowed_t)
    keep_t = None
    pd_t = p_t
    if dropout and training:
        from .. import random as _random
        gen = generator if generator is not None else _random.default_generator()
        keep = (gen.uniform_array(p_t.shape[:-2] + (Lq, Lk), xp, dtype=dt) >= dropout)
        keep_t = xp.swapaxes(keep, -1, -2).astype(dt)
        keep_t *= dt.type(1.0 / (1.0 - dropout))
        pd_t = p_t * keep_t
    y = xp.matmul(xp.swapaxes(pd_t, -1, -2), vd)
    if not needs_grad(q, k, v):
        out = wrap(y)
    else:
        def back(g, o):
            _no_second_order(op)
            gq, gk, gv = o._parents
            gd = g.data
            dv = None
            if gv.requires_grad:
                dv = _unbroadcast_array(xp.matmul(pd_t, gd), vd.shape)
            ds_t = _scores_back(xp, gd, p_t, keep_t, vd, allowed_t, sc)
            dq = dk = None
            if gq.requires_grad:
                dq = xp.matmul(xp.swapaxes(ds_t, -1, -2), kd)
                dq *= sc
                dq = _unbroadcast_array(dq, qd.shape)
            if gk.requires_grad:
                dk = _unbroadcast_array(xp.matmul(ds_t, qs), kd.shape)
            return tuple(None if a is None else wrap(a) for a in (dq, dk, dv))
        out = record(y, (q, k, v), back, op)
    if return_weights:
        return out, wrap(xp.ascontiguousarray(xp.swapaxes(p_t, -1, -2)))
    return out


@register()
def qkv_attention(qkv, num_heads, mask=None, causal=False, scale=None):
    """Multi-head self-attention from a packed projection ``qkv`` (B, T, 3 * D): queries,
    keys and values side by side (each D = num_heads * head_dim, head-major within, as
    PyTorch's ``in_proj`` and a ``linear`` to 3 * D give), softmax(q k^T * scale) v per
    head, heads merged back -> (B, T, D).  ``mask``: bool, broadcastable to
    (B, num_heads, T, T), True where a query may attend to a key; ``causal`` as in
    :func:`scaled_dot_product_attention` (default scale 1/sqrt(head_dim)).

    Equivalent to splitting q, k, v, moving heads to an axis of their own, calling
    scaled_dot_product_attention and merging the heads, but one node: the heads are
    strided views into ``qkv`` and the output, and the backward writes dq, dk and dv
    straight into one (B, T, 3 * D) gradient (no split, transpose or zero-filled
    per-slice gradients, each a pass over multi-MB arrays)."""
    op = "qkv_attention"
    qkv = qkv if isinstance(qkv, Tensor) else as_tensor(qkv)
    if qkv.data.dtype.kind != "f":
        qkv = as_tensor(qkv, dtype=_default_float())
    d = qkv.data
    if isinstance(num_heads, bool) or not isinstance(num_heads, (int, np.integer)) or \
            num_heads < 1:
        raise TypeError(f"{op}: num_heads must be a positive int, got {num_heads!r}")
    if d.ndim != 3 or d.shape[-1] % (3 * num_heads):
        raise ValueError(f"{op}: qkv must have shape (batch, length, 3 * num_heads * "
                         f"head_dim) with num_heads={num_heads}, got {qkv.shape}")
    xp = xp_of(qkv)
    dt = d.dtype
    B, T, D3 = d.shape
    D = D3 // 3
    hd = D // num_heads
    sc = dt.type(1.0 / math.sqrt(hd) if scale is None else scale)
    loops = _kernels.attention_loop_kernels(dt) if xp is np and mask is None and \
        B * num_heads * T * T >= COMPILED_MIN_SCORES else None
    if loops is not None:
        return _qkv_attention_compiled(loops, qkv, num_heads, sc, causal)
    # (B, T, 3, NH, hd) -> three (B, NH, T, hd) views (BLAS takes their row stride)
    q, k, v = d.reshape(B, T, 3, num_heads, hd).transpose(2, 0, 3, 1, 4)
    allowed_t = _allowed_t(xp, op, mask, causal, (B, num_heads, T, T), T, T)
    y = xp.empty((B, T, D), dtype=dt)
    heads = lambda a, i, j: a[i:j].reshape(j - i, T, num_heads, hd).transpose(0, 2, 1, 3)  # noqa
    # on the CPU, parts of the batch on lamina's threads at once: NumPy drops the GIL in
    # its loops and BLAS calls, and each call here works on a ~1 MB block
    parts = _batch_parts(xp, B, num_heads * T * T)
    saved = [None] * len(parts)

    def forward(n, i, j):
        a = _batch_rows(allowed_t, B, i, j)
        p_t, qs = _scores_key_major(xp, q[i:j], k[i:j], sc, a)
        xp.matmul(xp.swapaxes(p_t, -1, -2), v[i:j], out=heads(y, i, j))
        saved[n] = p_t, qs
    _threads.run_parallel([lambda n=n, i=i, j=j: forward(n, i, j)
                           for n, (i, j) in enumerate(parts)])
    if not needs_grad(qkv):
        return wrap(y)

    def back(g, o):
        _no_second_order(op)
        dqkv = xp.empty((B, T, D3), dtype=dt)
        dq, dk, dv = dqkv.reshape(B, T, 3, num_heads, hd).transpose(2, 0, 3, 1, 4)

        def backward(n, i, j):
            p_t, qs = saved[n]
            gh = heads(g.data, i, j)
            xp.matmul(p_t, gh, out=dv[i:j])
            ds_t = _scores_back(xp, gh, p_t, None, v[i:j], _batch_rows(allowed_t, B, i, j),
                                sc)
            xp.matmul(xp.swapaxes(ds_t, -1, -2), k[i:j], out=dq[i:j])
            dq[i:j] *= sc
            xp.matmul(ds_t, qs, out=dk[i:j])
        _threads.run_parallel([lambda n=n, i=i, j=j: backward(n, i, j)
                               for n, (i, j) in enumerate(parts)])
        return (wrap(dqkv),)
    return record(y, (qkv,), back, op)


def _desc(address, batch, head, row):
    """A compiled attention loop's view of one operand: its start and the byte strides of
    its batch, head and row axes (lamina.ops.kernels.attention_forward_loop)."""
    return np.array((address, batch, head, row), np.int64)


def _no_mask(N, H, Tk, Tq):
    # the loops read the mask only where told to; a broadcast keeps its one array type
    return np.broadcast_to(np.ones((1, 1, 1, 1), np.uint8), (N, H, Tk, Tq))


def _qkv_attention_compiled(loops, qkv, num_heads, sc, causal):
    """qkv_attention through lamina.ops.kernels' compiled loops (float32 NumPy, no mask):
    the heads are read from and their gradients written into the packed arrays in place,
    parts of the batch on lamina's threads at once (the loops hold no GIL)."""
    d = np.ascontiguousarray(qkv.data)
    B, T, D3 = d.shape
    D = D3 // 3
    H, hd, f = num_heads, D // num_heads, 4
    p = np.empty((B, H, T, T), np.float32)
    y = np.empty((B, T, D), np.float32)
    # q, k and v of head h: columns h * hd, D + h * hd, 2D + h * hd of each row
    heads = [_desc(d.ctypes.data + i * D * f, T * D3 * f, hd * f, D3 * f) for i in range(3)]
    allowed = _no_mask(B, H, T, T)
    parts = _batch_parts(np, B, H * T * T)
    _threads.run_parallel([functools.partial(
        loops.forward, *heads, _desc(y.ctypes.data, T * D * f, hd * f, D * f), H, T, T, hd,
        hd, sc, causal, allowed, False, i, j, p) for i, j in parts])
    if not needs_grad(qkv):
        return wrap(y)

    def back(g, o, operand=d):          # (the descriptors point into d: kept alive)
        _no_second_order("qkv_attention")
        gd = np.ascontiguousarray(g.data, dtype=np.float32)
        dqkv = np.empty((B, T, D3), np.float32)
        grads = [_desc(dqkv.ctypes.data + i * D * f, T * D3 * f, hd * f, D3 * f)
                 for i in range(3)]
        _threads.run_parallel([functools.partial(
            loops.backward, *heads, _desc(gd.ctypes.data, T * D * f, hd * f, D * f), *grads,
            H, T, T, hd, hd, sc, causal, allowed, False, i, j, p,
            np.empty((T, T), np.float32)) for i, j in parts])
        return (wrap(dqkv),)
    return record(y, (qkv,), back, "qkv_attention")


def _as_heads(a):
    """A float32 array (..., L, d) with at most two leading axes as (N, H, L, d), its rows
    contiguous (a copy only where they are not), and its descriptor."""
    lead = a.shape[:-2]
    a = a.reshape((1,) * (2 - len(lead)) + a.shape)
    if a.strides[-1] != 4 or a.strides[-2] % 4 or a.strides[-2] < 4 * a.shape[-1]:
        a = np.ascontiguousarray(a)
    row = a.strides[2] if a.shape[2] > 1 else 4 * a.shape[3]    # any stride on one row
    return a, _desc(a.ctypes.data, a.strides[0], a.strides[1], row)


def _sdpa_compiled(loops, q, k, v, mask, causal, sc, return_weights):
    """scaled_dot_product_attention through the compiled loops: float32 NumPy q, k, v with
    the same (at most two) leading axes, no dropout; None where these do not fit."""
    qd, kd, vd = q.data, k.data, v.data
    lead = qd.shape[:-2]
    if len(lead) > 2 or kd.shape[:-2] != lead or vd.shape[:-2] != lead or \
            0 in qd.shape or 0 in kd.shape or 0 in vd.shape or \
            not all(a.dtype == np.float32 and type(a) is np.ndarray for a in (qd, kd, vd)):
        return None
    Lq, dk = qd.shape[-2:]
    Lk, dv = vd.shape[-2:]
    (q4, qh), (k4, kh), (v4, vh) = _as_heads(qd), _as_heads(kd), _as_heads(vd)
    N, H = q4.shape[:2]
    allowed_t = _allowed_t(np, "scaled_dot_product_attention", mask, False, lead + (Lq, Lk),
                           Lq, Lk)
    if allowed_t is None:
        allowed = _no_mask(N, H, Lk, Lq)
    else:
        allowed = np.broadcast_to(allowed_t, lead + (Lk, Lq)).reshape(
            (N, H, Lk, Lq)).view(np.uint8)
        allowed = np.broadcast_to(allowed, allowed.shape)      # one (read-only) array type
    has_mask = allowed_t is not None
    p = np.empty((N, H, Lk, Lq), np.float32)
    y = np.empty((N, H, Lq, dv), np.float32)
    f = 4
    parts = _batch_parts(np, N, H * Lq * Lk)
    _threads.run_parallel([functools.partial(
        loops.forward, qh, kh, vh, _desc(y.ctypes.data, H * Lq * dv * f, Lq * dv * f, dv * f),
        H, Lq, Lk, dk, dv, sc, causal, allowed, has_mask, i, j, p) for i, j in parts])
    out_y = y.reshape(lead + (Lq, dv))
    if not needs_grad(q, k, v):
        out = wrap(out_y)
    else:
        def back(g, o, operands=(q4, k4, v4)):   # (qh, kh, vh point into these: kept alive)
            _no_second_order("scaled_dot_product_attention")
            gd = np.ascontiguousarray(g.data, dtype=np.float32).reshape(N, H, Lq, dv)
            gq, gk, gv = (np.empty((N, H, Lq, dk), np.float32),
                          np.empty((N, H, Lk, dk), np.float32),
                          np.empty((N, H, Lk, dv), np.float32))
            descs = [_desc(a.ctypes.data, *a.strides[:3]) for a in (gd, gq, gk, gv)]
            _threads.run_parallel([functools.partial(
                loops.backward, qh, kh, vh, *descs, H, Lq, Lk, dk, dv, sc, causal, allowed,
                has_mask, i, j, p, np.empty((Lk, Lq), np.float32)) for i, j in parts])
            return tuple(wrap(a.reshape(t.data.shape)) if t.requires_grad else None
                         for a, t in zip((gq, gk, gv), o._parents))
        out = record(out_y, (q, k, v), back, "scaled_dot_product_attention")
    if return_weights:
        return out, wrap(np.ascontiguousarray(
            np.swapaxes(p.reshape(lead + (Lk, Lq)), -1, -2)))
    return out


def _batch_parts(xp, B, per_item):
    """Batch rows [i, j) for each of lamina's threads: one part on a GPU, for small work
    (fewer than 2^17 scores), or with one thread."""
    k = min(_threads.num_threads(), B)
    if xp is not np or k < 2 or B * per_item < (1 << 17) or _threads.in_worker():
        return [(0, B)]
    return [(B * p // k, B * (p + 1) // k) for p in range(k)]


def _batch_rows(allowed_t, B, i, j):
    """The rows i .. j - 1 of a mask broadcastable to (B, ...), or the mask itself where
    it does not vary along the batch."""
    if allowed_t is None or allowed_t.ndim < 4 or allowed_t.shape[0] != B or B == 1:
        return allowed_t
    return allowed_t[i:j]


def _default_float():
    from .. import backend
    return backend.default_dtype()
