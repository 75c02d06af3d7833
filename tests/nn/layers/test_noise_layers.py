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
