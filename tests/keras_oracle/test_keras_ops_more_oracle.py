"""The keras.ops functions added to lamina's facade, against real keras.ops (torch backend):
values in float32 (and int where it applies) and, for the differentiable ones, gradients of
a random projection of the output through lamina against Keras's torch tensors."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

import lamina as lm  # noqa: E402
from lamina.keras import ops as lops  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::UserWarning")
rng = np.random.default_rng(0)
X = rng.standard_normal((3, 4)).astype(np.float32)
Y = rng.standard_normal((3, 4)).astype(np.float32)
U = rng.uniform(-0.9, 0.9, (3, 4)).astype(np.float32)          # inside (-1, 1)
P = (np.abs(X) + 0.5).astype(np.float32)                        # positive
G1 = (P + 1.0).astype(np.float32)                               # > 1
V = rng.standard_normal(5).astype(np.float32)
V3 = rng.standard_normal((2, 3)).astype(np.float32)
W3 = rng.standard_normal((2, 3)).astype(np.float32)
I = np.array([[3, 5, 12], [7, 0, 9]], np.int32)
J = np.array([[1, 4, 8], [2, 6, 3]], np.int32)
A = rng.standard_normal((2, 3, 3)).astype(np.float32)
SPD = (A @ A.transpose(0, 2, 1) + 3 * np.eye(3)).astype(np.float32)
B = rng.standard_normal((2, 3, 2)).astype(np.float32)
NANX = X.copy()
NANX[0, 1] = NANX[2, 3] = np.nan
IMG = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
SEQ = rng.standard_normal((2, 7, 3)).astype(np.float32)

# (name, args, kwargs, differentiable: indices of float args to differentiate)
CASES = [
    ("arcsin", (U,), {}, (0,)), ("arccos", (U,), {}, (0,)), ("arctan", (X,), {}, (0,)),
    ("arcsinh", (X,), {}, (0,)), ("arccosh", (G1,), {}, (0,)), ("arctanh", (U,), {}, (0,)),
    ("arctan2", (X, Y), {}, (0, 1)), ("hypot", (X, Y), {}, (0, 1)), ("cbrt", (X,), {}, (0,)),
    ("exp2", (X,), {}, (0,)), ("erfc", (X,), {}, (0,)), ("erfinv", (U,), {}, (0,)),
    ("fmod", (X * 3, P), {}, (0, 1)), ("deg2rad", (X,), {}, (0,)), ("rad2deg", (X,), {}, (0,)),
    ("sinc", (X,), {}, (0,)), ("logaddexp2", (X, Y), {}, (0, 1)), ("fabs", (X,), {}, (0,)),
    ("fmax", (NANX, Y), {}, ()), ("fmin", (NANX, Y), {}, ()), ("fmax", (X, Y), {}, (0, 1)),
    ("ldexp", (X, (np.arange(12).reshape(3, 4) % 5 - 2).astype(np.int32)), {}, ()), ("heaviside", (np.round(X), Y), {}, ()),
    ("i0", (X,), {}, ()), ("nextafter", (X, Y), {}, ()), ("angle", (X,), {}, ()),
    ("conj", (X,), {}, ()), ("conjugate", (X,), {}, ()), ("real", (X,), {}, ()),
("isreal", (X,), {}, ()), ("signbit", (X,), {}, ()),
    ("isposinf", (np.array([np.inf, -np.inf, 1.0], np.float32),), {}, ()),
    ("isneginf", (np.array([np.inf, -np.inf, 1.0], np.float32),), {}, ()),
    ("gcd", (I, J), {}, ()), ("lcm", (I, J), {}, ()),
    ("bitwise_and", (I, J), {}, ()), ("bitwise_or", (I, J), {}, ()),
    ("bitwise_xor", (I, J), {}, ()), ("bitwise_invert", (I,), {}, ()),
    ("bitwise_not", (I,), {}, ()), ("bitwise_left_shift", (I, J % 4), {}, ()),
    ("bitwise_right_shift", (I, J % 4), {}, ()), ("left_shift", (I, J % 4), {}, ()),
    ("right_shift", (I, J % 4), {}, ()),
    # activations
    ("sparse_plus", (X * 2,), {}, (0,)), ("sparse_sigmoid", (X * 2,), {}, (0,)),
    ("squareplus", (X,), {"b": 3}, (0,)), ("hard_shrink", (X,), {}, (0,)),
    ("soft_shrink", (X,), {"threshold": 0.3}, (0,)), ("tanh_shrink", (X,), {}, (0,)),
    ("threshold", (X, 0.1, -2.0), {}, (0,)), 
    # reductions and statistics
    ("cumprod", (X,), {"axis": 1}, (0,)), ("cumprod", (X,), {}, (0,)),
    ("cumsum", (X,), {}, (0,)), ("nancumsum", (NANX,), {"axis": 0}, ()),
    ("nancumprod", (NANX,), {"axis": 1}, ()), ("count_nonzero", (np.round(X),), {"axis": 1}, ()),
    ("count_nonzero", (np.round(X),), {}, ()), ("ptp", (X,), {"axis": 0}, (0,)),
    ("diff", (X,), {}, (0,)), ("diff", (X,), {"n": 2, "axis": 0}, (0,)),
    ("trapezoid", (X,), {}, (0,)), ("trapezoid", (X,), {"dx": 0.5, "axis": 0}, (0,)),
    ("trapezoid", (X, np.array([0, 1, 3, 4], np.float32)), {}, (0,)),
    ("median", (X,), {"axis": 1}, (0,)), ("median", (X,), {}, (0,)),
    ("quantile", (X, 0.3), {"axis": 1}, (0,)),
    ("quantile", (X, np.array([0.2, 0.7], np.float32)), {"axis": 0, "keepdims": True}, (0,)),
    ("quantile", (X, 0.4), {"method": "lower"}, ()),
    ("quantile", (X, 0.4), {"method": "higher"}, ()),
    ("quantile", (X, 0.4), {"method": "midpoint"}, ()),
    ("quantile", (X, 0.4), {"method": "nearest"}, ()),
    ("percentile", (X, 30.0), {"axis": 1}, (0,)),
    ("nansum", (NANX,), {"axis": 1}, ()), ("nanprod", (NANX,), {}, ()),
    ("nanmean", (NANX,), {"axis": 0}, ()), ("nanvar", (NANX,), {"axis": 1}, ()),
    ("nanstd", (NANX,), {}, ()), ("nanmax", (NANX,), {"axis": 1}, ()),
    ("nanmin", (NANX,), {"axis": 0}, ()), ("nanargmax", (NANX,), {"axis": 1}, ()),
    ("nanargmin", (NANX,), {"axis": 0}, ()), ("nanmedian", (NANX,), {"axis": 1}, ()),
    ("nanquantile", (NANX, 0.3), {"axis": 1}, ()), ("nanpercentile", (NANX, 70.0), {}, ()),
    ("nansum", (X,), {}, (0,)), ("nanmean", (X,), {"axis": 1}, (0,)),
    ("corrcoef", (X,), {}, (0,)), ("correlate", (V, X[0]), {}, (0, 1)),
    ("correlate", (V, X[0]), {"mode": "same"}, (0, 1)),
    ("correlate", (V, X[0]), {"mode": "full"}, (0, 1)),
    ("correlate", (X[0], V), {"mode": "valid"}, (0, 1)),
    # counting and searching
    ("bincount", (np.array([0, 1, 1, 3], np.int32),), {}, ()),
    ("bincount", (np.array([0, 1, 1, 3], np.int32),),
     {"weights": np.array([0.5, 1, 2, 1], np.float32), "minlength": 6}, ()),
    ("digitize", (X, np.array([-1, 0, 1], np.float32)), {}, ()),
    ("searchsorted", (np.array([-1, 0, 1], np.float32), X), {"side": "right"}, ()),
    ("isin", (I, np.array([3, 9, 4], np.int32)), {}, ()),
    ("isin", (I, np.array([3, 9, 4], np.int32)), {"invert": True}, ()),
    ("histogram", (V,), {"bins": 4}, ()),
    ("unravel_index", (np.array([1, 5, 11], np.int32), (3, 4)), {}, ()),
    ("unique", (np.array([3, 1, 3, 2, 1], np.int32),), {}, ()),
    ("unique", (np.array([3, 1, 3, 2, 1], np.int32),),
     {"return_inverse": True, "return_counts": True}, ()),
    # creation
    ("array", (X,), {}, ()), ("tri", (3,), {"M": 4, "k": 1}, ()), ("tri", (3,), {}, ()),
    ("logspace", (0.0, 2.0, 5), {}, ()), ("logspace", (0.0, 3.0, 4), {"base": 2}, ()),
    ("geomspace", (1.0, 100.0, 5), {}, ()), ("bartlett", (6,), {}, ()),
    ("blackman", (6,), {}, ()), ("hamming", (6,), {}, ()), ("hanning", (6,), {}, ()),
    ("kaiser", (6, 2.5), {}, ()), ("vander", (V,), {}, ()),
    ("vander", (V,), {"N": 3, "increasing": True}, ()),
    ("empty", ((2, 3),), {}, "shape"), ("empty_like", (X,), {}, "shape"),
    # shape and indexing
    ("append", (X, Y), {}, (0, 1)), ("append", (X, Y), {"axis": 0}, (0, 1)),
    ("array_split", (X, 3), {"axis": 1}, (0,)), ("array_split", (V, 2), {}, (0,)),
    ("hsplit", (X, 2), {}, (0,)), ("vsplit", (np.concatenate([X, Y]), 2), {}, (0,)),
    ("dsplit", (IMG[0], 3), {}, (0,)), ("dstack", ([X, Y],), {}, (0,)),
    ("fliplr", (X,), {}, (0,)), ("flipud", (X,), {}, (0,)),
    ("rot90", (X,), {}, (0,)), ("rot90", (X,), {"k": 2}, (0,)),
    ("rot90", (IMG[0],), {"k": 3, "axes": (1, 2)}, (0,)),
    ("diag", (V,), {}, (0,)), ("diag", (V,), {"k": -2}, (0,)), ("diag", (X,), {"k": 1}, (0,)),
    ("diagflat", (V3,), {"k": 1}, (0,)), ("diagonal", (X,), {}, (0,)),
    ("diagonal", (IMG[0],), {"offset": 1, "axis1": 1, "axis2": 2}, (0,)),
    ("kron", (V3, W3), {}, (0, 1)), ("kron", (V, V3), {}, (0, 1)),
    ("cross", (V3, W3), {}, (0, 1)), ("cross", (V3.T, W3.T), {"axis": 0}, (0, 1)),
    ("inner", (X, Y), {}, (0, 1)), ("vdot", (X[0], Y[0]), {}, (0, 1)),
    ("meshgrid", (V, V3[0]), {}, (0, 1)), ("meshgrid", (V, V3[0]), {"indexing": "ij"}, (0, 1)),
    ("get_item", (X, 1), {}, (0,)),
    ("slice_update", (X, (1, 1), Y[:2, :2]), {}, (0, 2)),
    ("scatter", (np.array([[0, 1], [2, 3], [0, 1]]), np.array([1.0, 2.0, 3.0], np.float32),
                 (3, 4)), {}, ()),
    ("scatter_update", (X, np.array([[0, 1], [2, 3]]), np.array([7.0, 8.0], np.float32)),
     {}, ()),
    ("select", ([X > 0.5, X < -0.5], [X, Y]), {"default": 0.0}, ()),
    ("segment_sum", (X, np.array([0, 2, 0])), {"num_segments": 3}, (0,)),
    ("segment_max", (X, np.array([0, 2, 0])), {"num_segments": 3}, ()),
    ("extract_sequences", (X, 2, 1), {}, (0,)), ("extract_sequences", (V, 3, 2), {}, (0,)),
    ("space_to_depth", (IMG, 2), {}, (0,)), ("depth_to_space", (IMG[..., :1].repeat(4, -1), 2), {}, (0,)),
    ("space_to_depth", (IMG.transpose(0, 3, 1, 2), 3), {"data_format": "channels_first"}, (0,)),
    ("saturate_cast", (X * 200, "int8"), {}, ()), ("saturate_cast", (X * 1e3, "uint8"), {}, ()),
    # linear algebra
    ("det", (A,), {}, (0,)), ("inv", (A,), {}, (0,)), ("solve", (A, B), {}, (0, 1)),
    ("solve", (A[0], V[:3]), {}, (0, 1)), ("solve_triangular", (A, B), {}, ()),
    ("solve_triangular", (A, B), {"lower": True}, ()),
    ("cholesky", (SPD,), {}, ()), ("cholesky", (SPD,), {"upper": True}, ()),
    ("cholesky_inverse", (np.linalg.cholesky(SPD).astype(np.float32),), {}, ()),
    ("slogdet", (A,), {}, ()), ("logdet", (SPD,), {}, (0,)), ("eigh", (SPD,), {}, "eigh"),
    ("qr", (X,), {}, "qr"), ("svd", (X,), {"compute_uv": False}, ()),
    ("pinv", (X,), {}, ()), ("matrix_rank", (X,), {}, ()),
    ("lstsq", (X.T, V[:4]), {}, ()), ("cdist", (X, Y[:2]), {}, (0, 1)),
    # FFT
    ("fft", ((X, Y),), {}, ()), ("fft2", ((X, Y),), {}, ()), ("ifft2", ((X, Y),), {}, ()),
    ("rfft", (X,), {}, ()), ("rfft", (X,), {"fft_length": 6}, ()),
    ("irfft", ((X, Y),), {}, ()), ("irfft", ((X, Y),), {"fft_length": 6}, ()),
    # nn
    ("max_pool", (IMG, 2), {}, (0,)), ("max_pool", (SEQ, 2), {"padding": "same"}, (0,)),
    ("average_pool", (IMG, 3), {"strides": 3, "padding": "same"}, (0,)),
    ("average_pool", (IMG.transpose(0, 3, 1, 2), 2), {"data_format": "channels_first"}, (0,)),
    ("adaptive_average_pool", (IMG, (4, 3)), {}, (0,)),
    ("adaptive_max_pool", (SEQ, 4), {}, (0,)),
    ("conv", (IMG, rng.standard_normal((3, 3, 3, 4)).astype(np.float32)),
     {"padding": "same"}, (0, 1)),
    ("conv", (SEQ, rng.standard_normal((2, 1, 6)).astype(np.float32)),
     {"strides": 2}, (0, 1)),
    ("conv_transpose", (IMG, rng.standard_normal((3, 3, 5, 3)).astype(np.float32)),
     {"strides": 2, "padding": "same"}, (0, 1)),
    ("depthwise_conv", (IMG, rng.standard_normal((3, 3, 3, 2)).astype(np.float32)), {},
     (0, 1)),
    ("depthwise_conv", (SEQ, rng.standard_normal((3, 3, 2)).astype(np.float32)),
     {"padding": "same"}, (0, 1)),
    ("separable_conv", (IMG, rng.standard_normal((3, 3, 3, 2)).astype(np.float32),
                        rng.standard_normal((1, 1, 6, 4)).astype(np.float32)), {}, (0, 1, 2)),
    ("unfold", (IMG.transpose(0, 3, 1, 2), 3), {"padding": 1, "stride": 2}, (0,)),
    ("fold", (rng.standard_normal((2, 12, 9)).astype(np.float32), (4, 4), 2), {}, (0,)),
    ("batch_normalization", (IMG, IMG.mean((0, 1, 2)), IMG.var((0, 1, 2)), -1),
     {"offset": V[:3], "scale": P[0, :3]}, (0,)),
    ("layer_normalization", (X,), {"gamma": V[:4], "beta": P[0]}, (0,)),
    ("rms_normalization", (X,), {"scale": V[:4]}, (0,)),
    ("rms_normalization", (X,), {"epsilon": 1e-3}, (0,)),
    ("dot_product_attention", (SEQ[:, :, None, :].repeat(4, 2)[..., :2],
                               SEQ[:, :, None, :2], SEQ[:, :, None, 1:]), {}, (0, 1, 2)),
    ("dot_product_attention", (SEQ[:, :4, None, :], SEQ[:, :, None, :], SEQ[:, :, None, :]),
     {"is_causal": True, "scale": 0.7}, (0, 1, 2)),
    ("psnr", (P, P * 0.9, 2.0), {}, (0, 1)),
]


def _ids():
    seen = {}
    out = []
    for c in CASES:
        seen[c[0]] = seen.get(c[0], 0) + 1
        out.append(f"{c[0]}-{seen[c[0]]}")
    return out


def _leaves(out):
    if isinstance(out, (list, tuple)):
        return [l for o in out for l in _leaves(o)]
    return [out]


def _np(o):
    if hasattr(o, "detach"):
        return o.detach().cpu().numpy()
    return o.numpy() if hasattr(o, "numpy") else np.asarray(o)


def _kargs(args, grad_idx):
    """Keras arguments: the differentiated ones as torch leaves needing grad."""
    out, leaves = [], {}
    for i, a in enumerate(args):
        if i in grad_idx:
            t = torch.tensor(a, requires_grad=True)
            leaves[i] = t
            out.append(t)
        else:
            out.append(a)
    return out, leaves


@pytest.mark.parametrize("name,args,kwargs,grad", CASES, ids=_ids())
def test_against_keras(name, args, kwargs, grad):
    gi = grad if isinstance(grad, tuple) else ()
    kargs, kleaves = _kargs(args, gi)
    kout = getattr(keras.ops, name)(*kargs, **kwargs)
    largs = [lm.tensor(a, requires_grad=True) if i in gi else a for i, a in enumerate(args)]
    lout = getattr(lops, name)(*largs, **kwargs)
    kl, ll = _leaves(kout), _leaves(lout)
    assert len(kl) == len(ll), f"{name}: {len(ll)} outputs, keras gives {len(kl)}"
    for k, l in zip(kl, ll):
        kv, lv = _np(k), _np(l)
        assert lv.shape == kv.shape, f"{name}: shape {lv.shape}, keras {kv.shape}"
        if grad == "shape":
            continue
        if grad in ("eigh", "qr"):       # signs of vectors are free: compare |.|
            kv, lv = np.abs(kv), np.abs(lv)
        if kv.dtype.kind in "fc":
            assert lv.dtype.kind in "fc", f"{name}: dtype {lv.dtype}, keras {kv.dtype}"
            np.testing.assert_allclose(lv, kv, rtol=2e-4, atol=2e-5, equal_nan=True,
                                       err_msg=f"{name}: values differ from keras")
        else:
            np.testing.assert_array_equal(lv, kv, err_msg=f"{name}: values differ from keras")
    if not gi:
        return
    r = np.random.default_rng(1)
    us = [r.standard_normal(_np(k).shape).astype(np.float32) for k in kl]
    ksum = sum((k * torch.tensor(u)).sum() for k, u in zip(kl, us))
    lsum = sum((l * lm.tensor(u)).sum() for l, u in zip(ll, us))
    kgrads = torch.autograd.grad(ksum, [kleaves[i] for i in gi], allow_unused=True)
    lgrads = lm.autograd.gradients(lsum, [largs[i] for i in gi])
    for i, kg, lg in zip(gi, kgrads, lgrads):
        kg = np.zeros(args[i].shape, np.float32) if kg is None else kg.numpy()
        lg = np.zeros(args[i].shape, np.float32) if lg is None else lg.numpy()
        np.testing.assert_allclose(lg, kg, rtol=1e-3, atol=1e-4,
                                   err_msg=f"{name}: gradient of argument {i} differs from keras")


def test_argpartition_partitions():
    lidx = lops.argpartition(X, 2, axis=1).numpy()
    vals = np.take_along_axis(X, lidx, axis=1)
    kth = np.sort(X, axis=1)[:, 2:3]
    assert (vals[:, :2] <= kth).all() and (vals[:, 3:] >= kth).all()
    np.testing.assert_array_equal(np.sort(lidx, axis=1), np.tile(np.arange(4), (3, 1)))


def test_numpy_semantics_where_keras_torch_departs_from_them():
    # keras's torch backend has no 2-vector cross, gives len(x1) for 'same' correlate,
    # a sparsemax whose rows do not sum to 1, and no imag of real tensors: check NumPy's
    # definitions (and the simplex projection) instead
    np.testing.assert_allclose(lops.cross(V3[:, :2], W3[:, :2]).numpy(),
                               np.cross(V3[:, :2], W3[:, :2]), rtol=1e-6)
    np.testing.assert_allclose(lops.cross(V3.T, W3, axisa=0).numpy(), np.cross(V3.T, W3, axisa=0),
                               rtol=1e-6)
    np.testing.assert_allclose(lops.correlate(X[0], V, mode="same").numpy(),
                               np.correlate(X[0], V, mode="same"), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lops.correlate(X[0], V).numpy(), np.correlate(X[0], V),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(lops.imag(X).numpy(), np.zeros_like(X))
    np.testing.assert_allclose(lops.array_split(X, [1, 2])[2].numpy(), X[2:])
    s = lops.sparsemax(X).numpy()
    np.testing.assert_allclose(s.sum(-1), 1, rtol=1e-6)
    z = np.sort(X, -1)[:, ::-1]
    k = np.arange(1, 5)
    kz = ((1 + k * z) > np.cumsum(z, -1)).sum(-1)
    tau = (np.take_along_axis(np.cumsum(z, -1), kz[:, None] - 1, -1) - 1) / kz[:, None]
    np.testing.assert_allclose(s, np.maximum(X - tau, 0), rtol=1e-6, atol=1e-7)
    x = lm.tensor(X, requires_grad=True)
    (g,) = lm.autograd.gradients((lops.sparsemax(x) * lm.tensor(Y)).sum(), [x])
    sup = s > 0           # d sparsemax: on the support, u - mean of u over the support
    expect = np.where(sup, Y - (Y * sup).sum(-1, keepdims=True) / sup.sum(-1, keepdims=True), 0)
    np.testing.assert_allclose(g.numpy(), expect, rtol=1e-5, atol=1e-6)
    t = lm.tensor(X, requires_grad=True)
    (g,) = lm.autograd.gradients(lops.ldexp(t, np.full((3, 4), -2, np.int32)).sum(), [t])
    np.testing.assert_allclose(g.numpy(), np.full(X.shape, 0.25, np.float32))


def test_cholesky_gradient_through_a_symmetric_input():
    # lamina folds the gradient onto the lower triangle it reads; through S = A A^T + 3I the
    # gradient to A is the same as Keras's (symmetric) one
    def f(ops, a, eye):
        return ops.cholesky(ops.matmul(a, ops.transpose(a, (0, 2, 1))) + eye)
    eye = 3 * np.eye(3, dtype=np.float32)
    ka = torch.tensor(A, requires_grad=True)
    la = lm.tensor(A, requires_grad=True)
    kout, lout = f(keras.ops, ka, torch.tensor(eye)), f(lops, la, eye)
    np.testing.assert_allclose(lout.numpy(), _np(kout), rtol=1e-4, atol=1e-5)
    u = np.random.default_rng(2).standard_normal(lout.shape).astype(np.float32)
    (kg,) = torch.autograd.grad((kout * torch.tensor(u)).sum(), [ka])
    (lg,) = lm.autograd.gradients((lout * lm.tensor(u)).sum(), [la])
    np.testing.assert_allclose(lg.numpy(), kg.numpy(), rtol=1e-3, atol=1e-4)


def test_control_flow_like_keras():
    x = lm.tensor(X)
    assert np.allclose(lops.cond(True, lambda: x + 1, lambda: x - 1).numpy(), X + 1)
    assert np.allclose(lops.switch(5, [lambda a: a * 2, lambda a: a * 3], x).numpy(), X * 3)
    assert lops.fori_loop(0, 4, lambda i, v: v + i, 1) == keras.ops.fori_loop(
        0, 4, lambda i, v: v + i, 1)
    res = lops.while_loop(lambda a, b: a < 5, lambda a, b: (a + 1, b * 2), (0, 1))
    kres = keras.ops.while_loop(lambda a, b: a < 5, lambda a, b: (a + 1, b * 2), (0, 1))
    assert [int(_np(v)) for v in res] == [int(_np(v)) for v in kres]
    assert int(_np(lops.while_loop(lambda a: a < 10, lambda a: a + 3, 0,
                                   maximum_iterations=2))) == 6

    def step(c, v):
        return c + v, c * v
    lc, ly = lops.scan(step, lm.tensor(np.zeros(4, np.float32)), lm.tensor(X))
    kc, ky = keras.ops.scan(step, torch.zeros(4), torch.tensor(X))
    np.testing.assert_allclose(lc.numpy(), _np(kc), rtol=1e-6)
    np.testing.assert_allclose(ly.numpy(), _np(ky), rtol=1e-6)
    lc, ly = lops.scan(step, lm.tensor(np.zeros(4, np.float32)), lm.tensor(X), reverse=True)
    kc, ky = keras.ops.scan(step, torch.zeros(4), torch.tensor(X), reverse=True)
    np.testing.assert_allclose(ly.numpy(), _np(ky), rtol=1e-6)
    for rev in (False, True):
        np.testing.assert_allclose(
            lops.associative_scan(lambda a, b: a + b, lm.tensor(X), reverse=rev, axis=1).numpy(),
            _np(keras.ops.associative_scan(lambda a, b: a + b, torch.tensor(X), reverse=rev,
                                           axis=1)), rtol=1e-6)
    np.testing.assert_allclose(lops.map(lambda r: lops.sum(r * r), lm.tensor(X)).numpy(),
                               _np(keras.ops.map(lambda r: keras.ops.sum(r * r),
                                                 torch.tensor(X))), rtol=1e-6)
    np.testing.assert_allclose(
        lops.vectorized_map(lambda r: r[::-1], lm.tensor(X)).numpy(), X[:, ::-1])
    f = lops.vectorize(lambda a, b: lops.sum(a * b), signature="(n),(n)->()")
    np.testing.assert_allclose(f(lm.tensor(X), lm.tensor(Y[0])).numpy(), X @ Y[0], rtol=1e-5)


def test_jvp_and_custom_gradient():
    out, tan = lops.jvp(lambda a: lops.sin(a) * a, (X,), (Y,))
    kout, ktan = keras.ops.jvp(lambda a: keras.ops.sin(a) * a, (torch.tensor(X),),
                               (torch.tensor(Y),))
    np.testing.assert_allclose(out.numpy(), _np(kout), rtol=1e-5)
    np.testing.assert_allclose(tan.numpy(), _np(ktan), rtol=1e-4, atol=1e-6)

    @lops.custom_gradient
    def clipped(x):
        def grad(*args, upstream=None):
            g = args[0] if upstream is None else upstream
            return lops.clip(g, -0.5, 0.5)
        return x * 3, grad
    x = lm.tensor(X, requires_grad=True)
    (g,) = lm.autograd.gradients(lops.sum(clipped(x)), [x])
    np.testing.assert_allclose(g.numpy(), np.full(X.shape, 0.5, np.float32))


def test_errors_name_the_op():
    with pytest.raises(ValueError, match="solve"):
        lops.solve(A, np.ones((2, 4, 1), np.float32))
    with pytest.raises(ValueError, match="inv"):
        lops.inv(X)
    with pytest.raises(ValueError, match="correlate"):
        lops.correlate(X, V)
    with pytest.raises(ValueError, match="cholesky"):
        lops.cholesky(-SPD)


@pytest.mark.parametrize("kw", [{}, {"is_causal": True}, {"mask": "random"},
                                {"mask": "random", "is_causal": True, "scale": 0.3}])
def test_dot_product_attention_grouped_heads_and_masks(kw):
    """The fused path (no bias, no soft cap): grouped key heads, masks of Keras's
    (batch, heads, query, key) layout and causal, against Keras; float64 gradients."""
    from lamina.testing import gradcheck
    rng = np.random.default_rng(3)
    q = rng.standard_normal((2, 5, 4, 3)).astype(np.float32)
    k, v = (rng.standard_normal((2, 6, 2, 3)).astype(np.float32) for _ in range(2))
    kw = dict(kw)
    if kw.get("mask") == "random":
        kw["mask"] = rng.random((2, 4, 5, 6)) > 0.3
    want = keras.ops.convert_to_numpy(keras.ops.dot_product_attention(q, k, v, **kw))
    got = lops.dot_product_attention(q, k, v, **kw).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert gradcheck(lambda a, b, c: lops.dot_product_attention(a, b, c, **kw),
                     [x.astype(np.float64) for x in (q, k, v)])
