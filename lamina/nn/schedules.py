"""Learning-rate schedules (Keras 3 names and formulas).

A schedule is called with the optimizer's step count (an int, counted from 0 before
the first update) and returns the learning rate as a Python float; pass one as an
optimizer's ``learning_rate``.  Each has ``get_config``/``from_config``.
"""
from __future__ import annotations

import math

from ._registry import ConfigObject, Kind

__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay",
           "PolynomialDecay", "InverseTimeDecay", "CosineDecay", "CosineDecayRestarts",
           "get", "serialize", "deserialize"]


def _positive(v, name, who):
    if v <= 0:
        raise ValueError(f"{who}: {name} must be > 0, got {v}")
    return v


class LearningRateSchedule(ConfigObject):
    """Base class: ``__call__(step) -> float``; subclasses define it and ``get_config``."""

    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(step)")

    def get_config(self):
        """The constructor arguments."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_config()")


class _RateDecay(LearningRateSchedule):
    """What ExponentialDecay and InverseTimeDecay share: their arguments and the decay
    progress step / decay_steps (floored when ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase, name):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = _positive(decay_steps, "decay_steps", type(self).__name__)
        self.decay_rate, self.staircase, self.name = decay_rate, staircase, name

    def _progress(self, step):
        p = float(step) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_RateDecay):
    """initial_learning_rate * decay_rate ** (step / decay_steps) (integer division when
    ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return float(self.initial_learning_rate * self.decay_rate ** self._progress(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <=
    boundaries[i], values[-1] after the last boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay: expected one more value than boundaries, "
                             f"got {len(boundaries)} boundaries and {len(values)} values")
        if any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must increase strictly, got "
                             f"{boundaries}")
        self.boundaries, self.values, self.name = boundaries, values, name

    def __call__(self, step):
        s = float(step)
        for b, v in zip(self.boundaries, self.values):
            if s <= b:
                return float(v)
        return float(self.values[-1])

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """(initial - end) * (1 - min(step, decay_steps) / decay_steps) ** power + end; with
    ``cycle`` the decay restarts at each multiple of decay_steps."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name="PolynomialDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = _positive(decay_steps, "decay_steps", "PolynomialDecay")
        self.end_learning_rate = end_learning_rate
        self.power, self.cycle, self.name = power, cycle, name

    def __call__(self, step):
        s = float(step)
        ds = float(self.decay_steps)
        if self.cycle:
            ds *= 1.0 if s == 0 else math.ceil(s / ds)
        else:
            s = min(s, ds)
        p = s / ds
        return float((self.initial_learning_rate - self.end_learning_rate) *
                     (1.0 - p) ** self.power + self.end_learning_rate)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class InverseTimeDecay(_RateDecay):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps) (floored when
    ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return float(self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step)))


class CosineDecay(LearningRateSchedule):
    """Optional linear warmup from initial_learning_rate to ``warmup_target`` over
    ``warmup_steps``, then cosine decay over ``decay_steps`` from the warmup target (or the
    initial rate) down to ``alpha`` times it: lr0 * ((1 - alpha) * 0.5 * (1 + cos(pi t)) +
    alpha), t = min(step, decay_steps) / decay_steps."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = _positive(decay_steps, "decay_steps", "CosineDecay")
        self.alpha, self.name = alpha, name
        self.warmup_target, self.warmup_steps = warmup_target, warmup_steps

    def _decay(self, step, lr0):
        frac = step / self.decay_steps
        return lr0 * ((1.0 - self.alpha) * 0.5 * (1.0 + math.cos(math.pi * frac)) + self.alpha)

    def __call__(self, step):
        s = float(step)
        if self.warmup_target is None:
            return float(self._decay(min(s, self.decay_steps), self.initial_learning_rate))
        s = min(s, self.decay_steps + self.warmup_steps)
        if s < self.warmup_steps:
            return float((self.warmup_target - self.initial_learning_rate) * s /
                         self.warmup_steps + self.initial_learning_rate)
        return float(self._decay(s - self.warmup_steps, self.warmup_target))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay from 1 to ``alpha`` (times the initial rate) over ``first_decay_steps``,
    then warm restarts: each period ``t_mul`` times longer and ``m_mul`` times higher."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                 alpha=0.0, name="SGDRDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = _positive(first_decay_steps, "first_decay_steps",
                                           "CosineDecayRestarts")
        self._t_mul, self._m_mul, self.alpha, self.name = t_mul, m_mul, alpha, name

    def __call__(self, step):
        frac = float(step) / self.first_decay_steps
        t_mul, m_mul = float(self._t_mul), float(self._m_mul)
        if t_mul == 1.0:
            i = math.floor(frac)
            frac -= i
        else:
            i = math.floor(math.log(1.0 - frac * (1.0 - t_mul)) / math.log(t_mul))
            sum_r = (1.0 - t_mul ** i) / (1.0 - t_mul)
            frac = (frac - sum_r) / t_mul ** i
        cos_decayed = 0.5 * m_mul ** i * (1.0 + math.cos(math.pi * frac))
        return float(self.initial_learning_rate * ((1.0 - self.alpha) * cos_decayed + self.alpha))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self._t_mul,
                "m_mul": self._m_mul, "alpha": self.alpha, "name": self.name}


_CLASSES = {c.__name__: c for c in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay,
                                     InverseTimeDecay, CosineDecay, CosineDecayRestarts)}


_KIND = Kind("schedules", "schedule", class_names=_CLASSES, instances=LearningRateSchedule,
             expected="a schedule or its config dict", keras_module="keras.optimizers.schedules")


def serialize(schedule):
    """``{"class_name", "config"}`` for a schedule."""
    return _KIND.serialize(schedule)


def deserialize(config, custom_objects=None):
    """A schedule from ``serialize``'s dict."""
    return _KIND.deserialize(config, custom_objects)


def get(identifier):
    """A schedule from a config dict, or the schedule itself."""
    return _KIND.get(identifier)
