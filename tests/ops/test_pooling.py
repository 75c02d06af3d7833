"""Pooling ops: finite-difference gradients (float64) for every pool size / stride /
padding case, values and gradients against PyTorch (layout converted, Keras's asymmetric
'same' padding applied with F.pad; 'same' average pooling divides by the real pixels),
first-maximum gradient routing on ties, and errors."""
from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina.ops import conv as C
from lamina.ops import pooling as P
from lamina.ops.conv import same_padding
from lamina.testing import gradcheck

# (H, W, pool_size, strides, padding)
CASES = [
    (6, 6, 2, None, "valid"), (7, 5, 2, None, "valid"), (7, 6, 3, 2, "same"),
    (7, 6, (2, 3), (1, 2), "same"), (6, 7, 3, 1, "valid"), (5, 5, 2, 2, "same"),
    (8, 8, 3, 3, "same"),
]
IDS = [f"{h}x{w}-p{p}-s{s}-{pad}" for h, w, p, s, pad in CASES]


@pytest.mark.parametrize("fn", [P.max_pool2d, P.avg_pool2d], ids=["max", "avg"])
@pytest.mark.parametrize("h,w,ps,st,pad", CASES, ids=IDS)
def test_pool2d_gradcheck(fn, h, w, ps, st, pad):
    x = np.random.default_rng(0).standard_normal((2, h, w, 3))
    assert gradcheck(lambda a: fn(a, ps, st, pad), [x])


def _torch_pool(torch, kind, x, ps, st, pad):
    F = torch.nn.functional
    ps2 = (ps, ps) if isinstance(ps, int) else ps
    st2 = ps2 if st is None else ((st, st) if isinstance(st, int) else st)
    xt = x.permute(0, 3, 1, 2)
    if pad == "same":
        (t, b), (l, r) = (same_padding(n, k, s) for n, k, s in zip(xt.shape[2:], ps2, st2))
    else:
        t = b = l = r = 0
    if kind == "max":
        y = F.max_pool2d(F.pad(xt, (l, r, t, b), value=-np.inf), ps2, st2)
    else:
        s = F.avg_pool2d(F.pad(xt, (l, r, t, b)), ps2, st2, divisor_override=1)
        ones = torch.ones_like(xt[:1, :1])
        n = F.avg_pool2d(F.pad(ones, (l, r, t, b)), ps2, st2, divisor_override=1)
        y = s / n
    return y.permute(0, 2, 3, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("h,w,ps,st,pad", CASES, ids=IDS)
def test_pool2d_matches_torch(h, w, ps, st, pad, kind, dtype, torch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, h, w, 3)).astype(dtype)
    fn = P.max_pool2d if kind == "max" else P.avg_pool2d
    lx = lm.tensor(x, requires_grad=True)
    y = fn(lx, ps, st, pad)
    tx = torch.tensor(x, requires_grad=True)
    yt = _torch_pool(torch, kind, tx, ps, st, pad)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert y.dtype == dtype
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    u = rng.standard_normal(y.shape).astype(dtype)
    (y * lm.tensor(u)).sum().backward()
    (yt * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)


def test_max_pool_ties_route_to_first_maximum(torch):
    x = np.zeros((1, 4, 4, 1), np.float32)
    x[0, 2:, 2:, 0] = 1.0
    lx = lm.tensor(x, requires_grad=True)
    P.max_pool2d(lx, 2).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    _torch_pool(torch, "max", tx, 2, None, "valid").sum().backward()
    np.testing.assert_array_equal(lx.grad.numpy(), tx.grad.numpy())
    assert lx.grad.numpy().sum() == 4.0     # one unit per window, never duplicated


@pytest.mark.parametrize("h,w,ps,pad", [(8, 6, 2, "valid"), (9, 7, 2, "valid"),
                                         (7, 8, 3, "same"), (6, 9, (2, 3), "valid")])
def test_tiled_max_pool_ties_match_torch(h, w, ps, pad, torch):
    # small integers: most windows hold tied maxima, in many channels at once (the
    # windows tile the input, the broadcast fast path; odd sizes leave rows uncovered)
    x = np.random.default_rng(3).integers(0, 3, (3, h, w, 5)).astype(np.float32)
    lx = lm.tensor(x, requires_grad=True)
    y = P.max_pool2d(lx, ps, None, pad)
    u = np.random.default_rng(4).standard_normal(y.shape).astype(np.float32)
    (y * lm.tensor(u)).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    (_torch_pool(torch, "max", tx, ps, None, pad) * torch.tensor(u)).sum().backward()
    np.testing.assert_array_equal(lx.grad.numpy(), tx.grad.numpy())


def test_tiled_and_strided_max_grads_agree():
    # the two backward kernels must route ties identically (first maximum, row-major)
    x = np.random.default_rng(5).integers(0, 2, (2, 6, 8, 4)).astype(np.float64)
    ps, out = (2, 2), (3, 4)
    y = x.reshape(2, 3, 2, 4, 2, 4).max(axis=(2, 4))
    ga = np.random.default_rng(6).standard_normal(y.shape)
    g1, g2 = np.empty_like(x), np.zeros_like(x)
    P._tiled_max_grad(np, x, y, ga, g1, ps, out)
    P._strided_max_grad(np, x, y, ga, g2, ps, ps, out)
    np.testing.assert_array_equal(g1, g2)
    assert np.count_nonzero(g1) == np.count_nonzero(ga)     # one pixel per window


# max pool over a conv2d_relu output: the pool masks its pooled gradient and the conv
# skips its own relu mask.  (ci, x needs grad, pool size, strides, padding): one channel
# without an input gradient is the blocked kernel-gradient path, the rest the general one
RELU_POOL_CASES = [(1, False, 2, None, "valid"), (1, True, 2, None, "valid"),
                   (5, True, 2, None, "valid"), (5, True, 3, 2, "same"),
                   (4, True, (2, 3), None, "same")]


def _relu_pool_inputs(ci, seed=11):
    rng = np.random.default_rng(seed)
    # a negative bias leaves many all-zero windows: tied maxima at the relu's kink
    return [rng.standard_normal((2, 9, 8, ci)), rng.standard_normal((3, 3, ci, 6)),
            rng.standard_normal(6) - 1.0]


@pytest.mark.parametrize("ci,xgrad,ps,st,pad", RELU_POOL_CASES,
                         ids=[f"c{c}-x{int(g)}-p{p}-s{s}-{d}" for c, g, p, s, d in
                              RELU_POOL_CASES])
def test_max_pool_over_conv2d_relu_matches_unfused(monkeypatch, ci, xgrad, ps, st, pad):
    masks = []
    real_mask = C.relu_grad_array       # what the conv masks its gradient with
    monkeypatch.setattr(C, "relu_grad_array", lambda *a: masks.append(1) or real_mask(*a))
    xs = _relu_pool_inputs(ci)
    fused = [lm.tensor(a, requires_grad=(i > 0 or xgrad)) for i, a in enumerate(xs)]
    plain = [lm.tensor(a, requires_grad=(i > 0 or xgrad)) for i, a in enumerate(xs)]
    h = C.conv2d_relu(*fused, padding="same")
    y = P.max_pool2d(h, ps, st, pad)
    yr = P.max_pool2d(lm.relu(C.conv2d(*plain, padding="same")), ps, st, pad)
    assert (y.numpy() == 0).any() and (y.numpy() > 0).any()
    u = np.random.default_rng(12).standard_normal(y.shape)
    (y * lm.tensor(u)).sum().backward()
    assert not masks        # the conv took the pool's masked gradient as it was
    (yr * lm.tensor(u)).sum().backward()
    for a, b in zip(fused, plain):
        assert (a.grad is None) == (b.grad is None)
        if a.grad is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12,
                                       atol=1e-12)


def test_max_pool_over_conv2d_relu_gradcheck():
    xs = _relu_pool_inputs(3, seed=13)
    xs[2] = xs[2] + 1.0     # few exact zeros: finite differences stay off the kink
    assert gradcheck(lambda x, k, b: P.max_pool2d(C.conv2d_relu(x, k, b), 2), xs)


def test_max_pool_over_conv2d_relu_matches_torch(torch):
    xs = [a.astype(np.float32) for a in _relu_pool_inputs(4, seed=14)]
    lx, lk, lb = (lm.tensor(a, requires_grad=True) for a in xs)
    tx, tk, tb = (torch.tensor(a, requires_grad=True) for a in xs)
    y = P.max_pool2d(C.conv2d_relu(lx, lk, lb), 2)
    tf = torch.nn.functional
    yt = tf.max_pool2d(tf.relu(tf.conv2d(tx.permute(0, 3, 1, 2), tk.permute(3, 2, 0, 1), tb)),
                       2).permute(0, 2, 3, 1)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    u = np.random.default_rng(15).standard_normal(y.shape).astype(np.float32)
    (y * lm.tensor(u)).sum().backward()
    (yt * torch.tensor(u)).sum().backward()
    for a, t in ((lx, tx), (lk, tk), (lb, tb)):
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind,skips", [("zero_ties", True), ("positive_tie", False),
                                        ("nan_input", True), ("inf_grad", False)])
def test_tiled_max_grad_after_relu_skips_fixup_only_for_ties_at_zero(kind, skips):
    # relu outputs: all-zero windows tie harmlessly (their masked gradient is zero), so
    # the first-maximum fix-up may be skipped, but never with a tie at a positive maximum
    # or a non-finite gradient (inf * 0 is NaN, which must reach one pixel, not four)
    rng = np.random.default_rng(17)
    x = np.maximum(rng.standard_normal((2, 6, 8, 3)), 0)
    x[:, :2, :4] = 0.0                          # four all-zero windows per image/channel
    if kind == "positive_tie":
        x[0, 2, 2, 0] = x[0, 3, 3, 0] = 9.0
    elif kind == "nan_input":
        x[1, 4, 6, 1] = np.nan
    ps, out = (2, 2), (3, 4)
    y = P._tiles(np, x, ps, out).max(axis=(2, 4))
    pos = y > 0
    ga = rng.standard_normal(y.shape)
    if kind == "inf_grad":
        ga[0, 0, 0, 0] = np.inf                 # an all-zero window
    with np.errstate(invalid="ignore"):
        ga = ga * pos
    assert P._ties_only_at_zero(np, P._tiles(np, x, ps, out) == y[:, :, None, :, None, :],
                                y, ga, pos, ps) == skips
    g1, g2 = np.empty_like(x), np.empty_like(x)
    P._tiled_max_grad(np, x, y, ga, g1, ps, out)
    P._tiled_max_grad(np, x, y, ga, g2, ps, out, pos)
    np.testing.assert_array_equal(g1, g2)


@pytest.mark.parametrize("extra", ["second_use", "inplace_hook"])
def test_conv2d_relu_masks_a_gradient_the_pool_did_not_hand_over(monkeypatch, extra):
    # a second consumer sums into a fresh gradient, and a hook may change the pool's
    # gradient in place: in both cases the conv must apply its relu mask itself
    masks = []
    real_mask = C.relu_grad_array       # what the conv masks its gradient with
    monkeypatch.setattr(C, "relu_grad_array", lambda *a: masks.append(1) or real_mask(*a))
    xs = _relu_pool_inputs(5, seed=16)
    results = []
    for op in (C.conv2d_relu, lambda *a: lm.relu(C.conv2d(*a))):
        ts = [lm.tensor(a, requires_grad=True) for a in xs]
        h = op(*ts)
        loss = P.max_pool2d(h, 2).sum()
        if extra == "second_use":
            loss = loss + (h * 0.5).sum()
        else:
            def hook(g):
                g.data += 1.0       # in place: gradient where the relu is off, too
            h.register_hook(hook)
        loss.backward()
        results.append([t.grad.numpy() for t in ts])
    assert masks == [1]
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_pool_masked_gradient_fed_to_another_conv2d_relu():
    # the pool's gradient is masked for its own input only: handed as the output gradient
    # of a different conv2d_relu, it must be masked again there
    x1, k1, b1 = _relu_pool_inputs(3, seed=18)
    h1 = C.conv2d_relu(lm.tensor(x1), lm.tensor(k1, requires_grad=True), lm.tensor(b1))
    h1.retain_grad()
    P.max_pool2d(h1, 2).sum().backward()
    g = h1.grad
    x2, k2, b2 = _relu_pool_inputs(3, seed=19)
    ks = [lm.tensor(k2, requires_grad=True) for _ in range(2)]
    C.conv2d_relu(x2, ks[0], b2).backward(g)
    lm.relu(C.conv2d(x2, ks[1], b2)).backward(g)
    np.testing.assert_allclose(ks[0].grad.numpy(), ks[1].grad.numpy(), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("fn", [P.max_pool1d, P.avg_pool1d], ids=["max", "avg"])
@pytest.mark.parametrize("ps,st,pad,out", [(2, None, "valid", 4), (3, 2, "same", 5),
                                           (3, 1, "valid", 7)])
def test_pool1d(fn, ps, st, pad, out):
    x = np.random.default_rng(2).standard_normal((2, 9, 3))
    assert gradcheck(lambda a: fn(a, ps, st, pad), [x])
    y = fn(lm.tensor(x), ps, st, pad)
    assert y.shape == (2, out, 3)
    y2 = (P.max_pool2d if fn is P.max_pool1d else P.avg_pool2d)(
        lm.tensor(x[:, None]), (1, ps), (1, st or ps), pad)
    np.testing.assert_allclose(y.numpy(), y2.numpy()[:, 0])


@pytest.mark.parametrize("fn,red,nd", [(P.global_avg_pool2d, np.mean, 2),
                                       (P.global_max_pool2d, np.max, 2),
                                       (P.global_avg_pool1d, np.mean, 1),
                                       (P.global_max_pool1d, np.max, 1)])
def test_global_pools(fn, red, nd):
    x = np.random.default_rng(3).standard_normal((2,) + (4,) * nd + (3,))
    axes = tuple(range(1, nd + 1))
    np.testing.assert_allclose(fn(lm.tensor(x)).numpy(), red(x, axis=axes))
    assert fn(lm.tensor(x), keepdims=True).shape == (2,) + (1,) * nd + (3,)
    assert gradcheck(fn, [x])


def test_errors():
    with pytest.raises(ValueError, match=r"max_pool2d: expected an input of rank 4.*\(4, 4, 3\)"):
        P.max_pool2d(lm.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="avg_pool2d: pool_size .* larger"):
        P.avg_pool2d(lm.zeros((1, 2, 2, 1)), 3)
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        P.max_pool2d(lm.zeros((1, 4, 4, 1)), padding="full")
    x = lm.randn(1, 4, 4, 1, requires_grad=True)
    with pytest.raises(NotImplementedError, match="max_pool2d"):
        lm.autograd.gradients(P.max_pool2d(x).sum(), [x], create_graph=True)


@pytest.mark.parametrize("name", ["max_pool3d", "avg_pool3d"])
@pytest.mark.parametrize("kw", [dict(pool_size=(2, 3, 2), strides=(2, 2, 2)),
                                dict(pool_size=2, padding="same")])
def test_pool3d_matches_torch_and_gradcheck(name, kw):
    """3-D pools as two 2-D pools: against torch (valid windows; 'same' checked against the
    box computed directly) and numerically."""
    torch = pytest.importorskip("torch")
    from lamina.ops import pooling as P
    x = np.random.default_rng(1).standard_normal((2, 5, 6, 7, 3))
    got = getattr(P, name)(x, **kw).numpy()
    if kw.get("padding") != "same":
        f = torch.nn.functional.max_pool3d if name == "max_pool3d" else \
            torch.nn.functional.avg_pool3d
        want = f(torch.tensor(x).permute(0, 4, 1, 2, 3), kw["pool_size"], kw["strides"])
        np.testing.assert_allclose(got, want.permute(0, 2, 3, 4, 1).numpy(), atol=1e-12)
    else:   # 'same', pool 2 stride 2: boxes cut at the far edges, real voxels only
        red = np.max if name == "max_pool3d" else np.mean
        assert got.shape == (2, 3, 3, 4, 3)
        np.testing.assert_allclose(got[:, 2, 2, 3], red(x[:, 4:, 4:, 6:], axis=(1, 2, 3)))
        np.testing.assert_allclose(got[:, 0, 0, 0], red(x[:, :2, :2, :2], axis=(1, 2, 3)))
    gradcheck(lambda a: getattr(P, name)(a, **kw), [x[:1, :4, :4, :3]])
