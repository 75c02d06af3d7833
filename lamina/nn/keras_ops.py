"""Keras 3's ``keras.ops`` functions over lamina's ops (``lamina.keras.ops`` re-exports them).

Thin aliases; where Keras's argument names or defaults differ from lamina's, a one-line
adapter; the Keras ops that lamina lacks are composed from lamina ops (so they
differentiate), or computed on the input's array module where Keras gives no gradient.
Note: this module's ``sum``, ``max``, ``min``, ``abs``, ``round``, ``slice`` shadow the
builtins on purpose (Keras's names).  The short-time Fourier transforms and complex helpers
live in ``keras_ops_signal`` (re-exported here), ``keras.ops.image`` in ``keras_ops_image``.
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
    logsumexp, argmax, argmin, all, any, expand_dims, squeeze, concatenate, stack,
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
    from .losses import categorical_crossentropy as f
    return f(target, output, from_logits=from_logits, axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Per-sample cross-entropy of class ids ``target`` against ``output``."""
    from .losses import sparse_categorical_crossentropy as f
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
    return _lm.concatenate([x if x.ndim > 1 else _lm.reshape(x, (1, -1)) for x in _builtins.map(_t, xs)],
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


# ==================================================================== more of keras.ops
# Differentiable math lives in lamina's op table (lamina.ops.*); the rest is composed from
# lamina ops (so it differentiates) or, where Keras's result has no gradient (integer,
# boolean, bitwise, counting, window functions), computed on the input's array module.
from ..ops import elementwise as _E, reduction as _R, linalg as _L
from ..ops.base import xp_of as _xp_of, wrap as _wrap
from ..autograd import custom_gradient  # noqa: F401,E402  (Keras's signature: f -> (y, grad_fn))

arcsin, arccos, arctan, arctan2 = _E.arcsin, _E.arccos, _E.arctan, _E.arctan2
arcsinh, arccosh, arctanh = _E.arcsinh, _E.arccosh, _E.arctanh
cbrt, exp2, erfc, erfinv, hypot, fmod = _E.cbrt, _E.exp2, _E.erfc, _E.erfinv, _E.hypot, _E.fmod
det, inv = _L.det, _L.inv
fabs = abs


def _xp(x):
    return _xp_of(_t(x))


def _raw(x):
    """The raw array of ``x`` (a Tensor's data, else a NumPy array)."""
    return x.data if isinstance(x, _lm.Tensor) else _np.asarray(x)


_fl = _E._float_in      # ``x`` as a float tensor (ints become the default float dtype)


def _nograd(fn, *xs, **kw):
    """``fn(xp, *raw arrays)`` as a tensor outside the graph."""
    xp = _xp(xs[0])
    return _wrap(xp.asarray(fn(xp, *[_raw(x) for x in xs], **kw)))


# ------------------------------------------------------------------ elementwise math
def deg2rad(x):
    """Degrees to radians; same shape, float."""
    return _fl(x) * float(_np.pi / 180)


def rad2deg(x):
    """Radians to degrees; same shape, float."""
    return _fl(x) * float(180 / _np.pi)


def _is_complex(x):
    if isinstance(x, _lm.Tensor):
        return x.dtype.kind == "c"
    return _np.iscomplexobj(x)


def angle(x):
    """Argument of ``x``: for complex ``x`` atan2(imag, real); for real ``x`` pi where it is
    negative, else 0 (float, no gradient)."""
    if _is_complex(x):
        return _nograd(lambda xp, a: xp.angle(a), _t(x))
    x = _fl(x)
    return _nograd(lambda xp, a: xp.angle(a).astype(a.dtype), x)


def conj(x):
    """Complex conjugate; the identity on real tensors (no gradient for complex ones)."""
    return _nograd(lambda xp, a: xp.conj(a), _t(x)) if _is_complex(x) else _t(x)


conjugate = conj


def real(x):
    """Real part; the identity on real tensors (no gradient for complex ones)."""
    return _nograd(lambda xp, a: xp.ascontiguousarray(a.real), _t(x)) if _is_complex(x) \
        else _t(x)


def imag(x):
    """Imaginary part: zeros for real tensors (no gradient for complex ones)."""
    if _is_complex(x):
        return _nograd(lambda xp, a: xp.ascontiguousarray(a.imag), _t(x))
    return _lm.zeros_like(_t(x))


def isreal(x):
    """True where the imaginary part is zero (everywhere for real tensors)."""
    return _nograd(lambda xp, a: xp.isreal(a), x)


def isposinf(x):
    """True where ``x`` is +inf."""
    return _nograd(lambda xp, a: xp.isposinf(a), x)


def isneginf(x):
    """True where ``x`` is -inf."""
    return _nograd(lambda xp, a: xp.isneginf(a), x)


def signbit(x):
    """True where the sign bit is set (negatives and -0.0)."""
    return _nograd(lambda xp, a: xp.signbit(a), x)


def sinc(x):
    """sin(pi x) / (pi x), 1 at 0; same shape, float."""
    x = _fl(x)
    zero = x == 0
    px = _lm.where(zero, 1.0, x) * float(_np.pi)
    return _lm.where(zero, 1.0, _lm.sin(px) / px)


def logaddexp2(x1, x2):
    """log2(2**x1 + 2**x2), stable."""
    ln2 = float(_np.log(2))
    return logaddexp(_fl(x1) * ln2, _fl(x2) * ln2) * (1 / ln2)


def ldexp(x1, x2):
    """x1 * 2**x2 (integer ``x2``); differentiable in ``x1``."""
    x1 = _fl(x1)
    return x1 * _lm.cast(_E.exp2(_lm.cast(_t(x2), x1.dtype)), x1.dtype)


def _nan_pick(x1, x2, pick):
    x1, x2 = _t(x1), _t(x2)
    m = pick(x1, x2)
    return _lm.where(_lm.isnan(x1), x2, _lm.where(_lm.isnan(x2), x1, m))


def fmax(x1, x2):
    """Elementwise maximum ignoring NaNs (NaN only where both are NaN)."""
    return _nan_pick(x1, x2, _lm.maximum)


def fmin(x1, x2):
    """Elementwise minimum ignoring NaNs (NaN only where both are NaN)."""
    return _nan_pick(x1, x2, _lm.minimum)


def heaviside(x1, x2):
    """0 where x1 < 0, 1 where x1 > 0, x2 where x1 == 0 (no gradient)."""
    x1 = _fl(x1)
    return _nograd(lambda xp, a, b: xp.heaviside(a, b.astype(a.dtype)), x1, _t(x2))


def i0(x):
    """Modified Bessel function of the first kind, order 0 (no gradient)."""
    return _nograd(lambda xp, a: xp.i0(a).astype(a.dtype), _fl(x))


def nextafter(x1, x2):
    """The next float after x1 towards x2 (no gradient)."""
    x1 = _fl(x1)
    return _nograd(lambda xp, a, b: xp.nextafter(a, b.astype(a.dtype)), x1, _t(x2))


def gcd(x1, x2):
    """Greatest common divisor of integers."""
    return _nograd(lambda xp, a, b: xp.gcd(a, b), x1, x2)


def lcm(x1, x2):
    """Least common multiple of integers."""
    return _nograd(lambda xp, a, b: xp.lcm(a, b), x1, x2)


def _bitwise(name, ufunc):
    def f(x, y):
        return _nograd(lambda xp, a, b: getattr(xp, ufunc)(a, b), x, y)
    f.__name__ = name
    f.__doc__ = f"Elementwise {ufunc} of integer (or boolean) tensors."
    return f


bitwise_and = _bitwise("bitwise_and", "bitwise_and")
bitwise_or = _bitwise("bitwise_or", "bitwise_or")
bitwise_xor = _bitwise("bitwise_xor", "bitwise_xor")
bitwise_left_shift = left_shift = _bitwise("bitwise_left_shift", "left_shift")
bitwise_right_shift = right_shift = _bitwise("bitwise_right_shift", "right_shift")


def bitwise_invert(x):
    """Bitwise NOT of integers (logical NOT of booleans)."""
    return _nograd(lambda xp, a: xp.invert(a), x)


bitwise_not = bitwise_invert


# ------------------------------------------------------------------ activations
def sparse_plus(x):
    """0 for x <= -1, (x + 1)**2 / 4 for |x| < 1, x for x >= 1."""
    x = _fl(x)
    return _lm.where(x <= -1, 0.0, _lm.where(x >= 1, x, _lm.square(x + 1) * 0.25))


def sparse_sigmoid(x):
    """0 for x <= -1, (x + 1) / 2 for |x| < 1, 1 for x >= 1."""
    return _lm.clip((_fl(x) + 1) * 0.5, 0.0, 1.0)


def squareplus(x, b=4):
    """(x + sqrt(x**2 + b)) / 2."""
    x = _fl(x)
    return (x + _lm.sqrt(_lm.square(x) + float(b))) * 0.5


def hard_shrink(x, threshold=0.5):
    """x where |x| > threshold, else 0."""
    x = _fl(x)
    return _lm.where(_lm.abs(x) > threshold, x, 0.0)


def soft_shrink(x, threshold=0.5):
    """x - threshold above it, x + threshold below -threshold, else 0."""
    x = _fl(x)
    return _lm.where(x > threshold, x - threshold,
                     _lm.where(x < -threshold, x + threshold, 0.0))


def tanh_shrink(x):
    """x - tanh(x)."""
    x = _fl(x)
    return x - _lm.tanh(x)


def threshold(x, threshold, default_value):
    """x where x > threshold, else ``default_value``."""
    x = _t(x)
    return _lm.where(x > threshold, x, default_value)


def sparsemax(x, axis=-1):
    """Euclidean projection of ``x`` onto the simplex along ``axis`` (sparse softmax)."""
    x = _fl(x)
    z = _lm.moveaxis(x, axis, -1)
    n = z.shape[-1]
    zs = sort(z, axis=-1)[..., ::-1]                     # descending
    k = _lm.arange(1, n + 1, dtype=z.dtype)
    css = _lm.cumsum(zs, axis=-1)
    support = (1 + k * zs) > css
    kz = _lm.sum(_lm.cast(support, z.dtype), axis=-1, keepdims=True)
    idx = _lm.cast(kz, "int64") - 1
    tau = (_lm.take_along_axis(css, _lm.asarray(_raw(idx)), axis=-1) - 1) / kz.detach()
    return _lm.moveaxis(_lm.relu(z - tau), -1, axis)


# ------------------------------------------------------------------ reductions, statistics
def _flat_or(x, axis):
    x = _t(x)
    return (_lm.reshape(x, (-1,)), 0) if axis is None else (x, axis)


def cumprod(x, axis=None, dtype=None):
    """Running product along ``axis`` (flattened when None)."""
    x, axis = _flat_or(x, axis)
    if dtype is not None:
        x = _lm.cast(x, dtype)
    return _R.cumprod(x, axis)


def nancumsum(x, axis=None, dtype=None):
    """Running sum treating NaNs as 0."""
    x = _t(x)
    return cumsum(_lm.where(_lm.isnan(x), 0, x) if x.dtype.kind == "f" else x, axis, dtype)


def nancumprod(x, axis=None, dtype=None):
    """Running product treating NaNs as 1."""
    x = _t(x)
    return cumprod(_lm.where(_lm.isnan(x), 1, x) if x.dtype.kind == "f" else x, axis, dtype)


def cumsum(x, axis=None, dtype=None):
    """Running sum along ``axis`` (flattened when None)."""
    x, axis = _flat_or(x, axis)
    if dtype is not None:
        x = _lm.cast(x, dtype)
    return _lm.cumsum(x, axis)


def count_nonzero(x, axis=None):
    """Number of non-zero entries along ``axis`` (int, no gradient)."""
    axis = tuple(axis) if isinstance(axis, list) else axis
    return _nograd(lambda xp, a: xp.count_nonzero(a, axis=axis), x)


def ptp(x, axis=None, keepdims=False):
    """max - min along ``axis``."""
    return _lm.max(x, axis=axis, keepdims=keepdims) - _lm.min(x, axis=axis, keepdims=keepdims)


def diff(a, n=1, axis=-1):
    """The ``n``-th discrete difference along ``axis``."""
    a = _t(a)
    ax = axis % a.ndim
    for _ in range(n):
        lo = tuple(_builtins.slice(None) if i != ax else _builtins.slice(None, -1)
                   for i in range(a.ndim))
        hi = tuple(_builtins.slice(None) if i != ax else _builtins.slice(1, None)
                   for i in range(a.ndim))
        a = a[hi] - a[lo]
    return a


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """Integral of ``y`` along ``axis`` by the trapezoidal rule (spacing ``x`` or ``dx``)."""
    y = _fl(y)
    ax = axis % y.ndim
    lo = tuple(_builtins.slice(None, -1) if i == ax else _builtins.slice(None)
               for i in range(y.ndim))
    hi = tuple(_builtins.slice(1, None) if i == ax else _builtins.slice(None)
               for i in range(y.ndim))
    mid = (y[hi] + y[lo]) * 0.5
    if x is None:
        return _lm.sum(mid, axis=ax) * float(dx)
    d = diff(_lm.cast(_t(x), y.dtype), axis=-1 if _t(x).ndim == 1 else ax)
    if d.ndim == 1 and y.ndim > 1:
        shape = [1] * y.ndim
        shape[ax] = -1
        d = _lm.reshape(d, tuple(shape))
    return _lm.sum(mid * d, axis=ax)


def _quantile(name, x, q, axis, method, keepdims):
    x = _fl(x)
    if method not in ("linear", "lower", "higher", "midpoint", "nearest"):
        raise ValueError(f"{name}: method must be one of 'linear', 'lower', 'higher', "
                         f"'midpoint', 'nearest'; got {method!r}")
    nd = x.ndim
    axes = tuple(range(nd)) if axis is None else \
        tuple(a % nd for a in ((axis,) if isinstance(axis, int) else axis))
    keep = [i for i in range(nd) if i not in axes]
    z = _lm.transpose(x, tuple(keep) + axes)
    z = _lm.reshape(z, tuple(x.shape[i] for i in keep) + (-1,))
    n = z.shape[-1]
    zs = sort(z, axis=-1)
    qa = _np.asarray(_raw(q), dtype=_np.float64)
    pos = qa * (n - 1)
    lo = _np.floor(pos).astype(_np.int64)
    hi = _np.ceil(pos).astype(_np.int64)
    if method == "lower":
        hi = lo
    elif method == "higher":
        lo = hi
    elif method == "nearest":
        lo = hi = _np.round(pos).astype(_np.int64)    # half to even, as NumPy
    frac = (pos - lo) if method == "linear" else _np.full(pos.shape, 0.5 if method ==
                                                           "midpoint" else 0.0)
    flat_lo, flat_hi, flat_f = lo.reshape(-1), hi.reshape(-1), frac.reshape(-1)
    vlo = _lm.take(zs, _lm.asarray(flat_lo), axis=-1)            # (..., nq)
    vhi = _lm.take(zs, _lm.asarray(flat_hi), axis=-1)
    f = _lm.asarray(flat_f.astype(x.dtype))
    out = vlo + (vhi - vlo) * f
    out = _lm.moveaxis(out, -1, 0)
    out = _lm.reshape(out, qa.shape + out.shape[1:])
    if keepdims:
        full = list(qa.shape) + [1 if i in axes else x.shape[i] for i in range(nd)]
        out = _lm.reshape(out, tuple(full))
    return out


def quantile(x, q, axis=None, method="linear", keepdims=False):
    """The ``q``-th quantiles (q in [0, 1]) along ``axis``: shape q.shape + reduced shape."""
    return _quantile("quantile", x, q, axis, method, keepdims)


def percentile(x, q, axis=None, method="linear", keepdims=False):
    """The ``q``-th percentiles (q in [0, 100]) along ``axis``."""
    return _quantile("percentile", x, _np.asarray(_raw(q), _np.float64) / 100, axis, method,
                     keepdims)


def median(x, axis=None, keepdims=False):
    """Median along ``axis``."""
    return _quantile("median", x, 0.5, axis, "linear", keepdims)


def _nan_fill(x, value):
    x = _t(x)
    return _lm.where(_lm.isnan(x), value, x) if x.dtype.kind == "f" else x


def nansum(x, axis=None, keepdims=False):
    """Sum treating NaNs as 0."""
    return _lm.sum(_nan_fill(x, 0.0), axis=axis, keepdims=keepdims)


def nanprod(x, axis=None, keepdims=False):
    """Product treating NaNs as 1."""
    return _lm.prod(_nan_fill(x, 1.0), axis=axis, keepdims=keepdims)


def _nan_count(x, axis, keepdims):
    x = _t(x)
    ok = _lm.logical_not(_lm.isnan(x)) if x.dtype.kind == "f" else _lm.ones_like(x) > 0
    return _lm.sum(_lm.cast(ok, _fl(x).dtype), axis=axis, keepdims=keepdims)


def nanmean(x, axis=None, keepdims=False):
    """Mean of the non-NaN entries."""
    return nansum(_fl(x), axis, keepdims) / _nan_count(x, axis, keepdims)


def nanvar(x, axis=None, keepdims=False):
    """Variance of the non-NaN entries."""
    x = _fl(x)
    m = nanmean(x, axis, True)
    return nansum(_lm.square(x - m), axis, keepdims) / _nan_count(x, axis, keepdims)


def nanstd(x, axis=None, keepdims=False):
    """Standard deviation of the non-NaN entries."""
    return _lm.sqrt(nanvar(x, axis, keepdims))


def nanmax(x, axis=None, keepdims=False):
    """Maximum ignoring NaNs (NaN where a slice is all NaN)."""
    x = _t(x)
    if x.dtype.kind != "f":
        return _lm.max(x, axis=axis, keepdims=keepdims)
    m = _lm.max(_nan_fill(x, -_np.inf), axis=axis, keepdims=keepdims)
    return _lm.where(_nan_count(x, axis, keepdims) == 0, _np.nan, m)


def nanmin(x, axis=None, keepdims=False):
    """Minimum ignoring NaNs (NaN where a slice is all NaN)."""
    x = _t(x)
    if x.dtype.kind != "f":
        return _lm.min(x, axis=axis, keepdims=keepdims)
    m = _lm.min(_nan_fill(x, _np.inf), axis=axis, keepdims=keepdims)
    return _lm.where(_nan_count(x, axis, keepdims) == 0, _np.nan, m)


def nanargmax(x, axis=None, keepdims=False):
    """Index of the maximum ignoring NaNs (no gradient)."""
    return _lm.argmax(_nan_fill(x, -_np.inf), axis=axis, keepdims=keepdims)


def nanargmin(x, axis=None, keepdims=False):
    """Index of the minimum ignoring NaNs (no gradient)."""
    return _lm.argmin(_nan_fill(x, _np.inf), axis=axis, keepdims=keepdims)


def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    """Quantiles ignoring NaNs (no gradient)."""
    axis = tuple(axis) if isinstance(axis, list) else axis
    return _nograd(lambda xp, a: xp.nanquantile(a, _np.asarray(_raw(q)), axis=axis,
                                                method=method, keepdims=keepdims)
                   .astype(a.dtype), _fl(x))


def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    """Percentiles ignoring NaNs (no gradient)."""
    return nanquantile(x, _np.asarray(_raw(q), _np.float64) / 100, axis, method, keepdims)


def nanmedian(x, axis=None, keepdims=False):
    """Median ignoring NaNs (no gradient)."""
    return nanquantile(x, 0.5, axis, "linear", keepdims)


def corrcoef(x):
    """Pearson correlation coefficients of the rows of ``x`` (V, N) -> (V, V)."""
    x = _fl(x)
    if x.ndim == 1:
        x = _lm.reshape(x, (1, -1))
    c = x - _lm.mean(x, axis=1, keepdims=True)
    cov = _lm.matmul(c, _lm.transpose(c))
    d = _lm.sqrt(_diag_of(cov))
    return _lm.clip(cov / _lm.outer(d, d), -1.0, 1.0)


def _diag_of(m):
    n = _builtins.min(m.shape[-2:])
    i = _np.arange(n)
    return m[..., i, i]


def correlate(x1, x2, mode="valid"):
    """Cross-correlation of 1-D ``x1`` (M,) and ``x2`` (N,), NumPy's correlate:
    'valid' (max-min+1,), 'same' (max(M, N),) or 'full' (M+N-1,)."""
    a, v = _fl(x1), _fl(x2)
    if a.ndim != 1 or v.ndim != 1:
        raise ValueError(f"correlate: expected two 1-D tensors, got shapes {a.shape} and "
                         f"{v.shape}")
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"correlate: mode must be 'valid', 'same' or 'full', got {mode!r}")
    m, n = a.shape[0], v.shape[0]
    ap = _lm.pad(a, ((n - 1, n - 1),))
    lags = _np.arange(m + n - 1)                          # full output index: lag + n - 1
    idx = lags[:, None] + _np.arange(n)[None, :]
    full = _lm.sum(ap[idx] * v, axis=-1)
    if mode == "full":
        return full
    if mode == "valid":
        start = _builtins.min(m, n) - 1
        return full[start:start + _builtins.max(m, n) - _builtins.min(m, n) + 1]
    start = (n - 1) // 2 if m >= n else (n - m) + (m - 1) - (m - 1) // 2 - (n - m)
    return full[start:start + _builtins.max(m, n)]


# ------------------------------------------------------------------ counting and searching
def bincount(x, weights=None, minlength=0, sparse=False):
    """Counts (or summed ``weights``) of each non-negative int in ``x``; 1-D (L,) ->
    (max(x)+1 or minlength,), or per row for 2-D (B, L) -> (B, K). No gradient."""
    if sparse:
        raise ValueError("bincount: sparse=True is not supported by lamina")
    xa = _raw(x)
    w = None if weights is None else _raw(weights)
    xp = _xp(x)
    if xa.ndim == 1:
        return _wrap(xp.bincount(xa, w, minlength=minlength))
    if xa.ndim != 2:
        raise ValueError(f"bincount: expected a 1-D or 2-D int tensor, got shape {xa.shape}")
    k = _builtins.max(int(xa.max()) + 1 if xa.size else 0, minlength)
    rows = [xp.bincount(xa[i], None if w is None else w[i], minlength=k)
            for i in range(xa.shape[0])]
    return _wrap(xp.stack(rows) if rows else xp.zeros((0, k), xa.dtype))


def digitize(x, bins):
    """Index of the bin of ``bins`` (increasing) each entry of ``x`` falls in (int32)."""
    return _nograd(lambda xp, a, b: xp.digitize(a, b).astype("int32"), x, bins)


def searchsorted(sorted_sequence, values, side="left"):
    """Insertion indices of ``values`` into the 1-D ``sorted_sequence`` (no gradient)."""
    s = _t(sorted_sequence)
    if s.ndim != 1:
        raise ValueError(f"searchsorted: expected a 1-D sorted_sequence, got shape {s.shape}")
    return _nograd(lambda xp, a, b: xp.searchsorted(a, b, side=side), s, values)


def argpartition(x, kth, axis=-1):
    """Indices that partition ``x`` around its ``kth`` smallest entry (no gradient)."""
    return _nograd(lambda xp, a: xp.argpartition(a, kth, axis=axis), x)


def isin(x1, x2, assume_unique=False, invert=False):
    """True where an entry of ``x1`` is in ``x2`` (False with ``invert``)."""
    return _nograd(lambda xp, a, b: xp.isin(a, b, assume_unique=assume_unique,
                                            invert=invert), x1, x2)


def histogram(x, bins=10, range=None):  # noqa: A002 - Keras's name
    """(counts, bin edges) of the 1-D ``x`` over ``bins`` equal bins (no gradient)."""
    x = _t(x)
    if x.ndim != 1:
        raise ValueError(f"histogram: expected a 1-D tensor, got shape {x.shape}")
    xp = _xp(x)
    counts, edges = xp.histogram(x.data, bins=bins, range=range)
    dt = _fl(x).dtype
    return _wrap(counts.astype(dt)), _wrap(edges.astype(dt))


def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False,  # noqa: A002
           axis=None, size=None, fill_value=None):
    """The distinct entries of ``x`` (sorted), optionally the first indices, the inverse
    map and the counts; ``size`` pads (with ``fill_value``, default the smallest value)
    or truncates the outputs to that length. No gradient."""
    xa = _raw(x)
    xp = _xp(x)
    res = xp.unique(xa, return_index=True, return_inverse=True, return_counts=True, axis=axis)
    vals, index, inverse, counts = res
    if size is not None:
        k = vals.shape[0] if axis is None else vals.shape[axis]
        if k < size:
            fv = vals.min() if fill_value is None else fill_value
            padw = [(0, 0)] * vals.ndim
            padw[0 if axis is None else axis] = (0, size - k)
            vals = xp.pad(vals, padw, constant_values=fv)
            index = xp.pad(index, (0, size - k))
            counts = xp.pad(counts, (0, size - k))
        else:
            sl = [_builtins.slice(None)] * vals.ndim
            sl[0 if axis is None else axis] = _builtins.slice(0, size)
            vals, index, counts = vals[tuple(sl)], index[:size], counts[:size]
    out = [_wrap(vals)]
    if return_index:
        out.append(_wrap(index))
    if return_inverse:
        out.append(_wrap(inverse.reshape(xa.shape) if axis is None else inverse))
    if return_counts:
        out.append(_wrap(counts))
    return out[0] if len(out) == 1 else tuple(out)


def unravel_index(indices, shape):
    """Flat ``indices`` as a tuple of per-axis index tensors for ``shape``."""
    xp = _xp(indices)
    return tuple(_wrap(i) for i in xp.unravel_index(_raw(indices), tuple(shape)))


# ------------------------------------------------------------------ creation
def array(x, dtype=None):
    """A tensor holding ``x``."""
    return convert_to_tensor(x, dtype)


def empty(shape, dtype=None):
    """A tensor of ``shape`` (zero-filled in lamina)."""
    return _lm.zeros(shape, dtype=dtype)


def empty_like(x, dtype=None):
    """A tensor like ``x``, on its device (zero-filled in lamina)."""
    return _lm.zeros_like(_t(x), dtype=dtype)


def tri(N, M=None, k=0, dtype=None):
    """(N, M) with ones at and below the ``k``-th diagonal."""
    return _lm.asarray(_np.tri(N, M, k, dtype=dtype or _lm.default_dtype()))


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    """``num`` numbers spaced evenly on a log scale: base**linspace(start, stop)."""
    out = _np.logspace(_np.asarray(_raw(start)), _np.asarray(_raw(stop)), num,
                       endpoint=endpoint, base=base, axis=axis)
    return _lm.asarray(out.astype(dtype or _lm.default_dtype()))


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """``num`` numbers spaced evenly on a log scale from ``start`` to ``stop``."""
    out = _np.geomspace(_np.asarray(_raw(start)), _np.asarray(_raw(stop)), num,
                        endpoint=endpoint, axis=axis)
    return _lm.asarray(out.astype(dtype or _lm.default_dtype()))


def _window(name, fn, x):
    n = int(_np.asarray(_raw(x)))
    return _lm.asarray(fn(n).astype(_lm.default_dtype()))


def bartlett(x):
    """Bartlett (triangular) window of ``x`` points, (x,)."""
    return _window("bartlett", _np.bartlett, x)


def blackman(x):
    """Blackman window of ``x`` points, (x,)."""
    return _window("blackman", _np.blackman, x)


def hamming(x):
    """Hamming window of ``x`` points, (x,)."""
    return _window("hamming", _np.hamming, x)


def hanning(x):
    """Hann window of ``x`` points, (x,)."""
    return _window("hanning", _np.hanning, x)


def kaiser(x, beta):
    """Kaiser window of ``x`` points with shape parameter ``beta``, (x,)."""
    return _window("kaiser", lambda n: _np.kaiser(n, float(_np.asarray(_raw(beta)))), x)


def vander(x, N=None, increasing=False):
    """Vandermonde matrix of 1-D ``x`` (n,) -> (n, N): powers of x, decreasing by default."""
    x = _t(x)
    if x.ndim != 1:
        raise ValueError(f"vander: expected a 1-D tensor, got shape {x.shape}")
    n = x.shape[0] if N is None else N
    cols = [_lm.ones_like(x) if p == 0 else x ** p for p in range(n)]
    if not increasing:
        cols = cols[::-1]
    return _lm.stack(cols, axis=1) if cols else _lm.zeros((x.shape[0], 0), dtype=x.dtype)


def meshgrid(*x, indexing="xy"):
    """Coordinate grids from 1-D tensors (``indexing`` 'xy' or 'ij'), as a list."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    xs = [_lm.reshape(_t(v), (-1,)) for v in x]
    shape = [v.shape[0] for v in xs]
    if indexing == "xy" and len(xs) > 1:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, v in enumerate(xs):
        s = [1] * len(xs)
        j = (1 - i if i < 2 else i) if indexing == "xy" and len(xs) > 1 else i
        s[j] = -1
        out.append(_lm.broadcast_to(_lm.reshape(v, tuple(s)), tuple(shape)))
    return out


# ------------------------------------------------------------------ shape and indexing
def append(x1, x2, axis=None):
    """``x2`` appended to ``x1`` along ``axis`` (both flattened when None)."""
    x1, x2 = _t(x1), _t(x2)
    if axis is None:
        return _lm.concatenate([_lm.reshape(x1, (-1,)), _lm.reshape(x2, (-1,))], axis=0)
    return _lm.concatenate([x1, x2], axis=axis)


def array_split(x, indices_or_sections, axis=0):
    """Split into ``indices_or_sections`` nearly equal parts (the first ones one longer) or
    at the given indices; a list of tensors."""
    x = _t(x)
    if isinstance(indices_or_sections, int):
        n, k = x.shape[axis], indices_or_sections
        if k <= 0:
            raise ValueError(f"array_split: the number of sections must be positive, got {k}")
        q, r = divmod(n, k)
        sizes = [q + 1] * r + [q] * (k - r)
        bounds = list(_np.cumsum(sizes)[:-1])
    else:
        bounds = list(indices_or_sections)
    ax = axis % x.ndim
    edges = [0] + [int(b) for b in bounds] + [x.shape[ax]]
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        idx = tuple(_builtins.slice(a, _builtins.max(a, b)) if i == ax else
                    _builtins.slice(None) for i in range(x.ndim))
        out.append(x[idx])
    return out


def hsplit(x, indices_or_sections):
    """Split along axis 1 (axis 0 for 1-D)."""
    x = _t(x)
    return _lm.split(x, indices_or_sections, axis=0 if x.ndim == 1 else 1)


def vsplit(x, indices_or_sections):
    """Split along axis 0."""
    return _lm.split(_t(x), indices_or_sections, axis=0)


def dsplit(x, indices_or_sections):
    """Split along axis 2."""
    return _lm.split(_t(x), indices_or_sections, axis=2)


def _atleast_3d(x):
    x = _t(x)
    if x.ndim == 0:
        return _lm.reshape(x, (1, 1, 1))
    if x.ndim == 1:
        return _lm.reshape(x, (1, -1, 1))
    if x.ndim == 2:
        return _lm.expand_dims(x, -1)
    return x


def dstack(xs):
    """Concatenate along axis 2 (inputs made at least 3-D)."""
    return _lm.concatenate([_atleast_3d(x) for x in xs], axis=2)


def fliplr(x):
    """Reverse axis 1."""
    return _lm.flip(x, 1)


def flipud(x):
    """Reverse axis 0."""
    return _lm.flip(x, 0)


def rot90(array, k=1, axes=(0, 1)):
    """Rotate by 90 degrees ``k`` times in the plane of ``axes``."""
    x = _t(array)
    a0, a1 = (a % x.ndim for a in axes)
    if a0 == a1:
        raise ValueError(f"rot90: axes must differ, got {axes}")
    k %= 4
    if k == 0:
        return x
    if k == 2:
        return _lm.flip(_lm.flip(x, a0), a1)
    if k == 1:
        return _lm.swapaxes(_lm.flip(x, a1), a0, a1)
    return _lm.flip(_lm.swapaxes(x, a0, a1), a1)


def diagonal(x, offset=0, axis1=0, axis2=1):
    """The ``offset`` diagonal of axes ``axis1``/``axis2``, moved to the last axis."""
    x = _t(x)
    a1, a2 = axis1 % x.ndim, axis2 % x.ndim
    if a1 == a2:
        raise ValueError(f"diagonal: axis1 and axis2 must differ, got {axis1} and {axis2}")
    z = _lm.transpose(x, tuple(i for i in range(x.ndim) if i not in (a1, a2)) + (a1, a2))
    r, c = z.shape[-2:]
    n = _builtins.max(0, _builtins.min(r, c - offset) if offset >= 0 else
                      _builtins.min(r + offset, c))
    i = _np.arange(n)
    rows, cols = (i, i + offset) if offset >= 0 else (i - offset, i)
    return z[..., rows, cols]


def diag(x, k=0):
    """The ``k``-th diagonal of a 2-D ``x``, or a square matrix with 1-D ``x`` on it."""
    x = _t(x)
    if x.ndim == 2:
        return diagonal(x, k)
    if x.ndim != 1:
        raise ValueError(f"diag: expected a 1-D or 2-D tensor, got shape {x.shape}")
    n = x.shape[0]
    m = n + _builtins.abs(k)
    i = _np.arange(n)
    r, c = (i, i + k) if k >= 0 else (i - k, i)
    # x scattered into the flat (m * m,) zeros at r * m + c (getitem's gradient, so it
    # differentiates), not a dense (m * m, n) placement matrix
    from ..ops.indexing import _scatter_into
    at = _xp(x).asarray(r * m + c)
    if x.dtype.kind not in "fc":
        z = _xp(x).zeros(m * m, dtype=x.dtype)
        z[at] = _raw(x)
        return _lm.asarray(z.reshape(m, m))
    return _lm.reshape(_scatter_into(x, at, (m * m,), False), (m, m))


def diagflat(x, k=0):
    """A square matrix with the flattened ``x`` on its ``k``-th diagonal."""
    return diag(_lm.reshape(_t(x), (-1,)), k)


def kron(x1, x2):
    """Kronecker product: block (i, j) is x1[i, j] * x2 (any number of axes)."""
    a, b = _t(x1), _t(x2)
    nd = _builtins.max(a.ndim, b.ndim)
    a = _lm.reshape(a, (1,) * (nd - a.ndim) + tuple(a.shape))
    b = _lm.reshape(b, (1,) * (nd - b.ndim) + tuple(b.shape))
    sa = []
    for d in range(nd):
        sa += [a.shape[d], 1]
    sb = []
    for d in range(nd):
        sb += [1, b.shape[d]]
    out = _lm.reshape(a, tuple(sa)) * _lm.reshape(b, tuple(sb))
    return _lm.reshape(out, tuple(a.shape[d] * b.shape[d] for d in range(nd)))


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """Cross product of 3-vectors (or 2-vectors, giving the z component) along the given
    axes, broadcasting the rest."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a = _lm.moveaxis(_t(x1), axisa, -1)
    b = _lm.moveaxis(_t(x2), axisb, -1)
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        raise ValueError(f"cross: the vector axes must have length 2 or 3, got shapes "
                         f"{_t(x1).shape} (axisa={axisa}) and {_t(x2).shape} (axisb={axisb})")
    a0, a1 = a[..., 0], a[..., 1]
    b0, b1 = b[..., 0], b[..., 1]
    a2 = a[..., 2] if a.shape[-1] == 3 else None
    b2 = b[..., 2] if b.shape[-1] == 3 else None
    z = a0 * b1 - a1 * b0
    if a2 is None and b2 is None:
        return z
    zero = _lm.zeros_like(z)
    a2 = zero + 0 if a2 is None else a2
    b2 = zero + 0 if b2 is None else b2
    out = _lm.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, z], axis=-1)
    return _lm.moveaxis(out, -1, axisc)


def inner(x1, x2):
    """Sum of products over the last axes: (..a, n), (..b, n) -> (..a, ..b)."""
    a, b = _t(x1), _t(x2)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return _tensordot_grad(a, b, ([a.ndim - 1], [b.ndim - 1]))


def vdot(x1, x2):
    """Dot product of the flattened inputs (a scalar)."""
    return _lm.sum(_lm.reshape(_t(x1), (-1,)) * _lm.reshape(_t(x2), (-1,)))


def get_item(x, key):
    """``x[key]``."""
    return _t(x)[key]


def slice_update(inputs, start_indices, updates):
    """``inputs`` with the block at ``start_indices`` replaced by ``updates``
    (differentiable in both)."""
    x, u = _t(inputs), _t(updates)
    starts = [int(s) for s in _np.asarray(_raw(start_indices)).reshape(-1)]
    if len(starts) != x.ndim or u.ndim != x.ndim:
        raise ValueError(f"slice_update: inputs {x.shape}, updates {u.shape} and "
                         f"start_indices {starts} must have the same number of axes")
    pads = [(s, n - s - k) for s, n, k in zip(starts, x.shape, u.shape)]
    if _builtins.any(p[1] < 0 or p[0] < 0 for p in pads):
        raise ValueError(f"slice_update: updates {u.shape} at {starts} do not fit in {x.shape}")
    mask = _np.zeros(x.shape, dtype=bool)
    mask[tuple(_builtins.slice(s, s + k) for s, k in zip(starts, u.shape))] = True
    return _lm.where(mask, _lm.pad(_lm.cast(u, x.dtype), tuple(pads)), x)


def scatter(indices, values, shape):
    """Zeros of ``shape`` with ``values`` added at ``indices`` (K, d); no gradient."""
    v = _t(values)
    xp = _xp(v)
    idx = _np.asarray(_raw(indices))
    out = xp.zeros(tuple(shape), dtype=v.dtype)
    xp.add.at(out, tuple(xp.asarray(idx[..., i]) for i in range(idx.shape[-1])), v.data)
    return _wrap(out)


def scatter_update(inputs, indices, updates, reduction=None):
    """``inputs`` with entries at ``indices`` (K, d) set to ``updates`` (or combined with
    ``reduction``: 'add', 'max', 'min', 'mul'); no gradient."""
    x = _t(inputs)
    xp = _xp(x)
    out = x.data.copy()
    idx = _np.asarray(_raw(indices))
    where_ = tuple(xp.asarray(idx[..., i]) for i in range(idx.shape[-1]))
    upd = _raw(updates).astype(out.dtype)
    if reduction is None:
        out[where_] = upd
    else:
        ufunc = {"add": xp.add, "max": xp.maximum, "min": xp.minimum, "mul": xp.multiply}
        if reduction not in ufunc:
            raise ValueError(f"scatter_update: reduction must be None, 'add', 'max', 'min' "
                             f"or 'mul', got {reduction!r}")
        ufunc[reduction].at(out, where_, upd)
    return _wrap(out)


def select(condlist, choicelist, default=0):
    """The first ``choicelist`` entry whose condition holds, else ``default``."""
    if len(condlist) != len(choicelist):
        raise ValueError(f"select: condlist ({len(condlist)}) and choicelist "
                         f"({len(choicelist)}) must have the same length")
    out = _t(default) if not isinstance(default, (int, float)) else default
    for c, v in zip(reversed(condlist), reversed(choicelist)):
        out = _lm.where(c, v, out)
    return _t(out)


def _segments(name, data, segment_ids, num_segments, init, ufunc):
    from ..backend import to_device
    d = _t(data)
    xp = _xp(d)
    ids = to_device(_raw(segment_ids), d.device)        # host ids follow GPU data
    n = int(num_segments) if num_segments is not None else (int(ids.max()) + 1 if ids.size else 0)
    out = xp.full((n,) + tuple(d.shape[1:]), init(d.dtype), dtype=d.dtype)
    keep = (ids >= 0) & (ids < n)
    getattr(xp, ufunc).at(out, ids[keep], d.data[keep])
    return _wrap(out)


def _dtype_bound(dt, low):
    dt = _np.dtype(dt)
    if dt.kind == "f":
        return -_np.inf if low else _np.inf
    info = _np.iinfo(dt)
    return info.min if low else info.max


def segment_sum(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Sum of ``data`` rows per segment id -> (num_segments, ...); differentiable."""
    d = _t(data)
    if d.dtype.kind not in "fc":
        return _segments("segment_sum", d, segment_ids, num_segments, lambda dt: 0, "add")
    from ..backend import to_device
    from ..ops.indexing import _scatter_into
    ids = to_device(_raw(segment_ids), d.device)
    n = int(num_segments) if num_segments is not None else (int(ids.max()) + 1 if ids.size else 0)
    # rows with an id in range, scatter-added (getitem's gradient, so it differentiates)
    kept = _xp(d).nonzero((ids >= 0) & (ids < n))[0]
    return _scatter_into(d[kept], ids[kept], (n,) + tuple(d.shape[1:]), True)


def segment_max(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Maximum of ``data`` rows per segment (empty segments: the dtype's lowest); no gradient."""
    return _segments("segment_max", data, segment_ids, num_segments,
                     lambda dt: _dtype_bound(dt, True), "maximum")


def segment_min(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Minimum of ``data`` rows per segment (empty segments: the dtype's highest); no gradient."""
    return _segments("segment_min", data, segment_ids, num_segments,
                     lambda dt: _dtype_bound(dt, False), "minimum")


def segment_prod(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Product of ``data`` rows per segment (empty segments: 1); no gradient."""
    return _segments("segment_prod", data, segment_ids, num_segments, lambda dt: 1, "multiply")


def extract_sequences(x, sequence_length, sequence_stride):
    """Frames of the last axis: (..., L) -> (..., num_frames, sequence_length)."""
    x = _t(x)
    n = (x.shape[-1] - sequence_length) // sequence_stride + 1
    idx = _np.arange(_builtins.max(n, 0))[:, None] * sequence_stride + \
        _np.arange(sequence_length)[None, :]
    return x[..., idx]


def space_to_depth(x, block_size, data_format="channels_last"):
    """(N, H, W, C) -> (N, H/b, W/b, b*b*C) (channels_first: (N, C, H, W) likewise)."""
    x = _t(x)
    b = int(block_size)
    if data_format == "channels_first":
        n, c, h, w = x.shape
        if h % b or w % b:
            raise ValueError(f"space_to_depth: height and width {(h, w)} must be multiples "
                             f"of block_size {b}")
        y = _lm.reshape(x, (n, c, h // b, b, w // b, b))
        return _lm.reshape(_lm.transpose(y, (0, 1, 3, 5, 2, 4)), (n, c * b * b, h // b, w // b))
    n, h, w, c = x.shape
    if h % b or w % b:
        raise ValueError(f"space_to_depth: height and width {(h, w)} must be multiples of "
                         f"block_size {b}")
    y = _lm.reshape(x, (n, h // b, b, w // b, b, c))
    return _lm.reshape(_lm.transpose(y, (0, 1, 3, 2, 4, 5)), (n, h // b, w // b, b * b * c))


def depth_to_space(x, block_size, data_format="channels_last"):
    """(N, H, W, b*b*C) -> (N, H*b, W*b, C) (channels_first likewise)."""
    x = _t(x)
    b = int(block_size)
    if data_format == "channels_first":
        n, c, h, w = x.shape
        if c % (b * b):
            raise ValueError(f"depth_to_space: channels {c} must be a multiple of "
                             f"block_size**2 = {b * b}")
        y = _lm.reshape(x, (n, c // (b * b), b, b, h, w))
        return _lm.reshape(_lm.transpose(y, (0, 1, 4, 2, 5, 3)), (n, c // (b * b), h * b, w * b))
    n, h, w, c = x.shape
    if c % (b * b):
        raise ValueError(f"depth_to_space: channels {c} must be a multiple of block_size**2 "
                         f"= {b * b}")
    y = _lm.reshape(x, (n, h, w, b, b, c // (b * b)))
    return _lm.reshape(_lm.transpose(y, (0, 1, 3, 2, 4, 5)), (n, h * b, w * b, c // (b * b)))


def view(x, dtype=None):
    """The same bytes read as ``dtype`` (no gradient)."""
    x = _t(x)
    return x if dtype is None else _wrap(x.data.view(_np.dtype(dtype)))


def saturate_cast(x, dtype):
    """``x`` clipped to ``dtype``'s range, then cast."""
    x = _t(x)
    dt = _np.dtype(dtype)
    if dt.kind in "iu":
        info = _np.iinfo(dt)
        lo, hi = float(info.min), float(info.max)
        if x.dtype.kind == "f":
            # the largest value of x's float type that does not exceed the int range
            hi = float(_np.nextafter(x.dtype.type(hi), x.dtype.type(0))) if \
                x.dtype.type(hi) > hi else hi
        return _lm.cast(_lm.clip(x, lo, hi), dt)
    if dt.kind == "f" and x.dtype.kind == "f":
        info = _np.finfo(dt)
        return _lm.cast(_lm.clip(x, float(info.min), float(info.max)), dt)
    return _lm.cast(x, dt)


# ------------------------------------------------------------------ linear algebra
def solve(a, b):
    """x with a @ x = b: ``a`` (..., M, M), ``b`` (..., M, K) or (M,)."""
    return _L.solve(a, b)


def solve_triangular(a, b, lower=False):
    """``solve`` with only the lower (or upper) triangle of ``a`` read."""
    a = _fl(a)
    return _L.solve(tril(a) if lower else triu(a), b)


def cholesky(x, upper=False):
    """Cholesky factor of symmetric positive-definite ``x``: lower L (L @ L^T = x), or its
    transpose when ``upper``."""
    L = _L.cholesky(x)
    return _lm.swapaxes(L, -1, -2) if upper else L


def cholesky_inverse(x, upper=False):
    """Inverse of A from its Cholesky factor ``x`` (A = L L^T, or U^T U when ``upper``)."""
    f = _fl(x)
    ft = _lm.swapaxes(f, -1, -2)
    return _L.inv(_lm.matmul(ft, f) if upper else _lm.matmul(f, ft))


def slogdet(x):
    """(sign, log|det|) of the square matrices ``x``."""
    d = _L.det(x)
    return _lm.sign(d).detach(), _lm.log(_lm.abs(d))


def logdet(x):
    """log(det(x)) (NaN for a negative determinant)."""
    return _lm.log(_L.det(x))


def _nograd_linalg(name, fn, *xs):
    try:
        return fn(_xp(xs[0]), *[_raw(_fl(x)) for x in xs])
    except _np.linalg.LinAlgError as e:
        raise ValueError(f"{name}: {e} (shapes {[tuple(_t(x).shape) for x in xs]})") from None


def eigh(x):
    """(eigenvalues ascending, eigenvectors as columns) of symmetric ``x``; no gradient."""
    w, v = _nograd_linalg("eigh", lambda xp, a: xp.linalg.eigh(a), x)
    return _wrap(w), _wrap(v)


def eig(x):
    """(eigenvalues, eigenvectors) of square ``x`` (complex in general); no gradient."""
    w, v = _nograd_linalg("eig", lambda xp, a: xp.linalg.eig(a), x)
    return _wrap(w), _wrap(v)


def qr(x, mode="reduced"):
    """(q, r) of ``x`` (..., M, N), ``mode`` 'reduced' or 'complete'; no gradient."""
    if mode not in ("reduced", "complete"):
        raise ValueError(f"qr: mode must be 'reduced' or 'complete', got {mode!r}")
    q, r = _nograd_linalg("qr", lambda xp, a: xp.linalg.qr(a, mode=mode), x)
    return _wrap(q), _wrap(r)


def lu_factor(x):
    """LU factorization with partial pivoting of ``x`` (..., M, N): (lu (..., M, N) holding
    L's multipliers below the diagonal and U on and above it, pivots (..., min(M, N))
    int32, 0-based: row i was swapped with row pivots[i] at step i), as LAPACK's getrf and
    scipy's lu_factor.  No gradient."""
    a = _fl(x)
    if a.ndim < 2:
        raise ValueError(f"lu_factor: expected matrices (..., M, N), got shape {a.shape}")
    xp = _xp(a)
    *batch, m, n = a.shape
    lu = a.data.reshape(-1, m, n).copy()
    rows = xp.arange(lu.shape[0])
    k = _builtins.min(m, n)
    piv = xp.zeros((lu.shape[0], k), dtype=_np.int32)
    for j in range(k):
        p = xp.argmax(xp.abs(lu[:, j:, j]), axis=1) + j      # first largest, as idamax
        piv[:, j] = p
        top = lu[:, j].copy()
        lu[:, j] = lu[rows, p]
        lu[rows, p] = top
        d = lu[:, j, j]
        # a zero pivot (a singular matrix) leaves its column as it is, as getrf does
        scale = xp.where(d != 0, d, 1)[:, None]
        lu[:, j + 1:, j] = xp.where((d != 0)[:, None], lu[:, j + 1:, j] / scale,
                                    lu[:, j + 1:, j])
        lu[:, j + 1:, j + 1:] -= lu[:, j + 1:, j, None] * lu[:, j, None, j + 1:]
    return _wrap(lu.reshape(a.shape)), _wrap(piv.reshape(tuple(batch) + (k,)))


def svd(x, full_matrices=True, compute_uv=True):
    """(u, s, vh) of ``x`` (..., M, N), or s alone; no gradient."""
    res = _nograd_linalg("svd", lambda xp, a: xp.linalg.svd(a, full_matrices=full_matrices,
                                                             compute_uv=compute_uv), x)
    return tuple(_wrap(r) for r in res) if compute_uv else _wrap(res)


def pinv(x, rcond=None):
    """Moore-Penrose pseudo-inverse (singular values below rcond * largest dropped);
    no gradient."""
    rc = 1e-15 if rcond is None else rcond
    return _wrap(_nograd_linalg("pinv", lambda xp, a: xp.linalg.pinv(a, rcond=rc), x))


def matrix_rank(x, tol=None):
    """Number of singular values above ``tol`` (default: NumPy's rule); int, no gradient."""
    return _wrap(_nograd_linalg("matrix_rank",
                                lambda xp, a: xp.asarray(xp.linalg.matrix_rank(a, tol=tol)), x))


def lstsq(a, b, rcond=None):
    """Least-squares x minimizing ||a @ x - b||: a (M, N), b (M,) or (M, K); no gradient."""
    return _wrap(_nograd_linalg("lstsq", lambda xp, p, q: xp.linalg.lstsq(p, q, rcond=rcond)[0],
                                a, b))


def cdist(x, y):
    """Euclidean distances between the rows of ``x`` (..., P, D) and ``y`` (..., R, D)
    -> (..., P, R)."""
    x, y = _fl(x), _fl(y)
    d = _lm.expand_dims(x, -2) - _lm.expand_dims(y, -3)
    return _lm.sqrt(_lm.sum(_lm.square(d), axis=-1))


# ------------------------------------------------------------------ FFT ((real, imag) pairs)
def _complex_in(name, x):
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"{name}: expected a tuple (real, imag) of two tensors, got {type(x)}")
    re, im = _fl(x[0]), _fl(x[1])
    if re.shape != im.shape:
        raise ValueError(f"{name}: real and imaginary parts differ in shape: {re.shape} vs "
                         f"{im.shape}")
    return re, im, _xp(re), re.data + 1j * im.data


def _complex_out(xp, c, dtype):
    return _wrap(xp.real(c).astype(dtype)), _wrap(xp.imag(c).astype(dtype))


def fft(x):
    """FFT over the last axis of (real, imag) -> (real, imag); no gradient."""
    re, _, xp, c = _complex_in("fft", x)
    return _complex_out(xp, xp.fft.fft(c, axis=-1), re.dtype)


def fft2(x):
    """2-D FFT over the last two axes of (real, imag) -> (real, imag); no gradient."""
    re, _, xp, c = _complex_in("fft2", x)
    return _complex_out(xp, xp.fft.fft2(c, axes=(-2, -1)), re.dtype)


def ifft2(x):
    """Inverse 2-D FFT over the last two axes of (real, imag) -> (real, imag); no gradient."""
    re, _, xp, c = _complex_in("ifft2", x)
    return _complex_out(xp, xp.fft.ifft2(c, axes=(-2, -1)), re.dtype)


def rfft(x, fft_length=None):
    """FFT of a real signal over the last axis -> (real, imag) of fft_length//2 + 1 bins."""
    x = _fl(x)
    xp = _xp(x)
    return _complex_out(xp, xp.fft.rfft(x.data, n=fft_length, axis=-1), x.dtype)


def irfft(x, fft_length=None):
    """Inverse of ``rfft``: (real, imag) -> real signal of ``fft_length``; no gradient."""
    re, _, xp, c = _complex_in("irfft", x)
    return _wrap(xp.fft.irfft(c, n=fft_length, axis=-1).astype(re.dtype))


# ------------------------------------------------------------------ nn: pooling, convolution
def _channels_last(x, data_format):
    x = _t(x)
    if data_format is None:
        from .keras_backend import image_data_format
        data_format = image_data_format()
    fmt = data_format
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}")
    if fmt == "channels_first":
        x = _lm.moveaxis(x, 1, -1)
    return x, fmt == "channels_first"


def _back_to(y, first):
    return _lm.moveaxis(y, -1, 1) if first else y


def _pool(name, kind, inputs, pool_size, strides, padding, data_format):
    from ..ops import pooling as _P
    x, first = _channels_last(inputs, data_format)
    nd = x.ndim - 2
    if nd not in (1, 2, 3):
        raise ValueError(f"{name}: expected a 3-D, 4-D or 5-D input (batch, spatial..., "
                         f"channels), got shape {x.shape}")
    fn = getattr(_P, f"{kind}_pool{nd}d")
    return _back_to(fn(x, pool_size, strides, padding.lower()), first)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Max pooling over the 1, 2 or 3 spatial axes of (N, ..., C) (or channels_first)."""
    return _pool("max_pool", "max", inputs, pool_size, strides, padding, data_format)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Average pooling over the 1, 2 or 3 spatial axes ('same' averages the real pixels)."""
    return _pool("average_pool", "avg", inputs, pool_size, strides, padding, data_format)


def _adaptive(name, reduce, inputs, output_size, data_format):
    x, first = _channels_last(inputs, data_format)
    nd = x.ndim - 2
    sizes = (output_size,) * nd if isinstance(output_size, int) else tuple(output_size)
    if len(sizes) != nd:
        raise ValueError(f"{name}: output_size {output_size} does not match the {nd} spatial "
                         f"axes of shape {x.shape}")
    for d, out in enumerate(sizes):
        ax = 1 + d
        n = x.shape[ax]
        parts = []
        for i in range(out):
            a, b = (i * n) // out, -((-(i + 1) * n) // out)
            idx = tuple(_builtins.slice(a, b) if j == ax else _builtins.slice(None)
                        for j in range(x.ndim))
            parts.append(reduce(x[idx], axis=ax, keepdims=True))
        x = _lm.concatenate(parts, axis=ax)
    return _back_to(x, first)


def adaptive_average_pool(inputs, output_size, data_format=None):
    """Average pooling to a fixed spatial ``output_size`` (PyTorch's bins)."""
    return _adaptive("adaptive_average_pool", _lm.mean, _fl(inputs), output_size, data_format)


def adaptive_max_pool(inputs, output_size, data_format=None):
    """Max pooling to a fixed spatial ``output_size`` (PyTorch's bins)."""
    return _adaptive("adaptive_max_pool", _lm.max, inputs, output_size, data_format)


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """N-D convolution (N = 1, 2, 3) with a Keras kernel (spatial..., C_in/groups, C_out)."""
    from ..ops import conv as _C
    x, first = _channels_last(inputs, data_format)
    k = _t(kernel)
    nd = x.ndim - 2
    if nd not in (1, 2, 3) or k.ndim != nd + 2:
        raise ValueError(f"conv: input {x.shape} and kernel {k.shape} must have 1, 2 or 3 "
                         f"spatial axes (kernel: spatial..., in/groups, out)")
    if x.shape[-1] % k.shape[-2]:
        raise ValueError(f"conv: input channels {x.shape[-1]} are not a multiple of the "
                         f"kernel's {k.shape[-2]}")
    groups = x.shape[-1] // k.shape[-2]
    pad = padding.lower()
    if nd == 3:
        if groups != 1:
            raise ValueError("conv: grouped 3-D convolution is not supported by lamina")
        y = _C.conv3d(x, k, strides=strides, padding=pad, dilation_rate=dilation_rate)
    else:
        y = getattr(_C, f"conv{nd}d")(x, k, strides=strides, padding=pad,
                                      dilation_rate=dilation_rate, groups=groups)
    return _back_to(y, first)


def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1):
    """Transposed 1-D or 2-D convolution, kernel (spatial..., C_out, C_in) as Keras."""
    from ..ops import conv as _C
    x, first = _channels_last(inputs, data_format)
    nd = x.ndim - 2
    if nd not in (1, 2):
        raise ValueError(f"conv_transpose: lamina supports 1 or 2 spatial axes, got input "
                         f"shape {x.shape}")
    y = getattr(_C, f"conv{nd}d_transpose")(x, kernel, strides=strides, padding=padding.lower(),
                                            output_padding=output_padding,
                                            dilation_rate=dilation_rate)
    return _back_to(y, first)


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    """Depthwise 1-D or 2-D convolution, kernel (spatial..., C, multiplier)."""
    from ..ops import conv as _C
    x, first = _channels_last(inputs, data_format)
    k = _t(kernel)
    if x.ndim == 3:
        s = strides if isinstance(strides, int) else strides[0]
        d = dilation_rate if isinstance(dilation_rate, int) else dilation_rate[0]
        y = _C.depthwise_conv2d(_lm.expand_dims(x, 1), _lm.expand_dims(k, 0),
                                strides=(1, s), padding=padding.lower(), dilation_rate=(1, d))
        y = _lm.squeeze(y, 1)
    elif x.ndim == 4:
        y = _C.depthwise_conv2d(x, k, strides=strides, padding=padding.lower(),
                                dilation_rate=dilation_rate)
    else:
        raise ValueError(f"depthwise_conv: expected a 3-D or 4-D input, got shape {x.shape}")
    return _back_to(y, first)


def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid",
                   data_format=None, dilation_rate=1):
    """Depthwise convolution followed by a 1x1 convolution with ``pointwise_kernel``."""
    y = depthwise_conv(inputs, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return conv(y, pointwise_kernel, 1, "valid", data_format, 1)


def _fold_geometry(name, x, kernel_size, dilation, padding, stride):
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    return pair(kernel_size), pair(dilation), pair(padding), pair(stride)


def _unfold_index(h, w, k, d, p, s):
    hp, wp = h + 2 * p[0], w + 2 * p[1]
    oh = (hp - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (wp - d[1] * (k[1] - 1) - 1) // s[1] + 1
    ki, kj = _np.meshgrid(_np.arange(k[0]) * d[0], _np.arange(k[1]) * d[1], indexing="ij")
    oi, oj = _np.meshgrid(_np.arange(oh) * s[0], _np.arange(ow) * s[1], indexing="ij")
    rows = ki.reshape(-1, 1) + oi.reshape(1, -1)        # (kh*kw, L)
    cols = kj.reshape(-1, 1) + oj.reshape(1, -1)
    return rows, cols


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding blocks of (N, C, H, W) -> (N, C*kh*kw, L), PyTorch's unfold (im2col)."""
    x = _t(x)
    if x.ndim != 4:
        raise ValueError(f"unfold: expected (N, C, H, W), got shape {x.shape}")
    k, d, p, s = _fold_geometry("unfold", x, kernel_size, dilation, padding, stride)
    n, c, h, w = x.shape
    xp_ = _lm.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    rows, cols = _unfold_index(h, w, k, d, p, s)
    blocks = xp_[:, :, rows, cols]                      # (N, C, kh*kw, L)
    return _lm.reshape(blocks, (n, c * k[0] * k[1], rows.shape[1]))


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum sliding blocks (N, C*kh*kw, L) back into (N, C, H, W), PyTorch's fold (the
    adjoint of ``unfold``)."""
    x = _fl(x)
    k, d, p, s = _fold_geometry("fold", x, kernel_size, dilation, padding, stride)
    h, w = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    n, ck, L = x.shape
    if ck % (k[0] * k[1]):
        raise ValueError(f"fold: axis 1 ({ck}) must be a multiple of kh*kw = {k[0] * k[1]}")
    c = ck // (k[0] * k[1])
    rows, cols = _unfold_index(h, w, k, d, p, s)
    if rows.shape[1] != L:
        raise ValueError(f"fold: {L} blocks given, the geometry makes {rows.shape[1]}")
    hp, wp = h + 2 * p[0], w + 2 * p[1]
    flat = (rows * wp + cols).reshape(-1)              # (kh*kw*L,) into hp*wp
    # each block value added into its pixel (a scatter-add with getitem's gradient; a
    # dense placement matrix was hp*wp x kh*kw*L: 42 MB for a padded 32x32 image, 3x3)
    from ..ops.indexing import _scatter_into
    cols_first = _lm.transpose(_lm.reshape(x, (n, c, -1)), (2, 0, 1))   # (kh*kw*L, N, C)
    y = _scatter_into(cols_first, _xp(x).asarray(flat), (hp * wp, n, c), True)
    y = _lm.reshape(_lm.transpose(y, (1, 2, 0)), (n, c, hp, wp))
    return y[:, :, p[0]:p[0] + h, p[1]:p[1] + w]


# ------------------------------------------------------------------ nn: normalization, attention
def _epsilon():
    from .keras_backend import epsilon
    return float(epsilon())


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """(x - mean) / sqrt(variance + epsilon) * scale + offset, the statistics (C,) along
    ``axis`` of ``x``."""
    x = _fl(x)
    shape = [1] * x.ndim
    shape[axis % x.ndim] = x.shape[axis % x.ndim]
    r = lambda v: _lm.reshape(_lm.cast(_t(v), x.dtype), tuple(shape))  # noqa: E731
    y = (x - r(mean)) * _lm.rsqrt(r(variance) + float(epsilon))
    if scale is not None:
        y = y * r(scale)
    if offset is not None:
        y = y + r(offset)
    return y


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    """(x - mean) / sqrt(var + epsilon) over ``axis``, times ``gamma`` plus ``beta``."""
    if kwargs.get("rms_scaling"):
        return rms_normalization(x, gamma, axis, epsilon)
    x = _fl(x)
    axes = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    eps = _epsilon() if epsilon is None else float(epsilon)
    if len(axes) == 1 and axes[0] in (-1, x.ndim - 1) and x.ndim >= 2:
        # the last axis: LayerNormalization's own fused op (one node, compiled with numba)
        from .layers.normalization import normalize_affine
        g, b = (None if p is None else _lm.cast(_t(p), x.dtype) for p in (gamma, beta))
        if _builtins.all(p is None or p.size == x.shape[-1] for p in (g, b)):
            return normalize_affine(x, g, b, (x.ndim - 1,), eps)[0]
    m = _lm.mean(x, axis=axes, keepdims=True)
    v = _lm.var(x, axis=axes, keepdims=True)
    y = (x - m) * _lm.rsqrt(v + eps)
    if gamma is not None:
        y = y * _lm.cast(_t(gamma), x.dtype)
    if beta is not None:
        y = y + _lm.cast(_t(beta), x.dtype)
    return y


def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    """x / sqrt(mean(x**2) + epsilon) over ``axis``, times ``scale``."""
    x = _fl(x)
    axes = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    eps = _epsilon() if epsilon is None else float(epsilon)
    y = x * _lm.rsqrt(_lm.mean(_lm.square(x), axis=axes, keepdims=True) + eps)
    return y if scale is None else y * _lm.cast(_t(scale), x.dtype)


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    """Scaled dot-product attention, Keras's layout: query (B, T, N, H), key and value
    (B, S, K, H) with N a multiple of K (grouped heads) -> (B, T, N, H)."""
    q, k, v = _fl(query), _fl(key), _fl(value)
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError(f"dot_product_attention: expected 4-D (batch, length, heads, dim) "
                         f"query, key and value; got {q.shape}, {k.shape}, {v.shape}")
    n, kh = q.shape[2], k.shape[2]
    if n % kh:
        raise ValueError(f"dot_product_attention: {n} query heads are not a multiple of "
                         f"{kh} key heads")
    if n != kh:
        k = _lm.repeat(k, n // kh, axis=2)
        v = _lm.repeat(v, n // kh, axis=2)
    sc = float(1.0 / _np.sqrt(q.shape[-1])) if scale is None else float(scale)
    if bias is None and attn_logits_soft_cap is None:
        # lamina's fused attention op over (B, N, T, H): one node with its own backward
        from ..ops.attention import scaled_dot_product_attention
        heads = (0, 2, 1, 3)
        y = scaled_dot_product_attention(_lm.transpose(q, heads), _lm.transpose(k, heads),
                                         _lm.transpose(v, heads), mask=mask,
                                         causal=bool(is_causal), scale=sc)
        return _lm.transpose(y, heads)
    logits = _lm.einsum("btnh,bsnh->bnts", q, k) * sc
    if attn_logits_soft_cap is not None:
        cap = float(attn_logits_soft_cap)
        logits = _lm.tanh(logits * (1 / cap)) * cap
    if bias is not None:
        logits = logits + _lm.cast(_t(bias), logits.dtype)
    allowed = None
    if mask is not None:
        allowed = _np.asarray(_raw(mask)).astype(bool)
    if is_causal:
        t, s = logits.shape[-2:]
        causal = _np.tril(_np.ones((t, s), dtype=bool))
        allowed = causal if allowed is None else allowed & causal
    if allowed is not None:
        big = float(_np.finfo(logits.dtype).min) / 2 if logits.dtype == _np.float32 else -1e30
        logits = _lm.where(allowed, logits, big)
    w = _lm.softmax(logits, axis=-1)
    return _lm.einsum("bnts,bsnh->btnh", w, v)


def psnr(x1, x2, max_val):
    """Peak signal-to-noise ratio: 20 log10(max_val) - 10 log10(mean((x1 - x2)**2))."""
    x1, x2 = _fl(x1), _fl(x2)
    mse = _lm.mean(_lm.square(x1 - x2))
    return float(20 * _np.log10(float(max_val))) - log10(mse) * 10.0


# ------------------------------------------------------------------ control flow
def cond(pred, true_fn, false_fn):
    """``true_fn()`` if ``pred`` else ``false_fn()`` (eager: only one branch runs)."""
    return true_fn() if bool(_np.asarray(_raw(pred))) else false_fn()


def switch(index, branches, *operands):
    """``branches[index](*operands)``, the index clipped to the valid range."""
    i = int(_np.clip(int(_np.asarray(_raw(index))), 0, len(branches) - 1))
    return branches[i](*operands)


def fori_loop(lower, upper, body_fun, init_val):
    """val = body_fun(i, val) for i in [lower, upper)."""
    val = init_val
    for i in range(int(_np.asarray(_raw(lower))), int(_np.asarray(_raw(upper)))):
        val = body_fun(i, val)
    return val


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """Apply ``body`` to ``loop_vars`` while ``cond(*loop_vars)`` holds (at most
    ``maximum_iterations`` times); a single tensor or a tuple/list is accepted and returned."""
    single = not isinstance(loop_vars, (tuple, list))
    vs = (loop_vars,) if single else tuple(loop_vars)
    n = 0
    while (maximum_iterations is None or n < maximum_iterations) and \
            bool(_np.asarray(_raw(cond(*vs)))):
        out = body(*vs)
        vs = (out,) if single or not isinstance(out, (tuple, list)) else tuple(out)
        n += 1
    return vs[0] if single else (list(vs) if isinstance(loop_vars, list) else vs)


def _stack_tree(items, axis=0):
    """A list of equally structured trees -> one tree with stacked leaves."""
    first = items[0]
    if first is None:
        return None
    if isinstance(first, dict):
        return {k: _stack_tree([it[k] for it in items], axis) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_stack_tree([it[i] for it in items], axis) for i in range(len(first)))
    return _lm.stack([_t(it) for it in items], axis=axis)


def _index_tree(tree, i, axis=0):
    if tree is None:
        return None
    if isinstance(tree, dict):
        return {k: _index_tree(v, i, axis) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(_index_tree(v, i, axis) for v in tree)
    return _lm.take(_t(tree), i, axis=axis)


def _tree_len(tree, axis=0):
    if isinstance(tree, dict):
        return _tree_len(next(iter(tree.values())), axis)
    if isinstance(tree, (tuple, list)):
        return _tree_len(tree[0], axis)
    return _t(tree).shape[axis]


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """carry, y = f(carry, x) over the leading axis of ``xs`` (or ``length`` steps with
    x None); returns (final carry, the ys stacked)."""
    n = _tree_len(xs) if xs is not None else length
    if n is None:
        raise ValueError("scan: give xs or length")
    carry, ys = init, []
    order = range(n - 1, -1, -1) if reverse else range(n)
    for i in order:
        carry, y = f(carry, None if xs is None else _index_tree(xs, i))
        ys.append(y)
    if reverse:
        ys.reverse()
    return carry, (_stack_tree(ys) if ys else None)


def associative_scan(f, elems, reverse=False, axis=0):
    """Inclusive scan with the associative ``f`` along ``axis`` of ``elems`` (a tensor or
    a tree of them), as running f-combinations."""
    n = _tree_len(elems, axis)
    order = list(range(n - 1, -1, -1)) if reverse else list(range(n))
    acc, out = None, [None] * n
    for i in order:
        e = _index_tree(elems, i, axis)
        acc = e if acc is None else (f(e, acc) if reverse else f(acc, e))
        out[i] = acc
    return _stack_tree(out, axis)


def map(f, xs):  # noqa: A001 - Keras's name
    """f applied to each slice of ``xs`` along axis 0, the results stacked."""
    return _stack_tree([f(_index_tree(xs, i)) for i in range(_tree_len(xs))])


def vectorized_map(function, elements):
    """Like ``map``: ``function`` on each slice of ``elements`` along axis 0, stacked."""
    return map(function, elements)


def vectorize(pyfunc, *, excluded=None, signature=None):
    """``pyfunc`` applied over the broadcast leading axes of its tensor arguments; with a
    ``signature`` like "(m,n),(n)->(m)" the named trailing axes are passed whole."""
    import functools
    excluded = set(excluded or ())

    def parse(sig):
        import re
        ins, out = sig.replace(" ", "").split("->")
        core = [len([d for d in g.split(",") if d]) for g in re.findall(r"\(([^)]*)\)", ins)]
        return core

    @functools.wraps(pyfunc)
    def wrapped(*args, **kwargs):
        idx = [i for i in range(len(args)) if i not in excluded]
        core = parse(signature) if signature else [0] * len(idx)
        if len(core) != len(idx):
            raise ValueError(f"vectorize: signature {signature!r} names {len(core)} inputs, "
                             f"{len(idx)} given")
        ts = {i: _t(args[i]) for i in idx}
        batch = _np.broadcast_shapes(*[tuple(ts[i].shape[:ts[i].ndim - c])
                                       for i, c in zip(idx, core)])
        bt = {i: _lm.broadcast_to(ts[i], batch + tuple(ts[i].shape[ts[i].ndim - c:]))
              for i, c in zip(idx, core)}
        flat = {i: _lm.reshape(bt[i], (-1,) + tuple(bt[i].shape[len(batch):])) for i in idx}
        m = int(_np.prod(batch)) if batch else 1
        outs = []
        for j in range(m):
            a = list(args)
            for i in idx:
                a[i] = flat[i][j]
            outs.append(pyfunc(*a, **kwargs))
        y = _stack_tree(outs)

        def shape_back(t):
            return _lm.reshape(t, batch + tuple(t.shape[1:]))
        if isinstance(y, (tuple, list)):
            return type(y)(shape_back(t) for t in y)
        return shape_back(y)
    return wrapped


def jvp(fun, primals, tangents, has_aux=False):
    """(fun(*primals), J @ tangents) (and aux with ``has_aux``), by differentiating a
    vector-Jacobian product once more."""
    from ..autograd import gradients, enable_grad
    with enable_grad():
        xs = [_lm.tensor(_raw(p), requires_grad=True) for p in primals]
        res = fun(*xs)
        out, aux = res if has_aux else (res, None)
        single = isinstance(out, _lm.Tensor)
        outs = [out] if single else list(out)
        us = [_lm.tensor(_np.zeros(o.shape, o.dtype), requires_grad=True) for o in outs]
        gs = gradients(outs, xs, grad_outputs=us, create_graph=True, allow_unused=True)
        total = None
        for g, t in zip(gs, tangents):
            if g is None:
                continue
            term = _lm.sum(g * _lm.cast(_t(t), g.dtype))
            total = term if total is None else total + term
        if total is None:
            jv = [_lm.zeros_like(o) for o in outs]
        else:
            jv = gradients(total, us, allow_unused=True)
            jv = [_lm.zeros_like(o) if j is None else j.detach() for j, o in zip(jv, outs)]
    primal_out = outs[0].detach() if single else type(out)(o.detach() for o in outs)
    tangent_out = jv[0] if single else type(out)(jv)
    return (primal_out, tangent_out, aux) if has_aux else (primal_out, tangent_out)


# ------------------------------------------------------------------ rearrange (einops)
def _einops_side(op, text):
    """Tokens of one side of an einops pattern: '...', a name, or a tuple of names (a
    parenthesized group)."""
    import re
    tokens = []
    for tok in re.findall(r"\.\.\.|\([^()]*\)|[^\s()]+|[()]", text):
        if tok in ("(", ")"):
            raise ValueError(f"{op}: unbalanced parentheses in {text!r}")
        if tok.startswith("("):
            names = tuple(tok[1:-1].split())
            if not _builtins.all(nm.isidentifier() for nm in names):
                raise ValueError(f"{op}: a group holds axis names only, got {tok!r}")
            tokens.append(names)
        elif tok == "..." or tok.isidentifier():
            tokens.append(tok)
        else:
            raise ValueError(f"{op}: {tok!r} is not an axis name in {text!r}")
    return tokens


def rearrange(tensor, pattern, **axes_lengths):
    """Reorder, merge and split axes by an einops pattern, e.g. 'b h w c -> b c h w',
    'b (h1 h) w c -> (b h1) h w c' with h1=2, '... c -> c ...': axis names on the left
    name the input's axes (a group splits one axis, lengths from ``axes_lengths``, at
    most one inferred), the right side lists every name once (a group merges axes)."""
    op = "rearrange"
    x = _t(tensor)
    if pattern.count("->") != 1:
        raise ValueError(f"{op}: the pattern must read 'input axes -> output axes', got "
                         f"{pattern!r}")
    left, right = (_einops_side(op, p) for p in pattern.split("->"))
    n_ell = x.ndim - (len(left) - left.count("..."))
    if left.count("...") > 1 or (n_ell != 0 and "..." not in left) or n_ell < 0:
        raise ValueError(f"{op}: the pattern's input side {pattern.split('->')[0].strip()!r} "
                         f"does not match an input of shape {x.shape}")
    sizes, order = dict(axes_lengths), []
    dims = iter(x.shape)
    for tok in left:
        if tok == "...":
            for i in range(n_ell):
                sizes[f"...{i}"] = next(dims)
                order.append(f"...{i}")
            continue
        dim = next(dims)
        names = (tok,) if isinstance(tok, str) else tok
        unknown = [nm for nm in names if nm not in sizes]
        known = int(_np.prod([sizes[nm] for nm in names if nm in sizes]))
        if len(unknown) > 1:
            raise ValueError(f"{op}: give the lengths of all but one of {names} "
                             f"(axes_lengths)")
        if unknown:
            if known == 0 or dim % known:
                raise ValueError(f"{op}: axis of length {dim} cannot split into {names} with "
                                 f"{ {nm: sizes[nm] for nm in names if nm in sizes} }")
            sizes[unknown[0]] = dim // known
        elif known != dim:
            raise ValueError(f"{op}: axis {names} has length {dim}, but the given lengths "
                             f"make {known}")
        for nm in names:
            if nm in order:
                raise ValueError(f"{op}: axis name {nm!r} appears twice on the input side")
            order.append(nm)
    out_names, out_shape = [], []
    for tok in right:
        names = [f"...{i}" for i in range(n_ell)] if tok == "..." else \
            ([tok] if isinstance(tok, str) else list(tok))
        out_names += names
        if tok == "...":
            out_shape += [sizes[nm] for nm in names]
        else:
            out_shape.append(int(_np.prod([sizes.get(nm, 1) for nm in names])))
    if sorted(out_names) != sorted(order):
        raise ValueError(f"{op}: the output side must use each input axis once: input "
                         f"{[nm for nm in order if not nm.startswith('...')]}, output "
                         f"{[nm for nm in out_names if not nm.startswith('...')]}")
    y = _lm.reshape(x, tuple(sizes[nm] for nm in order))
    perm = [order.index(nm) for nm in out_names]
    if perm != sorted(perm):
        y = _lm.transpose(y, perm)
    return _lm.reshape(y, tuple(out_shape))


# short-time Fourier transforms and complex helpers
from . import keras_ops_signal as _signal  # noqa: E402
stft, istft, polar = _signal.stft, _signal.istft, _signal.polar
view_as_complex, view_as_real = _signal.view_as_complex, _signal.view_as_real
