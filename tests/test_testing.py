"""lamina.testing: gradcheck and gradgradcheck must catch wrong gradients."""
import numpy as np
import pytest

import lamina as lm
from lamina.testing import GradcheckError, gradcheck, gradgradcheck


@lm.custom_gradient
def _bad_square(x):
    return x * x, lambda g: g * x * 2.5          # wrong: should be 2


def _wrong_second(x):
    # right first derivative, wrong second: the backward is computed outside the graph
    @lm.custom_gradient
    def f(a):
        return a ** 3, lambda g: g * lm.tensor(3 * a.numpy() ** 2)
    return f(x)


def test_gradcheck_passes_on_correct_op():
    assert gradcheck(lambda x: lm.tanh(x) * x, [np.linspace(-1, 1, 5)])


def test_gradcheck_names_op_input_and_entry():
    x = np.array([[0.5, -1.0], [2.0, 0.1]])
    with pytest.raises(GradcheckError, match=r"gradcheck of bad_sq: input 0 \(shape \(2, 2\)\) "
                                             r"entry \(\d, \d\): analytic .* vs numerical"):
        gradcheck(_bad_square, [x], name="bad_sq")
    assert gradcheck(_bad_square, [x], raise_exception=False) is False


def test_gradcheck_random_directions_on_large_inputs():
    x = np.random.default_rng(0).standard_normal(300)      # above max_full: directions only
    with pytest.raises(GradcheckError, match="along a random direction"):
        gradcheck(_bad_square, [x])


def test_gradcheck_checks_second_input_and_skips_integer_inputs():
    def f(a, idx, b):
        return lm.take(a, idx) * b

    assert gradcheck(f, [np.array([1.0, 2.0, 3.0]), np.array([2, 0]), np.array([0.5, 4.0])])

    @lm.custom_gradient
    def g(a, b):
        return a * b, lambda dy: (dy * b, dy * a * 0)
    with pytest.raises(GradcheckError, match="input 1"):
        gradcheck(g, [np.array([1.0, 2.0]), np.array([3.0, 4.0])])


def test_gradgradcheck_catches_a_wrong_second_derivative():
    x = np.array([0.3, -0.7, 1.1])
    assert gradcheck(_wrong_second, [x])
    with pytest.raises(GradcheckError, match="second derivative of _wrong_second"):
        gradgradcheck(_wrong_second, [x])
    assert gradgradcheck(lambda a: a ** 3, [x])


def test_gradcheck_works_in_float64_from_float32_inputs():
    seen = []

    def f(x):
        seen.append(x.dtype)
        return x * 2
    gradcheck(f, [np.ones(3, np.float32)])
    assert set(seen) == {np.dtype("float64")}
