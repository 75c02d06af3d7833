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
