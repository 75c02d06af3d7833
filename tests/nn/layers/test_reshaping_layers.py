"""UpSampling2D, ZeroPadding2D, Cropping2D and SpatialDropout: shapes, values, configs."""
from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina.nn.layers.reshaping import (Cropping2D, SpatialDropout1D, SpatialDropout2D,
                                      UpSampling2D, ZeroPadding2D)

X4 = np.random.default_rng(0).standard_normal((2, 5, 4, 3)).astype(np.float32)


@pytest.mark.parametrize("make,shape", [
    (lambda: UpSampling2D(), (2, 10, 8, 3)),
    (lambda: UpSampling2D((2, 3), interpolation="bilinear"), (2, 10, 12, 3)),
    (lambda: ZeroPadding2D(), (2, 7, 6, 3)),
    (lambda: ZeroPadding2D(((1, 2), (0, 3))), (2, 8, 7, 3)),
    (lambda: Cropping2D(((1, 2), (0, 1))), (2, 2, 3, 3)),
    (lambda: Cropping2D(1), (2, 3, 2, 3)),
    (lambda: SpatialDropout2D(0.3), (2, 5, 4, 3)),
])
def test_shapes_and_config(make, shape):
    layer = make()
    assert layer(lm.tensor(X4)).shape == shape
    assert layer.compute_output_shape(X4.shape) == shape
    cfg = layer.get_config()
    assert type(layer).from_config(cfg).get_config() == cfg


def test_values():
    up = UpSampling2D(2)(lm.tensor(X4)).numpy()
    np.testing.assert_array_equal(up, X4.repeat(2, axis=1).repeat(2, axis=2))
    pad = ZeroPadding2D(((1, 0), (2, 1)))(lm.tensor(X4)).numpy()
    np.testing.assert_array_equal(pad[:, 1:, 2:6], X4)
    assert np.all(pad[:, 0] == 0) and np.all(pad[:, :, :2] == 0) and np.all(pad[:, :, 6] == 0)
    crop = Cropping2D(((1, 2), (0, 1)))(lm.tensor(X4)).numpy()
    np.testing.assert_array_equal(crop, X4[:, 1:3, 0:3])


def test_spatial_dropout_drops_whole_channels_only_when_training():
    x = lm.ones((4, 6, 6, 8))
    layer = SpatialDropout2D(0.5, seed=3)
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())
    y = layer(x, training=True).numpy()
    per_map = y.reshape(4, 36, 8)
    # each (sample, channel) map is all zeros or all 1/(1-rate)
    assert np.all(per_map.min(axis=1) == per_map.max(axis=1))
    assert set(np.unique(per_map).tolist()) == {0.0, 2.0}
    y1 = SpatialDropout1D(0.5, seed=1)(lm.ones((3, 7, 5)), training=True).numpy()
    assert np.all(y1.min(axis=1) == y1.max(axis=1))


def test_errors():
    with pytest.raises(ValueError, match="UpSampling2D 'u': interpolation"):
        UpSampling2D(interpolation="cubic", name="u")
    with pytest.raises(ValueError, match="leaves nothing"):
        Cropping2D(3)(lm.tensor(X4))


# ---------------------------------------------------------------- 1-D layers, 3-D dropout
X3 = np.random.default_rng(1).standard_normal((2, 5, 3))


def test_1d_layers_values_shapes_and_config():
    from lamina.nn.layers.reshaping import Cropping1D, UpSampling1D, ZeroPadding1D
    from layer_checks import roundtrip
    x = X3.astype(np.float32)
    up = UpSampling1D(3)
    np.testing.assert_array_equal(up(x).numpy(), x.repeat(3, axis=1))
    assert up.compute_output_shape((None, 5, 3)) == (None, 15, 3)
    assert up.compute_output_shape((None, None, 3)) == (None, None, 3)
    pad = ZeroPadding1D((1, 2))(x).numpy()
    assert pad.shape == (2, 8, 3)
    np.testing.assert_array_equal(pad[:, 1:6], x)
    assert not pad[:, 0].any() and not pad[:, 6:].any()
    first = ZeroPadding1D(2, data_format="channels_first")(x).numpy()
    np.testing.assert_array_equal(first[:, :, 2:5], x)
    assert first.shape == (2, 5, 7)
    crop = Cropping1D((1, 2))
    np.testing.assert_array_equal(crop(x).numpy(), x[:, 1:3])
    assert crop.compute_output_shape((None, 5, 3)) == (None, 2, 3)
    assert Cropping1D(1)(x).shape == (2, 3, 3)
    for layer in (UpSampling1D(2), ZeroPadding1D(1), Cropping1D((2, 1))):
        roundtrip(layer, x)
        assert lm.nn.Sequential([lm.nn.Input((5, 3)), layer]).output_shape == \
            layer.compute_output_shape((None, 5, 3))


def test_1d_layers_gradcheck():
    from lamina.nn.layers.reshaping import Cropping1D, UpSampling1D, ZeroPadding1D
    from layer_checks import gradcheck_layer
    for layer in (UpSampling1D(2, dtype="float64"), ZeroPadding1D((2, 1), dtype="float64"),
                  Cropping1D((1, 1), dtype="float64")):
        gradcheck_layer(layer, X3)


def test_1d_layers_errors():
    from lamina.nn.layers.reshaping import Cropping1D, UpSampling1D, ZeroPadding1D
    with pytest.raises(ValueError, match="cropping1d_e.*removes all 5 steps"):
        Cropping1D((3, 2), name="cropping1d_e")(X3)
    with pytest.raises(ValueError, match="size must be a positive int"):
        UpSampling1D(0)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        ZeroPadding1D(-1)
    with pytest.raises(ValueError, match="ndim=3"):
        UpSampling1D(2)(np.zeros((2, 3), np.float32))


def test_spatial_dropout3d_drops_whole_volumes():
    from lamina.nn.layers.reshaping import SpatialDropout3D
    x = lm.ones((3, 4, 4, 4, 6))
    layer = SpatialDropout3D(0.5, seed=2)
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())
    y = layer(x, training=True).numpy().reshape(3, 64, 6)
    assert np.all(y.min(axis=1) == y.max(axis=1))
    assert set(np.unique(y).tolist()) == {0.0, 2.0}
    assert list(layer.get_config())[:2] == ["rate", "seed"]
