"""Compiled per-element kernels for the recurrent ops' time loops (optional: numba).

An LSTM step's elementwise work is small arrays and many of them: NumPy runs it as ~8
ufunc calls in the forward and ~16 in the backward, each paying a call's fixed cost on a
(32, 128) block, which makes the elementwise part of an LSTM training step cost as much as
its matrix products (benchmarks/bench_sequence.py).  Where numba is installed
(``pip install "lamina[jit]"``), the step's arithmetic after the matrix product and the
tanh runs instead as one compiled loop over the elements, written below as the formulas
themselves.  The transcendental functions stay with NumPy, whose tanh is vectorized
(a scalar tanh per element in the loop would cost more than it saves).

The kernels compute what the NumPy path computes, in the same float type, without
``fastmath`` (so NaN and infinity propagate as in NumPy), and differ from it only by
rounding: the same formulas, fewer intermediate roundings.  ``LAMINA_JIT=0`` in the
environment turns them off.  numba is imported on the first LSTM run, not with lamina;
each float type is compiled once and cached on disk.  Only NumPy arrays use them.
"""
from __future__ import annotations

import os

__all__ = ["lstm_kernels", "set_enabled", "enabled", "lstm_step_forward", "lstm_step_backward"]

_STATE = {"enabled": os.environ.get("LAMINA_JIT", "").lower() not in
          ("0", "off", "false", "no", "numpy"),
          "lstm": None, "loaded": False}


def set_enabled(flag):
    """Use the compiled kernels where numba is installed (True) or the NumPy code (False);
    returns the previous setting."""
    prev = _STATE["enabled"]
    _STATE["enabled"] = bool(flag)
    return prev


def enabled():
    """True when the compiled kernels are switched on and numba loads."""
    return lstm_kernels() is not None


class _LSTMKernels:
    """The LSTM step's two kernels (see :func:`_compile_lstm`)."""

    __slots__ = ("forward", "backward", "checked")

    def __init__(self, forward, backward):
        self.forward = forward
        self.backward = backward
        self.checked = set()        # the dtypes the kernels have run on


def lstm_kernels(dtype=None):
    """The compiled LSTM step kernels, or None (switched off, numba not installed, or the
    kernels do not compile for ``dtype`` here: the NumPy code then runs, after a warning)."""
    if not _STATE["enabled"]:
        return None
    if not _STATE["loaded"]:
        _STATE["loaded"] = True
        try:
            import numba
        except ImportError:
            return None
        _STATE["lstm"] = _compile_lstm(numba)
    k = _STATE["lstm"]
    if k is not None and dtype is not None and dtype not in k.checked:
        k = _STATE["lstm"] = _smoke_test(k, dtype)
    return k


def _smoke_test(k, dtype):
    """Run both kernels once on small arrays of ``dtype`` (which compiles them for it, with
    the layouts the LSTM passes); the kernels, or None where numba fails."""
    import numpy as np
    import warnings
    try:
        a = np.full((5, 2, 3), 0.5, dtype)
        c = np.zeros((2, 3), dtype)
        k.forward(a, c)
        k.backward(a, c, np.ones((2, 3), dtype), np.ones((2, 3), dtype),
                   np.zeros((2, 12), dtype))
    except Exception as e:      # a numba too old or too new for this NumPy
        warnings.warn(f"lamina: the compiled LSTM kernels do not run here ({e!r}); using "
                      "NumPy (set LAMINA_JIT=0 to skip this check)", RuntimeWarning)
        return None
    k.checked.add(np.dtype(dtype))
    return k


def _compile_lstm(numba):
    """The two kernels compiled by numba (cached on disk where the package directory, or
    numba's user cache, is writable)."""
    try:
        jit = numba.njit(cache=True, nogil=True, boundscheck=False)
        return _LSTMKernels(jit(lstm_step_forward), jit(lstm_step_backward))
    except RuntimeError:        # no writable place for the cache: compile in memory only
        jit = numba.njit(nogil=True, boundscheck=False)
        return _LSTMKernels(jit(lstm_step_forward), jit(lstm_step_backward))


# The kernels as plain Python: numba compiles them; they also run (slowly) as they are.
def lstm_step_forward(a, c_new):
    """One LSTM step after ``a[:4] = tanh(products)``.  ``a`` (5, N, H) holds, in the
    internal gate order, tanh(z/2) of the sigmoid gates o, i, f (their weights were
    halved), tanh(z) of the candidate g, and c_{t-1}.  Turns a[0:3] into the sigmoids
    (1 + tanh(z/2)) / 2 in place and writes c_t = i * g + f * c_{t-1} into ``c_new``
    (N, H)."""
    N, H = c_new.shape
    half = c_new.dtype.type(0.5)
    for n in range(N):
        # one row of each gate: the inner loop then runs over contiguous memory, which the
        # compiler vectorizes
        o_, i_, f_, g_, c_ = a[0, n], a[1, n], a[2, n], a[3, n], a[4, n]
        out = c_new[n]
        for h in range(H):
            o_[h] = o_[h] * half + half
            i = i_[h] * half + half
            f = f_[h] * half + half
            i_[h] = i
            f_[h] = f
            out[h] = i * g_[h] + f * c_[h]


def lstm_step_backward(a, tc, dh, dc, dz):
    """The LSTM step's backward through the gates.  ``a`` (5, N, H): o, i, f, g and
    c_{t-1} as the forward left them; ``tc`` = tanh(c_t); ``dh``, ``dc`` (N, H) the
    gradients reaching h_t and c_t.  Writes the gradients of the pre-activations
    (o, i, f, g blocks) into ``dz`` (N, 4H) and dc_{t-1} into ``dc``:

        dc_t = dc + dh * o * (1 - tanh(c_t)^2)
        d o = dh * tanh(c_t) * o (1 - o)      d i = dc_t * g * i (1 - i)
        d f = dc_t * c_{t-1} * f (1 - f)      d g = dc_t * i * (1 - g^2)
        dc_{t-1} = dc_t * f
    """
    N, H = dh.shape
    one = dh.dtype.type(1)
    for n in range(N):
        o_, i_, f_, g_, c_ = a[0, n], a[1, n], a[2, n], a[3, n], a[4, n]
        t_, dh_, dc_ = tc[n], dh[n], dc[n]
        z0, z1 = dz[n, 0:H], dz[n, H:2 * H]
        z2, z3 = dz[n, 2 * H:3 * H], dz[n, 3 * H:4 * H]
        for h in range(H):
            o, i, f, g, t = o_[h], i_[h], f_[h], g_[h], t_[h]
            dhv = dh_[h]
            dct = dc_[h] + dhv * o * (one - t * t)
            z0[h] = dhv * t * o * (one - o)
            z1[h] = dct * g * i * (one - i)
            z2[h] = dct * c_[h] * f * (one - f)
            z3[h] = dct * i * (one - g * g)
            dc_[h] = dct * f
