"""Activations (lamina/nn/activations.py): Keras names and formulas, lookup, serialize."""
import math

import numpy as np
import pytest

import lamina as lm
from lamina.nn import activations as A
from lamina.testing import gradcheck


def _sig(x):
    return 1 / (1 + np.exp(-x))


FORMULAS = {
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": _sig,
    "tanh": np.tanh,
    "softplus": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 *
                                                     (np.exp(x) - 1)),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
    "gelu": lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
    "silu": lambda x: x * _sig(x),
    "swish": lambda x: x * _sig(x),
    "exponential": np.exp,
    "linear": lambda x: x,
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1),
    "hard_silu": lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
    "relu6": lambda x: np.clip(x, 0, 6),
    "mish": lambda x: x * np.tanh(np.log1p(np.exp(x))),
    "log_sigmoid": lambda x: np.log(_sig(x)),
    "hard_tanh": lambda x: np.clip(x, -1, 1),
    "softmax": lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True),
    "log_softmax": lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True)),
    "celu": lambda x: np.maximum(x, 0) + np.expm1(np.minimum(x, 0)),
    "glu": lambda x: x[:, :2] * _sig(x[:, 2:]),
    "hard_shrink": lambda x: np.where(np.abs(x) > 0.5, x, 0),
    "soft_shrink": lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0)),
    "tanh_shrink": lambda x: x - np.tanh(x),
    "squareplus": lambda x: (x + np.sqrt(x ** 2 + 4)) / 2,
    "sparse_plus": lambda x: np.where(x <= -1, 0, np.where(x < 1, (x + 1) ** 2 / 4, x)),
    "sparse_sigmoid": lambda x: np.clip((x + 1) / 2, 0, 1),
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_values_match_formula(name, rng):
    x = (rng.standard_normal((3, 4)) * 3).astype(np.float32)
    y = A.get(name)(lm.tensor(x))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), FORMULAS[name](x.astype(np.float64)), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("name", ["mish", "log_sigmoid", "hard_tanh", "relu", "celu", "glu",
                                  "squareplus", "tanh_shrink", "sparse_plus"])
def test_own_compositions_have_correct_gradients(name, rng):
    x = rng.standard_normal((3, 4)) + 0.05      # away from relu's kink at 0 for FD
    gradcheck(A.get(name), [x])


def test_relu_keras_options():
    x = np.array([-2.0, -0.5, 0.5, 1.5, 8.0], np.float32)
    np.testing.assert_allclose(A.relu(x, max_value=6.0).numpy(), [0, 0, 0.5, 1.5, 6.0])
    np.testing.assert_allclose(A.relu(x, negative_slope=0.1).numpy(),
                               [-0.2, -0.05, 0.5, 1.5, 8.0], rtol=1e-6)
    np.testing.assert_allclose(A.relu(x, threshold=1.0).numpy(), [0, 0, 0, 1.5, 8.0])
    np.testing.assert_allclose(A.gelu(x, approximate=True).numpy(),
                               0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) *
                                                      (x + 0.044715 * x ** 3))), rtol=1e-5)
    np.testing.assert_allclose(A.softmax(np.ones((2, 3)), axis=0).numpy(), np.full((2, 3), 0.5))
    np.testing.assert_allclose(A.threshold(x, 1.0, -7.0).numpy(), [-7, -7, -7, 1.5, 8.0])
    with pytest.raises(ValueError, match="glu: the size of axis -1 must be even"):
        A.glu(np.ones((2, 3)))


def test_get_and_serialize():
    assert A.get(None) is A.linear and A.get("swish") is A.silu
    assert A.get(A.tanh) is A.tanh

    def custom(x):
        return x * 2
    assert A.get(custom) is custom
    for name in ("relu", "gelu", "softmax", "linear", "hard_sigmoid"):
        assert A.serialize(A.get(name)) == name
        assert A.get(A.serialize(A.get(name))) is A.get(name)
    assert A.get({"class_name": "function", "config": "elu"}) is A.elu
    assert A.deserialize("relu") is A.relu
    with pytest.raises(ValueError, match="unknown activation 'rleu'"):
        A.get("rleu")
    with pytest.raises(ValueError, match="cannot serialize"):
        A.serialize(custom)
    with pytest.raises(TypeError, match="activations.get"):
        A.get(3)


def test_sparsemax_projects_onto_the_simplex():
    import lamina as lm
    from lamina.nn import activations as A
    from lamina.testing import gradcheck
    np.testing.assert_allclose(A.sparsemax(np.array([[0.5, 1.2, -0.3, 2.0]])).numpy(),
                               [[0.0, 0.1, 0.0, 0.9]], atol=1e-6)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 7)) * 2
    for axis in (-1, 0):
        y = A.sparsemax(x, axis=axis).numpy()
        np.testing.assert_allclose(y.sum(axis=axis), 1.0, atol=1e-9)
        assert (y >= 0).all() and (y == 0).any()
        # the projection: no point of the simplex is closer to x (checked on random points)
        for _ in range(20):
            q = rng.dirichlet(np.ones(x.shape[axis]), size=x.shape[1 - (axis % 2)])
            q = q if axis in (-1, 1) else q.T
            assert (((x - y) ** 2).sum(axis=axis) <= ((x - q) ** 2).sum(axis=axis) + 1e-9).all()
        w = lm.tensor(rng.standard_normal(x.shape))
        gradcheck(lambda t, axis=axis: A.sparsemax(t, axis=axis) * w, [x])
    assert A.get("sparsemax") is A.sparsemax
