"""lamina.keras.ops against real keras.ops (torch backend): same names, same values."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from lamina.keras import ops as lops  # noqa: E402

rng = np.random.default_rng(0)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
X = rng.standard_normal((3, 4)).astype(np.float32)
P = np.abs(X) + 0.5
W = rng.standard_normal((4, 2)).astype(np.float32)

CASES = [
    ("mean", (X,), {"axis": 1}), ("sum", (X,), {"axis": 0, "keepdims": True}),
    ("max", (X,), {"axis": -1}), ("exp", (X,), {}), ("sqrt", (P,), {}),
    ("square", (X,), {}), ("abs", (X,), {}), ("matmul", (X, W), {}),
    ("transpose", (X,), {}), ("reshape", (X, (2, 6)), {}), ("expand_dims", (X, 1), {}),
    ("concatenate", ([X, X],), {"axis": 1}), ("stack", ([X, X],), {"axis": 0}),
    ("clip", (X, -0.5, 0.5), {}), ("maximum", (X, 0.0), {}), ("minimum", (X, P), {}),
    ("softmax", (X,), {}), ("relu", (X,), {}), ("sigmoid", (X,), {}), ("tanh", (X,), {}),
    ("one_hot", (np.array([0, 3, 1]), 4), {}), ("argmax", (X,), {"axis": 1}),
    ("where", (X > 0, X, -X), {}), ("log", (P,), {}), ("tan", (X * 0.3,), {}),
    ("sinh", (X,), {}), ("cosh", (X,), {}), ("log2", (P,), {}), ("log10", (P,), {}),
    ("log_sigmoid", (X,), {}), ("logaddexp", (X, P), {}), ("hard_tanh", (X,), {}),
    ("glu", (X,), {}), ("celu", (X,), {}), ("divide_no_nan", (X, X * (X > 0)), {}),
    ("tril", (X,), {}), ("triu", (X,), {"k": 1}), ("trace", (X,), {}),
    ("sort", (X,), {}), ("argsort", (X,), {}), ("tensordot", (X, W), {"axes": 1}),
    ("vstack", ([X, X],), {}), ("hstack", ([X, X],), {}), ("ravel", (X,), {}),
    ("average", (X,), {"axis": 1, "weights": np.array([1, 2, 0, 1], np.float32)}),
    ("normalize", (X,), {}), ("trunc", (X * 3,), {}),
    ("multi_hot", (np.array([[0, 2], [1, 1]]), 3), {}),
    ("slice", (X, (1, 1), (2, 3)), {}),
]


@pytest.mark.parametrize("name,args,kwargs", CASES, ids=[c[0] for c in CASES])
def test_same_values_as_keras(name, args, kwargs):
    want = keras.ops.convert_to_numpy(getattr(keras.ops, name)(*args, **kwargs))
    got = lops.convert_to_numpy(getattr(lops, name)(*args, **kwargs))
    assert got.shape == want.shape
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-5,
                               atol=1e-6)


def test_multi_output_ops_match_keras():
    for name in ("moments",):
        want = keras.ops.moments(X, axes=[0])
        got = lops.moments(X, axes=[0])
        for a, b in zip(got, want):
            np.testing.assert_allclose(lops.convert_to_numpy(a), keras.ops.convert_to_numpy(b),
                                       rtol=1e-5)
    kv, ki = keras.ops.top_k(X, 2)
    lv, li = lops.top_k(X, 2)
    np.testing.assert_allclose(lops.convert_to_numpy(lv), keras.ops.convert_to_numpy(kv))
    np.testing.assert_array_equal(lops.convert_to_numpy(li), keras.ops.convert_to_numpy(ki))
