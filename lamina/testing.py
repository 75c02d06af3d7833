"""Gradient checking: compare an op's backward pass with finite differences.

``gradcheck(f, inputs)`` projects the output on a random direction ``u`` (so
the check covers every output entry at once), then compares the analytic
gradient of ``sum(f(x) * u)`` with central differences in float64: entry by
entry for small inputs, and along random directions for all.  Failures name the
function, the input index and the worst entry.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .autograd import enable_grad, gradients, no_grad
from .tensor import Tensor, _wrap


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree."""


def _prepare_inputs(inputs):
    single = isinstance(inputs, (Tensor, np.ndarray)) or np.isscalar(inputs)
    items = [inputs] if single else list(inputs)
    out = []
    for x in items:
        if isinstance(x, Tensor):
            arr, dev = np.asarray(x.numpy()), x.device
        else:
            arr, dev = np.asarray(x), backend.default_device()
        if dev.type != "cpu":           # checked where the function runs (float64 there too)
            arr = backend.to_device(arr, dev)
        if arr.dtype.kind == "f":
            t = _wrap(arr.astype(np.float64)).requires_grad_(True)
        else:
            t = _wrap(arr)
        out.append(t)
    return out


def _outputs(res):
    if isinstance(res, Tensor):
        return [res]
    if isinstance(res, (tuple, list)):
        return [r for r in res if isinstance(r, Tensor)]
    raise TypeError(f"gradcheck: the function must return a Tensor or a tuple of Tensors, got "
                    f"{type(res).__name__}")


def _projected(f, xs, us):
    outs = _outputs(f(*xs))
    total = None
    for o, u in zip(outs, us):
        if o.data.dtype.kind != "f":
            continue
        term = (o * _wrap(backend.to_device(u, o.device))).sum()
        total = term if total is None else total + term
    return total


def gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, n_directions=4, max_full=128,
              seed=0, name=None, raise_exception=True):
    """Check the gradients of ``f`` at ``inputs`` against central finite differences.

    ``inputs``: a tensor/array or a list of them; float ones are checked (in float64).
    Each float input with at most ``max_full`` entries is checked entry by entry, and
    every one along ``n_directions`` random unit directions.  Returns True, or raises
    :class:`GradcheckError` (returns False when ``raise_exception=False``).
    """
    label = name or getattr(f, "__name__", "function")
    xs = _prepare_inputs(inputs)
    rng = np.random.default_rng(seed)
    with no_grad():
        outs = _outputs(f(*xs))
    us = [rng.standard_normal(o.shape) for o in outs]
    s = _projected(f, xs, us)
    if s is None:
        raise GradcheckError(f"gradcheck of {label}: no float output to differentiate")
    diff_idx = [i for i, x in enumerate(xs) if x.requires_grad]
    analytic = gradients(s, [xs[i] for i in diff_idx])

    def value(i, delta):
        x = xs[i]
        orig = x.data
        if type(orig) is np.ndarray:
            x.data = np.asarray(orig + delta)   # 0-d + 0-d gives a NumPy scalar
        else:
            x.data = orig + backend.to_device(np.asarray(delta), x.device)
        try:
            with no_grad():
                return float(_projected(f, xs, us).item())
        finally:
            x.data = orig

    for i, g in zip(diff_idx, analytic):
        x = xs[i]
        ga = np.zeros(x.shape) if g is None else np.asarray(g.numpy(), dtype=np.float64)
        if ga.shape != x.shape:
            return _fail(raise_exception, f"gradcheck of {label}: gradient for input {i} has shape "
                         f"{ga.shape}, the input has shape {x.shape}")
        if x.size <= max_full:
            num = np.zeros(x.shape)
            for k in range(x.size):
                d = np.zeros(x.size)
                d[k] = eps
                d = d.reshape(x.shape)
                num.flat[k] = (value(i, d) - value(i, -d)) / (2 * eps)
            err = np.abs(ga - num) - (atol + rtol * np.abs(num))
            if err.size and err.max() > 0:
                k = int(np.argmax(err))
                idx = tuple(int(j) for j in np.unravel_index(k, x.shape)) if x.ndim else ()
                return _fail(raise_exception,
                             f"gradcheck of {label}: input {i} (shape {x.shape}) entry {idx}: "
                             f"analytic {ga.flat[k]:.6g} vs numerical {num.flat[k]:.6g} "
                             f"(max abs error {np.abs(ga - num).max():.3g}, atol={atol}, rtol={rtol})")
        for _ in range(n_directions):
            v = rng.standard_normal(x.shape)
            v /= max(np.linalg.norm(v), 1e-12)
            num = (value(i, eps * v) - value(i, -eps * v)) / (2 * eps)
            ana = float((ga * v).sum())
            if abs(ana - num) > atol + rtol * abs(num):
                return _fail(raise_exception,
                             f"gradcheck of {label}: input {i} (shape {x.shape}) along a random "
                             f"direction: analytic {ana:.6g} vs numerical {num:.6g}")
    return True


def _fail(raise_exception, msg):
    if raise_exception:
        raise GradcheckError(msg)
    return False


def gradgradcheck(f, inputs, eps=1e-6, atol=1e-4, rtol=1e-3, n_directions=4, max_full=64,
                  seed=1, name=None, raise_exception=True):
    """Check second derivatives: gradcheck of ``x -> sum_i <grad_i f(x) . u, w_i>``, whose
    analytic gradient needs ``create_graph=True`` through every backward of ``f``."""
    label = name or getattr(f, "__name__", "function")
    xs = _prepare_inputs(inputs)
    rng = np.random.default_rng(seed)
    with no_grad():
        outs = _outputs(f(*xs))
    us = [rng.standard_normal(o.shape) for o in outs]
    ws = [rng.standard_normal(x.shape) for x in xs]
    diff = [i for i, x in enumerate(xs) if x.requires_grad]

    def second(*ys):
        with enable_grad():     # the numerical side evaluates under no_grad
            s = _projected(f, ys, us)
            grads = gradients(s, [ys[i] for i in diff], create_graph=True)
        total = None
        for i, g in zip(diff, grads):
            if g is None:
                continue
            term = (g * _wrap(backend.to_device(ws[i], g.device))).sum()
            total = term if total is None else total + term
        if total is None:
            return _wrap(np.zeros(()))
        return total
    return gradcheck(second, xs, eps=eps, atol=atol, rtol=rtol, n_directions=n_directions,
                     max_full=max_full, seed=seed, name=f"second derivative of {label}",
                     raise_exception=raise_exception)


__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]
