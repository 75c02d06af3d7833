"""Fused CUDA kernels (CuPy): elementwise chains that CuPy would otherwise run as one kernel
launch per NumPy-style call.

On a GPU every ``xp`` call is a kernel launch of ~5-10 us plus CuPy's Python-side cost, and
small steps are made of little else: an LSTM step's gate arithmetic is ~8 calls forward and
~16 backward on (N, H) blocks, 80 steps a sequence.  The kernels here do one step's
elementwise work in one launch.  They compute the formulas of the NumPy path (and of the
numba kernels in :mod:`lamina.ops.kernels`) in the same float type; only rounding differs.

Each kernel is compiled by CuPy on first use (NVRTC, cached on disk).  Should compilation or
the first launch fail, the op falls back to its ``xp`` path for the rest of the process and
the reason is kept in :data:`failures` (the GPU tests check that it stays empty).  Only CuPy
arrays of float32/float64 use them; ``LAMINA_CUDA_KERNELS=0`` turns them off.
"""
from __future__ import annotations

import os

__all__ = ["lstm_step", "elementwise", "failures", "set_enabled"]

_STATE = {"enabled": os.environ.get("LAMINA_CUDA_KERNELS", "").lower() not in
          ("0", "off", "false", "no")}
failures: dict = {}      # (kernel name, dtype) -> why it was turned off
_CACHE: dict = {}


def set_enabled(flag):
    """Use the fused CUDA kernels (True) or the plain CuPy calls (False); returns the
    previous setting."""
    prev = _STATE["enabled"]
    _STATE["enabled"] = bool(flag)
    return prev


def _usable(xp, dtype):
    return (_STATE["enabled"] and xp.__name__ == "cupy" and
            str(dtype) in ("float32", "float64"))


# ----------------------------------------------------------------------------- LSTM
# a (5, N, H): o, i, f, g, c_{t-1} (internal gate order), as lamina.ops.recurrent keeps
# each step's saved activations; Z (4, N, H): the step's products, the sigmoid gates' blocks
# pre-halved so that sigmoid(z) = (1 + tanh(z / 2)) / 2.  i is the (n, h) position.
_LSTM_FORWARD = r"""
const T half = 0.5;
T o = tanh(Z[i]) * half + half;
T ig = tanh(Z[NH + i]) * half + half;
T f = tanh(Z[2 * NH + i]) * half + half;
T g = tanh(Z[3 * NH + i]);
A[i] = o;
A[NH + i] = ig;
A[2 * NH + i] = f;
A[3 * NH + i] = g;
T cc = ig * g + f * A[4 * NH + i];
c = cc;
h = o * tanh(cc);
"""

# dz (N, 4H): the step's row of the pre-activation gradients, blocks o, i, f, g; dc is
# read as the gradient reaching c_t and left as the one reaching c_{t-1}.
_LSTM_BACKWARD = r"""
const T one = 1;
T o = A[i], ig = A[NH + i], f = A[2 * NH + i], g = A[3 * NH + i], cp = A[4 * NH + i];
T t = tanh(cn);
T d = dh;
T dct = dc + d * o * (one - t * t);
ptrdiff_t k = (i / H) * 4 * H + (i % H);
dz[k] = d * t * o * (one - o);
dz[k + H] = dct * g * ig * (one - ig);
dz[k + 2 * H] = dct * cp * f * (one - f);
dz[k + 3 * H] = dct * ig * (one - g * g);
dc = dct * f;
"""


class _LSTMStep:
    """One LSTM step's gate arithmetic, forward and backward, each one kernel launch."""

    def __init__(self, cp, dtype):
        self.fwd = cp.ElementwiseKernel("raw T Z, int64 NH", "raw T A, T c, T h",
                                        _LSTM_FORWARD, "lamina_lstm_step_forward")
        self.bwd = cp.ElementwiseKernel("raw T A, T cn, T dh, int64 H, int64 NH",
                                        "T dc, raw T dz", _LSTM_BACKWARD,
                                        "lamina_lstm_step_backward")
        self._smoke(cp, dtype)

    def _smoke(self, cp, dtype):
        """Compile for ``dtype`` and check both kernels against CuPy's own calls on a tiny
        step (raises on a mismatch, which turns the kernels off)."""
        N, H = 3, 5
        rng = cp.random.default_rng(0)
        Z = rng.standard_normal((4, N, H)).astype(dtype)
        a = rng.standard_normal((5, N, H)).astype(dtype)
        c, h = cp.empty((N, H), dtype), cp.empty((N, 2 * H), dtype)[:, ::2]
        ref = a.copy()
        ref[:3] = cp.tanh(Z[:3]) * 0.5 + 0.5
        ref[3] = cp.tanh(Z[3])
        c_ref = ref[1] * ref[3] + ref[2] * ref[4]
        self.forward(Z, a, c, h)
        dh = rng.standard_normal((N, H)).astype(dtype)
        dc = rng.standard_normal((N, H)).astype(dtype)
        dz = cp.empty((N, 4 * H), dtype)
        dc_in = dc.copy()
        self.backward(a, c, dh, dc, dz)
        o, i, f, g, cprev = ref
        t = cp.tanh(c_ref)
        dct = dc_in + dh * o * (1 - t * t)
        dz_ref = cp.concatenate([dh * t * o * (1 - o), dct * g * i * (1 - i),
                                 dct * cprev * f * (1 - f), dct * i * (1 - g * g)], axis=1)
        tol = 1e-5 if dtype == "float32" else 1e-12
        for got, want in ((a, ref), (c, c_ref), (h, o * t), (dz, dz_ref), (dc, dct * f)):
            if not bool(cp.allclose(got, want, rtol=tol, atol=tol)):
                raise AssertionError("the fused LSTM step disagrees with CuPy's calls")

    def forward(self, Z, a, c_new, h_new):
        """From the step's products ``Z`` (4, N, H): the gates into ``a[:4]`` (a: 5, N, H,
        C-contiguous), c_t into ``c_new`` and h_t into ``h_new`` (N, H each, any strides)."""
        N, H = c_new.shape
        self.fwd(Z, N * H, a, c_new, h_new)

    def backward(self, a, c_new, dh, dc, dz):
        """The step's pre-activation gradients into ``dz`` (N, 4H) and dc_{t-1} into ``dc``
        (see :func:`lamina.ops.kernels.lstm_step_backward` for the formulas)."""
        N, H = dh.shape
        self.bwd(a, c_new, dh, H, N * H, dc, dz)


def _checked(name, make, xp, dtype):
    """The kernel object ``make(cupy, dtype)``, compiled and checked on a tiny case, or None
    when unusable or broken (once broken, for good: the reason goes to :data:`failures`)."""
    if not _usable(xp, dtype):
        return None
    key = (name, str(dtype))
    k = _CACHE.get(key)
    if k is None:
        if key in failures:
            return None
        try:
            k = _CACHE[key] = make(xp, str(dtype))
        except Exception as e:  # noqa: BLE001 - any CuPy/NVRTC error means "not usable"
            failures[key] = f"{type(e).__name__}: {e}"
            return None
    return k


def lstm_step(xp, dtype):
    """The fused LSTM step kernels for CuPy arrays of ``dtype``, or None (NumPy arrays,
    other dtypes, kernels off or failed)."""
    return _checked("lstm_step", _LSTMStep, xp, dtype)



# ---------------------------------------------------------------- elementwise chains
# name -> (inputs, outputs, body, reference): each replaces several CuPy calls of an op's
# forward or backward.  The reference computes the same with CuPy's calls, for the check
# on first use (on inputs spanning both tails: the sigmoid's branches, erf's saturation).
_SQRT1_2 = "0.70710678118654752440"
_ELEMENTWISE = {
    # 1 / (1 + e^-x) without overflow: exp of a non-positive number on each branch
    "sigmoid": ("T x", "T y",
                "T e = exp(-fabs(x)); y = x >= 0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e);",
                lambda cp, x: 1 / (1 + cp.exp(-x))),
    "sigmoid_grad": ("T g, T y", "T dx", "dx = g * y * ((T)1 - y);",
                     lambda cp, g, y: g * y * (1 - y)),
    "gelu": ("T x", "T y", f"y = (T)0.5 * x * ((T)1 + erf(x * (T){_SQRT1_2}));",
             lambda cp, x: 0.5 * x * (1 + _erf(cp, x / 2 ** 0.5))),
    "gelu_grad": ("T g, T x", "T dx",
                  f"T cdf = (T)0.5 * ((T)1 + erf(x * (T){_SQRT1_2}));"
                  "T pdf = exp((T)-0.5 * x * x) * (T)0.39894228040143267794;"
                  "dx = g * (cdf + x * pdf);",
                  lambda cp, g, x: g * (0.5 * (1 + _erf(cp, x / 2 ** 0.5)) +
                                        x * cp.exp(-0.5 * x * x) / (2 * 3.141592653589793) ** 0.5)),
    # Keras's Adam step on one variable, in place (see lamina.nn.optimizers.Adam):
    # m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); w -= alpha m / (sqrt(v) + eps)
    "adam": ("T g, T one_b1, T one_b2, T eps, T alpha", "T w, T m, T v",
             "m += (g - m) * one_b1; v += (g * g - v) * one_b2;"
             "w -= m / (sqrt(v) + eps) * alpha;", None),
}


def _erf(cp, x):
    import cupyx.scipy.special as sp
    return sp.erf(x)


class _Elementwise:
    """A CuPy ElementwiseKernel, checked against its reference for ``dtype`` once."""

    def __init__(self, cp, dtype, name):
        ins, outs, body, ref = _ELEMENTWISE[name]
        self.kernel = cp.ElementwiseKernel(ins, outs, body, f"lamina_{name}")
        if ref is not None:
            self._smoke(cp, dtype, ref, ins.count(",") + 1)
        else:
            self._smoke_adam(cp, dtype)

    def __call__(self, *args, **kw):
        return self.kernel(*args, **kw)

    def _smoke(self, cp, dtype, ref, nin):
        xs = [cp.linspace(-30, 30, 241, dtype=dtype) * (k + 1) / nin for k in range(nin)]
        got, want = self.kernel(*xs), ref(cp, *xs).astype(dtype)
        tol = 1e-5 if dtype == "float32" else 1e-12
        if not bool(cp.allclose(got, want, rtol=tol, atol=tol)):
            raise AssertionError(f"{self.kernel.name} disagrees with CuPy's calls")

    def _smoke_adam(self, cp, dtype):
        rng = cp.random.default_rng(0)
        g, w, m = (rng.standard_normal(17).astype(dtype) for _ in range(3))
        v = cp.abs(rng.standard_normal(17).astype(dtype))
        m2 = m + (g - m) * 0.1
        v2 = v + (g * g - v) * 0.001
        w2 = w - m2 / (cp.sqrt(v2) + 1e-7) * 0.01
        t = cp.dtype(dtype).type
        self.kernel(g, t(0.1), t(0.001), t(1e-7), t(0.01), w, m, v)
        tol = 1e-5 if dtype == "float32" else 1e-12
        for got, want in ((w, w2), (m, m2), (v, v2)):
            if not bool(cp.allclose(got, want, rtol=tol, atol=tol)):
                raise AssertionError("lamina_adam disagrees with CuPy's calls")


def elementwise(name, xp, dtype):
    """The fused kernel ``name`` (a key of the table above) for CuPy arrays of ``dtype``,
    or None (NumPy arrays, other dtypes, kernels off or failed).  Call it as a CuPy
    ElementwiseKernel: inputs, then optional outputs."""
    return _checked(name, lambda cp, dt: _Elementwise(cp, dt, name), xp, dtype)
