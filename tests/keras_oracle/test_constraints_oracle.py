"""lamina's weight constraints against real Keras 3 (torch backend): the same projections, the
same config keys, and layer configs that each library reads from the other."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import lamina as lm  # noqa: E402
from lamina.nn import constraints as C  # noqa: E402
from lamina.nn import layers as L  # noqa: E402

CASES = [("MaxNorm", dict(max_value=1.5, axis=0)),
         ("MaxNorm", dict(max_value=0.7, axis=[0, 1, 2])),
         ("MinMaxNorm", dict(min_value=0.5, max_value=1.2, rate=0.6, axis=1)),
         ("UnitNorm", dict(axis=-1)),
         ("NonNeg", dict())]


@pytest.mark.parametrize("name,kw", CASES)
def test_same_projection_and_config_as_keras(name, kw):
    w = (np.random.default_rng(0).standard_normal((3, 3, 2, 4)) * 2).astype("f4")
    want = np.asarray(keras.ops.convert_to_numpy(getattr(keras.constraints, name)(**kw)(
        keras.ops.convert_to_tensor(w))))
    got = getattr(C, name)(**kw)(lm.tensor(w)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert getattr(C, name)(**kw).get_config() == getattr(keras.constraints, name)(**kw).get_config()


def test_dense_configs_cross_over():
    ours = L.Dense(3, kernel_constraint=C.MaxNorm(2.5), bias_constraint="non_neg").get_config()
    theirs = keras.layers.Dense.from_config(ours)
    assert isinstance(theirs.kernel_constraint, keras.constraints.MaxNorm)
    assert theirs.kernel_constraint.max_value == 2.5
    assert isinstance(theirs.bias_constraint, keras.constraints.NonNeg)
    k = keras.layers.Dense(3, kernel_constraint=keras.constraints.UnitNorm(axis=1)).get_config()
    back = L.Dense.from_config(k)
    assert isinstance(back.kernel_constraint, C.UnitNorm) and back.kernel_constraint.axis == 1
