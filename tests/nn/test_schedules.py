"""Learning-rate schedules (lamina/nn/schedules.py): values by the formulas, configs."""
import math

import pytest

from lamina.nn import optimizers as O
from lamina.nn import schedules as S


def test_exponential_decay_continuous_and_staircase():
    s = S.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert s(0) == pytest.approx(0.1)
    assert s(5) == pytest.approx(0.1 * 0.5 ** 0.5)
    st = S.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert st(9) == pytest.approx(0.1) and st(10) == pytest.approx(0.05)


def test_piecewise_constant_boundaries_are_inclusive_on_the_left_interval():
    s = S.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [s(0), s(10), s(11), s(20), s(21)] == [1.0, 1.0, 0.5, 0.5, 0.1]
    with pytest.raises(ValueError, match="one more value"):
        S.PiecewiseConstantDecay([1, 2], [1.0])
    with pytest.raises(ValueError, match="increase"):
        S.PiecewiseConstantDecay([2, 1], [1.0, 2.0, 3.0])


def test_polynomial_and_inverse_time():
    p = S.PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.0, power=2.0)
    assert p(5) == pytest.approx(0.25) and p(100) == pytest.approx(0.0)
    pc = S.PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.0, cycle=True)
    assert pc(15) == pytest.approx(1 - 15 / 20)
    it = S.InverseTimeDecay(1.0, decay_steps=2, decay_rate=0.5)
    assert it(4) == pytest.approx(1 / 2.0)
    assert S.InverseTimeDecay(1.0, 2, 0.5, staircase=True)(3) == pytest.approx(1 / 1.5)


def test_cosine_decay_with_warmup():
    c = S.CosineDecay(1.0, decay_steps=10, alpha=0.1)
    assert c(0) == pytest.approx(1.0) and c(10) == pytest.approx(0.1) and c(50) == \
        pytest.approx(0.1)
    assert c(5) == pytest.approx(0.9 * 0.5 + 0.1)
    w = S.CosineDecay(0.0, decay_steps=10, warmup_target=1.0, warmup_steps=4)
    assert w(2) == pytest.approx(0.5) and w(4) == pytest.approx(1.0)
    assert w(9) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))


def test_cosine_decay_restarts_restarts():
    r = S.CosineDecayRestarts(1.0, first_decay_steps=4, t_mul=1.0, m_mul=0.5)
    assert r(0) == pytest.approx(1.0)
    assert r(4) == pytest.approx(0.5)          # restart at half height
    assert r(2) == pytest.approx(0.5)


@pytest.mark.parametrize("sched", [
    S.ExponentialDecay(0.1, 3, 0.9), S.PiecewiseConstantDecay([1], [0.1, 0.01]),
    S.PolynomialDecay(0.1, 5), S.InverseTimeDecay(0.1, 2, 0.3),
    S.CosineDecay(0.1, 9, warmup_target=0.2, warmup_steps=3), S.CosineDecayRestarts(0.1, 4)])
def test_config_roundtrip_and_reachable_from_optimizers(sched):
    back = S.deserialize(S.serialize(sched))
    assert type(back) is type(sched) and back.get_config() == sched.get_config()
    assert [back(i) for i in range(12)] == [sched(i) for i in range(12)]
    assert O.schedules.ExponentialDecay is S.ExponentialDecay


def test_bad_decay_steps():
    with pytest.raises(ValueError, match="decay_steps must be > 0"):
        S.ExponentialDecay(0.1, 0, 0.5)
