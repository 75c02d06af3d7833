"""Losses with Keras 3's names, formulas, shape rules and reductions.

Two forms, as in Keras:

* functions ``mean_squared_error(y_true, y_pred)`` etc. return the per-sample loss,
  i.e. the elementwise loss reduced over the last axis: (batch, d0, .., dN) -> (batch, .., dN-1);
* classes ``MeanSquaredError(reduction=..., name=...)`` are called as
  ``loss(y_true, y_pred, sample_weight=None)`` and return a scalar Tensor
  ("sum_over_batch_size" = sum / number of per-sample values, "sum") or the weighted
  per-sample values ("none").

``get(identifier)`` always returns such a callable ``Loss`` object (a string, a dict, a
class, an instance, or a plain function ``fn(y_true, y_pred) -> per-sample values``,
which is wrapped in ``LossFunctionWrapper`` and named after the function), so a training
loop can call whatever it gets as ``loss(y_true, y_pred, sample_weight)``.

Shape rules (Keras's ``squeeze_or_expand_to_same_rank``): a target of shape (n,) against
a prediction of shape (n, 1) is expanded to (n, 1), never broadcast to (n, n); sparse
targets of shape (N, T) and (N, T, 1) both work against (N, T, V); float-valued
integer targets work for the sparse loss.  Probabilities are clipped to [eps, 1 - eps]
as Keras does (eps: keras.config.epsilon(), 1e-7 by default, read when a loss runs); the cross-entropies on probabilities and on logits are single fused
nodes (hand-written backward on raw arrays, checked against finite differences and
PyTorch in the tests); asking for a second derivative through the probability forms
raises an error.  Without sample weights, the from-logits classes reduce inside the fused
node too (one node per loss).
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import GradMode
from ..ops import elementwise as _E
from ..ops import reduction as _R
from ..ops import shape as _S
from ..ops.base import Tensor, as_tensor, needs_grad, record, wrap, xp_of
from ..ops.nn import (binary_cross_entropy_with_logits as _bce_logits,
                      cross_entropy as _cross_entropy)
from ._registry import ConfigObject, FunctionWrapperConfig, Kind, bind_options
from . import keras_backend as _kb
from .layers.base import to_snake_case as _snake

def _eps():
    """Keras's fuzz factor, keras.config.epsilon() (1e-7 unless set_epsilon changed it): the
    losses read it when they run, as Keras's do."""
    return _kb.epsilon()

__all__ = ["Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError",
           "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "Huber", "LogCosh",
           "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
           "KLDivergence", "Poisson", "Hinge", "SquaredHinge", "CategoricalHinge",
           "CosineSimilarity", "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy",
           "binary_focal_crossentropy", "categorical_focal_crossentropy", "Dice", "Tversky",
           "dice", "tversky", "CTC", "ctc", "mean_squared_error",
           "mean_absolute_error",
           "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "huber",
           "log_cosh", "binary_crossentropy", "categorical_crossentropy",
           "sparse_categorical_crossentropy", "kl_divergence", "poisson", "hinge",
           "squared_hinge", "categorical_hinge", "cosine_similarity", "mse", "mae", "mape",
           "msle", "kld", "get", "serialize", "deserialize", "squeeze_or_expand_to_same_rank"]


# ------------------------------------------------------------------ helpers
def _pred(y_pred):
    return _E._float_in(y_pred)


def _half_to_float32(y_pred):
    """Half-precision predictions (mixed precision) cast to float32: losses are computed
    in float32, as in Keras; anything else is returned as it is."""
    if isinstance(y_pred, Tensor) and y_pred.data.dtype.itemsize < 4 and \
            y_pred.data.dtype.kind in "fV":
        return _E.cast(y_pred, np.float32)
    return y_pred


def _true(y_true, y_pred):
    """``y_true`` as a tensor of ``y_pred``'s float dtype and device."""
    pd = y_pred.data
    if isinstance(y_true, Tensor):
        if type(y_true.data) is not type(pd) and y_true.device != y_pred.device:
            # targets follow the prediction, which carries the graph (as in Keras)
            y_true = _E.to_device(y_true, y_pred.device)
        if y_true.data.dtype != pd.dtype:
            y_true = _E.cast(y_true, pd.dtype)
        return y_true
    if type(y_true) is not type(pd) and hasattr(y_true, "shape"):
        y_true = backend.to_device(y_true, backend.device_of(pd))
    return as_tensor(y_true, dtype=pd.dtype, like=y_pred)


def _raw_on(x, like):
    """The raw array of ``x`` (a Tensor, an array or a list) on the device of tensor
    ``like`` (``xp.asarray`` cannot take a CuPy array to the host)."""
    x = x.data if isinstance(x, Tensor) else x
    ld = like.data
    return x if type(x) is type(ld) else backend.to_device(x, backend.device_of(ld))


def _expand_last(x):
    return _S.expand_dims(x, -1) if isinstance(x, Tensor) else x[..., None]


def _squeeze_last(x):
    return _S.squeeze(x, -1) if isinstance(x, Tensor) else x[..., 0]


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Make ranks equal when they differ by one and the longer ends in 1 (as Keras):
    (n,) vs (n, 1) -> (n, 1) vs (n, 1); (n, m, 1) vs (n, m) -> (n, m) vs (n, m).
    Tensors stay on the graph; raw NumPy/CuPy arrays (the metrics') stay arrays."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2:
        return x1, x2
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = _expand_last(x2)
        else:
            x1 = _squeeze_last(x1)
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = _expand_last(x1)
        else:
            x2 = _squeeze_last(x2)
    return x1, x2


def _check_target_shape(y_true, y_pred, who, broadcast=True):
    """ValueError naming ``who`` unless y_true's shape equals y_pred's or (``broadcast``)
    broadcasts to it without growing it (Tensors or raw arrays; the metrics share it)."""
    ts, ps = tuple(y_true.shape), tuple(y_pred.shape)
    if ts != ps:
        ok = False
        if broadcast:
            try:
                ok = np.broadcast_shapes(ts, ps) == ps
            except ValueError:
                ok = False
        if not ok:
            raise ValueError(f"{who}: y_true of shape {ts} does not match y_pred of shape {ps}")


def _pair(y_true, y_pred, who, broadcast=True):
    """Both as float tensors of matching rank; ValueError naming ``who`` when the target
    would have to broadcast the prediction to a bigger shape."""
    y_pred = _pred(y_pred)
    y_true = _true(y_true, y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    _check_target_shape(y_true, y_pred, who, broadcast)
    return y_true, y_pred


# ------------------------------------------------------ regression losses
def mean_squared_error(y_true, y_pred):
    """mean((y_true - y_pred) ** 2, axis=-1): (batch, ..., d) -> (batch, ...)."""
    y_true, y_pred = _pair(y_true, y_pred, "mean_squared_error")
    return _R.mean(_E.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """mean(|y_true - y_pred|, axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred, "mean_absolute_error")
    return _R.mean(_E.abs(y_pred - y_true), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """100 * mean(|(y_true - y_pred) / max(|y_true|, 1e-7)|, axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred, "mean_absolute_percentage_error")
    diff = _E.abs((y_true - y_pred) / _E.maximum(_E.abs(y_true), _eps()))
    return _R.mean(diff, axis=-1) * 100.0


def mean_squared_logarithmic_error(y_true, y_pred):
    """mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)) ** 2, axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred, "mean_squared_logarithmic_error")
    a = _E.log(_E.maximum(y_pred, _eps()) + 1.0)
    b = _E.log(_E.maximum(y_true, _eps()) + 1.0)
    return _R.mean(_E.square(a - b), axis=-1)


def huber(y_true, y_pred, delta=1.0):
    """mean(0.5 e**2 if |e| <= delta else delta |e| - 0.5 delta**2, axis=-1),
    e = y_pred - y_true."""
    y_true, y_pred = _pair(y_true, y_pred, "huber")
    err = y_pred - y_true
    a = _E.abs(err)
    quad = _E.square(err) * 0.5
    lin = a * float(delta) - 0.5 * float(delta) ** 2
    return _R.mean(_E.where(_E.less_equal(a, float(delta)), quad, lin), axis=-1)


_LOG2 = math.log(2.0)


def log_cosh(y_true, y_pred):
    """mean(log(cosh(y_pred - y_true)), axis=-1), computed as x + softplus(-2x) - log 2."""
    y_true, y_pred = _pair(y_true, y_pred, "log_cosh")
    x = y_pred - y_true
    return _R.mean(x + _E.softplus(x * -2.0) - _LOG2, axis=-1)


def kl_divergence(y_true, y_pred):
    """sum(t * log(t / p), axis=-1) with t, p clipped to [1e-7, 1]."""
    y_true, y_pred = _pair(y_true, y_pred, "kl_divergence")
    t = _E.clip(y_true, _eps(), 1.0)
    p = _E.clip(y_pred, _eps(), 1.0)
    return _R.sum(t * _E.log(t / p), axis=-1)


def poisson(y_true, y_pred):
    """mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred, "poisson")
    return _R.mean(y_pred - y_true * _E.log(y_pred + _eps()), axis=-1)


def _hinge_labels(y_true):
    """0/1 labels become -1/1 (only when every label is 0 or 1, as Keras)."""
    xp = xp_of(y_true)
    d = y_true.data
    if bool(xp.all((d == 0) | (d == 1))):
        return y_true * 2.0 - 1.0
    return y_true


def hinge(y_true, y_pred):
    """mean(max(1 - y_true * y_pred, 0), axis=-1); 0/1 labels are mapped to -1/1."""
    y_true, y_pred = _pair(y_true, y_pred, "hinge")
    return _R.mean(_E.relu(1.0 - _hinge_labels(y_true) * y_pred), axis=-1)


def squared_hinge(y_true, y_pred):
    """mean(max(1 - y_true * y_pred, 0) ** 2, axis=-1); 0/1 labels are mapped to -1/1."""
    y_true, y_pred = _pair(y_true, y_pred, "squared_hinge")
    return _R.mean(_E.square(_E.relu(1.0 - _hinge_labels(y_true) * y_pred)), axis=-1)


def categorical_hinge(y_true, y_pred):
    """max(max((1 - t) * p, axis=-1) - sum(t * p, axis=-1) + 1, 0)."""
    y_true, y_pred = _pair(y_true, y_pred, "categorical_hinge")
    pos = _R.sum(y_true * y_pred, axis=-1)
    neg = _R.max((1.0 - y_true) * y_pred, axis=-1)
    return _E.relu(neg - pos + 1.0)


def _l2_normalize(x, axis):
    ss = _R.sum(_E.square(x), axis=axis, keepdims=True)
    return x * _E.rsqrt(_E.maximum(ss, 1e-12))


def cosine_similarity(y_true, y_pred, axis=-1):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis): -1 when aligned."""
    y_true, y_pred = _pair(y_true, y_pred, "cosine_similarity")
    return -_R.sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis=axis)


def dice(y_true, y_pred, axis=None):
    """1 - 2 sum(t p) / (sum(t) + sum(p) + 1e-7), summed over ``axis`` (None: everything,
    giving one scalar)."""
    y_true, y_pred = _pair(y_true, y_pred, "dice")
    inter = _R.sum(y_true * y_pred, axis=axis)
    return 1.0 - inter * 2.0 / (_R.sum(y_true, axis=axis) + _R.sum(y_pred, axis=axis) + _eps())


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """1 - sum(t p) / (sum(t p) + alpha sum((1 - p) t) + beta sum(p (1 - t)) + 1e-7), with
    Keras's assignment of alpha and beta."""
    y_true, y_pred = _pair(y_true, y_pred, "tversky")
    inter = _R.sum(y_true * y_pred, axis=axis)
    fp = _R.sum((1.0 - y_pred) * y_true, axis=axis)
    fn = _R.sum(y_pred * (1.0 - y_true), axis=axis)
    return 1.0 - inter / (inter + fp * alpha + fn * beta + _eps())


# ------------------------------------------------------------ cross-entropies
def _first_order_only(op):
    # the contract's check, with the way out for losses added to its message
    from ..ops.base import first_order_only
    try:
        first_order_only(op)
    except RuntimeError as e:
        raise RuntimeError(f"{e}; for higher-order gradients use from_logits=True (or compose "
                           "the loss from lamina ops)") from None


def _cce_probs(t, p, axis, sparse):
    """-log of the clipped, renormalized probability of the target along ``axis``; one node.

    ``t``: raw array of class ids (sparse, shape of p without ``axis``) or of target
    probabilities (dense, shape of p).  Output: p's shape without ``axis``."""
    xp = xp_of(p)
    d = p.data
    ax = axis % d.ndim
    s = d.sum(axis=ax, keepdims=True)
    q = d / s
    qc = xp.clip(q, _eps(), 1.0 - _eps())
    if sparse:
        idx = xp.expand_dims(t, ax)
        qt = xp.take_along_axis(qc, idx, axis=ax)
        per = -xp.log(qt)
        per = xp.squeeze(per, axis=ax)
    else:
        per = -(t * xp.log(qc)).sum(axis=ax)
    if not needs_grad(p):
        return wrap(per)

    def back(g, out):
        _first_order_only("categorical_crossentropy")
        gd = xp.expand_dims(g.data, ax)
        inside = (q >= _eps()) & (q <= 1.0 - _eps())
        if sparse:
            qt_raw = xp.take_along_axis(q, idx, axis=ax)
            ins_t = xp.take_along_axis(inside, idx, axis=ax)
            dq_t = xp.where(ins_t, -gd / qt, 0).astype(d.dtype, copy=False)
            # d/dp_k = dq_t (onehot_k - q_t) / s; the one-hot mask by comparison, not
            # put_along_axis, which CuPy lacks
            cshape = [1] * d.ndim
            cshape[ax] = d.shape[ax]
            onehot = xp.arange(d.shape[ax]).reshape(cshape) == idx
            gp = (onehot - qt_raw) * dq_t
        else:
            dq = xp.where(inside, -gd * t / qc, 0).astype(d.dtype, copy=False)
            gp = dq - (dq * q).sum(axis=ax, keepdims=True)
        gp /= s
        return (wrap(gp),)
    return record(per, (p,), back, "categorical_crossentropy")


def _bce_probs(t, p):
    """Elementwise -(t log pc + (1 - t) log(1 - pc)), pc = clip(p, eps, 1 - eps); one node."""
    xp = xp_of(p)
    d = p.data
    pc = xp.clip(d, _eps(), 1.0 - _eps())
    td = t.data
    per = -(td * xp.log(pc) + (1.0 - td) * xp.log1p(-pc))
    per = per.astype(d.dtype, copy=False)
    if not needs_grad(p, t):
        return wrap(per)

    def back(g, out):
        _first_order_only("binary_crossentropy")
        pp, tt = out._parents
        gd = g.data
        gp = gt = None
        if pp.requires_grad:
            inside = (d >= _eps()) & (d <= 1.0 - _eps())
            gp = wrap(xp.where(inside, gd * (pc - td) / (pc * (1.0 - pc)), 0)
                      .astype(d.dtype, copy=False))
        if tt.requires_grad:
            gt = wrap((gd * (xp.log1p(-pc) - xp.log(pc))).astype(d.dtype, copy=False))
        return gp, gt
    return record(per, (p, t), back, "binary_crossentropy")


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """mean over ``axis`` of -(t log p + (1 - t) log(1 - p)); p = sigmoid(y_pred) when
    ``from_logits``, else y_pred clipped to [1e-7, 1 - 1e-7].  Label smoothing moves
    targets toward 0.5: t * (1 - s) + 0.5 s."""
    y_true, y_pred = _pair(y_true, y_pred, "binary_crossentropy", broadcast=False)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        per = _bce_logits(y_pred, y_true, reduction="none")
    else:
        per = _bce_probs(y_true, y_pred)
    return _R.mean(per, axis=axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1,
                             _reduction="none"):
    """-sum(t * log p, axis) with p = softmax(y_pred) when ``from_logits``, else y_pred
    renormalized to sum 1 and clipped to [1e-7, 1 - 1e-7].  y_true: one-hot/probabilities
    of y_pred's shape.  Label smoothing: t * (1 - s) + s / num_classes."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"categorical_crossentropy: axis must be an int, got {axis!r}")
    y_pred = _pred(y_pred)
    y_true = _true(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        hint = (" (integer class ids? use sparse_categorical_crossentropy)"
                if y_true.ndim == y_pred.ndim - 1 or
                (y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1) else "")
        raise ValueError(f"categorical_crossentropy: y_true of shape {y_true.shape} must match "
                         f"y_pred of shape {y_pred.shape}{hint}")
    if y_pred.ndim < 1:
        raise ValueError("categorical_crossentropy: y_pred must have at least one axis")
    if label_smoothing:
        n = y_true.shape[axis]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / n
    if from_logits:
        return _cross_entropy(y_pred, y_true, axis=axis, reduction=_reduction)
    if y_true.requires_grad and GradMode.enabled:
        # gradient wanted for the targets: composed ops, differentiable in both inputs
        q = y_pred / _R.sum(y_pred, axis=axis, keepdims=True)
        return -_R.sum(y_true * _E.log(_E.clip(q, _eps(), 1.0 - _eps())), axis=axis)
    return _cce_probs(y_true.data, y_pred, axis, sparse=False)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1, _reduction="none"):
    """-log p[y_true] along ``axis``: y_true holds class ids of shape y_pred's shape without
    ``axis`` (a trailing axis of size 1 is also accepted; float ids are cast).  p as in
    categorical_crossentropy.  ``ignore_class``: targets equal to it give 0 loss."""
    y_pred = _pred(y_pred)
    xp = xp_of(y_pred)
    t = _raw_on(y_true, y_pred)
    ax = axis % max(y_pred.ndim, 1)
    if t.ndim == y_pred.ndim and t.ndim and t.shape[ax] == 1:
        t = xp.squeeze(t, axis=ax)
    want = tuple(s for i, s in enumerate(y_pred.shape) if i != ax)
    if tuple(t.shape) != want:
        raise ValueError(f"sparse_categorical_crossentropy: y_true of shape {tuple(t.shape)} "
                         f"does not match y_pred of shape {y_pred.shape}: expected class ids "
                         f"of shape {want} (or {want + (1,)})")
    if t.dtype.kind == "f":
        ti = t.astype(np.int64)
        if t.size and bool(xp.any(ti != t)):
            raise ValueError("sparse_categorical_crossentropy: y_true must hold integer class "
                             "ids; got non-integer values")
        t = ti
    elif t.dtype.kind not in "iu":
        raise TypeError(f"sparse_categorical_crossentropy: y_true must be integer class ids, "
                        f"got dtype {t.dtype}")
    t = t.astype(np.int64, copy=False)
    valid = None
    if ignore_class is not None:
        valid = t != ignore_class
        t = xp.where(valid, t, 0)
    if from_logits:
        # the fused op checks the id range itself
        if valid is None:
            return _cross_entropy(y_pred, t, axis=axis, reduction=_reduction)
        per = _cross_entropy(y_pred, t, axis=axis, reduction="none")
    else:
        C = y_pred.shape[ax]
        if t.size and (int(t.min()) < 0 or int(t.max()) >= C):
            raise ValueError(f"sparse_categorical_crossentropy: class ids must lie in "
                             f"[0, {C}), got range [{int(t.min())}, {int(t.max())}]")
        per = _cce_probs(t, y_pred, axis, sparse=True)
    if valid is not None:
        per = per * wrap(valid.astype(per.data.dtype))
    return per


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25,
                              gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1):
    """mean over ``axis`` of (1 - p_t)^gamma * bce, p_t = t p + (1 - t)(1 - p) (Lin et al.);
    with ``apply_class_balancing`` also weighted by alpha (positives) / 1 - alpha."""
    y_true, y_pred = _pair(y_true, y_pred, "binary_focal_crossentropy", broadcast=False)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = _E.sigmoid(y_pred)
    bce = _bce_probs(y_true, y_pred)
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal = _E.power(1.0 - p_t, float(gamma)) * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return _R.mean(focal, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    """sum over ``axis`` of -alpha (1 - p)^gamma t log p, with p renormalized and clipped to
    [1e-7, 1 - 1e-7] (softmax(y_pred) when ``from_logits``)."""
    y_pred = _pred(y_pred)
    y_true = _true(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"categorical_focal_crossentropy: y_true of shape {y_true.shape} must "
                         f"match y_pred of shape {y_pred.shape}")
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[axis]
    if from_logits:
        from ..ops.nn import softmax
        y_pred = softmax(y_pred, axis=axis)
    out = _E.clip(y_pred / _R.sum(y_pred, axis=axis, keepdims=True), _eps(), 1.0 - _eps())
    cce = -(y_true * _E.log(out))
    return _R.sum(_E.power(1.0 - out, float(gamma)) * alpha * cce, axis=axis)


# ------------------------------------------------------------------- classes
_REDUCTIONS = ("sum_over_batch_size", "sum", "none", None, "mean", "mean_with_sample_weight")


def ctc(y_true, y_pred):
    """CTC loss per sample (Keras 3's ``ctc``): y_true (N, L) integer labels with 0 as the
    blank/padding (label lengths are the counts of non-zero entries), y_pred (N, T, C)
    logits (not softmaxed); every sample uses all T steps."""
    from ..ops.ctc import ctc_loss
    y_pred = _pred(y_pred)
    xp = xp_of(y_pred)
    t = _raw_on(y_true, y_pred)
    if t.ndim != 2:
        raise ValueError(f"ctc: y_true must have shape (batch_size, max_length) of integer "
                         f"labels, got shape {tuple(t.shape)}")
    if y_pred.ndim != 3:
        raise ValueError(f"ctc: y_pred must have shape (batch_size, max_length, num_classes) "
                         f"(logits), got shape {tuple(y_pred.shape)}")
    t = t.astype(np.int64)
    n, steps = y_pred.shape[0], y_pred.shape[1]
    return ctc_loss(t, y_pred, (t != 0).sum(axis=-1), xp.full((n,), steps, dtype=np.int64),
                    blank=0)


def _reduce(values, sample_weight, reduction, who):
    if sample_weight is not None:
        sw = _true(sample_weight, values)
        values, sw = squeeze_or_expand_to_same_rank(values, sw)
        if sw.ndim < values.ndim:
            # per-sample weights on per-timestep losses: weight each sample's row
            sw = _S.reshape(sw, sw.shape + (1,) * (values.ndim - sw.ndim))
        try:
            np.broadcast_shapes(sw.shape, values.shape)
        except ValueError:
            raise ValueError(f"{who}: sample_weight of shape {sw.shape} does not fit losses "
                             f"of shape {values.shape}") from None
        values = values * sw
    else:
        sw = None
    if reduction in (None, "none") or values.ndim == 0:
        return values
    total = _R.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sw is not None:
        den = float(_R.sum(_S.broadcast_to(sw, values.shape)).item())
    else:
        den = float(values.size)
    return total * (1.0 / den) if den else total * 0.0


class Loss(ConfigObject):
    """Base class: subclasses implement ``call(y_true, y_pred)`` -> per-sample losses;
    ``__call__(y_true, y_pred, sample_weight=None)`` weights and reduces them."""

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of "
                             f"{[r for r in _REDUCTIONS if r]} or None, got {reduction!r}")
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction
        self.dtype = dtype

    def __call__(self, y_true, y_pred, sample_weight=None):
        if self.dtype is not None:
            y_pred = _E.cast(_pred(y_pred), self.dtype)
        else:
            y_pred = _half_to_float32(y_pred)
        values = self.call(y_true, y_pred)
        return _reduce(values, sample_weight, self.reduction, self.name)

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def get_config(self):
        """The constructor arguments (name, reduction and the loss's own options)."""
        return {"name": self.name, "reduction": self.reduction}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} reduction={self.reduction!r}>"


class LossFunctionWrapper(FunctionWrapperConfig, Loss):
    """A Loss around ``fn(y_true, y_pred, **kwargs)`` returning per-sample values."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction,
                         dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def __call__(self, y_true, y_pred, sample_weight=None):
        if (sample_weight is None and self.fn in _FUSED_REDUCTION and self.dtype is None and
                self.reduction in ("sum_over_batch_size", "mean", "sum") and
                self._fn_kwargs.get("from_logits") and
                self._fn_kwargs.get("ignore_class") is None):
            # the fused cross-entropy reduces in the same node: one node instead of three
            red = "sum" if self.reduction == "sum" else "mean"
            return self.fn(y_true, _half_to_float32(y_pred), _reduction=red,
                           **self._fn_kwargs)
        return Loss.__call__(self, y_true, y_pred, sample_weight)

    def call(self, y_true, y_pred):
        if self.fn in _SELF_SHAPING:
            return self.fn(y_true, y_pred, **self._fn_kwargs)
        # user functions get the same rank fixing Keras applies before calling them
        y_pred = _pred(y_pred)
        y_true = _true(y_true, y_pred)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)


def _wrapper_class(cls_name, fn, default_name, doc, **defaults):
    """A LossFunctionWrapper subclass with Keras's signature: the loss's own keyword
    arguments (with defaults), then reduction, name, dtype."""
    def __init__(self, *args, reduction="sum_over_batch_size", name=default_name, dtype=None,
                 **kwargs):
        LossFunctionWrapper.__init__(self, fn, reduction=reduction, name=name, dtype=dtype,
                                     **bind_options(cls_name, defaults, args, kwargs))
    return type(cls_name, (LossFunctionWrapper,),
                {"__init__": __init__, "__doc__": doc, "__module__": __name__})


MeanSquaredError = _wrapper_class("MeanSquaredError", mean_squared_error, "mean_squared_error",
                                  "Mean of squared errors (see mean_squared_error).")
MeanAbsoluteError = _wrapper_class("MeanAbsoluteError", mean_absolute_error,
                                   "mean_absolute_error", "Mean of absolute errors.")
MeanAbsolutePercentageError = _wrapper_class(
    "MeanAbsolutePercentageError", mean_absolute_percentage_error,
    "mean_absolute_percentage_error", "100 * mean |(y_true - y_pred) / y_true|.")
MeanSquaredLogarithmicError = _wrapper_class(
    "MeanSquaredLogarithmicError", mean_squared_logarithmic_error,
    "mean_squared_logarithmic_error", "Mean of squared log(1 + x) differences.")
Huber = _wrapper_class("Huber", huber, "huber_loss", "Huber loss with threshold ``delta``.",
                       delta=1.0)
LogCosh = _wrapper_class("LogCosh", log_cosh, "log_cosh", "Mean of log(cosh(error)).")
KLDivergence = _wrapper_class("KLDivergence", kl_divergence, "kl_divergence",
                              "Kullback-Leibler divergence sum(t log(t / p)).")
Poisson = _wrapper_class("Poisson", poisson, "poisson", "Mean of p - t log(p).")
Hinge = _wrapper_class("Hinge", hinge, "hinge", "Mean of max(1 - t p, 0).")
SquaredHinge = _wrapper_class("SquaredHinge", squared_hinge, "squared_hinge",
                              "Mean of max(1 - t p, 0) ** 2.")
CategoricalHinge = _wrapper_class("CategoricalHinge", categorical_hinge, "categorical_hinge",
                                  "max(max((1 - t) p) - sum(t p) + 1, 0).")
CosineSimilarity = _wrapper_class("CosineSimilarity", cosine_similarity, "cosine_similarity",
                                  "Negative cosine similarity along ``axis``.", axis=-1)
BinaryCrossentropy = _wrapper_class(
    "BinaryCrossentropy", binary_crossentropy, "binary_crossentropy",
    "Binary cross-entropy (``from_logits``, ``label_smoothing``, ``axis``).",
    from_logits=False, label_smoothing=0.0, axis=-1)
CategoricalCrossentropy = _wrapper_class(
    "CategoricalCrossentropy", categorical_crossentropy, "categorical_crossentropy",
    "Categorical cross-entropy on one-hot targets (``from_logits``, ``label_smoothing``, "
    "``axis``).", from_logits=False, label_smoothing=0.0, axis=-1)
Dice = _wrapper_class("Dice", dice, "dice", "Dice loss (see dice).", axis=None)
Tversky = _wrapper_class("Tversky", tversky, "tversky", "Tversky loss (see tversky).",
                         alpha=0.5, beta=0.5, axis=None)
CTC = _wrapper_class("CTC", ctc, "ctc", "Connectionist temporal classification loss (see ctc).")
BinaryFocalCrossentropy = _wrapper_class(
    "BinaryFocalCrossentropy", binary_focal_crossentropy, "binary_focal_crossentropy",
    "Binary focal cross-entropy (``gamma``, ``alpha`` with ``apply_class_balancing``).",
    apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
    label_smoothing=0.0, axis=-1)
CategoricalFocalCrossentropy = _wrapper_class(
    "CategoricalFocalCrossentropy", categorical_focal_crossentropy,
    "categorical_focal_crossentropy", "Categorical focal cross-entropy (``alpha``, ``gamma``).",
    alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1)
SparseCategoricalCrossentropy = _wrapper_class(
    "SparseCategoricalCrossentropy", sparse_categorical_crossentropy,
    "sparse_categorical_crossentropy",
    "Categorical cross-entropy on integer class ids (``from_logits``, ``ignore_class``, "
    "``axis``).", from_logits=False, ignore_class=None, axis=-1)

mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence
logcosh = log_cosh

_FUNCTIONS = {f.__name__: f for f in (
    mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
    mean_squared_logarithmic_error, huber, log_cosh, binary_crossentropy,
    categorical_crossentropy, sparse_categorical_crossentropy, kl_divergence, poisson, hinge,
    squared_hinge, categorical_hinge, cosine_similarity, binary_focal_crossentropy,
    categorical_focal_crossentropy, dice, tversky, ctc)}
_FUSED_REDUCTION = frozenset((categorical_crossentropy, sparse_categorical_crossentropy))
# these fix ranks themselves (the sparse loss must not have its targets reshaped)
_SELF_SHAPING = frozenset(_FUNCTIONS.values())
_ALIASES = {"mse": "mean_squared_error", "MSE": "mean_squared_error",
            "mae": "mean_absolute_error", "MAE": "mean_absolute_error",
            "mape": "mean_absolute_percentage_error", "MAPE": "mean_absolute_percentage_error",
            "msle": "mean_squared_logarithmic_error", "MSLE": "mean_squared_logarithmic_error",
            "kld": "kl_divergence", "KLD": "kl_divergence",
            "kullback_leibler_divergence": "kl_divergence", "logcosh": "log_cosh",
            "bce": "binary_crossentropy", "BCE": "binary_crossentropy",
            "huber_loss": "huber"}
_CLASSES = {c.__name__: c for c in (
    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, Huber, LogCosh, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, KLDivergence, Poisson, Hinge, SquaredHinge,
    CategoricalHinge, CosineSimilarity, LossFunctionWrapper, BinaryFocalCrossentropy,
    CategoricalFocalCrossentropy, Dice, Tversky, CTC)}
_FN_TO_CLASS = {mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
                mean_absolute_percentage_error: MeanAbsolutePercentageError,
                mean_squared_logarithmic_error: MeanSquaredLogarithmicError, huber: Huber,
                log_cosh: LogCosh, binary_crossentropy: BinaryCrossentropy,
                categorical_crossentropy: CategoricalCrossentropy,
                sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
                kl_divergence: KLDivergence, poisson: Poisson, hinge: Hinge,
                squared_hinge: SquaredHinge, categorical_hinge: CategoricalHinge,
                cosine_similarity: CosineSimilarity,
                binary_focal_crossentropy: BinaryFocalCrossentropy,
                categorical_focal_crossentropy: CategoricalFocalCrossentropy,
                dice: Dice, tversky: Tversky, ctc: CTC}


def _named(identifier):
    """The built-in loss a string names ("mse": the function's class, named "mse"), or None."""
    name = _ALIASES.get(identifier, identifier)
    if name in _FUNCTIONS:
        return _FN_TO_CLASS[_FUNCTIONS[name]](name=identifier)
    if name in _CLASSES and name != "LossFunctionWrapper":
        return _CLASSES[name]()
    return None


def _wrap(fn):
    """A built-in loss function's class, or ``fn`` wrapped in a LossFunctionWrapper."""
    cls = _FN_TO_CLASS.get(fn)
    if cls is not None:
        return cls()
    return LossFunctionWrapper(fn, name=getattr(fn, "__name__", None))


_KIND = Kind("losses", "loss", named=_named, class_names=_CLASSES, functions=_FUNCTIONS,
             known=sorted(set(_FUNCTIONS) | set(_ALIASES)), none=None, instances=Loss,
             subclasses=Loss, wrap=_wrap, expected="a string, dict, Loss or callable",
             keras_module="keras.losses")
LossFunctionWrapper._kind = _KIND


def get(identifier):
    """A callable Loss object for an identifier, or None for None.

    Strings name a function ("mse", "categorical_crossentropy": the loss instance whose
    name is that string) or a class ("CategoricalCrossentropy"); dicts are configs;
    classes are instantiated; Loss instances are returned as they are; other callables
    ``fn(y_true, y_pred)`` are wrapped in a LossFunctionWrapper named after ``fn``."""
    return _KIND.get(identifier)


def serialize(loss):
    """``{"class_name", "config"}`` for a Loss; the name for a built-in function."""
    return _KIND.serialize(loss)


def deserialize(config, custom_objects=None):
    """A Loss from ``serialize``'s output (a dict or a name)."""
    return _KIND.deserialize(config, custom_objects)
