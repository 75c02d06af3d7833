"""Pooling layers: shapes against Keras's formulas, equality with the ops, configs."""
from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina.nn.layers import pooling as PL
from lamina.ops import pooling as P

X4 = np.random.default_rng(0).standard_normal((2, 9, 8, 3)).astype(np.float32)
X3 = np.random.default_rng(1).standard_normal((2, 9, 3)).astype(np.float32)


@pytest.mark.parametrize("make,x,shape,ref", [
    (lambda: PL.MaxPooling2D(), X4, (2, 4, 4, 3), lambda x: P.max_pool2d(x, 2)),
    (lambda: PL.MaxPool2D((3, 2), strides=2, padding="same"), X4, (2, 5, 4, 3),
     lambda x: P.max_pool2d(x, (3, 2), 2, "same")),
    (lambda: PL.AveragePooling2D(3, 1), X4, (2, 7, 6, 3), lambda x: P.avg_pool2d(x, 3, 1)),
    (lambda: PL.AvgPool2D(padding="same"), X4, (2, 5, 4, 3),
     lambda x: P.avg_pool2d(x, 2, 2, "same")),
    (lambda: PL.MaxPooling1D(), X3, (2, 4, 3), lambda x: P.max_pool1d(x, 2)),
    (lambda: PL.AveragePooling1D(3, 2, "same"), X3, (2, 5, 3),
     lambda x: P.avg_pool1d(x, 3, 2, "same")),
    (lambda: PL.GlobalAveragePooling2D(), X4, (2, 3), lambda x: lm.mean(x, axis=(1, 2))),
    (lambda: PL.GlobalMaxPooling2D(keepdims=True), X4, (2, 1, 1, 3),
     lambda x: lm.max(x, axis=(1, 2), keepdims=True)),
    (lambda: PL.GlobalAveragePooling1D(), X3, (2, 3), lambda x: lm.mean(x, axis=1)),
    (lambda: PL.GlobalMaxPooling1D(), X3, (2, 3), lambda x: lm.max(x, axis=1)),
])
def test_pooling_layers(make, x, shape, ref):
    layer = make()
    y = layer(lm.tensor(x))
    assert y.shape == shape
    assert layer.compute_output_shape(x.shape) == shape
    np.testing.assert_allclose(y.numpy(), ref(lm.tensor(x)).numpy())
    assert layer.count_params() == 0
    cfg = layer.get_config()
    assert type(layer).from_config(cfg).get_config() == cfg


def test_channels_first_pooling():
    xf = np.ascontiguousarray(X4.transpose(0, 3, 1, 2))
    y = PL.MaxPooling2D(data_format="channels_first")(lm.tensor(xf))
    np.testing.assert_allclose(y.numpy().transpose(0, 2, 3, 1),
                               P.max_pool2d(lm.tensor(X4), 2).numpy())
    g = PL.GlobalAveragePooling2D(data_format="channels_first")(lm.tensor(xf))
    np.testing.assert_allclose(g.numpy(), X4.mean(axis=(1, 2)), rtol=1e-6)


def test_aliases_and_errors():
    assert PL.MaxPool2D is PL.MaxPooling2D and PL.AvgPool2D is PL.AveragePooling2D
    assert PL.GlobalAvgPool2D is PL.GlobalAveragePooling2D
    with pytest.raises(ValueError, match="'p1'"):
        PL.MaxPooling2D(name="p1")(lm.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="MaxPooling2D 'p2': padding must be"):
        PL.MaxPooling2D(padding="causal", name="p2")


def test_global_pooling_3d_values_shapes_and_gradcheck():
    from layer_checks import gradcheck_layer
    from lamina.nn.layers import GlobalAveragePooling3D, GlobalMaxPooling3D
    x = np.random.default_rng(3).standard_normal((2, 3, 2, 4, 5))
    avg, mx = GlobalAveragePooling3D(), GlobalMaxPooling3D(keepdims=True)
    np.testing.assert_allclose(avg(x.astype("float32")).numpy(), x.mean(axis=(1, 2, 3)),
                               rtol=1e-5)
    np.testing.assert_allclose(mx(x.astype("float32")).numpy(),
                               x.max(axis=(1, 2, 3), keepdims=True), rtol=1e-6)
    assert avg.compute_output_shape((None, 3, 2, 4, 5)) == (None, 5)
    assert mx.compute_output_shape((None, 3, 2, 4, 5)) == (None, 1, 1, 1, 5)
    first = GlobalAveragePooling3D(data_format="channels_first")
    np.testing.assert_allclose(first(x.astype("float32")).numpy(), x.mean(axis=(2, 3, 4)),
                               rtol=1e-5)
    gradcheck_layer(GlobalAveragePooling3D(dtype="float64"), x)
    gradcheck_layer(GlobalMaxPooling3D(dtype="float64"), x)
