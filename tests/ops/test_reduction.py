"""Reductions beyond the table: ties, zeros in prod, empty inputs, argmax/argmin, all/any."""
import numpy as np
import pytest

import lamina as lm


@pytest.mark.parametrize("name,tname", [("max", "amax"), ("min", "amin")])
def test_max_min_ties_share_the_gradient_like_torch_amax(name, tname, torch):
    data = np.array([[3.0, 1.0, 3.0], [2.0, 2.0, 2.0]])
    if name == "min":
        data = -data
    x = lm.tensor(data, requires_grad=True)
    getattr(lm, name)(x, axis=1).sum().backward()
    tx = torch.tensor(data, requires_grad=True)
    getattr(torch, tname)(tx, 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_allclose(x.grad.numpy()[1], [1 / 3] * 3)


def test_max_of_empty_raises():
    with pytest.raises(ValueError, match=r"max: cannot reduce an empty tensor of shape \(0, 3\)"):
        lm.max(lm.zeros(0, 3))


def test_sum_and_mean_of_empty():
    assert lm.sum(lm.zeros(0, 3)).item() == 0.0
    assert lm.sum(lm.zeros(0, 3), axis=0).shape == (3,)


@pytest.mark.parametrize("data", [[2.0, 0.0, 3.0], [0.0, 0.0, 4.0], [1.5, 2.0, -1.0]])
def test_prod_gradient_with_zeros_matches_torch(data, torch):
    x = lm.tensor(data, dtype="float64", requires_grad=True)
    lm.prod(x).backward()
    tx = torch.tensor(data, dtype=torch.float64, requires_grad=True)
    torch.prod(tx).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


def test_argmax_argmin_all_any():
    x = lm.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]], requires_grad=True)
    assert lm.argmax(x).item() == 3 and lm.argmax(x, axis=1).tolist() == [1, 0]
    assert lm.argmin(x, axis=0, keepdims=True).shape == (1, 3)
    assert not lm.argmax(x).requires_grad
    assert lm.all(x > -1).item() is True and lm.any(x > 6, axis=1).tolist() == [False, True]


def test_var_std_defaults_and_ddof():
    d = np.array([[1.0, 2.0, 4.0], [3.0, 3.0, 9.0]])
    x = lm.tensor(d)
    np.testing.assert_allclose(lm.var(x, axis=1).numpy(), d.var(axis=1))
    np.testing.assert_allclose(lm.std(x, ddof=1).numpy(), d.std(ddof=1))


def test_norm_gradient_at_zero_is_zero():
    x = lm.zeros(3, requires_grad=True)
    lm.norm(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(3))
    with pytest.raises(ValueError, match="norm: ord=3"):
        lm.norm(x, ord=3)


@pytest.mark.filterwarnings("ignore:divide by zero")
def test_logsumexp_of_minus_inf_rows():
    x = lm.tensor([[-np.inf, -np.inf], [0.0, -np.inf]])
    out = lm.logsumexp(x, axis=1).numpy()
    assert out[0] == -np.inf and out[1] == 0.0


def test_bool_sum_counts():
    assert lm.sum(lm.tensor([True, False, True])).item() == 2


def test_reduction_axis_errors_name_the_op():
    with pytest.raises(ValueError, match="mean: axis -3 is out of range"):
        lm.mean(lm.zeros(2, 2), axis=-3)
    with pytest.raises(ValueError, match="sum: repeated axis"):
        lm.sum(lm.zeros(2, 2), axis=(0, 0))


def test_sum_in_another_dtype_returns_gradient_in_the_input_dtype():
    x = lm.tensor([1.0, 2.0], requires_grad=True)
    y = lm.sum(x, dtype="float64")
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
