"""keras.ops: Keras 3's op names mapped onto lamina's ops.

Thin aliases; where Keras's argument names or defaults differ from lamina's, a one-line
adapter; a few common Keras ops that lamina lacks are composed from lamina ops (so they
differentiate).  Anything not listed falls through to ``lamina``'s own op of the same name.
Note: this module's ``sum``, ``max``, ``min``, ``abs``, ``round``, ``slice`` shadow the
builtins on purpose (Keras's names).
"""
import builtins as _builtins

import numpy as _np

import lamina as _lm
from ..ops.nn import cross_entropy as _xent, binary_cross_entropy_with_logits as _bce_logits

# same name, same arguments
from lamina import (  # noqa: F401
    abs, add, subtract, multiply, divide, true_divide,
    floor_divide, mod, power, negative, reciprocal, exp, log, log1p, expm1, sqrt, rsqrt, square,
    sign, sin, cos, tanh, sigmoid, relu, relu6, elu, selu, gelu, softplus, softsign, silu,
    swish, hard_sigmoid, hard_silu, maximum, minimum, floor, ceil, round, isnan, isinf,
    isfinite, equal, not_equal, less, less_equal, greater, greater_equal, logical_and,
    logical_or, logical_not, logical_xor, cast, mean, sum, prod, max, min, var, std, norm,
    logsumexp, argmax, argmin, all, any, cumsum, expand_dims, squeeze, concatenate, stack,
    split, tile, repeat, flip, roll, moveaxis, swapaxes, broadcast_to, matmul, dot, einsum,
    take, take_along_axis, softmax, log_softmax, erf, zeros_like, ones_like, full_like,
    eye, arange, linspace, outer)

absolute = abs
amax = max
amin = min
leaky_relu = _lm.leaky_relu


def reshape(x, newshape):
    """Keras's ``reshape(x, newshape)``."""
    return _lm.reshape(x, tuple(newshape) if not isinstance(newshape, int) else (newshape,))


def transpose(x, axes=None):
    """Keras's ``transpose(x, axes=None)``."""
    return _lm.transpose(x, axes)


def where(condition, x1=None, x2=None):
    """Keras's ``where(condition, x1, x2)``; with one argument, the indices where true."""
    if x1 is None and x2 is None:
        return tuple(_lm.tensor(i) for i in _np.nonzero(convert_to_numpy(condition)))
    return _lm.where(condition, x1, x2)


def clip(x, x_min, x_max):
    """Keras's ``clip(x, x_min, x_max)``."""
    return _lm.clip(x, x_min, x_max)


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """Keras's ``one_hot(x, num_classes, axis=-1)``."""
    out = _lm.one_hot(x, num_classes, dtype=dtype or "float32")
    return out if axis == -1 else _lm.moveaxis(out, -1, axis)


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """A lamina Tensor holding ``x``."""
    return _lm.asarray(x, dtype=dtype)


def convert_to_numpy(x):
    """``x`` as a NumPy array."""
    return x.numpy() if hasattr(x, "numpy") else _np.asarray(x)


def shape(x):
    """The static shape as a tuple."""
    return tuple(x.shape)


def ndim(x):
    """Number of axes."""
    return len(x.shape)


def size(x):
    """Number of elements."""
    return int(_np.prod(x.shape))


def dtype(x):
    """The dtype's name."""
    return str(x.dtype)


def stop_gradient(x):
    """``x`` outside the graph (no gradient flows through)."""
    return x.detach() if hasattr(x, "detach") else _lm.asarray(x)


def zeros(shape, dtype=None):
    """Zeros of ``shape``."""
    return _lm.zeros(shape, dtype=dtype)


def ones(shape, dtype=None):
    """Ones of ``shape``."""
    return _lm.ones(shape, dtype=dtype)


def full(shape, fill_value, dtype=None):
    """``shape`` filled with ``fill_value``."""
    return _lm.full(shape, fill_value, dtype=dtype)


def pad(x, pad_width, mode="constant", constant_values=None):
    """Keras's ``pad(x, pad_width, mode, constant_values)``."""
    return _lm.pad(x, pad_width, mode=mode, constant_values=constant_values or 0)


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Per-sample cross-entropy of one-hot ``target`` against ``output``."""
    from ..nn.losses import categorical_crossentropy as f
    return f(target, output, from_logits=from_logits, axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Per-sample cross-entropy of class ids ``target`` against ``output``."""
    from ..nn.losses import sparse_categorical_crossentropy as f
    return f(target, output, from_logits=from_logits, axis=axis)


def binary_crossentropy(target, output, from_logits=False):
    """Elementwise binary cross-entropy (no reduction)."""
    if from_logits:
        return _bce_logits(output, target, reduction="none")
    p = _lm.clip(output, 1e-7, 1 - 1e-7)
    return -(target * _lm.log(p) + (1 - target) * _lm.log(1 - p))


def softmax_cross_entropy_with_logits(labels, logits, axis=-1):
    """Per-sample softmax cross-entropy of ``logits`` against probabilities ``labels``."""
    return _xent(logits, labels, axis=axis, reduction="none")


# --------------------------------------------------- composites of lamina ops
def _t(x):
    return x if isinstance(x, _lm.Tensor) else _lm.asarray(x)


def _np_of(x):
    return convert_to_numpy(x)


def is_tensor(x):
    """True for a lamina Tensor."""
    return isinstance(x, _lm.Tensor)


def identity(x):
    """A copy of ``x`` (differentiable)."""
    return _t(x) * 1


copy = identity


def ravel(x):
    """``x`` flattened to 1-D."""
    return _lm.reshape(x, (-1,))


def vstack(xs):
    """Stack along axis 0 (1-D inputs become rows)."""
    return _lm.concatenate([x if x.ndim > 1 else _lm.reshape(x, (1, -1)) for x in map(_t, xs)],
                           axis=0)


def hstack(xs):
    """Concatenate along axis 1 (axis 0 for 1-D inputs)."""
    xs = [_t(x) for x in xs]
    return _lm.concatenate(xs, axis=0 if xs[0].ndim == 1 else 1)


def unstack(x, num=None, axis=0):
    """The slices of ``x`` along ``axis``, as a list."""
    x = _t(x)
    return [_lm.take(x, i, axis=axis) for i in range(x.shape[axis])]


def tan(x):
    """sin(x) / cos(x)."""
    return _lm.sin(x) / _lm.cos(x)


def sinh(x):
    """(e^x - e^-x) / 2."""
    e = _lm.exp(x)
    return (e - 1 / e) * 0.5


def cosh(x):
    """(e^x + e^-x) / 2."""
    e = _lm.exp(x)
    return (e + 1 / e) * 0.5


def log2(x):
    """Base-2 logarithm."""
    return _lm.log(x) * float(1 / _np.log(2))


def log10(x):
    """Base-10 logarithm."""
    return _lm.log(x) * float(1 / _np.log(10))


def trunc(x):
    """Round toward zero."""
    return _lm.sign(x) * _lm.floor(_lm.abs(x))


def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x), stable."""
    return -_lm.softplus(-_t(x))


def logaddexp(x1, x2):
    """log(e^x1 + e^x2), stable."""
    m = _lm.maximum(x1, x2)
    return m + _lm.log1p(_lm.exp(-_lm.abs(_t(x1) - x2)))


def hard_tanh(x):
    """clip(x, -1, 1)."""
    return _lm.clip(x, -1.0, 1.0)


def hard_swish(x):
    """x * relu6(x + 3) / 6."""
    return _lm.hard_silu(x)


def glu(x, axis=-1):
    """Gated linear unit: a * sigmoid(b), ``x`` split in two along ``axis``."""
    a, b = _lm.split(x, 2, axis=axis)
    return a * _lm.sigmoid(b)


def celu(x, alpha=1.0):
    """max(x, 0) + alpha * (exp(min(x, 0) / alpha) - 1)."""
    return _lm.maximum(x, 0.0) + alpha * (_lm.exp(_lm.minimum(x, 0.0) / alpha) - 1)


def divide_no_nan(x1, x2):
    """x1 / x2, and 0 where x2 == 0."""
    x2 = _t(x2)
    safe = _lm.where(x2 == 0, 1.0, x2)
    return _lm.where(x2 == 0, 0.0, _t(x1) / safe)


def average(x, axis=None, weights=None):
    """Mean, or ``weights``-weighted mean, along ``axis``."""
    if weights is None:
        return _lm.mean(x, axis=axis)
    w = _t(weights)
    if axis is not None and w.ndim == 1 and _t(x).ndim > 1:
        shape = [1] * _t(x).ndim
        shape[axis] = -1
        w = _lm.reshape(w, tuple(shape))
    return _lm.sum(_t(x) * w, axis=axis) / _lm.sum(w * _lm.ones_like(_t(x)), axis=axis)


def moments(x, axes, keepdims=False, synchronized=False):
    """(mean, variance) over ``axes``."""
    axes = tuple(axes) if isinstance(axes, (list, tuple)) else axes
    return (_lm.mean(x, axis=axes, keepdims=keepdims),
            _lm.var(x, axis=axes, keepdims=keepdims))


def normalize(x, axis=-1, order=2, epsilon=None):
    """``x`` divided by its ``order``-norm along ``axis``."""
    n = _lm.norm(x, ord=order, axis=axis, keepdims=True)
    return _t(x) / _lm.maximum(n, epsilon or 1e-12)


def tensordot(x1, x2, axes=2):
    """Sum of products over ``axes`` (NumPy's tensordot); differentiable via einsum."""
    return _lm.asarray(_np.tensordot(_np_of(x1), _np_of(x2), axes)) if not (
        is_tensor(x1) and x1.requires_grad or is_tensor(x2) and x2.requires_grad) else \
        _tensordot_grad(x1, x2, axes)


def _tensordot_grad(a, b, axes):
    a, b = _t(a), _t(b)
    if isinstance(axes, int):
        ax_a, ax_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        ax_a, ax_b = [list(v) if isinstance(v, (list, tuple)) else [v] for v in axes]
    letters = "abcdefghijklmnopqrstuvwxyz"
    sa = list(letters[:a.ndim])
    sb = list(letters[a.ndim:a.ndim + b.ndim])
    for i, j in zip(ax_a, ax_b):
        sb[j] = sa[i]
    out = [c for i, c in enumerate(sa) if i not in ax_a] + \
        [c for j, c in enumerate(sb) if j not in ax_b]
    return _lm.einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


def trace(x, offset=0, axis1=0, axis2=1):
    """Sum of the diagonal (offset ``offset``) of axes ``axis1``/``axis2``."""
    x = _t(x)
    mask = _np.eye(x.shape[axis1], x.shape[axis2], k=offset, dtype=x.dtype)
    shape = [1] * x.ndim
    shape[axis1], shape[axis2] = x.shape[axis1], x.shape[axis2]
    return _lm.sum(x * _lm.asarray(mask.reshape(shape)), axis=(axis1, axis2))


def tril(x, k=0):
    """Lower triangle of the last two axes (others zeroed)."""
    x = _t(x)
    return x * _lm.asarray(_np.tril(_np.ones(x.shape[-2:], dtype=x.dtype), k))


def triu(x, k=0):
    """Upper triangle of the last two axes (others zeroed)."""
    x = _t(x)
    return x * _lm.asarray(_np.triu(_np.ones(x.shape[-2:], dtype=x.dtype), k))


def argsort(x, axis=-1):
    """Indices that sort ``x`` along ``axis`` (not differentiable)."""
    return _lm.asarray(_np.argsort(_np_of(x), axis=axis, kind="stable"))


def sort(x, axis=-1):
    """``x`` sorted along ``axis`` (gradient flows to the moved entries)."""
    return _lm.take_along_axis(_t(x), argsort(x, axis), axis=axis)


def top_k(x, k, sorted=True):
    """(values, indices) of the ``k`` largest entries along the last axis."""
    idx = _np.argsort(-_np_of(x), axis=-1, kind="stable")[..., :k]
    return _lm.take_along_axis(_t(x), _lm.asarray(idx), axis=-1), _lm.asarray(idx)


def in_top_k(targets, predictions, k):
    """Whether each target id is among the ``k`` largest predictions."""
    idx = _np.argsort(-_np_of(predictions), axis=-1, kind="stable")[..., :k]
    return _lm.asarray((idx == _np_of(targets)[..., None]).any(axis=-1))


def nonzero(x):
    """Indices of the non-zero entries, one array per axis."""
    return tuple(_lm.asarray(i) for i in _np.nonzero(_np_of(x)))


def multi_hot(inputs, num_classes, axis=-1, dtype=None):
    """Multi-hot encoding of integer ids (last axis) into ``num_classes``."""
    ids = _np_of(inputs).astype(_np.int64)
    out = _np.zeros(ids.shape[:-1] + (num_classes,), dtype=dtype or "float32")
    _np.put_along_axis(out, ids, 1, axis=-1)
    return _lm.asarray(out if axis == -1 else _np.moveaxis(out, -1, axis))


def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """Elementwise closeness (NumPy's isclose)."""
    return _lm.asarray(_np.isclose(_np_of(x1), _np_of(x2), rtol, atol, equal_nan))


def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """True when all entries are close."""
    return bool(_np.allclose(_np_of(x1), _np_of(x2), rtol, atol, equal_nan))


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """NaN and infinities replaced by finite numbers."""
    return _lm.asarray(_np.nan_to_num(_np_of(x), nan=nan, posinf=posinf, neginf=neginf))


def slice(inputs, start_indices, shape):
    """The block of ``shape`` starting at ``start_indices``."""
    idx = tuple(_builtins.slice(s, s + n) for s, n in zip(start_indices, shape))
    return _t(inputs)[idx]


def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """Per-sample CTC loss of integer ``target`` (N, L) under logits ``output`` (N, T, C)."""
    from ..ops.ctc import ctc_loss as _ctc
    return _ctc(_np_of(target), _t(output), _np_of(target_length), _np_of(output_length),
                blank=mask_index)


def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1,
               merge_repeated=True, mask_index=0):
    """Greedy CTC decoding as Keras: (decoded (1, N, T) int, padded with -1; scores (N, 1))."""
    if strategy != "greedy":
        raise NotImplementedError(f"ctc_decode: strategy {strategy!r} is not implemented in "
                                  "lamina; use strategy='greedy'")
    from ..ops.ctc import ctc_greedy_decode
    out, scores = ctc_greedy_decode(_np_of(inputs), _np_of(sequence_lengths),
                                    merge_repeated=merge_repeated, blank=mask_index)
    return _lm.asarray(out[None].astype(_np.int32)), _lm.asarray(scores[:, None])


def __getattr__(name):
    return getattr(_lm, name)
