"""lamina.random: one seed call makes every draw reproducible; generators are independent."""
import numpy as np

import lamina as lm
from lamina.nn import functional as F


def _draws():
    return [lm.rand(3).numpy(), lm.randn(2, 2).numpy(), lm.randint(0, 10, (4,)).numpy(),
            lm.random.permutation(5).numpy(), F.dropout(lm.ones(8), 0.5).numpy(),
            np.random.rand(2)]


def test_seed_makes_every_draw_reproducible():
    lm.random.seed(123)
    a = _draws()
    lm.random.seed(123)
    b = _draws()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    lm.random.seed(124)
    c = _draws()
    assert not np.array_equal(a[1], c[1])


def test_generators_are_independent_streams():
    g1, g2 = lm.random.Generator(7), lm.random.Generator(7)
    lm.random.seed(0)
    x = g1.normal((3,)).numpy()
    lm.randn(10)                              # the default stream does not disturb g2
    np.testing.assert_array_equal(x, g2.normal((3,)).numpy())
    assert lm.randn(2, generator=lm.random.Generator(1)).dtype == np.float32


def test_draw_dtypes_and_ranges():
    g = lm.random.Generator(0)
    u = g.uniform((1000,), low=-2.0, high=3.0)
    assert u.dtype == np.float32 and u.numpy().min() >= -2 and u.numpy().max() < 3
    n = g.normal((4000,), mean=1.0, std=2.0, dtype="float64")
    assert n.dtype == np.float64 and abs(n.numpy().mean() - 1) < 0.15
    i = g.integers(5, 9, (100,))
    assert i.dtype == np.int64 and set(i.tolist()) <= {5, 6, 7, 8}
