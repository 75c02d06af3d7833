"""RandAugment and AugMix: composed of lamina's augmentation layers (Keras's op names and
arguments); shapes and layouts, value ranges, seeded determinism, identity at inference,
which ops run, the mixing weights, configs and .keras files, and errors."""
from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import keras
from lamina.nn.layers import AugMix, RandAugment
from lamina.nn.layers import augmentation as A
from lamina.nn.layers import preprocessing as P

from layer_checks import roundtrip

X = np.random.default_rng(0).uniform(0, 255, (4, 12, 10, 3)).astype(np.float32)
X01 = X / np.float32(255)

MAKERS = {"RandAugment": lambda **k: RandAugment(**k),
          "AugMix": lambda **k: AugMix(**k)}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_shapes_layouts_and_inference_identity(name):
    layer = MAKERS[name](seed=4)
    for x in (X, X[0]):
        y = layer(x)
        assert y.shape == x.shape and y.dtype == np.float32
        assert not np.allclose(y.numpy(), x)
        np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    xf = np.ascontiguousarray(np.moveaxis(X, -1, 1))
    yf = MAKERS[name](seed=4, data_format="channels_first")(xf).numpy()
    np.testing.assert_allclose(np.moveaxis(yf, 1, -1), MAKERS[name](seed=4)(X).numpy(),
                               rtol=1e-5, atol=1e-3)
    assert layer.compute_output_shape((None, 12, 10, 3)) == (None, 12, 10, 3)


@pytest.mark.parametrize("name", sorted(MAKERS))
@pytest.mark.parametrize("vr,x", [((0, 255), X), ((0, 1), X01)])
def test_outputs_stay_in_value_range(name, vr, x):
    for seed in range(6):
        y = MAKERS[name](value_range=vr, factor=0.9, seed=seed)(x).numpy()
        assert np.isfinite(y).all()
        assert y.min() >= vr[0] - 1e-4 * vr[1] and y.max() <= vr[1] * (1 + 1e-5)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_seeded_and_global_seed_determinism(name):
    a = MAKERS[name](seed=7)(X).numpy()
    np.testing.assert_array_equal(MAKERS[name](seed=7)(X).numpy(), a)
    assert not np.array_equal(MAKERS[name](seed=8)(X).numpy(), a)
    lm.random.seed(3)
    b = MAKERS[name]()(X).numpy()
    lm.random.seed(3)
    np.testing.assert_array_equal(MAKERS[name]()(X).numpy(), b)


def test_randaugment_ops_are_keras_ops_with_keras_arguments():
    layer = RandAugment(factor=0.6, value_range=(0, 1), interpolation="nearest", seed=5)
    kinds = {"random_shear": A.RandomShear, "random_translation": P.RandomTranslation,
             "random_rotation": P.RandomRotation, "random_brightness": P.RandomBrightness,
             "random_color_degeneration": A.RandomColorDegeneration,
             "random_contrast": P.RandomContrast, "random_sharpness": A.RandomSharpness,
             "random_posterization": A.RandomPosterization, "solarization": A.Solarization,
             "auto_contrast": A.AutoContrast, "equalization": A.Equalization}
    assert list(layer._AUGMENT_LAYERS) == list(kinds)
    for op, cls in kinds.items():
        assert type(getattr(layer, op)) is cls, op
    assert layer.random_shear.x_factor == (0.0, 0.6) and layer.random_shear.y_factor == \
        (0.0, 0.6)
    assert layer.random_posterization.factor == (1, 4)          # max(1, int(8 * 0.6))
    assert layer.solarization.threshold_factor == (0.0, 0.6)
    assert layer.random_rotation.interpolation == "nearest"
    assert list(layer.random_brightness.value_range) == [0, 1]
    assert layer.random_translation.seed == 5


def test_randaugment_applies_exactly_the_picked_ops_in_order(monkeypatch):
    layer = RandAugment(num_ops=3, seed=1)
    seen = set()
    for _ in range(40):
        p = layer._draw(X)
        idx = p["layer_idxes"].tolist()
        assert len(idx) == 3 and all(0 <= i < 11 for i in idx)
        seen.update(idx)
        ran = []
        monkeypatch.setattr(layer, "_apply_op",
                            lambda name, d, params: ran.append(name) or d)
        layer._transform(X, p)
        monkeypatch.undo()
        assert ran == [layer._AUGMENT_LAYERS[i] for i in idx]
        assert set(p["transforms"]) == set(ran)
    assert seen == set(range(11))                      # every op gets picked


def test_randaugment_composes_the_sublayers_transforms():
    layer = RandAugment(factor=0.4, seed=2)
    p = layer._draw(X)
    p["layer_idxes"] = np.array([8, 6])                # solarization, then sharpness
    p["transforms"] = {n: getattr(layer, n)._draw(X) for n in ("solarization",
                                                               "random_sharpness")}
    want = layer.random_sharpness._transform(
        layer.solarization._transform(X, p["transforms"]["solarization"]),
        p["transforms"]["random_sharpness"])
    np.testing.assert_allclose(layer._transform(X, p), want, rtol=1e-6)
    assert np.array_equal(RandAugment(num_ops=0)(X).numpy(), X)


def test_contrast_op_uses_keras_range():
    # Keras's RandomContrast(factor=(a, b)) draws the contrast from [1 - a, 1 + b]
    layer = RandAugment(factor=(0.2, 0.5), seed=0, value_range=(-1e9, 1e9))
    x = np.random.default_rng(1).uniform(0, 1, (200, 4, 4, 1)).astype(np.float32)
    y = layer._apply_op("random_contrast", x, None)
    m = x.mean(axis=(1, 2), keepdims=True)
    c = ((y - m) / (x - m))[:, 0, 0, 0]
    assert c.min() >= 0.8 - 1e-4 and c.max() <= 1.5 + 1e-4
    assert c.min() < 0.85 and c.max() > 1.45


def test_augmix_draws_and_mixing():
    layer = AugMix(num_chains=4, chain_depth=2, alpha=0.5, seed=3)
    depths = set()
    for _ in range(30):
        p = layer._draw(X)
        w = p["chain_mixing_weights"]
        assert w.shape == (4,) and (w >= 0).all() and abs(float(w.sum()) - 1) < 1e-5
        assert 0 <= float(p["weight_sample"]) <= 1
        for chain in p["chain_transforms"]:
            depths.add(len(chain))
            assert all(s["layer_name"] in AugMix._ALL_OPS for s in chain)
    assert depths == {0, 1, 2}
    basic = AugMix(all_ops=False, seed=3)
    assert basic._augment_layers == AugMix._ALL_OPS[:7]
    assert not hasattr(basic, "random_brightness")
    # no ops at all: m x + (1 - m) sum_k w_k x = x
    np.testing.assert_allclose(AugMix(chain_depth=0, seed=1)(X).numpy(), X, rtol=1e-5)


def test_augmix_transform_is_the_weighted_blend():
    layer = AugMix(num_chains=2, value_range=(0, 255), seed=0)
    sol = layer.solarization._draw(X)
    p = {"chain_mixing_weights": np.array([0.25, 0.75], np.float32),
         "weight_sample": np.float32(0.4),
         "chain_transforms": [[{"layer_name": "solarization", "transformation": sol}],
                              [{"layer_name": "auto_contrast", "transformation": None},
                               {"layer_name": "equalization", "transformation": None}]]}
    c1 = layer.solarization._transform(X, sol)
    c2 = layer.equalization._transform(layer.auto_contrast._transform(X, None), None)
    want = np.clip(0.4 * X + 0.6 * (0.25 * c1 + 0.75 * c2), 0, 255)
    np.testing.assert_allclose(layer._transform(X, p), want, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_config_round_trip_and_keras_file(name, tmp_path):
    layer = MAKERS[name](factor=(0.1, 0.7), value_range=(0, 1), seed=9,
                         interpolation="nearest")
    clone = roundtrip(layer, X01)
    np.testing.assert_array_equal(clone(X01).numpy(), MAKERS[name](
        factor=(0.1, 0.7), value_range=(0, 1), seed=9, interpolation="nearest")(X01).numpy())
    model = keras.Sequential([keras.Input((12, 10, 3)), layer, keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    model.save(tmp_path / "aug.keras")
    again = keras.models.load_model(tmp_path / "aug.keras")
    np.testing.assert_array_equal(again.predict(X01, verbose=0), model.predict(X01, verbose=0))
    assert again.layers[0].get_config() == layer.get_config()


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match="RandAugment 'ra'.*factor"):
        RandAugment(factor=1.5, name="ra")
    with pytest.raises(ValueError, match="AugMix.*interpolation"):
        AugMix(interpolation="bicubic")
    with pytest.raises(ValueError, match="RandAugment.*num_ops"):
        RandAugment(num_ops=-1)
    with pytest.raises(ValueError, match="AugMix.*num_chains"):
        AugMix(num_chains=0)
    with pytest.raises(ValueError, match="AugMix.*alpha"):
        AugMix(alpha=0.0)
    with pytest.raises(ValueError, match="value_range"):
        AugMix(value_range=255)
    with pytest.raises(ValueError, match="rank 3"):
        RandAugment()(np.zeros((2, 3), np.float32))
