"""Weight regularizers (Keras 3 names): a regularizer maps a weight tensor of any shape
to a scalar Tensor penalty that stays on the autograd graph, so ``fit`` can add it to
the loss and differentiate it."""
from __future__ import annotations

import math

from ..ops import elementwise as _E
from ..ops import reduction as _R
from ..ops.base import Tensor, as_tensor

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


class Regularizer:
    """Base class: ``__call__(weight)`` -> scalar Tensor; ``get_config``/``from_config``."""

    def __call__(self, x):
        return as_tensor(0.0)

    def get_config(self):
        """The constructor arguments."""
        return {}

    @classmethod
    def from_config(cls, config):
        """A new regularizer from ``get_config()``'s dict."""
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1(Regularizer):
    """l1 * sum(|x|)."""

    def __init__(self, l1=0.01):
        self.l1 = _factor(l1, "l1", "L1")

    def __call__(self, x):
        return _R.sum(_E.abs(_weight(x))) * self.l1

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """l2 * sum(x ** 2)."""

    def __init__(self, l2=0.01):
        self.l2 = _factor(l2, "l2", "L2")

    def __call__(self, x):
        return _R.sum(_E.square(_weight(x))) * self.l2

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
            out = _R.sum(_E.abs(x)) * self.l1
        if self.l2:
            p = _R.sum(_E.square(x)) * self.l2
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


def get(identifier):
    """A regularizer from a name ("l2"), a config dict, a class, a callable, or None."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier)
        if cls is None:
            from .activations import _registry_lookup
            cls = _registry_lookup(identifier)
        if cls is None:
            raise ValueError(f"regularizers.get: unknown regularizer {identifier!r}; known: "
                             f"{', '.join(sorted(_NAMES))}")
        return cls() if isinstance(cls, type) else cls
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(f"regularizers.get: expected a string, dict, callable or None, got "
                    f"{type(identifier).__name__}")


def serialize(regularizer):
    """``{"class_name", "config"}`` for a Regularizer (what ``get`` accepts back)."""
    if regularizer is None:
        return None
    if hasattr(regularizer, "get_config"):
        return {"module": "keras.regularizers", "class_name": type(regularizer).__name__,
                "config": regularizer.get_config(), "registered_name": None}
    from .activations import _registry_name
    name = _registry_name(regularizer)
    if name is not None:
        return name
    raise ValueError(f"regularizers.serialize: cannot serialize {regularizer!r}")


def deserialize(config, custom_objects=None):
    """A regularizer from ``serialize``'s dict or a name."""
    if isinstance(config, str):
        if custom_objects and config in custom_objects:
            obj = custom_objects[config]
            return obj() if isinstance(obj, type) else obj
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"regularizers.deserialize: expected a dict with 'class_name', got "
                         f"{config!r}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _NAMES.get(name)
    if cls is None:
        from .activations import _registry_lookup
        cls = _registry_lookup(name)
    if cls is None:
        raise ValueError(f"regularizers.deserialize: unknown regularizer {name!r}")
    cfg = config.get("config") or {}
    return cls.from_config(cfg) if hasattr(cls, "from_config") else cls(**cfg)
