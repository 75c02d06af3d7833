"""Indexing ops beyond the table: large embedding tables, one_hot, range errors."""
import numpy as np
import pytest

import lamina as lm
from lamina.nn import functional as F


def test_embedding_gradient_on_a_large_table_matches_dense_scatter():
    rng = np.random.default_rng(0)
    V, D = 50_000, 16
    table = lm.tensor(rng.standard_normal((V, D)).astype(np.float32), requires_grad=True)
    idx = rng.integers(0, 100, (32, 20))          # many repeats
    g = rng.standard_normal((32, 20, D)).astype(np.float32)
    F.embedding(idx, table).backward(lm.tensor(g))
    expect = np.zeros((V, D), np.float32)
    np.add.at(expect, idx.reshape(-1), g.reshape(-1, D))
    np.testing.assert_allclose(table.grad.numpy(), expect, rtol=1e-5, atol=1e-5)


def test_embedding_errors():
    table = lm.zeros(5, 2)
    with pytest.raises(IndexError, match=r"embedding: index out of range \[0, 5\)"):
        F.embedding(np.array([0, 5]), table)
    with pytest.raises(TypeError, match="embedding: indices must be integers"):
        F.embedding(np.array(["a"]), table)


def test_one_hot_values_and_errors():
    oh = lm.one_hot(np.array([[0, 2], [1, 1]]), 3)
    assert oh.shape == (2, 2, 3) and oh.dtype == np.float32
    np.testing.assert_array_equal(oh.numpy()[0], [[1, 0, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match=r"one_hot: indices must lie in \[0, 3\)"):
        lm.one_hot(np.array([3]), 3)
    with pytest.raises(TypeError, match="one_hot: indices must be integers"):
        lm.one_hot(np.array([0.5]), 3)


def test_take_errors_and_negative_indices():
    x = lm.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    np.testing.assert_array_equal(lm.take(x, np.array([-1]), axis=1).numpy(), [[2.0], [5.0]])
    with pytest.raises(IndexError, match=r"take: index out of range for axis 1 of size 3"):
        lm.take(x, np.array([3]), axis=1)
    with pytest.raises(TypeError, match="take: indices must be integers"):
        lm.take(x, np.array([0.5]), axis=1)
    with pytest.raises(ValueError, match="take_along_axis: indices have 1 dims"):
        lm.take_along_axis(x, np.array([0]), axis=1)


def test_masked_fill_keeps_dtype_and_blocks_gradient():
    x = lm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = lm.masked_fill(x, np.array([True, False, True]), -1e9)
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 0.0])
