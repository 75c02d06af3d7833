"""Regularizers (lamina/nn/regularizers.py): penalties by formula, gradients, configs."""
import numpy as np
import pytest

import lamina as lm
from lamina.nn import regularizers as R
from lamina.testing import gradcheck


def test_penalties_match_formulas(rng):
    w = rng.standard_normal((4, 3)).astype(np.float32)
    assert float(R.L1(0.3)(w)) == pytest.approx(0.3 * np.abs(w).sum(), rel=1e-6)
    assert float(R.L2(0.2)(w)) == pytest.approx(0.2 * (w ** 2).sum(), rel=1e-6)
    assert float(R.L1L2(0.1, 0.2)(w)) == pytest.approx(
        0.1 * np.abs(w).sum() + 0.2 * (w ** 2).sum(), rel=1e-6)
    assert float(R.get("l1_l2")(w)) == 0.0          # Keras's defaults are both 0
    assert float(R.get("l2")(w)) == pytest.approx(0.01 * (w ** 2).sum(), rel=1e-6)


def test_penalty_is_a_scalar_on_the_graph_with_weight_dtype(rng):
    w = lm.tensor(rng.standard_normal((3, 2)).astype(np.float32), requires_grad=True)
    p = R.L2(0.5)(w)
    assert p.shape == () and p.dtype == np.float32 and p.requires_grad
    p.backward()
    np.testing.assert_allclose(w.grad.numpy(), 0.5 * 2 * w.numpy(), rtol=1e-6)


def test_gradients_by_finite_differences(rng):
    w = rng.standard_normal((3, 4))
    gradcheck(lambda x: R.L1L2(0.1, 0.3)(x), [w])
    gradcheck(lambda x: R.OrthogonalRegularizer(0.5, "columns")(x), [w])
    gradcheck(lambda x: R.OrthogonalRegularizer(0.5, "rows")(x), [w])


def test_orthogonal_regularizer_is_zero_for_orthogonal_rows():
    assert float(R.OrthogonalRegularizer()(np.eye(3))) == pytest.approx(0.0, abs=1e-7)
    w = np.array([[1.0, 0.0], [1.0, 1.0]])
    # normalized rows (1,0) and (1,1)/sqrt2: |cos| = 1/sqrt2 appears twice off the diagonal,
    # halved, over one pair (Keras gives 0.7071 too)
    assert float(R.OrthogonalRegularizer(1.0)(w)) == pytest.approx(1 / np.sqrt(2), rel=1e-5)


def test_errors():
    with pytest.raises(ValueError, match="l2 must be a finite non-negative"):
        R.L2(-1.0)
    with pytest.raises(TypeError, match="l1 must be a float"):
        R.L1("big")
    with pytest.raises(ValueError, match="unknown regularizer"):
        R.get("l3")
    with pytest.raises(ValueError, match="2-D"):
        R.OrthogonalRegularizer()(np.ones(3))


@pytest.mark.parametrize("reg", [R.L1(0.2), R.L2(0.1), R.L1L2(0.1, 0.4),
                                 R.OrthogonalRegularizer(0.3, "columns")])
def test_config_roundtrip(reg):
    back = R.get(R.serialize(reg))
    assert type(back) is type(reg) and back.get_config() == reg.get_config()
    assert R.get(reg) is reg and R.get(None) is None
