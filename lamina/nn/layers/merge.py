"""Merge layers: combine a list of tensors into one (Add, Subtract, Multiply, Average,
Maximum, Minimum, Concatenate, Dot) and their functional forms (``add([a, b])``, ...)."""
from __future__ import annotations

import operator
from functools import reduce

import numpy as np

from ...ops import elementwise as _E
from ...ops import shape as _S
from ...ops import reduction as _R
from ...ops.linalg import matmul
from .base import Layer


def _broadcast_shapes(layer, shapes):
    """Keras-style broadcast of shapes with None dims; raises naming the layer."""
    nd = max(len(s) for s in shapes)
    out = []
    for i in range(nd):
        dims = [s[len(s) - nd + i] for s in shapes if len(s) - nd + i >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(f"{type(layer).__name__} '{layer.name}': inputs with shapes "
                             f"{[tuple(s) for s in shapes]} cannot be broadcast together")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


class _Merge(Layer):
    """Base of the elementwise merges: checks a list of >= 2 compatible inputs."""

    _min_inputs = 2

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def _check_list(self, shapes):
        if not isinstance(shapes, (list, tuple)) or not shapes or \
                not isinstance(shapes[0], (list, tuple)):
            raise ValueError(f"{type(self).__name__} '{self.name}': expects a list of inputs, got "
                             f"a single input of shape {shapes}")
        if len(shapes) < self._min_inputs:
            raise ValueError(f"{type(self).__name__} '{self.name}': expects at least "
                             f"{self._min_inputs} inputs, got {len(shapes)}")

    def _out_shape(self, shapes):
        """The output shape for the input ``shapes`` (checked; raises naming the layer)."""
        self._check_list(shapes)
        # batch dims may differ in the symbolic case only through None
        return _broadcast_shapes(self, [tuple(s) for s in shapes])

    def build(self, input_shape):
        self._out_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return self._out_shape(input_shape)

    def compute_mask(self, inputs, previous_mask=None):
        if previous_mask is None or not isinstance(previous_mask, list):
            return previous_mask
        ms = [m for m in previous_mask if m is not None]
        if not ms:
            return None
        return reduce(_E.logical_and, ms)

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{type(self).__name__} '{self.name}': expects a list of inputs")
        return self._merge(list(inputs))


class Add(_Merge):
    """Elementwise sum of the inputs (all of one shape, or broadcastable)."""

    def _merge(self, xs):
        return reduce(operator.add, xs)


class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""

    def _check_list(self, shapes):
        super()._check_list(shapes)
        if len(shapes) != 2:
            raise ValueError(f"Subtract '{self.name}': expects exactly 2 inputs, got "
                             f"{len(shapes)}")

    def _merge(self, xs):
        if len(xs) != 2:
            raise ValueError(f"Subtract '{self.name}': expects exactly 2 inputs, got {len(xs)}")
        return xs[0] - xs[1]


class Multiply(_Merge):
    """Elementwise product of the inputs."""

    def _merge(self, xs):
        return reduce(operator.mul, xs)


class Average(_Merge):
    """Elementwise mean of the inputs."""

    def _merge(self, xs):
        return reduce(operator.add, xs) * (1.0 / len(xs))


class Maximum(_Merge):
    """Elementwise maximum of the inputs."""

    def _merge(self, xs):
        return reduce(_E.maximum, xs)


class Minimum(_Merge):
    """Elementwise minimum of the inputs."""

    def _merge(self, xs):
        return reduce(_E.minimum, xs)


class Concatenate(_Merge):
    """Joins the inputs along ``axis`` (default the last); other dims must match."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def _out_shape(self, shapes):
        self._check_list(shapes)
        shapes = [tuple(s) for s in shapes]
        nd = len(shapes[0])
        if any(len(s) != nd for s in shapes):
            raise ValueError(f"Concatenate '{self.name}': inputs must have the same rank, got "
                             f"shapes {shapes}")
        ax = self.axis % nd
        out = list(shapes[0])
        for i in range(nd):
            if i == ax:
                dims = [s[i] for s in shapes]
                out[i] = None if any(d is None for d in dims) else int(sum(dims))
                continue
            known = {s[i] for s in shapes if s[i] is not None}
            if len(known) > 1:
                raise ValueError(f"Concatenate '{self.name}': a `Concatenate` layer requires "
                                 f"inputs with matching shapes except for the concatenation "
                                 f"axis {self.axis}; received input shapes {shapes}")
            out[i] = known.pop() if known else None
        return tuple(out)

    def compute_mask(self, inputs, previous_mask=None):
        if previous_mask is None or not isinstance(previous_mask, list) or \
                all(m is None for m in previous_mask):
            return None
        from ...ops.elementwise import _const
        import numpy as _np
        ms = []
        for x, m in zip(inputs, previous_mask):
            if m is None:
                m = _const(_np.ones(x.shape[:-1] if self.axis in (-1, x.ndim - 1) else x.shape,
                                    dtype=bool))
            ms.append(m)
        if self.axis in (-1, inputs[0].ndim - 1):
            out = ms[0]
            for m in ms[1:]:
                out = _E.logical_and(out, m)
            return out
        return _S.concatenate(ms, axis=self.axis)

    def _merge(self, xs):
        return _S.concatenate(xs, axis=self.axis)

    def get_config(self):
        cfg = super().get_config()
        cfg["axis"] = self.axis
        return cfg


class Dot(_Merge):
    """Per-sample dot product of two tensors along ``axes`` (an int or a pair);
    ``normalize=True`` L2-normalizes them first (cosine similarity).
    (batch, n) . (batch, n) -> (batch, 1); (batch, a, d) . (batch, b, d) with axes=2 ->
    (batch, a, b)."""

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2:
                raise ValueError(f"Dot '{self.name}': axes must be an int or a pair, got {axes}")
            self.axes = [int(axes[0]), int(axes[1])]
        else:
            self.axes = int(axes)
        self.normalize = bool(normalize)
        self.supports_masking = False

    def _axes(self, nd0, nd1):
        a = self.axes if isinstance(self.axes, list) else [self.axes, self.axes]
        return a[0] % nd0, a[1] % nd1

    def _check_list(self, shapes):
        super()._check_list(shapes)
        if len(shapes) != 2:
            raise ValueError(f"Dot '{self.name}': expects exactly 2 inputs, got {len(shapes)}")

    def _out_shape(self, shapes):
        self._check_list(shapes)
        s0, s1 = tuple(shapes[0]), tuple(shapes[1])
        a0, a1 = self._axes(len(s0), len(s1))
        if a0 == 0 or a1 == 0:
            raise ValueError(f"Dot '{self.name}': cannot take the dot product along the batch "
                             "axis")
        if s0[a0] is not None and s1[a1] is not None and s0[a0] != s1[a1]:
            raise ValueError(f"Dot '{self.name}': incompatible input shapes {s0} and {s1}: "
                             f"dimension {a0} ({s0[a0]}) != dimension {a1} ({s1[a1]})")
        out = (s0[0],) + tuple(d for i, d in enumerate(s0) if i not in (0, a0)) + \
            tuple(d for i, d in enumerate(s1) if i not in (0, a1))
        return out if len(out) > 1 else out + (1,)

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def _merge(self, xs):
        x, y = xs
        a0, a1 = self._axes(x.ndim, y.ndim)
        if self.normalize:
            x = _l2_normalize(x, a0)
            y = _l2_normalize(y, a1)
        n = x.shape[0]
        xm = _S.moveaxis(x, a0, -1)
        ym = _S.moveaxis(y, a1, 1)
        rest_x = xm.shape[1:-1]
        rest_y = ym.shape[2:]
        d = xm.shape[-1]
        px = int(np.prod(rest_x)) if rest_x else 1
        py = int(np.prod(rest_y)) if rest_y else 1
        z = matmul(_S.reshape(xm, (n, px, d)), _S.reshape(ym, (n, d, py)))
        out = (n,) + tuple(rest_x) + tuple(rest_y)
        return _S.reshape(z, out if len(out) > 1 else (n, 1))

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"axes": self.axes, "normalize": self.normalize})
        return cfg


def _l2_normalize(x, axis, eps=1e-12):
    sq = _R.sum(x * x, axis=axis, keepdims=True)
    return x * _E.rsqrt(_E.maximum(sq, eps))


def _functional(cls, doc):
    def fn(inputs, **kwargs):
        return cls(**kwargs)(inputs)
    fn.__name__ = cls.__name__.lower()
    fn.__doc__ = doc
    return fn


add = _functional(Add, "Functional form of :class:`Add`: ``add([a, b, ...])``.")
subtract = _functional(Subtract, "Functional form of :class:`Subtract`: ``subtract([a, b])``.")
multiply = _functional(Multiply, "Functional form of :class:`Multiply`.")
average = _functional(Average, "Functional form of :class:`Average`.")
maximum = _functional(Maximum, "Functional form of :class:`Maximum`.")
minimum = _functional(Minimum, "Functional form of :class:`Minimum`.")


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of :class:`Concatenate`: ``concatenate([a, b], axis=-1)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """Functional form of :class:`Dot`: ``dot([a, b], axes, normalize=False)``."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)


__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"]
