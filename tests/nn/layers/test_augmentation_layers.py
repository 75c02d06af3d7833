"""The Keras 3 augmentation layers of lamina.nn.layers.augmentation: identity at
inference, shapes for batched / unbatched / channels-first inputs, ranges, statistical
properties of the random draws, seeds, dict inputs (MixUp, CutMix labels), configs,
.keras save and load, and errors."""
from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import keras
from lamina.nn.layers import augmentation as A

from layer_checks import roundtrip

X = np.random.default_rng(0).uniform(0, 255, (6, 10, 12, 3)).astype(np.float32)

MAKERS = {
    "Solarization": lambda: A.Solarization(addition_factor=0.2, threshold_factor=0.5, seed=1),
    "RandomInvert": lambda: A.RandomInvert(seed=1),
    "Equalization": lambda: A.Equalization(),
    "RandomPosterization": lambda: A.RandomPosterization(4, seed=1),
    "RandomColorDegeneration": lambda: A.RandomColorDegeneration(0.5, seed=1),
    "RandomSaturation": lambda: A.RandomSaturation(0.5, seed=1),
    "RandomHue": lambda: A.RandomHue(0.5, seed=1),
    "RandomSharpness": lambda: A.RandomSharpness(0.9, seed=1),
    "RandomColorJitter": lambda: A.RandomColorJitter(brightness_factor=0.2, contrast_factor=0.3,
                                                     saturation_factor=0.4, hue_factor=0.2,
                                                     seed=1),
    "RandomErasing": lambda: A.RandomErasing(seed=1),
    "RandomGaussianBlur": lambda: A.RandomGaussianBlur(kernel_size=5, seed=1),
    "RandomShear": lambda: A.RandomShear(0.3, 0.3, seed=1),
    "RandomPerspective": lambda: A.RandomPerspective(scale=0.5, seed=1),
    "MixUp": lambda: A.MixUp(seed=1),
    "CutMix": lambda: A.CutMix(seed=1),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_training_false_is_identity_and_training_changes(name):
    layer = MAKERS[name]()
    np.testing.assert_array_equal(layer(lm.tensor(X), training=False).numpy(), X)
    y = layer(lm.tensor(X)).numpy()               # Keras: a bare call augments
    assert y.shape == X.shape and y.dtype == np.float32
    assert not np.array_equal(y, X)
    assert layer(lm.tensor(X[0])).shape == X[0].shape
    roundtrip(layer, lm.tensor(X))


def test_autocontrast_always_on_and_stretches_each_channel():
    x = X * 0.5 + 40
    for tr in (True, False):
        y = A.AutoContrast()(lm.tensor(x), training=tr).numpy()
        np.testing.assert_allclose(y.min(axis=(1, 2)), 0, atol=1e-3)
        np.testing.assert_allclose(y.max(axis=(1, 2)), 255, rtol=1e-5)
    const = np.full((1, 4, 4, 3), 7.0, np.float32)
    np.testing.assert_array_equal(A.AutoContrast()(const).numpy(), const)


def test_seeded_layers_repeat_and_images_differ():
    a = A.RandomHue(0.5, seed=3)(lm.tensor(X)).numpy()
    b = A.RandomHue(0.5, seed=3)(lm.tensor(X)).numpy()
    np.testing.assert_array_equal(a, b)
    lm.random.seed(0)
    c = A.RandomInvert()(lm.tensor(X)).numpy()
    lm.random.seed(0)
    np.testing.assert_array_equal(A.RandomInvert()(lm.tensor(X)).numpy(), c)


def test_value_ranges_are_kept():
    for layer in [A.RandomColorDegeneration(1.0, seed=0), A.RandomSharpness(1.0, seed=0),
                  A.RandomHue(1.0, seed=0), A.RandomGaussianBlur(seed=0),
                  A.RandomErasing(seed=0), A.Solarization(0.5, seed=0)]:
        y = layer(lm.tensor(X)).numpy()
        assert y.min() >= -1e-3 and y.max() <= 255 + 1e-2, type(layer).__name__


def test_invert_probability_and_posterization_bits():
    x = np.random.default_rng(1).uniform(0, 255, (400, 2, 2, 1)).astype(np.float32)
    y = A.RandomInvert(factor=(0.3, 0.3), seed=0)(x).numpy()
    inverted = np.all(np.isclose(y, 255 - x), axis=(1, 2, 3))
    assert 0.2 < inverted.mean() < 0.4
    assert np.all(inverted | np.all(y == x, axis=(1, 2, 3)))
    p = A.RandomPosterization((2, 2))(x).numpy()
    np.testing.assert_array_equal(p, (x.astype(np.uint8) >> 6) << 6)


def test_sharpness_half_is_identity_and_blur_smooths():
    np.testing.assert_allclose(A.RandomSharpness((0.5, 0.5))(X).numpy(), X, atol=1e-3)
    y = A.RandomGaussianBlur(factor=(1, 1), sigma=(1, 1))(X).numpy()
    assert np.abs(np.diff(y[:, 2:-2], axis=1)).mean() < np.abs(np.diff(X, axis=1)).mean()


def test_saturation_extremes_and_hue_keeps_value():
    gray = A.RandomSaturation((0.0, 0.0))(X).numpy()
    np.testing.assert_allclose(gray[..., 0], gray[..., 1], atol=1e-3)
    np.testing.assert_allclose(gray[..., 0], X.max(-1), rtol=1e-5)       # V kept
    h = A.RandomHue(0.8, seed=2)(X).numpy()
    np.testing.assert_allclose(h.max(-1), X.max(-1), rtol=1e-4, atol=1e-2)


def test_shear_and_perspective_are_geometric():
    y = A.RandomShear(x_factor=(0.0, 0.0), y_factor=(0.0, 0.0))(X).numpy()
    np.testing.assert_allclose(y, X, atol=1e-4)
    y = A.RandomPerspective(scale=0.0)(X).numpy()
    np.testing.assert_allclose(y, X, atol=1e-3)
    y = A.RandomPerspective(factor=(1, 1), scale=1.0, seed=0)(X).numpy()
    assert (y == 0).any()                                              # fill outside


def test_erasing_replaces_one_box():
    y = A.RandomErasing(factor=(1, 1), scale=(0.2, 0.2), fill_value=-5.0,
                        value_range=(-10, 255), seed=0)(X).numpy()
    for i in range(len(X)):
        m = np.all(y[i] == -5.0, axis=-1)
        rows, cols = np.nonzero(m)
        assert m.sum() > 0 and m.sum() == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
        np.testing.assert_array_equal(y[i][~m], X[i][~m])


def test_mixup_and_cutmix_mix_labels():
    labels = np.eye(6, dtype=np.float32)
    for layer in (A.MixUp(alpha=0.5, seed=0), A.CutMix(seed=0)):
        out = layer({"images": X, "labels": labels})
        np.testing.assert_allclose(out["labels"].numpy().sum(1), 1, rtol=1e-5)
        assert out["images"].shape == X.shape
    out = A.CutMix(seed=4)({"images": X, "labels": labels})
    y, lab = out["images"].numpy(), out["labels"].numpy()
    for i in range(6):          # own-label weight is the fraction of pixels kept
        own = np.all(y[i] == X[i], axis=-1).mean()
        if lab[i, i] < 1:
            assert abs(own - lab[i, i]) < 0.2
    np.testing.assert_array_equal(A.CutMix()(X[0]).numpy(), X[0])     # unbatched


def test_channels_first_matches_channels_last():
    xf = np.ascontiguousarray(np.moveaxis(X, -1, 1))
    for make in (lambda df: A.RandomHue(0.4, seed=5, data_format=df),
                 lambda df: A.RandomShear(0.2, 0.2, seed=5, data_format=df),
                 lambda df: A.Equalization(data_format=df)):
        a = make("channels_last")(X).numpy()
        b = make("channels_first")(xf).numpy()
        np.testing.assert_allclose(np.moveaxis(b, 1, -1), a, rtol=1e-5, atol=1e-3)


def test_sequential_saves_and_loads(tmp_path):
    model = keras.Sequential([keras.Input((10, 12, 3)), keras.layers.Solarization(seed=1),
                              keras.layers.RandomHue(0.2, seed=1),
                              keras.layers.RandomShear(0.1, seed=2),
                              keras.layers.AutoContrast(), keras.layers.CutMix(seed=3),
                              keras.layers.RandomGaussianBlur(seed=2),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    path = str(tmp_path / "aug.keras")
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(X, verbose=0), model.predict(X, verbose=0),
                               rtol=1e-5)
    assert [type(a).__name__ for a in again.layers] == [type(a).__name__ for a in model.layers]
    assert again.layers[1].get_config() == model.layers[1].get_config()


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match="Solarization.*addition_factor"):
        A.Solarization(addition_factor=1.5)
    with pytest.raises(ValueError, match="RandomHue.*factor"):
        A.RandomHue(2.0)
    with pytest.raises(ValueError, match="value_range"):
        A.AutoContrast(value_range=3)
    with pytest.raises(ValueError, match="kernel_size"):
        A.RandomGaussianBlur(kernel_size=4)
    with pytest.raises(NotImplementedError, match="fill_mode"):
        A.RandomShear(fill_mode="mirror")
    with pytest.raises(ValueError, match="RandomSaturation.*3 channels"):
        A.RandomSaturation(0.5)(np.zeros((1, 4, 4, 2), np.float32))
    with pytest.raises(ValueError, match="rank 3"):
        A.RandomInvert()(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="scale"):
        A.RandomPerspective(scale=2.0)
