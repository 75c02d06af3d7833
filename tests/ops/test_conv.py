"""Convolution ops: finite-difference gradients (float64) for every stride / padding /
dilation / groups case, values and gradients against PyTorch (layouts converted:
NHWC <-> NCHW, HWIO <-> OIHW, Keras's asymmetric 'same' padding applied with F.pad),
output shapes against Keras's formulas, and the error messages."""
from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina.ops import conv as C
from lamina.testing import gradcheck

# (H, W, C_in, C_out, kernel, strides, dilation, groups, padding)
CONV2D_CASES = [
    (6, 5, 2, 3, (3, 3), (1, 1), (1, 1), 1, "valid"),
    (6, 5, 2, 3, (3, 3), (1, 1), (1, 1), 1, "same"),
    (7, 6, 2, 3, (3, 2), (2, 2), (1, 1), 1, "valid"),
    (7, 6, 2, 3, (3, 3), (2, 2), (1, 1), 1, "same"),    # odd total pad: extra at bottom/right
    (8, 8, 2, 2, (2, 2), (3, 3), (1, 1), 1, "same"),
    (7, 7, 2, 2, (3, 3), (1, 1), (2, 2), 1, "valid"),
    (7, 6, 2, 2, (3, 2), (1, 1), (2, 3), 1, "same"),
    (7, 6, 4, 6, (3, 3), (2, 1), (1, 1), 2, "same"),
    (6, 6, 3, 6, (3, 3), (1, 2), (2, 1), 3, "valid"),
    (5, 5, 2, 3, (3, 3), (1, 1), (1, 1), 1, ((1, 0), (2, 1))),
]


def _ids(cases):
    return [f"{c[0]}x{c[1]}-k{c[4]}-s{c[5]}-d{c[6]}-g{c[7]}-{c[8]}" for c in cases]


def _torch_conv2d(torch, x, w, b, strides, pads, dil, groups):
    F = torch.nn.functional
    xt = x.permute(0, 3, 1, 2)
    (t, bo), (le, r) = pads
    xt = F.pad(xt, (le, r, t, bo))
    y = F.conv2d(xt, w.permute(3, 2, 0, 1), b, stride=strides, dilation=dil, groups=groups)
    return y.permute(0, 2, 3, 1)


@pytest.mark.parametrize("case", CONV2D_CASES, ids=_ids(CONV2D_CASES))
def test_conv2d_gradcheck(case):
    h, w, ci, co, k, s, d, g, pad = case
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((2, h, w, ci)), rng.standard_normal(k + (ci // g, co)),
          rng.standard_normal(co)]
    assert gradcheck(lambda x, k_, b: C.conv2d(x, k_, b, strides=s, padding=pad,
                                               dilation_rate=d, groups=g), xs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV2D_CASES, ids=_ids(CONV2D_CASES))
def test_conv2d_matches_torch(case, dtype, torch):
    h, w, ci, co, k, s, d, g, pad = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, h, w, ci)).astype(dtype)
    kern = rng.standard_normal(k + (ci // g, co)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    pads = C._pads("conv2d", pad, (h, w), k, s, d)
    lx, lk, lb = (lm.tensor(a, requires_grad=True) for a in (x, kern, b))
    y = C.conv2d(lx, lk, lb, strides=s, padding=pad, dilation_rate=d, groups=g)
    tx, tk, tb = (torch.tensor(a, requires_grad=True) for a in (x, kern, b))
    yt = _torch_conv2d(torch, tx, tk, tb, s, pads, d, g)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    assert y.dtype == dtype
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    u = rng.standard_normal(y.shape).astype(dtype)
    (y * lm.tensor(u)).sum().backward()
    (yt * torch.tensor(u)).sum().backward()
    for a, t in ((lx, tx), (lk, tk), (lb, tb)):
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=tol * 10, atol=tol * 10)


@pytest.mark.parametrize("case", CONV2D_CASES, ids=_ids(CONV2D_CASES))
def test_conv2d_output_shape_follows_keras_formula(case):
    h, w, ci, co, k, s, d, g, pad = case
    y = C.conv2d(np.zeros((1, h, w, ci), np.float32), np.zeros(k + (ci // g, co), np.float32),
                 strides=s, padding=pad, dilation_rate=d, groups=g)
    exp = []
    for n, kk, ss, dd, ax in zip((h, w), k, s, d, range(2)):
        keff = (kk - 1) * dd + 1
        if pad == "same":
            exp.append((n + ss - 1) // ss)
        elif pad == "valid":
            exp.append((n - keff) // ss + 1)
        else:
            exp.append((n + sum(pad[ax]) - keff) // ss + 1)
    assert y.shape == (1, exp[0], exp[1], co)


@pytest.mark.parametrize("grads", [(True, True, True), (False, True, False),
                                   (False, False, True), (True, False, False)],
                         ids=["all", "kernel", "bias", "input"])
@pytest.mark.parametrize("ci", [1, 3, 6])
def test_conv2d_bias_column_matches_torch(ci, grads, torch):
    # few input channels put a ones column in the im2col matrix (bias added by the GEMM,
    # bias gradient from the kernel-gradient GEMM); any subset of parents may need grads
    rng = np.random.default_rng(4)
    x, k, b = rng.standard_normal((2, 7, 6, ci)), rng.standard_normal((3, 2, ci, 5)), \
        rng.standard_normal(5)
    ls = [lm.tensor(a, requires_grad=r) for a, r in zip((x, k, b), grads)]
    ts = [torch.tensor(a, requires_grad=r) for a, r in zip((x, k, b), grads)]
    y = C.conv2d(*ls, strides=(2, 1), padding="same")
    pads = C._pads("conv2d", "same", (7, 6), (3, 2), (2, 1), (1, 1))
    yt = _torch_conv2d(torch, *ts, (2, 1), pads, (1, 1), 1)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    u = rng.standard_normal(y.shape)
    (y * lm.tensor(u)).sum().backward()
    (yt * torch.tensor(u)).sum().backward()
    for a, t in zip(ls, ts):
        assert (a.grad is None) == (t.grad is None)
        if a.grad is not None:
            np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-10)


CONV1D_CASES = [(9, 1, 1, "valid"), (9, 2, 1, "same"), (9, 1, 2, "causal"), (10, 3, 1, "same"),
                (9, 2, 2, "valid")]


@pytest.mark.parametrize("length,s,d,pad", CONV1D_CASES)
def test_conv1d_gradcheck_and_torch(length, s, d, pad, torch):
    rng = np.random.default_rng(2)
    x, k, b = rng.standard_normal((2, length, 4)), rng.standard_normal((3, 2, 6)), \
        rng.standard_normal(6)
    f = lambda x_, k_, b_: C.conv1d(x_, k_, b_, strides=s, padding=pad, dilation_rate=d, groups=2)
    assert gradcheck(f, [x, k, b])
    keff = 2 * d + 1
    if pad == "same":
        lo, hi = C.same_padding(length, 3, s, d)
    elif pad == "causal":
        lo, hi = keff - 1, 0
    else:
        lo = hi = 0
    F = torch.nn.functional
    yt = F.conv1d(F.pad(torch.tensor(x).permute(0, 2, 1), (lo, hi)),
                  torch.tensor(k).permute(2, 1, 0), torch.tensor(b), stride=s, dilation=d,
                  groups=2).permute(0, 2, 1)
    y = f(lm.tensor(x), lm.tensor(k), lm.tensor(b))
    assert y.shape[1] == C.conv_output_length(length, 3, pad, s, d)
    np.testing.assert_allclose(y.numpy(), yt.numpy(), atol=1e-10)


@pytest.mark.parametrize("s,pad,d,m", [(1, "valid", 1, 2), (2, "same", 1, 2), (1, "same", 2, 1),
                                       (2, "valid", 1, 1), (3, "same", 1, 1)])
def test_depthwise_conv2d(s, pad, d, m, torch):
    rng = np.random.default_rng(3)
    x, k, b = rng.standard_normal((2, 6, 5, 3)), rng.standard_normal((3, 3, 3, m)), \
        rng.standard_normal(3 * m)
    f = lambda x_, k_, b_: C.depthwise_conv2d(x_, k_, b_, strides=s, padding=pad,
                                              dilation_rate=d)
    assert gradcheck(f, [x, k, b])
    # Keras's depthwise kernel (KH, KW, C, M) is a grouped conv kernel (KH, KW, 1, C*M)
    pads = C._pads("x", pad, (6, 5), (3, 3), (s, s), (d, d))
    yt = _torch_conv2d(torch, torch.tensor(x), torch.tensor(k.reshape(3, 3, 1, 3 * m)),
                       torch.tensor(b), (s, s), pads, (d, d), 3)
    np.testing.assert_allclose(f(lm.tensor(x), lm.tensor(k), lm.tensor(b)).numpy(),
                               yt.numpy(), atol=1e-10)


# (H, kernel, strides, padding, output_padding, dilation)
TRANSPOSE_CASES = [
    (4, 3, 2, "same", None, 1), (4, 3, 2, "valid", None, 1), (5, 4, 3, "same", None, 1),
    (4, 3, 2, "same", 1, 1), (4, 3, 1, "valid", None, 2), (3, 2, 3, "valid", None, 1),
    (4, 3, 2, "valid", 1, 1), (4, 2, 2, "same", None, 1), (3, 3, 1, "same", None, 1),
]


def _keras_transpose_len(n, k, pad, s, d, op):
    keff = (k - 1) * d + 1
    if pad == "valid":
        return (n - 1) * s + keff + (max(keff, s) - keff if op is None else op)
    return n * s if op is None else (n - 1) * s + keff % 2 + op


@pytest.mark.parametrize("h,k,s,pad,op,d", TRANSPOSE_CASES)
def test_conv2d_transpose(h, k, s, pad, op, d, torch):
    rng = np.random.default_rng(4)
    x, kern, b = rng.standard_normal((2, h, h + 1, 3)), rng.standard_normal((k, k, 2, 3)), \
        rng.standard_normal(2)
    f = lambda x_, k_, b_: C.conv2d_transpose(x_, k_, b_, strides=s, padding=pad,
                                              output_padding=op, dilation_rate=d)
    assert gradcheck(f, [x, kern, b])
    y = f(lm.tensor(x), lm.tensor(kern), lm.tensor(b)).numpy()
    oh, ow = (_keras_transpose_len(n, k, pad, s, d, op) for n in (h, h + 1))
    assert y.shape == (2, oh, ow, 2)
    # reference: torch's full transposed conv, cropped as Keras (JAX/TF rule) crops it
    full = torch.nn.functional.conv_transpose2d(
        torch.tensor(x).permute(0, 3, 1, 2), torch.tensor(kern).permute(3, 2, 0, 1),
        torch.tensor(b), stride=s, dilation=d).permute(0, 2, 3, 1).numpy()
    keff = (k - 1) * d + 1
    if pad == "valid":
        left = keff - 1
    else:
        pad_len = s + keff - 2 if op is None else keff + keff % 2 - 2 + op
        left = min(pad_len // 2 + pad_len % 2, keff - 1)
    crop = keff - 1 - left
    ref = np.broadcast_to(b, (2, oh, ow, 2)).copy()
    part = full[:, crop:crop + oh, crop:crop + ow]
    ref[:, :part.shape[1], :part.shape[2]] = part
    np.testing.assert_allclose(y, ref, atol=1e-10)


def test_conv1d_transpose_gradcheck():
    rng = np.random.default_rng(5)
    f = lambda x_, k_: C.conv1d_transpose(x_, k_, strides=2, padding="same")
    assert gradcheck(f, [rng.standard_normal((2, 4, 3)), rng.standard_normal((3, 2, 3))])
    assert f(lm.zeros((1, 4, 3)), lm.zeros((3, 2, 3))).shape == (1, 8, 2)


def test_float32_stays_float32_and_no_grad_records_nothing():
    x = lm.randn(2, 5, 5, 3)
    k = lm.randn(3, 3, 3, 4, requires_grad=True)
    y = C.conv2d(x, k, padding="same")
    assert y.dtype == np.float32 and y.requires_grad
    with lm.no_grad():
        assert not C.conv2d(x, k).requires_grad


def test_only_kernel_gradient_when_input_is_data():
    x = lm.randn(2, 5, 5, 1)
    k = lm.randn(3, 3, 1, 2, requires_grad=True)
    C.conv2d(x, k).sum().backward()
    assert x.grad is None and k.grad.shape == (3, 3, 1, 2)
    # d sum(conv) / d k[i, j] = sum of the input pixels each offset meets
    expect = np.array([[x.numpy()[:, i:i + 3, j:j + 3].sum() for j in range(3)]
                       for i in range(3)])
    # float32 sums of 18 random terms may land near zero: an absolute floor as well
    np.testing.assert_allclose(k.grad.numpy()[:, :, 0, 0], expect, rtol=1e-5, atol=1e-5)


def test_second_order_raises_clearly():
    x = lm.randn(1, 4, 4, 1, requires_grad=True)
    k = lm.randn(2, 2, 1, 1, requires_grad=True)
    y = C.conv2d(x, k).sum()
    with pytest.raises(NotImplementedError, match="conv2d"):
        lm.autograd.gradients(y, [x], create_graph=True)


def test_errors_name_op_and_shapes():
    with pytest.raises(ValueError, match=r"conv2d: input of shape \(1, 4, 4, 3\) has 3 "
                                         r"channels.*\(3, 3, 2, 4\)"):
        C.conv2d(lm.zeros((1, 4, 4, 3)), lm.zeros((3, 3, 2, 4)))
    with pytest.raises(ValueError, match="conv2d: expected an input of rank 4"):
        C.conv2d(lm.zeros((4, 4, 3)), lm.zeros((3, 3, 3, 4)))
    with pytest.raises(ValueError, match="padding must be"):
        C.conv2d(lm.zeros((1, 4, 4, 3)), lm.zeros((3, 3, 3, 4)), padding="causal")
    with pytest.raises(ValueError, match="divisible by groups=2"):
        C.conv2d(lm.zeros((1, 4, 4, 3)), lm.zeros((3, 3, 1, 4)), groups=2)
    with pytest.raises(TypeError, match="strides must be an int"):
        C.conv2d(lm.zeros((1, 4, 4, 3)), lm.zeros((3, 3, 3, 4)), strides="2")
    with pytest.raises(ValueError, match="conv2d_transpose: input of shape"):
        C.conv2d_transpose(lm.zeros((1, 4, 4, 3)), lm.zeros((3, 3, 2, 4)))


def test_ops_are_registered():
    for name in ("conv1d", "conv2d", "conv2d_relu", "depthwise_conv2d", "conv2d_transpose",
                 "conv1d_transpose"):
        assert lm.OPS[name] is getattr(C, name)


def test_ops_run_on_every_device(device):
    """Forward and backward on ``device`` (CuPy when a GPU is present) match the CPU."""
    from lamina.ops import pooling as P
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 7, 6, 4)).astype(np.float32)
    cases = [
        (lambda a, k: C.conv2d(a, k, strides=2, padding="same"), (3, 3, 4, 5)),
        (lambda a, k: C.conv2d(a, k, groups=2, dilation_rate=2), (3, 3, 2, 4)),
        (lambda a, k: C.conv2d_relu(a, k, strides=(1, 2), padding="same"), (3, 3, 4, 5)),
        (lambda a, k: C.depthwise_conv2d(a, k, padding="same"), (3, 3, 4, 2)),
        (lambda a, k: C.conv2d_transpose(a, k, strides=2, padding="same"), (3, 3, 3, 4)),
        (lambda a, k: P.max_pool2d(C.conv2d(a, k), 2), (1, 1, 4, 3)),
        (lambda a, k: P.avg_pool2d(C.conv2d(a, k), 3, 2, "same"), (1, 1, 4, 3)),
    ]
    for fn, kshape in cases:
        k = rng.standard_normal(kshape).astype(np.float32)
        res = []
        for dev in ("cpu", device):
            a = lm.tensor(x, device=dev, requires_grad=True)
            kk = lm.tensor(k, device=dev, requires_grad=True)
            y = fn(a, kk)
            (y * y).sum().backward()
            res.append([y.numpy(), a.grad.numpy(), kk.grad.numpy()])
        for u, v in zip(*res):
            np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-4)


def test_empty_batch_forward_and_backward():
    from lamina.ops import pooling as P
    x = lm.zeros((0, 5, 5, 4), requires_grad=True)
    for y in (C.conv2d(x, lm.randn(3, 3, 4, 3), padding="same"),
              C.conv2d(x, lm.randn(3, 3, 2, 4), groups=2),
              C.conv2d_relu(x, lm.randn(3, 3, 4, 3), lm.randn(3)),
              C.depthwise_conv2d(x, lm.randn(3, 3, 4, 1), strides=2),
              C.conv2d_transpose(x, lm.randn(3, 3, 2, 4), strides=2),
              P.max_pool2d(x), P.avg_pool2d(x, 3, 2, "same")):
        assert y.shape[0] == 0
        y.sum().backward()
        assert x.grad.shape == (0, 5, 5, 4)
        x.grad = None


# conv2d_relu: the plain cases plus a one-channel input (ones-column GEMM path) and a
# depthwise one (groups == channels)
RELU_CASES = CONV2D_CASES + [(7, 6, 1, 4, (3, 3), (1, 1), (1, 1), 1, "valid"),
                             (6, 6, 3, 6, (3, 3), (2, 1), (1, 1), 3, "same")]


@pytest.mark.parametrize("case", RELU_CASES, ids=_ids(RELU_CASES))
def test_conv2d_relu_gradcheck_and_matches_unfused(case):
    h, w, ci, co, k, s, d, g, pad = case
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal((2, h, w, ci)), rng.standard_normal(k + (ci // g, co)),
          rng.standard_normal(co)]
    kw = dict(strides=s, padding=pad, dilation_rate=d, groups=g)
    assert gradcheck(lambda x, k_, b: C.conv2d_relu(x, k_, b, **kw), xs)
    fused = [lm.tensor(a, requires_grad=True) for a in xs]
    plain = [lm.tensor(a, requires_grad=True) for a in xs]
    y = C.conv2d_relu(*fused, **kw)
    yr = lm.relu(C.conv2d(*plain, **kw))
    assert (yr.numpy() == 0).any() and (yr.numpy() > 0).any()     # both sides of the kink
    np.testing.assert_allclose(y.numpy(), yr.numpy(), rtol=1e-12, atol=1e-12)
    u = rng.standard_normal(y.shape)
    (y * lm.tensor(u)).sum().backward()
    (yr * lm.tensor(u)).sum().backward()
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ci", [1, 5])
def test_conv2d_relu_matches_torch(ci, dtype, torch):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 9, 8, ci)).astype(dtype)
    kern = rng.standard_normal((3, 3, ci, 4)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    lx, lk, lb = (lm.tensor(a, requires_grad=True) for a in (x, kern, b))
    tx, tk, tb = (torch.tensor(a, requires_grad=True) for a in (x, kern, b))
    y = C.conv2d_relu(lx, lk, lb, strides=2, padding="same")
    pads = C._pads("conv2d", "same", (9, 8), (3, 3), (2, 2), (1, 1))
    yt = torch.relu(_torch_conv2d(torch, tx, tk, tb, (2, 2), pads, (1, 1), 1))
    tol = 1e-5 if dtype == np.float32 else 1e-10
    assert y.dtype == dtype
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    u = rng.standard_normal(y.shape).astype(dtype)
    (y * lm.tensor(u)).sum().backward()
    (yt * torch.tensor(u)).sum().backward()
    for a, t in ((lx, tx), (lk, tk), (lb, tb)):
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=tol * 10, atol=tol * 10)


def test_conv2d_relu_without_grad_and_second_order():
    rng = np.random.default_rng(8)
    x, k = rng.standard_normal((2, 5, 5, 3)), rng.standard_normal((3, 3, 3, 2))
    with lm.no_grad():
        y = C.conv2d_relu(x, k)
    assert not y.requires_grad
    np.testing.assert_allclose(y.numpy(), np.maximum(C.conv2d(x, k).numpy(), 0))
    xt = lm.tensor(x, requires_grad=True)
    with pytest.raises(NotImplementedError, match="conv2d_relu"):
        lm.autograd.gradients(C.conv2d_relu(xt, k).sum(), [xt], create_graph=True)


@pytest.mark.parametrize("images_per_chunk", [1, 2])
def test_data_gradient_in_batch_chunks(monkeypatch, images_per_chunk, torch):
    # the column gradient is computed a few images at a time: one image per chunk, and
    # chunks of two images with a shorter last one, give the whole-batch gradient
    rng = np.random.default_rng(9)
    x, k = rng.standard_normal((5, 8, 7, 3)), rng.standard_normal((3, 2, 3, 4))
    per_image = 3 * 2 * 8 * 4 * 3 * 8       # KH*KW*Ho*Wo*C*itemsize, 'same' at stride (1, 2)
    monkeypatch.setattr(C, "_CHUNK_BYTES", images_per_chunk * per_image + 1)
    lx = lm.tensor(x, requires_grad=True)
    y = C.conv2d(lx, k, strides=(1, 2), padding="same")
    u = rng.standard_normal(y.shape)
    (y * lm.tensor(u)).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    pads = C._pads("conv2d", "same", (8, 7), (3, 2), (1, 2), (1, 1))
    yt = _torch_conv2d(torch, tx, torch.tensor(k), None, (1, 2), pads, (1, 1), 1)
    (yt * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("grads", [(True, True), (True, False), (False, True)],
                         ids=["both", "kernel", "bias"])
@pytest.mark.parametrize("block_rows", [7, 10 ** 6])
def test_conv2d_relu_few_channels_in_row_blocks(monkeypatch, block_rows, grads, torch):
    # few input channels and an input that needs no gradient (a network's first layer):
    # the forward GEMM is rectified and the masked kernel/bias gradient GEMM accumulated
    # a block of rows at a time; blocks of 7 rows (of 4 float64 channels) leave a shorter
    # last block of the 2*6*5 = 60 output rows
    monkeypatch.setattr(C, "_ROW_BLOCK_BYTES", block_rows * 4 * 8)
    rng = np.random.default_rng(10)
    x, k, b = rng.standard_normal((2, 8, 7, 2)), rng.standard_normal((3, 3, 2, 4)), \
        rng.standard_normal(4)
    lk, lb = (lm.tensor(a, requires_grad=r) for a, r in zip((k, b), grads))
    tk, tb = (torch.tensor(a, requires_grad=r) for a, r in zip((k, b), grads))
    y = C.conv2d_relu(x, lk, lb)
    assert y.shape == (2, 6, 5, 4) and 60 % 7
    yt = torch.relu(_torch_conv2d(torch, torch.tensor(x), tk, tb, (1, 1), ((0, 0), (0, 0)),
                                  (1, 1), 1))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    u = rng.standard_normal(y.shape)
    (y * lm.tensor(u)).sum().backward()
    (yt * torch.tensor(u)).sum().backward()
    for a, t in ((lk, tk), (lb, tb)):
        assert (a.grad is None) == (t.grad is None)
        if a.grad is not None:
            np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kw", [dict(), dict(strides=(2, 1, 2)), dict(padding="same", strides=2),
                                dict(dilation_rate=(2, 1, 1))])
def test_conv3d_matches_torch_and_gradcheck(kw):
    """conv3d (KD 2-D convolutions over depth slices, summed) against torch's conv3d with
    TF's 'same' padding applied by hand, and its gradient numerically."""
    torch = pytest.importorskip("torch")
    from lamina.ops.conv import conv3d, same_padding
    rng = np.random.default_rng(0)
    x, k, b = rng.standard_normal((2, 5, 6, 7, 3)), rng.standard_normal((3, 2, 3, 3, 4)), \
        rng.standard_normal(4)
    tx = torch.tensor(x).permute(0, 4, 1, 2, 3)
    st = kw.get("strides", 1)
    if kw.get("padding") == "same":
        pads = [same_padding(n, kk, 2) for n, kk in zip((5, 6, 7), (3, 2, 3))]
        tx = torch.nn.functional.pad(tx, (*pads[2], *pads[1], *pads[0]))
    want = torch.nn.functional.conv3d(tx, torch.tensor(k).permute(4, 3, 0, 1, 2),
                                      torch.tensor(b), stride=st,
                                      dilation=kw.get("dilation_rate", 1))
    np.testing.assert_allclose(conv3d(x, k, b, **kw).numpy(),
                               want.permute(0, 2, 3, 4, 1).numpy(), atol=1e-10)
    gradcheck(lambda a, kk, bb: conv3d(a, kk, bb, **kw), [x[:1, :, :4, :4], k[:, :, :2], b])


def test_conv3d_errors():
    from lamina.ops.conv import conv3d
    with pytest.raises(ValueError, match="conv3d: expected x"):
        conv3d(np.zeros((1, 4, 4, 4)), np.zeros((2, 2, 2, 1, 1)))
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        conv3d(np.zeros((1, 4, 4, 4, 1)), np.zeros((2, 2, 2, 1, 1)), padding="causal")
