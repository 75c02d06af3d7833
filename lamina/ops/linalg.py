"""Linear algebra: matmul (batched, with NumPy's vector cases), dot, outer, einsum."""
from __future__ import annotations

import string

import numpy as np

from .base import (GradMode, Tensor, as_tensor, as_tensor_on, binary_operands, needs_grad,
                   on_one_device, record, register, unbroadcast, unbroadcast_array, wrap, xp_of)
from .blas import matmul as gemm
from .elementwise import negative


def _matmul_back(g, out):
    a, b = out._parents
    if not GradMode.enabled:
        gd, ad, bd = g.data, a.data, b.data
        if gd.ndim == 2 and ad.ndim == 2 and bd.ndim == 2:
            return (wrap(gemm(gd, bd.T)) if a.requires_grad else None,
                    wrap(gemm(ad.T, gd)) if b.requires_grad else None)
        return (wrap(unbroadcast_array(gd @ bd.swapaxes(-1, -2), ad.shape)) if a.requires_grad
                else None,
                wrap(unbroadcast_array(ad.swapaxes(-1, -2) @ gd, bd.shape)) if b.requires_grad
                else None)
    from .shape import swapaxes
    ga = unbroadcast(matmul(g, swapaxes(b, -1, -2)), a.data.shape) if a.requires_grad else None
    gb = unbroadcast(matmul(swapaxes(a, -1, -2), g), b.data.shape) if b.requires_grad else None
    return ga, gb


@register()
def matmul(a, b):
    """Matrix product with NumPy's rules: (..., n, k) @ (..., k, m) -> (..., n, m), batch axes
    broadcast; a 1-D operand is a vector (its axis is added, then removed)."""
    a, b = binary_operands(a, b, "matmul")
    da, db = a.data, b.data
    if da.ndim == 0 or db.ndim == 0:
        raise ValueError(f"matmul: operands must have at least one dimension, got shapes "
                         f"{a.shape} and {b.shape}; use multiply for scalars")
    ka = da.shape[-1]
    kb = db.shape[-2] if db.ndim >= 2 else db.shape[0]
    if ka != kb:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied: "
                         f"{ka} != {kb}")
    if da.ndim == 1 or db.ndim == 1:
        from .shape import reshape
        a2 = reshape(a, (1, ka)) if da.ndim == 1 else a
        b2 = reshape(b, (kb, 1)) if db.ndim == 1 else b
        y = matmul(a2, b2)
        shp = y.data.shape
        if da.ndim == 1:
            shp = shp[:-2] + shp[-1:]
        if db.ndim == 1:
            shp = shp[:-1]
        return reshape(y, shp)
    try:
        y = gemm(da, db) if da.ndim == 2 and db.ndim == 2 else da @ db
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of {a.shape} and {b.shape} do not "
                         "broadcast") from None
    if GradMode.enabled and (a.requires_grad or b.requires_grad):
        return record(y, (a, b), _matmul_back, "matmul")
    return wrap(y)


@register()
def dot(a, b):
    """NumPy's dot: inner product of vectors, matrix product of matrices; for N-D it
    contracts the last axis of ``a`` with the second-to-last of ``b``."""
    a, b = binary_operands(a, b, "dot")
    if a.data.ndim == 0 or b.data.ndim == 0:
        return a * b
    if a.data.ndim <= 2 and b.data.ndim <= 2:
        return matmul(a, b)
    if b.data.ndim == 1:
        return matmul(a, b)
    # N-D: contract the last axis of a with the second-to-last of b, as np.dot does
    na, nb = a.data.ndim, b.data.ndim
    la = string.ascii_letters[:na]
    lb = list(string.ascii_letters[na:na + nb])
    lb[-2] = la[-1]
    out = la[:-1] + "".join(lb[:-2]) + lb[-1]
    return einsum(f"{la},{''.join(lb)}->{out}", a, b)


@register()
def outer(a, b):
    """Outer product of two vectors (inputs are flattened): shape (a.size, b.size)."""
    from .shape import reshape
    a, b = binary_operands(a, b, "outer")
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def _expand_ellipsis(subs, operands):
    """Replace '...' by explicit letters so every operand's axes are named."""
    if "->" in subs:
        lhs, rhs = subs.split("->")
    else:
        lhs, rhs = subs, None
    ins = lhs.split(",")
    if len(ins) != len(operands):
        raise ValueError(f"einsum: {len(ins)} operand subscripts for {len(operands)} operands")
    used = set(subs) - set(".,->")
    free = [c for c in string.ascii_letters if c not in used]
    max_ell = 0
    for s, op in zip(ins, operands):
        if "..." in s:
            max_ell = max(max_ell, op.data.ndim - (len(s) - 3))
    ell = "".join(free[:max_ell])
    new_ins = []
    for s, op in zip(ins, operands):
        if "..." in s:
            n = op.data.ndim - (len(s) - 3)
            s = s.replace("...", ell[max_ell - n:])
        if len(s) != op.data.ndim:
            raise ValueError(f"einsum: subscripts '{s}' name {len(s)} axes, but the operand has "
                             f"shape {op.shape}")
        new_ins.append(s)
    if rhs is None:
        counts = {}
        for s in new_ins:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        rhs = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    else:
        rhs = rhs.replace("...", ell)
    return new_ins, rhs


@register()
def einsum(subscripts, *operands):
    """Einstein summation over named axes (``'bij,bjk->bik'``), with '...' allowed.
    Each operand's subscripts must name distinct axes (no diagonals)."""
    ops = on_one_device(operands, "einsum", "operand")
    if len({o.data.dtype for o in ops}) > 1:
        from .elementwise import cast
        dt = np.result_type(*[o.data.dtype for o in ops])
        ops = [cast(o, dt) for o in ops]
    ins, out_s = _expand_ellipsis(subscripts.replace(" ", ""), ops)
    for s in ins:
        if len(set(s)) != len(s):
            raise ValueError(f"einsum: repeated index in '{s}' (diagonals) is not supported")
    sizes = {}
    for s, o in zip(ins, ops):
        for c, n in zip(s, o.data.shape):
            if sizes.setdefault(c, n) != n and n != 1 and sizes[c] != 1:
                raise ValueError(f"einsum: index '{c}' has size {sizes[c]} in one operand and "
                                 f"{n} in another ({subscripts}, shapes "
                                 f"{[tuple(o.shape) for o in ops]})")
    spec = ",".join(ins) + "->" + out_s
    xp = xp_of(ops[0])
    y = xp.einsum(spec, *[o.data for o in ops], optimize=len(ops) > 2)
    y = xp.asarray(y)
    if needs_grad(*ops):
        def back(g, out):
            grads = []
            for i, (s, o) in enumerate(zip(ins, out._parents)):
                if not o.requires_grad:
                    grads.append(None)
                    continue
                others = [(ins[j], out._parents[j]) for j in range(len(ins)) if j != i]
                avail = set(out_s) | {c for sj, _ in others for c in sj}
                target = "".join(c for c in s if c in avail)
                gi = einsum(",".join([out_s] + [sj for sj, _ in others]) + "->" + target,
                            g, *[oj for _, oj in others])
                if target != s:   # axes summed only within this operand: broadcast back
                    from .shape import reshape, broadcast_to
                    shp = tuple(o.data.shape[k] if c in target else 1 for k, c in enumerate(s))
                    gi = broadcast_to(reshape(gi, shp), o.data.shape)
                elif gi.data.shape != o.data.shape:
                    gi = unbroadcast(gi, o.data.shape)
                grads.append(gi)
            return tuple(grads)
        return record(y, tuple(ops), back, "einsum")
    return wrap(y)


# ------------------------------------------------- square-matrix functions (batched)
def _square(op, x):
    x = as_tensor(x)
    if x.data.dtype.kind not in "fc":
        from .elementwise import _float_in
        x = _float_in(x)
    shp = x.data.shape
    if len(shp) < 2 or shp[-1] != shp[-2]:
        raise ValueError(f"{op}: expected a square matrix or a stack of them, shape "
                         f"(..., M, M); got shape {tuple(shp)}")
    return x


def _mT(t):
    from .shape import swapaxes
    return swapaxes(t, -1, -2)


@register()
def inv(x):
    """Inverse of the square matrices ``x`` (..., M, M) -> (..., M, M)."""
    x = _square("inv", x)
    y = xp_of(x).linalg.inv(x.data)
    if needs_grad(x):
        return record(y, (x,), lambda g, out: (negative(matmul(_mT(out), matmul(g, _mT(out)))),),
                      "inv")
    return wrap(y)


@register()
def det(x):
    """Determinants of the square matrices ``x`` (..., M, M) -> (...)."""
    x = _square("det", x)
    y = xp_of(x).linalg.det(x.data)
    if needs_grad(x):
        def back(g, out):
            from .shape import expand_dims
            (a,) = out._parents
            scale = expand_dims(expand_dims(g * out, -1), -1)
            return (scale * _mT(inv(a)),)
        return record(y, (x,), back, "det")
    return wrap(y)


def _solve_back(vector):
    def back(g, out):
        from .shape import expand_dims, squeeze
        a, b = out._parents
        gb = solve(_mT(a), g)
        ga = None
        if a.requires_grad:
            if vector:
                ga = negative(expand_dims(gb, -1) * expand_dims(out, -2))
            else:
                ga = negative(matmul(gb, _mT(out)))
            ga = unbroadcast(ga, a.data.shape)
        return ga, (unbroadcast(gb, b.data.shape) if b.requires_grad else None)
    return back


@register()
def solve(a, b):
    """x with a @ x = b: ``a`` (..., M, M), ``b`` (..., M, K), or (M,) for one vector."""
    a = _square("solve", a)
    b = as_tensor_on(b, a)
    if b.data.dtype != a.data.dtype:
        from .elementwise import cast
        b = cast(b, a.data.dtype)
    m = a.data.shape[-1]
    vector = b.data.ndim == 1
    if b.data.shape[-1 if vector else -2] != m:
        raise ValueError(f"solve: a has shape {tuple(a.data.shape)} and b {tuple(b.data.shape)}; "
                         f"expected b of shape (..., {m}, K) or ({m},)")
    xp = xp_of(a)
    if vector:
        y = xp.linalg.solve(a.data, b.data[..., None])[..., 0]
    else:
        y = xp.linalg.solve(a.data, b.data)
    if needs_grad(a, b):
        return record(y, (a, b), _solve_back(vector), "solve")
    return wrap(y)


def _cholesky_back(g, out):
    L = out
    xp = xp_of(L)
    n = L.data.shape[-1]
    low = wrap(xp.tril(xp.ones((n, n), dtype=L.data.dtype)))
    strict = wrap(xp.tril(xp.ones((n, n), dtype=L.data.dtype), -1))
    p = matmul(_mT(L), g * low) * low               # tril(L^T tril(gL))
    p = (p + _mT(p * strict)) * 0.5                # symmetric, diagonal halved once
    li = inv(L)
    return (matmul(_mT(li), matmul(p, li)),)


@register()
def cholesky(x):
    """Lower Cholesky factor L (L @ L^T = x) of symmetric positive-definite ``x``
    (..., M, M) -> (..., M, M); only the lower triangle of ``x`` is read."""
    x = _square("cholesky", x)
    try:
        y = xp_of(x).linalg.cholesky(x.data)
    except np.linalg.LinAlgError as e:
        raise ValueError(f"cholesky: the matrix of shape {tuple(x.data.shape)} is not "
                         f"positive definite ({e})") from None
    if needs_grad(x):
        def back(g, out):
            (ga,) = _cholesky_back(g, out)
            # only the lower triangle was read: fold the symmetric gradient onto it
            xp = xp_of(out)
            n = out.data.shape[-1]
            return (ga * wrap(xp.tril(2 * xp.ones((n, n), out.data.dtype)) -
                              xp.eye(n, dtype=out.data.dtype)),)
        return record(y, (x,), back, "cholesky")
    return wrap(y)


__all__ = ["matmul", "dot", "outer", "einsum", "inv", "det", "solve", "cholesky", "Tensor"]
