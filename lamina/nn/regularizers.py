"""Weight regularizers (Keras 3 names): a regularizer maps a weight tensor of any shape
to a scalar Tensor penalty that stays on the autograd graph, so ``fit`` can add it to
the loss and differentiate it."""
from __future__ import annotations

import math

from ..ops import elementwise as _E
from ..ops import reduction as _R
from ..ops.base import Tensor, as_tensor
from ._registry import ConfigObject, Kind

__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1_l2",
           "orthogonal_regularizer", "get", "serialize", "deserialize"]


def _factor(value, name, who):
    if isinstance(value, bool) or not isinstance(value, (int, float)) and \
            not hasattr(value, "__float__"):
        raise TypeError(f"{who}: {name} must be a float, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{who}: {name} must be a finite non-negative float, got {value}")
    return v


def _weight(x):
    return x if isinstance(x, Tensor) else as_tensor(x)


def _l1_penalty(x, factor):
    return _R.sum(_E.abs(x)) * factor


def _l2_penalty(x, factor):
    return _R.sum(_E.square(x)) * factor


class Regularizer(ConfigObject):
    """Base class: ``__call__(weight)`` -> scalar Tensor; ``get_config``/``from_config``."""

    def __call__(self, x):
        return as_tensor(0.0)


class L1(Regularizer):
    """l1 * sum(|x|)."""

    def __init__(self, l1=0.01):
        self.l1 = _factor(l1, "l1", "L1")

    def __call__(self, x):
        return _l1_penalty(_weight(x), self.l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """l2 * sum(x ** 2)."""

    def __init__(self, l2=0.01):
        self.l2 = _factor(l2, "l2", "L2")

    def __call__(self, x):
        return _l2_penalty(_weight(x), self.l2)

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    """l1 * sum(|x|) + l2 * sum(x ** 2) (both default 0, as in Keras)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "l1", "L1L2")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2", "L1L2")

    def __call__(self, x):
        x = _weight(x)
        out = None
        if self.l1:
            out = _l1_penalty(x, self.l1)
        if self.l2:
            p = _l2_penalty(x, self.l2)
            out = p if out is None else out + p
        if out is None:
            out = _R.sum(x) * 0.0       # a zero that keeps the weight's dtype and device
        return out

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """factor * mean |off-diagonal of W_n W_n^T| / 2 over row (or column) pairs, with W_n
    the rows (or columns) of the 2-D weight normalized to unit length."""

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _factor(factor, "factor", "OrthogonalRegularizer")
        if mode not in ("rows", "columns"):
            raise ValueError(f"OrthogonalRegularizer: mode must be 'rows' or 'columns', got "
                             f"{mode!r}")
        self.mode = mode

    def __call__(self, x):
        x = _weight(x)
        if x.ndim != 2:
            raise ValueError(f"OrthogonalRegularizer: expected a 2-D weight, got shape {x.shape}")
        from ..ops.linalg import matmul
        from ..ops.shape import transpose
        if self.mode == "columns":
            x = transpose(x)
        n = _E.sqrt(_E.maximum(_R.sum(_E.square(x), axis=1, keepdims=True), 1e-12))
        xn = x / n
        prod = matmul(xn, transpose(xn))
        size = x.shape[0]
        mask = 1.0 - _E._const(_eye_like(x.data, size))
        pairs = size * (size - 1.0) / 2.0
        return _R.sum(_E.abs(prod * mask)) * (self.factor * 0.5 / max(pairs, 1.0))

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


def _eye_like(arr, n):
    from ..backend import get_xp
    return get_xp(arr).eye(n, dtype=arr.dtype)


l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer
_NAMES = {"L1": L1, "L2": L2, "L1L2": L1L2, "OrthogonalRegularizer": OrthogonalRegularizer,
          "l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2,
          "orthogonal_regularizer": OrthogonalRegularizer}


_KIND = Kind("regularizers", "regularizer", names=_NAMES, none=None, subclasses=object,
             expected="a string, dict, callable or None", keras_module="keras.regularizers")


def get(identifier):
    """A regularizer from a name ("l2"), a config dict, a class, a callable, or None."""
    return _KIND.get(identifier)


def serialize(regularizer):
    """``{"class_name", "config"}`` for a Regularizer (what ``get`` accepts back)."""
    return _KIND.serialize(regularizer)


def deserialize(config, custom_objects=None):
    """A regularizer from ``serialize``'s dict or a name."""
    return _KIND.deserialize(config, custom_objects)
