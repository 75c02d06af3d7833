"""Linear-algebra ops beyond the table: error messages and einsum edge cases."""
import numpy as np
import pytest

import lamina as lm


def test_matmul_errors_name_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4,\) cannot be multiplied"):
        lm.matmul(lm.zeros(2, 3), lm.zeros(4))
    with pytest.raises(ValueError, match="at least one dimension"):
        lm.matmul(lm.zeros(()), lm.zeros(3))
    with pytest.raises(ValueError, match=r"batch dimensions of \(2, 2, 3\) and \(3, 3, 4\)"):
        lm.matmul(lm.zeros(2, 2, 3), lm.zeros(3, 3, 4))


def test_einsum_errors():
    with pytest.raises(ValueError, match="einsum: index 'j' has size 3 in one operand and 4"):
        lm.einsum("ij,jk->ik", lm.zeros(2, 3), lm.zeros(4, 2))
    with pytest.raises(ValueError, match="einsum: 2 operand subscripts for 1 operands"):
        lm.einsum("ij,jk->ik", lm.zeros(2, 3))
    with pytest.raises(ValueError, match="repeated index"):
        lm.einsum("ii->i", lm.zeros(2, 2))


def test_einsum_matches_numpy_on_attention_contractions():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 4, 5, 8))
    k = rng.standard_normal((2, 4, 6, 8))
    got = lm.einsum("bhqd,bhkd->bhqk", lm.tensor(q), lm.tensor(k)).numpy()
    np.testing.assert_allclose(got, np.einsum("bhqd,bhkd->bhqk", q, k))


def test_dot_and_outer_values():
    a, b = np.arange(3.0), np.arange(4.0)
    np.testing.assert_allclose(lm.outer(a, b).numpy(), np.outer(a, b))
    np.testing.assert_allclose(lm.dot(a, a).numpy(), a @ a)
    np.testing.assert_allclose(lm.dot(2.0, lm.tensor(a)).numpy(), 2 * a)
