"""Convolution layers: output shapes and parameter counts against Keras's formulas,
get_config round trips, data_format, errors naming the layer, and gradients flowing to the
weights."""
from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina.nn.layers.conv import (Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose,
                                   Convolution2D, DepthwiseConv2D, SeparableConv2D)

X4 = np.random.default_rng(0).standard_normal((2, 9, 8, 3)).astype(np.float32)


def _conv_len(n, k, pad, s, d=1):
    keff = (k - 1) * d + 1
    return -(-n // s) if pad in ("same", "causal") else (n - keff) // s + 1


# (layer, expected output shape, expected number of parameters)
CASES = [
    (lambda: Conv2D(4, 3), (2, 7, 6, 4), 3 * 3 * 3 * 4 + 4),
    (lambda: Conv2D(4, (3, 2), strides=2, padding="same"),
     (2, _conv_len(9, 3, "same", 2), _conv_len(8, 2, "same", 2), 4), 3 * 2 * 3 * 4 + 4),
    (lambda: Conv2D(6, 3, dilation_rate=2, use_bias=False), (2, 5, 4, 6), 3 * 3 * 3 * 6),
    (lambda: Conv2D(6, 3, groups=3), (2, 7, 6, 6), 3 * 3 * 1 * 6 + 6),
    (lambda: DepthwiseConv2D(3, depth_multiplier=2, padding="same"), (2, 9, 8, 6),
     3 * 3 * 3 * 2 + 6),
    (lambda: SeparableConv2D(5, 3, strides=2), (2, 4, 3, 5), 3 * 3 * 3 + 3 * 5 + 5),
    (lambda: Conv2DTranspose(4, 3, strides=2, padding="same"), (2, 18, 16, 4),
     3 * 3 * 4 * 3 + 4),
    (lambda: Conv2DTranspose(4, 3, strides=2), (2, 19, 17, 4), 3 * 3 * 4 * 3 + 4),
    (lambda: Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=0),
     (2, 17, 15, 2), 3 * 3 * 2 * 3 + 2),
]


@pytest.mark.parametrize("make,shape,params", CASES)
def test_shapes_params_and_config(make, shape, params):
    layer = make()
    y = layer(lm.tensor(X4))
    assert y.shape == shape
    assert layer.compute_output_shape((None,) + X4.shape[1:]) == (None,) + shape[1:]
    assert layer.count_params() == params
    cfg = layer.get_config()
    clone = type(layer).from_config(cfg)
    assert clone.get_config() == cfg
    clone(lm.tensor(X4))
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(lm.tensor(X4)).numpy(), y.numpy(), rtol=1e-6)


def test_conv2d_layer_equals_the_op_and_trains():
    layer = Conv2D(4, 3, padding="same", activation="relu")
    x = lm.tensor(X4)
    y = layer(x)
    ref = lm.relu(lm.nn.functional.conv2d(x, layer.kernel, layer.bias, padding="same"))
    np.testing.assert_allclose(y.numpy(), ref.numpy())
    y.sum().backward()
    assert layer.kernel.grad.shape == (3, 3, 3, 4) and layer.bias.grad.shape == (4,)
    assert [w.path for w in layer.weights] == [f"{layer.name}/kernel", f"{layer.name}/bias"]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_relu_activation_fuses_into_the_conv(data_format):
    # activation="relu" runs as one conv2d_relu node; values and gradients equal the
    # unfused conv followed by relu (a custom relu-like callable is not fused)
    x = X4 if data_format == "channels_last" else np.ascontiguousarray(X4.transpose(0, 3, 1, 2))
    fused = Conv2D(4, 3, strides=(2, 1), padding="same", activation="relu",
                   data_format=data_format)
    plain = Conv2D(4, 3, strides=(2, 1), padding="same", data_format=data_format,
                   activation=lambda t: lm.relu(t))
    xf, xp_ = lm.tensor(x, requires_grad=True), lm.tensor(x, requires_grad=True)
    fused(xf)
    plain(xp_)
    plain.set_weights(fused.get_weights())
    yf, yp = fused(xf), plain(xp_)
    node = yf if data_format == "channels_last" else yf._parents[0]
    assert node._op == "conv2d_relu" and (yp._op == "relu")
    np.testing.assert_allclose(yf.numpy(), yp.numpy(), rtol=1e-6, atol=1e-6)
    assert (yf.numpy() == 0).any()
    u = lm.tensor(np.random.default_rng(1).standard_normal(yf.shape).astype(np.float32))
    (yf * u).sum().backward()
    (yp * u).sum().backward()
    for a, b in ((xf, xp_), (fused.kernel, plain.kernel), (fused.bias, plain.bias)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-5)
    assert fused.get_config()["activation"] == "relu"


def test_channels_first_matches_channels_last():
    a = Conv2D(4, 3, strides=2, padding="same")
    b = Conv2D(4, 3, strides=2, padding="same", data_format="channels_first")
    xf = np.ascontiguousarray(X4.transpose(0, 3, 1, 2))
    a(lm.tensor(X4))
    b(lm.tensor(xf))
    b.set_weights(a.get_weights())
    np.testing.assert_allclose(b(lm.tensor(xf)).numpy().transpose(0, 2, 3, 1),
                               a(lm.tensor(X4)).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pad,d,s", [("valid", 1, 1), ("same", 1, 2), ("causal", 2, 1)])
def test_conv1d(pad, d, s):
    x = np.random.default_rng(1).standard_normal((2, 10, 3)).astype(np.float32)
    layer = Conv1D(5, 3, strides=s, padding=pad, dilation_rate=d)
    y = layer(lm.tensor(x))
    assert y.shape == (2, _conv_len(10, 3, pad, s, d), 5)
    assert layer.count_params() == 3 * 3 * 5 + 5
    assert Conv1DTranspose(2, 3, strides=2)(lm.tensor(x)).shape == (2, 21, 2)


def test_alias_and_errors():
    assert Convolution2D is Conv2D
    layer = Conv2D(4, 3, name="c1")
    layer(lm.zeros((1, 5, 5, 3)))
    with pytest.raises(ValueError, match="c1"):
        layer(lm.zeros((1, 5, 5, 2)))
    with pytest.raises(ValueError, match="Conv2D 'c2': padding must be"):
        Conv2D(4, 3, padding="causal", name="c2")
    with pytest.raises(ValueError, match="filters must be a positive int"):
        Conv2D(0, 3)
    with pytest.raises(ValueError, match="divisible by groups"):
        Conv2D(4, 3, groups=2)(lm.zeros((1, 5, 5, 3)))


def test_cnn_saves_and_loads(tmp_path):
    from lamina import keras
    L = keras.layers
    model = keras.Sequential([
        keras.Input(shape=(12, 12, 3)), L.Conv2D(4, 3, padding="same", activation="relu"),
        L.DepthwiseConv2D(3), L.SeparableConv2D(5, 3), L.Conv2DTranspose(3, 3, strides=2),
        L.MaxPooling2D(), L.UpSampling2D(), L.ZeroPadding2D(1), L.Cropping2D(1),
        L.GlobalAveragePooling2D(), L.Dense(2)])
    x = np.random.default_rng(0).random((2, 12, 12, 3)).astype(np.float32)
    path = str(tmp_path / "cnn.keras")
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(a).__name__ for a in again.layers] == [type(a).__name__ for a in model.layers]


def test_one_dimensional_depthwise_and_separable_gradcheck():
    from layer_checks import gradcheck_layer
    from lamina.nn.layers import conv as CL
    x = np.random.default_rng(5).standard_normal((2, 9, 3))
    gradcheck_layer(CL.DepthwiseConv1D(3, strides=2, padding="same", depth_multiplier=2,
                                       dtype="float64"), x)
    gradcheck_layer(CL.SeparableConv1D(4, 3, dilation_rate=2, dtype="float64"), x)
    assert CL.SeparableConvolution1D is CL.SeparableConv1D
    assert CL.Convolution1DTranspose is CL.Conv1DTranspose


def test_volume_layers_gradcheck_and_aliases():
    from layer_checks import gradcheck_layer
    from lamina.nn import layers as LL
    x = np.random.default_rng(6).standard_normal((1, 4, 4, 5, 2))
    gradcheck_layer(LL.Conv3D(2, 2, strides=(1, 2, 1), padding="same", dtype="float64"), x)
    gradcheck_layer(LL.AveragePooling3D(2, padding="same", dtype="float64"), x)
    assert LL.Convolution3D is LL.Conv3D and LL.MaxPool3D is LL.MaxPooling3D
    with pytest.raises(ValueError, match="groups=2 is not supported"):
        LL.Conv3D(4, 2, groups=2)
