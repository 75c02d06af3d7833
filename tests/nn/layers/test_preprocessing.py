"""Image preprocessing and augmentation layers: exact geometry for fixed factors (a
quarter turn is np.rot90, a fixed shift moves rows), identity at inference, seeded
reproducibility, per-image randomness, configs and errors."""
from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina.nn.layers import preprocessing as PP
from lamina.ops.image import resize

X = np.random.default_rng(0).uniform(0, 255, (6, 10, 12, 3)).astype(np.float32)
SQ = np.random.default_rng(1).uniform(0, 1, (2, 7, 7, 2)).astype(np.float32)


def test_rescaling_resizing_centercrop():
    np.testing.assert_allclose(PP.Rescaling(1 / 255, offset=-1)(lm.tensor(X)).numpy(),
                               X / 255 - 1, rtol=1e-5, atol=1e-6)
    r = PP.Resizing(5, 6)(lm.tensor(X))
    np.testing.assert_allclose(r.numpy(), resize(lm.tensor(X), (5, 6)).numpy())
    # crop to the 1:1 aspect first: the central 10x10 of a 10x12 image
    rc = PP.Resizing(5, 5, crop_to_aspect_ratio=True)(lm.tensor(X))
    np.testing.assert_allclose(rc.numpy(), resize(lm.tensor(X[:, :, 1:11]), (5, 5)).numpy())
    c = PP.CenterCrop(4, 6)(lm.tensor(X))
    np.testing.assert_array_equal(c.numpy(), X[:, 3:7, 3:9])
    assert PP.CenterCrop(20, 20)(lm.tensor(X)).shape == (6, 20, 20, 3)
    assert PP.Resizing(5, 6)(lm.tensor(X[0])).shape == (5, 6, 3)     # unbatched image


@pytest.mark.parametrize("make", [
    lambda: PP.RandomFlip(), lambda: PP.RandomRotation(0.2), lambda: PP.RandomZoom(0.3),
    lambda: PP.RandomTranslation(0.2, 0.1), lambda: PP.RandomContrast(0.4)])
def test_identity_at_inference_and_config(make):
    layer = make()
    np.testing.assert_array_equal(layer(lm.tensor(X), training=False).numpy(), X)
    assert not np.array_equal(layer(lm.tensor(X), training=True).numpy(), X)
    # a bare call augments, as in Keras 3 (call's training defaults to True)
    assert not np.array_equal(layer(lm.tensor(X)).numpy(), X)
    cfg = layer.get_config()
    assert type(layer).from_config(cfg).get_config() == cfg


def test_random_flip_picks_one_of_the_four_flips_per_image():
    y = PP.RandomFlip(seed=3)(lm.tensor(X), training=True).numpy()
    seen = set()
    for i in range(len(X)):
        cands = {"id": X[i], "lr": X[i, :, ::-1], "ud": X[i, ::-1], "both": X[i, ::-1, ::-1]}
        match = [k for k, v in cands.items() if np.array_equal(v, y[i])]
        assert match, f"image {i} is not a flip of its input"
        seen.add(match[0])
    assert len(seen) > 1
    yh = PP.RandomFlip("horizontal", seed=3)(lm.tensor(X), training=True).numpy()
    for i in range(len(X)):
        assert np.array_equal(yh[i], X[i]) or np.array_equal(yh[i], X[i, :, ::-1])


def test_random_crop_is_a_window_and_center_at_inference():
    layer = PP.RandomCrop(6, 7, seed=0)
    np.testing.assert_array_equal(layer(lm.tensor(X), training=False).numpy(), X[:, 2:8, 2:9])
    y = layer(lm.tensor(X), training=True).numpy()
    hits = [(t, l) for t in range(5) for l in range(6)
            if np.array_equal(X[:, t:t + 6, l:l + 7], y)]
    assert len(hits) == 1


def test_quarter_turn_is_rot90_and_shift_moves_rows():
    rot = PP.RandomRotation((0.25, 0.25), fill_mode="constant")
    np.testing.assert_allclose(rot(lm.tensor(SQ), training=True).numpy(),
                               np.rot90(SQ, 1, axes=(1, 2)), atol=1e-5)
    sh = PP.RandomTranslation((0.2, 0.2), (0.0, 0.0), fill_mode="constant")
    y = sh(lm.tensor(X), training=True).numpy()              # 0.2 * 10 rows = 2 rows down
    np.testing.assert_allclose(y[:, 2:], X[:, :-2], rtol=1e-5, atol=1e-3)
    assert np.all(y[:, :2] == 0)
    wrap = PP.RandomTranslation((0.2, 0.2), 0.0, fill_mode="wrap")(lm.tensor(X), training=True)
    np.testing.assert_allclose(wrap.numpy(), np.roll(X, 2, axis=1), rtol=1e-5, atol=1e-3)
    zoom = PP.RandomZoom((0.0, 0.0))(lm.tensor(X), training=True)
    np.testing.assert_allclose(zoom.numpy(), X, rtol=1e-5)
    # zooming in by 2 about the centre keeps the central pixel of an odd-sized image
    zin = PP.RandomZoom((-0.5, -0.5))(lm.tensor(SQ), training=True).numpy()
    np.testing.assert_allclose(zin[:, 3, 3], SQ[:, 3, 3], rtol=1e-5)


def test_random_contrast_keeps_means_and_scales_spread():
    x = np.random.default_rng(2).uniform(100, 150, (8, 6, 6, 3)).astype(np.float32)
    y = PP.RandomContrast(0.5, seed=1)(lm.tensor(x), training=True).numpy()
    np.testing.assert_allclose(y.mean(axis=(1, 2)), x.mean(axis=(1, 2)), rtol=1e-4)
    ratio = y.std(axis=(1, 2)) / x.std(axis=(1, 2))
    assert np.all(ratio >= 0.5 - 1e-4) and np.all(ratio <= 1.5 + 1e-4)
    assert ratio.std() > 0.01                                   # one factor per image
    assert np.allclose(ratio, ratio[:, :1], rtol=1e-3)          # same across channels


def test_random_contrast_pair_is_lower_and_upper_as_keras_reads_it():
    # Keras: factor (a, b) draws the contrast from [1 - a, 1 + b], bounds in either order
    x = np.random.default_rng(3).uniform(0, 1, (400, 4, 4, 1)).astype(np.float32)
    m = x.mean(axis=(1, 2), keepdims=True)
    for factor in ((0.1, 0.3), (0.3, 0.1), [0.1, 0.3]):
        y = PP.RandomContrast(factor, value_range=(-1e9, 1e9), seed=4)(
            lm.tensor(x), training=True).numpy()
        c = ((y - m) / (x - m))[:, 0, 0, 0]
        assert c.min() >= 0.9 - 1e-4 and c.max() <= 1.3 + 1e-4
        assert c.min() < 0.92 and c.max() > 1.28
    with pytest.raises(ValueError, match="RandomContrast.*pair"):
        PP.RandomContrast((0.1, 0.2, 0.3))


def test_seeds_make_augmentation_reproducible():
    a = PP.RandomRotation(0.2, seed=5)(lm.tensor(X), training=True).numpy()
    b = PP.RandomRotation(0.2, seed=5)(lm.tensor(X), training=True).numpy()
    np.testing.assert_array_equal(a, b)
    lm.random.seed(11)
    c = PP.RandomZoom(0.3)(lm.tensor(X), training=True).numpy()
    lm.random.seed(11)
    d = PP.RandomZoom(0.3)(lm.tensor(X), training=True).numpy()
    np.testing.assert_array_equal(c, d)


def test_errors():
    with pytest.raises(ValueError, match="RandomFlip 'f': mode must be"):
        PP.RandomFlip("diagonal", name="f")
    with pytest.raises(ValueError, match="fill_mode must be"):
        PP.RandomRotation(0.1, fill_mode="smear")
    with pytest.raises(ValueError, match="lower bound"):
        PP.RandomTranslation((0.3, 0.1), 0.1)
    with pytest.raises(ValueError, match="Resizing 'r': interpolation"):
        PP.Resizing(3, 3, interpolation="lanczos", name="r")


def test_random_brightness_shifts_each_image_by_one_clipped_delta():
    from lamina.nn.layers.preprocessing import RandomBrightness
    x = np.full((64, 4, 5, 3), 100.0, np.float32)
    x[0, 0, 0] = 250.0                                   # near the top: clipped
    layer = RandomBrightness(0.2, seed=3)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)   # inference: identity
    y = layer(x, training=True).numpy()
    delta = y[1:, 1, 1, 0] - 100.0
    assert np.all(np.abs(delta) <= 0.2 * 255 + 1e-3) and delta.std() > 10   # spread out
    assert np.all(y[1:] == y[1:, :1, :1, :1])             # one delta per image
    assert y.max() <= 255 and y.min() >= 0
    up = RandomBrightness((0.5, 0.5), value_range=(0, 1))(np.zeros((2, 3, 3, 1), "f4"),
                                                           training=True).numpy()
    np.testing.assert_allclose(up, 0.5)
    with pytest.raises(ValueError, match="factor must lie in"):
        RandomBrightness(1.5)


def test_random_grayscale_turns_a_fraction_of_images_gray():
    from lamina.nn.layers.preprocessing import RandomGrayscale
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (200, 4, 4, 3)).astype(np.float32)
    y = RandomGrayscale(1.0)(x, training=True).numpy()
    gray = x @ np.array([0.2989, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(y, np.repeat(gray[..., None], 3, -1), rtol=1e-5)
    np.testing.assert_array_equal(RandomGrayscale(0.0)(x, training=True).numpy(), x)
    half = RandomGrayscale(0.5, seed=1)(x, training=True).numpy()
    turned = np.all(half[..., 0] == half[..., 1], axis=(1, 2))
    assert 0.35 < turned.mean() < 0.65
    np.testing.assert_array_equal(RandomGrayscale(1.0)(x, training=False).numpy(), x)  # inference
