"""Metrics with Keras 3's names and semantics, computed on raw arrays (no graph).

A metric is stateful: ``update_state(y_true, y_pred, sample_weight=None)`` accumulates,
``result()`` returns the value (a 0-d float32 Tensor; ``float(m.result())`` works),
``reset_state()`` clears it.  Accumulators stay on the arrays' device (no host sync per
batch); only ``result()`` reads them.  The function forms (``binary_accuracy`` etc.)
take arrays or Tensors and return per-sample numpy/cupy arrays.

``get(identifier, loss=None, output_shape=None, y_true=None, y_pred=None)`` returns a
Metric instance.  "accuracy"/"acc" is resolved like Keras 3:

1. with ``y_true`` and ``y_pred`` (arrays or shapes): binary when y_pred's last axis is 1;
   sparse categorical when y_true has lower rank than y_pred, or y_true's last axis is 1
   and y_pred's is not; otherwise categorical;
2. else from ``loss`` (name or object): binary / sparse categorical / categorical
   cross-entropy give the matching accuracy;
3. else from ``output_shape``: last axis 1 -> binary, otherwise categorical.

Strings name the metric (a history key is the string given); a plain function becomes a
``MeanMetricWrapper`` named after the function.

Families: means (Mean, Sum, MeanMetricWrapper and the loss-based metrics), accuracies,
confusion-matrix metrics (Precision, Recall, AUC, TruePositives..., PrecisionAtRecall...),
F-scores, R2Score, IoU metrics.  Subclasses may keep state in ``add_variable`` Variables
as in Keras.
"""
from __future__ import annotations

import numpy as np

from ..backend import device_of, get_xp, to_device, to_host
from ..tensor import Tensor
from . import losses as _losses
from ._registry import ConfigObject, FunctionWrapperConfig, Kind, bind_options
from .layers.base import to_snake_case as _snake
# Keras's rank fix and target-shape check, shared with the losses (here on raw arrays)
from .losses import (_check_target_shape as _check_same,
                     squeeze_or_expand_to_same_rank as _squeeze_or_expand)
# Keras exposes the loss functions as metric functions too
from .losses import (mean_squared_error, mean_absolute_error,  # noqa: F401
                     mean_absolute_percentage_error, mean_squared_logarithmic_error,
                     binary_crossentropy, categorical_crossentropy,
                     sparse_categorical_crossentropy, kl_divergence, poisson, hinge,
                     squared_hinge, categorical_hinge, log_cosh, huber, mse, mae, mape, msle,
                     binary_focal_crossentropy, categorical_focal_crossentropy)

__all__ = ["Metric", "Mean", "Sum", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy",
           "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
           "SparseTopKCategoricalAccuracy", "MeanAbsoluteError", "MeanSquaredError",
           "RootMeanSquaredError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
           "AUC", "Precision", "Recall", "accuracy", "binary_accuracy", "categorical_accuracy",
           "sparse_categorical_accuracy", "top_k_categorical_accuracy",
           "sparse_top_k_categorical_accuracy", "get", "serialize", "deserialize",
           "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
           "KLDivergence", "Poisson", "Hinge", "SquaredHinge", "CategoricalHinge",
           "LogCoshError", "CosineSimilarity", "FBetaScore", "F1Score", "R2Score",
           "TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives", "IoU",
           "MeanIoU", "BinaryIoU", "OneHotIoU", "OneHotMeanIoU", "SensitivityAtSpecificity",
           "SpecificityAtSensitivity", "PrecisionAtRecall", "RecallAtPrecision",
           "mean_squared_error", "mean_absolute_error",
           "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
           "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
           "kl_divergence", "poisson", "hinge", "squared_hinge", "categorical_hinge",
           "log_cosh", "huber", "mse", "mae", "mape", "msle", "PearsonCorrelation",
           "ConcordanceCorrelation", "pearson_correlation", "concordance_correlation",
           "binary_focal_crossentropy", "categorical_focal_crossentropy"]

_NEG_INF = -1e10


def _arr(x, like=None):
    """Raw array of ``x`` (a Tensor's data, or numpy/cupy/list) on ``like``'s device."""
    if isinstance(x, Tensor):
        x = x.data
    if like is not None:
        if not hasattr(x, "shape") or get_xp(x) is not get_xp(like):
            # to_device, not xp.asarray: NumPy refuses to take a CuPy array to the host
            return to_device(x, device_of(like))
        return x
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return x
    return np.asarray(x)


def _add(acc, inc):
    """``acc + inc`` for accumulators: the host zeros a reset leaves go to the device of
    the batch's counts (NumPy and CuPy arrays do not mix), so the state then stays there
    without a host sync per batch."""
    if type(acc) is not type(inc) and hasattr(inc, "shape"):
        acc = to_device(acc, device_of(inc))
    return acc + inc


def _wrap_result(v):
    from ..ops.base import wrap
    xp = get_xp(v) if hasattr(v, "shape") else np
    return wrap(xp.asarray(v, dtype=np.float32))


# --------------------------------------------------------------- functions
def accuracy(y_true, y_pred):
    """1.0 where y_true == y_pred (elementwise), else 0.0."""
    p = _arr(y_pred)
    t = _arr(y_true, p)
    t, p = _squeeze_or_expand(t, p)
    _check_same(t, p, "accuracy")
    return (t == p).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where (y_pred > threshold) equals y_true, elementwise (last axis kept)."""
    p = _arr(y_pred)
    t = _arr(y_true, p)
    t, p = _squeeze_or_expand(t, p)
    _check_same(t, p, "binary_accuracy")
    return ((p > threshold).astype(t.dtype) == t).astype(np.float32)


def categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_true) == argmax(y_pred) along the last axis:
    (batch, ..., C) -> (batch, ...)."""
    p = _arr(y_pred)
    t = _arr(y_true, p)
    if t.shape != p.shape:
        raise ValueError(f"categorical_accuracy: y_true of shape {tuple(t.shape)} must be one-hot "
                         f"with y_pred's shape {tuple(p.shape)} (integer labels? use "
                         "sparse_categorical_accuracy)")
    return (t.argmax(axis=-1) == p.argmax(axis=-1)).astype(np.float32)


def _sparse_labels(t, p, who):
    if t.ndim == p.ndim and t.shape[-1] == 1:
        t = t[..., 0]
    if t.shape != p.shape[:-1]:
        raise ValueError(f"{who}: y_true of shape {tuple(t.shape)} does not match y_pred of "
                         f"shape {tuple(p.shape)}: expected class ids of shape "
                         f"{tuple(p.shape[:-1])}")
    return t


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where y_true (class ids, shape (batch, ...) or (batch, ..., 1)) == argmax(y_pred)."""
    p = _arr(y_pred)
    t = _arr(y_true, p)
    t = _sparse_labels(t, p, "sparse_categorical_accuracy")
    return (t.astype(np.int64) == p.argmax(axis=-1)).astype(np.float32)


def _in_top_k(labels, p, k):
    """True where the label's score is >= the k-th largest score (ties count, as Keras)."""
    xp = get_xp(p)
    p2 = p.reshape(-1, p.shape[-1])
    lab = labels.reshape(-1).astype(np.int64)
    k = min(int(k), p2.shape[-1])
    kth = xp.partition(p2, p2.shape[-1] - k, axis=-1)[:, p2.shape[-1] - k]
    target = xp.take_along_axis(p2, lab[:, None], axis=-1)[:, 0]
    return (target >= kth).reshape(labels.shape)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where argmax(y_true) is among the k highest scores of y_pred."""
    p = _arr(y_pred)
    t = _arr(y_true, p)
    if t.shape != p.shape:
        raise ValueError(f"top_k_categorical_accuracy: y_true of shape {tuple(t.shape)} must "
                         f"match y_pred of shape {tuple(p.shape)}")
    return _in_top_k(t.argmax(axis=-1), p, k).astype(np.float32)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1.0 where the class id y_true is among the k highest scores of y_pred (or, with
    ``from_sorted_ids``, among the first k ids of y_pred)."""
    p = _arr(y_pred)
    t = _arr(y_true, p)
    if from_sorted_ids:
        if t.ndim == p.ndim and t.shape[-1] == 1:
            t = t[..., 0]
        return (p[..., :k] == t[..., None]).any(axis=-1).astype(np.float32)
    t = _sparse_labels(t, p, "sparse_top_k_categorical_accuracy")
    return _in_top_k(t, p, k).astype(np.float32)


# ------------------------------------------------------------------ classes
class Metric(ConfigObject):
    """Base class of stateful metrics (see the module doc)."""

    def __init__(self, name=None, dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.dtype = dtype or "float32"
        self._variables = []

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum",
                     name=None):
        """A non-trainable state Variable of ``shape`` (for subclasses, as in Keras);
        ``reset_state`` sets it back to zeros."""
        from . import initializers
        from .variable import Variable
        init = initializers.get(initializer)
        value = init(tuple(shape), dtype=dtype or self.dtype)
        vname = name or f"variable_{len(self._variables)}"
        v = Variable(value, name=vname, path=f"{self.name}/{vname}", trainable=False)
        self._variables.append(v)
        return v

    add_weight = add_variable

    @property
    def variables(self):
        """The state Variables created with ``add_variable``."""
        return list(getattr(self, "_variables", []))

    def update_state(self, *args, **kwargs):
        """Accumulate one batch (usually ``y_true, y_pred, sample_weight=None``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement update_state")

    def result(self):
        """The metric's value so far, as a float32 Tensor (0-d unless per class/threshold)."""
        raise NotImplementedError(f"{type(self).__name__} must implement result")

    def reset_state(self):
        """Forget everything accumulated (the base class zeros ``variables``)."""
        if not getattr(self, "_variables", None):
            raise NotImplementedError(f"{type(self).__name__} must implement reset_state "
                                      "(or create its state with add_variable)")
        for v in self._variables:
            v.assign(0)

    def reset_states(self):
        """Legacy name of ``reset_state``."""
        self.reset_state()

    def __call__(self, *args, **kwargs):
        """Update with one batch and return the running result."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        """The constructor arguments (``from_config`` gives a metric with empty state)."""
        return {"name": self.name, "dtype": self.dtype}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


def _samplewise(values, sample_weight, reduce="mean"):
    """Keras's reduce_to_samplewise_values on raw arrays: per-sample values and weights."""
    values = values.astype(np.float64, copy=False)
    red = (lambda a, axes: a.mean(axis=axes)) if reduce == "mean" else \
        (lambda a, axes: a.sum(axis=axes))
    if sample_weight is not None:
        sw = _arr(sample_weight, values).astype(np.float64, copy=False)
        values, sw = _squeeze_or_expand(values, sw)
        wn, vn = sw.ndim, values.ndim
        if vn > wn:
            values = red(values, tuple(range(wn, vn)))
        xp = get_xp(values)
        sw = xp.broadcast_to(sw, values.shape)
        values = values * sw
        if wn > 1:
            sw = red(sw, tuple(range(1, wn)))
    else:
        sw = None
    if values.ndim > 1:
        values = red(values, tuple(range(1, values.ndim)))
    return values, sw


class Sum(Metric):
    """The running (weighted) sum of the values given to ``update_state(values, sample_weight)``."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name, dtype)
        self.reset_state()

    def update_state(self, values, sample_weight=None):
        v, _ = _samplewise(_arr(values), sample_weight, "sum")
        self.total = self.total + v.sum()

    def reset_state(self):
        self.total = 0.0

    def result(self):
        return _wrap_result(self.total)


class Mean(Metric):
    """The running (weighted) mean of the values given to ``update_state(values, sample_weight)``;
    each sample's values are averaged first."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name, dtype)
        self.reset_state()

    def update_state(self, values, sample_weight=None):
        v, sw = _samplewise(_arr(values), sample_weight, "mean")
        self.total = self.total + v.sum()
        if sw is not None:
            self.count = self.count + sw.sum()
        else:
            self.count = self.count + (v.shape[0] if v.ndim >= 1 else 1)

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def result(self):
        total, count = self.total, self.count
        if getattr(total, "shape", None) is not None and type(total) is not np.ndarray \
                and not isinstance(total, np.generic):
            # a GPU running sum: divide there (0 / 1 when empty); float() would wait for
            # the GPU at every batch of fit
            return _wrap_result(total / (count + (count == 0)))
        total, count = float(total), float(count)
        return _wrap_result(total / count if count else 0.0)


class MeanMetricWrapper(FunctionWrapperConfig, Mean):
    """The running mean of ``fn(y_true, y_pred, **kwargs)`` (per-sample values)."""

    _fn_attr = "_fn"

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None) or "mean_metric_wrapper",
                         dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        from ..autograd import no_grad
        with no_grad():
            values = self._fn(y_true, y_pred, **self._fn_kwargs)
        return super().update_state(_arr(values), sample_weight)


def _loss_metric(cls_name, loss_name, default_name, doc):
    def __init__(self, name=default_name, dtype=None):
        MeanMetricWrapper.__init__(self, getattr(_losses, loss_name), name=name, dtype=dtype)
    return type(cls_name, (MeanMetricWrapper,), {"__init__": __init__, "__doc__": doc,
                                                 "__module__": __name__})


MeanSquaredError = _loss_metric("MeanSquaredError", "mean_squared_error", "mean_squared_error",
                                "Running mean of the squared error.")
MeanAbsoluteError = _loss_metric("MeanAbsoluteError", "mean_absolute_error",
                                 "mean_absolute_error", "Running mean of the absolute error.")
MeanAbsolutePercentageError = _loss_metric(
    "MeanAbsolutePercentageError", "mean_absolute_percentage_error",
    "mean_absolute_percentage_error", "Running mean absolute percentage error.")
MeanSquaredLogarithmicError = _loss_metric(
    "MeanSquaredLogarithmicError", "mean_squared_logarithmic_error",
    "mean_squared_logarithmic_error", "Running mean squared logarithmic error.")


class RootMeanSquaredError(Mean):
    """sqrt of the running mean of squared errors."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = _arr(y_pred).astype(np.float64)
        t = _arr(y_true, p).astype(np.float64)
        t, p = _squeeze_or_expand(t, p)
        _check_same(t, p, "root_mean_squared_error")
        return super().update_state((p - t) ** 2, sample_weight)

    def result(self):
        total, count = float(self.total), float(self.count)
        return _wrap_result(np.sqrt(total / count) if count else 0.0)


def _fn_metric(cls_name, fn, default_name, doc, **defaults):
    def __init__(self, *args, name=default_name, dtype=None, **kwargs):
        # positionals beyond the options have always been ignored here (unlike the losses)
        opts = bind_options(cls_name, defaults, args[:len(defaults)], kwargs)
        MeanMetricWrapper.__init__(self, fn, name=name, dtype=dtype, **opts)
    return type(cls_name, (MeanMetricWrapper,), {"__init__": __init__, "__doc__": doc,
                                                 "__module__": __name__})


Accuracy = _fn_metric("Accuracy", accuracy, "accuracy",
                      "How often predictions equal labels (exact match).")
BinaryAccuracy = _fn_metric("BinaryAccuracy", binary_accuracy, "binary_accuracy",
                            "How often (y_pred > threshold) equals binary labels.", threshold=0.5)
CategoricalAccuracy = _fn_metric("CategoricalAccuracy", categorical_accuracy,
                                 "categorical_accuracy",
                                 "How often argmax(y_pred) matches one-hot labels.")
SparseCategoricalAccuracy = _fn_metric("SparseCategoricalAccuracy", sparse_categorical_accuracy,
                                       "sparse_categorical_accuracy",
                                       "How often argmax(y_pred) matches integer labels.")
TopKCategoricalAccuracy = _fn_metric("TopKCategoricalAccuracy", top_k_categorical_accuracy,
                                     "top_k_categorical_accuracy",
                                     "How often the one-hot label is in the top k.", k=5)
SparseTopKCategoricalAccuracy = _fn_metric(
    "SparseTopKCategoricalAccuracy", sparse_top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy", "How often the integer label is in the top k.",
    k=5, from_sorted_ids=False)

BinaryCrossentropy = _fn_metric("BinaryCrossentropy", _losses.binary_crossentropy,
                                "binary_crossentropy", "Running mean binary cross-entropy.",
                                from_logits=False, label_smoothing=0.0)
CategoricalCrossentropy = _fn_metric(
    "CategoricalCrossentropy", _losses.categorical_crossentropy, "categorical_crossentropy",
    "Running mean categorical cross-entropy.", from_logits=False, label_smoothing=0.0, axis=-1)
SparseCategoricalCrossentropy = _fn_metric(
    "SparseCategoricalCrossentropy", _losses.sparse_categorical_crossentropy,
    "sparse_categorical_crossentropy", "Running mean sparse categorical cross-entropy.",
    from_logits=False, axis=-1)
KLDivergence = _fn_metric("KLDivergence", _losses.kl_divergence, "kl_divergence",
                          "Running mean Kullback-Leibler divergence.")
Poisson = _fn_metric("Poisson", _losses.poisson, "poisson", "Running mean Poisson loss.")
Hinge = _fn_metric("Hinge", _losses.hinge, "hinge", "Running mean hinge loss.")
SquaredHinge = _fn_metric("SquaredHinge", _losses.squared_hinge, "squared_hinge",
                          "Running mean squared hinge loss.")
CategoricalHinge = _fn_metric("CategoricalHinge", _losses.categorical_hinge,
                              "categorical_hinge", "Running mean categorical hinge loss.")
LogCoshError = _fn_metric("LogCoshError", _losses.log_cosh, "logcosh",
                          "Running mean log(cosh(error)).")


def _cosine_similarity(y_true, y_pred, axis=-1):
    """sum(l2_normalize(y_true) * l2_normalize(y_pred), axis): +1 when aligned (the loss's
    negative)."""
    return -_losses.cosine_similarity(y_true, y_pred, axis=axis)


_cosine_similarity.__name__ = "cosine_similarity"
CosineSimilarity = _fn_metric("CosineSimilarity", _cosine_similarity, "cosine_similarity",
                              "Running mean cosine similarity (+1 when aligned).", axis=-1)


def pearson_correlation(y_true, y_pred, axis=-1):
    """Pearson correlation of y_true and y_pred along ``axis``: the mean product of the two
    standardized (mean 0, population std 1) signals."""
    p = _arr(y_pred)
    xp = get_xp(p)
    p = p.astype(np.float32) if p.dtype.kind != "f" else p
    t = _arr(y_true, p).astype(p.dtype)
    t, p = _squeeze_or_expand(t, p)
    tn = t - t.mean(axis=axis, keepdims=True)
    pn = p - p.mean(axis=axis, keepdims=True)
    tn = tn / xp.std(tn, axis=axis, keepdims=True)
    pn = pn / xp.std(pn, axis=axis, keepdims=True)
    return (tn * pn).mean(axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Lin's concordance correlation as Keras 3 computes it:
    mean(2 (y_true - mean(y_pred)) (y_pred - mean(y_pred)) /
    (var(y_true) + var(y_pred) + (mean(y_true) - mean(y_pred))^2 + eps)) along ``axis``.
    (Keras centres y_true on the mean of y_pred in the covariance term; lamina follows it so
    that the figures agree.)"""
    p = _arr(y_pred)
    p = p.astype(np.float32) if p.dtype.kind != "f" else p
    t = _arr(y_true, p).astype(p.dtype)
    t, p = _squeeze_or_expand(t, p)
    tm = t.mean(axis=axis, keepdims=True)
    pm = p.mean(axis=axis, keepdims=True)
    tv = ((t - tm) ** 2).mean(axis=axis, keepdims=True)
    pv = ((p - pm) ** 2).mean(axis=axis, keepdims=True)
    covar = (t - pm) * (p - pm)
    norm = tv + pv + (tm - pm) ** 2
    return (2 * covar / (norm + _losses._eps())).mean(axis=axis)


PearsonCorrelation = _fn_metric("PearsonCorrelation", pearson_correlation,
                                "pearson_correlation",
                                "Running mean Pearson correlation along ``axis``.", axis=-1)
ConcordanceCorrelation = _fn_metric("ConcordanceCorrelation", concordance_correlation,
                                    "concordance_correlation",
                                    "Running mean concordance correlation along ``axis``.",
                                    axis=-1)


def _sparse_top_k_config(self):
    # Keras writes from_sorted_ids only when it is set
    cfg = MeanMetricWrapper.get_config(self)
    if not cfg.get("from_sorted_ids"):
        cfg.pop("from_sorted_ids", None)
    return cfg


SparseTopKCategoricalAccuracy.get_config = _sparse_top_k_config


# --------------------------------------------------------- confusion metrics
def _confusion_inputs(y_true, y_pred, sample_weight, top_k=None, class_id=None):
    """Flattened (labels as 0/1 floats, predictions, weights) on y_pred's device."""
    p = _arr(y_pred).astype(np.float64)
    xp = get_xp(p)
    t = _arr(y_true, p).astype(np.float64)
    p, t = _squeeze_or_expand(p, t)
    _check_same(t, p, "confusion metric")
    t = xp.broadcast_to(t, p.shape)
    w = None
    if sample_weight is not None:
        sw = _arr(sample_weight, p).astype(np.float64)[..., None]
        _, sw = _squeeze_or_expand(t, sw, expand_rank_1=False)
        w = xp.broadcast_to(sw, p.shape)
    if top_k is not None:
        # predictions outside each row's top k can never count as positive
        kth = xp.sort(p, axis=-1)[..., -top_k][..., None]
        p = xp.where(p >= kth, p, _NEG_INF)
    if class_id is not None:
        p, t = p[..., class_id], t[..., class_id]
        if w is not None:
            w = w[..., class_id]
    t = (t != 0).astype(np.float64).reshape(-1)
    p = p.reshape(-1)
    w = xp.ones_like(p) if w is None else w.reshape(-1)
    return t, p, w


def _confusion_counts(t, p, w, thresholds):
    """(tp, fp, tn, fn) per threshold, with 'positive' meaning p > threshold."""
    xp = get_xp(p)
    th = xp.asarray(thresholds, dtype=np.float64)
    pos = p[None, :] > th[:, None]
    tw, fw = t * w, (1.0 - t) * w
    tp = (pos * tw).sum(axis=1)
    fp = (pos * fw).sum(axis=1)
    return tp, fp, fw.sum() - fp, tw.sum() - tp


class _ThresholdMetric(Metric):
    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name, dtype)
        self.init_thresholds = thresholds
        # with top_k every kept prediction counts as positive unless thresholds are given
        default = 0.5 if top_k is None else _NEG_INF
        th = [default] if thresholds is None else (
            [thresholds] if np.isscalar(thresholds) else list(thresholds))
        for v in (th if thresholds is not None else []):
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{type(self).__name__}: thresholds must lie in [0, 1], got {v}")
        self.thresholds = th
        self.top_k, self.class_id = top_k, class_id
        self.reset_state()

    def reset_state(self):
        n = len(self.thresholds)
        self.true_positives = np.zeros(n)
        self.false_positives = np.zeros(n)
        self.false_negatives = np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p, w = _confusion_inputs(y_true, y_pred, sample_weight, self.top_k, self.class_id)
        tp, fp, _, fn = _confusion_counts(t, p, w, self.thresholds)
        self.true_positives = _add(self.true_positives, tp)
        self.false_positives = _add(self.false_positives, fp)
        self.false_negatives = _add(self.false_negatives, fn)

    def _ratio(self, num, other):
        num = np.asarray(to_host(num))
        den = num + np.asarray(to_host(other))
        r = np.divide(num, den, out=np.zeros_like(num), where=den != 0)
        return _wrap_result(r[0] if len(self.thresholds) == 1 else r)

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


class Precision(_ThresholdMetric):
    """tp / (tp + fp) with positives y_pred > threshold (default 0.5); ``top_k``, ``class_id``."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="precision",
                 dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self):
        return self._ratio(self.true_positives, self.false_positives)


class Recall(_ThresholdMetric):
    """tp / (tp + fn) with positives y_pred > threshold (default 0.5); ``top_k``, ``class_id``."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="recall", dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self):
        return self._ratio(self.true_positives, self.false_negatives)


class AUC(Metric):
    """Area under the ROC or PR curve (``curve``), approximated on ``num_thresholds``
    thresholds as Keras does (Riemann sums with "interpolation", "minoring" or "majoring";
    PR with interpolation uses Davis & Goadrich's formula).  Single-label: all entries of
    y_true/y_pred are pooled; ``multi_label=True`` averages per-column AUCs."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name="auc", dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        super().__init__(name, dtype)
        curve = str(curve).upper()
        if curve not in ("ROC", "PR"):
            raise ValueError(f"AUC: curve must be 'ROC' or 'PR', got {curve!r}")
        summation_method = str(summation_method).lower()
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f"AUC: summation_method must be 'interpolation', 'minoring' or "
                             f"'majoring', got {summation_method!r}")
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(float(v) for v in thresholds)
            self.num_thresholds = len(inner) + 2
            even = np.arange(self.num_thresholds) / (self.num_thresholds - 1)
            self._even = bool(np.allclose([0.0] + inner + [1.0], even, atol=_losses._eps()))
        else:
            if num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be > 1, got {num_thresholds}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._even = True
        self._thresholds = np.array([0.0 - _losses._eps()] + inner + [1.0 + _losses._eps()])
        self.curve, self.summation_method = curve, summation_method
        self.multi_label, self.num_labels = multi_label, num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights,
                                                                             np.float64)
        self._from_logits = from_logits
        self.reset_state()

    @property
    def thresholds(self):
        return list(self._thresholds)

    def reset_state(self):
        self.true_positives = self.false_positives = None
        self.true_negatives = self.false_negatives = None

    def _counts(self, t, p, w):
        """(tp, fp, tn, fn) over the thresholds, for flat 1-D inputs."""
        xp = get_xp(p)
        n = self.num_thresholds
        if not self._even:
            return _confusion_counts(t, p, w, self._thresholds)
        # buckets: bucket i holds predictions in (th[i], th[i+1]]; counts at threshold j are
        # the sums over buckets >= j (Keras's optimized path)
        p = xp.clip(p, 0.0, 1.0)
        b = xp.ceil(p * (n - 1)) - 1
        b = xp.maximum(b, 0).astype(np.int64)
        tw, fw = t * w, (1.0 - t) * w
        tb = xp.bincount(b, weights=tw, minlength=n)[:n]
        fb = xp.bincount(b, weights=fw, minlength=n)[:n]
        tp = xp.cumsum(tb[::-1])[::-1]
        fp = xp.cumsum(fb[::-1])[::-1]
        return tp, fp, fw.sum() - fp, tw.sum() - tp

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = _arr(y_pred)
        if self._from_logits:
            xp = get_xp(p)
            p = 1.0 / (1.0 + xp.exp(-p.astype(np.float64)))
        if not self.multi_label:
            t, pp, w = _confusion_inputs(y_true, p, sample_weight)
            if self.label_weights is not None:
                lw = get_xp(pp).broadcast_to(get_xp(pp).asarray(self.label_weights),
                                             _arr(y_pred).shape).reshape(-1)
                w = w * lw
            cur = self._counts(t, pp, w)
        else:
            pa = p.astype(np.float64)
            xp = get_xp(pa)
            ta = _arr(y_true, pa).astype(np.float64)
            if pa.ndim != 2 or ta.shape != pa.shape:
                raise ValueError(f"AUC(multi_label=True): expected y_true and y_pred of shape "
                                 f"(batch, labels), got {tuple(ta.shape)} and {tuple(pa.shape)}")
            sw = None if sample_weight is None else _arr(sample_weight, pa).astype(np.float64)
            cols = []
            for j in range(pa.shape[1]):
                wj = xp.ones(pa.shape[0]) if sw is None else (
                    sw[:, j] if sw.ndim == 2 else sw.reshape(-1))
                cols.append(self._counts((ta[:, j] != 0).astype(np.float64), pa[:, j], wj))
            cur = tuple(xp.stack([c[k] for c in cols], axis=1) for k in range(4))
        if self.true_positives is None:
            self.true_positives, self.false_positives, self.true_negatives, \
                self.false_negatives = cur
        else:
            self.true_positives = _add(self.true_positives, cur[0])
            self.false_positives = _add(self.false_positives, cur[1])
            self.true_negatives = _add(self.true_negatives, cur[2])
            self.false_negatives = _add(self.false_negatives, cur[3])

    def _by_label(self, terms):
        if not self.multi_label:
            return float(terms.sum())
        per = terms.sum(axis=0)
        if self.label_weights is None:
            return float(per.mean())
        lw = self.label_weights
        return float((per * lw).sum() / lw.sum()) if lw.sum() else 0.0

    def result(self):
        if self.true_positives is None:
            return _wrap_result(0.0)
        tp = np.asarray(to_host(self.true_positives), np.float64)
        fp = np.asarray(to_host(self.false_positives), np.float64)
        tn = np.asarray(to_host(self.true_negatives), np.float64)
        fn = np.asarray(to_host(self.false_negatives), np.float64)

        def div(a, b):
            return np.divide(a, b, out=np.zeros_like(a), where=b != 0)

        if self.curve == "PR" and self.summation_method == "interpolation":
            dtp = tp[:-1] - tp[1:]
            pos = tp + fp
            dp = pos[:-1] - pos[1:]
            slope = div(dtp, np.maximum(dp, 0))
            intercept = tp[1:] - slope * pos[1:]
            ok = (pos[:-1] > 0) & (pos[1:] > 0)
            ratio = np.where(ok, div(pos[:-1], np.maximum(pos[1:], 0)), 1.0)
            with np.errstate(divide="ignore"):
                logr = np.log(np.where(ratio > 0, ratio, 1.0))
            terms = div(slope * (dtp + intercept * logr), np.maximum(tp[1:] + fn[1:], 0))
            return _wrap_result(self._by_label(terms))
        recall = div(tp, tp + fn)
        if self.curve == "ROC":
            x, y = div(fp, fp + tn), recall
        else:
            x, y = recall, div(tp, tp + fp)
        if self.summation_method == "interpolation":
            h = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            h = np.minimum(y[:-1], y[1:])
        else:
            h = np.maximum(y[:-1], y[1:])
        return _wrap_result(self._by_label((x[:-1] - x[1:]) * h))

    def get_config(self):
        cfg = {**super().get_config(), "num_thresholds": self.num_thresholds,
               "curve": self.curve, "summation_method": self.summation_method,
               "multi_label": self.multi_label, "num_labels": self.num_labels,
               "label_weights": None if self.label_weights is None
               else self.label_weights.tolist(), "from_logits": self._from_logits}
        if self._init_from_thresholds:
            cfg["thresholds"] = [float(v) for v in self._thresholds[1:-1]]
        return cfg


class _ConfusionCount(Metric):
    """Weighted count of one confusion-matrix cell at each threshold (y_pred > threshold
    counts as positive; default threshold 0.5)."""

    _cell = 0          # index into (tp, fp, tn, fn)

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name, dtype)
        self.init_thresholds = thresholds
        self.thresholds = [0.5] if thresholds is None else (
            [thresholds] if np.isscalar(thresholds) else list(thresholds))
        self.reset_state()

    def reset_state(self):
        self.accumulator = np.zeros(len(self.thresholds))

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p, w = _confusion_inputs(y_true, y_pred, sample_weight)
        self.accumulator = _add(self.accumulator,
                                _confusion_counts(t, p, w, self.thresholds)[self._cell])

    def result(self):
        acc = np.asarray(to_host(self.accumulator))
        return _wrap_result(acc[0] if len(self.thresholds) == 1 else acc)

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


def _count_metric(cls_name, cell, default_name, doc):
    def __init__(self, thresholds=None, name=default_name, dtype=None):
        _ConfusionCount.__init__(self, thresholds, name, dtype)
    return type(cls_name, (_ConfusionCount,), {"__init__": __init__, "_cell": cell,
                                               "__doc__": doc, "__module__": __name__})


TruePositives = _count_metric("TruePositives", 0, "true_positives",
                              "Weighted count of true positives (y_pred > threshold).")
FalsePositives = _count_metric("FalsePositives", 1, "false_positives",
                               "Weighted count of false positives (y_pred > threshold).")
TrueNegatives = _count_metric("TrueNegatives", 2, "true_negatives",
                              "Weighted count of true negatives (y_pred <= threshold).")
FalseNegatives = _count_metric("FalseNegatives", 3, "false_negatives",
                               "Weighted count of false negatives (y_pred <= threshold).")


class _AtConstraint(Metric):
    """Base of the metrics that maximize one rate subject to another being >= ``value``,
    over ``num_thresholds`` evenly spaced thresholds in [0, 1] (y_pred > threshold is
    positive)."""

    _arg = "value"

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(name, dtype)
        if not 0 <= value <= 1:
            raise ValueError(f"{type(self).__name__}: {self._arg} must be in [0, 1], got "
                             f"{value}")
        if num_thresholds <= 0:
            raise ValueError(f"{type(self).__name__}: num_thresholds must be > 0, got "
                             f"{num_thresholds}")
        self.value, self.num_thresholds, self.class_id = value, num_thresholds, class_id
        setattr(self, self._arg, value)
        self.thresholds = [0.5] if num_thresholds == 1 else (
            [0.0] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1.0])
        self.reset_state()

    def reset_state(self):
        n = len(self.thresholds)
        self.true_positives, self.false_positives = np.zeros(n), np.zeros(n)
        self.true_negatives, self.false_negatives = np.zeros(n), np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p, w = _confusion_inputs(y_true, y_pred, sample_weight, class_id=self.class_id)
        tp, fp, tn, fn = _confusion_counts(t, p, w, self.thresholds)
        self.true_positives = _add(self.true_positives, tp)
        self.false_positives = _add(self.false_positives, fp)
        self.true_negatives = _add(self.true_negatives, tn)
        self.false_negatives = _add(self.false_negatives, fn)

    def _rates(self):
        tp, fp, tn, fn = (np.asarray(to_host(a), np.float64) for a in (
            self.true_positives, self.false_positives, self.true_negatives,
            self.false_negatives))

        def div(a, b):
            return np.divide(a, b, out=np.zeros_like(a), where=b != 0)
        return {"recall": div(tp, tp + fn), "precision": div(tp, tp + fp),
                "specificity": div(tn, tn + fp)}

    def _best(self, constrained, dependent):
        r = self._rates()
        feasible = r[constrained] >= self.value
        return _wrap_result(max(0.0, float(np.where(feasible, r[dependent], 0).max())))

    def get_config(self):
        return {**super().get_config(), "class_id": self.class_id,
                "num_thresholds": self.num_thresholds, self._arg: self.value}


class SensitivityAtSpecificity(_AtConstraint):
    """The best sensitivity (recall) among thresholds whose specificity >= ``specificity``."""

    _arg = "specificity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._best("specificity", "recall")


class SpecificityAtSensitivity(_AtConstraint):
    """The best specificity among thresholds whose sensitivity >= ``sensitivity``."""

    _arg = "sensitivity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._best("recall", "specificity")


class PrecisionAtRecall(_AtConstraint):
    """The best precision among thresholds whose recall >= ``recall``."""

    _arg = "recall"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._best("recall", "precision")


class RecallAtPrecision(_AtConstraint):
    """The best recall among thresholds whose precision >= ``precision``."""

    _arg = "precision"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._best("precision", "recall")


class IoU(Metric):
    """Mean intersection-over-union tp / (tp + fp + fn) over ``target_class_ids``, from a
    confusion matrix of class ids accumulated over batches (classes absent from both
    targets and predictions are skipped).  Dense inputs are turned into ids by argmax
    when ``sparse_y_true``/``sparse_y_pred`` is False; ``ignore_class`` ids are skipped.
    (Keras keeps the matrix in integers, truncating float sample weights; lamina keeps
    float weights.)"""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None,
                 ignore_class=None, sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(name, dtype)
        if max(target_class_ids) >= num_classes:
            raise ValueError(f"{type(self).__name__}: target class id {max(target_class_ids)} "
                             f"is out of range [0, {num_classes})")
        self.num_classes = int(num_classes)
        self.target_class_ids = list(target_class_ids)
        self.ignore_class, self.axis = ignore_class, axis
        self.sparse_y_true, self.sparse_y_pred = sparse_y_true, sparse_y_pred
        self.reset_state()

    def reset_state(self):
        self.total_cm = np.zeros((self.num_classes, self.num_classes))

    def _ids(self, y_true, y_pred):
        p = _arr(y_pred)
        t = _arr(y_true, p)
        if not self.sparse_y_true:
            t = t.argmax(axis=self.axis)
        if not self.sparse_y_pred:
            p = p.argmax(axis=self.axis)
        return t, p

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = self._ids(y_true, y_pred)
        xp = get_xp(p)
        t = t.reshape(-1).astype(np.int64)
        p = p.reshape(-1).astype(np.int64)
        if t.shape != p.shape:
            raise ValueError(f"{type(self).__name__}: y_true has {t.size} ids but y_pred has "
                             f"{p.size}")
        w = xp.ones(t.shape) if sample_weight is None else xp.broadcast_to(
            _arr(sample_weight, p).astype(np.float64).reshape(-1), t.shape)
        n = self.num_classes
        ok = (t >= 0) & (t < n) & (p >= 0) & (p < n)
        if self.ignore_class is not None:
            ok &= t != self.ignore_class
        idx = xp.where(ok, t * n + p, 0)
        cm = xp.bincount(idx, weights=xp.where(ok, w, 0.0), minlength=n * n)
        self.total_cm = _add(self.total_cm, cm.reshape(n, n))

    def result(self):
        cm = np.asarray(to_host(self.total_cm), np.float64)
        tp = np.diag(cm)
        den = cm.sum(0) + cm.sum(1) - tp
        ids = self.target_class_ids
        tp, den = tp[ids], den[ids]
        valid = den > 1e-9
        iou = np.where(valid, tp / (den + _losses._eps()), 0.0)
        return _wrap_result(iou.sum() / (valid.sum() + _losses._eps()))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class MeanIoU(IoU):
    """IoU averaged over all ``num_classes`` classes."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, list(range(num_classes)), name, dtype, ignore_class,
                         sparse_y_true, sparse_y_pred, axis)

    def get_config(self):
        cfg = super().get_config()
        del cfg["target_class_ids"]
        return cfg


class BinaryIoU(IoU):
    """IoU of classes 0/1 after thresholding predictions (y_pred >= threshold is class 1)."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(2, target_class_ids, name, dtype)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = _arr(y_pred)
        return super().update_state(y_true, (p >= self.threshold).astype(np.int64),
                                    sample_weight)

    def get_config(self):
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold,
                "name": self.name, "dtype": self.dtype}


class OneHotIoU(IoU):
    """IoU with one-hot targets (and scores unless ``sparse_y_pred``)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None,
                 ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, target_class_ids, name, dtype, ignore_class, False,
                         sparse_y_pred, axis)

    def get_config(self):
        cfg = super().get_config()
        del cfg["sparse_y_true"]
        return cfg


class OneHotMeanIoU(MeanIoU):
    """MeanIoU with one-hot targets (and scores unless ``sparse_y_pred``)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self):
        cfg = super().get_config()
        del cfg["sparse_y_true"]
        return cfg


class FBetaScore(Metric):
    """F-beta per class from 2-D one-hot/multi-label targets (batch, classes): predictions
    are the row's maximum (``threshold=None``) or y_pred > ``threshold``; ``average``:
    None (per class), "micro", "macro" or "weighted" (as Keras)."""

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name, dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"{type(self).__name__}: average must be None, 'micro', 'macro' "
                             f"or 'weighted', got {average!r}")
        if not isinstance(beta, float) or beta <= 0:
            raise ValueError(f"{type(self).__name__}: beta must be a positive float, got "
                             f"{beta!r}")
        if threshold is not None and (not isinstance(threshold, float) or
                                      not 0 < threshold <= 1):
            raise ValueError(f"{type(self).__name__}: threshold must be a float in (0, 1], "
                             f"got {threshold!r}")
        self.average, self.beta, self.threshold = average, beta, threshold
        self.reset_state()

    def reset_state(self):
        self.true_positives = self.false_positives = None
        self.false_negatives = self.intermediate_weights = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = _arr(y_pred).astype(np.float64)
        t = _arr(y_true, p).astype(np.float64)
        if p.ndim != 2 or t.shape != p.shape:
            raise ValueError(f"{type(self).__name__}: expected y_true and y_pred of shape "
                             f"(batch, classes), got {tuple(t.shape)} and {tuple(p.shape)}")
        xp = get_xp(p)
        if self.threshold is None:
            pred = (p >= p.max(axis=-1, keepdims=True)) & (xp.abs(p) > 1e-9)
        else:
            pred = p > self.threshold
        pred = pred.astype(np.float64)
        w = None if sample_weight is None else \
            _arr(sample_weight, p).astype(np.float64).reshape(-1, 1)
        axis = None if self.average == "micro" else 0

        def wsum(v):
            return (v if w is None else v * w).sum(axis=axis)
        cur = (wsum(pred * t), wsum(pred * (1 - t)), wsum((1 - pred) * t), wsum(t))
        if self.true_positives is None:
            (self.true_positives, self.false_positives, self.false_negatives,
             self.intermediate_weights) = cur
        else:
            self.true_positives = _add(self.true_positives, cur[0])
            self.false_positives = _add(self.false_positives, cur[1])
            self.false_negatives = _add(self.false_negatives, cur[2])
            self.intermediate_weights = _add(self.intermediate_weights, cur[3])

    def result(self):
        if self.true_positives is None:
            return _wrap_result(0.0)
        tp, fp, fn, iw = (np.asarray(to_host(a), np.float64) for a in (
            self.true_positives, self.false_positives, self.false_negatives,
            self.intermediate_weights))
        precision = tp / (tp + fp + _losses._eps())
        recall = tp / (tp + fn + _losses._eps())
        b2 = self.beta ** 2
        f = precision * recall / (b2 * precision + recall + _losses._eps()) * (1 + b2)
        if self.average == "weighted":
            f = (f * iw / (iw.sum() + _losses._eps())).sum()
        elif self.average is not None:
            f = f.mean()
        return _wrap_result(f)

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """F1 (beta = 1) score; see FBetaScore."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        cfg = super().get_config()
        del cfg["beta"]
        return cfg


class R2Score(Metric):
    """Coefficient of determination 1 - SS_res / SS_tot per output column of 2-D targets,
    aggregated by ``class_aggregation`` ("uniform_average", "variance_weighted_average" or
    None); adjusted for ``num_regressors`` when given."""

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score",
                 dtype=None):
        super().__init__(name, dtype)
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError(f"R2Score: class_aggregation must be None, 'uniform_average' or "
                             f"'variance_weighted_average', got {class_aggregation!r}")
        if num_regressors < 0:
            raise ValueError(f"R2Score: num_regressors must be >= 0, got {num_regressors}")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        self.reset_state()

    def reset_state(self):
        self.sum = self.squared_sum = self.total_mse = self.count = None
        self.num_samples = 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = _arr(y_pred).astype(np.float64)
        t = _arr(y_true, p).astype(np.float64)
        t, p = _squeeze_or_expand(t, p)
        if p.ndim != 2 or t.shape != p.shape:
            raise ValueError(f"R2Score: expected y_true and y_pred of shape (batch, outputs), "
                             f"got {tuple(t.shape)} and {tuple(p.shape)}")
        xp = get_xp(p)
        w = xp.ones_like(t) if sample_weight is None else \
            _arr(sample_weight, p).astype(np.float64)
        if w.ndim == 1:
            w = w[:, None]
        w = xp.broadcast_to(w, t.shape)
        cur = ((t * w).sum(0), (t * t * w).sum(0), (((t - p) ** 2) * w).sum(0), w.sum(0))
        if self.sum is None:
            self.sum, self.squared_sum, self.total_mse, self.count = cur
        else:
            self.sum = _add(self.sum, cur[0])
            self.squared_sum = _add(self.squared_sum, cur[1])
            self.total_mse = _add(self.total_mse, cur[2])
            self.count = _add(self.count, cur[3])
        self.num_samples += t.size

    def result(self):
        if self.sum is None:
            return _wrap_result(0.0)
        s, sq, res, cnt = (np.asarray(to_host(a), np.float64) for a in (
            self.sum, self.squared_sum, self.total_mse, self.count))
        mean = s / cnt
        total = sq - s * mean
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = 1 - res / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            r2 = raw.mean()
        elif self.class_aggregation == "variance_weighted_average":
            r2 = (total * raw).sum() / total.sum()
        else:
            r2 = raw
        n, k = self.num_samples, self.num_regressors
        if k and k < n - 1:
            r2 = 1 - (1 - r2) * (n - 1) / (n - k - 1)
        return _wrap_result(r2)

    def get_config(self):
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


# ------------------------------------------------------------------ lookup
_FUNCTIONS = {f.__name__: f for f in (accuracy, binary_accuracy, categorical_accuracy,
                                       sparse_categorical_accuracy, top_k_categorical_accuracy,
                                       sparse_top_k_categorical_accuracy, pearson_correlation,
                                       concordance_correlation)}
_CLASSES = {c.__name__: c for c in (
    Mean, Sum, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanAbsoluteError,
    MeanSquaredError, RootMeanSquaredError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, AUC, Precision, Recall, MeanMetricWrapper,
    BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, KLDivergence,
    Poisson, Hinge, SquaredHinge, CategoricalHinge, LogCoshError, CosineSimilarity,
    FBetaScore, F1Score, R2Score, TruePositives, FalsePositives, TrueNegatives,
    FalseNegatives, IoU, MeanIoU, BinaryIoU, OneHotIoU, OneHotMeanIoU,
    SensitivityAtSpecificity, SpecificityAtSensitivity, PrecisionAtRecall, RecallAtPrecision,
    PearsonCorrelation, ConcordanceCorrelation)}
_NAMES = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "mse": MeanSquaredError, "MSE": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "root_mean_squared_error": RootMeanSquaredError, "rmse": RootMeanSquaredError,
    "auc": AUC, "precision": Precision, "recall": Recall, "mean": Mean, "sum": Sum,
    "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kl_divergence": KLDivergence, "kld": KLDivergence, "poisson": Poisson, "hinge": Hinge,
    "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "logcosh": LogCoshError, "log_cosh": LogCoshError, "cosine_similarity": CosineSimilarity,
    "f1_score": F1Score, "fbeta_score": FBetaScore, "r2_score": R2Score,
    "true_positives": TruePositives, "false_positives": FalsePositives,
    "true_negatives": TrueNegatives, "false_negatives": FalseNegatives,
    "pearson_correlation": PearsonCorrelation, "concordance_correlation": ConcordanceCorrelation,
}
_LOSS_FUNCTION_NAMES = ("huber", "log_cosh", "binary_crossentropy", "categorical_crossentropy",
                        "sparse_categorical_crossentropy", "kl_divergence", "poisson",
                        "hinge", "squared_hinge", "categorical_hinge")


def _shape(x):
    if x is None:
        return None
    if isinstance(x, (tuple, list)) and all(isinstance(s, (int, type(None))) for s in x):
        return tuple(x)
    return tuple(_arr(x).shape) if not hasattr(x, "shape") else tuple(x.shape)


def _accuracy_for(loss, output_shape, y_true, y_pred):
    ts, ps = _shape(y_true), _shape(y_pred)
    if ts is not None and ps is not None and len(ps):
        if ps[-1] == 1:
            return BinaryAccuracy
        if len(ts) < len(ps) or (len(ts) and ts[-1] == 1 and ps[-1] != 1):
            return SparseCategoricalAccuracy
        return CategoricalAccuracy
    if loss is not None:
        lname = loss if isinstance(loss, str) else (
            getattr(loss, "name", None) if not callable(loss) or hasattr(loss, "reduction")
            else getattr(loss, "__name__", None))
        if hasattr(loss, "fn") and getattr(loss.fn, "__name__", None):
            lname = loss.fn.__name__
        lname = str(lname or "").lower()
        if "sparse_categorical" in lname or lname == "sparsecategoricalcrossentropy":
            return SparseCategoricalAccuracy
        if "binary" in lname or lname in ("bce", "binarycrossentropy"):
            return BinaryAccuracy
        if "categorical" in lname:
            return CategoricalAccuracy
    os_ = _shape(output_shape)
    if os_ is not None and len(os_) and os_[-1] == 1:
        return BinaryAccuracy
    return CategoricalAccuracy


_ACCURACY_NAMES = ("accuracy", "acc")


def _named(identifier):
    """The built-in metric a string names (its name is that string), or None."""
    if identifier.lower() in _ACCURACY_NAMES:
        return _accuracy_for(None, None, None, None)(name=identifier)
    cls = _NAMES.get(identifier) or (_CLASSES.get(identifier)
                                     if identifier != "MeanMetricWrapper" else None)
    if cls is not None:
        return cls(name=identifier)
    if identifier in _LOSS_FUNCTION_NAMES:
        return MeanMetricWrapper(getattr(_losses, identifier), name=identifier)
    return None


# functions a saved MeanMetricWrapper may name: the metric functions and the losses'
_METRIC_FUNCTIONS = {**{n: getattr(_losses, n) for n in _losses.__all__
                        if getattr(_losses, n) in _losses._FUNCTIONS.values()}, **_FUNCTIONS}

_KIND = Kind("metrics", "metric", named=_named, class_names=_CLASSES,
             functions=_METRIC_FUNCTIONS, known=sorted(set(_NAMES) | set(_CLASSES)) + ["accuracy"],
             none=None, instances=Metric, subclasses=Metric,
             wrap=lambda fn: MeanMetricWrapper(fn, name=getattr(fn, "__name__", None)),
             expected="a string, dict, Metric or callable", keras_module="keras.metrics")
MeanMetricWrapper._kind = _KIND


def get(identifier, loss=None, output_shape=None, y_true=None, y_pred=None):
    """A Metric instance for a name, config dict, class, instance or function (module doc)."""
    if isinstance(identifier, str) and identifier.lower() in _ACCURACY_NAMES:
        return _accuracy_for(loss, output_shape, y_true, y_pred)(name=identifier)
    return _KIND.get(identifier)


def serialize(metric):
    """``{"class_name", "config"}`` of a Metric."""
    return _KIND.serialize(metric)


def deserialize(config, custom_objects=None):
    """A Metric from ``serialize``'s dict or a name."""
    return _KIND.deserialize(config, custom_objects)
