"""Reductions over axes: sum, mean, prod, max/min, var/std, norm, logsumexp, ...

``axis`` is None (all axes), an int or a tuple; ``keepdims`` keeps reduced axes
as size 1.  Backward functions broadcast the incoming gradient back over the
reduced axes with lamina ops, so second derivatives work.
"""
from __future__ import annotations

import builtins

import numpy as np

from .. import backend
from .base import (GradMode, Tensor, as_tensor, needs_grad, normalize_axis, record, register, wrap, xp_of)
from .elementwise import _float_in, _const, cast, exp, log, sqrt, square, where, abs as _abs


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _spread(gd, shape):
    """Raw gradient ``gd`` (reduced axes kept as size 1) spread over ``shape``.  Small
    results are filled in (NumPy's broadcast_to costs microseconds of Python); large
    ones stay a broadcast view, which costs no memory."""
    xp = np if type(gd) is np.ndarray else backend.get_xp(gd)
    size = 1
    for n in shape:
        size *= n
    if size <= 1 << 16:
        out = xp.empty(shape, gd.dtype)
        out[...] = gd
        return out
    return xp.broadcast_to(gd, shape)


def _expand_grad(g, shape, axes, keepdims):
    """Gradient of a reduction broadcast back to the input ``shape``."""
    from .shape import broadcast_to, reshape
    if not keepdims:
        g = reshape(g, _kept_shape(shape, axes))
    return broadcast_to(g, shape)


@register()
def sum(x, axis=None, keepdims=False, dtype=None):  # noqa: A001
    """Sum over ``axis``."""
    if not isinstance(x, Tensor):
        x = as_tensor(x)
    d = x.data
    axes = normalize_axis(axis, d.ndim, "sum")
    y = d.sum(axis=axes, keepdims=keepdims, dtype=dtype)
    if type(y) is not type(d):
        y = xp_of(x).asarray(y)
    if d.dtype.kind == "b" and dtype is None:
        y = y.astype(np.int64)
    if GradMode.enabled and x.requires_grad:
        shape = d.shape
        kept = None if keepdims else _kept_shape(shape, axes)

        src = d.dtype if dtype is not None and np.dtype(dtype) != d.dtype else None

        def back(g, out):
            if src is not None:           # summed in another dtype: the gradient comes back
                g = cast(g, src)
            if not GradMode.enabled:      # first order, on raw arrays
                gd = g.data if kept is None else g.data.reshape(kept)
                return (wrap(_spread(gd, shape)),)
            return (_expand_grad(g, shape, axes, keepdims),)
        return record(y, (x,), back, "sum")
    return wrap(y)


@register()
def mean(x, axis=None, keepdims=False):
    """Arithmetic mean over ``axis``."""
    x = _float_in(x)
    axes = normalize_axis(axis, x.data.ndim, "mean")
    n = 1
    for a in axes:
        n *= x.data.shape[a]
    y = xp_of(x).asarray(x.data.mean(axis=axes, keepdims=keepdims))
    if GradMode.enabled and x.requires_grad:
        shape = x.data.shape
        kept = None if keepdims else _kept_shape(shape, axes)

        def back(g, out):
            if not GradMode.enabled:
                gd = g.data if kept is None else g.data.reshape(kept)
                return (wrap(_spread(gd / gd.dtype.type(n), shape)),)
            return (_expand_grad(g / n, shape, axes, keepdims),)
        return record(y, (x,), back, "mean")
    return wrap(y)


@register()
def prod(x, axis=None, keepdims=False):
    """Product over ``axis``; exact gradients also where some entries are zero."""
    x = as_tensor(x)
    axes = normalize_axis(axis, x.data.ndim, "prod")
    y = xp_of(x).asarray(x.data.prod(axis=axes, keepdims=keepdims))
    if GradMode.enabled and x.requires_grad:
        shape = x.data.shape

        def back(g, out):
            xx = out._parents[0]
            gk = _expand_grad(g, shape, axes, keepdims)
            xp = xp_of(xx)
            if not bool((xx.data == 0).any()):
                ok = _expand_grad(out, shape, axes, keepdims)
                return (gk * ok / xx,)
            if GradMode.enabled:
                return (gk * _others_product(xx, axes),)
            # zeros present: product of all the other entries, by exclusive cumulative products
            d = xx.data
            moved = xp.moveaxis(d, axes, tuple(range(-len(axes), 0)))
            flat = moved.reshape(moved.shape[:moved.ndim - len(axes)] + (-1,))
            ones = xp.ones(flat.shape[:-1] + (1,), dtype=d.dtype)
            left = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
            right = xp.flip(xp.cumprod(xp.concatenate([ones, xp.flip(flat, -1)[..., :-1]], -1), -1), -1)
            others = (left * right).reshape(moved.shape)
            others = xp.moveaxis(others, tuple(range(-len(axes), 0)), axes)
            return (gk * _const(others),)
        return record(y, (x,), back, "prod")
    return wrap(y)


def _others_product(x, axes):
    """For each entry, the product of the other entries of its reduced group, as a
    recorded op (second derivatives of ``prod`` with zeros present): the group is laid
    out as rows of an (n, n) matrix with ones on the diagonal, then multiplied out."""
    from .shape import transpose, reshape, broadcast_to, expand_dims
    nd = x.data.ndim
    keep = [i for i in range(nd) if i not in axes]
    perm = keep + list(axes)
    xt = transpose(x, perm)
    kshape = tuple(x.data.shape[i] for i in keep)
    n = 1
    for a in axes:
        n *= x.data.shape[a]
    flat = reshape(xt, kshape + (n,))
    rep = broadcast_to(expand_dims(flat, -2), kshape + (n, n))
    eye = _const(xp_of(x).eye(n, dtype=bool))
    others = prod(where(eye, 1.0, rep), axis=-1)
    return transpose(reshape(others, xt.data.shape), tuple(np.argsort(perm)))


def _extreme(x, axis, keepdims, name):
    x = as_tensor(x)
    axes = normalize_axis(axis, x.data.ndim, name)
    if x.data.size == 0:
        raise ValueError(f"{name}: cannot reduce an empty tensor of shape {x.shape}")
    y = xp_of(x).asarray(getattr(x.data, name)(axis=axes, keepdims=keepdims))
    if GradMode.enabled and x.requires_grad:
        shape = x.data.shape

        def back(g, out):
            xx = out._parents[0]
            yk = out.data if keepdims else out.data.reshape(_kept_shape(shape, axes))
            mask = xx.data == yk
            count = mask.sum(axis=axes, keepdims=True)
            w = _const((mask / count).astype(xx.data.dtype))
            return (_expand_grad(g, shape, axes, keepdims) * w,)
        return record(y, (x,), back, name)
    return wrap(y)


@register("max", "amax")
def max(x, axis=None, keepdims=False):  # noqa: A001
    """Maximum over ``axis``.  Ties share the gradient equally (like ``torch.amax``)."""
    return _extreme(x, axis, keepdims, "max")


@register("min", "amin")
def min(x, axis=None, keepdims=False):  # noqa: A001
    """Minimum over ``axis``.  Ties share the gradient equally (like ``torch.amin``)."""
    return _extreme(x, axis, keepdims, "min")


@register()
def var(x, axis=None, keepdims=False, ddof=0):
    """Variance over ``axis`` (``ddof=0``: divide by n, as NumPy and Keras do)."""
    x = _float_in(x)
    axes = normalize_axis(axis, x.data.ndim, "var")
    n = 1
    for a in axes:
        n *= x.data.shape[a]
    centered = x - mean(x, axis=axes, keepdims=True)
    return sum(square(centered), axis=axes, keepdims=keepdims) / builtins.max(n - ddof, 0)


@register()
def std(x, axis=None, keepdims=False, ddof=0):
    """Standard deviation over ``axis``."""
    return sqrt(var(x, axis, keepdims, ddof))


@register()
def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002
    """Vector norm over ``axis`` (ord None/2: Euclidean, 1, inf).  The gradient of the
    Euclidean norm at 0 is 0, as in PyTorch."""
    x = _float_in(x)
    if ord in (1,):
        return sum(_abs(x), axis=axis, keepdims=keepdims)
    if ord in (np.inf, float("inf"), "inf"):
        return max(_abs(x), axis=axis, keepdims=keepdims)
    if ord not in (None, 2, "fro", "euclidean"):
        raise ValueError(f"norm: ord={ord!r} is not supported; use None/2, 1 or inf")
    axes = normalize_axis(axis, x.data.ndim, "norm")
    xp = xp_of(x)
    y = xp.asarray(xp.sqrt((x.data * x.data).sum(axis=axes, keepdims=keepdims)))
    if GradMode.enabled and x.requires_grad:
        shape = x.data.shape

        def back(g, out):
            xx = out._parents[0]
            outk = _expand_grad(out, shape, axes, keepdims)
            safe = where(_const(outk.data > 0), outk, _const(xp.ones_like(outk.data)))
            return (_expand_grad(g, shape, axes, keepdims) * xx / safe,)
        return record(y, (x,), back, "norm")
    return wrap(y)


@register()
def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis``, computed after subtracting the max (no overflow)."""
    x = _float_in(x)
    axes = normalize_axis(axis, x.data.ndim, "logsumexp")
    xp = xp_of(x)
    d = x.data
    m = d.max(axis=axes, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    yk = xp.log(xp.exp(d - m).sum(axis=axes, keepdims=True)) + m
    y = yk if keepdims else yk.reshape([s for i, s in enumerate(d.shape) if i not in axes])
    if GradMode.enabled and x.requires_grad:
        shape = d.shape

        def back(g, out):
            xx = out._parents[0]
            outk = _expand_grad(out, shape, axes, keepdims)
            return (_expand_grad(g, shape, axes, keepdims) * exp(xx - outk),)
        return record(y, (x,), back, "logsumexp")
    return wrap(y)


def _untracked(x, method, axis, keepdims):
    """The array method ``method`` (argmax, all, ...) of ``x`` over ``axis``, as a tensor
    with no gradient."""
    x = as_tensor(x)
    return wrap(xp_of(x).asarray(getattr(x.data, method)(axis=axis, keepdims=keepdims)))


@register()
def argmax(x, axis=None, keepdims=False):
    """Index of the maximum along ``axis`` (flattened when None); no gradient."""
    return _untracked(x, "argmax", axis, keepdims)


@register()
def argmin(x, axis=None, keepdims=False):
    """Index of the minimum along ``axis`` (flattened when None); no gradient."""
    return _untracked(x, "argmin", axis, keepdims)


@register("all")
def all(x, axis=None, keepdims=False):  # noqa: A001
    """True where every entry along ``axis`` is nonzero."""
    return _untracked(x, "all", axis, keepdims)


@register("any")
def any(x, axis=None, keepdims=False):  # noqa: A001
    """True where some entry along ``axis`` is nonzero."""
    return _untracked(x, "any", axis, keepdims)


@register()
def cumsum(x, axis=0):
    """Running sum along ``axis``."""
    x = as_tensor(x)
    xp = xp_of(x)
    ax = normalize_axis(axis, x.data.ndim, "cumsum")[0]
    y = xp.cumsum(x.data, axis=ax)
    if GradMode.enabled and x.requires_grad:
        from .shape import flip
        return record(y, (x,), lambda g, out: (flip(cumsum(flip(g, ax), ax), ax),), "cumsum")
    return wrap(y)


def _cumprod_back(ax):
    def back(g, out):
        (x,) = out._parents
        xd = x.data
        xp = xp_of(x)
        if not GradMode.enabled and bool(xp.all(xd != 0)):
            # first order, no zeros: the reversed running sum of g * y, divided by x
            r = xp.flip(xp.cumsum(xp.flip(g.data * out.data, ax), axis=ax), ax)
            return (wrap(r / xd),)
        from .elementwise import where
        from .shape import moveaxis, expand_dims
        n = xd.shape[ax]
        xm = moveaxis(x, ax, -1)                          # (..., n)
        gm = moveaxis(g, ax, -1)
        # row i of M is x with entry i replaced by 1; its running product along j is
        # prod_{k <= j, k != i} x_k, the partial derivative of y_j by x_i
        eye = wrap(xp.eye(n, dtype=bool))
        rows = cumprod(where(eye, wrap(xp.ones((), xd.dtype)), expand_dims(xm, -2)), axis=-1)
        upper = wrap(xp.triu(xp.ones((n, n), xd.dtype)))  # j >= i
        gi = sum(rows * upper * expand_dims(gm, -2), axis=-1)
        return (moveaxis(gi, -1, ax),)
    return back


@register()
def cumprod(x, axis=0):
    """Running product along ``axis`` (same shape as ``x``); exact gradients with zeros."""
    x = as_tensor(x)
    xp = xp_of(x)
    ax = normalize_axis(axis, x.data.ndim, "cumprod")[0]
    y = xp.cumprod(x.data, axis=ax)
    if GradMode.enabled and x.requires_grad:
        return record(y, (x,), _cumprod_back(ax), "cumprod")
    return wrap(y)


__all__ = ["sum", "mean", "prod", "max", "min", "var", "std", "norm", "logsumexp", "argmax",
           "argmin", "all", "any", "cumsum", "cumprod", "Tensor"]
