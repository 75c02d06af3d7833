"""Serialization: registry, custom objects, register_serializable, layer and model
(Sequential, functional, nested) round trips through JSON with identical outputs."""
import json

import numpy as np
import pytest

import lamina as lm
from lamina.nn import layers, Model, Sequential, Input
from lamina.nn.layers import Layer
from lamina.nn.serialization import (serialize_layer, deserialize_layer, register_serializable,
                                     get_registered_object, custom_object_scope)

rng = np.random.default_rng(5)


def _json(obj):
    return json.loads(json.dumps(obj))


def _same_outputs(a, b, x):
    b.set_weights(a.get_weights())
    ya, yb = a(x, training=False), b(x, training=False)
    ya = ya if isinstance(ya, (list, tuple)) else [ya]
    yb = yb if isinstance(yb, (list, tuple)) else [yb]
    for p, q in zip(ya, yb):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_builtin_layers_registered_by_class_name():
    for name in ("Dense", "BatchNormalization", "Embedding", "Concatenate", "Dot", "LeakyReLU",
                 "InputLayer", "Sequential", "Functional", "Conv2D", "LSTM"):
        assert get_registered_object(name) is not None, name


def test_serialize_format_and_build_config():
    d = layers.Dense(3, activation="relu", kernel_regularizer="l2")
    d(np.zeros((1, 4), "float32"))
    s = _json(serialize_layer(d))
    assert s["class_name"] == "Dense" and s["config"]["units"] == 3
    assert s["build_config"] == {"input_shape": [None, 4]}
    clone = deserialize_layer(s)
    assert clone.built and clone.kernel.shape == (4, 3)        # built from build_config
    assert clone.kernel_regularizer is not None


def test_custom_layer_needs_registration_or_custom_objects(clean_custom_objects):
    class Twice(Layer):
        def __init__(self, k=2.0, **kw):
            super().__init__(**kw)
            self.k = k

        def call(self, x):
            return x * self.k

        def get_config(self):
            return {**super().get_config(), "k": self.k}

    cfg = _json(serialize_layer(Twice(3.0)))
    with pytest.raises(ValueError, match="Unknown layer class 'Twice'.*custom_objects"):
        deserialize_layer(cfg)
    assert deserialize_layer(cfg, {"Twice": Twice}).k == 3.0
    with custom_object_scope({"Twice": Twice}):
        assert deserialize_layer(cfg).k == 3.0
    Reg = register_serializable(package="tests")(Twice)
    cfg = _json(serialize_layer(Reg(4.0)))
    assert cfg["registered_name"] == "tests>Twice"
    assert deserialize_layer(cfg).k == 4.0


def test_sequential_roundtrip():
    m = Sequential([Input((6,)), layers.Dense(5, activation="relu"),
                    layers.BatchNormalization(), layers.Dropout(0.3), layers.Dense(2,
                                                                                   activation="softmax")])
    m2 = Sequential.from_config(_json(m.get_config()))
    assert [type(l) for l in m2.layers] == [type(l) for l in m.layers]
    assert [l.name for l in m2.layers] == [l.name for l in m.layers]
    _same_outputs(m, m2, rng.standard_normal((4, 6)).astype("float32"))
    m3 = deserialize_layer(_json(serialize_layer(Sequential([layers.Dense(2, input_dim=3)]))))
    assert m3.built and m3.count_params() == 8


def test_functional_roundtrip_multi_io_shared_nested():
    inner = Sequential([Input((4,)), layers.Dense(3)], name="inner_seq")
    a, b = Input((4,), name="a"), Input((4,), name="b")
    shared = layers.Dense(4, name="shared")
    ha = inner(shared(a))
    hb = inner(shared(b))
    emb_in = Input((3,), dtype="int32", name="ids")
    e = layers.Flatten()(layers.Embedding(10, 2, mask_zero=True)(emb_in))
    cat = layers.concatenate([ha, hb, e])
    out1 = layers.Dense(1, name="out1")(cat)
    out2 = layers.Dot(axes=1, normalize=True, name="cos")([ha, hb])
    m = Model({"a": a, "b": b, "ids": emb_in}, [out1, out2 * 2.0], name="big")
    cfg = _json(m.get_config())
    m2 = Model.from_config(cfg)
    assert m2.name == "big" and [l.name for l in m2.layers] == [l.name for l in m.layers]
    assert m2.count_params() == m.count_params()
    x = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal((3, 4)),
         "ids": np.array([[1, 2, 0], [3, 0, 0], [9, 9, 9]])}
    _same_outputs(m, m2, x)
    m3 = deserialize_layer(_json(serialize_layer(m)))
    _same_outputs(m, m3, x)


def test_every_layer_config_roundtrips_in_a_graph():
    inp = Input((4, 6))
    h = layers.LayerNormalization()(inp)
    h = layers.Permute((2, 1))(h)
    h = layers.Reshape((3, 8))(h)
    h = layers.LeakyReLU()(h)
    h = layers.ReLU(max_value=3.0)(h)
    h = layers.ELU()(h)
    h = layers.PReLU()(h)
    h = layers.GaussianNoise(0.1)(h)
    h = layers.GaussianDropout(0.1)(h)
    h = layers.ActivityRegularization(l1=0.01)(h)
    h = layers.Identity()(h)
    h = layers.Softmax()(h)
    h = layers.Flatten()(h)
    h = layers.RepeatVector(2)(h)
    h = layers.Activation("tanh")(h)
    h = layers.Masking()(h)
    m = Model(inp, h)
    m2 = Model.from_config(_json(m.get_config()))
    _same_outputs(m, m2, rng.standard_normal((2, 4, 6)).astype("float32"))


def test_loading_never_runs_code_and_rejects_unknown_classes():
    cfg = {"class_name": "os.system", "config": {"command": "echo hi"}}
    with pytest.raises(ValueError, match="Unknown layer class"):
        deserialize_layer(cfg)
    with pytest.raises(TypeError):
        deserialize_layer(42)


def test_subclassed_model_config_captures_simple_init_args(clean_custom_objects):
    @register_serializable(package="tests")
    class Tower(Model):
        def __init__(self, units=4, act="relu", **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.d1 = layers.Dense(units, activation=act)
            self.d2 = layers.Dense(1)

        def call(self, x):
            return self.d2(self.d1(x))

    t = Tower(units=6, act="tanh", name="tower_a")
    cfg = _json(serialize_layer(t))
    assert cfg["config"]["units"] == 6 and cfg["config"]["act"] == "tanh"
    t2 = deserialize_layer(cfg)
    assert isinstance(t2, Tower) and t2.units == 6 and t2.name == "tower_a"
    x = rng.standard_normal((2, 3)).astype("float32")
    t(x)
    t2(x)
    _same_outputs(t, t2, x)
