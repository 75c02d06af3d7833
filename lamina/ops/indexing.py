"""Indexing ops: ``x[idx]``, gather/take, one-hot, embedding lookup, masked fill.

The gradient of a lookup is a scatter-add into zeros of the source's shape;
repeated indices accumulate (``np.add.at`` / ``cupy.add.at``).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .base import (GradMode, Tensor, as_tensor, as_tensor_on, check_device, needs_grad, record,
                   register, wrap, xp_of)


def _norm_index(idx, xp):
    if isinstance(idx, Tensor):
        idx = idx.data
    if isinstance(idx, tuple):
        return tuple(_norm_index(i, xp) for i in idx)
    if isinstance(idx, list):
        idx = np.asarray(idx)
    # host index arrays move to the data's device; text and object arrays stay (CuPy has
    # no such dtypes), for the caller's error about them
    if xp is not np and isinstance(idx, np.ndarray) and idx.dtype.kind in "biuf":
        idx = xp.asarray(idx)
    return idx


def _int_indices(op, indices, xp, floats=False):
    """Integer ``indices`` as an array on ``xp``'s device; whole floats become int64 when
    ``floats``, other dtypes raise a TypeError naming ``op`` (checked on the host array,
    before a copy to the GPU, which has no text dtypes)."""
    ind = _norm_index(indices, xp)
    if not hasattr(ind, "dtype"):
        ind = xp.asarray(ind)
    kind = ind.dtype.kind
    if kind not in "iu":
        if floats and kind == "f":
            ind = ind.astype(np.int64)
        else:
            raise TypeError(f"{op}: indices must be integers, got {ind.dtype}")
    return xp.asarray(ind)


def _has_int_array(idx):
    parts = idx if isinstance(idx, tuple) else (idx,)
    for p in parts:
        if hasattr(p, "dtype") and p.dtype.kind in "iu" and getattr(p, "ndim", 0) >= 0 \
                and not isinstance(p, (int, np.integer)):
            return True
    return False


def scatter_add_array(xp, target, idx, values):
    """``target[idx] += values`` with repeated indices accumulating (in place)."""
    if xp is np:
        np.add.at(target, idx, values)
        return
    at = getattr(xp.add, "at", None)
    if at is not None:      # CuPy 13+ (cupyx.scatter_add is deprecated there)
        at(target, idx, values)
    else:
        import cupyx
        cupyx.scatter_add(target, idx, values)


def _scatter_into(g, idx, shape, accumulate):
    """Zeros of ``shape`` with ``g`` added at ``idx``: the gradient of ``x[idx]``."""
    xp = xp_of(g)
    z = xp.zeros(shape, dtype=g.data.dtype)
    if accumulate:
        scatter_add_array(xp, z, idx, g.data)
    else:
        z[idx] = g.data
    if needs_grad(g):
        return record(z, (g,), lambda gg, out: (getitem(gg, idx),), "scatter_add")
    return wrap(z)


@register()
def getitem(x, idx):
    """``x[idx]`` with NumPy's rules: ints, slices, None, Ellipsis, boolean masks and
    integer arrays.  Repeated integer indices accumulate their gradients."""
    x = as_tensor(x)
    xp = xp_of(x)
    nidx = _norm_index(idx, xp)
    try:
        y = x.data[nidx]
    except IndexError as e:
        raise IndexError(f"getitem: index {idx!r} is invalid for a tensor of shape {x.shape}: {e}") \
            from None
    if type(y) is not type(x.data):
        y = xp.asarray(y)
    if GradMode.enabled and x.requires_grad:
        shape = x.data.shape
        acc = _has_int_array(nidx)
        return record(y, (x,), lambda g, out: (_scatter_into(g, nidx, shape, acc),), "getitem")
    return wrap(y)


@register("take", "gather")
def take(x, indices, axis=None):
    """Entries of ``x`` at integer ``indices`` along ``axis`` (flattened when None)."""
    x = as_tensor(x)
    xp = xp_of(x)
    ind = _int_indices("take", indices, xp)
    if axis is None:
        from .shape import reshape
        return getitem(reshape(x, (-1,)), ind)
    ax = axis % x.data.ndim
    n = x.data.shape[ax]
    if ind.size and (int(ind.max()) >= n or int(ind.min()) < -n):
        raise IndexError(f"take: index out of range for axis {axis} of size {n} "
                         f"(shape {x.shape})")
    return getitem(x, (slice(None),) * ax + (ind,))


gather = take


@register()
def take_along_axis(x, indices, axis):
    """``np.take_along_axis``: pick one entry per position along ``axis``."""
    x = as_tensor(x)
    xp = xp_of(x)
    ind = _int_indices("take_along_axis", indices, xp)
    ax = axis % x.data.ndim
    if ind.ndim != x.data.ndim:
        raise ValueError(f"take_along_axis: indices have {ind.ndim} dims, x has {x.data.ndim} "
                         f"(shapes {tuple(ind.shape)} and {x.shape})")
    grids = xp.ogrid[tuple(slice(s) for s in ind.shape)]
    full = tuple(ind if i == ax else grids[i] for i in range(x.data.ndim))
    bshape = np.broadcast_shapes(*[tuple(a.shape) for a in full])
    full = tuple(xp.broadcast_to(a, bshape) for a in full)
    return getitem(x, full)


@register()
def one_hot(indices, num_classes, dtype=None):
    """Integer class indices (any shape) to one-hot vectors along a new last axis."""
    if isinstance(indices, np.ndarray) and indices.dtype.kind not in "biuf":
        # checked on the host: a GPU default device cannot hold text
        raise TypeError(f"one_hot: indices must be integers, got {indices.dtype}")
    ind = as_tensor(indices)
    xp = xp_of(ind)
    d = ind.data
    if d.dtype.kind not in "iu":
        if d.dtype.kind == "f" and bool((d == xp.round(d)).all()):
            d = d.astype(np.int64)
        else:
            raise TypeError(f"one_hot: indices must be integers, got {d.dtype}")
    if d.size and (int(d.max()) >= num_classes or int(d.min()) < 0):
        raise ValueError(f"one_hot: indices must lie in [0, {num_classes}), got range "
                         f"[{int(d.min())}, {int(d.max())}]")
    dt = backend.as_dtype(dtype)
    out = xp.zeros(d.shape + (num_classes,), dtype=dt)
    out.reshape(-1, num_classes)[xp.arange(d.size), d.reshape(-1)] = 1
    return wrap(out)


def _embedding_grad_np(z, ind, g):
    """Add the rows of ``g`` (n, *D) into the zeros ``z`` (V, *D) at rows ``ind`` (any shape,
    n entries in [0, V)), repeated rows accumulating.

    np.add.at is slow (it runs element by element), so rows that occur once are assigned in
    one fancy-index copy and only the repeated ones (few in a typical batch) go through
    add.at, over flat element indices (~2x faster than over rows): ~2x faster overall
    than add.at on every row for a batch of 2,560 lookups into 10,000 rows."""
    if z.size == 0 or g.size == 0:
        return
    V = z.shape[0]
    z2 = z.reshape(V, -1)
    g2 = g.reshape(len(g), -1)
    fl = ind.reshape(-1).astype(np.intp, copy=False)
    z2[fl] = g2
    rep = np.bincount(fl, minlength=V)[fl] > 1
    if rep.any():
        rows = fl[rep]
        z2[rows] = 0
        dsz = z2.shape[1]
        fi = (rows[:, None] * dsz + np.arange(dsz)).reshape(-1)
        np.add.at(z2.reshape(-1), fi, g2[rep].reshape(-1))


@register()
def embedding(indices, table):
    """Rows of ``table`` (V, D) at integer ``indices`` (any shape) -> shape indices.shape + (D,).

    The gradient is a scatter-add of the output gradient rows into a (V, D)
    array: one pass whatever the table's size, repeated indices accumulating.
    """
    table = as_tensor(table)
    xp = xp_of(table)
    ind = _int_indices("embedding", indices, xp, floats=True)
    V = table.data.shape[0]
    if ind.size and (int(ind.max()) >= V or int(ind.min()) < 0):
        raise IndexError(f"embedding: index out of range [0, {V}) for a table of shape "
                         f"{table.shape} (got min {int(ind.min())}, max {int(ind.max())})")
    y = table.data[ind]
    if needs_grad(table):
        shape = table.data.shape

        def back(g, out):
            D = shape[1:]
            flat_g = g.data.reshape((-1,) + D)
            if g.requires_grad:     # second order: stay on the tape
                return (_scatter_into(g, ind, shape, True),)
            z = xp.zeros(shape, dtype=g.data.dtype)
            if xp is np:
                _embedding_grad_np(z, ind, flat_g)
            else:
                scatter_add_array(xp, z, ind.reshape(-1), flat_g)
            return (wrap(z),)
        return record(y, (table,), back, "embedding")
    return wrap(y)


@register()
def masked_fill(x, mask, value):
    """``x`` with entries where ``mask`` (broadcastable, boolean) is true set to ``value``."""
    from .elementwise import where
    x = as_tensor(x)
    m = as_tensor_on(mask, x)           # a raw mask is a constant: it follows x
    check_device("masked_fill", "mask", m, "x", x)
    if m.data.dtype != np.bool_:
        m = wrap(m.data.astype(bool))
    if isinstance(value, Tensor):
        check_device("masked_fill", "value", value, "x", x)
    return where(m, as_tensor(value, like=x), x)


__all__ = ["getitem", "take", "gather", "take_along_axis", "one_hot", "embedding", "masked_fill",
           "scatter_add_array"]
