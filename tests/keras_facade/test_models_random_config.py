"""keras.models.clone_model / model_from_json, the keras.random distributions, and the
keras.backend / keras.config / keras.utils / keras.saving names closing Keras 3's API:
behaviour through ``from lamina import keras``."""
import json
import logging
import warnings

import numpy as np
import pytest

import lamina
from lamina import keras
from lamina.backend import get_xp

L = keras.layers


@pytest.fixture
def on_device(device):
    """Make ``device`` lamina's default for the test."""
    from lamina import backend
    old = backend._default_device
    backend.set_default_device(device)
    yield device
    backend._default_device = old


def _np(t):
    d = getattr(t, "data", t)
    return d.get() if hasattr(d, "get") and not isinstance(d, np.ndarray) else np.asarray(d)


def _on(t, device):
    assert (get_xp(t.data) is np) == (device == "cpu")


# ---------------------------------------------------------------- clone_model
def _seq():
    m = keras.Sequential([keras.Input((4,), name="inp"), L.Dense(5, activation="relu", name="a"),
                          L.Dropout(0.1, name="drop"), L.Dense(2, name="b")], name="seq")
    return m


def _functional():
    x1, x2 = keras.Input((3,), name="x1"), keras.Input((5,), name="x2")
    shared = L.Dense(4, name="shared")
    h = L.Concatenate(name="cat")([shared(x1), L.Dense(4, name="d2")(x2)])
    out1 = L.Dense(1, name="out1")(h)
    out2 = shared(L.Dense(3, name="d3")(x2))
    return keras.Model([x1, x2], [out1, out2], name="func")


def _weights_differ(a, b):
    return all(not np.allclose(_np(u), _np(v)) for u, v in zip(a.weights, b.weights)
               if _np(u).std() > 0)


def test_clone_sequential_new_layers_same_architecture():
    m = _seq()
    m.compile("adam", "mse", metrics=["mae"])
    c = keras.models.clone_model(m)
    assert type(c) is keras.Sequential and c.name == m.name
    assert [l.name for l in c.layers] == [l.name for l in m.layers]
    assert all(a is not b for a, b in zip(c.layers, m.layers))
    assert c.count_params() == m.count_params() and _weights_differ(c, m)
    assert c.input_shape == m.input_shape and c.compiled
    assert c.get_compile_config() == m.get_compile_config()
    x = np.ones((2, 4), "float32")
    c.set_weights(m.get_weights())
    np.testing.assert_allclose(c.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-6)


def test_clone_functional_keeps_shared_layers_and_structure():
    m = _functional()
    c = keras.models.clone_model(m)
    assert type(c) is type(m)
    assert [l.name for l in c.layers] == [l.name for l in m.layers]
    assert c.count_params() == m.count_params()
    assert len({id(l) for l in c.layers} & {id(l) for l in m.layers}) == 0
    shared = c.get_layer("shared")
    assert len(shared._inbound_nodes) == 2        # one clone, called twice
    x = [np.ones((2, 3), "float32"), np.ones((2, 5), "float32")]
    c.set_weights(m.get_weights())
    for a, b in zip(c.predict(x, verbose=0), m.predict(x, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_clone_function_and_call_function():
    m = _functional()
    seen = []

    def clone_fn(layer):
        seen.append(layer.name)
        cfg = layer.get_config()
        if layer.name == "d2":
            cfg["units"] = 6                      # a changed copy
        return layer.__class__.from_config(cfg)
    c = keras.models.clone_model(m, clone_function=clone_fn)
    assert sorted(seen) == sorted(["shared", "d2", "cat", "out1", "d3"])   # once each
    # d2: 5 -> 6 units (+5*2 weights, +2 biases), out1 sees 10 features (+2)
    assert c.get_layer("d2").units == 6 and c.count_params() == m.count_params() + 12 + 2

    def call_fn(layer, *args, **kwargs):
        out = layer(*args, **kwargs)
        return L.Dropout(0.5)(out) if isinstance(layer, L.Dense) else out
    c = keras.models.clone_model(m, clone_function=lambda l: l, call_function=call_fn)
    assert sum(isinstance(l, L.Dropout) for l in c.layers) == 5
    assert c.get_layer("shared") is m.get_layer("shared")     # reused, as asked


def test_clone_with_input_tensors_and_recursive():
    inner = keras.Sequential([L.Dense(3, name="i1")], name="inner")
    x = keras.Input((4,), name="x")
    m = keras.Model(x, L.Dense(2, name="top")(inner(x)), name="outer")
    new_in = keras.Input((4,), name="fresh")
    c = keras.models.clone_model(m, input_tensors=new_in)
    assert c.inputs[0] is new_in
    r = keras.models.clone_model(m, recursive=True, clone_function=lambda l: l)
    assert r.get_layer("top") is m.get_layer("top")
    assert r.get_layer("inner") is not inner                  # rebuilt layer by layer
    assert r.get_layer("inner").layers[0] is inner.layers[0]
    s = keras.models.clone_model(_seq(), input_tensors=[keras.Input((4,))])
    assert s.input_shape == (None, 4)
    with pytest.raises(ValueError, match="single tensor"):
        keras.models.clone_model(_seq(), input_tensors=[keras.Input((4,)), keras.Input((4,))])


def test_clone_errors_like_keras():
    with pytest.raises(ValueError, match="call_function"):
        keras.models.clone_model(_seq(), call_function=lambda l, *a, **k: l(*a, **k))
    with pytest.raises(ValueError, match="unexpected keyword"):
        keras.models.clone_model(_seq(), foo=1)
    with pytest.raises(ValueError, match="callable"):
        keras.models.clone_model(_seq(), clone_function=3)


class _Sub(keras.Model):
    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.d = L.Dense(units)

    def call(self, x):
        return self.d(x)


class _Opaque(keras.Model):
    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer

    def call(self, x):
        return self.layer(x)


def test_clone_subclassed_model():
    s = _Sub(5, name="sub")
    s(np.ones((2, 3), "float32"))
    c = keras.models.clone_model(s)
    assert type(c) is _Sub and c.units == 5 and c is not s
    with pytest.raises(ValueError, match="only supported"):
        keras.models.clone_model(s, clone_function=lambda l: l)
    with pytest.raises(ValueError, match="functional"):
        keras.models.clone_model(s, call_function=lambda l, *a: l(*a))
    with pytest.raises(TypeError, match="could not be rebuilt"):
        keras.models.clone_model(_Opaque(L.Dense(2)))


# ---------------------------------------------------------------- JSON
@pytest.mark.parametrize("make", [_seq, _functional])
def test_to_json_model_from_json_round_trip(make):
    m = make()
    m.compile("sgd", "mse")
    text = m.to_json()
    cfg = json.loads(text)
    assert cfg["class_name"] in ("Sequential", "Functional") and "compile_config" in cfg
    r = keras.models.model_from_json(text)
    assert type(r) is type(m) and r.count_params() == m.count_params()
    assert [l.name for l in r.layers] == [l.name for l in m.layers]
    assert r.compiled and r.get_config() == m.get_config()
    assert json.loads(m.to_json(indent=2)) == cfg


def test_model_from_json_custom_objects_and_errors():
    class Twice(L.Layer):
        def call(self, x):
            return x * 2.0
    m = keras.Sequential([keras.Input((2,)), Twice(name="tw")])
    text = m.to_json()
    with pytest.raises(ValueError, match="Unknown layer"):
        keras.models.model_from_json(text)
    r = keras.models.model_from_json(text, custom_objects={"Twice": Twice})
    np.testing.assert_allclose(r.predict(np.ones((1, 2), "float32"), verbose=0), 2.0)
    with pytest.raises(ValueError, match="JSON"):
        keras.models.model_from_json("{not json")
    with pytest.raises(ValueError, match="class_name"):
        keras.models.model_from_json("[1, 2]")


# ---------------------------------------------------------------- keras.random
def test_truncated_normal_moments_and_bounds(on_device):
    t = keras.random.truncated_normal((20000,), mean=1.0, stddev=2.0, seed=3)
    _on(t, on_device)
    a = _np(t)
    assert t.dtype == np.float32 and a.min() > 1 - 4 and a.max() < 1 + 4
    # the normal truncated at +-2 sd: mean 0, variance 0.7737
    assert abs(a.mean() - 1.0) < 0.05 and abs(a.var() / 4 - 0.7737) < 0.03


def test_int_seeds_repeat_and_seed_generators_advance():
    r = keras.random
    np.testing.assert_array_equal(_np(r.truncated_normal((5,), seed=7)),
                                  _np(r.truncated_normal((5,), seed=7)))
    g = r.SeedGenerator(1)
    a, b = _np(r.normal((4,), seed=g)), _np(r.normal((4,), seed=g))
    assert not np.array_equal(a, b)
    g2 = r.SeedGenerator(1)
    np.testing.assert_array_equal(_np(r.normal((4,), seed=g2)), a)
    for fn in (lambda s: r.uniform((3,), seed=s), lambda s: r.gamma((3,), 2.0, seed=s),
               lambda s: r.randint((3,), 0, 9, seed=s), lambda s: r.shuffle(np.arange(6), seed=s)):
        assert np.array_equal(_np(fn(5)), _np(fn(5)))
    with pytest.raises(ValueError, match="seed"):
        r.normal((2,), seed="x")


def test_gamma_beta_binomial_moments(on_device):
    r = keras.random
    g = r.gamma((40000,), alpha=3.0, seed=1)
    _on(g, on_device)
    assert g.dtype == np.float32 and g.shape == (40000,)
    assert abs(_np(g).mean() - 3) < 0.05 and abs(_np(g).var() - 3) < 0.15
    b = _np(r.beta((40000,), 2.0, 5.0, seed=2, dtype="float64"))
    assert b.dtype == np.float64 and b.min() >= 0 and b.max() <= 1
    assert abs(b.mean() - 2 / 7) < 0.01 and abs(b.var() - 10 / (49 * 8)) < 0.003
    n = r.binomial((40000,), counts=10, probabilities=0.3, seed=3)
    assert n.dtype == np.float32                      # floatx by default, as Keras
    a = _np(n)
    assert np.all(a == np.round(a)) and abs(a.mean() - 3) < 0.05 and abs(a.var() - 2.1) < 0.1
    per = _np(r.gamma((3, 20000), alpha=np.array([[1.0], [4.0], [9.0]]), seed=4))
    np.testing.assert_allclose(per.mean(axis=1), [1, 4, 9], rtol=0.05)


def test_categorical_frequencies(on_device):
    p = np.array([[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]])
    logits = np.log(np.maximum(p, 1e-30)).astype("float32")
    s = keras.random.categorical(logits, 20000, seed=0)
    _on(s, on_device)
    assert s.shape == (2, 20000) and s.dtype == np.int32
    freq = np.stack([np.bincount(row, minlength=3) / 20000 for row in _np(s)])
    np.testing.assert_allclose(freq, p, atol=0.015)
    assert keras.random.categorical(logits, 4, dtype="int64", seed=0).dtype == np.int64
    with pytest.raises(ValueError, match="2-D"):
        keras.random.categorical(np.zeros(3), 2)


def test_shuffle_is_a_permutation_along_axis(on_device):
    x = np.arange(60, dtype="float32").reshape(3, 4, 5)
    for axis in (0, 1, -1):
        y = _np(keras.random.shuffle(x, axis=axis, seed=11))
        assert y.shape == x.shape
        moved = np.moveaxis(y, axis, 0)
        orig = np.moveaxis(x, axis, 0)
        assert sorted(map(bytes, moved)) == sorted(map(bytes, orig))      # whole slices move
    ys = [_np(keras.random.shuffle(np.arange(10), seed=s)) for s in range(5)]
    assert any(not np.array_equal(y, np.arange(10)) for y in ys)
    xt = lamina.tensor(np.arange(4.0), requires_grad=True)
    (keras.random.shuffle(xt) * lamina.tensor(np.arange(4.0))).sum().backward()
    assert sorted(_np(xt.grad).tolist()) == [0, 1, 2, 3]       # differentiable


def test_dropout_rate_scale_and_noise_shape(on_device):
    x = np.ones((200, 50), "float32")
    y = keras.random.dropout(x, 0.3, seed=1)
    _on(y, on_device)
    a = _np(y)
    assert set(np.unique(a)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((a == 0).mean() - 0.3) < 0.02
    z = _np(keras.random.dropout(x, 0.5, noise_shape=(None, 1), seed=2))
    assert np.all(z == z[:, :1])                       # one mask value per row
    np.testing.assert_array_equal(_np(keras.random.dropout(x, 0.0)), x)
    np.testing.assert_array_equal(_np(keras.random.dropout(x, 1.0)), 0 * x)
    with pytest.raises(ValueError, match="rate"):
        keras.random.dropout(x, 1.5)


# ---------------------------------------------------------------- backend and config
def test_backend_helpers():
    b = keras.backend
    try:
        b.set_epsilon(1e-5)
        assert b.epsilon() == 1e-5 and keras.config.epsilon() == 1e-5
    finally:
        b.set_epsilon(1e-7)
    assert b.is_float_dtype("bfloat16") and b.is_float_dtype(np.float64)
    assert not b.is_float_dtype("int32") and b.is_int_dtype("uint8") and b.is_int_dtype(int)
    assert not b.is_int_dtype("bool")
    assert b.is_keras_tensor(keras.Input((2,))) and not b.is_keras_tensor(np.ones(2))
    assert b.result_type("int32", "float16") == "float16"
    assert b.result_type("int64", float) == "float32"
    assert b.result_type("uint8", "int8") == "int16" and b.result_type() == "float32"
    assert b.result_type("bfloat16", int) == "bfloat16"
    keras.backend.clear_session()
    L.Dense(1)
    assert b.get_uid("dense") == 2 and b.get_uid("dense") == 3
    assert L.Dense(1).name == "dense_3"
    assert b.get_uid("my_prefix") == 1


def test_image_data_format_setter():
    b = keras.backend
    try:
        keras.config.set_image_data_format("channels_first")
        assert b.image_data_format() == "channels_first"
        assert L.Conv2D(2, 3).data_format == "channels_first"     # layers made from now on
        with pytest.raises(ValueError, match="data_format"):
            b.set_image_data_format("nchw")
    finally:
        b.set_image_data_format("channels_last")
    assert keras.config.image_data_format() == "channels_last"


def test_config_flags():
    c = keras.config
    try:
        c.disable_traceback_filtering()
        assert c.is_traceback_filtering_enabled() is False
        c.enable_flash_attention()
        assert c.is_flash_attention_enabled() is True
    finally:
        c.enable_traceback_filtering()
        from lamina.nn import keras_backend
        keras_backend._FLAGS["flash_attention"] = None      # back to 'automatic' (None)
    assert c.is_traceback_filtering_enabled() is True and c.is_flash_attention_enabled() is None
    c.set_backend("lamina")
    with pytest.raises(ValueError, match="lamina"):
        c.set_backend("jax")
    assert keras.saving.get_custom_objects() is keras.utils.get_custom_objects()


def _small():
    m = keras.Sequential([keras.Input((3,)), L.Dense(1)])
    m.compile("sgd", "mse")
    return m, np.ones((40, 3), "float32"), np.ones((40, 1), "float32")


def test_max_epochs_and_steps_cap_fit_evaluate_predict():
    c = keras.config
    m, x, y = _small()

    class Count(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.train = self.test = self.pred = 0

        def on_train_batch_end(self, b, logs=None):
            self.train += 1

        def on_test_batch_end(self, b, logs=None):
            self.test += 1

        def on_predict_batch_end(self, b, logs=None):
            self.pred += 1
    try:
        c.set_max_epochs(2)
        c.set_max_steps_per_epoch(3)
        assert c.max_epochs() == 2 and c.max_steps_per_epoch() == 3
        cb = Count()
        with pytest.warns(UserWarning, match="Limiting (epochs to 2|steps_per_epoch to 3)"):
            h = m.fit(x, y, epochs=5, batch_size=4, verbose=0, callbacks=[cb])
        assert len(h.history["loss"]) == 2 and cb.train == 6
        with pytest.warns(UserWarning, match="Limiting steps_per_epoch to 3"):
            m.evaluate(x, y, batch_size=4, verbose=0, callbacks=[cb])
            out = m.predict(x, batch_size=4, verbose=0, callbacks=[cb])
        assert cb.test == 3 and cb.pred == 3 and out.shape == (12, 1)
        with pytest.raises(ValueError, match="positive int"):
            c.set_max_epochs(0)
    finally:
        c.set_max_epochs(None)
        c.set_max_steps_per_epoch(None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(m.fit(x, y, epochs=3, verbose=0).history["loss"]) == 3


def test_interactive_logging_switch(capsys, caplog):
    u = keras.utils
    m, x, y = _small()
    assert u.is_interactive_logging_enabled() and keras.config.is_interactive_logging_enabled()
    try:
        u.disable_interactive_logging()
        assert not keras.config.is_interactive_logging_enabled()
        with caplog.at_level(logging.INFO, logger="lamina"):
            m.fit(x, y, epochs=2, batch_size=8, verbose=1)
            m.evaluate(x, y, verbose=2)
            m.predict(x, verbose=1)
            bar = keras.utils.Progbar(2)
            bar.update(2, [("acc", 0.5)])
        assert capsys.readouterr().out == ""
        msgs = [r.getMessage() for r in caplog.records if r.name == "lamina"]
        assert "Epoch 1/2" in msgs and "Epoch 2/2" in msgs
        assert sum("loss:" in s for s in msgs) == 3 and any("acc: 0.5000" in s for s in msgs)
    finally:
        keras.config.enable_interactive_logging()
    m.fit(x, y, epochs=2, batch_size=8, verbose=2)
    assert "Epoch 2/2" in capsys.readouterr().out
