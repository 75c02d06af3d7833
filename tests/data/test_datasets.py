"""The shipped 8x8 digits and the small data helpers."""
import numpy as np
import pytest

import lamina.data as ld
from lamina.data import datasets


def test_shipped_digits_shape_dtype_and_content():
    X, y = ld.load_digits(source="package")
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16
    assert sorted(np.unique(y).tolist()) == list(range(10))
    assert np.bincount(y).min() >= 170          # each digit about 180 times


def test_shipped_copy_is_small_and_unpickled(monkeypatch):
    import os
    assert os.path.getsize(datasets.DIGITS_PATH) < 100_000
    seen = {}
    real = np.load

    def spy(*a, **k):
        seen.update(k)
        return real(*a, **k)
    monkeypatch.setattr(np, "load", spy)
    ld.load_digits(source="package")
    assert seen.get("allow_pickle") is False


def test_sklearn_and_shipped_agree():
    pytest.importorskip("sklearn")
    X1, y1 = ld.load_digits(source="sklearn")
    X2, y2 = ld.load_digits(source="package")
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)


def test_bad_source():
    with pytest.raises(ValueError, match="source"):
        ld.load_digits(source="web")


def test_train_test_split_is_a_seeded_partition():
    X = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    a, b, c, d = ld.train_test_split(X, y, test_size=3, seed=1)
    assert a.shape == (7, 2) and b.shape == (3, 2)
    np.testing.assert_array_equal(a[:, 0] // 2, c)
    assert sorted(np.concatenate([c, d]).tolist()) == list(range(10))
    a2, *_ = ld.train_test_split(X, y, test_size=3, seed=1)
    np.testing.assert_array_equal(a, a2)
    with pytest.raises(ValueError, match="different lengths"):
        ld.train_test_split(X, y[:5])


def test_standardize_uses_train_statistics():
    tr = np.array([[0.0, 5.0], [2.0, 5.0]])
    te = np.array([[1.0, 6.0]])
    a, b = ld.standardize(tr, te)
    np.testing.assert_allclose(a, [[-1, 0], [1, 0]])
    np.testing.assert_allclose(b, [[0, 1]])       # constant feature: centred, not divided by 0


def test_digits_split_like_keras_load_data():
    (xtr, ytr), (xte, yte) = datasets.load_digits_split()
    assert xtr.shape == (1527, 8, 8) and xte.shape == (270, 8, 8) and yte.dtype == np.int64


def test_get_file_refuses_network():
    with pytest.raises(RuntimeError, match="no network"):
        datasets.get_file("x.npz", origin="https://example.com/x.npz")
