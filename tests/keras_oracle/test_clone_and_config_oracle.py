"""clone_model and to_json/model_from_json against real Keras 3 (torch backend): the same
clones (layer names and classes, parameter counts, graph wiring, summary figures), JSON
written by Keras loading in lamina and lamina's in Keras with the same predictions once
the weights are copied, and the new keras.backend/keras.config functions giving Keras's
answers."""
import json
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from lamina import keras as lk  # noqa: E402


def _sequential(K):
    return K.Sequential([K.Input((6,), name="inp"), K.layers.Dense(8, activation="relu",
                                                                   name="h1"),
                         K.layers.Dropout(0.2, name="drop"),
                         K.layers.Dense(3, activation="softmax", name="probs")], name="seq")


def _functional(K):
    x1, x2 = K.Input((3,), name="x1"), K.Input((5,), name="x2")
    shared = K.layers.Dense(4, activation="tanh", name="shared")
    h = K.layers.Concatenate(name="cat")([shared(x1), K.layers.Dense(4, name="d2")(x2)])
    out1 = K.layers.Dense(1, name="out1")(h)
    out2 = shared(K.layers.Dense(3, name="d3")(x2))
    return K.Model([x1, x2], [out1, out2], name="func")


def _conv(K):
    x = K.Input((8, 8, 2), name="img")
    y = K.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(x)
    y = K.layers.BatchNormalization(name="bn")(y)
    y = K.layers.MaxPooling2D(name="pool")(y)
    y = K.layers.Flatten(name="flat")(y)
    return K.Model(x, K.layers.Dense(2, name="head")(y), name="cnn")


MAKERS = [_sequential, _functional, _conv]
INPUTS = {"_sequential": [(4, 6)], "_functional": [(4, 3), (4, 5)], "_conv": [(4, 8, 8, 2)]}


def _inputs(make):
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(s).astype("float32") for s in INPUTS[make.__name__]]
    return xs if len(xs) > 1 else xs[0]


def _wiring(model_json):
    """{layer name: (class, [(input layer names) per call], selected config)} of a model's
    JSON: what must agree between the libraries (key order and dtype spelling may not)."""
    cfg = json.loads(model_json) if isinstance(model_json, str) else model_json
    out = {}
    for lc in cfg["config"]["layers"]:
        c = lc["config"]
        calls = []
        for node in lc.get("inbound_nodes", []):
            hist = []

            def walk(v):
                if isinstance(v, dict) and v.get("class_name") == "__keras_tensor__":
                    hist.append(v["config"]["keras_history"][0])
                elif isinstance(v, dict):
                    for w in v.values():
                        walk(w)
                elif isinstance(v, list):
                    for w in v:
                        walk(w)
            walk(node)
            calls.append(tuple(hist))
        keep = {k: c[k] for k in ("units", "activation", "filters", "kernel_size", "rate",
                                  "padding", "batch_shape", "axis", "pool_size") if k in c}
        out[c.get("name", lc.get("name"))] = (lc["class_name"], calls, keep)
    return out


def _copy_weights(src, dst):
    """Weights by layer name (the two libraries may order layers differently)."""
    for layer in src.layers:
        w = [np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in layer.get_weights()]
        if w:
            dst.get_layer(layer.name).set_weights(w)


def _predict(model, x):
    out = model.predict(x, verbose=0)
    return [np.asarray(o) for o in out] if isinstance(out, list) else [np.asarray(out)]


def _summary_totals(model):
    lines = []
    model.summary(print_fn=lambda s, *a, **k: lines.append(s))
    text = "\n".join(lines)
    return [ln.split(":")[0].strip() + ":" + ln.split(":")[1].split("(")[0].strip()
            for ln in text.splitlines() if "params:" in ln]


@pytest.mark.parametrize("make", MAKERS)
def test_clone_matches_keras(make):
    k, m = make(keras), make(lk)
    kc, lc = keras.models.clone_model(k), lk.models.clone_model(m)
    assert kc.name == lc.name == k.name and type(kc).__name__ in (type(lc).__name__, "Functional")
    assert kc.count_params() == lc.count_params() == m.count_params()
    assert sorted(layer.name for layer in kc.layers) == sorted(layer.name for layer in lc.layers)
    assert _wiring(kc.to_json()) == _wiring(lc.to_json())
    assert _summary_totals(kc) == _summary_totals(lc)
    # same function once the clone holds the same weights
    _copy_weights(k, kc)
    _copy_weights(k, lc)
    x = _inputs(make)
    for a, b in zip(_predict(kc, x), _predict(lc, x)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_clone_function_same_result_as_keras():
    def change(K):
        def fn(layer):
            cfg = layer.get_config()
            if layer.name == "d2":
                cfg["units"] = 7
            return layer.__class__.from_config(cfg)
        return fn
    kc = keras.models.clone_model(_functional(keras), clone_function=change(keras))
    lc = lk.models.clone_model(_functional(lk), clone_function=change(lk))
    assert kc.count_params() == lc.count_params()
    assert _wiring(kc.to_json()) == _wiring(lc.to_json())

    def call_fn(K):
        def fn(layer, *args, **kwargs):
            out = layer(*args, **kwargs)
            return K.layers.Activation("relu")(out) if layer.name == "out1" else out
        return fn
    kc = keras.models.clone_model(_functional(keras), call_function=call_fn(keras))
    lc = lk.models.clone_model(_functional(lk), call_function=call_fn(lk))
    assert len(kc.layers) == len(lc.layers) == 8 and kc.count_params() == lc.count_params()


@pytest.mark.parametrize("make", MAKERS)
def test_keras_json_loads_in_lamina(make):
    k = make(keras)
    m = lk.models.model_from_json(k.to_json())
    assert m.count_params() == k.count_params()
    assert _wiring(m.to_json()) == _wiring(k.to_json())
    _copy_weights(k, m)
    x = _inputs(make)
    for a, b in zip(_predict(k, x), _predict(m, x)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make", MAKERS)
def test_lamina_json_loads_in_keras(make):
    m = make(lk)
    k = keras.models.model_from_json(m.to_json())
    assert k.count_params() == m.count_params()
    assert _wiring(k.to_json()) == _wiring(m.to_json())
    _copy_weights(m, k)
    x = _inputs(make)
    for a, b in zip(_predict(m, x), _predict(k, x)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_compiled_json_round_trips_both_ways():
    k = _sequential(keras)
    k.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy",
              metrics=["accuracy"])
    m = lk.models.model_from_json(k.to_json())
    assert m.compiled and type(m.optimizer).__name__ == "Adam"
    assert np.isclose(float(m.optimizer.learning_rate), 0.01)
    m2 = _sequential(lk)
    m2.compile(optimizer=lk.optimizers.SGD(0.05), loss="mse")
    k2 = keras.models.model_from_json(m2.to_json())
    assert k2.compiled and type(k2.optimizer).__name__ == "SGD"
    assert np.isclose(float(k2.optimizer.learning_rate), 0.05)


def test_backend_and_config_answers_match_keras():
    kb, lb = keras.backend, lk.backend
    for d in ["float16", "bfloat16", "int8", "uint32", "bool", "float64", int, float]:
        assert kb.is_float_dtype(d) == lb.is_float_dtype(d)
        assert kb.is_int_dtype(d) == lb.is_int_dtype(d)
    cases = [("int32", "float16"), ("uint8", "int8"), ("int64", float), ("bfloat16", int),
             ("bool", int), ("uint64", "int8"), (int, float), ("float16", "bfloat16"),
             ("complex64", "float64"), (None,), ("int16", "uint16", "float32")]
    for c in cases:
        assert kb.result_type(*c) == lb.result_type(*c), c
    assert kb.epsilon() == lb.epsilon() and kb.image_data_format() == lb.image_data_format()
    for name in ["max_epochs", "max_steps_per_epoch", "is_interactive_logging_enabled",
                 "is_traceback_filtering_enabled", "is_flash_attention_enabled"]:
        assert getattr(keras.config, name)() == getattr(lk.config, name)(), name
