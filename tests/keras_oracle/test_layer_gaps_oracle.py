"""ReversibleEmbedding, HashedCrossing, keras.layers.serialize/deserialize, RandAugment and
AugMix against real Keras 3 (torch backend).

- ReversibleEmbedding: outputs both ways with Keras's weights, masks, config keys in
  Keras's order, weight names, configs and .weights.h5 files crossing over.
- HashedCrossing: Keras 3.15 builds it only with TensorFlow installed (its call runs
  ``tf.sparse.cross_hashed``); without TensorFlow the bins are checked against the values
  Keras's own tests and docstring give, and the config and output shapes against Keras's
  methods run on a bare instance.
- RandAugment / AugMix: random draws differ (other generators), so the checks are the op
  names and each op's arguments, and outputs on the same given random parameters.  The
  policy is compared with Keras's sublayers applied in turn: Keras 3.15's own
  RandAugment.transform_images on torch adds RandomBrightness's delta in place to every
  slot's images (``images += delta`` on the tensor it is handed), whatever op was picked.
"""
import importlib.util
import json
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

from lamina import keras as lk  # noqa: E402
from lamina.nn import layers as L  # noqa: E402
from layer_oracle import assert_layer_matches_keras  # noqa: E402

# Keras's Equalization on torch transposes a 0-d tensor (a UserWarning of its own)
pytestmark = pytest.mark.filterwarnings("ignore:Tensor.T is deprecated:UserWarning")

rng = np.random.default_rng(17)
IDS = rng.integers(0, 11, (3, 5))
IDS[:, -2:] = 0


def _np(y):
    if hasattr(y, "detach"):
        return y.detach().cpu().numpy()
    return keras.ops.convert_to_numpy(y)


def _plain(v):
    """Config values compared across frameworks: tuples as lists, dtype policies by name."""
    if isinstance(v, dict) and v.get("class_name") == "DTypePolicy":
        return v["config"]["name"]
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


# ----------------------------------------------------------------- ReversibleEmbedding
@pytest.mark.parametrize("kw", [{}, {"tie_weights": False, "mask_zero": True},
                                {"logit_soft_cap": 1.5, "tie_weights": False}])
def test_reversible_embedding_both_directions_match_keras(kw):
    kl, ll = assert_layer_matches_keras(keras, L.ReversibleEmbedding, "ReversibleEmbedding",
                                        dict(input_dim=11, output_dim=4, **kw), IDS)
    assert [w.name for w in ll.weights] == [w.name for w in kl.weights]
    h = rng.standard_normal((3, 5, 4)).astype(np.float32) * 3
    np.testing.assert_allclose(ll(h, reverse=True).numpy(), _np(kl(h, reverse=True)),
                               rtol=1e-5, atol=1e-6)
    assert tuple(ll.compute_output_shape((None, 5, 4), reverse=True)) == \
        tuple(kl.compute_output_shape((None, 5, 4), reverse=True))
    # masks: on the forward output when mask_zero, never on the reverse one
    km = getattr(kl(IDS), "_keras_mask", None)
    lmask = L.get_mask(ll(IDS))
    assert (km is None) == (lmask is None)
    if km is not None:
        np.testing.assert_array_equal(lmask.numpy(), _np(km))
    assert getattr(kl(h, reverse=True), "_keras_mask", None) is None
    assert L.get_mask(ll(h, reverse=True)) is None


def test_reversible_embedding_config_crosses_over():
    kw = dict(input_dim=11, output_dim=4, tie_weights=False, mask_zero=True,
              logit_soft_cap=2.0, embeddings_regularizer="l2", reverse_dtype="float32")
    kl, ll = keras.layers.ReversibleEmbedding(**kw), L.ReversibleEmbedding(**kw)
    kc, lc = kl.get_config(), ll.get_config()
    assert list(lc) == [k for k in kc if k != "quantization_config"]
    for k in lc:
        if k != "name":
            assert _plain(lc[k]) == _plain(kc[k]), k
    ours = L.deserialize(json.loads(json.dumps(keras.layers.serialize(kl))))
    assert type(ours) is L.ReversibleEmbedding and ours.get_config() == lc | {"name": kl.name}
    theirs = keras.layers.deserialize(json.loads(json.dumps(L.serialize(ll))))
    assert _plain(theirs.get_config()) == _plain(kc) | {"name": ll.name}


def test_reversible_embedding_weights_h5_cross_over(tmp_path):
    pytest.importorskip("h5py")

    def build(k):
        i = k.Input((5,), dtype="int32")
        e = k.layers.ReversibleEmbedding(11, 4, tie_weights=False, logit_soft_cap=2.5,
                                         mask_zero=True)
        return k.Model(i, e(k.layers.Dense(4)(e(i)), reverse=True))
    theirs, ours = build(keras), build(lk)
    theirs.save_weights(tmp_path / "k.weights.h5")
    ours.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(ours(IDS).numpy(), _np(theirs(IDS)), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------- HashedCrossing
def _bare_keras_hashed_crossing(num_bins, output_mode):
    """A Keras HashedCrossing without its TensorFlow check, to run its get_config and
    compute_output_shape."""
    obj = object.__new__(keras.layers.HashedCrossing)
    keras.layers.Layer.__init__(obj, name="hc", dtype="int64" if output_mode == "int"
                                else "float32")
    obj.num_bins, obj.output_mode, obj.sparse = num_bins, output_mode, False
    return obj


@pytest.mark.parametrize("mode", ["int", "one_hot"])
def test_hashed_crossing_config_and_shapes_match_keras(mode):
    k = _bare_keras_hashed_crossing(5, mode)
    ours = L.HashedCrossing(5, output_mode=mode, name="hc")
    assert ours.get_config() == keras.layers.HashedCrossing.get_config(k)
    for shp in ([(None, 1), (None, 1)], [(None,), (None,)]):
        assert ours.compute_output_shape(shp) == \
            tuple(keras.layers.HashedCrossing.compute_output_shape(k, shp))
    again = L.deserialize(json.loads(json.dumps(
        {"module": "keras.layers", "class_name": "HashedCrossing",
         "config": keras.layers.HashedCrossing.get_config(k), "registered_name": None})))
    assert again.get_config() == ours.get_config()


def test_hashed_crossing_bins_match_keras():
    f1 = np.array(["A", "B", "A", "B", "A"])
    f2 = np.array([101, 101, 101, 102, 102])
    if importlib.util.find_spec("tensorflow") is None:
        with pytest.raises(ImportError, match="TensorFlow"):
            keras.layers.HashedCrossing(5)
        # keras/src/layers/preprocessing/hashed_crossing_test.py (test_correctness,
        # test_tf_string), computed there by TensorFlow
        expected = [((f1, f2), 5, [1, 4, 1, 1, 3]),
                    ((f1[:, None], f2[:, None]), 5, [[1], [4], [1], [1], [3]]),
                    ((np.array("A"), np.array(101)), 10, 1)]
    else:                                                   # pragma: no cover
        r = np.random.default_rng(0)
        a, b = r.choice(["x", "yz", "ü"], 50), r.integers(-99, 99, 50)
        expected = [((a, b), n, _np(keras.layers.HashedCrossing(n)((a, b))))
                    for n in (3, 1000)]
    for inputs, n, want in expected:
        np.testing.assert_array_equal(L.HashedCrossing(n)(inputs).numpy(), want)
        oh = L.HashedCrossing(n, output_mode="one_hot")(inputs).numpy()
        np.testing.assert_array_equal(oh.argmax(-1), np.asarray(want).reshape(oh.shape[:-1]))


# ----------------------------------------------------------------- serialize / deserialize
KERAS_LAYERS = {
    "Dense": (lambda k: k.layers.Dense(3, activation="relu", kernel_regularizer="l2",
                                       bias_initializer="ones"),
              rng.standard_normal((2, 4)).astype(np.float32)),
    "Conv2D": (lambda k: k.layers.Conv2D(4, 3, strides=2, padding="same", use_bias=False,
                                         activation="tanh"),
               rng.standard_normal((2, 7, 7, 3)).astype(np.float32)),
    "LSTM": (lambda k: k.layers.LSTM(5, return_sequences=True, go_backwards=True,
                                     recurrent_activation="hard_sigmoid", dropout=0.2),
             rng.standard_normal((2, 6, 3)).astype(np.float32)),
}


@pytest.mark.parametrize("name", sorted(KERAS_LAYERS))
def test_keras_serialized_layers_deserialize_in_lamina(name):
    make, x = KERAS_LAYERS[name]
    kl = make(keras)
    ky = _np(kl(x))
    cfg = json.loads(json.dumps(keras.layers.serialize(kl)))
    built = make(lk)
    built(x)
    assert set(cfg) == set(L.serialize(built))          # same format (with build_config)
    ll = lk.layers.deserialize(cfg)
    assert type(ll).__name__ == name and ll.built
    kc, lc = _plain(cfg["config"]), _plain(ll.get_config())
    for k in lc:
        assert lc[k] == kc[k], k
    # keys lamina leaves out hold Keras's defaults (quantization_config; LSTM's
    # activity_regularizer)
    assert all(kc[k] is None for k in set(kc) - set(lc))
    ll.set_weights([_np(w) for w in kl.weights])
    np.testing.assert_allclose(ll(x, training=False).numpy(), ky, rtol=1e-5, atol=1e-5)
    # and lamina's dict loads back in Keras as the same layer
    back = keras.layers.deserialize(json.loads(json.dumps(L.serialize(ll))))
    assert _plain(back.get_config()) == kc


# ----------------------------------------------------------------- RandAugment / AugMix
X = rng.uniform(0, 255, (3, 9, 10, 3)).astype(np.float32)
X[0, :2, :2] = 0.0


def _params(t):
    """Keras's random parameters of one op as NumPy (None stays None)."""
    if t is None:
        return None
    return {k: _np(v) if hasattr(v, "shape") and not isinstance(v, tuple) else v
            for k, v in t.items()}


def _keras_seq(kl, names, transforms, x):
    """Keras's sublayers of ``kl`` applied in turn, each on a copy (Keras's
    RandomBrightness adds in place)."""
    y = torch.tensor(x.copy())
    for n in names:
        y = getattr(kl, n).transform_images(y.clone(), transforms[n], training=True)
    return _np(y)


@pytest.mark.parametrize("name,kw", [
    ("RandAugment", {}), ("RandAugment", {"value_range": (0, 1), "num_ops": 3,
                                          "factor": (0.2, 0.7), "interpolation": "nearest",
                                          "seed": 4}),
    ("AugMix", {}), ("AugMix", {"num_chains": 2, "chain_depth": 4, "factor": 0.6,
                                "alpha": 0.5, "all_ops": False, "seed": 1})])
def test_policy_config_and_ops_match_keras(name, kw):
    kl, ll = getattr(keras.layers, name)(**kw), getattr(L, name)(**kw)
    kc, lc = kl.get_config(), ll.get_config()
    assert list(lc) == list(kc)
    for k in lc:
        if k not in ("name", "dtype"):
            assert _plain(lc[k]) == _plain(kc[k]), k
    ops = kl._AUGMENT_LAYERS if name == "RandAugment" else kl._augment_layers
    ours = ll._AUGMENT_LAYERS if name == "RandAugment" else ll._augment_layers
    assert list(ours) == list(ops)
    for op in ops:
        ksub, lsub = getattr(kl, op), getattr(ll, op)
        assert type(lsub).__name__ == type(ksub).__name__, op
        kcs, lcs = ksub.get_config(), lsub.get_config()
        for k in ("factor", "x_factor", "y_factor", "height_factor", "width_factor",
                  "addition_factor", "threshold_factor", "value_range", "interpolation",
                  "seed", "fill_mode"):
            if k in kcs and not (op == "random_contrast" and k == "factor"):
                assert _plain(list(lcs[k]) if isinstance(lcs[k], tuple) else lcs[k]) == \
                    _plain(kcs[k]), (op, k)


@pytest.mark.parametrize("ops", [[0], [1], [2], [3], [4], [6], [7], [8], [9], [10],
                                 [0, 8], [2, 4, 7], [10, 6, 3], [1, 1]])
def test_randaugment_given_parameters_match_keras_sublayers(ops):
    # factor (f, f): translation, rotation and brightness are then fixed in both
    kl = keras.layers.RandAugment(factor=(0.3, 0.3), num_ops=len(ops))
    ll = L.RandAugment(factor=(0.3, 0.3), num_ops=len(ops))
    t = kl.get_random_transformation(torch.tensor(X.copy()), training=True)["transforms"]
    names = [ll._AUGMENT_LAYERS[i] for i in ops]
    ours = ll._transform(X.copy(), {"layer_idxes": np.array(ops),
                                    "transforms": {n: _params(t[n]) for n in names}})
    np.testing.assert_allclose(ours, _keras_seq(kl, names, t, X), rtol=1e-4, atol=2e-2)


def test_contrast_op_draws_from_keras_range():
    kl = keras.layers.RandAugment(factor=(0.2, 0.6))
    x = rng.uniform(0, 1, (400, 3, 3, 1)).astype(np.float32)
    kc = _np(kl.random_contrast.get_random_transformation(
        torch.tensor(x), training=True)["contrast_factor"]).ravel()
    y = L.RandAugment(factor=(0.2, 0.6), value_range=(-1e9, 1e9))._apply_op(
        "random_contrast", x, None)
    m = x.mean(axis=(1, 2), keepdims=True)
    lc = ((y - m) / (x - m))[:, 0, 0, 0]
    for c in (kc, lc):
        assert c.min() >= 0.8 - 1e-4 and c.max() <= 1.6 + 1e-4
        assert c.min() < 0.84 and c.max() > 1.56


def test_augmix_given_parameters_match_keras():
    kl = keras.layers.AugMix(num_chains=3, factor=(0.4, 0.4))
    ll = L.AugMix(num_chains=3, factor=(0.4, 0.4))
    x = torch.tensor(X.copy())
    chains = [["solarization", "random_shear", "random_rotation"],
              ["equalization", "random_brightness"],
              ["random_sharpness", "random_posterization", "random_translation",
               "auto_contrast"]]
    kchains = [[{"layer_name": n, "transformation": getattr(kl, n).get_random_transformation(
        x, training=True)} for n in c] for c in chains]
    w = np.array([0.5, 0.2, 0.3], np.float32)
    kt = {"chain_mixing_weights": torch.tensor(w), "weight_sample": torch.tensor(0.35),
          "chain_transforms": kchains}
    theirs = _np(kl.transform_images(torch.tensor(X.copy()), kt, training=True))
    lt = {"chain_mixing_weights": w, "weight_sample": np.float32(0.35),
          "chain_transforms": [[{"layer_name": s["layer_name"],
                                 "transformation": _params(s["transformation"])}
                                for s in c] for c in kchains]}
    np.testing.assert_allclose(ll._transform(X.copy(), lt), theirs, rtol=1e-4, atol=2e-2)
    # and at inference both return the images
    np.testing.assert_array_equal(ll(X, training=False).numpy(),
                                  _np(kl(torch.tensor(X.copy()), training=False)))
