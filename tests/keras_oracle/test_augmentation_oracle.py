"""The augmentation layers of lamina.nn.layers.augmentation against real Keras 3 (torch
backend): deterministic layers value for value; random layers with the same explicitly
given random parameters (Keras's ``transform_images(images, transformation)``) or at
settings that make Keras deterministic; same config keys."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

from lamina.nn.layers import augmentation as A  # noqa: E402

rng = np.random.default_rng(5)
X = rng.uniform(0, 255, (3, 7, 8, 3)).astype(np.float32)
X[0, :2, :2] = 0.0                                   # some exact zeros and extremes
X[1, 3, 3] = 255.0
X01 = (X / 255).astype(np.float32)


def _np(y):
    return y.detach().cpu().numpy() if hasattr(y, "detach") else np.asarray(y)


def _t(a):
    return torch.as_tensor(np.asarray(a))


def _ours(layer, x, **kw):
    return layer(x, training=True, **kw).numpy()


@pytest.mark.parametrize("name,kw,x", [
    ("Solarization", {}, X),
    ("Solarization", {"value_range": (0, 1)}, X01),
    ("RandomInvert", {"factor": (1.0, 1.0)}, X),
    ("RandomInvert", {"factor": 0.0}, X),
    ("AutoContrast", {}, X * 0.5 + 20),
    ("AutoContrast", {"value_range": (0, 1)}, X01 * 0.3 + 0.1),
    ("Equalization", {}, X),
    ("Equalization", {"bins": 16}, np.round(X / 40) * 40),
    ("Equalization", {"value_range": (0, 1)}, X01),
    ("RandomPosterization", {"factor": (3, 3)}, X),
    ("RandomPosterization", {"factor": (1, 1), "value_range": (0, 1)}, X01),
    ("RandomColorDegeneration", {"factor": (0.5, 0.5)}, X),
    ("RandomColorDegeneration", {"factor": (-0.7, -0.7)}, X),
    ("RandomSaturation", {"factor": (0.3, 0.3)}, X),
    ("RandomSaturation", {"factor": (0.8, 0.8)}, X),
    ("RandomSharpness", {"factor": (0.9, 0.9)}, X),
    ("RandomSharpness", {"factor": (0.1, 0.1), "value_range": (0, 1)}, X01),
    ("RandomErasing", {"factor": 0.0}, X),
    ("RandomGaussianBlur", {"factor": 0.0}, X),
])
def test_deterministic_settings_match_keras(name, kw, x):
    ours = _ours(getattr(A, name)(**kw), x)
    theirs = _np(getattr(keras.layers, name)(**kw)(x, training=True))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-3 * (x.max() / 255))
    # unbatched and inference
    np.testing.assert_allclose(_ours(getattr(A, name)(**kw), x[0]), theirs[0] if name !=
                               "Equalization" else _np(getattr(keras.layers, name)(**kw)(
                                   x[0], training=True)), rtol=1e-5, atol=1e-3)


def test_channels_first_matches_keras():
    xf = np.ascontiguousarray(np.moveaxis(X, -1, 1))
    for name, kw in [("Equalization", {}), ("RandomSharpness", {"factor": (0.8, 0.8)}),
                     ("RandomColorDegeneration", {"factor": (0.4, 0.4)})]:
        kw = dict(kw, data_format="channels_first")
        np.testing.assert_allclose(_ours(getattr(A, name)(**kw), xf),
                                   _np(getattr(keras.layers, name)(**kw)(xf)),
                                   rtol=1e-5, atol=1e-3)


def _given(name, kw, x, params):
    """Our _transform and Keras's transform_images on the same random parameters."""
    ours = getattr(A, name)(**kw)._transform(x, params)
    k = getattr(keras.layers, name)(**kw)
    theirs = _np(k.transform_images(_t(x), {a: _t(v) for a, v in params.items()},
                                    training=True))
    return ours, theirs


def test_solarization_threshold_and_addition_match_keras():
    p = {"additions": np.array([0, 30, 60], np.float32).reshape(3, 1, 1, 1),
         "thresholds": np.array([128, 200, 50], np.float32).reshape(3, 1, 1, 1)}
    ours, theirs = _given("Solarization", {}, X, p)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-4)


def test_hue_saturation_invert_given_parameters_match_keras():
    ours, theirs = _given("RandomHue", {"factor": 0.5}, X,
                          {"factor": np.array([0.2, -0.45, 0.0], np.float32)})
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=2e-3)
    ours, theirs = _given("RandomSaturation", {"factor": 0.5}, X,
                          {"factor": np.array([0.2, 3.0, 0.0], np.float32)})
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=2e-3)
    ours, theirs = _given("RandomInvert", {}, X,
                          {"apply_inversion": np.array([True, False, True])})
    np.testing.assert_allclose(ours, theirs)
    ours, theirs = _given("RandomPosterization", {"factor": 8}, X,
                          {"shift_factor": np.array([0, 3, 7], np.uint8)})
    np.testing.assert_allclose(ours, theirs)


def test_blur_erasing_mixup_cutmix_given_parameters_match_keras():
    sig = np.array([0.7, 0.4], np.float32)
    ours, theirs = _given("RandomGaussianBlur", {"kernel_size": 5}, X,
                          {"should_apply_blur": np.array([True, False, True]),
                           "blur_factor": sig})
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-3)
    m = rng.uniform(size=X.shape) < 0.3
    ours, theirs = _given("RandomErasing", {}, X,
                          {"apply_erasing": np.array([True, True, False]), "batch_masks": m,
                           "fill_value": np.full(X.shape, 7.0, np.float32)})
    np.testing.assert_allclose(ours, theirs)
    p = {"mix_weight": np.array([0.2, 0.9, 0.5], np.float32),
         "permutation_order": np.array([2, 0, 1])}
    ours, theirs = _given("MixUp", {}, X, p)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-4)
    p = {"permutation_order": np.array([1, 2, 0]), "batch_masks": m,
         "mix_weight": np.array([0.5, 0.5, 0.5], np.float32)}
    ours, theirs = _given("CutMix", {}, X, p)
    np.testing.assert_allclose(ours, theirs)


@pytest.mark.parametrize("interp", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill_mode", ["reflect", "constant", "nearest", "wrap"])
def test_shear_given_parameters_match_keras(interp, fill_mode):
    # factors off the half-pixel ties: lamina's nearest rounds halves up, Keras to even
    p = {"shear_factor": np.array([[0.31, 0.0], [-0.23, 0.27], [0.0, -0.41]], np.float32)}
    ours, theirs = _given("RandomShear", {"interpolation": interp, "fill_mode": fill_mode,
                                          "fill_value": 9.0}, X, p)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("interp", ["bilinear", "nearest"])
def test_perspective_given_corners_match_keras(interp):
    h, w = X.shape[1:3]
    start = np.tile(np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], np.float32),
                    (3, 1, 1))
    u = rng.uniform(-0.3, 0.3, (3, 4, 2)).astype(np.float32)
    p = {"apply_perspective": np.array([True, True, False]), "start_points": start,
         "end_points": start + start * u}
    ours, theirs = _given("RandomPerspective", {"interpolation": interp, "fill_value": 3.0},
                          X, p)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=2e-2)


@pytest.mark.parametrize("name,kw", [
    ("Solarization", {"addition_factor": 0.1, "threshold_factor": (0.2, 0.6)}),
    ("RandomInvert", {"factor": 0.4}), ("AutoContrast", {"value_range": (0, 1)}),
    ("Equalization", {"bins": 64}), ("RandomPosterization", {"factor": 5}),
    ("RandomColorDegeneration", {"factor": 0.3}), ("RandomSaturation", {"factor": 0.3}),
    ("RandomHue", {"factor": 0.3}), ("RandomSharpness", {"factor": 0.3}),
    ("RandomColorJitter", {"brightness_factor": 0.2, "hue_factor": 0.1}),
    ("RandomErasing", {"fill_value": 3.0}), ("RandomGaussianBlur", {"kernel_size": 5}),
    ("RandomShear", {"x_factor": 0.2}), ("RandomPerspective", {"scale": 0.5}),
    ("MixUp", {"alpha": 0.4}), ("CutMix", {"factor": 0.5})])
def test_config_matches_keras(name, kw):
    ours = getattr(A, name)(seed=1, **kw) if name not in ("AutoContrast", "Equalization") \
        else getattr(A, name)(**kw)
    theirs = getattr(keras.layers, name)(seed=1, **kw) if name not in (
        "AutoContrast", "Equalization") else getattr(keras.layers, name)(**kw)
    oc, tc = ours.get_config(), theirs.get_config()
    assert set(oc) == set(tc)
    for k in oc:
        if k in ("name", "dtype"):
            continue
        a, b = oc[k], tc[k]
        if isinstance(a, (tuple, list)):
            a, b = list(a), list(b)
        assert a == b, (k, a, b)
