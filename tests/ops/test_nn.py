"""Neural-network ops (lamina/ops/nn.py): linear, softmax, cross-entropies, dropout."""
import warnings

import numpy as np
import pytest

import lamina as lm
from lamina.nn import functional as F
from lamina.testing import gradcheck, gradgradcheck


def test_linear_is_one_node_and_keras_layout():
    x = lm.randn(5, 3)
    w = lm.randn(3, 4, requires_grad=True)
    b = lm.zeros(4, requires_grad=True)
    y = F.linear(x, w, b)
    assert y.shape == (5, 4) and y._op == "linear" and y._parents[0] is x
    np.testing.assert_allclose(y.numpy(), x.numpy() @ w.numpy(), rtol=1e-6)
    assert F.linear(x, w.detach()).requires_grad is False


def test_linear_casts_input_to_weight_dtype():
    w = lm.randn(3, 2)
    assert F.linear(np.ones((2, 3)), w).dtype == np.float32


def test_cross_entropy_never_takes_log_of_zero():
    z = lm.tensor([[1000.0, -1000.0, 0.0], [0.0, 0.0, -1e4]], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.cross_entropy(z, np.array([1, 2]))
        loss.backward()
        dense = F.cross_entropy(z, np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]]))
    assert np.isfinite(loss.item()) and np.isfinite(dense.item())
    np.testing.assert_allclose(loss.item(), (2000.0 + 1e4 + np.log(2)) / 2, rtol=1e-6)
    assert np.all(np.isfinite(z.grad.numpy()))


def test_cross_entropy_sparse_equals_dense_one_hot():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 4))
    t = rng.integers(0, 4, 6)
    a = F.cross_entropy(lm.tensor(z), t)
    b = F.cross_entropy(lm.tensor(z), np.eye(4)[t])
    np.testing.assert_allclose(a.numpy(), b.numpy())


def test_cross_entropy_target_shape_and_range_errors():
    z = lm.zeros(4, 3)
    with pytest.raises(ValueError, match=r"cross_entropy: sparse targets of shape \(3,\)"):
        F.cross_entropy(z, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"cross_entropy: dense targets of shape \(4, 2\)"):
        F.cross_entropy(z, np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 3\), got range \[-1, 2\]"):
        F.cross_entropy(z, np.array([0, -1, 2, 0]))
    with pytest.raises(ValueError, match="reduction must be"):
        F.cross_entropy(z, np.array([0, 1, 2, 0]), reduction="avg")


def test_cross_entropy_second_derivative():
    z = np.random.default_rng(1).standard_normal((3, 4))
    assert gradgradcheck(lambda a: F.cross_entropy(a, np.array([0, 3, 1])), [z])


def test_bce_with_logits_stable_and_target_gradient(torch):
    z = lm.tensor([1000.0, -1000.0, 0.5], dtype="float64", requires_grad=True)
    t = lm.tensor([0.0, 1.0, 0.3], dtype="float64", requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(z, t)
    loss.backward()
    tz = torch.tensor([1000.0, -1000.0, 0.5], dtype=torch.float64, requires_grad=True)
    tt = torch.tensor([0.0, 1.0, 0.3], dtype=torch.float64, requires_grad=True)
    tl = torch.nn.functional.binary_cross_entropy_with_logits(tz, tt)
    tl.backward()
    np.testing.assert_allclose(loss.item(), tl.item())
    np.testing.assert_allclose(z.grad.numpy(), tz.grad.numpy())
    np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy())


def test_dropout_training_flag_scaling_and_seed():
    x = lm.ones(200, 50)
    assert F.dropout(x, 0.5, training=False) is x
    lm.random.seed(3)
    a = F.dropout(x, 0.3).numpy()
    lm.random.seed(3)
    b = F.dropout(x, 0.3).numpy()
    np.testing.assert_array_equal(a, b)
    kept = a != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(a[kept], 1 / 0.7, rtol=1e-6)
    with pytest.raises(ValueError, match="dropout: rate must be in"):
        F.dropout(x, 1.0)


def test_dropout_gradient_uses_the_same_mask():
    x = lm.ones(10, 10, requires_grad=True)
    y = F.dropout(x, 0.5)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())


def test_softmax_rows_sum_to_one_and_log_softmax_consistent():
    z = lm.randn(4, 7) * 30
    p = lm.softmax(z)
    np.testing.assert_allclose(p.numpy().sum(-1), np.ones(4), rtol=1e-6)
    np.testing.assert_allclose(np.exp(lm.log_softmax(z).numpy()), p.numpy(), rtol=1e-5,
                               atol=1e-30)


def test_linear_bias_shape_error():
    with pytest.raises(ValueError, match=r"linear: bias of shape \(3,\)"):
        F.linear(lm.zeros(2, 4), lm.zeros(4, 5), lm.zeros(3))


# ----------------------------------------------------------- linear(activation="relu")
def _relu_case(shape_x=(6, 5), out=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape_x)
    w = rng.standard_normal((shape_x[-1], out))
    b = rng.standard_normal(out) * 0.5
    return x, w, b


@pytest.mark.parametrize("shape_x", [(6, 5), (2, 3, 5)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_relu_matches_relu_of_linear(shape_x, with_bias):
    x, w, b = _relu_case(shape_x)
    grads = []
    for fused in (True, False):
        ts = [lm.tensor(a, requires_grad=True) for a in (x, w, b)]
        bias = ts[2] if with_bias else None
        y = (F.linear(ts[0], ts[1], bias, activation="relu") if fused
             else F.relu(F.linear(ts[0], ts[1], bias)))
        (y * lm.tensor(np.arange(y.size, dtype=np.float64).reshape(y.shape))).sum().backward()
        grads.append([y.numpy()] + [t.grad.numpy() if t.grad is not None else None for t in ts])
    assert (grads[0][0] == 0).any() and (grads[0][0] > 0).any()      # both branches taken
    for a, b_ in zip(grads[0], grads[1]):
        if b_ is None:
            assert a is None
        else:
            np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)


def test_linear_relu_is_one_node_and_linear_activation_is_plain():
    x, w, b = _relu_case()
    ws, bs = lm.tensor(w, requires_grad=True), lm.tensor(b, requires_grad=True)
    y = F.linear(lm.tensor(x), ws, bs, activation="relu")
    assert y._op == "linear_relu" and len(y._parents) == 3
    z = F.linear(lm.tensor(x), ws, bs, activation="linear")
    assert z._op == "linear"
    np.testing.assert_array_equal(z.numpy(), F.linear(lm.tensor(x), ws, bs).numpy())
    with lm.no_grad():
        n = F.linear(lm.tensor(x), ws, bs, activation="relu")
    assert not n.requires_grad and n.numpy().min() == 0.0


def test_linear_relu_gradcheck_and_second_order():
    x, w, b = _relu_case((4, 3), 5, seed=2)
    f = lambda a, k, c: F.linear(a, k, c, activation="relu")     # noqa: E731
    assert gradcheck(f, [x, w, b])
    assert gradgradcheck(f, [x, w, b])


def test_linear_relu_against_torch(torch):
    x, w, b = _relu_case((8, 6), 7, seed=3)
    ts = [lm.tensor(a.astype(np.float32), requires_grad=True) for a in (x, w, b)]
    y = F.linear(*ts, activation="relu")
    tt = [torch.tensor(a.astype(np.float32), requires_grad=True) for a in (x, w, b)]
    ty = torch.relu(torch.nn.functional.linear(tt[0], tt[1].T, tt[2]))
    g = np.random.default_rng(4).standard_normal(y.shape).astype(np.float32)
    y.backward(lm.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    for a, t in zip(ts, tt):
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_linear_relu_errors():
    x, w, b = _relu_case()
    with pytest.raises(ValueError, match="linear: activation must be None, 'linear' or 'relu'"):
        F.linear(lm.tensor(x), lm.tensor(w), activation="tanh")
    y = F.linear(lm.tensor(x), lm.tensor(w, requires_grad=True), activation="relu")
    with lm.no_grad():
        y += 1.0
    with pytest.raises(RuntimeError, match="linear_relu.*modified in place"):
        y.sum().backward()


# ------------------------------------------- cross_entropy: the NumPy sparse fast path
def _torch_ce(torch, z, t, reduction, g):
    tz = torch.tensor(z, requires_grad=True)
    logits = tz if z.ndim == 2 else tz.reshape(-1, z.shape[-1])
    tl = torch.nn.functional.cross_entropy(logits, torch.tensor(t.reshape(-1).astype(np.int64)),
                                           reduction=reduction)
    if reduction == "none":
        tl = tl.reshape(t.shape)
    tl.backward(torch.tensor(g))
    return tl.detach().numpy(), tz.grad.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape,tdtype", [((7, 5), np.int64), ((7, 5), np.int32),
                                          ((3, 4, 6), np.uint8), ((0, 4), np.int64)])
def test_cross_entropy_sparse_fast_path_against_torch(torch, reduction, shape, tdtype):
    rng = np.random.default_rng(sum(shape))
    z = (rng.standard_normal(shape) * 3).astype(np.float64)
    t = rng.integers(0, shape[-1], shape[:-1]).astype(tdtype)
    g = rng.standard_normal(shape[:-1] if reduction == "none" else ())
    x = lm.tensor(z, requires_grad=True)
    loss = F.cross_entropy(x, t, reduction=reduction)
    loss.backward(lm.tensor(g))
    ref_loss, ref_grad = _torch_ce(torch, z, t, reduction, g)
    if z.size == 0 and reduction == "mean":
        ref_loss = 0.0              # lamina's mean over no samples is 0 (torch gives NaN)
    assert loss.shape == np.shape(ref_loss) and loss.dtype == np.float64
    np.testing.assert_allclose(loss.numpy(), ref_loss, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), ref_grad, rtol=1e-10, atol=1e-12)


def test_cross_entropy_sparse_fast_path_gradcheck_and_float32():
    rng = np.random.default_rng(5)
    t = np.array([2, 0, 4, 4])
    for red in ("mean", "sum", "none"):
        assert gradcheck(lambda a: F.cross_entropy(a, t, reduction=red), [rng.standard_normal((4, 5))])
    assert gradgradcheck(lambda a: F.cross_entropy(a, t, reduction="sum"),
                         [rng.standard_normal((4, 5))])
    x = lm.tensor(rng.standard_normal((4, 5)).astype(np.float32), requires_grad=True)
    loss = F.cross_entropy(x, t.astype(np.int32))
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32


def test_cross_entropy_sparse_fast_path_range_errors():
    z = lm.zeros(2, 3)
    for bad in (np.array([0, 3]), np.array([-1, 0], np.int32)):
        with pytest.raises(ValueError, match=r"class ids must lie in \[0, 3\)"):
            F.cross_entropy(z, bad)
    with pytest.raises(ValueError, match=r"sparse targets of shape \(3,\)"):
        F.cross_entropy(z, np.array([0, 1, 2], np.int32))


def test_dense_relu_layer_runs_the_fused_op():
    from lamina import keras
    x, _, _ = _relu_case((5, 3))
    layer = keras.layers.Dense(4, activation="relu")
    y = layer(lm.tensor(x.astype(np.float32)))
    assert y._op == "linear_relu"
    ref = F.relu(F.linear(lm.tensor(x.astype(np.float32)), layer.kernel, layer.bias))
    np.testing.assert_array_equal(y.numpy(), ref.numpy())
    assert keras.layers.Dense(4, activation="tanh")(lm.tensor(x))._op != "linear_relu"
