"""Shape ops: reshape, transpose, squeeze/expand, broadcast, concatenate/stack/split,
tile/repeat, pad, flip, roll.  Their gradients move data back without arithmetic."""
from __future__ import annotations

import numpy as np

from .base import (GradMode, Tensor, as_tensor, needs_grad, normalize_axis,
                   on_one_device, record, register, unbroadcast, unbroadcast_array, wrap, xp_of)


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


@register()
def reshape(x, *shape):
    """``x`` with a new shape of the same size (one entry may be -1)."""
    x = as_tensor(x)
    shape = _shape_arg(shape)
    try:
        y = x.data.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                         f"(size {x.size}) into shape {shape}") from None
    if GradMode.enabled and x.requires_grad:
        src = x.data.shape
        return record(y, (x,), lambda g, out: (reshape(g, src) if GradMode.enabled
                                               else wrap(g.data.reshape(src)),), "reshape")
    return wrap(y)


@register()
def flatten(x, start_axis=0, end_axis=-1):
    """Merge axes ``start_axis..end_axis`` into one (all axes by default)."""
    x = as_tensor(x)
    nd = x.data.ndim
    if nd == 0:
        return reshape(x, (1,))
    s, e = start_axis % nd, end_axis % nd
    shp = x.data.shape
    return reshape(x, shp[:s] + (-1,) + shp[e + 1:])


@register("transpose", "permute")
def transpose(x, axes=None, *more):
    """Permute axes (reverse them when ``axes`` is None)."""
    x = as_tensor(x)
    if more:
        axes = (axes,) + more
    nd = x.data.ndim
    if axes is None:
        axes = tuple(range(nd - 1, -1, -1))
    else:
        axes = tuple(int(a) % nd if nd else 0 for a in axes)
        if sorted(axes) != list(range(nd)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of {nd} axes "
                             f"(shape {x.shape})")
    y = x.data.transpose(axes)
    if GradMode.enabled and x.requires_grad:
        inv = tuple(np.argsort(axes))
        return record(y, (x,), lambda g, out: (transpose(g, inv) if GradMode.enabled
                                               else wrap(g.data.transpose(inv)),), "transpose")
    return wrap(y)


permute = transpose


@register()
def swapaxes(x, axis1, axis2):
    """Exchange two axes."""
    x = as_tensor(x)
    nd = x.data.ndim
    perm = list(range(nd))
    a, b = axis1 % nd, axis2 % nd
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, perm)


@register()
def moveaxis(x, source, destination):
    """Move axis ``source`` to position ``destination``."""
    x = as_tensor(x)
    nd = x.data.ndim
    perm = [i for i in range(nd) if i != source % nd]
    perm.insert(destination % nd, source % nd)
    return transpose(x, perm)


@register()
def squeeze(x, axis=None):
    """Remove axes of size 1 (all of them, or those in ``axis``)."""
    x = as_tensor(x)
    if axis is None:
        axes = tuple(i for i, s in enumerate(x.data.shape) if s == 1)
    else:
        axes = normalize_axis(axis, x.data.ndim, "squeeze")
        for a in axes:
            if x.data.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} has size {x.data.shape[a]}, not 1 "
                                 f"(shape {x.shape})")
    return reshape(x, tuple(s for i, s in enumerate(x.data.shape) if i not in axes))


@register("expand_dims", "unsqueeze")
def expand_dims(x, axis):
    """Insert axes of size 1 at ``axis`` (an int or a tuple)."""
    x = as_tensor(x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    nd = x.data.ndim + len(axes)
    axes = sorted(a % nd for a in axes)
    shape = list(x.data.shape)
    for a in axes:
        shape.insert(a, 1)
    return reshape(x, tuple(shape))


unsqueeze = expand_dims


@register()
def broadcast_to(x, shape):
    """``x`` broadcast to ``shape`` (a read-only view); the gradient is summed back."""
    x = as_tensor(x)
    shape = tuple(shape)
    if x.data.shape == shape:
        return x
    try:
        y = xp_of(x).broadcast_to(x.data, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: shape {x.shape} cannot be broadcast to {shape}") from None
    if GradMode.enabled and x.requires_grad:
        src = x.data.shape
        return record(y, (x,), lambda g, out: (unbroadcast(g, src) if GradMode.enabled
                                               else wrap(unbroadcast_array(g.data, src)),),
                      "broadcast_to")
    return wrap(y)


def _tensors(seq, op):
    """The entries of ``seq`` as tensors of one dtype on one device (raw data follows the
    first tensor's device; tensors on two devices raise)."""
    ts = on_one_device(seq, op, "tensor")
    if not ts:
        raise ValueError(f"{op}: needs at least one tensor")
    fdt = ts[0].data.dtype
    mixed = any(t.data.dtype != fdt for t in ts)
    if mixed:
        dt = np.result_type(*[u.data.dtype for u in ts])
        from .elementwise import cast
        ts = [cast(u, dt) for u in ts]
    return ts


def _split_back(sizes, axis):
    def back(g, out):
        pieces, start = [], 0
        for n in sizes:
            idx = (slice(None),) * axis + (slice(start, start + n),)
            pieces.append(g[idx])
            start += n
        return tuple(pieces)
    return back


@register("concatenate", "concat")
def concatenate(tensors, axis=0):
    """Join tensors along an existing axis."""
    ts = _tensors(tensors, "concatenate")
    nd = ts[0].data.ndim
    if nd == 0:
        raise ValueError("concatenate: zero-dimensional tensors cannot be concatenated")
    ax = axis % nd
    for i, t in enumerate(ts):
        if t.data.ndim != nd or any(s != r for j, (s, r) in enumerate(zip(t.data.shape, ts[0].data.shape))
                                    if j != ax):
            raise ValueError(f"concatenate: tensor {i} has shape {t.shape}, incompatible with "
                             f"{ts[0].shape} along axis {axis}")
    y = xp_of(ts[0]).concatenate([t.data for t in ts], axis=ax)
    if needs_grad(*ts):
        return record(y, tuple(ts), _split_back([t.data.shape[ax] for t in ts], ax), "concatenate")
    return wrap(y)


concat = concatenate


@register()
def stack(tensors, axis=0):
    """Join same-shaped tensors along a new axis."""
    ts = _tensors(tensors, "stack")
    shp = ts[0].data.shape
    for i, t in enumerate(ts):
        if t.data.shape != shp:
            raise ValueError(f"stack: tensor {i} has shape {t.shape}, expected {shp}")
    ax = axis % (len(shp) + 1)
    return concatenate([expand_dims(t, ax) for t in ts], axis=ax)


@register()
def split(x, indices_or_sections, axis=0):
    """Split into a list of tensors: equal sections (an int) or at the given indices."""
    x = as_tensor(x)
    ax = axis % x.data.ndim
    n = x.data.shape[ax]
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        if k <= 0 or n % k:
            raise ValueError(f"split: axis {axis} of size {n} cannot be split into {k} equal parts")
        bounds = list(range(0, n + 1, n // k))
    else:
        bounds = [0] + [int(i) for i in indices_or_sections] + [n]
    pre = (slice(None),) * ax
    return [x[pre + (slice(a, b),)] for a, b in zip(bounds[:-1], bounds[1:])]


@register()
def tile(x, reps):
    """Repeat the whole tensor ``reps`` times along each axis."""
    x = as_tensor(x)
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    nd = max(x.data.ndim, len(reps))
    reps = (1,) * (nd - len(reps)) + reps
    src = (1,) * (nd - x.data.ndim) + x.data.shape
    y = xp_of(x).tile(x.data.reshape(src), reps)
    if GradMode.enabled and x.requires_grad:
        orig = x.data.shape

        def back(g, out):
            inter = []
            for r, s in zip(reps, src):
                inter += [r, s]
            gr = reshape(g, tuple(inter))
            from .reduction import sum as _sum
            return (reshape(_sum(gr, axis=tuple(range(0, 2 * nd, 2))), orig),)
        return record(y, (x,), back, "tile")
    return wrap(y)


@register()
def repeat(x, repeats, axis=None):
    """Repeat each element ``repeats`` times along ``axis`` (flattened when None)."""
    x = as_tensor(x)
    if not isinstance(repeats, (int, np.integer)):
        raise TypeError("repeat: only an integer number of repeats is supported")
    if axis is None:
        x = reshape(x, (-1,))
        axis = 0
    ax = axis % x.data.ndim
    y = xp_of(x).repeat(x.data, repeats, axis=ax)
    if GradMode.enabled and x.requires_grad:
        shp = x.data.shape

        def back(g, out):
            from .reduction import sum as _sum
            gr = reshape(g, shp[:ax] + (shp[ax], int(repeats)) + shp[ax + 1:])
            return (_sum(gr, axis=ax + 1),)
        return record(y, (x,), back, "repeat")
    return wrap(y)


@register()
def pad(x, pad_width, mode="constant", constant_values=0):
    """Pad with a constant; ``pad_width`` as in NumPy ((before, after) per axis)."""
    x = as_tensor(x)
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got {mode!r}")
    nd = x.data.ndim
    pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (nd, 2)) if nd else ()
    pw = tuple((int(a), int(b)) for a, b in pw)
    y = xp_of(x).pad(x.data, pw, mode="constant", constant_values=constant_values)
    if GradMode.enabled and x.requires_grad:
        idx = tuple(slice(a, a + s) for (a, _), s in zip(pw, x.data.shape))
        return record(y, (x,), lambda g, out: (g[idx],), "pad")
    return wrap(y)


@register()
def flip(x, axis=None):
    """Reverse the order of entries along ``axis`` (all axes when None)."""
    x = as_tensor(x)
    axes = normalize_axis(axis, x.data.ndim, "flip")
    y = xp_of(x).flip(x.data, axis=axes)
    if GradMode.enabled and x.requires_grad:
        return record(y, (x,), lambda g, out: (flip(g, axes),), "flip")
    return wrap(y)


@register()
def roll(x, shift, axis=None):
    """Shift entries cyclically along ``axis`` (the flattened tensor when None)."""
    x = as_tensor(x)
    y = xp_of(x).roll(x.data, shift, axis=axis)
    if GradMode.enabled and x.requires_grad:
        neg = tuple(-s for s in shift) if isinstance(shift, (tuple, list)) else -shift
        return record(y, (x,), lambda g, out: (roll(g, neg, axis),), "roll")
    return wrap(y)


__all__ = ["reshape", "flatten", "transpose", "permute", "swapaxes", "moveaxis", "squeeze",
           "expand_dims", "unsqueeze", "broadcast_to", "concatenate", "concat", "stack", "split",
           "tile", "repeat", "pad", "flip", "roll", "Tensor"]
