"""Compiled per-element kernels (optional: numba): the recurrent ops' time loops, max
pooling, the convolution's col2im and layer normalization over the last axis.

Where MKL is in use too, the LSTM's whole time loops and the attention of every head are
compiled (float32; the LSTM without a mask): each GEMM, tanh and exp goes to MKL from
inside the compiled loop, by the address the loop is given (lamina.ops.ccalls, so that
numba can cache it; MKL's VML tanh in its 1.4-ulp mode, as accurate as NumPy's), so a loop
runs without the GIL and lamina's threads run it on parts of the batch at once.  On the
2-core benchmark machine the LSTM classifier's forward went from 3.5 to 2.4 ms on two
threads (and the Python step loop's ~1 us per call is gone on one); the Transformer's
attention, forward and backward, from 2.7 to 1.4 ms.

An LSTM step's elementwise work is small arrays and many of them: NumPy runs it as ~8
ufunc calls in the forward and ~16 in the backward, each paying a call's fixed cost on a
(32, 128) block, which makes the elementwise part of an LSTM training step cost as much as
its matrix products (benchmarks/bench_sequence.py).  Where numba is installed
(``pip install "lamina[jit]"``), the step's arithmetic between the matrix product and the
tanh calls runs instead as compiled loops over the elements (one or three per step, for the
LSTM and the reset-after GRU), written below as the formulas themselves.  The transcendental
functions stay with NumPy, whose tanh is vectorized (a scalar tanh per element in the loop
would cost more than it saves).

Max pooling in NumPy takes one pass per window offset forward, and a comparison, a
first-maximum fix-up and a multiply over all offsets backward.  Compiled, the forward finds
each window's maximum and its position in one pass and the backward writes each pixel once:
the MNIST CNN's training step went from 13.3-14.1 ms to 11.9-12.2 ms.  A convolution's data
gradient adds each window's column gradient back onto the image: NumPy does it as one
strided add per kernel offset, which needs the columns grouped by offset (nine thin matrix
products); compiled, the adds read the rows of one product (MNIST's second conv: 3.4 ->
2.1 ms).

Layer normalization over a short last axis (d_model 128, say) takes NumPy ~10 passes over
the array forward and as many backward, each a call on the whole (rows, D) array; compiled,
each row is read once or twice while it sits in L1, and the backward adds the gamma and
beta gradients in the same pass (forward and backward of a (2048, 128) layer norm: 1.09 ->
0.21 ms; PyTorch: 0.38 ms).

The kernels compute what the NumPy path computes, in the same float type, without
``fastmath`` (so NaN and infinity propagate as in NumPy), and differ from it only by
rounding: the same formulas, fewer intermediate roundings.  (The layer-norm kernels may
also reorder their row sums, which lets the compiler vectorize them: ``fastmath`` with
reassociation and contraction only; NaN and infinity still propagate.)  One exception: a non-finite
gradient reaching a max-pool window goes to its maximum only, as in PyTorch, where NumPy's
mask multiply also leaves inf * 0 = NaN on the window's other pixels.  ``LAMINA_JIT=0`` in
the environment turns the kernels off.  numba is imported on the first op that asks for
them, not with lamina; each float type is compiled once and cached on disk.  Only NumPy
arrays use them.
"""
from __future__ import annotations

import os
import warnings

import numpy as np      # the kernels take NumPy arrays only (the ops check before asking)

from . import blas as _blas
from . import ccalls as _ccalls
from .ccalls import c_sgemm, c_vml

__all__ = ["lstm_kernels", "gru_kernels", "pool_kernels", "set_enabled", "lstm_step_forward",
           "attention_loop_kernels", "attention_forward_loop", "attention_backward_loop",
           "lstm_step_backward", "gru_gates_in", "gru_candidate_in", "gru_state_out",
           "gru_step_backward", "max_pool_forward", "max_pool_backward", "conv_kernels",
           "col2im_add", "norm_kernels", "layer_norm_forward", "layer_norm_backward"]

_STATE = {"enabled": os.environ.get("LAMINA_JIT", "").lower() not in
          ("0", "off", "false", "no", "numpy"),
          "numba": None, "loaded": False, "families": {}, "bound": {}}


def set_enabled(flag):
    """Use the compiled kernels where numba is installed (True) or the NumPy code (False);
    returns the previous setting."""
    prev = _STATE["enabled"]
    _STATE["enabled"] = bool(flag)
    return prev


class _Kernels:
    """One op's compiled kernels, as attributes named after the Python functions below."""

    def __init__(self, **fns):
        self.__dict__.update(fns)
        self.checked = set()        # the dtypes the kernels have run on


def lstm_kernels(dtype=None):
    """The compiled LSTM step kernels (``forward``, ``backward``), or None: switched off,
    numba not installed, ``dtype`` not float32/float64 (the only types they are written
    for), or the kernels do not run for ``dtype`` here (the NumPy code then runs, after a
    warning)."""
    return _kernels("lstm", dtype)


def gru_kernels(dtype=None):
    """The compiled GRU step kernels (``gates_in``, ``candidate_in``, ``state_out``,
    ``backward``), or None as for :func:`lstm_kernels`."""
    return _kernels("gru", dtype)


def pool_kernels(dtype=None):
    """The compiled max-pooling kernels (``max_forward``, ``max_backward``), or None as for
    :func:`lstm_kernels`."""
    return _kernels("pool", dtype)


def conv_kernels(dtype=None):
    """The compiled convolution kernel (``col2im_add``), or None as for
    :func:`lstm_kernels`."""
    return _kernels("conv", dtype)


def lstm_loop_kernels(dtype=None):
    """The LSTM's whole time loops, compiled (``forward``, ``backward``; float32 only, and
    only where MKL is in use: they call MKL's GEMM and tanh themselves), or None.  Without
    the GIL for the whole loop, so that threads can run them at once on parts of a
    batch."""
    return _with_mkl("lstm_loop", dtype)


def attention_loop_kernels(dtype=None):
    """Multi-head attention over every head of a batch, compiled (``forward``,
    ``backward``; float32 only, and only where MKL is in use: each head's products and exp
    are MKL calls from inside the loop), or None.  Without the GIL for the whole loop, so
    that threads run it on parts of a batch at once."""
    return _with_mkl("attention_loop", dtype)


def _mkl_addresses():
    """MKL's (cblas_sgemm, vmsTanh, vmsExp) addresses for the loops (lamina.ops.ccalls), or
    None where MKL is off or lacks one."""
    fns, exp = _blas.mkl_float32_functions(), _blas.mkl_float32_exp()
    if fns is None or exp is None:
        return None
    return _ccalls.addresses(fns[0], fns[1], exp)


class _WithMKL:
    """A loop family's ``forward`` and ``backward`` with MKL's addresses (``mkl``) passed as
    their last argument."""

    def __init__(self, k, mkl):
        self.raw, self.mkl = k, mkl

    def forward(self, *args):
        return self.raw.forward(*args, self.mkl)

    def backward(self, *args):
        return self.raw.backward(*args, self.mkl)


def _with_mkl(family, dtype):
    if np.dtype(dtype if dtype is not None else np.float32) != np.float32 or \
            _blas.mkl_float32_functions() is None or _blas.mkl_float32_exp() is None:
        return None
    k = _kernels(family, dtype)
    if k is None:
        return None
    # one bound object per compiled family (MKL's addresses do not change in a process;
    # tests replace its methods to watch the calls)
    bound = _STATE["bound"].get(family)
    if bound is None or bound.raw is not k:
        bound = _STATE["bound"][family] = _WithMKL(k, _mkl_addresses())
    return bound


def norm_kernels(dtype=None):
    """The compiled layer-normalization kernels (``layer_norm_forward``,
    ``layer_norm_backward``), or None as for :func:`lstm_kernels`."""
    return _kernels("norm", dtype)


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _kernels(family, dtype):
    if not _STATE["enabled"] or dtype is not None and np.dtype(dtype) not in _FLOATS:
        return None
    if not _STATE["loaded"]:
        _STATE["loaded"] = True
        try:
            import numba
        except ImportError:
            return None
        _STATE["numba"] = numba
    numba = _STATE["numba"]
    if numba is None:
        return None
    fams = _STATE["families"]
    if family not in fams:
        fams[family] = _compile(numba, _FAMILIES[family], _OPTIONS.get(family, {}))
    k = fams[family]
    if k is not None and dtype is not None and dtype not in k.checked:
        k = fams[family] = _smoke_test(family, k, dtype)
    return k


def _compile(numba, fns, options):
    """The functions ``fns`` ({name: python function}) compiled by numba with the extra
    ``options`` (cached on disk where the package directory, or numba's user cache, is
    writable, unless ``options`` say ``cache=False``)."""
    _ccalls.register_for_numba()        # the loops' calls of C functions by address
    opts = dict(cache=True, nogil=True, boundscheck=False)
    opts.update(options)
    try:
        jit = numba.njit(**opts)
        return _Kernels(**{name: jit(f) for name, f in fns.items()})
    except RuntimeError:        # no writable place for the cache: compile in memory only
        opts["cache"] = False
        jit = numba.njit(**opts)
        return _Kernels(**{name: jit(f) for name, f in fns.items()})


def _smoke_test(family, k, dtype):
    """Run the kernels once on small arrays of ``dtype`` (which compiles them for it, with
    the layouts the op passes); the kernels, or None where numba fails."""
    try:
        _SMOKE[family](k, np.dtype(dtype))
    except Exception as e:      # a numba too old or too new for this NumPy
        warnings.warn(f"lamina: the compiled {family.upper()} kernels do not run here ({e!r}); "
                      "using NumPy (set LAMINA_JIT=0 to skip this check)", RuntimeWarning)
        return None
    k.checked.add(np.dtype(dtype))
    return k


def _smoke_lstm(k, dt):
    a = np.full((5, 2, 3), 0.5, dt)
    c = np.zeros((2, 3), dt)
    k.forward(a, c)
    k.backward(a, c, np.ones((2, 3), dt), np.ones((2, 3), dt), np.zeros((2, 12), dt))


def _smoke_gru(k, dt):
    N, H = 2, 3
    xz, hu = np.full((N, 3 * H), 0.5, dt), np.full((N, 3 * H), 0.25, dt)
    zr, rec, hh, hn = (np.zeros((N, 2 * H), dt), np.zeros((N, H), dt), np.zeros((N, H), dt),
                       np.zeros((N, H), dt))
    k.gates_in(xz, hu, np.zeros(3 * H, dt), zr, rec)
    k.candidate_in(zr, rec, xz, hh)
    k.state_out(hn, hh, zr, hn)
    k.backward(np.ones((N, H), dt), zr, hh, hn, rec, np.zeros((N, 3 * H), dt),
               np.zeros((N, 3 * H), dt), np.zeros((N, H), dt))


def _smoke_norm(k, dt):
    x = np.arange(6, dtype=dt).reshape(2, 3)
    y, xhat, stats = np.empty_like(x), np.empty_like(x), np.empty((3, 2), dt)
    ones, zeros = np.ones(3, dt), np.zeros(3, dt)
    k.layer_norm_forward(x, ones, zeros, dt.type(1e-5), y, xhat, stats)
    k.layer_norm_backward(x, xhat, ones, stats[2], np.empty_like(x), np.zeros(3, dt),
                          np.zeros(3, dt))


def _smoke_lstm_loop(k, dt):
    T, N, D, H = 2, 2, 1, 2
    K = D + 1 + H
    xh = np.zeros((T + 1, N, K), dt)
    acts = np.zeros((T + 1, 5, N, H), dt)
    mkl = _mkl_addresses()
    k.forward(xh, np.full((K, 4 * H), 0.1, dt), acts, 0, N, np.empty((N, 4 * H), dt),
              np.empty((N, H), dt), mkl)
    k.backward(acts, np.ones((N, H), dt), np.ones((N, H), dt), np.zeros((N, 0, H), dt),
               np.empty((T, N, 4 * H), dt), np.full((4 * H, H), 0.1, dt), 0, N,
               np.empty((N, H), dt), mkl)


def _smoke_attention_loop(k, dt):
    N, H, T, d = 1, 1, 2, 2
    q, g = np.full((N, H, T, d), 0.5, dt), np.ones((N, H, T, d), dt)
    y, gq = np.empty_like(q), np.empty_like(q)
    desc = lambda a: np.array((a.ctypes.data,) + a.strides, np.int64)     # noqa: E731
    allowed = np.broadcast_to(np.ones((1, 1, 1, 1), np.uint8), (N, H, T, T))
    p = np.empty((N, H, T, T), dt)
    mkl = _mkl_addresses()
    k.forward(desc(q), desc(q), desc(q), desc(y), H, T, T, d, d, 0.5, True, allowed, True,
              0, N, p, mkl)
    k.backward(desc(q), desc(q), desc(q), desc(g), desc(gq), desc(gq), desc(gq), H, T, T, d,
               d, 0.5, True, allowed, True, 0, N, p, np.empty((T, T), dt), mkl)


def _smoke_pool(k, dt):
    x = np.arange(2 * 4 * 4 * 3, dtype=dt).reshape(2, 4, 4, 3)
    y, arg = np.empty((2, 2, 2, 3), dt), np.empty((2, 2, 2, 3), np.int32)
    k.max_forward(x, 2, 2, 2, 2, y, arg)
    for write_all in (True, False):
        k.max_backward(y, arg, 2, 2, 2, 2, np.zeros_like(x), write_all)


def _smoke_conv(k, dt):
    k.col2im_add(np.ones((4, 8), dt), np.zeros((1, 3, 3, 2), dt), 0, 2, 2, 2, 2, 1, 1, 1, 1,
                 0, 0)


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


def gru_gates_in(xz, hu, b, zr, rec):
    """GRU step (reset_after), before the gates' tanh.  ``xz`` (N, 3H) is x_t @ kernel + the
    input bias, ``hu`` (N, 3H) h_{t-1} @ recurrent_kernel, ``b`` (3H,) the recurrent bias
    (zeros without one), gate order z, r, h.  Writes (pre_z, pre_r) / 2 into ``zr``
    (N, 2H), for sigmoid(s) = (1 + tanh(s / 2)) / 2, and rec = hu_h + b_h into ``rec``
    (N, H)."""
    N, H = rec.shape
    half = rec.dtype.type(0.5)
    for n in range(N):
        x_, u_, z_, r_ = xz[n], hu[n], zr[n], rec[n]
        for j in range(2 * H):
            z_[j] = (x_[j] + u_[j] + b[j]) * half
        for h in range(H):
            r_[h] = u_[2 * H + h] + b[2 * H + h]


def gru_candidate_in(zr, rec, xz, hh):
    """After ``zr = tanh(zr)``: turns ``zr`` into the gates z, r = (1 + tanh) / 2 in place and
    writes the candidate's pre-activation r * rec + xz_h into ``hh`` (N, H)."""
    N, H = hh.shape
    half = hh.dtype.type(0.5)
    for n in range(N):
        z_, x_, r_, o_ = zr[n], xz[n], rec[n], hh[n]
        for j in range(2 * H):
            z_[j] = z_[j] * half + half
        for h in range(H):
            o_[h] = z_[H + h] * r_[h] + x_[2 * H + h]


def gru_state_out(hp, hh, zr, hn):
    """After ``hh = tanh(hh)``: the new state h_t = hh + z * (h_{t-1} - hh) into ``hn``."""
    N, H = hn.shape
    for n in range(N):
        p_, c_, z_, o_ = hp[n], hh[n], zr[n], hn[n]
        for h in range(H):
            o_[h] = c_[h] + z_[h] * (p_[h] - c_[h])


def gru_step_backward(dh, zr, hh, hp, rec, d, e, dhz):
    """The GRU step's backward (reset_after) for the gradient ``dh`` (N, H) reaching h_t.
    ``zr`` (N, 2H): z, r; ``hh`` the candidate, ``hp`` h_{t-1}, ``rec`` hu_h + b_h.  Writes
    the pre-activation gradients of the input projection into ``d`` (N, 3H) and of the
    recurrent product into ``e`` (N, 3H), and dh * z (h_{t-1}'s direct share) into ``dhz``:

        d h~ = dh (1 - z) (1 - hh^2)              d z = dh (h_{t-1} - hh) z (1 - z)
        d r = d h~ * rec * r (1 - r)              e = [d z, d r, d h~ * r]
    """
    N, H = dh.shape
    one = dh.dtype.type(1)
    for n in range(N):
        g_, zr_, c_, p_, r_ = dh[n], zr[n], hh[n], hp[n], rec[n]
        d_, e_, o_ = d[n], e[n], dhz[n]
        for h in range(H):
            g, z, r, c = g_[h], zr_[h], zr_[H + h], c_[h]
            dpre = g * (one - z) * (one - c * c)
            dz = g * (p_[h] - c) * z * (one - z)
            dr = dpre * r_[h] * r * (one - r)
            d_[h] = dz
            d_[H + h] = dr
            d_[2 * H + h] = dpre
            e_[h] = dz
            e_[H + h] = dr
            e_[2 * H + h] = dpre * r
            o_[h] = g * z


# The loops call MKL through the addresses in their last argument ``mkl`` (cblas_sgemm,
# vmsTanh, vmsExp; lamina.ops.ccalls), so numba can cache them.  CBLAS codes: row major,
# no transpose, transpose; VML_LA: MKL's tanh to within ~1.4 ulp, as NumPy's.
_ROW_MAJOR, _NO_TRANS, _TRANS, _VML_LA = 101, 111, 112, 1
# VML_LA | VML_ERRMODE_IGNORE: an exp that underflows sets no error status (with MKL's
# default error handling, 12x slower on such elements)
_VML_LA_QUIET = 0x101


def lstm_forward_loop(xh, WU, acts, n0, n1, Z, tc, mkl):
    """The LSTM's forward over all time steps for the batch rows n0 .. n1 - 1 (float32).
    ``xh`` (T + 1, N, K): row t holds [x_t, 1, h_{t-1}] (K = D + 1 + H), the h part of
    rows 1 .. T is written here; ``WU`` (K, 4H) the stacked [kernel; bias; recurrent
    kernel] in the internal gate order (o, i, f, g) with the sigmoid gates' columns
    halved; ``acts`` (T + 1, 5, N, H): o, i, f, g of step t are written to acts[t, :4],
    c_t to acts[t + 1, 4] (acts[0, 4] holds c_0); ``Z`` (n1 - n0, 4H) and ``tc``
    (n1 - n0, H) scratch.  Each step: one GEMM and two tanh calls in MKL, the gate
    arithmetic here (sigmoid(z) = (1 + tanh(z / 2)) / 2)."""
    T = xh.shape[0] - 1
    N, K = xh.shape[1], xh.shape[2]
    H = acts.shape[3]
    D = K - 1 - H
    m = n1 - n0
    half = np.float32(0.5)
    for t in range(T):
        c_sgemm(mkl[0], (_ROW_MAJOR, _NO_TRANS, _NO_TRANS, m, 4 * H, K, np.float32(1.0),
                         xh.ctypes.data + (t * N + n0) * K * 4, K, WU.ctypes.data, 4 * H,
                         np.float32(0.0), Z.ctypes.data, 4 * H))
        c_vml(mkl[1], (m * 4 * H, Z.ctypes.data, Z.ctypes.data, _VML_LA))
        for r in range(m):
            n = n0 + r
            z = Z[r]
            o_, i_, f_, g_ = acts[t, 0, n], acts[t, 1, n], acts[t, 2, n], acts[t, 3, n]
            cp, cn, tr = acts[t, 4, n], acts[t + 1, 4, n], tc[r]
            for h in range(H):
                o = z[h] * half + half
                i = z[H + h] * half + half
                f = z[2 * H + h] * half + half
                g = z[3 * H + h]
                o_[h] = o
                i_[h] = i
                f_[h] = f
                g_[h] = g
                c = i * g + f * cp[h]
                cn[h] = c
                tr[h] = c
        c_vml(mkl[1], (m * H, tc.ctypes.data, tc.ctypes.data, _VML_LA))
        for r in range(m):
            n = n0 + r
            hn, o_, tr = xh[t + 1, n], acts[t, 0, n], tc[r]
            for h in range(H):
                hn[D + 1 + h] = o_[h] * tr[h]


def lstm_backward_loop(acts, dh, dc, gseq, dz, UT, n0, n1, tc, mkl):
    """The LSTM's backward through time for the batch rows n0 .. n1 - 1 (float32), from
    what :func:`lstm_forward_loop` left in ``acts``.  ``dh``, ``dc`` (N, H): the gradients
    reaching the last h and c, turned into those of h_0 and c_0; ``gseq`` (N, S, H): the
    output sequence's gradient (S = T), or S = 0 for none; ``dz`` (T, N, 4H): the
    pre-activations' gradients are written here (internal gate order); ``UT`` (4H, H) the
    recurrent kernel's transpose in that order; ``tc`` (n1 - n0, H) scratch.  Per step the
    formulas of :func:`lstm_step_backward`, then dh = dz[t] @ UT (MKL)."""
    T = dz.shape[0]
    N = dz.shape[1]
    H = dh.shape[1]
    m = n1 - n0
    one = np.float32(1)
    for t in range(T - 1, -1, -1):
        if gseq.shape[1]:
            for r in range(m):
                n = n0 + r
                d_, s_ = dh[n], gseq[n, t]
                for h in range(H):
                    d_[h] += s_[h]
        for r in range(m):
            c_, tr = acts[t + 1, 4, n0 + r], tc[r]
            for h in range(H):
                tr[h] = c_[h]
        c_vml(mkl[1], (m * H, tc.ctypes.data, tc.ctypes.data, _VML_LA))
        for r in range(m):
            n = n0 + r
            o_, i_, f_, g_, c_ = acts[t, 0, n], acts[t, 1, n], acts[t, 2, n], acts[t, 3, n], \
                acts[t, 4, n]
            t_, dh_, dc_, z = tc[r], dh[n], dc[n], dz[t, n]
            for h in range(H):
                o, i, f, g, th = o_[h], i_[h], f_[h], g_[h], t_[h]
                dhv = dh_[h]
                dct = dc_[h] + dhv * o * (one - th * th)
                z[h] = dhv * th * o * (one - o)
                z[H + h] = dct * g * i * (one - i)
                z[2 * H + h] = dct * c_[h] * f * (one - f)
                z[3 * H + h] = dct * i * (one - g * g)
                dc_[h] = dct * f
        c_sgemm(mkl[0], (_ROW_MAJOR, _NO_TRANS, _NO_TRANS, m, H, 4 * H, np.float32(1.0),
                         dz.ctypes.data + (t * N + n0) * 4 * H * 4, 4 * H, UT.ctypes.data, H,
                         np.float32(0.0), dh.ctypes.data + n0 * H * 4, H))


def attention_forward_loop(qd, kd, vd, yd, H, Tq, Tk, dk, dv, scale, causal, allowed,
                           has_mask, n0, n1, p, mkl):
    """softmax(q k^T * scale) v for the batch rows n0 .. n1 - 1 of every head (float32).
    Each of q (N, H, Tq, dk), k (N, H, Tk, dk), v (N, H, Tk, dv) and the output y (N, H,
    Tq, dv) is given by an int64 descriptor (address, batch stride, head stride, row
    stride), in bytes, its rows contiguous (strided views of one packed projection, or of
    a (N, T, H, d) array, need no copy).  Masking gives a key the weight 0, as the NumPy
    path's score of -1e9 does: a key after its query where ``causal``, and where
    ``has_mask`` and ``allowed`` (N, H, Tk, Tq) uint8, key-major, holds 0.  Writes each
    head's probabilities, key-major, into ``p`` (N, H, Tk, Tq).  Per head: two MKL GEMMs and one
    MKL exp; the softmax's max and sums here, along the contiguous query axis."""
    top = np.empty(Tq, np.float32)
    tot = np.empty(Tq, np.float32)
    seen = np.empty(Tq, np.int64)
    one, zero, neg_inf = np.float32(1.0), np.float32(0.0), np.float32(-np.inf)
    # leading dimensions and addresses as Python ints where the loops run uncompiled
    # (ctypes takes no NumPy integers)
    ldq, ldk, ldv, ldy = int(qd[3] // 4), int(kd[3] // 4), int(vd[3] // 4), int(yd[3] // 4)
    for n in range(n0, n1):
        for h in range(H):
            q = int(qd[0] + n * qd[1] + h * qd[2])
            k = int(kd[0] + n * kd[1] + h * kd[2])
            v = int(vd[0] + n * vd[1] + h * vd[2])
            s = p[n, h]
            # s = k (q * scale)^T: (Tk keys, Tq queries)
            c_sgemm(mkl[0], (_ROW_MAJOR, _NO_TRANS, _TRANS, Tk, Tq, dk, np.float32(scale), k, ldk,
                             q, ldq, zero, s.ctypes.data, Tq))
            masked = causal or has_mask
            a = allowed[n, h]
            if masked:
                # each query's maximum over the keys it may see; a masked score becomes 0
                # (its exp, 1, is zeroed below) rather than -1e9, whose exp underflows on
                # MKL's slow path (~10x a normal exp)
                for j in range(Tq):
                    top[j] = neg_inf
                    seen[j] = 0
                for i in range(Tk):
                    for j in range(Tq):
                        if (not causal or i <= j) and (not has_mask or a[i, j] != 0):
                            seen[j] += 1
                            if s[i, j] > top[j]:
                                top[j] = s[i, j]
                for i in range(Tk):
                    for j in range(Tq):
                        if (not causal or i <= j) and (not has_mask or a[i, j] != 0):
                            s[i, j] -= top[j]
                        else:
                            s[i, j] = zero
            else:
                for j in range(Tq):
                    top[j] = s[0, j]
                for i in range(1, Tk):
                    for j in range(Tq):
                        if s[i, j] > top[j]:
                            top[j] = s[i, j]
                for i in range(Tk):
                    for j in range(Tq):
                        s[i, j] -= top[j]
            c_vml(mkl[2], (Tk * Tq, s.ctypes.data, s.ctypes.data, _VML_LA_QUIET))
            if masked:
                # masked keys get no weight; a query that may see no key attends to all
                # of them alike (every score -1e9 in the NumPy path)
                for i in range(Tk):
                    for j in range(Tq):
                        if seen[j] and not ((not causal or i <= j) and
                                            (not has_mask or a[i, j] != 0)):
                            s[i, j] = zero
            for j in range(Tq):
                tot[j] = 0
            for i in range(Tk):
                for j in range(Tq):
                    tot[j] += s[i, j]
            for j in range(Tq):
                tot[j] = one / tot[j]
            for i in range(Tk):
                for j in range(Tq):
                    s[i, j] *= tot[j]
            # the head's output p^T v
            c_sgemm(mkl[0], (_ROW_MAJOR, _TRANS, _NO_TRANS, Tq, dv, Tk, one, s.ctypes.data, Tq, v,
                             ldv, zero, int(yd[0] + n * yd[1] + h * yd[2]), ldy))


def attention_backward_loop(qd, kd, vd, gd, gqd, gkd, gvd, H, Tq, Tk, dk, dv, scale, causal,
                            allowed, has_mask, n0, n1, p, ds, mkl):
    """The backward of :func:`attention_forward_loop` for the batch rows n0 .. n1 - 1: from
    the output gradient (descriptor ``gd``) and the saved probabilities ``p``, writes the
    gradients of q, k and v where the descriptors ``gqd``, ``gkd``, ``gvd`` point; ``ds``
    (Tk, Tq) scratch.  Per head four MKL GEMMs and the softmax's backward here
    (ds = p * (dp - sum over keys of p * dp)); a masked score passes no gradient back,
    also for a query that may attend to no key (its attention is uniform then), as in the
    NumPy path."""
    tot = np.empty(Tq, np.float32)
    one, zero, sc = np.float32(1.0), np.float32(0.0), np.float32(scale)
    ldq, ldk, ldv, ldg = int(qd[3] // 4), int(kd[3] // 4), int(vd[3] // 4), int(gd[3] // 4)
    ldgq, ldgk, ldgv = int(gqd[3] // 4), int(gkd[3] // 4), int(gvd[3] // 4)
    for n in range(n0, n1):
        for h in range(H):
            q = int(qd[0] + n * qd[1] + h * qd[2])
            k = int(kd[0] + n * kd[1] + h * kd[2])
            v = int(vd[0] + n * vd[1] + h * vd[2])
            g = int(gd[0] + n * gd[1] + h * gd[2])
            ph = p[n, h]
            # dv = p g;  dp (key-major) = v g^T
            c_sgemm(mkl[0], (_ROW_MAJOR, _NO_TRANS, _NO_TRANS, Tk, dv, Tq, one, ph.ctypes.data, Tq,
                             g, ldg, zero, int(gvd[0] + n * gvd[1] + h * gvd[2]), ldgv))
            c_sgemm(mkl[0], (_ROW_MAJOR, _NO_TRANS, _TRANS, Tk, Tq, dv, one, v, ldv, g, ldg, zero,
                             ds.ctypes.data, Tq))
            for j in range(Tq):
                tot[j] = 0
            for i in range(Tk):
                for j in range(Tq):
                    tot[j] += ds[i, j] * ph[i, j]
            for i in range(Tk):
                for j in range(Tq):
                    ds[i, j] = ph[i, j] * (ds[i, j] - tot[j])
            if causal:
                for i in range(1, Tk):
                    for j in range(min(i, Tq)):
                        ds[i, j] = zero
            if has_mask:
                a = allowed[n, h]
                for i in range(Tk):
                    for j in range(Tq):
                        if a[i, j] == 0:
                            ds[i, j] = zero
            # dq = ds^T k * scale;  dk = ds q * scale
            c_sgemm(mkl[0], (_ROW_MAJOR, _TRANS, _NO_TRANS, Tq, dk, Tk, sc, ds.ctypes.data, Tq, k,
                             ldk, zero, int(gqd[0] + n * gqd[1] + h * gqd[2]), ldgq))
            c_sgemm(mkl[0], (_ROW_MAJOR, _NO_TRANS, _NO_TRANS, Tk, dk, Tq, sc, ds.ctypes.data, Tq,
                             q, ldq, zero, int(gkd[0] + n * gkd[1] + h * gkd[2]), ldgk))


def layer_norm_forward(x, gamma, beta, eps, y, xhat, stats):
    """Layer normalization of each row of ``x`` (N, D): xhat = (x - mean) / sqrt(var + eps)
    (biased variance) into ``xhat``, y = xhat * gamma + beta into ``y`` (gamma, beta (D,));
    the rows' mean, variance and 1 / sqrt(var + eps) into ``stats`` (3, N)."""
    N, D = x.shape
    zero, one = x.dtype.type(0), x.dtype.type(1)
    inv_d = x.dtype.type(1.0 / D)
    for n in range(N):
        r, c, o = x[n], xhat[n], y[n]
        s = zero
        for j in range(D):
            s += r[j]
        m = s * inv_d
        v = zero        # the centred sum of squares: no cancellation, the row is in cache
        for j in range(D):
            t = r[j] - m
            c[j] = t
            v += t * t
        v *= inv_d
        k = one / np.sqrt(v + eps)
        stats[0, n], stats[1, n], stats[2, n] = m, v, k
        for j in range(D):
            t = c[j] * k
            c[j] = t
            o[j] = t * gamma[j] + beta[j]


def layer_norm_backward(g, xhat, gamma, inv, dx, dgamma, dbeta):
    """The backward of :func:`layer_norm_forward` for the output gradient ``g`` (N, D):
    dx = inv * (g * gamma - mean(g * gamma) - xhat * mean(g * gamma * xhat)) per row into
    ``dx`` (``inv`` (N,) the rows' 1 / sqrt(var + eps)); adds sum over rows of g * xhat
    into ``dgamma`` and of g into ``dbeta`` (D,)."""
    N, D = g.shape
    zero = g.dtype.type(0)
    inv_d = g.dtype.type(1.0 / D)
    for n in range(N):
        g_, c, o = g[n], xhat[n], dx[n]
        m1 = zero
        m2 = zero
        for j in range(D):
            gj, cj = g_[j], c[j]
            t = gj * gamma[j]
            m1 += t
            m2 += t * cj
            dgamma[j] += gj * cj
            dbeta[j] += gj
        m1 *= inv_d
        m2 *= inv_d
        k = inv[n]
        for j in range(D):
            o[j] = k * (g_[j] * gamma[j] - m1 - c[j] * m2)


def max_pool_forward(x, ph, pw, sh, sw, y, arg):
    """Max pooling of ``x`` (N, H, W, C), padded already, with (ph, pw) windows moved by
    (sh, sw): writes each window's maximum into ``y`` (N, Ho, Wo, C) and into ``arg``
    (int32, same shape) the offset i * pw + j of its first maximum in row-major order, or
    -1 when the window holds a NaN (then its maximum is NaN, as ``numpy.maximum`` gives)."""
    N, Ho, Wo, C = y.shape
    for n in range(N):
        for oh in range(Ho):
            h0 = oh * sh
            for ow in range(Wo):
                w0 = ow * sw
                y_, a_, x0 = y[n, oh, ow], arg[n, oh, ow], x[n, h0, w0]
                for c in range(C):
                    v = x0[c]
                    y_[c] = v
                    a_[c] = 0 if v == v else -1
                for i in range(ph):
                    for j in range(pw):
                        if i == 0 and j == 0:
                            continue
                        k = i * pw + j
                        x_ = x[n, h0 + i, w0 + j]
                        # the channels innermost: contiguous, so the compiler vectorizes
                        for c in range(C):
                            v = x_[c]
                            if v > y_[c]:       # strictly: ties keep the first maximum
                                y_[c] = v
                                a_[c] = k
                            elif v != v:        # a NaN makes the window's maximum NaN
                                y_[c] = v
                                a_[c] = -1


def max_pool_backward(g, arg, ph, pw, sh, sw, gx, write_all):
    """The max-pool gradient: each window's gradient ``g`` (N, Ho, Wo, C) goes to the input
    pixel ``arg`` chose in ``gx`` (N, H, W, C), none for a NaN window.  ``write_all``: the
    windows tile ``gx`` exactly, so every pixel is written (the gradient or zero) and ``gx``
    may start uninitialized; otherwise the gradients are added into a zeroed ``gx``."""
    N, Ho, Wo, C = g.shape
    zero = gx.dtype.type(0)
    for n in range(N):
        for oh in range(Ho):
            h0 = oh * sh
            for ow in range(Wo):
                w0 = ow * sw
                g_, a_ = g[n, oh, ow], arg[n, oh, ow]
                if write_all:
                    for i in range(ph):
                        for j in range(pw):
                            k = i * pw + j
                            x_ = gx[n, h0 + i, w0 + j]
                            for c in range(C):
                                x_[c] = g_[c] if a_[c] == k else zero
                else:
                    for c in range(C):
                        k = a_[c]
                        if k >= 0:
                            gx[n, h0 + k // pw, w0 + k % pw, c] += g_[c]


def col2im_add(cols, gx, n0, ho, wo, kh, kw, sh, sw, dh, dw, oh, ow):
    """Add a convolution's column gradient into the image gradient ``gx`` (N, H, W, C).
    ``cols`` (m * ho * wo, kh * kw * C) holds, for images n0 .. n0 + m - 1 and each output
    pixel (y, x) in row-major order, the gradient of its window's pixels, offset (a, b) in
    columns (a * kw + b) * C ...; that window pixel is gx[n, oh + y * sh + a * dh,
    ow + x * sw + b * dw] (strides sh, sw; dilations dh, dw; canvas shift oh, ow)."""
    C = gx.shape[3]
    m = cols.shape[0] // (ho * wo)
    for i in range(m):
        for y in range(ho):
            for x in range(wo):
                row = cols[(i * ho + y) * wo + x]
                for a in range(kh):
                    for b in range(kw):
                        dst = gx[n0 + i, oh + y * sh + a * dh, ow + x * sw + b * dw]
                        base = (a * kw + b) * C
                        # the channels innermost: contiguous, so the compiler vectorizes
                        for c in range(C):
                            dst[c] += row[base + c]


_FAMILIES = {
    "lstm": {"forward": lstm_step_forward, "backward": lstm_step_backward},
    "gru": {"gates_in": gru_gates_in, "candidate_in": gru_candidate_in,
            "state_out": gru_state_out, "backward": gru_step_backward},
    "pool": {"max_forward": max_pool_forward, "max_backward": max_pool_backward},
    "conv": {"col2im_add": col2im_add},
    "norm": {"layer_norm_forward": layer_norm_forward,
             "layer_norm_backward": layer_norm_backward},
    "lstm_loop": {"forward": lstm_forward_loop, "backward": lstm_backward_loop},
    "attention_loop": {"forward": attention_forward_loop, "backward": attention_backward_loop},
}
# Extra numba options per family.  The norm kernels' row sums are reductions, which the
# compiler vectorizes only when it may reorder them (fastmath's reassoc, plus contract for
# fused multiply-adds; not the flags that assume no NaN or infinity); error_model="numpy"
# lets a division by zero give inf as in NumPy, instead of a per-row check that raises.
_OPTIONS = {"norm": {"fastmath": {"reassoc", "contract"}, "error_model": "numpy"},
            # the loops call MKL through ctypes pointers, which numba cannot cache on disk
            # (the addresses change from process to process): compiled once per process
            # the softmax's max and sums along the query axis vectorize when reordered
            "attention_loop": {"fastmath": {"reassoc", "contract"}, "error_model": "numpy"}}
_SMOKE = {"lstm": _smoke_lstm, "gru": _smoke_gru, "pool": _smoke_pool, "conv": _smoke_conv,
          "norm": _smoke_norm, "lstm_loop": _smoke_lstm_loop,
          "attention_loop": _smoke_attention_loop}
