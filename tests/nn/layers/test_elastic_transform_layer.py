"""RandomElasticTransform (lamina.nn.layers.augmentation): shapes and layouts, value
range, identity at inference and for factor = 0 or scale = 0, seeded repeatability,
the per-image apply mask, dict inputs, configs, .keras save and load, devices, errors.
Keras's transform on the same displacement fields is compared in
tests/keras_oracle/test_audio_elastic_oracle.py."""
from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import keras
from lamina.nn.layers import augmentation as A

from layer_checks import roundtrip

X = np.random.default_rng(1).uniform(0, 255, (4, 12, 10, 3)).astype(np.float32)


def test_shapes_range_and_inference_identity():
    layer = A.RandomElasticTransform(factor=(1.0, 1.0), seed=2)
    np.testing.assert_array_equal(layer(X, training=False).numpy(), X)
    y = layer(X).numpy()                               # a bare call augments, as Keras
    assert y.shape == X.shape and y.dtype == np.float32
    assert np.all(np.abs(y - X).reshape(4, -1).max(axis=1) > 1.0)   # every image moves
    assert y.min() >= 0 and y.max() <= 255
    assert layer(X[0]).shape == X[0].shape
    # value_range clips every image, also those not transformed
    y01 = A.RandomElasticTransform(factor=0.5, value_range=(0, 1), seed=2)(X / 255 * 1.2)
    assert y01.numpy().min() >= 0 and y01.numpy().max() <= 1


def test_factor_or_scale_zero_is_the_identity():
    wide = X * 2 - 100                                   # outside value_range on purpose
    for kw in (dict(factor=0.0), dict(scale=0.0), dict(factor=(0, 0), scale=0.5)):
        np.testing.assert_array_equal(A.RandomElasticTransform(seed=1, **kw)(wide).numpy(),
                                      wide)


def test_seeded_layers_repeat_and_the_global_seed_works():
    a = A.RandomElasticTransform(seed=3)(X).numpy()
    np.testing.assert_array_equal(a, A.RandomElasticTransform(seed=3)(X).numpy())
    assert not np.array_equal(a, A.RandomElasticTransform(seed=4)(X).numpy())
    lm.random.seed(0)
    b = A.RandomElasticTransform()(X).numpy()
    lm.random.seed(0)
    np.testing.assert_array_equal(A.RandomElasticTransform()(X).numpy(), b)


def test_given_fields_apply_mask_and_nearest_sampling():
    layer = A.RandomElasticTransform(interpolation="nearest", fill_mode="constant",
                                     fill_value=7.0)
    noise = np.random.default_rng(2).standard_normal(X.shape[:3] + (2,)).astype(np.float32)
    p = {"apply_transform": np.array([True, False, True, False]),
         "distortion_factor": np.float32(1.0), "noise": noise}
    y = layer._transform(X, p)
    np.testing.assert_array_equal(y[1], X[1])
    np.testing.assert_array_equal(y[3], X[3])
    assert not np.array_equal(y[0], X[0])
    # nearest sampling only moves pixels (or reads the fill value outside)
    assert np.isin(y[0], np.append(X[0], 7.0)).all()
    # alpha and sigma follow the image size: a larger distortion moves pixels farther
    small = layer._transform(X, dict(p, distortion_factor=np.float32(0.2)))
    assert np.abs(small[0] - X[0]).mean() < np.abs(y[0] - X[0]).mean()


def test_channels_first_and_dict_inputs():
    xf = np.ascontiguousarray(np.moveaxis(X, -1, 1))
    a = A.RandomElasticTransform(seed=5)(X).numpy()
    b = A.RandomElasticTransform(seed=5, data_format="channels_first")(xf).numpy()
    np.testing.assert_allclose(np.moveaxis(b, 1, -1), a, rtol=1e-6, atol=1e-4)
    labels = np.eye(4, dtype=np.float32)
    out = A.RandomElasticTransform(seed=5)({"images": X, "labels": labels})
    np.testing.assert_allclose(out["images"].numpy(), a, rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(out["labels"].numpy(), labels)


def test_config_roundtrip_and_keras_file(tmp_path):
    layer = A.RandomElasticTransform(factor=(0.2, 0.7), scale=0.4, interpolation="nearest",
                                     fill_mode="mirror", fill_value=3.0, value_range=(0, 1),
                                     seed=9)
    roundtrip(layer, lm.tensor(X / 255))
    assert list(layer.get_config())[3:] == ["data_format", "factor", "scale", "interpolation",
                                            "fill_mode", "fill_value", "value_range", "seed"]
    model = keras.Sequential([keras.Input((12, 10, 3)), A.RandomElasticTransform(seed=1),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    path = str(tmp_path / "elastic.keras")
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(X, verbose=0), model.predict(X, verbose=0),
                               rtol=1e-5)
    assert again.layers[0].get_config() == model.layers[0].get_config()


def test_on_every_device(device):
    layer = A.RandomElasticTransform(factor=(1.0, 1.0), seed=1).to(device)
    x = lm.tensor(X, device=device)
    y = layer(x)
    assert str(y.device).startswith(device) and y.shape == X.shape
    np.testing.assert_array_equal(layer(x, training=False).numpy(), X)


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match="RandomElasticTransform.*factor"):
        A.RandomElasticTransform(factor=1.5)
    with pytest.raises(ValueError, match="RandomElasticTransform.*scale"):
        A.RandomElasticTransform(scale=-0.5)
    with pytest.raises(NotImplementedError, match="RandomElasticTransform.*interpolation"):
        A.RandomElasticTransform(interpolation="bicubic")
    with pytest.raises(NotImplementedError, match="RandomElasticTransform.*fill_mode"):
        A.RandomElasticTransform(fill_mode="edge")
    with pytest.raises(ValueError, match=r"RandomElasticTransform.*rank 3.*\(12, 10\)"):
        A.RandomElasticTransform()(X[0, :, :, 0])
