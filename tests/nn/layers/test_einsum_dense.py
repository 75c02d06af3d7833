"""EinsumDense: kernel/bias shapes from the equation (Keras's rules), values against
NumPy's einsum, gradients, configs and errors."""
import numpy as np
import pytest

import lamina as lm
from lamina.nn import layers, Sequential, Input
from lamina.nn.layers.einsum_dense import analyze_einsum
from layer_checks import gradcheck_layer, roundtrip

rng = np.random.default_rng(8)


@pytest.mark.parametrize("eq,out,bias,in_shape,kernel,bshape,full", [
    ("ab,bc->ac", 4, None, (None, 3), [3, 4], None, [None, 4]),
    ("ab,bc->ac", 4, "c", (None, 3), [3, 4], [4], [None, 4]),
    ("abc,cd->abd", (None, 4), "d", (None, 5, 3), [3, 4], [4], [None, None, 4]),
    ("abc,cde->abde", (None, 2, 4), "de", (None, 5, 3), [3, 2, 4], [2, 4],
     [None, None, 2, 4]),
    ("abc,cde->abde", (None, 2, 4), "be", (None, 5, 3), [3, 2, 4], [None, 1, 4],
     [None, None, 2, 4]),
    ("...b,bc->...c", 4, "c", (None, 7, 5, 3), [3, 4], [4], [None, 7, 5, 4]),
    ("ab...,bc->ac...", 4, "c", (None, 3, 7, 5), [3, 4], [4, 1, 1], [None, 4, 7, 5]),
    ("abcd,cde->abe", (None, 6), "e", (None, 2, 3, 4), [3, 4, 6], [6], [None, None, 6]),
])
def test_kernel_and_bias_shapes(eq, out, bias, in_shape, kernel, bshape, full):
    k, b, f, in_axes, out_axes = analyze_einsum(eq, bias, in_shape, out)
    assert (k, b, f) == (kernel, bshape, full)
    assert sorted(in_axes + out_axes) == list(range(len(k)))


def test_values_against_numpy_and_dense():
    x = rng.standard_normal((2, 5, 3)).astype("float32")
    layer = layers.EinsumDense("abc,cde->abde", (None, 2, 4), bias_axes="de",
                               activation="tanh")
    y = layer(x).numpy()
    k, b = layer.kernel.numpy(), layer.bias.numpy()
    b = rng.standard_normal(b.shape).astype("float32")
    layer.bias.assign(b)
    y = layer(x).numpy()
    np.testing.assert_allclose(y, np.tanh(np.einsum("abc,cde->abde", x, k) + b),
                               rtol=1e-5, atol=1e-6)
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    # "ab,bc->ac" with a bias over c is Dense
    ed = layers.EinsumDense("ab,bc->ac", 4, bias_axes="c")
    d = layers.Dense(4)
    x2 = rng.standard_normal((3, 6)).astype("float32")
    ed(x2)
    d(x2)
    d.set_weights(ed.get_weights())
    np.testing.assert_allclose(ed(x2).numpy(), d(x2).numpy(), rtol=1e-6)
    assert ed.count_params() == d.count_params() == 28


def test_gradcheck_roundtrip_and_model():
    gradcheck_layer(layers.EinsumDense("abc,cd->abd", (None, 2), bias_axes="d",
                                       dtype="float64"), rng.standard_normal((2, 3, 4)))
    gradcheck_layer(layers.EinsumDense("ab...,bc->ac...", 2, bias_axes="c",
                                       dtype="float64"), rng.standard_normal((2, 3, 4)))
    x = rng.standard_normal((2, 3, 4)).astype("float32")
    roundtrip(layers.EinsumDense("...b,bc->...c", 5, bias_axes="c", activation="relu"), x)
    model = Sequential([Input((3, 4)), layers.EinsumDense("abc,cd->abd", (3, 6),
                                                          bias_axes="d")])
    assert model.output_shape == (None, 3, 6)
    assert model(x).shape == (2, 3, 6)
    xt = lm.tensor(x)
    lm.sum(model(xt)).backward()
    assert model.layers[-1].kernel.grad.shape == (4, 6)


def test_config_keys_and_kernel_fans():
    cfg = layers.EinsumDense("ab,bc->ac", 4).get_config()
    assert [k for k in cfg if k not in ("name", "trainable", "dtype")] == [
        "output_shape", "equation", "activation", "bias_axes", "kernel_initializer",
        "bias_initializer", "kernel_regularizer", "bias_regularizer",
        "activity_regularizer", "kernel_constraint", "bias_constraint",
        "quantization_config"]
    assert cfg["output_shape"] == (4,)
    layer = layers.EinsumDense("abc,cde->abde", (None, 8, 16),
                               kernel_initializer=lm.nn.initializers.GlorotUniform(seed=1))
    layer.build((None, 3, 32))
    # fan_in = 32 (contracted), fan_out = 8 * 16 (produced), not the last two axes
    limit = np.sqrt(6.0 / (32 + 128))
    w = layer.kernel.numpy()
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit


def test_errors():
    with pytest.raises(ValueError, match="einsum_dense_e.*invalid equation"):
        layers.EinsumDense("ab->b", 3, name="einsum_dense_e")(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="bias axis 'z'"):
        layers.EinsumDense("ab,bc->ac", 3, bias_axes="z")(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="sizes differ on the shared axis 'b'"):
        layers.EinsumDense("abc,cd->abd", (7, 4))(np.zeros((2, 3, 5), "float32"))
    with pytest.raises(ValueError, match="kernel axis 'q'"):
        layers.EinsumDense("ab,bq->a", ())(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="bias over 'be' would have unknown sizes"):
        layers.EinsumDense("abc,cde->abde", (None, 2, 4), bias_axes="be")(
            lm.nn.Input((5, 3)))
    with pytest.raises(TypeError, match="equation must be a string"):
        layers.EinsumDense(3, 3)
