"""lamina.ops.kernels: the LSTM and GRU step kernels compute the NumPy path's formulas, and
the ops give the same results with and without them (numba optional)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import lamina as lm
from lamina.ops import kernels
from lamina.ops.recurrent import gru, lstm

try:
    import numba  # noqa: F401
    HAVE_NUMBA = True
except ImportError:
    HAVE_NUMBA = False
needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="numba (pip install lamina[jit]) absent")


def _step_arrays(dtype, N=3, H=5, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-0.9, 0.9, (5, N, H)).astype(dtype)
    return a, rng


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plain_python_kernels_follow_the_formulas(dtype):
    # the kernels as written (no compiler involved) against the formulas in NumPy
    a, rng = _step_arrays(dtype)
    ref = a.astype(np.float64)
    c_new = np.empty(a.shape[1:], dtype)
    kernels.lstm_step_forward(a, c_new)
    sig = (1 + ref[:3]) / 2
    np.testing.assert_allclose(a[:3], sig, rtol=1e-6)
    np.testing.assert_allclose(c_new, sig[1] * ref[3] + sig[2] * ref[4], rtol=1e-5, atol=1e-6)

    o, i, f, g, cp = (a[k].astype(np.float64) for k in range(5))
    tc = np.tanh(c_new)
    dh = rng.standard_normal(c_new.shape).astype(dtype)
    dc = rng.standard_normal(c_new.shape).astype(dtype)
    dz = np.empty((c_new.shape[0], 4 * c_new.shape[1]), dtype)
    dct = dc + dh * o * (1 - tc.astype(np.float64) ** 2)
    want = np.concatenate([dh * tc * o * (1 - o), dct * g * i * (1 - i),
                           dct * cp * f * (1 - f), dct * i * (1 - g * g)], axis=1)
    kernels.lstm_step_backward(a, tc, dh, dc, dz)
    np.testing.assert_allclose(dz, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dc, dct * f, rtol=1e-5, atol=1e-6)


def _lstm_results(dtype, mask, go_backwards, sequences):
    r = np.random.default_rng(1)
    t = lambda *s: lm.tensor(r.standard_normal(s).astype(dtype), requires_grad=True)  # noqa
    x, h0, c0 = t(4, 7, 5), t(4, 6), t(4, 6)
    k, u, b = t(5, 24), t(6, 24), t(24)
    y, h, c = lstm(x, h0, c0, k, u, b, mask=mask, go_backwards=go_backwards,
                   return_sequences=sequences)
    (y.sum() * 0.3 + (h * h).sum() + c.sum() * 2).backward()
    return [y.numpy(), h.numpy(), c.numpy()] + [p.grad.numpy() for p in (x, h0, c0, k, u, b)]


def _assert_kernels_change_nothing(kernels_of, results, dtype):
    """``results()`` with the compiled kernels (``kernels_of`` must find them) and with the
    NumPy code agree to rounding."""
    prev = kernels.set_enabled(True)
    try:
        assert kernels_of(np.dtype(dtype)) is not None
        jit = results()
        kernels.set_enabled(False)
        assert kernels_of(np.dtype(dtype)) is None
        ref = results()
    finally:
        kernels.set_enabled(prev)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for got, want in zip(jit, ref):
        # NaN where the inputs hold one (equal_nan): the scale ignores them
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.nanmax(np.abs(want)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plain_python_gru_kernels_follow_the_formulas(dtype):
    rng = np.random.default_rng(3)
    N, H = 3, 4
    xz = rng.standard_normal((N, 3 * H)).astype(dtype)
    hu = rng.standard_normal((N, 3 * H)).astype(dtype)
    b = rng.standard_normal(3 * H).astype(dtype)
    hp = rng.standard_normal((N, H)).astype(dtype)
    zr, rec, hh, hn = (np.empty((N, 2 * H), dtype), np.empty((N, H), dtype),
                       np.empty((N, H), dtype), np.empty((N, H), dtype))
    kernels.gru_gates_in(xz, hu, b, zr, rec)
    np.tanh(zr, out=zr)
    kernels.gru_candidate_in(zr, rec, xz, hh)
    np.tanh(hh, out=hh)
    kernels.gru_state_out(hp, hh, zr, hn)
    sig = 1 / (1 + np.exp(-(xz[:, :2 * H] + hu[:, :2 * H] + b[:2 * H]).astype(np.float64)))
    z, r = sig[:, :H], sig[:, H:]
    recw = hu[:, 2 * H:] + b[2 * H:]
    cand = np.tanh(r * recw + xz[:, 2 * H:])
    tol = dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(zr, sig, **tol)
    np.testing.assert_allclose(rec, recw, **tol)
    np.testing.assert_allclose(hn, cand + z * (hp - cand), **tol)

    dh = rng.standard_normal((N, H)).astype(dtype)
    d, e, dhz = (np.empty((N, 3 * H), dtype), np.empty((N, 3 * H), dtype),
                 np.empty((N, H), dtype))
    kernels.gru_step_backward(dh, zr, hh, hp, rec, d, e, dhz)
    z, r, c = zr[:, :H].astype(np.float64), zr[:, H:].astype(np.float64), hh.astype(np.float64)
    dpre = dh * (1 - z) * (1 - c * c)
    dz = dh * (hp - c) * z * (1 - z)
    dr = dpre * rec * r * (1 - r)
    np.testing.assert_allclose(d, np.concatenate([dz, dr, dpre], axis=1), **tol)
    np.testing.assert_allclose(e, np.concatenate([dz, dr, dpre * r], axis=1), **tol)
    np.testing.assert_allclose(dhz, dh * z, **tol)


def _gru_results(dtype, mask, go_backwards, with_bias):
    r = np.random.default_rng(4)
    t = lambda *s: lm.tensor(r.standard_normal(s).astype(dtype), requires_grad=True)  # noqa
    x, h0, k, u = t(4, 7, 5), t(4, 6), t(5, 18), t(6, 18)
    b = t(2, 18) if with_bias else None
    y, h = gru(x, h0, k, u, b, mask=mask, go_backwards=go_backwards)
    (y.sum() * 0.3 + (h * h).sum()).backward()
    ps = (x, h0, k, u) + ((b,) if with_bias else ())
    return [y.numpy(), h.numpy()] + [p.grad.numpy() for p in ps]


@needs_numba
@pytest.mark.parametrize("op", ["lstm", "gru"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("variant", [True, False])     # LSTM: return_sequences; GRU: a bias
def test_ops_with_and_without_the_kernels_agree(op, dtype, masked, go_backwards, variant):
    mask = np.random.default_rng(2).random((4, 7)) > 0.3 if masked else None
    results = _lstm_results if op == "lstm" else _gru_results
    _assert_kernels_change_nothing(
        kernels.lstm_kernels if op == "lstm" else kernels.gru_kernels,
        lambda: results(dtype, mask, go_backwards, variant), dtype)


@needs_numba
def test_kernels_propagate_nan_like_numpy():
    # compiled without fastmath: a NaN stays a NaN
    a, rng = _step_arrays(np.float32)
    a[3, 0, 0] = np.nan
    prev = kernels.set_enabled(True)
    try:
        fwd = kernels.lstm_kernels(np.dtype(np.float32))
    finally:
        kernels.set_enabled(prev)
    c_new = np.empty(a.shape[1:], np.float32)
    fwd.forward(a, c_new)
    assert np.isnan(c_new[0, 0]) and np.isfinite(np.delete(c_new.ravel(), 0)).all()


def test_lamina_jit_0_turns_the_kernels_off():
    code = ("import numpy as np; from lamina.ops import kernels; "
            "print(kernels.lstm_kernels(np.dtype('float32')) is None)")
    env = dict(os.environ, LAMINA_JIT="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "True"


def _reference_max_pool(x, ph, pw, sh, sw, out):
    """Each window's maximum and the row-major offset of its first maximum (-1 for a NaN
    window), by plain loops."""
    N, C = x.shape[0], x.shape[3]
    y = np.empty((N,) + out + (C,), x.dtype)
    arg = np.empty(y.shape, np.int32)
    for n in range(N):
        for oh in range(out[0]):
            for ow in range(out[1]):
                for c in range(C):
                    win = x[n, oh * sh:oh * sh + ph, ow * sw:ow * sw + pw, c].ravel()
                    if np.isnan(win).any():
                        y[n, oh, ow, c], arg[n, oh, ow, c] = np.nan, -1
                    else:
                        arg[n, oh, ow, c] = int(np.argmax(win))     # the first maximum
                        y[n, oh, ow, c] = win.max()
    return y, arg


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ps,st", [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((2, 3), (1, 2))])
def test_plain_python_max_pool_kernels_follow_the_definition(dtype, ps, st):
    rng = np.random.default_rng(5)
    x = rng.integers(-2, 3, (2, 7, 8, 3)).astype(dtype)       # small integers: many ties
    x[1, 2, 3, 1] = np.nan
    x[0, 0, 0, 0] = -np.inf
    out = ((7 - ps[0]) // st[0] + 1, (8 - ps[1]) // st[1] + 1)
    y = np.empty((2,) + out + (3,), dtype)
    arg = np.empty(y.shape, np.int32)
    kernels.max_pool_forward(x, ps[0], ps[1], st[0], st[1], y, arg)
    want_y, want_arg = _reference_max_pool(x, ps[0], ps[1], st[0], st[1], out)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(arg, want_arg)

    g = rng.standard_normal(y.shape).astype(dtype)
    gx = np.zeros_like(x)
    kernels.max_pool_backward(g, arg, ps[0], ps[1], st[0], st[1], gx, False)
    want = np.zeros_like(x)
    for idx in np.ndindex(*y.shape):
        k = want_arg[idx]
        if k >= 0:
            n, oh, ow, c = idx
            want[n, oh * st[0] + k // ps[1], ow * st[1] + k % ps[1], c] += g[idx]
    np.testing.assert_allclose(gx, want, rtol=1e-6)
    if ps == st:        # tiling windows: every covered pixel written, the rest untouched
        full = np.full_like(x, 7.0)
        kernels.max_pool_backward(g, arg, ps[0], ps[1], st[0], st[1], full, True)
        h, w = out[0] * st[0], out[1] * st[1]
        np.testing.assert_allclose(full[:, :h, :w], want[:, :h, :w], rtol=1e-6)
        assert (full[:, h:] == 7).all() and (full[:, :, w:] == 7).all()


def _pool_results(dtype, kind):
    from lamina.ops import conv as C, pooling as P
    r = np.random.default_rng(6)
    if kind == "after_relu":
        x = lm.tensor(r.standard_normal((2, 9, 9, 3)).astype(dtype), requires_grad=True)
        k = lm.tensor(r.standard_normal((3, 3, 3, 4)).astype(dtype), requires_grad=True)
        b = lm.tensor(r.standard_normal(4).astype(dtype), requires_grad=True)
        y = P.max_pool2d(C.conv2d_relu(x, k, b), 2)
        ps = (x, k, b)
    else:
        a = r.integers(-3, 4, (2, 9, 10, 3)).astype(dtype)       # ties
        a[0, 4, 5, 2] = np.nan
        x = lm.tensor(a, requires_grad=True)
        ps = (x,)
        if kind == "tiled":
            y = P.max_pool2d(x, 2)
        elif kind == "overlapping_same":
            y = P.max_pool2d(x, 3, strides=2, padding="same")
        else:
            y = P.max_pool1d(x[:, 0], 3, strides=2)
    u = r.standard_normal(y.shape).astype(dtype)
    (y * lm.tensor(u)).sum().backward()
    return [y.numpy()] + [p.grad.numpy() for p in ps]


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["tiled", "overlapping_same", "one_d", "after_relu"])
def test_max_pool_with_and_without_the_kernels_agree(dtype, kind):
    _assert_kernels_change_nothing(kernels.pool_kernels, lambda: _pool_results(dtype, kind),
                                   dtype)


def test_max_pool_kernel_sends_a_non_finite_gradient_to_one_pixel():
    # as PyTorch's index-based scatter: the window's other pixels get zero, not inf * 0
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    y, arg = np.empty((1, 2, 2, 1), np.float32), np.empty((1, 2, 2, 1), np.int32)
    kernels.max_pool_forward(x, 2, 2, 2, 2, y, arg)
    g = np.ones_like(y)
    g[0, 0, 0, 0] = np.inf
    for write_all in (True, False):
        gx = np.zeros_like(x)
        kernels.max_pool_backward(g, arg, 2, 2, 2, 2, gx, write_all)
        assert np.isinf(gx).sum() == 1 and np.isinf(gx[0, 1, 1, 0])
        assert np.isfinite(gx).sum() == 15 and gx[np.isfinite(gx)].sum() == 3


def test_plain_python_col2im_follows_the_definition():
    # every window pixel's column gradient lands on its image pixel, adding up where
    # windows overlap, with strides, dilation and a shifted canvas
    rng = np.random.default_rng(8)
    m, ho, wo, kh, kw, C = 2, 3, 4, 2, 3, 5
    sh, sw, dh, dw, oh, ow = 2, 1, 1, 2, 1, 0
    cols = rng.standard_normal((m * ho * wo, kh * kw * C))
    H, W = oh + (ho - 1) * sh + (kh - 1) * dh + 1, ow + (wo - 1) * sw + (kw - 1) * dw + 1
    gx = np.zeros((m + 1, H, W, C))
    kernels.col2im_add(cols, gx, 1, ho, wo, kh, kw, sh, sw, dh, dw, oh, ow)
    want = np.zeros_like(gx)
    for i in range(m):
        for y in range(ho):
            for x in range(wo):
                for a in range(kh):
                    for b in range(kw):
                        want[1 + i, oh + y * sh + a * dh, ow + x * sw + b * dw] += \
                            cols[(i * ho + y) * wo + x, (a * kw + b) * C:(a * kw + b + 1) * C]
    np.testing.assert_allclose(gx, want, rtol=1e-12)
    assert not gx[0].any()      # images before n0 untouched


def _conv_results(dtype, kind):
    from lamina.ops import conv as C
    r = np.random.default_rng(9)
    t = lambda *s: lm.tensor(r.standard_normal(s).astype(dtype), requires_grad=True)  # noqa
    if kind == "conv1d":
        x, k, b = t(3, 11, 4), t(3, 4, 6), t(6)
        y = C.conv1d(x, k, b, strides=2, padding="same")
    else:
        x, k, b = t(3, 10, 9, 5), t(3, 3, 5, 6), t(6)
        if kind == "valid":
            y = C.conv2d(x, k, b)
        elif kind == "strided_same":
            y = C.conv2d(x, k, b, strides=2, padding="same")
        elif kind == "dilated":
            y = C.conv2d(x, k, b, padding="same", dilation_rate=2)
        else:
            y = C.conv2d_relu(x, k, b, strides=(1, 2))
    u = r.standard_normal(y.shape).astype(dtype)
    (y * lm.tensor(u)).sum().backward()
    return [y.numpy()] + [p.grad.numpy() for p in (x, k, b)]


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["valid", "strided_same", "dilated", "relu", "conv1d"])
def test_conv_data_gradient_with_and_without_the_kernel_agrees(dtype, kind):
    _assert_kernels_change_nothing(kernels.conv_kernels, lambda: _conv_results(dtype, kind),
                                   dtype)


@pytest.mark.parametrize("family", ["lstm", "gru", "pool", "conv"])
@pytest.mark.parametrize("dtype", [np.float16, np.int32, np.complex64])
def test_kernels_are_offered_for_float32_and_float64_only(family, dtype):
    prev = kernels.set_enabled(True)
    try:
        assert getattr(kernels, f"{family}_kernels")(np.dtype(dtype)) is None
    finally:
        kernels.set_enabled(prev)


# ---------------------------------------------------------------- layer norm
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plain_python_layer_norm_kernels_follow_the_formulas(dtype):
    rng = np.random.default_rng(7)
    N, D = 5, 6
    x = (rng.standard_normal((N, D)) * 3 + 1).astype(dtype)
    gamma, beta = rng.standard_normal(D).astype(dtype), rng.standard_normal(D).astype(dtype)
    y, xhat, stats = np.empty_like(x), np.empty_like(x), np.empty((3, N), dtype)
    kernels.layer_norm_forward(x, gamma, beta, dtype(1e-3), y, xhat, stats)
    x64 = x.astype(np.float64)
    mean, var = x64.mean(axis=1), x64.var(axis=1)
    want_xhat = (x64 - mean[:, None]) / np.sqrt(var[:, None] + 1e-3)
    tol = dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xhat, want_xhat, **tol)
    np.testing.assert_allclose(y, want_xhat * gamma + beta, **tol)
    np.testing.assert_allclose(stats, [mean, var, 1 / np.sqrt(var + 1e-3)], **tol)

    g = rng.standard_normal((N, D)).astype(dtype)
    dx = np.empty_like(x)
    dgamma, dbeta = np.full(D, 2, dtype), np.full(D, -1, dtype)    # the kernel adds to them
    kernels.layer_norm_backward(g, xhat, gamma, stats[2], dx, dgamma, dbeta)
    dxhat = g * gamma.astype(np.float64)
    want_dx = (dxhat - dxhat.mean(axis=1, keepdims=True)
               - want_xhat * (dxhat * want_xhat).mean(axis=1, keepdims=True)) \
        / np.sqrt(var[:, None] + 1e-3)
    np.testing.assert_allclose(dx, want_dx, **tol)
    np.testing.assert_allclose(dgamma, 2 + (g * want_xhat).sum(axis=0), **tol)
    np.testing.assert_allclose(dbeta, -1 + g.sum(axis=0), **tol)


def _layer_norm_results(dtype, affine, strided, nan=False):
    from lamina.nn.layers.normalization import normalize_affine
    r = np.random.default_rng(8)
    raw = (r.standard_normal((3, 4, 14)) * 2 + 0.5).astype(dtype)
    if nan:
        raw[1, 2, 4] = np.nan                         # one row of NaN, the rest finite
    x = lm.tensor(raw[..., ::2] if strided else raw[..., :7], requires_grad=True)
    t = lambda: lm.tensor(r.standard_normal(7).astype(dtype), requires_grad=True)  # noqa
    gamma = t() if affine in ("both", "gamma") else None
    beta = t() if affine in ("both", "beta") else None
    y, mean, var = normalize_affine(x, gamma, beta, (2,), 1e-3)
    (y * lm.tensor(r.standard_normal(y.shape).astype(dtype))).sum().backward()
    ps = [p for p in (x, gamma, beta) if p is not None]
    return [y.numpy(), mean, var] + [p.grad.numpy() for p in ps]


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", ["both", "gamma", "beta", "none"])
@pytest.mark.parametrize("strided", [False, True])
def test_layer_norm_with_and_without_the_kernels_agree(dtype, affine, strided):
    _assert_kernels_change_nothing(kernels.norm_kernels,
                                   lambda: _layer_norm_results(dtype, affine, strided), dtype)


@needs_numba
def test_layer_norm_kernel_keeps_a_nan_in_its_row():
    # reassociated sums only: a NaN still spreads over its row (and into d gamma, d beta),
    # never into the other rows
    prev = kernels.set_enabled(True)
    try:
        assert kernels.norm_kernels(np.dtype(np.float32)) is not None
        got = _layer_norm_results(np.float32, "both", False, nan=True)
    finally:
        kernels.set_enabled(prev)
    y, dx = got[0], got[3]
    assert np.isnan(y[1, 2]).all() and np.isnan(dx[1, 2]).all()
    finite = np.ones(y.shape[:2], bool)
    finite[1, 2] = False
    assert np.isfinite(y[finite]).all() and np.isfinite(dx[finite]).all()


# ------------------------------------------------------- compiled LSTM time loops
def _have_loops():
    prev = kernels.set_enabled(True)
    try:
        return kernels.lstm_loop_kernels(np.dtype(np.float32)) is not None
    finally:
        kernels.set_enabled(prev)


needs_loops = pytest.mark.skipif(not HAVE_NUMBA or not _have_loops(),
                                 reason="numba and MKL (lamina[jit,mkl]) absent")


@pytest.fixture
def jit_on():
    """The compiled kernels switched on for the test (LAMINA_JIT=0 may have them off)."""
    prev = kernels.set_enabled(True)
    yield
    kernels.set_enabled(prev)


def _compiled_then_numpy(monkeypatch, accessor, part_args, n_threads, run):
    """``run()`` with the compiled loops of ``kernels.<accessor>`` (recording the batch
    parts, ``part_args`` of each forward call) and again without them, on ``n_threads``
    threads: (the parts, the compiled results, the NumPy results), the results checked
    equal to float32 rounding."""
    from lamina.ops import threads
    prev = threads.set_num_threads(n_threads)
    try:
        loops = getattr(kernels, accessor)(np.dtype(np.float32))
        parts = []
        real = loops.forward
        monkeypatch.setattr(loops, "forward", lambda *a: (parts.append(a[part_args]),
                                                         real(*a))[1])
        got = run()
        monkeypatch.setattr(kernels, accessor, lambda *a: None)
        want = run()
    finally:
        threads.set_num_threads(prev)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 * np.abs(w).max())
    return sorted(parts)


def _lstm_big(sequences, with_state, go_backwards, N=37):
    r = np.random.default_rng(6)
    t = lambda *s: lm.tensor((r.standard_normal(s) * 0.3).astype(np.float32),  # noqa
                             requires_grad=True)
    x, k, u, b = t(N, 9, 7), t(7, 80), t(20, 80), t(80)
    h0, c0 = (t(N, 20), t(N, 20)) if with_state else (None, None)
    y, h, c = lstm(x, h0, c0, k, u, b, go_backwards=go_backwards,
                   return_sequences=sequences)
    (y.sum() * 0.3 + (h * h).sum() + c.sum() * 2).backward()
    ps = [x, k, u, b] + ([h0, c0] if with_state else [])
    return [y.numpy(), h.numpy(), c.numpy()] + [p.grad.numpy() for p in ps]


@needs_loops
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("sequences", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_compiled_lstm_loops_agree_with_the_step_kernels(jit_on, monkeypatch, n_threads,
                                                         sequences, with_state,
                                                         go_backwards):
    parts = _compiled_then_numpy(monkeypatch, "lstm_loop_kernels", slice(3, 5), n_threads,
                                 lambda: _lstm_big(sequences, with_state, go_backwards))
    # the batch of 37 rows in one part, or two parts of 18 and 19 rows on two threads
    assert parts == ([(0, 37)] if n_threads == 1 else [(0, 18), (18, 37)])


@needs_loops
def test_compiled_lstm_loops_are_float32_unmasked_and_mkl_only(jit_on, monkeypatch):
    from lamina.ops import blas
    used = []
    loops = kernels.lstm_loop_kernels(np.dtype(np.float32))
    real = loops.forward
    monkeypatch.setattr(loops, "forward", lambda *a: (used.append(1), real(*a))[1])
    r = np.random.default_rng(7)
    for dtype, mask in ((np.float64, None), (np.float32, r.random((4, 5)) > 0.3)):
        t = lambda *s: lm.tensor(r.standard_normal(s).astype(dtype))  # noqa: E731
        lstm(t(4, 5, 3), None, None, t(3, 8), t(2, 8), t(8), mask=mask)
    assert used == []
    assert kernels.lstm_loop_kernels(np.dtype(np.float64)) is None
    prev = blas.set_backend("numpy")
    try:
        assert blas.mkl_float32_functions() is None
        assert kernels.lstm_loop_kernels(np.dtype(np.float32)) is None
    finally:
        blas.set_backend(prev)


@needs_loops
def test_plain_python_lstm_loops_match_the_compiled_ones(jit_on):
    # the loops as written (calling MKL through ctypes from Python) compute what numba's
    # compiled versions compute
    compiled = kernels.lstm_loop_kernels(np.dtype(np.float32))
    r = np.random.default_rng(8)
    T, N, D, H = 3, 5, 2, 4
    K = D + 1 + H
    xh = np.zeros((T + 1, N, K), np.float32)
    xh[:T, :, :D] = r.standard_normal((T, N, D))
    xh[:, :, D] = 1
    WU = (r.standard_normal((K, 4 * H)) * 0.5).astype(np.float32)
    gseq = r.standard_normal((N, T, H)).astype(np.float32)
    res = []
    plain = [lambda *a, f=f: f(*a, compiled.mkl)      # MKL's addresses, as bound
             for f in (kernels.lstm_forward_loop, kernels.lstm_backward_loop)]
    for fwd, bwd in ((compiled.forward, compiled.backward), plain):
        x, acts = xh.copy(), np.zeros((T + 1, 5, N, H), np.float32)
        acts[0, 4] = 0.5
        fwd(x, WU, acts, 1, N, np.empty((N - 1, 4 * H), np.float32),
            np.empty((N - 1, H), np.float32))
        dh, dc = np.ones((N, H), np.float32), np.full((N, H), 0.5, np.float32)
        dz = np.zeros((T, N, 4 * H), np.float32)
        bwd(acts, dh, dc, gseq, dz, WU[D + 1:].T.copy(), 1, N, np.empty((N - 1, H), np.float32))
        res.append((x, acts, dh, dc, dz))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    x = res[0][0]
    assert (x[:, 0] == xh[:, 0]).all()          # row 0 was not in the part (1 .. N - 1)


# ------------------------------------------------------- compiled attention loops
def _have_attention_loops():
    prev = kernels.set_enabled(True)
    try:
        return kernels.attention_loop_kernels(np.dtype(np.float32)) is not None
    finally:
        kernels.set_enabled(prev)


needs_attention_loops = pytest.mark.skipif(not HAVE_NUMBA or not _have_attention_loops(),
                                           reason="numba and MKL (lamina[jit,mkl]) absent")


def _attention_big(causal, B=9, T=13, NH=3, hd=5):
    from lamina.ops.attention import qkv_attention
    r = np.random.default_rng(9)
    qkv = lm.tensor(r.standard_normal((B, T, 3 * NH * hd)).astype(np.float32),
                    requires_grad=True)
    g = r.standard_normal((B, T, NH * hd)).astype(np.float32)
    y = qkv_attention(qkv, NH, causal=causal)
    y.backward(lm.tensor(g))
    return y.numpy(), qkv.grad.numpy()


def _forced_parts(monkeypatch, n_threads):
    """The compiled loops for these small cases (below the size that goes to them), and
    two batch parts on two threads (below the size the op splits), to test the split
    itself."""
    from lamina.ops import attention
    monkeypatch.setattr(attention, "COMPILED_MIN_SCORES", 0)
    if n_threads == 2:
        monkeypatch.setattr(attention, "_batch_parts",
                            lambda xp, B, per: [(0, B // 2), (B // 2, B)])


@needs_attention_loops
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("causal", [False, True])
def test_compiled_attention_loops_agree_with_numpy(jit_on, monkeypatch, n_threads, causal):
    _forced_parts(monkeypatch, n_threads)
    parts = _compiled_then_numpy(monkeypatch, "attention_loop_kernels", slice(13, 15),
                                 n_threads, lambda: _attention_big(causal))
    assert parts == ([(0, 9)] if n_threads == 1 else [(0, 4), (4, 9)])


def _sdpa_case(kind, r):
    """q, k, v (as Keras's MultiHeadAttention makes them: heads split off (N, T, H, d)
    projections by a transpose), a mask and the other arguments, for one case."""
    from lamina.ops.attention import scaled_dot_product_attention as sdpa
    N, H, Tq, Tk, dk, dv = 5, 3, 6, 7, 4, 5
    t = lambda *s: lm.tensor(r.standard_normal(s).astype(np.float32),  # noqa: E731
                             requires_grad=True)
    mask, causal, weights = None, False, False
    if kind == "views":
        q, k, v = (t(N, T, H, d) for T, d in ((Tq, dk), (Tk, dk), (Tk, dv)))
        args = [lm.transpose(a, (0, 2, 1, 3)) for a in (q, k, v)]
        leaves = [q, k, v]
    elif kind == "three_axes":          # (N, L, d): one head
        leaves = args = [t(N, Tq, dk), t(N, Tk, dk), t(N, Tk, dv)]
    else:
        leaves = args = [t(N, H, Tq, dk), t(N, H, Tk, dk), t(N, H, Tk, dv)]
    if kind == "mask":                  # Keras's (N, 1, Tq, Tk), one query seeing no key
        mask = r.random((N, 1, Tq, Tk)) > 0.4
        mask[1, 0, 2] = False
    if kind == "causal":
        causal, weights = True, True
    res = sdpa(*args, mask=mask, causal=causal, return_weights=weights)
    y, w = res if weights else (res, None)
    y.backward(lm.tensor(r.standard_normal(y.shape).astype(np.float32)))
    return [y.numpy()] + ([w.numpy()] if weights else []) + [a.grad.numpy() for a in leaves]


@needs_attention_loops
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("kind", ["plain", "views", "three_axes", "mask", "causal"])
def test_compiled_sdpa_agrees_with_numpy(jit_on, monkeypatch, n_threads, kind):
    _forced_parts(monkeypatch, n_threads)
    parts = _compiled_then_numpy(monkeypatch, "attention_loop_kernels", slice(13, 15),
                                 n_threads, lambda: _sdpa_case(kind, np.random.default_rng(12)))
    assert len(parts) == n_threads


@needs_attention_loops
def test_compiled_attention_loops_are_float32_and_mkl_only(jit_on, monkeypatch):
    from lamina.ops import blas
    from lamina.ops.attention import qkv_attention, scaled_dot_product_attention as sdpa
    from lamina.ops import attention
    used = []
    loops = kernels.attention_loop_kernels(np.dtype(np.float32))
    real = loops.forward
    monkeypatch.setattr(loops, "forward", lambda *a: (used.append(1), real(*a))[1])
    r = np.random.default_rng(10)
    qkv = r.standard_normal((2, 4, 12))
    small = lm.tensor(qkv.astype(np.float32))
    qkv_attention(small, 2)                     # 2 x 2 x 4 x 4 scores: NumPy's
    assert used == []
    monkeypatch.setattr(attention, "COMPILED_MIN_SCORES", 0)
    mask = r.random((2, 1, 4, 4)) > 0.3
    qkv_attention(lm.tensor(qkv), 2)                                   # float64
    qkv_attention(lm.tensor(qkv.astype(np.float32)), 2, mask=mask)     # a mask: NumPy's
    q = lm.tensor(r.standard_normal((2, 2, 4, 3)).astype(np.float32))
    sdpa(q, q, q, dropout=0.5, training=True)                          # dropout
    sdpa(q, q[:1], q[:1])                                              # broadcast batch
    assert used == []
    qkv_attention(lm.tensor(qkv.astype(np.float32)), 2)
    sdpa(q, q, q, mask=mask)
    assert used == [1, 1]
    prev = blas.set_backend("numpy")
    try:
        assert kernels.attention_loop_kernels(np.dtype(np.float32)) is None
    finally:
        blas.set_backend(prev)


@needs_attention_loops
def test_plain_python_attention_loops_match_the_compiled_ones(jit_on):
    from lamina.ops.attention import _desc
    compiled = kernels.attention_loop_kernels(np.dtype(np.float32))
    r = np.random.default_rng(11)
    N, H, T, d = 3, 2, 4, 3
    q, k, v, g = (r.standard_normal((N, H, T, d)).astype(np.float32) for _ in range(4))
    allowed = np.broadcast_to((r.random((N, 1, T, T)) > 0.3).view(np.uint8), (N, H, T, T))
    desc = lambda a: _desc(a.ctypes.data, *a.strides[:3])     # noqa: E731
    res = []
    plain = [lambda *a, f=f: f(*a, compiled.mkl)
             for f in (kernels.attention_forward_loop, kernels.attention_backward_loop)]
    for fwd, bwd in ((compiled.forward, compiled.backward), plain):
        p = np.zeros((N, H, T, T), np.float32)
        y, gq, gk, gv = (np.zeros((N, H, T, d), np.float32) for _ in range(4))
        fwd(desc(q), desc(k), desc(v), desc(y), H, T, T, d, d, 0.4, True, allowed, True, 1, N,
            p)                                      # rows 1 .. N - 1 only
        bwd(desc(q), desc(k), desc(v), desc(g), desc(gq), desc(gk), desc(gv), H, T, T, d, d,
            0.4, True, allowed, True, 1, N, p, np.empty((T, T), np.float32))
        res.append((p, y, gq, gk, gv))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert (res[0][1][0] == 0).all() and (res[0][2][0] == 0).all()   # row 0 untouched
