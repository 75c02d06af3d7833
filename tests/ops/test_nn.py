"""Neural-network ops (lamina/ops/nn.py): linear, softmax, cross-entropies, dropout."""
import warnings

import numpy as np
import pytest

import lamina as lm
from lamina.nn import functional as F
from lamina.testing import gradgradcheck


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
