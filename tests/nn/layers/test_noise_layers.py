"""Noise and regularization layers: training-only noise, statistics, losses, configs."""
import numpy as np
import pytest

import lamina as lm
from lamina.nn import layers
from layer_checks import gradcheck_layer, roundtrip


def test_gaussian_noise():
    lm.random.seed(0)
    x = np.zeros((400, 50), "float32")
    g = layers.GaussianNoise(0.5)
    np.testing.assert_array_equal(g(x).numpy(), x)
    y = g(x, training=True).numpy()
    assert y.dtype == np.float32
    assert abs(y.std() - 0.5) < 0.02 and abs(y.mean()) < 0.02
    a = layers.GaussianNoise(0.5, seed=3)(x, training=True).numpy()
    b = layers.GaussianNoise(0.5, seed=3)(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    roundtrip(layers.GaussianNoise(0.1, seed=1), x[:2])
    gradcheck_layer(layers.GaussianNoise(0.1, dtype="float64"), np.ones((2, 3)))
    with pytest.raises(ValueError, match="stddev"):
        layers.GaussianNoise(-1)


def test_gaussian_dropout():
    lm.random.seed(1)
    x = np.ones((400, 50), "float32")
    y = layers.GaussianDropout(0.2)(x, training=True).numpy()
    assert abs(y.mean() - 1) < 0.02 and abs(y.std() - 0.5) < 0.02
    np.testing.assert_array_equal(layers.GaussianDropout(0.2)(x).numpy(), x)
    roundtrip(layers.GaussianDropout(0.3), x[:2])


def test_activity_regularization_adds_batch_normalized_loss():
    layer = layers.ActivityRegularization(l1=0.1, l2=0.01)
    x = np.array([[1.0, -2.0], [3.0, 0.0]], "float32")
    y = layer(x)
    np.testing.assert_array_equal(y.numpy(), x)
    (loss,) = layer.losses
    np.testing.assert_allclose(float(loss), (0.1 * 6 + 0.01 * 14) / 2, rtol=1e-6)
    xt = lm.tensor(x, requires_grad=True)
    layer(xt)
    layer.losses[0].backward()
    np.testing.assert_allclose(xt.grad.numpy(), (0.1 * np.sign(x) + 0.02 * x) / 2, rtol=1e-6)
    clone = roundtrip(layer, x)
    assert "activity_regularizer" not in clone.get_config()
    assert clone.get_config()["l1"] == 0.1


def test_alpha_dropout_keeps_mean_and_variance_and_formula():
    rate = 0.2
    x = np.random.default_rng(4).standard_normal((500, 80)).astype("float32")
    layer = layers.AlphaDropout(rate, seed=5)
    np.testing.assert_array_equal(layer(x).numpy(), x)
    y = layer(x, training=True).numpy()
    assert y.dtype == np.float32
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * rate
    kept = np.isclose(y, a * x + b, rtol=1e-5, atol=1e-6)
    dropped = np.isclose(y, a * alpha_p + b, rtol=1e-5)
    assert np.all(kept | dropped)
    assert abs(dropped.mean() - rate) < 0.01


def test_alpha_dropout_noise_shape_seed_config_and_gradcheck():
    x = np.ones((4, 6, 5), "float32")
    y = layers.AlphaDropout(0.5, noise_shape=(None, 1, 5), seed=1)(x, training=True).numpy()
    # the pattern is shared along axis 1
    assert np.all(y.min(axis=1) == y.max(axis=1))
    a = layers.AlphaDropout(0.3, seed=7)(x, training=True).numpy()
    b = layers.AlphaDropout(0.3, seed=7)(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    roundtrip(layers.AlphaDropout(0.3, noise_shape=(None, 1, 5), seed=2), x)
    gradcheck_layer(layers.AlphaDropout(0.3, dtype="float64"), np.ones((2, 3)))
    # while training: d y / d x = a where kept, 0 where dropped
    xt = lm.tensor(np.random.default_rng(0).standard_normal((50, 4)), requires_grad=True)
    yt = layers.AlphaDropout(0.3, seed=3, dtype="float64")(xt, training=True)
    lm.sum(yt).backward()
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    a_ = ((1 - 0.3) * (1 + 0.3 * alpha_p ** 2)) ** -0.5
    dropped = np.isclose(yt.numpy(), a_ * alpha_p - a_ * alpha_p * 0.3)
    assert 0 < dropped.sum() < dropped.size
    np.testing.assert_allclose(xt.grad.numpy(), np.where(dropped, 0.0, a_))
    with pytest.raises(ValueError, match="alpha_dropout_e.*rate"):
        layers.AlphaDropout(1.5, name="alpha_dropout_e")
    with pytest.raises(ValueError, match="noise_shape"):
        layers.AlphaDropout(0.3, noise_shape=(None, 1))(x, training=True)
