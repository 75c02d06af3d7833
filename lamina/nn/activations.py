"""Activation functions by Keras 3's names, built on lamina's core ops.

Every function maps a tensor (any shape) to a tensor of the same shape;
``get(name)`` resolves a string, a callable, a ``{"class_name": ...}`` dict or None
(``linear``).  ``serialize(fn)`` gives back what ``get`` accepts.
"""
from __future__ import annotations

from ..ops import elementwise as _E
from ..ops import nn as _N
from ..ops.base import as_tensor
from ._registry import Kind

__all__ = ["relu", "sigmoid", "tanh", "softmax", "softplus", "softsign", "selu", "elu", "gelu",
           "silu", "swish", "exponential", "linear", "leaky_relu", "hard_sigmoid", "hard_silu",
           "hard_swish", "relu6", "log_softmax", "mish", "log_sigmoid", "hard_tanh", "celu",
           "glu", "hard_shrink", "soft_shrink", "tanh_shrink", "squareplus", "sparse_plus",
           "sparse_sigmoid", "threshold", "sparsemax",
           "get", "serialize", "deserialize"]


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """max(x, 0) elementwise; Keras's options: slope below ``threshold``, a ``max_value`` cap."""
    x = _E._float_in(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return _E.relu(x)
    if threshold != 0.0:
        # values below the threshold are zeroed (or get the slope), as Keras does
        y = _E.where(_E.greater_equal(x, threshold), x,
                     (x - threshold) * negative_slope if negative_slope else x * 0.0)
    elif negative_slope:
        y = _E.where(_E.greater_equal(x, 0.0), x, x * negative_slope)
    else:
        y = _E.relu(x)
    if max_value is not None:
        y = _E.minimum(y, float(max_value))
    return y


def leaky_relu(x, negative_slope=0.2):
    """x for x > 0 else negative_slope * x."""
    return _E.leaky_relu(x, negative_slope)


def relu6(x):
    """min(max(x, 0), 6)."""
    return _E.relu6(x)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis`` (stable)."""
    return _N.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    """log(softmax(x)) along ``axis`` (stable)."""
    return _N.log_softmax(x, axis=axis)


def elu(x, alpha=1.0):
    """x for x > 0 else alpha * (exp(x) - 1)."""
    return _E.elu(x, alpha)


def selu(x):
    """Scaled ELU with the self-normalizing constants."""
    return _E.selu(x)


def softplus(x):
    """log(1 + exp(x)), overflow-free."""
    return _E.softplus(x)


def softsign(x):
    """x / (1 + |x|)."""
    return _E.softsign(x)


def silu(x):
    """x * sigmoid(x) (swish)."""
    return _E.silu(x)


swish = silu


def gelu(x, approximate=False):
    """Gaussian error linear unit x * Phi(x); the tanh approximation when ``approximate``
    (Keras 3's default is False)."""
    return _E.gelu(x, approximate=approximate)


def tanh(x):
    """Hyperbolic tangent."""
    return _E.tanh(x)


def sigmoid(x):
    """1 / (1 + exp(-x)), overflow-free."""
    return _E.sigmoid(x)


def exponential(x):
    """exp(x)."""
    return _E.exp(x)


def hard_sigmoid(x):
    """relu6(x + 3) / 6 (Keras 3's definition)."""
    return _E.hard_sigmoid(x)


def hard_silu(x):
    """x * hard_sigmoid(x)."""
    return _E.hard_silu(x)


hard_swish = hard_silu


def hard_tanh(x):
    """clip(x, -1, 1)."""
    return _E.clip(_E._float_in(x), -1.0, 1.0)


def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x)."""
    return -_E.softplus(-_E._float_in(x))


def mish(x):
    """x * tanh(softplus(x))."""
    x = _E._float_in(x)
    return x * _E.tanh(_E.softplus(x))


def celu(x, alpha=1.0):
    """max(x, 0) + alpha * expm1(min(x, 0) / alpha)."""
    x = _E._float_in(x)
    return _E.relu(x) + _E.expm1(_E.minimum(x, 0.0) * (1.0 / alpha)) * alpha


def glu(x, axis=-1):
    """a * sigmoid(b) where a, b are the two halves of ``x`` along ``axis``."""
    from ..ops.shape import split
    x = _E._float_in(x)
    if x.shape[axis] % 2:
        raise ValueError(f"glu: the size of axis {axis} must be even, got shape {x.shape}")
    a, b = split(x, 2, axis=axis)
    return a * _E.sigmoid(b)


def hard_shrink(x, threshold=0.5):
    """x where |x| > threshold, else 0."""
    x = _E._float_in(x)
    return _E.where(_E.greater(_E.abs(x), threshold), x, x * 0.0)


def soft_shrink(x, threshold=0.5):
    """x - threshold above it, x + threshold below -threshold, else 0."""
    x = _E._float_in(x)
    return _E.where(_E.greater(x, threshold), x - threshold,
                    _E.where(_E.less(x, -threshold), x + threshold, x * 0.0))


def tanh_shrink(x):
    """x - tanh(x)."""
    x = _E._float_in(x)
    return x - _E.tanh(x)


def squareplus(x, b=4):
    """(x + sqrt(x^2 + b)) / 2."""
    x = _E._float_in(x)
    return (x + _E.sqrt(_E.square(x) + float(b))) * 0.5


def sparse_plus(x):
    """0 for x <= -1, (x + 1)^2 / 4 for -1 < x < 1, x above."""
    x = _E._float_in(x)
    return _E.where(_E.less_equal(x, -1.0), x * 0.0,
                    _E.where(_E.less(x, 1.0), _E.square(x + 1.0) * 0.25, x))


def sparse_sigmoid(x):
    """0 for x <= -1, (x + 1) / 2 for -1 < x < 1, 1 above."""
    return _E.clip((_E._float_in(x) + 1.0) * 0.5, 0.0, 1.0)


def threshold(x, threshold, default_value):
    """x where x > threshold, else ``default_value``."""
    x = _E._float_in(x)
    return _E.where(_E.greater(x, threshold), x, x * 0.0 + float(default_value))


def sparsemax(x, axis=-1):
    """Euclidean projection of ``x`` onto the probability simplex along ``axis`` (Martins &
    Astudillo 2016): max(x - tau, 0) with tau chosen so that the result sums to 1; unlike
    softmax, small scores get exactly 0.

    The support (which entries stay positive) is found on raw arrays; tau is then computed
    with lamina ops from the support's sum, so the gradient is sparsemax's own Jacobian
    (on the support: identity minus the support's mean).  Keras 3.15 computes tau from the
    sum of the support's cumulative sums instead, so its outputs need not sum to 1
    (e.g. [0.5, 1.2, -0.3, 2.0] gives all zeros there; [0, 0.1, 0, 0.9] here)."""
    from ..ops import reduction as _R
    x = _E._float_in(x)
    d = x.data
    from ..backend import get_xp
    xp = get_xp(d)
    z = xp.moveaxis(d, axis, -1)
    zs = -xp.sort(-z, axis=-1)                                   # descending
    k = xp.arange(1, z.shape[-1] + 1, dtype=d.dtype)
    in_support = 1 + k * zs > xp.cumsum(zs, axis=-1)
    kz = in_support.sum(axis=-1, keepdims=True)                  # support size (>= 1)
    thresh = xp.take_along_axis(zs, kz - 1, axis=-1)             # smallest kept score
    mask = xp.moveaxis((z >= thresh).astype(d.dtype), -1, axis)
    m = as_tensor(mask, like=x)
    tau = (_R.sum(x * m, axis=axis, keepdims=True) - 1.0) / _R.sum(m, axis=axis, keepdims=True)
    return _E.relu(x - tau)


def linear(x):
    """The identity (returns ``x`` as a tensor)."""
    return as_tensor(x)


_ALL = {f.__name__: f for f in (relu, leaky_relu, relu6, softmax, log_softmax, elu, selu,
                                 softplus, softsign, silu, gelu, tanh, sigmoid, exponential,
                                 hard_sigmoid, hard_silu, hard_tanh, log_sigmoid, mish, linear,
                                 celu, glu, hard_shrink, soft_shrink, tanh_shrink, squareplus,
                                 sparse_plus, sparse_sigmoid, threshold, sparsemax)}
_ALL["swish"] = silu
_ALL["hard_swish"] = hard_silu


def get(identifier):
    """The activation function for a name, a config dict, a callable, or None (linear)."""
    return _KIND.get(identifier)


def serialize(activation):
    """The name of a built-in activation (what ``get`` accepts back); a layer-like object
    with ``get_config`` gives ``{"class_name", "config"}``; a registered custom function
    gives its registered name."""
    return _KIND.serialize(activation)


def deserialize(config, custom_objects=None):
    """The activation for a name or ``{"class_name": ..., "config": ...}`` dict."""
    if not isinstance(config, (str, dict)):
        return get(config)
    return _KIND.deserialize(config, custom_objects)


_KIND = Kind("activations", "activation", names=_ALL, none=linear,
             expected="a string, dict, callable or None", functions=_ALL)
