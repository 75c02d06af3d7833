"""The structured-data, normalization, 1-D shape, AlphaDropout and EinsumDense layers
against real Keras 3 (torch backend): same outputs for the same inputs and weights, same
config keys (in Keras's order), same parameter counts.

StringLookup / IntegerLookup need TensorFlow in Keras 3, so they are checked against
Keras's documented behaviour in tests/nn/layers/test_structured.py instead."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from lamina.nn import layers as L, Input  # noqa: E402

rng = np.random.default_rng(11)


def _np(y):
    if hasattr(y, "detach"):
        return y.detach().cpu().numpy()
    return np.asarray(y.numpy() if hasattr(y, "numpy") else y)


# name -> (make(layers_module), input array or None)
CASES = {
    "Normalization_adapted": (lambda l: l.Normalization(), None),
    "Normalization_given": (lambda l: l.Normalization(mean=[1.0, 2.0, 3.0],
                                                      variance=[4.0, 1.0, 0.25]),
                            rng.normal(size=(4, 3)).astype("float32")),
    "Normalization_invert_axis_none": (lambda l: l.Normalization(axis=None, mean=2.0,
                                                                 variance=9.0, invert=True),
                                       rng.normal(size=(4, 3)).astype("float32")),
    "Discretization_int": (lambda l: l.Discretization(bin_boundaries=[-0.5, 0.0, 0.7]),
                           rng.normal(size=(5, 4)).astype("float32")),
    "Discretization_one_hot": (lambda l: l.Discretization(bin_boundaries=[0.0, 1.0],
                                                          output_mode="one_hot"),
                               rng.normal(size=(6,)).astype("float32")),
    "Discretization_multi_hot": (lambda l: l.Discretization(bin_boundaries=[0.0, 1.0],
                                                            output_mode="multi_hot"),
                                 rng.normal(size=(3, 4)).astype("float32")),
    "Discretization_count": (lambda l: l.Discretization(bin_boundaries=[0.0, 1.0],
                                                        output_mode="count"),
                             rng.normal(size=(3, 4)).astype("float32")),
    "CategoryEncoding_multi_hot": (lambda l: l.CategoryEncoding(6),
                                   rng.integers(0, 6, (4, 3))),
    "CategoryEncoding_count": (lambda l: l.CategoryEncoding(6, output_mode="count"),
                               rng.integers(0, 6, (4, 5))),
    "CategoryEncoding_one_hot": (lambda l: l.CategoryEncoding(5, output_mode="one_hot"),
                                 rng.integers(0, 5, (4, 1))),
    "CategoryEncoding_count_1d": (lambda l: l.CategoryEncoding(5, output_mode="count"),
                                  rng.integers(0, 5, (7,))),
    "CategoryEncoding_count_3d": (lambda l: l.CategoryEncoding(5, output_mode="count"),
                                  rng.integers(0, 5, (2, 3, 4))),
    "CategoryEncoding_multi_hot_3d": (lambda l: l.CategoryEncoding(5),
                                      rng.integers(0, 5, (2, 3, 4))),
    "GroupNormalization": (lambda l: l.GroupNormalization(groups=2),
                           rng.normal(size=(2, 3, 4)).astype("float32")),
    "GroupNormalization_axis1_instance": (
        lambda l: l.GroupNormalization(groups=-1, axis=1, epsilon=1e-5),
        rng.normal(size=(2, 3, 4, 5)).astype("float32")),
    "UnitNormalization": (lambda l: l.UnitNormalization(),
                          rng.normal(size=(3, 5)).astype("float32")),
    "UnitNormalization_axes": (lambda l: l.UnitNormalization(axis=[1, 2]),
                               rng.normal(size=(2, 3, 4)).astype("float32")),
    "RMSNormalization": (lambda l: l.RMSNormalization(),
                         rng.normal(size=(2, 3, 4)).astype("float32")),
    "UpSampling1D": (lambda l: l.UpSampling1D(3), rng.normal(size=(2, 4, 3)).astype("float32")),
    "ZeroPadding1D": (lambda l: l.ZeroPadding1D((1, 2)),
                      rng.normal(size=(2, 4, 3)).astype("float32")),
    "Cropping1D": (lambda l: l.Cropping1D((1, 2)), rng.normal(size=(2, 6, 3)).astype("float32")),
    "AlphaDropout": (lambda l: l.AlphaDropout(0.2), rng.normal(size=(2, 5)).astype("float32")),
    "SpatialDropout3D": (lambda l: l.SpatialDropout3D(0.2),
                         rng.normal(size=(2, 3, 3, 3, 2)).astype("float32")),
    "GlobalAveragePooling3D": (lambda l: l.GlobalAveragePooling3D(),
                               rng.normal(size=(2, 3, 2, 4, 5)).astype("float32")),
    "GlobalMaxPooling3D_keepdims": (lambda l: l.GlobalMaxPooling3D(keepdims=True),
                                    rng.normal(size=(2, 3, 2, 4, 5)).astype("float32")),
    "GlobalAveragePooling3D_first": (
        lambda l: l.GlobalAveragePooling3D(data_format="channels_first"),
        rng.normal(size=(2, 3, 2, 4, 5)).astype("float32")),
    "EinsumDense_dense": (lambda l: l.EinsumDense("ab,bc->ac", 4, bias_axes="c",
                                                  activation="relu"),
                          rng.normal(size=(3, 5)).astype("float32")),
    "EinsumDense_seq": (lambda l: l.EinsumDense("abc,cd->abd", (None, 4), bias_axes="d"),
                        rng.normal(size=(2, 3, 5)).astype("float32")),
    "EinsumDense_heads": (lambda l: l.EinsumDense("abc,cde->abde", (None, 2, 3),
                                                  bias_axes="de"),
                          rng.normal(size=(2, 4, 5)).astype("float32")),
    "EinsumDense_ellipsis": (lambda l: l.EinsumDense("...b,bc->...c", 4),
                             rng.normal(size=(2, 3, 5)).astype("float32")),
    "EinsumDense_trailing": (lambda l: l.EinsumDense("ab...,bc->ac...", 4, bias_axes="c"),
                             rng.normal(size=(2, 5, 3)).astype("float32")),
}

_KERAS_SHAPE_RULE_DIFFERS = {"CategoryEncoding_count_3d", "CategoryEncoding_multi_hot_3d"}
_SKIP_KEYS = {"quantization_config", "lora_rank", "lora_alpha", "gptq_unpacked_column_size"}


@pytest.mark.parametrize("name", list(CASES))
def test_config_keys_in_keras_order(name):
    make, _ = CASES[name]
    kc = make(keras.layers).get_config()
    lc = make(L).get_config()
    kkeys = [k for k in kc if k not in _SKIP_KEYS]
    lkeys = [k for k in lc if k in kc and k not in _SKIP_KEYS]
    assert lkeys == kkeys, f"{name}: lamina keys {list(lc)} vs keras {list(kc)}"
    for k in kkeys:
        if k in ("name", "dtype") or k.endswith(("_initializer", "_regularizer",
                                                  "_constraint")):
            continue
        kv = kc[k]
        lv = lc[k]
        if isinstance(kv, tuple):
            kv = list(kv)
        if isinstance(lv, tuple):
            lv = list(lv)
        assert lv == kv, f"{name}.{k}: lamina {lv!r} vs keras {kv!r}"


@pytest.mark.parametrize("name", list(CASES))
def test_supports_masking_as_keras(name):
    make, _ = CASES[name]
    assert make(L).supports_masking == make(keras.layers).supports_masking


def _pair(name):
    make, x = CASES[name]
    return make(keras.layers), make(L), x


@pytest.mark.parametrize("name", [n for n, (_, x) in CASES.items() if x is not None])
def test_outputs_params_and_shapes_with_copied_weights(name):
    kl, ll, x = _pair(name)
    ky = kl(x)
    if kl.weights:
        ws = []
        for w in kl.weights:
            a = _np(w)
            # non-trivial weights (Keras starts gamma/scale at ones, beta/bias at zeros)
            if a.dtype.kind == "f":
                a = rng.normal(size=a.shape).astype(a.dtype)
                w.assign(a)
            ws.append(a)
        ky = kl(x)
        ll(x)
        ll.set_weights(ws)
    ly = ll(x)
    assert ll.count_params() == kl.count_params()
    assert [tuple(w.shape) for w in ll.weights] == [tuple(w.shape) for w in kl.weights]
    assert [w.path.split("/")[-1] for w in ll.weights] == \
        [w.path.split("/")[-1] for w in kl.weights]
    ky = _np(ky)
    np.testing.assert_allclose(ly.numpy(), ky, rtol=2e-5, atol=2e-6)
    assert ly.numpy().dtype.kind == ky.dtype.kind
    # lamina's shape rule gives the shape of Keras's actual output (None: not inferred,
    # as EinsumDense leaves output_shape's None entries) ...
    got = tuple(ll.compute_output_shape(x.shape))
    assert len(got) == ky.ndim and all(g is None or g == k for g, k in zip(got, ky.shape))
    # ... and Keras's own rule, except where that rule disagrees with Keras's output
    # (CategoryEncoding of rank-3 ids: Keras reduces axis 1 but reports the last one)
    if name not in _KERAS_SHAPE_RULE_DIFFERS:
        shape = (None,) + tuple(x.shape[1:])
        assert tuple(ll.compute_output_shape(shape)) == tuple(kl.compute_output_shape(shape))


@pytest.mark.parametrize("name", ["GroupNormalization", "RMSNormalization", "UpSampling1D",
                                  "ZeroPadding1D", "Cropping1D", "EinsumDense_heads",
                                  "UnitNormalization"])
def test_symbolic_output_shapes(name):
    make, x = CASES[name]
    kt = make(keras.layers)(keras.Input(x.shape[1:]))
    lt = make(L)(Input(x.shape[1:]))
    assert tuple(lt.shape) == tuple(kt.shape)


@pytest.mark.parametrize("batches", [False, True])
def test_normalization_adapt_matches_keras(batches):
    data = rng.normal(3.0, 2.0, size=(40, 3)).astype("float32")
    kl, ll = keras.layers.Normalization(), L.Normalization()
    # Keras adapts on batches only through TensorFlow; its array result is the target
    kl.adapt(data)
    ll.adapt([data[:15], data[15:]] if batches else data)
    np.testing.assert_allclose(ll(data).numpy(), _np(kl(data)), rtol=1e-4, atol=1e-5)
    assert ll.count_params() == kl.count_params()
    np.testing.assert_allclose(ll.get_weights()[0], _np(kl.weights[0]), rtol=1e-5)
    np.testing.assert_allclose(ll.get_weights()[1], _np(kl.weights[1]), rtol=1e-4)


@pytest.mark.parametrize("axis", [-1, None, (1, 2), 1])
def test_normalization_adapt_axes_match_keras(axis):
    data = rng.normal(2.0, 3.0, size=(6, 4, 4, 3)).astype("float32")
    kl, ll = keras.layers.Normalization(axis=axis), L.Normalization(axis=axis)
    kl.adapt(data)
    ll.adapt(data)
    np.testing.assert_allclose(ll(data).numpy(), _np(kl(data)), rtol=1e-4, atol=1e-5)
    assert ll.count_params() == kl.count_params()


@pytest.mark.parametrize("num_bins,epsilon,batched", [(4, 0.01, False), (5, 0.01, True),
                                                       (3, 0.1, False), (7, 0.05, True)])
def test_discretization_adapt_matches_keras_quantiles(num_bins, epsilon, batched):
    data = rng.normal(size=(500,)).astype("float32")
    src = [data[:200], data[200:]] if batched else [data]
    kl = keras.layers.Discretization(num_bins=num_bins, epsilon=epsilon)
    ll = L.Discretization(num_bins=num_bins, epsilon=epsilon)
    # Keras's adapt() imports TensorFlow; its update_state/finalize_state do the same
    # work without it
    kl.reset_state()
    for b in src:
        kl.update_state(b)
    kl.finalize_state()
    ll.adapt(src if batched else data)
    np.testing.assert_allclose(ll.bin_boundaries, kl.bin_boundaries, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(ll(data).numpy(), _np(kl(data)))


def test_alpha_dropout_training_statistics_match_keras():
    x = rng.normal(size=(4000, 25)).astype("float32")
    ky = _np(keras.layers.AlphaDropout(0.3, seed=1)(x, training=True))
    ly = L.AlphaDropout(0.3, seed=1)(x, training=True).numpy()
    # different random streams: compare the distribution, and the value every dropped
    # entry takes (the affine image of alpha'), the most frequent output value
    assert abs(ly.mean() - ky.mean()) < 0.03 and abs(ly.std() - ky.std()) < 0.03

    def dropped(y):
        vals, counts = np.unique(y, return_counts=True)
        return vals[np.argmax(counts)], counts.max() / y.size
    (kv, kf), (lv, lf) = dropped(ky), dropped(ly)
    np.testing.assert_allclose(lv, kv, rtol=1e-5)
    assert abs(lf - kf) < 0.02 and abs(lf - 0.3) < 0.02


def test_einsum_dense_kernel_fans_match_keras():
    # Keras counts fan-in/out over the contracted / produced kernel axes
    k = keras.layers.EinsumDense("abc,cde->abde", (None, 8, 16))
    l_ = L.EinsumDense("abc,cde->abde", (None, 8, 16))
    k.build((None, 4, 32))
    l_.build((None, 4, 32))
    limit = np.sqrt(6.0 / (32 + 8 * 16))
    kw, lw = _np(k.kernel), l_.kernel.numpy()
    assert np.abs(lw).max() <= limit + 1e-6 and np.abs(kw).max() <= limit + 1e-6
    assert np.abs(lw).max() > 0.9 * limit and abs(lw.std() - kw.std()) < 0.1 * kw.std()


@pytest.mark.parametrize("name", [n for n, (_, x) in CASES.items() if x is not None])
def test_keras_layer_config_loads_into_lamina(name):
    import json
    from lamina.nn.serialization import deserialize_layer
    make, x = CASES[name]
    kl = make(keras.layers)
    # preset initializers are left out: only the config format is under test
    cfg = json.loads(json.dumps(keras.saving.serialize_keras_object(kl)))
    ll = deserialize_layer(cfg)
    assert type(ll).__name__ == type(kl).__name__ and ll.name == kl.name
    ky = kl(x)
    ll(x)
    if kl.weights:
        ll.set_weights([_np(w) for w in kl.weights])
    np.testing.assert_allclose(ll(x).numpy(), _np(ky), rtol=2e-5, atol=2e-6)


def test_category_encoding_count_weights_match_keras():
    x = rng.integers(0, 5, (3, 4))
    w = rng.uniform(0, 2, (3, 4)).astype("float32")
    ky = keras.layers.CategoryEncoding(5, output_mode="count")(x, count_weights=w)
    ly = L.CategoryEncoding(5, output_mode="count")(x, count_weights=w)
    np.testing.assert_allclose(ly.numpy(), _np(ky), rtol=1e-6)


def test_pipeline_config_and_weights_h5_cross_over(tmp_path):
    """A Pipeline's config loads in Keras and back, and its .weights.h5 groups (the layers
    under its _pipeline_layers attribute) are Keras's."""
    pytest.importorskip("h5py")
    import json
    from lamina import keras as lk
    from lamina.nn import serialization as S

    def build(k):
        i = k.Input((2,))
        p = k.layers.Pipeline([k.layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0]),
                               k.layers.Dense(3)])
        return k.Model(i, p(i))
    ours, theirs = build(lk), build(keras)
    cfg = S.serialize_layer(ours.layers[1])
    kp = keras.saving.deserialize_keras_object(json.loads(json.dumps(cfg)))
    assert [type(la).__name__ for la in kp.layers] == ["Normalization", "Dense"]
    paths = []
    for m, tag in ((ours, "l"), (theirs, "k")):
        m.save_weights(tmp_path / f"{tag}.weights.h5")
        import h5py
        with h5py.File(tmp_path / f"{tag}.weights.h5", "r") as f:
            found = []
            f.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) else None)
            paths.append(sorted(found))
    assert paths[0] == paths[1]
    theirs.load_weights(tmp_path / "l.weights.h5")
    # (the outputs are not compared: Keras 3.15's Normalization inside a Pipeline returns
    # ~1e18 on the torch backend; the loaded Dense weights are what the file carries)
    for w_ours, w_theirs in zip(ours.layers[1].layers[1].weights,
                                theirs.layers[1].layers[1].weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(w_theirs), w_ours.numpy())
