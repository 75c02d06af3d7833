"""Preprocessing layers for structured data, Keras 3's names and numerics:
``Normalization`` (learned mean/variance), ``Discretization`` (bucketize by boundaries or
learned quantiles) and ``CategoryEncoding`` (ids -> one-hot / multi-hot / counts), plus the
input and encoding helpers the vocabulary lookups (lookup.py) and ``Hashing`` (hashing.py)
share with them.

Only ``Normalization`` is differentiable (it is written with lamina ops).  The others work
on the raw arrays of their inputs: they hold no weights and produce integer ids or
encodings, as in Keras.
"""
from __future__ import annotations

import math

import numpy as np

from ...ops.base import xp_of
from ...tensor import Tensor, _wrap
from .base import Layer

__all__ = ["Normalization", "Discretization", "CategoryEncoding"]

# keras.config.epsilon(): the floor of the standard deviation in Normalization
_EPSILON = 1e-7


def _raw(x):
    """A NumPy/CuPy array from a Tensor, array, list or scalar."""
    if isinstance(x, Tensor):
        return x.data
    if hasattr(x, "__cuda_array_interface__"):
        return x
    return np.asarray(x)


def _host(x):
    """A NumPy array from a Tensor, NumPy/CuPy array, list or scalar (copied off the
    GPU: the preprocessing layers' bookkeeping runs in Python)."""
    a = _raw(x)
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else a


def _batches(data):
    """``data`` as a list of batches: one array, or each element of an iterable (the
    first item of ``(x, y[, w])`` tuples, as Keras's adapt takes from datasets)."""
    if isinstance(data, (np.ndarray, Tensor)) or hasattr(data, "__cuda_array_interface__"):
        return [data], False
    if isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
        return [data], False
    if isinstance(data, (list, tuple)) and not data:
        return [], True
    if isinstance(data, (list, tuple)) and not any(
            isinstance(b, (np.ndarray, Tensor, tuple)) or hasattr(b, "__cuda_array_interface__")
            for b in data):
        return [np.asarray(data)], False      # nested Python lists: one array
    return [b[0] if isinstance(b, tuple) else b for b in data], True


def _encode(ids, mode, depth, dtype, who, weights=None, drop_out_of_range=False):
    """Keras's categorical encoding of integer ``ids`` (raw array) into ``depth`` classes.

    'one_hot': (..., depth), a trailing axis of size 1 replaced; 'multi_hot'/'count': rank 1
    (n,) -> (depth,), rank >= 2 (N, k, ...) -> (N, ..., depth) reducing axis 1 (as Keras).
    Out-of-range ids raise, unless ``drop_out_of_range`` (masked lookups): then they count
    nowhere."""
    xp = xp_of(_wrap(ids)) if not isinstance(ids, np.ndarray) else np
    ids = ids.astype(np.int64, copy=False)
    if ids.ndim == 0:
        ids = ids.reshape(1)
    valid = (ids >= 0) & (ids < depth)
    if not drop_out_of_range and not bool(valid.all()):
        raise ValueError(f"{who}: input values must be in [0, {depth}) "
                         f"(num_tokens={depth}), got values in "
                         f"[{int(ids.min())}, {int(ids.max())}]")
    if mode == "one_hot":
        if ids.ndim > 1 and ids.shape[-1] == 1:
            ids, valid = ids.reshape(ids.shape[:-1]), valid.reshape(ids.shape[:-1])
        flat, ok = ids.reshape(-1), valid.reshape(-1)
        out = xp.zeros((flat.size, depth), dtype=dtype)
        rows = xp.arange(flat.size)
        out[rows[ok], flat[ok]] = 1
        return out.reshape(ids.shape + (depth,))
    # multi_hot / count: one bincount over (row, id) pairs, rows being the positions
    # left after reducing axis 1 (axis 0 for rank 1), as Keras reduces
    if ids.ndim == 1:
        ids, valid = ids[None], valid[None]
        weights = None if weights is None else weights[None]
        lead = ()
    else:
        lead = (ids.shape[0],) + ids.shape[2:]
    k = ids.shape[1]
    order = (0,) + tuple(range(2, ids.ndim)) + (1,)
    rows_ids = ids.transpose(order).reshape(-1, k)
    ok = valid.transpose(order).reshape(-1, k)
    m = rows_ids.shape[0]
    flat = (xp.arange(m)[:, None] * depth + rows_ids)[ok]
    w = None if weights is None else weights.transpose(order).reshape(-1, k)[ok]
    counts = xp.bincount(flat, weights=w, minlength=m * depth).reshape(lead + (depth,))
    if mode == "multi_hot":
        return (counts > 0).astype(dtype)
    return counts.astype(dtype)


def _encoded_shape(input_shape, mode, depth):
    shape = tuple(input_shape)
    if not shape:
        return (depth,)
    if mode == "one_hot":
        if len(shape) > 1 and shape[-1] == 1:
            return shape[:-1] + (depth,)
        return shape + (depth,)
    if len(shape) >= 2:
        return (shape[0],) + shape[2:] + (depth,)
    return (depth,)


# ------------------------------------------------------------------ Normalization
class Normalization(Layer):
    """``(x - mean) / max(sqrt(variance), 1e-7)`` per position of ``axis`` (``invert``:
    ``mean + x * max(sqrt(variance), 1e-7)``).  ``mean``/``variance`` are given, or
    learned by ``adapt(data)`` (an array, or an iterable of batches) and then stored in
    the non-trainable weights ``mean``, ``variance`` and ``count``.  Shape-preserving."""

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, (int, np.integer)):
            axis = (int(axis),)
        else:
            axis = tuple(int(a) for a in axis)
        self.axis = axis
        self.input_mean = mean
        self.input_variance = variance
        self.invert = bool(invert)
        self.supports_masking = True
        if (mean is None) != (variance is None):
            raise ValueError(f"Normalization '{self.name}': give both mean and variance, or "
                             f"neither; got mean={mean} and variance={variance}")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError(f"Normalization '{self.name}': mean shape {np.shape(mean)} "
                                 f"differs from variance shape {np.shape(variance)}")
            if np.ndim(mean) > len(self.axis):
                raise ValueError(f"Normalization '{self.name}': mean of shape "
                                 f"{np.shape(mean)} has more dims than axis={self.axis}")
        self._mean = self._var = None

    def build(self, input_shape):
        nd = len(input_shape)
        if any(a < -nd or a >= nd for a in self.axis):
            raise ValueError(f"Normalization '{self.name}': axis {self.axis} out of range "
                             f"for inputs of rank {nd} (shape {tuple(input_shape)})")
        keep = tuple(sorted(a % nd for a in self.axis))
        for a in keep:
            if input_shape[a] is None:
                raise ValueError(f"Normalization '{self.name}': axis {a} of input shape "
                                 f"{tuple(input_shape)} must be known")
        self._keep = keep
        self._reduce = tuple(d for d in range(nd) if d not in keep)
        self._bshape = tuple(input_shape[d] if d in keep else 1 for d in range(nd))
        vshape = tuple(input_shape[d] for d in keep)
        self._vshape = vshape
        self._build_shape = tuple(input_shape)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(name="mean", shape=vshape, initializer="zeros",
                                              trainable=False)
            self.adapt_variance = self.add_weight(name="variance", shape=vshape,
                                                  initializer="ones", trainable=False)
            self.count = self.add_weight(name="count", shape=(), dtype="int32",
                                         initializer="zeros", trainable=False)
        else:
            self._mean = self._given(self.input_mean)
            self._var = self._given(self.input_variance)
        self.built = True

    def _given(self, v):
        """A user-given mean/variance broadcast to the kept axes (trailing dims matched)."""
        v = np.asarray(v, dtype=self._dtype)
        nd = len(self._bshape)
        if v.ndim:
            shape = [1] * nd
            for i in range(1, v.ndim + 1):
                shape[self._keep[-i]] = v.shape[-i]
            v = v.reshape(shape)
        return np.ascontiguousarray(np.broadcast_to(v, self._bshape))

    def adapt(self, data, batch_size=None, steps=None):
        """Learn mean and variance over all axes but ``axis`` from ``data`` (an array or
        Tensor, or an iterable of batches; batch statistics are merged exactly)."""
        if self.input_mean is not None:
            raise ValueError(f"Normalization '{self.name}': cannot adapt a layer given mean "
                             f"and variance")
        batches, _ = _batches(data)
        if steps is not None:
            batches = batches[:steps]
        if not batches:
            raise ValueError(f"Normalization '{self.name}'.adapt: got no data")
        first = _raw(batches[0])
        if not self.built:
            self.build(first.shape)
            self.__dict__["_build_shapes"] = tuple(first.shape)
        total_mean = total_var = None
        total = 0
        for b in batches:
            b = _host(b).astype(np.float64)
            if b.ndim != len(self._bshape) or any(b.shape[d] != self._build_shape[d]
                                                  for d in self._keep):
                raise ValueError(f"Normalization '{self.name}'.adapt: batch of shape "
                                 f"{b.shape} does not match the built shape "
                                 f"{self._build_shape} on axes {self._keep}")
            bm = b.mean(axis=self._reduce)
            bv = b.var(axis=self._reduce)
            n = math.prod(b.shape[d] for d in self._reduce) if self._reduce else 1
            if total_mean is None:
                total_mean, total_var, total = bm, bv, n
                continue
            # Chan et al.'s merge of (mean, var, count) pairs: exact for any batching
            total += n
            w = n / total
            new_mean = total_mean * (1 - w) + bm * w
            total_var = (total_var + (total_mean - new_mean) ** 2) * (1 - w) + \
                (bv + (bm - new_mean) ** 2) * w
            total_mean = new_mean
        self.adapt_mean.assign(total_mean.astype(self._dtype))
        self.adapt_variance.assign(total_var.astype(self._dtype))

    def _stats(self):
        if self._mean is not None:
            return self._mean, self._var
        return (self.adapt_mean.data.reshape(self._bshape),
                self.adapt_variance.data.reshape(self._bshape))

    def call(self, inputs):
        if inputs.dtype.kind != "f":
            inputs = _wrap(inputs.data.astype(self._dtype))
        mean, var = self._stats()
        xp = xp_of(inputs)
        if xp is not np and isinstance(mean, np.ndarray):
            mean, var = xp.asarray(mean), xp.asarray(var)
        std = xp.maximum(xp.sqrt(var), var.dtype.type(_EPSILON)).astype(inputs.dtype)
        mean = mean.astype(inputs.dtype)
        if self.invert:
            return inputs * _wrap(std) + _wrap(mean)
        return (inputs - _wrap(mean)) * _wrap((1.0 / std).astype(inputs.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"axis": self.axis, "invert": self.invert,
                    "mean": np.array(self.input_mean).tolist(),
                    "variance": np.array(self.input_variance).tolist()})
        return cfg


# ------------------------------------------------------------------ Discretization
def _summarize(values, epsilon):
    """A (2, k) summary (values, weights) of the sorted ``values`` at ~1/epsilon evenly
    spaced ranks: Keras's streaming quantile sketch, so boundaries match its."""
    values = np.sort(values.reshape(-1))
    step = max(values.size * epsilon, 1)
    picked = values[int(step - 1)::int(step)]
    return np.stack([picked, np.full(picked.shape, step, dtype=picked.dtype)])


def _compress(summary, epsilon):
    """Re-sample a summary at the cumulative-weight fractions epsilon, 2 epsilon, ..., 1."""
    if summary.shape[1] * epsilon < 1:
        return summary
    fractions = epsilon + np.arange(0.0, 1.0, epsilon)
    cum = summary[1].cumsum()
    at = np.interp(fractions, cum / cum[-1], summary[0])
    cum_new = np.interp(fractions, cum / cum[-1], cum)
    weights = np.diff(np.concatenate([[0.0], cum_new]))
    return np.stack([at, weights]).astype(np.float32)


class Discretization(Layer):
    """Buckets of values by ``bin_boundaries`` (index i where b[i-1] <= x < b[i], as
    ``np.digitize``), or by ``num_bins`` quantile boundaries learned with ``adapt`` (within
    ``epsilon``).  'int' keeps the input shape (int32); 'one_hot' / 'multi_hot' / 'count'
    encode the bucket ids as :class:`CategoryEncoding` does (float)."""

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int",
                 sparse=False, dtype=None, name=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        who = f"Discretization '{self.name}'"
        if sparse:
            raise ValueError(f"{who}: sparse=True is not supported")
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise ValueError(f"{who}: output_mode must be 'int', 'one_hot', 'multi_hot' or "
                             f"'count', got {output_mode!r}")
        if num_bins is not None and num_bins < 0:
            raise ValueError(f"{who}: num_bins must be >= 0, got {num_bins}")
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError(f"{who}: give num_bins or bin_boundaries, not both")
        if num_bins is None and bin_boundaries is None:
            raise ValueError(f"{who}: give either num_bins or bin_boundaries")
        self.bin_boundaries = None if bin_boundaries is None else \
            [float(b) for b in bin_boundaries]
        self.num_bins = num_bins
        self.epsilon = epsilon
        self.output_mode = output_mode
        self.sparse = False
        self._summary = None if self.bin_boundaries else np.zeros((2, 0), np.float32)
        self.built = True

    def adapt(self, data, batch_size=None, steps=None):
        """Learn ``num_bins - 1`` quantile boundaries of ``data`` (an array or an iterable
        of batches)."""
        if self.num_bins is None:
            raise ValueError(f"Discretization '{self.name}': cannot adapt a layer made with "
                             f"bin_boundaries; pass num_bins instead")
        batches, _ = _batches(data)
        if steps is not None:
            batches = batches[:steps]
        summary = np.zeros((2, 0), np.float32)
        for b in batches:
            b = _host(b).astype(np.float32)
            s = _summarize(b, self.epsilon)
            merged = np.concatenate([s, summary], axis=1)
            merged = merged[:, np.argsort(merged[0], kind="stable")]
            summary = _compress(merged, self.epsilon)
        if summary.shape[1] == 0:
            raise ValueError(f"Discretization '{self.name}'.adapt: got no data")
        self._summary = summary
        self.bin_boundaries = _compress(summary, 1.0 / self.num_bins)[0, :-1].tolist()

    def call(self, inputs):
        if self.bin_boundaries is None:
            raise ValueError(f"Discretization '{self.name}': pass bin_boundaries or call "
                             f"adapt(data) before using the layer")
        x = _raw(inputs)
        xp = np if isinstance(x, np.ndarray) else xp_of(_wrap(x))
        ids = xp.digitize(x, xp.asarray(self.bin_boundaries, dtype=x.dtype if
                                        x.dtype.kind == "f" else np.float64))
        if self.output_mode == "int":
            return _wrap(ids.astype(np.int32))
        return _wrap(_encode(ids, self.output_mode, len(self.bin_boundaries) + 1,
                             self._dtype, f"Discretization '{self.name}'"))

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        depth = len(self.bin_boundaries) + 1 if self.bin_boundaries is not None else \
            self.num_bins
        return _encoded_shape(input_shape, self.output_mode, depth)

    def get_config(self):
        return {"bin_boundaries": self.bin_boundaries, "num_bins": self.num_bins,
                "epsilon": self.epsilon, "output_mode": self.output_mode,
                "sparse": self.sparse, "name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("trainable", None)
        bounds = config.get("bin_boundaries")
        if bounds is not None and config.get("num_bins") is not None:
            config.pop("bin_boundaries")       # an adapted layer: keep what it learned
            layer = cls(**config)
            layer.bin_boundaries = [float(b) for b in bounds]
            return layer
        return cls(**config)


# ------------------------------------------------------------------ CategoryEncoding
class CategoryEncoding(Layer):
    """Integer ids in [0, num_tokens) -> 'one_hot' (..., num_tokens), 'multi_hot' or
    'count' ((N, k) -> (N, num_tokens); (k,) -> (num_tokens,)); ``count_weights`` (same
    shape as the ids) weight the counts."""

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        who = f"CategoryEncoding '{self.name}'"
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode not in ("count", "one_hot", "multi_hot"):
            raise ValueError(f"{who}: output_mode must be 'count', 'one_hot' or 'multi_hot', "
                             f"got {output_mode!r}")
        if num_tokens is None:
            raise ValueError(f"{who}: num_tokens must be set (use IntegerLookup when the "
                             f"number of tokens is not known)")
        if num_tokens < 1:
            raise ValueError(f"{who}: num_tokens must be >= 1, got {num_tokens}")
        if sparse:
            raise ValueError(f"{who}: sparse=True is not supported")
        self.num_tokens = int(num_tokens)
        self.output_mode = output_mode
        self.sparse = False

    def call(self, inputs, count_weights=None):
        who = f"CategoryEncoding '{self.name}'"
        x = _raw(inputs)
        if x.dtype.kind == "f":
            if bool((x != x.round()).any()):
                raise TypeError(f"{who}: expected integer ids, got non-integer floats")
        elif x.dtype.kind not in "iub":
            raise TypeError(f"{who}: expected integer ids, got dtype {x.dtype}")
        w = None
        if count_weights is not None:
            if self.output_mode != "count":
                raise ValueError(f"{who}: count_weights only apply to output_mode='count'")
            w = _raw(count_weights).astype(self._dtype)
            if type(w) is not type(x):          # host weights for GPU ids, or the reverse
                from ...backend import device_of, to_device
                w = to_device(w, device_of(x))
            if w.shape != x.shape:
                raise ValueError(f"{who}: count_weights shape {w.shape} differs from the "
                                 f"input shape {x.shape}")
        return _wrap(_encode(x, self.output_mode, self.num_tokens, self._dtype, who, w))

    def compute_output_shape(self, input_shape):
        return _encoded_shape(input_shape, self.output_mode, self.num_tokens)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"num_tokens": self.num_tokens, "output_mode": self.output_mode})
        return cfg
