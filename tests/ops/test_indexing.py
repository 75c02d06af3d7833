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


@pytest.mark.parametrize("case", ["unique", "mixed", "all_same", "uint", "row_shape", "empty",
                                  "float64"])
def test_embedding_gradient_scatter_cases(case):
    # the NumPy backward assigns rows seen once and add.at's only the repeated ones: check
    # both kinds, alone and together, against a dense np.add.at reference
    rng = np.random.default_rng(1)
    V, row, dt = 40, (3,), np.float32
    if case == "unique":
        idx = rng.permutation(V)[:24].reshape(4, 6)
    elif case == "mixed":
        idx = np.concatenate([rng.permutation(V)[:20], [7, 7, 7, 3, 3]]).reshape(5, 5)
    elif case == "all_same":
        idx = np.full((3, 4), 11)
    elif case == "uint":
        idx = rng.integers(0, V, (6, 5)).astype(np.uint32)
    elif case == "row_shape":
        idx, row = rng.integers(0, V, (4, 7)), (2, 3)
    elif case == "empty":
        idx = np.zeros((0, 4), np.int64)
    else:
        idx, dt = rng.integers(0, V, (5, 6)), np.float64
    table = lm.tensor(rng.standard_normal((V,) + row).astype(dt), requires_grad=True)
    g = rng.standard_normal(idx.shape + row).astype(dt)
    F.embedding(idx, table).backward(lm.tensor(g))
    expect = np.zeros((V,) + row, dt)
    np.add.at(expect, idx.reshape(-1).astype(np.int64), g.reshape((-1,) + row))
    assert table.grad.dtype == dt
    np.testing.assert_allclose(table.grad.numpy(), expect, rtol=1e-6, atol=1e-6)


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
