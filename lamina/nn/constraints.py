"""Weight constraints (Keras 3 names): a constraint maps a weight to its projection onto an
allowed set, and the optimizer writes that projection back after every update step (so a
``Dense(kernel_constraint=MaxNorm(3))`` kernel never leaves the ball of radius 3).

Norms are taken over ``axis`` (default 0: for a Dense kernel (in, out) that is each unit's
incoming weight vector; for a Conv2D kernel (h, w, in, out) pass ``axis=[0, 1, 2]``), and
divided by ``norm + 1e-7`` as Keras does.
"""
from __future__ import annotations

from ..autograd import no_grad
from ..ops import elementwise as _E
from ..ops import reduction as _R
from ..ops.base import Tensor, as_tensor
from ._registry import ConfigObject, Kind

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "max_norm",
           "min_max_norm", "non_neg", "unit_norm", "get", "serialize", "deserialize"]

_EPSILON = 1e-7     # keras.config.epsilon()


def _axis(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def _norms(w, axis):
    """sqrt(sum(w ** 2)) over ``axis``, keeping the reduced axes (broadcasts against w)."""
    return _E.sqrt(_R.sum(_E.square(w), axis=_axis(axis), keepdims=True))


class Constraint(ConfigObject):
    """Base class: ``__call__(weight)`` -> the constrained weight (same shape); the base
    leaves the weight as it is."""

    def __call__(self, w):
        return w


class _Projection(Constraint):
    """A constraint computed with lamina ops, outside any autograd graph."""

    def __call__(self, w):
        with no_grad():
            return self._project(w if isinstance(w, Tensor) else as_tensor(w))


class MaxNorm(_Projection):
    """Rescales each weight vector along ``axis`` whose norm exceeds ``max_value`` back to
    norm ``max_value``: w * clip(n, 0, max_value) / (n + eps)."""

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def _project(self, w):
        n = _norms(w, self.axis)
        return w * (_E.clip(n, 0, self.max_value) / (n + _EPSILON))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(_Projection):
    """Moves each weight vector's norm n into [min_value, max_value] at ``rate``:
    w * (rate * clip(n, min, max) + (1 - rate) * n) / (n + eps)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def _project(self, w):
        n = _norms(w, self.axis)
        desired = _E.clip(n, self.min_value, self.max_value) * self.rate + n * (1 - self.rate)
        return w * (desired / (n + _EPSILON))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


class NonNeg(_Projection):
    """Sets negative weights to zero."""

    def _project(self, w):
        return w * (w >= 0).astype(w.dtype)


class UnitNorm(_Projection):
    """Divides each weight vector along ``axis`` by its norm: w / (n + eps)."""

    def __init__(self, axis=0):
        self.axis = axis

    def _project(self, w):
        return w / (_norms(w, self.axis) + _EPSILON)

    def get_config(self):
        return {"axis": self.axis}


max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm
_NAMES = {"MaxNorm": MaxNorm, "MinMaxNorm": MinMaxNorm, "NonNeg": NonNeg,
          "UnitNorm": UnitNorm, "max_norm": MaxNorm, "min_max_norm": MinMaxNorm,
          "non_neg": NonNeg, "unit_norm": UnitNorm, "Constraint": Constraint}

_KIND = Kind("constraints", "constraint", names=_NAMES, none=None, subclasses=object,
             expected="a string, dict, callable or None", keras_module="keras.constraints")


def get(identifier):
    """A constraint from a name ("max_norm"), a config dict, a class, a callable, or None."""
    return _KIND.get(identifier)


def serialize(constraint):
    """``{"module", "class_name", "config", ...}`` for a Constraint (what ``get`` accepts)."""
    return _KIND.serialize(constraint)


def deserialize(config, custom_objects=None):
    """A constraint from ``serialize``'s dict or a name."""
    return _KIND.deserialize(config, custom_objects)
