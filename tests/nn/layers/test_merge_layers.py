"""Merge layers: values, shapes (with broadcasting and None dims), gradients, configs,
functional aliases and errors."""
import numpy as np
import pytest

from lamina.nn import layers, Input, Model
from layer_checks import gradcheck_layer, roundtrip

rng = np.random.default_rng(1)
A, B, C = (rng.standard_normal((3, 4)) for _ in range(3))

CASES = [
    ("add", layers.Add, [A, B, C], lambda a, b, c: a + b + c),
    ("subtract", layers.Subtract, [A, B], lambda a, b: a - b),
    ("multiply", layers.Multiply, [A, B, C], lambda a, b, c: a * b * c),
    ("average", layers.Average, [A, B], lambda a, b: (a + b) / 2),
    ("maximum", layers.Maximum, [A, B, C], lambda a, b, c: np.maximum(np.maximum(a, b), c)),
    ("minimum", layers.Minimum, [A, B], np.minimum),
    ("concatenate", layers.Concatenate, [A, B], lambda a, b: np.concatenate([a, b], -1)),
]


@pytest.mark.parametrize("name,cls,xs,ref", CASES, ids=[c[0] for c in CASES])
def test_values_grad_config(name, cls, xs, ref):
    y = cls()([x.astype("float32") for x in xs])
    np.testing.assert_allclose(y.numpy(), ref(*xs), rtol=1e-5, atol=1e-6)
    gradcheck_layer(cls(dtype="float64"), list(xs))
    roundtrip(cls(), [x.astype("float32") for x in xs])
    sym = cls()([Input((4,)) for _ in xs])
    assert sym.shape == (None,) + y.shape[1:]


def test_functional_aliases():
    a, b = Input((4,)), Input((4,))
    for fn, ref in [(layers.add, A + B), (layers.subtract, A - B), (layers.multiply, A * B),
                    (layers.average, (A + B) / 2), (layers.maximum, np.maximum(A, B)),
                    (layers.minimum, np.minimum(A, B)),
                    (layers.concatenate, np.concatenate([A, B], -1))]:
        m = Model([a, b], fn([a, b]))
        np.testing.assert_allclose(m([A, B]).numpy(), ref, rtol=1e-5, atol=1e-6)


def test_concatenate_axis_and_errors():
    x, y = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    out = layers.Concatenate(axis=1)([x, y])
    assert out.shape == (2, 8, 4)
    with pytest.raises(ValueError, match="concatenate.*matching shapes"):
        layers.Concatenate()([Input((3, 4)), Input((5, 4))])
    with pytest.raises(ValueError, match="list of inputs"):
        layers.Add()(Input((3,)))
    with pytest.raises(ValueError, match="exactly 2"):
        layers.Subtract()([Input((3,))] * 3)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        layers.Add()([Input((3,)), Input((4,))])


def test_dot_2d_3d_and_cosine():
    y = layers.Dot(axes=1)([A.astype("float32"), B.astype("float32")])
    np.testing.assert_allclose(y.numpy(), (A * B).sum(1, keepdims=True), rtol=1e-5)
    cos = layers.Dot(axes=1, normalize=True)([A, B]).numpy()
    ref = (A * B).sum(1) / np.linalg.norm(A, axis=1) / np.linalg.norm(B, axis=1)
    np.testing.assert_allclose(cos[:, 0], ref, rtol=1e-5)
    x, z = rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 4, 5))
    out = layers.Dot(axes=2)([x, z]).numpy()
    np.testing.assert_allclose(out, np.einsum("bid,bjd->bij", x, z), rtol=1e-5)
    out = layers.Dot(axes=(1, 1))([x, rng.standard_normal((2, 3, 2))])
    assert out.shape == (2, 5, 2)
    sym = layers.Dot(axes=2)([Input((3, 5)), Input((4, 5))])
    assert sym.shape == (None, 3, 4)
    gradcheck_layer(layers.Dot(axes=2, normalize=True, dtype="float64"), [x, z])
    roundtrip(layers.Dot(axes=[2, 2], normalize=True), [x, z])
    with pytest.raises(ValueError, match="incompatible input shapes"):
        layers.Dot(axes=1)([Input((3,)), Input((4,))])
