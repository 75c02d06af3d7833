"""lamina's layers and models against real Keras 3 (torch backend): parameter counts,
output shapes, config keys and, with weights copied across, outputs."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from lamina.nn import layers as L, Model, Sequential, Input  # noqa: E402

rng = np.random.default_rng(6)


def _build_both(fn):
    """fn(layers_module, Model, Sequential, Input) -> model, for both libraries."""
    km = fn(keras.layers, keras.Model, keras.Sequential, keras.Input)
    lmod = fn(L, Model, Sequential, Input)
    return km, lmod


def _np(y):
    if isinstance(y, (list, tuple)):
        return [_np(v) for v in y]
    if hasattr(y, "detach"):
        return y.detach().cpu().numpy()
    return np.asarray(y.numpy() if hasattr(y, "numpy") else y)


MODELS = {
    "course_mlp": lambda l, M, S, I: S([I((64,)), l.Dense(100, activation="tanh"),
                                        l.Dense(10, activation="softmax")]),
    "mnist_mlp_bn": lambda l, M, S, I: S([I((784,)), l.Dense(512, activation="relu"),
                                          l.BatchNormalization(), l.Dropout(0.2),
                                          l.Dense(512, activation="relu"), l.Dense(10)]),
    "text": lambda l, M, S, I: S([I((7,), dtype="int32"), l.Embedding(50, 8),
                                  l.LayerNormalization(), l.Flatten(), l.Dense(3)]),
    "shapes": lambda l, M, S, I: S([I((4, 6)), l.Permute((2, 1)), l.Reshape((3, -1)),
                                    l.Flatten(), l.RepeatVector(2), l.LeakyReLU(),
                                    l.Dense(5), l.ReLU(max_value=2.0), l.Softmax()]),
}


def _functional(l, M, S, I):
    a, b = I((5,)), I((5,))
    shared = l.Dense(4)
    ha, hb = shared(a), shared(b)
    merged = [l.Add()([ha, hb]), l.Subtract()([ha, hb]), l.Multiply()([ha, hb]),
              l.Average()([ha, hb]), l.Maximum()([ha, hb]), l.Minimum()([ha, hb]),
              l.Concatenate()([ha, hb]), l.Dot(axes=1)([ha, hb]),
              l.Dot(axes=1, normalize=True)([ha, hb])]
    return M([a, b], [l.Dense(2)(merged[6])] + merged)


MODELS["functional_merges"] = _functional


@pytest.mark.parametrize("name", list(MODELS))
def test_counts_shapes_and_outputs_with_copied_weights(name):
    km, lmod = _build_both(MODELS[name])
    assert lmod.count_params() == km.count_params()
    assert len(lmod.trainable_weights) == len(km.trainable_weights)
    assert len(lmod.non_trainable_weights) == len(km.non_trainable_weights)
    ko = km.outputs
    lo = lmod.outputs
    assert [tuple(t.shape) for t in lo] == [tuple(t.shape) for t in ko]
    ws = [np.asarray(w) for w in km.get_weights()]
    # BatchNormalization: non-trivial moving statistics so inference uses them
    for layer_k in km.layers:
        if isinstance(layer_k, keras.layers.BatchNormalization):
            n = layer_k.moving_mean.shape[0]
            layer_k.moving_mean.assign(rng.standard_normal(n).astype("float32"))
            layer_k.moving_variance.assign(rng.uniform(0.5, 2, n).astype("float32"))
            ws = [np.asarray(w) for w in km.get_weights()]
    lmod.set_weights(ws)
    inputs = km.inputs
    xs = []
    for t in inputs:
        shape = (3,) + tuple(t.shape[1:])
        if "int" in str(t.dtype):
            xs.append(rng.integers(0, 50, shape).astype("int32"))
        else:
            xs.append(rng.standard_normal(shape).astype("float32"))
    x = xs if len(xs) > 1 else xs[0]
    yk = _np(km(x, training=False))
    yl = _np(lmod(x, training=False))
    yk = yk if isinstance(yk, list) else [yk]
    yl = yl if isinstance(yl, list) else [yl]
    for a, b in zip(yl, yk):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_summary_totals_match_keras():
    km, lmod = _build_both(MODELS["mnist_mlp_bn"])
    kl, ll = [], []
    km.summary(print_fn=lambda s, **k: kl.append(s))
    lmod.summary(print_fn=ll.append)
    text_k = "\n".join(kl)
    for what in ("Total params", "Trainable params", "Non-trainable params"):
        line = next(x for x in ll if what in x).strip()
        assert line.split(":")[1].strip() in text_k, line


LAYERS = {
    "Dense": (lambda l: l.Dense(3, activation="relu"), (2, 4)),
    "BatchNormalization": (lambda l: l.BatchNormalization(), (2, 4)),
    "LayerNormalization": (lambda l: l.LayerNormalization(), (2, 4)),
    "Embedding": (lambda l: l.Embedding(10, 3), None),
    "Dropout": (lambda l: l.Dropout(0.5), (2, 4)),
    "LeakyReLU": (lambda l: l.LeakyReLU(), (2, 4)),
    "ReLU": (lambda l: l.ReLU(), (2, 4)),
    "Softmax": (lambda l: l.Softmax(), (2, 4)),
    "Flatten": (lambda l: l.Flatten(), (2, 4)),
    "Reshape": (lambda l: l.Reshape((2, 2)), (2, 4)),
    "Permute": (lambda l: l.Permute((1,)), (2, 4)),
    "RepeatVector": (lambda l: l.RepeatVector(2), (2, 4)),
    "GaussianNoise": (lambda l: l.GaussianNoise(0.1), (2, 4)),
    "Activation": (lambda l: l.Activation("tanh"), (2, 4)),
    "Concatenate": (lambda l: l.Concatenate(), None),
    "Dot": (lambda l: l.Dot(axes=1), None),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_config_keys_and_defaults(name):
    make, _ = LAYERS[name]
    kc = make(keras.layers).get_config()
    lc = make(L).get_config()
    missing = set(kc) - set(lc) - {"quantization_config", "lora_rank", "lora_alpha",
                                   "renorm", "renorm_clipping", "renorm_momentum"}
    assert not missing, f"{name}: keys missing from lamina's config: {missing}"
    for k in ("units", "momentum", "epsilon", "axis", "rate", "negative_slope", "mask_zero",
              "use_bias", "center", "scale", "activation", "normalize", "axes"):
        if k in kc and k in lc:
            kv, lv = kc[k], lc[k]
            if isinstance(kv, tuple):
                kv = list(kv)
            assert lv == kv, f"{name}.{k}: lamina {lv!r} vs keras {kv!r}"


def test_keras_functional_config_loads_into_lamina():
    import json
    from lamina.nn.serialization import deserialize_layer
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    # preset initializers are left out here: only the layer/graph format is under test
    shared = keras.layers.Dense(3, kernel_initializer="zeros")
    cat = keras.layers.Concatenate()([shared(a), shared(b)])
    out = keras.layers.Dense(2, kernel_initializer="ones", activation="relu")(cat)
    km = keras.Model({"a": a, "b": b}, [out, cat])
    cfg = json.loads(json.dumps(keras.saving.serialize_keras_object(km)))
    lmod = deserialize_layer(cfg)
    assert [l.name for l in lmod.layers] == [l.name for l in km.layers]
    assert lmod.count_params() == km.count_params()
    ws = [rng.standard_normal(np.shape(w)).astype("float32") for w in km.get_weights()]
    km.set_weights(ws)
    lmod.set_weights(ws)
    x = {"a": rng.standard_normal((3, 4)).astype("float32"),
         "b": rng.standard_normal((3, 4)).astype("float32")}
    for p, q in zip(_np(lmod(x)), _np(km(x))):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)
