"""lamina.nn.constraints: Keras 3's formulas, names and configs, applied by the optimizer after
each step, and saved in layer configs."""
import numpy as np
import pytest

import lamina as lm
from lamina import keras
from lamina.nn import constraints as C

EPS = 1e-7


def _w():
    return np.random.default_rng(0).standard_normal((5, 4)) * 3


def test_max_norm_formula_and_axis():
    w = _w()
    got = C.MaxNorm(2.0)(lm.tensor(w)).numpy()
    n = np.sqrt((w ** 2).sum(axis=0, keepdims=True))
    np.testing.assert_allclose(got, w * np.clip(n, 0, 2.0) / (n + EPS), rtol=1e-12)
    assert np.all(np.linalg.norm(got, axis=0) <= 2.0 + 1e-6)
    got1 = C.MaxNorm(1.5, axis=1)(lm.tensor(w)).numpy()
    assert np.all(np.linalg.norm(got1, axis=1) <= 1.5 + 1e-6)
    small = w * 1e-3                                  # inside the ball: (almost) unchanged
    np.testing.assert_allclose(C.MaxNorm(2.0)(lm.tensor(small)).numpy(), small, rtol=1e-4)


def test_min_max_norm_unit_norm_non_neg():
    w = _w()
    n = np.sqrt((w ** 2).sum(axis=0, keepdims=True))
    want = w * (0.5 * np.clip(n, 1.0, 2.0) + 0.5 * n) / (n + EPS)
    np.testing.assert_allclose(C.MinMaxNorm(1.0, 2.0, rate=0.5)(lm.tensor(w)).numpy(), want,
                               rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(C.UnitNorm()(lm.tensor(w)).numpy(), axis=0), 1.0,
                               rtol=1e-6)
    nn_ = C.NonNeg()(lm.tensor(w)).numpy()
    np.testing.assert_array_equal(nn_, np.where(w >= 0, w, 0))
    assert C.Constraint()(w) is w


def test_names_configs_round_trip():
    assert isinstance(C.get("max_norm"), C.MaxNorm)
    assert isinstance(C.get("NonNeg"), C.NonNeg)
    assert C.get(None) is None
    c = C.MinMaxNorm(0.5, 3.0, rate=0.7, axis=[0, 1])
    cfg = C.serialize(c)
    assert cfg["class_name"] == "MinMaxNorm" and cfg["module"] == "keras.constraints"
    back = C.deserialize(cfg)
    assert isinstance(back, C.MinMaxNorm) and back.get_config() == c.get_config()
    assert keras.constraints.max_norm is C.MaxNorm
    with pytest.raises(ValueError):
        C.get("no_such_constraint")


def test_optimizer_applies_the_constraint_after_each_step():
    lm.random.seed(0)
    layer = keras.layers.Dense(3, kernel_constraint="max_norm", bias_constraint=C.NonNeg())
    model = keras.Sequential([keras.Input((4,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    x = np.random.default_rng(1).standard_normal((32, 4)).astype("f4")
    y = np.random.default_rng(2).standard_normal((32, 3)).astype("f4") * 20 - 10
    model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    k, b = layer.kernel.numpy(), layer.bias.numpy()
    assert np.all(np.linalg.norm(k, axis=0) <= 2.0 + 1e-5)        # MaxNorm() default 2
    assert np.all(b >= 0)
    # and without the constraint the same fit leaves the ball: the test can fail
    lm.random.seed(0)
    free = keras.layers.Dense(3)
    m2 = keras.Sequential([keras.Input((4,)), free])
    m2.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    m2.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert np.linalg.norm(free.kernel.numpy(), axis=0).max() > 2.0


def test_layer_config_saves_and_restores_constraints():
    layer = keras.layers.Dense(3, kernel_constraint=C.MaxNorm(3, axis=0))
    cfg = layer.get_config()
    assert cfg["kernel_constraint"]["class_name"] == "MaxNorm"
    assert cfg["kernel_constraint"]["config"] == {"max_value": 3, "axis": 0}
    assert cfg["bias_constraint"] is None
    clone = keras.layers.Dense.from_config(cfg)
    assert isinstance(clone.kernel_constraint, C.MaxNorm) and clone.kernel_constraint.max_value == 3
    lstm = keras.layers.LSTM(2, recurrent_constraint="unit_norm")
    assert lstm.get_config()["recurrent_constraint"]["class_name"] == "UnitNorm"
