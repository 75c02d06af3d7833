"""Reductions over axes: sum, mean, prod, max/min, var/std, norm, logsumexp, ...

``axis`` is None (all axes), an int or a tuple; ``keepdims`` keeps reduced axes
as size 1.  Backward functions broadcast the incoming gradient back over the
reduced axes with lamina ops, so second derivatives work.
"""
from __future__ import annotations

import builtins

import numpy as np

from .base import (Tensor, as_tensor, needs_grad, normalize_axis, record, register, wrap, xp_of)
from .elementwise import _float_in, _const, exp, log, sqrt, square, where, abs as _abs


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _expand_grad(g, shape, axes, keepdims):
    """Gradient of a reduction broadcast back to the input ``shape``."""
    from .shape import broadcast_to, reshape
    if not keepdims:
        g = reshape(g, _kept_shape(shape, axes))
    return broadcast_to(g, shape)


@register()
def sum(x, axis=None, keepdims=False, dtype=None):  # noqa: A001
    """Sum over ``axis``."""
    x = as_tensor(x)
    axes = normalize_axis(axis, x.data.ndim, "sum")
    y = xp_of(x).asarray(x.data.sum(axis=axes, keepdims=keepdims, dtype=dtype))
    if x.data.dtype.kind == "b" and dtype is None:
        y = y.astype(np.int64)
    if needs_grad(x):
        shape = x.data.shape
        return record(y, (x,), lambda g, out: (_expand_grad(g, shape, axes, keepdims),), "sum")
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
    if needs_grad(x):
        shape = x.data.shape
        return record(y, (x,), lambda g, out: (_expand_grad(g / n, shape, axes, keepdims),), "mean")
    return wrap(y)


@register()
def prod(x, axis=None, keepdims=False):
    """Product over ``axis``; exact gradients also where some entries are zero."""
    x = as_tensor(x)
    axes = normalize_axis(axis, x.data.ndim, "prod")
    y = xp_of(x).asarray(x.data.prod(axis=axes, keepdims=keepdims))
    if needs_grad(x):
        shape = x.data.shape

        def back(g, out):
            xx = out._parents[0]
            gk = _expand_grad(g, shape, axes, keepdims)
            xp = xp_of(xx)
            if not bool((xx.data == 0).any()):
                ok = _expand_grad(out, shape, axes, keepdims)
                return (gk * ok / xx,)
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


def _extreme(x, axis, keepdims, name):
    x = as_tensor(x)
    axes = normalize_axis(axis, x.data.ndim, name)
    if x.data.size == 0:
        raise ValueError(f"{name}: cannot reduce an empty tensor of shape {x.shape}")
    y = xp_of(x).asarray(getattr(x.data, name)(axis=axes, keepdims=keepdims))
    if needs_grad(x):
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
    if needs_grad(x):
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
    if needs_grad(x):
        shape = d.shape

        def back(g, out):
            xx = out._parents[0]
            outk = _expand_grad(out, shape, axes, keepdims)
            return (_expand_grad(g, shape, axes, keepdims) * exp(xx - outk),)
        return record(y, (x,), back, "logsumexp")
    return wrap(y)


@register()
def argmax(x, axis=None, keepdims=False):
    """Index of the maximum along ``axis`` (flattened when None); no gradient."""
    x = as_tensor(x)
    return wrap(xp_of(x).asarray(x.data.argmax(axis=axis, keepdims=keepdims)))


@register()
def argmin(x, axis=None, keepdims=False):
    """Index of the minimum along ``axis`` (flattened when None); no gradient."""
    x = as_tensor(x)
    return wrap(xp_of(x).asarray(x.data.argmin(axis=axis, keepdims=keepdims)))


@register("all")
def all(x, axis=None, keepdims=False):  # noqa: A001
    """True where every entry along ``axis`` is nonzero."""
    x = as_tensor(x)
    return wrap(xp_of(x).asarray(x.data.all(axis=axis, keepdims=keepdims)))


@register("any")
def any(x, axis=None, keepdims=False):  # noqa: A001
    """True where some entry along ``axis`` is nonzero."""
    x = as_tensor(x)
    return wrap(xp_of(x).asarray(x.data.any(axis=axis, keepdims=keepdims)))


@register()
def cumsum(x, axis=0):
    """Running sum along ``axis``."""
    x = as_tensor(x)
    xp = xp_of(x)
    ax = normalize_axis(axis, x.data.ndim, "cumsum")[0]
    y = xp.cumsum(x.data, axis=ax)
    if needs_grad(x):
        from .shape import flip
        return record(y, (x,), lambda g, out: (flip(cumsum(flip(g, ax), ax), ax),), "cumsum")
    return wrap(y)


__all__ = ["sum", "mean", "prod", "max", "min", "var", "std", "norm", "logsumexp", "argmax",
           "argmin", "all", "any", "cumsum", "Tensor"]
