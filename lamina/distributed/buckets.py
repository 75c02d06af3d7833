"""Gradient all-reduce in a few large flat buckets, and broadcasting weights.

Packing every gradient of one dtype into flat buffers of about ``bucket_mb`` megabytes
(25 by default, as PyTorch's DDP) means a model of a hundred small layers costs a couple of
messages per step instead of a hundred, so latency is paid per bucket, not per layer.

Each bucket carries, after the gradients, one "present" flag per gradient (so a gradient
that is None on every rank stays None, and one missing on some ranks counts as zero there)
and this rank's ``weight`` (its local batch size): the result is the weighted mean
``sum_r w_r g_r / sum_r w_r``, which equals the gradient of the mean loss over the whole
global batch even when the ranks' batches differ in size.
"""
from __future__ import annotations

import zlib

import numpy as np

from . import world
from .collectives import from_host, to_host

__all__ = ["reduce_gradients", "all_reduce_gradients", "broadcast_variables",
           "DEFAULT_BUCKET_MB"]

DEFAULT_BUCKET_MB = 25.0

_WIDE = {np.dtype(np.float16): np.dtype(np.float32)}
_checked_layouts = set()


def _raw(g):
    return getattr(g, "data", g) if g is not None and not isinstance(g, np.ndarray) else g


def _xp(a):
    from ..backend import get_xp
    return get_xp(a)


def _check_layout(shapes, dtypes, who):
    """Verify once per layout that every rank reduces the same list of shapes and dtypes:
    a mismatch would otherwise mix unrelated numbers or hang."""
    key = (who, tuple(shapes), tuple(str(d) for d in dtypes))
    if key in _checked_layouts or world.world_size() == 1:
        return
    sig = np.array([len(shapes), sum(int(np.prod(s)) for s in shapes),
                    zlib.crc32(repr(key[1:]).encode())], np.int64)
    lo, hi = sig.copy(), sig.copy()
    world.allreduce_(lo, "min")
    world.allreduce_(hi, "max")
    if not (np.array_equal(lo, sig) and np.array_equal(hi, sig)):
        raise ValueError(f"{who}: the ranks disagree on the tensors to reduce (this rank "
                         f"{world.rank()} has {len(shapes)} tensors with {int(sig[1])} "
                         f"elements; across ranks the counts range over {lo[0]}..{hi[0]} and "
                         f"the sizes over {lo[1]}..{hi[1]}): every rank must pass the same "
                         "variables in the same order")
    _checked_layouts.add(key)


def _plan(shapes, dtypes, bucket_bytes):
    """Buckets as lists of slot indices: slots of one dtype, in order, each bucket up to
    ``bucket_bytes`` (a larger tensor gets a bucket of its own)."""
    buckets, open_ = [], {}
    for i, (s, d) in enumerate(zip(shapes, dtypes)):
        nbytes = int(np.prod(s)) * d.itemsize
        cur = open_.get(d)
        if cur is None or (cur[1] + nbytes > bucket_bytes and cur[0]):
            cur = [[], 0]
            open_[d] = cur
            buckets.append((d, cur[0]))
        cur[0].append(i)
        cur[1] += nbytes
    return buckets


def reduce_gradients(grads, variables=None, average=True, weight=None,
                     bucket_mb=DEFAULT_BUCKET_MB):
    """Gradients summed (or averaged) over all ranks, bucketed: a list aligned with
    ``grads`` (Tensors, arrays or None) of new Tensors, None where no rank had a gradient.

    ``variables`` (aligned with ``grads``) give the shape and dtype of a gradient that is
    None on this rank.  With ``average`` the result is ``sum_r w_r g_r / sum_r w_r`` where
    ``w_r`` is this rank's ``weight`` (e.g. its local batch size; 1 when None), i.e. the
    plain mean over ranks when all weights are equal.  In a world of one the gradients
    are returned unchanged."""
    from ..ops.base import wrap
    grads = list(grads)
    if world.world_size() == 1:
        return grads
    if variables is not None and len(variables) != len(grads):
        raise ValueError(f"reduce_gradients: got {len(grads)} gradients for "
                         f"{len(variables)} variables")
    raws = [_raw(g) for g in grads]
    shapes, dtypes, like = [], [], None
    for i, g in enumerate(raws):
        ref = g if g is not None else (_raw(variables[i]) if variables is not None else None)
        if ref is None:
            raise ValueError(f"reduce_gradients: gradient {i} is None; pass `variables` so "
                             "its shape and dtype are known on every rank")
        like = like if like is not None else ref
        shapes.append(tuple(ref.shape))
        d = np.dtype(ref.dtype)
        dtypes.append(_WIDE.get(d, d))
    _check_layout(shapes, dtypes, "reduce_gradients")
    w = 1.0 if weight is None else float(weight)
    if not w >= 0:
        raise ValueError(f"reduce_gradients: weight must be >= 0, got {weight!r}")
    out = [None] * len(grads)
    xp = _xp(like)
    for d, slots in _plan(shapes, dtypes, int(bucket_mb * 2 ** 20)):
        sizes = [int(np.prod(shapes[i])) for i in slots]
        n = sum(sizes)
        buf = xp.empty(n + len(slots) + 1, dtype=d)
        tw = d.type(w)
        off = 0
        for j, (i, k) in enumerate(zip(slots, sizes)):
            g = raws[i]
            dst = buf[off:off + k]
            if g is None:
                dst[...] = 0
                buf[n + j] = 0
            else:
                src = g.reshape(-1)
                if weight is None or not average:
                    dst[...] = src
                else:
                    xp.multiply(src, tw, out=dst, casting="unsafe")
                buf[n + j] = 1
            off += k
        buf[-1] = w
        h, _ = to_host(buf)
        world.allreduce_(h, "sum")
        buf = from_host(h, buf, d)
        if average:
            scale = float(buf[-1]) if weight is not None else float(world.world_size())
            if scale == 0:
                raise ValueError("reduce_gradients: the weights of all ranks sum to 0")
            buf[:n] *= d.type(1.0 / scale)
        flags = buf[n:n + len(slots)]
        flags = flags.get() if hasattr(flags, "get") else flags
        off = 0
        for j, (i, k) in enumerate(zip(slots, sizes)):
            if flags[j] > 0:
                v = buf[off:off + k].reshape(shapes[i])
                src_dt = raws[i].dtype if raws[i] is not None else _raw(variables[i]).dtype
                out[i] = wrap(v if v.dtype == src_dt else v.astype(src_dt))
            off += k
    return out


def all_reduce_gradients(variables, average=True, weight=None, bucket_mb=DEFAULT_BUCKET_MB):
    """For a custom training loop: replace each variable's ``.grad`` (after
    ``loss.backward()``) by its mean (or sum) over all ranks, in bucketed messages;
    returns the list of new gradients.  See :func:`reduce_gradients` for ``weight``."""
    variables = list(variables)
    grads = reduce_gradients([v.grad for v in variables], variables, average, weight,
                             bucket_mb)
    for v, g in zip(variables, grads):
        v.grad = g
    return grads


def broadcast_variables(variables, root=0):
    """Overwrite every variable (Tensor) in place with rank ``root``'s value, one message
    per dtype; every rank must pass the same variables in the same order."""
    variables = list(variables)
    if world.world_size() == 1 or not variables:
        return variables
    raws = [v.data for v in variables]
    shapes = [tuple(a.shape) for a in raws]
    dtypes = [np.dtype(a.dtype) for a in raws]
    _check_layout(shapes, dtypes, "broadcast_variables")
    for d in dict.fromkeys(dtypes):
        idx = [i for i, dt in enumerate(dtypes) if dt == d]
        hs = [to_host(raws[i])[0].reshape(-1) for i in idx]
        flat = np.ascontiguousarray(np.concatenate(hs)) if hs else np.empty(0, d)
        world.bcast_(flat, root)
        off = 0
        for i, h in zip(idx, hs):
            k = h.size
            val = from_host(flat[off:off + k].reshape(shapes[i]), raws[i], d)
            _xp(raws[i]).copyto(raws[i], val, casting="unsafe")
            variables[i]._version += 1
            off += k
    return variables
