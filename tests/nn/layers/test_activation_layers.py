"""Activation layers (ReLU, LeakyReLU, ELU, PReLU, Softmax): values, gradients, configs."""
import numpy as np
import pytest

from lamina.nn import layers
from layer_checks import gradcheck_layer, roundtrip

rng = np.random.default_rng(3)
# keep values away from the kinks at 0 and at the thresholds, where finite differences fail
X = rng.uniform(0.2, 2.0, (3, 4)) * rng.choice([-1, 1], (3, 4))

CASES = [
    ("relu", lambda dt: layers.ReLU(dtype=dt), np.maximum(X, 0)),
    ("relu_opts", lambda dt: layers.ReLU(max_value=1.5, negative_slope=0.1, dtype=dt),
     np.minimum(np.where(X >= 0, X, 0.1 * X), 1.5)),
    ("leaky", lambda dt: layers.LeakyReLU(dtype=dt), np.where(X >= 0, X, 0.3 * X)),
    ("leaky_alpha", lambda dt: layers.LeakyReLU(alpha=0.1, dtype=dt), np.where(X >= 0, X, 0.1 * X)),
    ("elu", lambda dt: layers.ELU(0.5, dtype=dt), np.where(X > 0, X, 0.5 * (np.exp(X) - 1))),
    ("prelu", lambda dt: layers.PReLU(dtype=dt), np.maximum(X, 0)),
    ("softmax", lambda dt: layers.Softmax(dtype=dt),
     np.exp(X) / np.exp(X).sum(-1, keepdims=True)),
]


@pytest.mark.parametrize("name,make,ref", CASES, ids=[c[0] for c in CASES])
def test_values_grads_configs(name, make, ref):
    np.testing.assert_allclose(make(None)(X.astype("float32")).numpy(), ref, rtol=1e-5,
                               atol=1e-6)
    gradcheck_layer(make("float64"), X)
    roundtrip(make(None), X.astype("float32"))


def test_leaky_relu_default_slope_is_keras3():
    assert layers.LeakyReLU().negative_slope == 0.3


def test_prelu_learns_alpha_per_feature():
    p = layers.PReLU(alpha_initializer="ones", shared_axes=[1])
    x = rng.standard_normal((2, 3, 4)).astype("float32")
    np.testing.assert_allclose(p(x).numpy(), x, rtol=1e-6)
    assert p.alpha.shape == (1, 4)


def test_softmax_mask():
    x = np.zeros((1, 4), "float32")
    from lamina.tensor import Tensor
    y = layers.Softmax()(x, mask=Tensor(np.array([[True, True, False, False]]))).numpy()
    np.testing.assert_allclose(y, [[0.5, 0.5, 0.0, 0.0]], atol=1e-6)
    y = layers.Softmax(axis=[0, 1])(x).numpy()
    np.testing.assert_allclose(y, np.full((1, 4), 0.25), rtol=1e-6)


def test_errors_name_layer():
    with pytest.raises(ValueError, match="re_lu.*max_value"):
        layers.ReLU(max_value=-1)
    with pytest.raises(ValueError, match="negative_slope"):
        layers.LeakyReLU(negative_slope=-0.1)
