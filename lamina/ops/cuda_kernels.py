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

__all__ = ["lstm_step", "elementwise", "row_kernels", "failures", "set_enabled"]

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
# acts (T + 1, 5, N, H), C-contiguous: row t holds step t's gates o, i, f, g and c_{t-1}
# (internal gate order), as lamina.ops.recurrent keeps them; xh (T + 1, N, K): row t is
# [x_t, 1, h_{t-1}], K = D + 1 + H.  Z (4, N, H): step t's products, the sigmoid gates'
# blocks pre-halved so that sigmoid(z) = (1 + tanh(z / 2)) / 2.  The kernels take the
# whole arrays and the step t: no per-step views to make in Python.  i is (n, h).
_LSTM_FORWARD = r"""
const T half = 0.5;
const ptrdiff_t NH = N * H, n = i / H, h = i % H, a0 = t * 5 * NH;
T o = tanh(Z[i]) * half + half;
T ig = tanh(Z[NH + i]) * half + half;
T f = tanh(Z[2 * NH + i]) * half + half;
T g = tanh(Z[3 * NH + i]);
A[a0 + i] = o;
A[a0 + NH + i] = ig;
A[a0 + 2 * NH + i] = f;
A[a0 + 3 * NH + i] = g;
T cc = ig * g + f * A[a0 + 4 * NH + i];
A[a0 + 9 * NH + i] = cc;
X[(t + 1) * N * K + n * K + D + 1 + h] = o * tanh(cc);
"""

# dh and dc (N, H): the gradients reaching h_t and c_t; dc is left as the one reaching
# c_{t-1}.  dz (T, N, 4H): step t's row gets the pre-activation gradients, blocks o, i, f, g.
_LSTM_BACKWARD = r"""
const T one = 1;
const ptrdiff_t NH = N * H, n = i / H, h = i % H, a0 = t * 5 * NH;
T o = A[a0 + i], ig = A[a0 + NH + i], f = A[a0 + 2 * NH + i], g = A[a0 + 3 * NH + i];
T cp = A[a0 + 4 * NH + i];
T tc = tanh(A[a0 + 9 * NH + i]);
T d = dh[i];
T dct = dc[i] + d * o * (one - tc * tc);
ptrdiff_t k = t * 4 * NH + n * 4 * H + h;
dz[k] = d * tc * o * (one - o);
dz[k + H] = dct * g * ig * (one - ig);
dz[k + 2 * H] = dct * cp * f * (one - f);
dz[k + 3 * H] = dct * ig * (one - g * g);
dc[i] = dct * f;
"""


class _LSTMStep:
    """One LSTM step's gate arithmetic, forward and backward, each one kernel launch."""

    def __init__(self, cp, dtype):
        self.fwd = cp.ElementwiseKernel(
            "raw T Z, int64 t, int64 N, int64 H, int64 K, int64 D", "raw T A, raw T X",
            _LSTM_FORWARD, "lamina_lstm_step_forward")
        self.bwd = cp.ElementwiseKernel(
            "raw T A, raw T dh, int64 t, int64 N, int64 H", "raw T dc, raw T dz",
            _LSTM_BACKWARD, "lamina_lstm_step_backward")
        self._smoke(cp, dtype)

    def forward(self, Z, acts, xh, t):
        """Step t from its products ``Z`` (4, N, H): the gates into acts[t, :4], c_t into
        acts[t + 1, 4] and h_t into xh[t + 1, :, D + 1:]."""
        _, _, N, H = acts.shape
        K = xh.shape[2]
        self.fwd(Z, t, N, H, K, K - 1 - H, acts, xh, size=N * H)

    def backward(self, acts, dh, dc, dz, t):
        """Step t's pre-activation gradients into dz[t] (N, 4H) and dc_{t-1} into ``dc``
        (see :func:`lamina.ops.kernels.lstm_step_backward` for the formulas)."""
        _, _, N, H = acts.shape
        self.bwd(acts, dh, t, N, H, dc, dz, size=N * H)

    def _smoke(self, cp, dtype):
        """Compile for ``dtype`` and check both kernels against CuPy's own calls on a tiny
        two-step case (raises on a mismatch, which turns the kernels off)."""
        T, N, H, D = 2, 3, 5, 4
        K = D + 1 + H
        rng = cp.random.default_rng(0)
        Z = rng.standard_normal((4, N, H)).astype(dtype)
        acts = rng.standard_normal((T + 1, 5, N, H)).astype(dtype)
        xh = rng.standard_normal((T + 1, N, K)).astype(dtype)
        ref_a, ref_x = acts.copy(), xh.copy()
        t = 1
        ref_a[t, :3] = cp.tanh(Z[:3]) * 0.5 + 0.5
        ref_a[t, 3] = cp.tanh(Z[3])
        o, i, f, g, cprev = ref_a[t]
        ref_a[t + 1, 4] = i * g + f * cprev
        ref_x[t + 1, :, D + 1:] = o * cp.tanh(ref_a[t + 1, 4])
        self.forward(Z, acts, xh, t)
        dh = rng.standard_normal((N, H)).astype(dtype)
        dc = rng.standard_normal((N, H)).astype(dtype)
        dz = cp.zeros((T, N, 4 * H), dtype)
        dc_in = dc.copy()
        self.backward(acts, dh, dc, dz, t)
        tc = cp.tanh(ref_a[t + 1, 4])
        dct = dc_in + dh * o * (1 - tc * tc)
        dz_ref = cp.zeros((T, N, 4 * H), dtype)
        dz_ref[t] = cp.concatenate([dh * tc * o * (1 - o), dct * g * i * (1 - i),
                                    dct * cprev * f * (1 - f), dct * i * (1 - g * g)], axis=1)
        tol = 1e-5 if dtype == "float32" else 1e-12
        for got, want in ((acts, ref_a), (xh, ref_x), (dz, dz_ref), (dc, dct * f)):
            if not bool(cp.allclose(got, want, rtol=tol, atol=tol)):
                raise AssertionError("the fused LSTM step disagrees with CuPy's calls")


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


# ------------------------------------------------------------------- row kernels
# One warp (32 threads) per row of a C-contiguous (M, D) array: each thread strides over
# the row, and the row's sums meet through warp shuffles.  ``T`` is the float type; the
# sums are kept in it too (as CuPy's own float32 reductions do).
_ROWS_PER_BLOCK = 8
_ROW_KERNELS = r"""
__device__ __forceinline__ T warp_sum(T v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ T warp_max(T v) {
    for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Layer norm over each row: xhat = (x - mean) / sqrt(var + eps), y = xhat * gamma + beta.
extern "C" __global__ void lamina_layer_norm_forward(
        const T* x, const T* gamma, const T* beta, T* y, T* xhat, T* mean, T* var,
        T* rstd, long long M, long long D, T eps, int has_g, int has_b) {
    long long row = (long long)blockIdx.x * blockDim.y + threadIdx.y;
    if (row >= M) return;
    int lane = threadIdx.x;
    const T* xr = x + row * D;
    T s = 0;
    for (long long j = lane; j < D; j += 32) s += xr[j];
    T mu = warp_sum(s) / (T)D;
    T v = 0;
    for (long long j = lane; j < D; j += 32) { T d = xr[j] - mu; v += d * d; }
    v = warp_sum(v) / (T)D;
    T r = (T)1 / sqrt(v + eps);
    T* yr = y + row * D;
    T* hr = xhat + row * D;
    for (long long j = lane; j < D; j += 32) {
        T h = (xr[j] - mu) * r;
        hr[j] = h;
        T o = has_g ? h * gamma[j] : h;
        yr[j] = has_b ? o + beta[j] : o;
    }
    if (lane == 0) { mean[row] = mu; var[row] = v; rstd[row] = r; }
}

// Its input gradient: dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) * rstd,
// dxhat = g * gamma.
extern "C" __global__ void lamina_layer_norm_backward(
        const T* g, const T* xhat, const T* gamma, const T* rstd, T* dx, long long M,
        long long D, int has_g) {
    long long row = (long long)blockIdx.x * blockDim.y + threadIdx.y;
    if (row >= M) return;
    int lane = threadIdx.x;
    const T* gr = g + row * D;
    const T* hr = xhat + row * D;
    T s1 = 0, s2 = 0;
    for (long long j = lane; j < D; j += 32) {
        T d = has_g ? gr[j] * gamma[j] : gr[j];
        s1 += d;
        s2 += d * hr[j];
    }
    s1 = warp_sum(s1) / (T)D;
    s2 = warp_sum(s2) / (T)D;
    T r = rstd[row];
    T* out = dx + row * D;
    for (long long j = lane; j < D; j += 32) {
        T d = has_g ? gr[j] * gamma[j] : gr[j];
        out[j] = (d - s1 - hr[j] * s2) * r;
    }
}

// Softmax cross-entropy of each row of logits z against a class id: loss = lse - z[t],
// lse = log(sum(exp(z))) (shifted by the row's max); lse is kept for the backward.
extern "C" __global__ void lamina_softmax_ce_forward(
        const T* z, const long long* target, T* loss, T* lse, long long M, long long C) {
    long long row = (long long)blockIdx.x * blockDim.y + threadIdx.y;
    if (row >= M) return;
    int lane = threadIdx.x;
    const T* zr = z + row * C;
    T m = zr[0];        // a start that cannot exceed the row's max (lanes past C keep it)
    for (long long j = lane; j < C; j += 32) m = fmax(m, zr[j]);
    m = warp_max(m);
    T s = 0;
    for (long long j = lane; j < C; j += 32) s += exp(zr[j] - m);
    s = warp_sum(s);
    if (lane == 0) {
        T l = log(s) + m;
        lse[row] = l;
        loss[row] = l - zr[target[row]];
    }
}

// Its gradient: dz = (softmax(z) - onehot(t)) * scale[row * scale_step] (scale_step 0:
// one scale for all rows, 1: one per row).
extern "C" __global__ void lamina_softmax_ce_backward(
        const T* z, const long long* target, const T* lse, const T* scale, T* dz,
        long long M, long long C, long long scale_step) {
    long long row = (long long)blockIdx.x * blockDim.y + threadIdx.y;
    if (row >= M) return;
    int lane = threadIdx.x;
    const T* zr = z + row * C;
    T* out = dz + row * C;
    T l = lse[row], k = scale[row * scale_step];
    long long t = target[row];
    for (long long j = lane; j < C; j += 32) {
        T p = exp(zr[j] - l);
        out[j] = (j == t ? p - (T)1 : p) * k;
    }
}
"""


class _RowKernels:
    """Layer norm and sparse softmax cross-entropy over rows, each pass one launch."""

    def __init__(self, cp, dtype):
        ctype = {"float32": "float", "float64": "double"}[dtype]
        src = f"typedef {ctype} T;\n" + _ROW_KERNELS
        self.cp, self.dtype = cp, cp.dtype(dtype)
        mod = cp.RawModule(code=src, options=("-std=c++11",))
        self._ln_f = mod.get_function("lamina_layer_norm_forward")
        self._ln_b = mod.get_function("lamina_layer_norm_backward")
        self._ce_f = mod.get_function("lamina_softmax_ce_forward")
        self._ce_b = mod.get_function("lamina_softmax_ce_backward")
        self._smoke()

    def _launch(self, fn, M, args):
        grid = ((M + _ROWS_PER_BLOCK - 1) // _ROWS_PER_BLOCK,)
        if M:
            fn(grid, (32, _ROWS_PER_BLOCK), args)

    def layer_norm(self, x2, gamma, beta, eps):
        """x2 (M, D) C-contiguous; gamma, beta (D,) or None.  Returns y, xhat (M, D) and
        mean, var, rstd (M,)."""
        cp, M, D = self.cp, x2.shape[0], x2.shape[1]
        y, xhat = cp.empty_like(x2), cp.empty_like(x2)
        mean, var, rstd = (cp.empty(M, x2.dtype) for _ in range(3))
        g = x2 if gamma is None else cp.ascontiguousarray(gamma)
        b = x2 if beta is None else cp.ascontiguousarray(beta)
        self._launch(self._ln_f, M, (x2, g, b, y, xhat, mean, var, rstd, cp.int64(M),
                                     cp.int64(D), self.dtype.type(eps),
                                     cp.int32(gamma is not None), cp.int32(beta is not None)))
        return y, xhat, mean, var, rstd

    def layer_norm_grad(self, g2, xhat, gamma, rstd):
        """dx (M, D) from the output gradient g2 (M, D) C-contiguous."""
        cp, M, D = self.cp, g2.shape[0], g2.shape[1]
        dx = cp.empty_like(g2)
        gm = g2 if gamma is None else cp.ascontiguousarray(gamma)
        self._launch(self._ln_b, M, (g2, xhat, gm, rstd, dx, cp.int64(M), cp.int64(D),
                                     cp.int32(gamma is not None)))
        return dx

    def softmax_ce(self, z2, t):
        """z2 (M, C) C-contiguous logits, t (M,) int64 class ids in range.  Returns the
        per-row losses and log-sum-exps (M,)."""
        cp, M, C = self.cp, z2.shape[0], z2.shape[1]
        loss, lse = cp.empty(M, z2.dtype), cp.empty(M, z2.dtype)
        self._launch(self._ce_f, M, (z2, t, loss, lse, cp.int64(M), cp.int64(C)))
        return loss, lse

    def softmax_ce_grad(self, z2, t, lse, scale):
        """(softmax(z2) - onehot(t)) * scale, scale a (M,) array or a 1-element array."""
        cp, M, C = self.cp, z2.shape[0], z2.shape[1]
        dz = cp.empty_like(z2)
        scale = cp.ascontiguousarray(scale, dtype=z2.dtype).reshape(-1)
        self._launch(self._ce_b, M, (z2, t, lse, scale, dz, cp.int64(M), cp.int64(C),
                                     cp.int64(0 if scale.size == 1 else 1)))
        return dz

    def _smoke(self):
        """Check all four kernels against CuPy's calls on small rows (odd sizes, rows
        longer than a warp) before any op uses them."""
        cp, dt = self.cp, self.dtype
        rng = cp.random.default_rng(0)
        tol = 1e-5 if dt == cp.float32 else 1e-12
        x = rng.standard_normal((5, 37)).astype(dt) * 3
        gam, bet = rng.standard_normal(37).astype(dt), rng.standard_normal(37).astype(dt)
        y, xhat, mean, var, rstd = self.layer_norm(x, gam, bet, 1e-5)
        mu, v = x.mean(1, keepdims=True), x.var(1, keepdims=True)
        h = (x - mu) / cp.sqrt(v + 1e-5)
        g = rng.standard_normal((5, 37)).astype(dt)
        dh = g * gam
        dx = (dh - dh.mean(1, keepdims=True) - h * (dh * h).mean(1, keepdims=True)) / \
            cp.sqrt(v + 1e-5)
        z = rng.standard_normal((6, 41)).astype(dt) * 4
        t = cp.asarray([0, 40, 3, 17, 17, 9], dtype=cp.int64)
        loss, lse = self.softmax_ce(z, t)
        ref_lse = cp.log(cp.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
        p = cp.exp(z - ref_lse[:, None])
        p[cp.arange(6), t] -= 1
        sc = rng.standard_normal(6).astype(dt)
        checks = ((y, h * gam + bet), (xhat, h), (mean, mu[:, 0]), (var, v[:, 0]),
                  (self.layer_norm_grad(g, xhat, gam, rstd), dx),
                  (loss, ref_lse - z[cp.arange(6), t]), (lse, ref_lse),
                  (self.softmax_ce_grad(z, t, lse, sc), p * sc[:, None]),
                  (self.softmax_ce_grad(z, t, lse, sc[:1]), p * sc[0]))
        for k, (got, want) in enumerate(checks):
            if not bool(cp.allclose(got, want, rtol=tol, atol=tol)):
                raise AssertionError(f"row kernel check {k} disagrees with CuPy's calls")


def row_kernels(xp, dtype):
    """Layer norm and sparse softmax cross-entropy kernels for CuPy arrays of ``dtype``, or
    None (NumPy arrays, other dtypes, kernels off or failed)."""
    return _checked("rows", _RowKernels, xp, dtype)
