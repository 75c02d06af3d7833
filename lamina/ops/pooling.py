"""Pooling, channels-last: max/average pooling 1-D and 2-D (pool size, strides, 'valid' or
'same' padding with Keras/TF's rule) and global average/max pooling.

Windowed pooling is one fused node.  Forward and backward loop over the (few) offsets of
the pooling window, each step a strided slice of the whole batch, never over pixels; when
the windows tile the input (stride == pool size, the usual 2x2) the max-pool backward
instead compares and multiplies over all offsets at once through a 6-D view.  Max
pooling routes each window's gradient to its first maximum (row-major order, as PyTorch
does), so ties never duplicate gradient; over a ``conv2d_relu`` output it also applies
the relu mask to its pooled gradient, and the conv then skips its own full-size mask.
With numba (the ``jit`` extra) max pooling runs as two compiled loops instead
(``lamina.ops.kernels``): the forward keeps each window's first-maximum offset for the
backward.  Average pooling with 'same' divides by the number of real (unpadded) pixels in each
window, as Keras/TF do.  The VJPs work on raw arrays: second derivatives through windowed
pooling raise NotImplementedError.
"""
from __future__ import annotations

import numpy as np

from . import kernels as _kernels
from .base import needs_grad, record, register, wrap, xp_of
from .conv import normalize_tuple, same_padding, tag_relu_masked, _no_second_order
from .elementwise import _float_in

__all__ = ["max_pool2d", "avg_pool2d", "max_pool1d", "avg_pool1d", "global_avg_pool1d",
           "global_avg_pool2d", "global_max_pool1d", "global_max_pool2d"]


def _pool_args(op, x, pool_size, strides, padding, nd):
    if x.data.ndim != nd + 2:
        raise ValueError(f"{op}: expected an input of rank {nd + 2} (batch, "
                         f"{'length' if nd == 1 else 'height, width'}, channels), got shape "
                         f"{x.shape}")
    ps = normalize_tuple(pool_size, nd, "pool_size", op)
    st = ps if strides is None else normalize_tuple(strides, nd, "strides", op)
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be 'valid' or 'same', got {padding!r}")
    spatial = x.data.shape[1:1 + nd]
    if padding.lower() == "same":
        pads = tuple(same_padding(n, k, s) for n, k, s in zip(spatial, ps, st))
    else:
        pads = tuple((0, 0) for _ in spatial)
        if any(n < k for n, k in zip(spatial, ps)):
            raise ValueError(f"{op}: pool_size {ps} is larger than the input's spatial shape "
                             f"{spatial} (input shape {x.shape}) with padding 'valid'")
    out = tuple((n + lo + hi - k) // s + 1 for n, (lo, hi), k, s in zip(spatial, pads, ps, st))
    if nd == 1:
        ps, st, pads, out = (1,) + ps, (1,) + st, ((0, 0),) + pads, (1,) + out
    return ps, st, pads, out


def _pad(xp, x, pads, value):
    (a, b), (c, d) = pads
    if a or b or c or d:
        return xp.pad(x, ((0, 0), (a, b), (c, d), (0, 0)), mode="constant", constant_values=value)
    return x


def _slices(ps, st, out):
    """(i, j, index) for every offset of the pooling window: the strided slice of the padded
    input that meets each output pixel at that offset."""
    he, we = (out[0] - 1) * st[0] + 1, (out[1] - 1) * st[1] + 1
    for i in range(ps[0]):
        for j in range(ps[1]):
            yield (slice(None), slice(i, i + he, st[0]), slice(j, j + we, st[1]))


def _max_pool(op, x, pool_size, strides, padding, nd):
    x = _float_in(x)
    ps, st, pads, out = _pool_args(op, x, pool_size, strides, padding, nd)
    xp = xp_of(x)
    xd = x.data if nd == 2 else x.data[:, None]
    xpd = _pad(xp, xd, pads, -np.inf)
    dt = xd.dtype
    # with numba, one compiled pass finds each window's maximum and where it is
    kern = _kernels.pool_kernels(dt) if type(xd) is np.ndarray else None
    arg = None
    if kern is not None:
        xpd = np.ascontiguousarray(xpd)
        y = np.empty((xd.shape[0],) + out + (xd.shape[3],), dtype=dt)
        arg = np.empty(y.shape, dtype=np.int32)
        kern.max_forward(xpd, ps[0], ps[1], st[0], st[1], y, arg)
    else:
        sls = list(_slices(ps, st, out))
        # the first maximum writes the fresh output: no separate copy of the first offset
        y = xpd[sls[0]].copy() if len(sls) == 1 else xp.maximum(xpd[sls[0]], xpd[sls[1]])
        for sl in sls[2:]:
            xp.maximum(y, xpd[sl], out=y)
    yo = y if nd == 2 else y[:, 0]
    if not needs_grad(x):
        return wrap(yo)
    in_shape = xd.shape
    padded_shape = xpd.shape
    # over a conv2d_relu output, this backward applies the relu mask on the pooled
    # gradient and tags its result so the conv skips its full-size mask (see conv.py)
    after_relu = x._op == "conv2d_relu"

    def back(g, o):
        _no_second_order(op)
        ga = g.data if nd == 2 else g.data[:, None]
        pos = None
        if after_relu:
            pos = y > 0
            ga = ga * pos
        # windows that tile the input (stride == pool) write each pixel once: no zero fill
        # or accumulation needed except for rows/columns no window covers
        tiled = ps[0] == st[0] and ps[1] == st[1]
        full = tiled and out[0] * st[0] == padded_shape[1] and \
            out[1] * st[1] == padded_shape[2]
        gx = (xp.empty if full else xp.zeros)(padded_shape, dtype=ga.dtype)
        if arg is not None:
            # each window's gradient to the pixel the forward found: NaN windows route none
            kern.max_backward(np.ascontiguousarray(ga), arg, ps[0], ps[1], st[0], st[1], gx,
                              full)
        else:
            src = o._parents[0].data if nd == 2 else o._parents[0].data[:, None]
            srcp = _pad(xp, src, pads, -np.inf)
            if tiled:
                unpadded = not any(lo or hi for lo, hi in pads)
                _tiled_max_grad(xp, srcp, y, ga, gx, ps, out, pos if unpadded else None)
            else:
                _strided_max_grad(xp, srcp, y, ga, gx, ps, st, out)
        (a, _), (c, _) = pads
        gx = gx[:, a:a + in_shape[1], c:c + in_shape[2]]
        gx = gx if nd == 2 else gx[:, 0]
        if after_relu:
            tag_relu_masked(gx, o._parents[0].data)
        return (wrap(gx),)
    return record(yo, (x,), back, op)


def _tiles(xp, a, ps, out):
    """View (N, Ho, KH, Wo, KW, C) of the top-left Ho*KH x Wo*KW region of ``a``
    (N, H, W, C): window (h, w) at offset (i, j) is element [:, h, i, w, j]."""
    sn, sh, sw, sc = a.strides
    return xp.lib.stride_tricks.as_strided(
        a, shape=(a.shape[0], out[0], ps[0], out[1], ps[1], a.shape[3]),
        strides=(sn, ps[0] * sh, sh, ps[1] * sw, sw, sc))


def _tiled_max_grad(xp, srcp, y, ga, gx, ps, out, pos=None):
    """Max-pool gradient into ``gx`` when the windows tile the input (stride == pool): one
    broadcast comparison with the pooled maxima over all offsets at once, a first-maximum
    fix-up on the (few) offset planes, and one broadcast multiply written straight into
    ``gx`` (measured 1.5-2x faster than compare/mask/multiply passes per offset).

    ``pos`` (``y > 0``) is given for an unpadded input of a relu's outputs (>= 0 or NaN)
    whose gradient ``ga`` is already zero where ``y`` is not positive: ties in all-zero
    windows then route nothing, and when no positive window has a tie the fix-up is
    skipped (measured 0.45 ms against 0.13 ms for the count on MNIST's first pool)."""
    hit = _tiles(xp, srcp, ps, out) == y[:, :, None, :, None, :]
    if pos is not None and _ties_only_at_zero(xp, hit, y, ga, pos, ps):
        xp.multiply(hit, ga[:, :, None, :, None, :], out=_tiles(xp, gx, ps, out))
        return
    taken = None
    for i in range(ps[0]):
        for j in range(ps[1]):
            h = hit[:, :, i, :, j]
            if taken is None:
                taken = h.copy()
                continue
            xp.greater(h, taken, out=h)     # a maximum not preceded by an earlier one
            if i < ps[0] - 1 or j < ps[1] - 1:
                taken |= h
    xp.multiply(hit, ga[:, :, None, :, None, :], out=_tiles(xp, gx, ps, out))


def _ties_only_at_zero(xp, hit, y, ga, pos, ps):
    """Whether every window with a positive maximum has exactly one hit, for an input of
    values >= 0 (or NaN) and a finite gradient (a non-finite one times the zero mask
    would not vanish on the tied zeros).  An all-zero window holds KH*KW hits, a NaN
    window none, a positive one at least one: the counts add up only without ties."""
    if not bool(xp.isfinite(ga.sum())):
        return False
    hits = int(xp.count_nonzero(hit))
    zeros = int(xp.count_nonzero(y == 0))
    return hits == ps[0] * ps[1] * zeros + int(xp.count_nonzero(pos))


def _strided_max_grad(xp, srcp, y, ga, gx, ps, st, out):
    """Max-pool gradient accumulated into the zeroed ``gx`` for overlapping or gapped
    windows: one strided pass per window offset, each pixel's gradient going to the first
    maximum of its window."""
    taken = None
    for sl in _slices(ps, st, out):
        hit = srcp[sl] == y
        if taken is None:
            taken = hit         # already consumed below before any update of taken
        else:
            xp.greater(hit, taken, out=hit)     # hit and not yet taken, in one pass
            taken |= hit
        gx[sl] += hit * ga


def _window_counts(xp, in_sz, ps, st, pads, out, dtype):
    """Number of real (unpadded) input pixels in each output window, shape (1, Ho, Wo, 1)."""
    cnt = []
    for n, k, s, (lo, _), o in zip(in_sz, ps, st, pads, out):
        start = np.arange(o) * s - lo
        cnt.append(np.minimum(start + k, n) - np.maximum(start, 0))
    c = np.outer(cnt[0], cnt[1]).astype(dtype)
    return xp.asarray(c[None, :, :, None])


def _avg_pool(op, x, pool_size, strides, padding, nd):
    x = _float_in(x)
    ps, st, pads, out = _pool_args(op, x, pool_size, strides, padding, nd)
    xp = xp_of(x)
    xd = x.data if nd == 2 else x.data[:, None]
    xpd = _pad(xp, xd, pads, 0)
    y = None
    for sl in _slices(ps, st, out):
        y = xpd[sl].copy() if y is None else xp.add(y, xpd[sl], out=y)
    if any(lo or hi for lo, hi in pads):
        scale = 1.0 / _window_counts(xp, xd.shape[1:3], ps, st, pads, out, xd.dtype)
    else:
        scale = xd.dtype.type(1.0 / (ps[0] * ps[1]))
    y *= scale
    yo = y if nd == 2 else y[:, 0]
    if not needs_grad(x):
        return wrap(yo)
    in_shape = xd.shape
    pshape = xpd.shape

    def back(g, o):
        _no_second_order(op)
        ga = (g.data if nd == 2 else g.data[:, None]) * scale
        gx = xp.zeros(pshape, dtype=ga.dtype)
        for sl in _slices(ps, st, out):
            gx[sl] += ga
        (a, _), (c, _) = pads
        gx = gx[:, a:a + in_shape[1], c:c + in_shape[2]]
        return (wrap(gx if nd == 2 else gx[:, 0]),)
    return record(yo, (x,), back, op)


@register()
def max_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """Max over windows: x (N, H, W, C) -> (N, Ho, Wo, C); ``strides`` defaults to
    ``pool_size``; 'same' pads with -inf (Keras/TF rule)."""
    return _max_pool("max_pool2d", x, pool_size, strides, padding, 2)


@register()
def max_pool1d(x, pool_size=2, strides=None, padding="valid"):
    """Max over windows: x (N, L, C) -> (N, Lo, C)."""
    return _max_pool("max_pool1d", x, pool_size, strides, padding, 1)


@register()
def avg_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """Mean over windows: x (N, H, W, C) -> (N, Ho, Wo, C); with 'same' each window is
    divided by its count of real pixels (padding excluded), as Keras/TF do."""
    return _avg_pool("avg_pool2d", x, pool_size, strides, padding, 2)


@register()
def avg_pool1d(x, pool_size=2, strides=None, padding="valid"):
    """Mean over windows: x (N, L, C) -> (N, Lo, C)."""
    return _avg_pool("avg_pool1d", x, pool_size, strides, padding, 1)


def _pool3d(op, pool2d, x, pool_size, strides, padding):
    """A 3-D pool as two 2-D ones: over (H, W) with the depth folded into the batch, then
    over depth with (H, W) flattened.  Exact for max and for the mean (the windows and the
    'same' counts of real pixels are products over the axes)."""
    from .shape import reshape as _reshape
    x = _float_in(x)
    if x.data.ndim != 5:
        raise ValueError(f"{op}: expected an input of rank 5 (batch, depth, height, width, "
                         f"channels), got shape {x.shape}")
    from .conv import normalize_tuple
    ps = normalize_tuple(pool_size, 3, "pool_size", op)
    st = ps if strides is None else normalize_tuple(strides, 3, "strides", op)
    n, d, h, w, c = x.data.shape
    y = pool2d(_reshape(x, (n * d, h, w, c)), ps[1:], st[1:], padding)
    ho, wo = y.shape[1], y.shape[2]
    y = pool2d(_reshape(y, (n, d, ho * wo, c)), (ps[0], 1), (st[0], 1), padding)
    return _reshape(y, (n, y.shape[1], ho, wo, c))


@register()
def max_pool3d(x, pool_size=2, strides=None, padding="valid"):
    """Max over windows: x (N, D, H, W, C) -> (N, Do, Ho, Wo, C)."""
    return _pool3d("max_pool3d", max_pool2d, x, pool_size, strides, padding)


@register()
def avg_pool3d(x, pool_size=2, strides=None, padding="valid"):
    """Mean over windows: x (N, D, H, W, C) -> (N, Do, Ho, Wo, C) ('same': padding
    excluded from the counts, as Keras/TF)."""
    return _pool3d("avg_pool3d", avg_pool2d, x, pool_size, strides, padding)


def _global(op, x, nd, keepdims, fn):
    x = _float_in(x)
    if x.data.ndim != nd + 2:
        raise ValueError(f"{op}: expected an input of rank {nd + 2} (batch, "
                         f"{'length' if nd == 1 else 'height, width'}, channels), got shape "
                         f"{x.shape}")
    return fn(x, axis=tuple(range(1, nd + 1)), keepdims=keepdims)


@register()
def global_avg_pool2d(x, keepdims=False):
    """Mean over height and width: (N, H, W, C) -> (N, C) (or (N, 1, 1, C) with keepdims)."""
    from .reduction import mean
    return _global("global_avg_pool2d", x, 2, keepdims, mean)


@register()
def global_avg_pool1d(x, keepdims=False):
    """Mean over the steps: (N, L, C) -> (N, C) (or (N, 1, C) with keepdims)."""
    from .reduction import mean
    return _global("global_avg_pool1d", x, 1, keepdims, mean)


@register()
def global_max_pool2d(x, keepdims=False):
    """Max over height and width: (N, H, W, C) -> (N, C) (or (N, 1, 1, C) with keepdims)."""
    from .reduction import max as _max
    return _global("global_max_pool2d", x, 2, keepdims, _max)


@register()
def global_max_pool1d(x, keepdims=False):
    """Max over the steps: (N, L, C) -> (N, C) (or (N, 1, C) with keepdims)."""
    from .reduction import max as _max
    return _global("global_max_pool1d", x, 1, keepdims, _max)
