"""keras.mixed_precision: dtype policies, the global policy, layers computing in float16
with float32 weights, LossScaleOptimizer's dynamics, compile's wrapping and a small fit.
float16 matmuls are slow in NumPy: arrays stay tiny."""
import os

import numpy as np
import pytest

import lamina as lm
from lamina import keras
from lamina.autograd import gradients
from lamina.nn import mixed_precision as mp
from lamina.nn import optimizers as O

mixed = keras.mixed_precision


@pytest.fixture(autouse=True)
def _float32_policy():
    """Every test starts and ends with the default global policy."""
    mp._reset()
    yield
    mp._reset()


# ------------------------------------------------------------------ policies
@pytest.mark.parametrize("name,compute,variable", [
    ("float32", "float32", "float32"), ("float64", "float64", "float64"),
    ("float16", "float16", "float16"), ("mixed_float16", "float16", "float32")])
def test_policy_properties(name, compute, variable):
    p = mixed.DTypePolicy(name)
    assert (p.name, p.compute_dtype, p.variable_dtype) == (name, compute, variable)
    assert repr(p) == f'<DTypePolicy "{name}">'
    q = mixed.DTypePolicy.from_config(p.get_config())
    assert q == p and q.compute_dtype == compute
    assert mixed.Policy is mixed.DTypePolicy is keras.DTypePolicy


def test_policy_errors():
    with pytest.raises(ValueError, match="policy name"):
        mixed.DTypePolicy("float17")
    with pytest.raises(TypeError, match="string"):
        mixed.DTypePolicy(3)
    with pytest.raises(ValueError, match="Invalid `policy`"):
        mixed.set_global_policy(16)


def test_mixed_bfloat16_needs_ml_dtypes(monkeypatch):
    import builtins
    real = builtins.__import__

    def no_ml_dtypes(name, *a, **k):
        if name == "ml_dtypes":
            raise ImportError("no ml_dtypes")
        return real(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_ml_dtypes)
    with pytest.raises(ValueError, match="ml_dtypes"):
        mixed.DTypePolicy("mixed_bfloat16")


def test_mixed_bfloat16_with_ml_dtypes():
    pytest.importorskip("ml_dtypes")
    p = mixed.DTypePolicy("mixed_bfloat16")
    assert (p.compute_dtype, p.variable_dtype) == ("bfloat16", "float32")
    d = keras.layers.Dense(2, dtype=p)
    assert d.compute_dtype == "bfloat16"
    y = d(np.ones((2, 3), np.float32))
    # NumPy's bfloat16 matmul (ml_dtypes) returns float32, so the output dtype is not
    # checked; the weights stay float32 and get float32 gradients through the casts
    assert d.kernel.dtype == np.float32
    (gk,) = gradients(lm.sum(lm.cast(y, "float32")), [d.kernel])
    assert gk.dtype == np.float32
    np.testing.assert_allclose(gk.numpy(), np.full((3, 2), 2.0), rtol=1e-2)


def test_global_policy_set_and_reset():
    assert mixed.global_policy().name == "float32"
    mixed.set_global_policy("mixed_float16")
    assert mixed.global_policy() == mixed.DTypePolicy("mixed_float16")
    assert keras.config.dtype_policy().name == "mixed_float16"
    keras.config.set_dtype_policy(mixed.DTypePolicy("float32"))
    assert mixed.global_policy().name == "float32"
    assert keras.layers.Dense(2).dtype_policy.name == "float32"


def test_module_and_attribute_access():
    import importlib
    m = importlib.import_module("lamina.keras.mixed_precision")
    assert m.LossScaleOptimizer is keras.mixed_precision.LossScaleOptimizer
    assert keras.optimizers.LossScaleOptimizer is m.LossScaleOptimizer


# ------------------------------------------------------------------ layers
def test_dense_under_mixed_float16():
    mixed.set_global_policy("mixed_float16")
    d = keras.layers.Dense(3)
    assert (d.compute_dtype, d.variable_dtype, d.dtype) == ("float16", "float32", "float32")
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    y = d(x)
    assert y.dtype == np.float16
    assert d.kernel.dtype == np.float32 and d.bias.dtype == np.float32
    assert all(isinstance(w, lm.nn.Variable) for w in (d.kernel, d.bias))   # restored
    gk, gb = gradients(lm.sum(lm.cast(y, "float32") ** 2), [d.kernel, d.bias])
    assert gk.dtype == np.float32 and gb.dtype == np.float32
    # the same numbers as the float32 layer, to float16 accuracy
    y32 = x @ d.kernel.numpy() + d.bias.numpy()
    np.testing.assert_allclose(y.numpy().astype(np.float32), y32, rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(gk.numpy(), x.T @ (2 * y32), rtol=2e-2, atol=2e-2)


def test_float32_output_layer_in_a_mixed_model():
    mixed.set_global_policy("mixed_float16")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="relu"),
                              keras.layers.Dense(2, dtype="float32")])
    hidden, out = model.layers
    assert hidden.compute_dtype == "float16" and out.compute_dtype == "float32"
    assert model.output.dtype == np.float32
    y = model(np.ones((3, 4), np.float32))
    assert y.dtype == np.float32
    assert hidden(np.ones((3, 4), np.float32)).dtype == np.float16
    assert all(w.dtype == np.float32 for w in model.weights)


def test_policy_in_layer_config():
    d = keras.layers.Dense(2, dtype=mixed.DTypePolicy("mixed_float16"))
    cfg = d.get_config()
    assert cfg["dtype"] == "mixed_float16"
    d2 = keras.layers.Dense.from_config(cfg)
    assert d2.compute_dtype == "float16"
    assert keras.layers.Dense(2).get_config()["dtype"] == "float32"


def test_loss_of_float16_predictions_is_float32():
    y = lm.tensor(np.array([[0.2, 0.8]], np.float16))
    loss = keras.losses.MeanSquaredError()(np.array([[0.0, 1.0]], np.float32), y)
    assert loss.dtype == np.float32


# ------------------------------------------------------------------ LossScaleOptimizer
def _lso_run(grads_per_step, w0, **kw):
    opt = mixed.LossScaleOptimizer(O.SGD(learning_rate=0.1), **kw)
    v = lm.nn.Variable(w0.copy())
    scales = []
    for g in grads_per_step:
        opt.apply([lm.tensor(g)], [v])
        scales.append(float(opt.dynamic_scale))
    return opt, v, scales


def test_loss_scale_dynamics_by_hand():
    w0 = np.array([1.0, -2.0], np.float32)
    s0 = 8.0
    good = np.array([4.0, 8.0], np.float32)          # scaled gradients
    bad = np.array([np.inf, 1.0], np.float32)
    opt, v, scales = _lso_run([good, good, bad, good, good, good], w0, initial_scale=s0,
                              dynamic_growth_steps=2)
    # good, good -> doubled to 16; inf -> skipped, halved to 8; good, good -> 16; good
    assert scales == [8.0, 16.0, 8.0, 8.0, 16.0, 16.0]
    # applied (unscaled) gradients: good/8, good/8, -, good/8, good/8, good/16
    expect = w0 - 0.1 * (good / 8 * 4 + good / 16)
    np.testing.assert_allclose(v.numpy(), expect, rtol=1e-6)
    assert int(opt.iterations) == 5 and int(opt.step_counter) == 1


def test_loss_scale_optimizer_api():
    inner = O.Adam(learning_rate=0.01)
    opt = mixed.LossScaleOptimizer(inner)
    assert opt.inner_optimizer is inner and float(opt.dynamic_scale) == 2.0 ** 15
    assert opt.name == "loss_scale_optimizer"
    assert np.isclose(float(opt.learning_rate), 0.01)
    opt.learning_rate = 0.5
    assert float(inner.learning_rate) == 0.5
    loss = lm.tensor(np.float32(2.0))
    assert float(opt.scale_loss(loss).numpy()) == 2.0 ** 16
    with pytest.raises(TypeError, match="inner_optimizer"):
        mixed.LossScaleOptimizer(3)


def test_loss_scale_optimizer_config_round_trip():
    opt = mixed.LossScaleOptimizer(O.Adam(learning_rate=0.02), initial_scale=64.0,
                                   dynamic_growth_steps=10)
    cfg = opt.get_config()
    assert "learning_rate" not in cfg and cfg["inner_optimizer"]["class_name"] == "Adam"
    back = O.deserialize(O.serialize(opt))
    assert isinstance(back, mixed.LossScaleOptimizer)
    assert (back.initial_scale, back.dynamic_growth_steps) == (64.0, 10)
    assert isinstance(back.inner_optimizer, O.Adam)
    assert np.isclose(float(back.learning_rate), 0.02)


def test_loss_scale_optimizer_state_round_trip():
    w0 = np.ones(3, np.float32)
    opt, v, _ = _lso_run([np.ones(3, np.float32)] * 3, w0, initial_scale=4.0,
                         dynamic_growth_steps=2)
    state = opt.get_state()
    assert float(state["dynamic_scale"]) == 8.0 and int(state["step_counter"]) == 1
    new = mixed.LossScaleOptimizer(O.SGD(learning_rate=0.1))
    new.set_state(state)
    assert float(new.dynamic_scale) == 8.0 and int(new.step_counter) == 1
    assert int(new.iterations) == 3


# ------------------------------------------------------------------ compile and fit
def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return x, y


def _mlp():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(2, activation="softmax", dtype="float32")])


def test_compile_wraps_under_mixed_float16():
    mixed.set_global_policy("mixed_float16")
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert isinstance(model.optimizer, mixed.LossScaleOptimizer)
    assert isinstance(model.optimizer.inner_optimizer, O.Adam)
    assert model.get_compile_config()["optimizer"]["class_name"] == "Adam"
    model.compile(optimizer="adam", loss="mse", auto_scale_loss=False)
    assert isinstance(model.optimizer, O.Adam)
    mp._reset()
    plain = _mlp()
    plain.compile(optimizer="adam", loss="mse")
    assert isinstance(plain.optimizer, O.Adam)


def test_fit_under_mixed_float16_lowers_the_loss():
    mixed.set_global_policy("mixed_float16")
    x, y = _data()
    model = _mlp()
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.evaluate(x, y, verbose=0)[0]
    hist = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    after = model.evaluate(x, y, verbose=0)[0]
    assert np.all(np.isfinite(hist.history["loss"]))
    assert after < before
    assert all(w.dtype == np.float32 for w in model.weights)
    assert model.predict(x, verbose=0).dtype == np.float32
    # the optimizer kept its master weights in float32 and counted its steps
    assert int(model.optimizer.iterations) == 8 * 4


# ------------------------------------------------------------------ oracle
def test_loss_scale_optimizer_matches_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    K = pytest.importorskip("keras")
    try:
        K.mixed_precision.LossScaleOptimizer
    except AttributeError:
        pytest.skip("this keras has no LossScaleOptimizer")
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((3, 2)).astype(np.float32)
    steps = [rng.standard_normal((3, 2)).astype(np.float32) * 100 for _ in range(7)]
    steps[2] = steps[2].copy()
    steps[2][0, 0] = np.inf
    steps[5] = steps[5].copy()
    steps[5][1, 1] = np.nan
    kopt = K.mixed_precision.LossScaleOptimizer(K.optimizers.Adam(learning_rate=0.01),
                                                initial_scale=32.0, dynamic_growth_steps=2)
    kv = K.Variable(w0.copy())
    kscales = []
    for g in steps:
        kopt.apply([K.ops.convert_to_tensor(g)], [kv])
        kscales.append(float(K.ops.convert_to_numpy(kopt.dynamic_scale)))
    opt = mixed.LossScaleOptimizer(O.Adam(learning_rate=0.01), initial_scale=32.0,
                                   dynamic_growth_steps=2)
    v = lm.nn.Variable(w0.copy())
    scales = []
    for g in steps:
        opt.apply([lm.tensor(g)], [v])
        scales.append(float(opt.dynamic_scale))
    assert scales == kscales
    np.testing.assert_allclose(v.numpy(), K.ops.convert_to_numpy(kv.value), rtol=2e-5,
                               atol=2e-6)
    assert int(opt.iterations) == int(K.ops.convert_to_numpy(kopt.iterations))


# ------------------------------------------------------------------ GPU
@pytest.mark.gpu
def test_mixed_float16_mlp_trains_on_gpu():
    if not lm.cuda.is_available():
        pytest.skip("no CUDA device")
    mixed.set_global_policy("mixed_float16")
    rng = np.random.default_rng(0)
    n = 512
    centers = np.array([[2.0, 2.0, 0, 0], [-2.0, -2.0, 0, 0], [2.0, -2.0, 0, 0]], np.float32)
    y = rng.integers(0, 3, n)
    x = (centers[y] + 0.5 * rng.standard_normal((n, 4))).astype(np.float32)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(3, activation="softmax", dtype="float32")])
    model.to("cuda")
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert isinstance(model.optimizer, mixed.LossScaleOptimizer)
    hist = model.fit(x, y, epochs=5, batch_size=64, verbose=0)
    assert hist.history["accuracy"][-1] > 0.9
    # weights stay float32 on the device; .numpy() copies them to the host
    for w in model.weights:
        assert w.dtype == np.float32
        assert lm.backend.device_of(w.data).type == "cuda"
        assert np.all(np.isfinite(w.numpy()))
    hidden = model.layers[0]
    out = hidden(x[:8])
    assert out.dtype == np.float16 and out.device.type == "cuda"
    assert float(model.optimizer.dynamic_scale) > 0


def test_save_and_load_keeps_the_loss_scale_state(tmp_path):
    mixed.set_global_policy("mixed_float16")
    x, y = _data(16)
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    back = keras.models.load_model(path)
    assert isinstance(back.optimizer, mixed.LossScaleOptimizer)
    assert [lay.compute_dtype for lay in back.layers] == ["float16", "float32"]
    assert float(back.optimizer.dynamic_scale) == float(model.optimizer.dynamic_scale)
    assert int(back.optimizer.step_counter) == int(model.optimizer.step_counter) == 6
    assert int(back.optimizer.iterations) == 6
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0))


def test_add_weight_autocast_false_keeps_the_variable_dtype():
    """A weight made with autocast=False is used in float32 inside a mixed float16 layer,
    while the layer's other weights are cast."""
    seen = {}

    class Two(keras.layers.Layer):
        def build(self, shape):
            self.a = self.add_weight(name="a", shape=(2,), initializer="ones")
            self.b = self.add_weight(name="b", shape=(2,), initializer="ones", autocast=False)

        def call(self, x):
            seen["a"], seen["b"] = self.a.dtype, self.b.dtype
            return x * self.a

    keras.mixed_precision.set_global_policy("mixed_float16")
    layer = Two()
    layer(np.ones((1, 2), np.float32))
    assert seen == {"a": np.float16, "b": np.float32}
    assert layer.a.dtype == layer.b.dtype == np.float32
