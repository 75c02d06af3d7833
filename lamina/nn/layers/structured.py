"""Preprocessing layers for structured data, Keras 3's names and numerics:
``Normalization`` (learned mean/variance), ``Discretization`` (bucketize by boundaries or
learned quantiles), ``CategoryEncoding`` (ids -> one-hot / multi-hot / counts), the
vocabulary lookups ``StringLookup`` / ``IntegerLookup`` and ``Hashing`` (TensorFlow's
FarmHash64 / SipHash, so the bins match Keras's).

Only ``Normalization`` is differentiable (it is written with lamina ops).  The others work
on the raw arrays of their inputs: they hold no weights and produce integer ids or
encodings, as in Keras.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from ...ops.base import xp_of
from ...tensor import Tensor, _wrap
from .base import Layer
from .symbolic import KerasTensor
from .text import by_frequency

__all__ = ["Normalization", "Discretization", "CategoryEncoding", "StringLookup",
           "IntegerLookup", "Hashing"]

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


def _hash_bytes(b, salt):
    """TensorFlow's string hash: FarmHash64, or SipHash-2-4 keyed by ``salt``."""
    return siphash64(salt, b) if salt is not None else farmhash64(b)


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


# ------------------------------------------------------------------ lookups
class _IndexLookup(Layer):
    """Shared vocabulary machinery of StringLookup and IntegerLookup (Keras's IndexLookup).

    Index layout: [mask (only in 'int' mode with a mask_token)] [num_oov_indices OOV
    slots] [tokens by decreasing frequency].  ``adapt`` counts tokens (mask and OOV tokens
    excluded), orders them as TextVectorization does and keeps at most ``max_tokens``
    indices in all."""

    _convert_inputs = False
    _MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=None,
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 sparse=False, pad_to_max_tokens=False, oov_method="floormod", salt=None,
                 **kwargs):
        self._frozen = kwargs.pop("vocabulary_size", None)
        kwargs.pop("has_input_vocabulary", None)
        super().__init__(**kwargs)
        who = f"{type(self).__name__} '{self.name}'"
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError(f"{who}: max_tokens must be > 1, got {max_tokens}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{who}: pad_to_max_tokens=True needs max_tokens")
        if num_oov_indices < 0:
            raise ValueError(f"{who}: num_oov_indices must be >= 0, got {num_oov_indices}")
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(f"{who}: oov_method must be 'floormod' or 'farmhash', got "
                             f"{oov_method!r}")
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        if output_mode not in self._MODES:
            raise ValueError(f"{who}: output_mode must be one of {self._MODES}, got "
                             f"{output_mode!r}")
        if invert and output_mode != "int":
            raise ValueError(f"{who}: invert=True needs output_mode='int', got "
                             f"{output_mode!r}")
        if sparse:
            raise ValueError(f"{who}: sparse=True is not supported")
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(f"{who}: idf_weights only apply to output_mode='tf_idf'")
        if output_mode == "tf_idf" and vocabulary is not None and idf_weights is None:
            raise ValueError(f"{who}: output_mode='tf_idf' with a vocabulary needs "
                             f"idf_weights")
        self.invert = bool(invert)
        self.max_tokens = max_tokens
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token = self._token(mask_token) if mask_token is not None else None
        self.oov_token = self._token(oov_token) if oov_token is not None else None
        self.output_mode = output_mode
        self.sparse = False
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        if salt is not None:
            if self._vocabulary_dtype == "int64" and oov_method != "farmhash":
                raise ValueError(f"{who}: salt only applies with oov_method='farmhash'")
            if isinstance(salt, (tuple, list)) and len(salt) == 2:
                salt = [int(v) for v in salt]
            elif isinstance(salt, (int, np.integer)):
                salt = [int(salt), int(salt)]
            else:
                raise ValueError(f"{who}: salt must be an int or a pair of ints, got "
                                 f"{salt!r}")
        self.oov_method = oov_method
        self.salt = salt
        self.input_vocabulary = list(vocabulary) if vocabulary is not None and \
            not isinstance(vocabulary, str) else None
        self.input_idf_weights = idf_weights
        self._tokens = []
        self._index = {}
        self._idf = None
        # True once the vocabulary comes from adapt() or a file: the config then carries it
        self._learned = False
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
            self._learned = isinstance(vocabulary, str)
        self.built = True

    # subclasses: the Python token type
    def _token(self, t):
        raise NotImplementedError

    def _oov_start(self):
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start(self):
        return self._oov_start() + self.num_oov_indices

    def _who(self):
        return f"{type(self).__name__} '{self.name}'"

    # -------------------------------------------------------------- vocabulary
    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Use ``vocabulary`` (tokens, or a path to a file with one per line); the mask
        and OOV tokens may lead it, in that order.  'tf_idf' needs ``idf_weights``."""
        who = self._who()
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError(f"{who}: idf_weights must be set when output_mode='tf_idf'")
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(f"{who}: idf_weights only apply to output_mode='tf_idf'")
        if isinstance(vocabulary, str):
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = [ln.rstrip("\n") for ln in f]
            while vocabulary and vocabulary[-1] == "":
                vocabulary.pop()
        vocab = [self._token(t) for t in _raw(vocabulary).reshape(-1).tolist()] \
            if not isinstance(vocabulary, list) else [self._token(t) for t in vocabulary]
        if not vocab:
            raise ValueError(f"{who}: cannot set an empty vocabulary")
        start = self._token_start()
        special = [self.mask_token] * self._oov_start() + [self.oov_token] * \
            self.num_oov_indices
        found = vocab[:start] == special
        tokens = vocab[start:] if found else vocab
        repeated = [t for t, c in Counter(tokens).items() if c > 1]
        if repeated:
            raise ValueError(f"{who}: the vocabulary repeats the tokens {repeated}")
        if self.mask_token is not None and self.mask_token in tokens:
            raise ValueError(f"{who}: the mask token {self.mask_token!r} may only lead the "
                             f"vocabulary, as in {special}")
        if self.oov_token is not None and self.invert and self.oov_token in tokens:
            raise ValueError(f"{who}: the OOV token {self.oov_token!r} may only lead the "
                             f"vocabulary, as in {special}")
        if self.max_tokens is not None and start + len(tokens) > self.max_tokens:
            raise ValueError(f"{who}: a vocabulary of {start + len(tokens)} entries exceeds "
                             f"max_tokens={self.max_tokens}")
        idf = None
        if idf_weights is not None:
            idf = np.asarray(_raw(idf_weights), dtype=np.float64).reshape(-1)
            if len(idf) != len(vocab):
                raise ValueError(f"{who}: {len(idf)} idf_weights for a vocabulary of "
                                 f"{len(vocab)} entries")
            if not found:
                idf = np.concatenate([np.full(start, idf.mean()), idf])
        self._set(tokens, idf)

    def _set(self, tokens, idf=None):
        start = self._token_start()
        self._tokens = list(tokens)
        self._index = {t: i + start for i, t in enumerate(self._tokens)}
        self._idf = None
        if idf is not None:
            if self.pad_to_max_tokens and self.max_tokens is not None:
                idf = np.pad(idf, (0, self.max_tokens - len(idf)))
            self._idf = np.asarray(idf, dtype=self._dtype)
        self._frozen = self.vocabulary_size()

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary (and for 'tf_idf' the idf weights
        log(1 + docs / (1 + document frequency))) from ``data``: an array of tokens (each
        row of a 2-D array is a document) or an iterable of such batches."""
        who = self._who()
        if self.input_vocabulary is not None:
            raise ValueError(f"{who}: cannot adapt a layer given a vocabulary")
        batches, many = _batches(data)
        if steps is not None:
            batches = batches[:steps]
        counts, doc_counts, n_docs = Counter(), Counter(), 0
        for b in batches:
            arr = self._as_array(b)
            if arr.ndim == 0:
                arr = arr.reshape(1, 1)
            elif arr.ndim == 1:
                # a whole array: one token per document; a batch from an iterable: one
                # document (as Keras's update_state)
                arr = arr.reshape(1, -1) if many else arr.reshape(-1, 1)
            rows = arr.reshape(arr.shape[0], -1)
            for row in rows.tolist():
                row = [self._token(t) for t in row]
                counts.update(row)
                doc_counts.update(set(row))
            n_docs += rows.shape[0]
        for special in (self.mask_token, self.oov_token):
            counts.pop(special, None)
        tokens = by_frequency(counts, key=self._sort_key)
        if self.max_tokens:
            tokens = tokens[:self.max_tokens - self._token_start()]
        idf = None
        if self.output_mode == "tf_idf":
            df = np.array([doc_counts[t] for t in tokens], dtype=np.float64)
            w = np.log(1 + n_docs / (1 + df))
            idf = np.concatenate([np.full(self._token_start(), w.mean() if len(w) else 0.0),
                                  w])
        self._learned = True
        self._set(tokens, idf)

    def get_vocabulary(self, include_special_tokens=True):
        """The token at each index (mask and OOV entries first unless
        ``include_special_tokens=False``)."""
        vocab = [self.oov_token] * self._token_start() + list(self._tokens)
        if self.mask_token is not None and self.output_mode == "int":
            vocab[0] = self.mask_token
        return vocab if include_special_tokens else vocab[self._token_start():]

    def vocabulary_size(self):
        """The number of indices: tokens plus the mask and OOV slots."""
        return len(self._tokens) + self._token_start()

    # -------------------------------------------------------------- call
    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, KerasTensor):
            return super().__call__(inputs, *args, **kwargs)
        return self.call(inputs)

    def _lookup(self, arr):
        """Token array -> int64 index array (mask -> 0 in 'int' mode, -1 in the others)."""
        who = self._who()
        flat = arr.reshape(-1).tolist()
        index = self._index
        start = self._oov_start()
        n_oov = self.num_oov_indices
        out = np.empty(len(flat), dtype=np.int64)
        mask = self.mask_token
        masked_value = 0 if self.output_mode == "int" else -1
        for i, t in enumerate(flat):
            t = self._token(t)
            j = index.get(t)
            if j is None:
                if mask is not None and t == mask:
                    j = masked_value
                elif n_oov == 0:
                    raise ValueError(f"{who}: {t!r} is not in the vocabulary and "
                                     f"num_oov_indices=0; set num_oov_indices=1")
                elif n_oov == 1:
                    j = start
                else:
                    j = start + self._oov_bucket(t)
            out[i] = j
        return out.reshape(arr.shape)

    def _invert(self, arr):
        vocab = self.get_vocabulary()
        default = self.oov_token
        flat = [vocab[i] if 0 <= i < len(vocab) and i >= self._token_start() else
                (self.mask_token if (i == 0 and self.mask_token is not None) else default)
                for i in np.asarray(arr, dtype=np.int64).reshape(-1).tolist()]
        return flat

    def call(self, inputs):
        if self.invert:
            idx = _host(inputs)
            return self._inverted(self._invert(idx), np.shape(idx))
        arr = self._as_array(inputs)
        ids = self._lookup(arr)
        if self.output_mode == "int":
            return _wrap(ids)
        if not self.pad_to_max_tokens and self._frozen is None:
            raise RuntimeError(f"{self._who()}: output_mode={self.output_mode!r} needs a "
                               f"vocabulary: pass one or call adapt() first")
        depth = self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()
        if ids.ndim == 0:
            ids = ids.reshape(1)
        if self.output_mode == "one_hot":
            if ids.shape[-1] != 1:
                ids = ids[..., None]
        if ids.ndim > 2:
            raise ValueError(f"{self._who()}: output_mode={self.output_mode!r} takes inputs "
                             f"of rank <= 2, got shape {arr.shape}")
        mode = "count" if self.output_mode == "tf_idf" else \
            ("multi_hot" if self.output_mode == "one_hot" else self.output_mode)
        out = _encode(ids, mode, depth, self._dtype, self._who(), drop_out_of_range=True)
        if self.output_mode == "tf_idf":
            out = out * self._idf[:depth].astype(self._dtype)
        return _wrap(out)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        depth = self.max_tokens if self.pad_to_max_tokens else self._frozen
        shape = tuple(input_shape)
        if self.output_mode == "one_hot":
            if len(shape) > 1 and shape[-1] == 1:
                return shape[:-1] + (depth,)
            return shape + (depth,)
        return shape[:-1] + (depth,)

    def get_config(self):
        cfg = super().get_config()
        vocab = self.input_vocabulary
        if vocab is None and self._learned:
            # lamina keeps a learned vocabulary in the config (Keras writes it to an asset
            # file), so that a JSON config alone restores the layer
            vocab = self.get_vocabulary()
        idf = self.input_idf_weights
        if idf is None and self._learned and self._idf is not None:
            idf = self._idf[:self.vocabulary_size()].tolist()
        cfg.update({"invert": self.invert, "max_tokens": self.max_tokens,
                    "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token,
                    "mask_token": self.mask_token, "output_mode": self.output_mode,
                    "sparse": self.sparse, "pad_to_max_tokens": self.pad_to_max_tokens,
                    "vocabulary_dtype": self._vocabulary_dtype,
                    "idf_weights": None if idf is None else np.asarray(idf).tolist(),
                    "vocabulary": None if vocab is None else [self._plain(t) for t in vocab],
                    "vocabulary_size": self._frozen, "oov_method": self.oov_method,
                    "salt": self.salt})
        return cfg


class StringLookup(_IndexLookup):
    """Strings -> integer indices from a vocabulary ('int', same shape as the input), or
    their 'one_hot' / 'multi_hot' / 'count' / 'tf_idf' encodings over the vocabulary;
    ``invert=True`` maps indices back to strings (a NumPy array of str).

    With ``num_oov_indices > 1`` unknown strings are spread over the OOV slots by
    FarmHash64 (SipHash with a ``salt``), the same slots as in Keras.
    """

    _vocabulary_dtype = "string"

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]",
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 pad_to_max_tokens=False, sparse=False, encoding="utf-8", name=None, salt=None,
                 **kwargs):
        kwargs.pop("vocabulary_dtype", None)
        self.encoding = encoding
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token, vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode,
                         sparse=sparse, pad_to_max_tokens=pad_to_max_tokens, name=name,
                         salt=salt, **kwargs)

    def _token(self, t):
        if isinstance(t, bytes):
            return t.decode(self.encoding)
        if isinstance(t, str):
            return t
        if isinstance(t, np.str_):
            return str(t)
        raise TypeError(f"StringLookup '{self.name}': expected strings, got "
                        f"{type(t).__name__} ({t!r})")

    _plain = staticmethod(str)
    _sort_key = staticmethod(str)

    def _as_array(self, x):
        if isinstance(x, Tensor):
            raise TypeError(f"StringLookup '{self.name}': expected strings, got a Tensor of "
                            f"dtype {x.dtype}")
        if isinstance(x, (str, bytes)):
            return np.array(x, dtype=object)
        arr = np.asarray(x, dtype=object)
        if arr.size and not all(isinstance(t, (str, bytes)) for t in arr.reshape(-1)):
            bad = next(t for t in arr.reshape(-1) if not isinstance(t, (str, bytes)))
            raise TypeError(f"StringLookup '{self.name}': expected strings, got "
                            f"{type(bad).__name__} ({bad!r})")
        return arr

    def _oov_bucket(self, t):
        return _hash_bytes(t.encode("utf-8"), self.salt) % self.num_oov_indices

    def _inverted(self, flat, shape):
        return np.array(flat, dtype=object).reshape(shape).astype(str)

    def get_config(self):
        cfg = super().get_config()
        del cfg["vocabulary_dtype"]
        cfg["encoding"] = self.encoding
        return cfg


class IntegerLookup(_IndexLookup):
    """Integers -> indices in a vocabulary of integers ('int', same shape), or their
    'one_hot' / 'multi_hot' / 'count' / 'tf_idf' encodings; ``invert=True`` maps indices
    back to the integers.  With ``num_oov_indices > 1`` an unknown value v lands in OOV slot
    ``v mod num_oov_indices`` ('floormod'), or by the FarmHash64 of its decimal text
    ('farmhash', SipHash with a ``salt``), as in Keras."""

    _vocabulary_dtype = "int64"

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
                 vocabulary=None, vocabulary_dtype="int64", idf_weights=None, invert=False,
                 output_mode="int", sparse=False, pad_to_max_tokens=False,
                 oov_method="floormod", salt=None, name=None, **kwargs):
        if vocabulary_dtype != "int64":
            raise ValueError(f"IntegerLookup: only vocabulary_dtype='int64' is supported, got "
                             f"{vocabulary_dtype!r}")
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token, vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode,
                         sparse=sparse, pad_to_max_tokens=pad_to_max_tokens,
                         oov_method=oov_method, salt=salt, name=name, **kwargs)

    def _token(self, t):
        if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer, float,
                                                                   np.floating)):
            raise TypeError(f"IntegerLookup '{self.name}': expected integers, got "
                            f"{type(t).__name__} ({t!r})")
        if isinstance(t, (float, np.floating)) and t != int(t):
            raise TypeError(f"IntegerLookup '{self.name}': expected integers, got {t!r}")
        return int(t)

    _plain = staticmethod(int)
    _sort_key = staticmethod(int)

    def _as_array(self, x):
        arr = _host(x)
        if arr.dtype.kind not in "iuf":
            raise TypeError(f"IntegerLookup '{self.name}': expected integers, got dtype "
                            f"{arr.dtype}")
        return arr.astype(np.int64)

    def _oov_bucket(self, t):
        if self.oov_method == "farmhash":
            return _hash_bytes(str(t).encode(), self.salt) % self.num_oov_indices
        return t % self.num_oov_indices

    def _inverted(self, flat, shape):
        return _wrap(np.array(flat, dtype=np.int64).reshape(shape))


# ------------------------------------------------------------------ Hashing
_M64 = (1 << 64) - 1
_K0, _K1, _K2 = 0xc3a5c85c97cb3127, 0xb492b66fbe98f273, 0x9ae16a3b2f90404f


def _rot(v, s):
    return v if s == 0 else ((v >> s) | (v << (64 - s))) & _M64


def _u64(b, i):
    return int.from_bytes(b[i:i + 8], "little")


def _u32(b, i):
    return int.from_bytes(b[i:i + 4], "little")


def _mix16(u, v, mul):
    a = ((u ^ v) * mul) & _M64
    a ^= a >> 47
    b = ((v ^ a) * mul) & _M64
    b ^= b >> 47
    return (b * mul) & _M64


def _weak32(b, i, a, c):
    """FarmHash's WeakHashLen32WithSeeds over the 32 bytes at b[i:]."""
    w, x, y, z = _u64(b, i), _u64(b, i + 8), _u64(b, i + 16), _u64(b, i + 24)
    a = (a + w) & _M64
    c = _rot((c + a + z) & _M64, 21)
    first = a
    a = (a + x + y) & _M64
    c = (c + _rot(a, 44)) & _M64
    return (a + z) & _M64, (c + first) & _M64


def farmhash64(data):
    """FarmHash's Fingerprint64 (farmhashna::Hash64) of ``data`` (bytes): the hash of
    TensorFlow's ``to_hash_bucket_fast``, which Keras's Hashing layer uses."""
    b, n = data, len(data)
    if n <= 16:
        if n >= 8:
            mul = _K2 + 2 * n
            a = (_u64(b, 0) + _K2) & _M64
            c = _u64(b, n - 8)
            return _mix16((_rot(c, 37) * mul + a) & _M64, ((_rot(a, 25) + c) * mul) & _M64,
                          mul)
        if n >= 4:
            mul = _K2 + 2 * n
            return _mix16((n + (_u32(b, 0) << 3)) & _M64, _u32(b, n - 4), mul)
        if n > 0:
            y = b[0] + (b[n >> 1] << 8)
            z = n + (b[n - 1] << 2)
            h = ((y * _K2) ^ (z * _K0)) & _M64
            return ((h ^ (h >> 47)) * _K2) & _M64
        return _K2
    mul = _K2 + 2 * n
    if n <= 32:
        a = (_u64(b, 0) * _K1) & _M64
        c0 = _u64(b, 8)
        c = (_u64(b, n - 8) * mul) & _M64
        d = (_u64(b, n - 16) * _K2) & _M64
        return _mix16((_rot((a + c0) & _M64, 43) + _rot(c, 30) + d) & _M64,
                      (a + _rot((c0 + _K2) & _M64, 18) + c) & _M64, mul)
    if n <= 64:
        a = (_u64(b, 0) * _K2) & _M64
        c0 = _u64(b, 8)
        c = (_u64(b, n - 8) * mul) & _M64
        d = (_u64(b, n - 16) * _K2) & _M64
        y = (_rot((a + c0) & _M64, 43) + _rot(c, 30) + d) & _M64
        z = _mix16(y, (a + _rot((c0 + _K2) & _M64, 18) + c) & _M64, mul)
        e = (_u64(b, 16) * mul) & _M64
        f = _u64(b, 24)
        g = ((y + _u64(b, n - 32)) * mul) & _M64
        h = ((z + _u64(b, n - 24)) * mul) & _M64
        return _mix16((_rot((e + f) & _M64, 43) + _rot(g, 30) + h) & _M64,
                      (e + _rot((f + a) & _M64, 18) + g) & _M64, mul)
    # over 64 bytes: 64-byte blocks through a 56-byte state, then the last 64 bytes
    seed = 81
    x = seed
    y = (seed * _K1 + 113) & _M64
    z = ((((y * _K2 + 113) & _M64) ^ (((y * _K2 + 113) & _M64) >> 47)) * _K2) & _M64
    v = (0, 0)
    w = (0, 0)
    x = (x * _K2 + _u64(b, 0)) & _M64
    end = ((n - 1) // 64) * 64
    last = n - 64
    i = 0
    while True:
        x = (_rot((x + y + v[0] + _u64(b, i + 8)) & _M64, 37) * _K1) & _M64
        y = (_rot((y + v[1] + _u64(b, i + 48)) & _M64, 42) * _K1) & _M64
        x ^= w[1]
        y = (y + v[0] + _u64(b, i + 40)) & _M64
        z = (_rot((z + w[0]) & _M64, 33) * _K1) & _M64
        v = _weak32(b, i, (v[1] * _K1) & _M64, (x + w[0]) & _M64)
        w = _weak32(b, i + 32, (z + w[1]) & _M64, (y + _u64(b, i + 16)) & _M64)
        z, x = x, z
        i += 64
        if i == end:
            break
    mul = _K1 + ((z & 0xff) << 1)
    w0 = (w[0] + ((n - 1) & 63)) & _M64
    v0 = (v[0] + w0) & _M64
    w0 = (w0 + v0) & _M64
    v, w = (v0, v[1]), (w0, w[1])
    x = (_rot((x + y + v[0] + _u64(b, last + 8)) & _M64, 37) * mul) & _M64
    y = (_rot((y + v[1] + _u64(b, last + 48)) & _M64, 42) * mul) & _M64
    x ^= (w[1] * 9) & _M64
    y = (y + v[0] * 9 + _u64(b, last + 40)) & _M64
    z = (_rot((z + w[0]) & _M64, 33) * mul) & _M64
    v = _weak32(b, last, (v[1] * mul) & _M64, (x + w[0]) & _M64)
    w = _weak32(b, last + 32, (z + w[1]) & _M64, (y + _u64(b, last + 16)) & _M64)
    z, x = x, z
    return _mix16((_mix16(v[0], w[0], mul) + (y ^ (y >> 47)) * _K0 + z) & _M64,
                  (_mix16(v[1], w[1], mul) + x) & _M64, mul)


def siphash64(key, data):
    """SipHash-2-4 of ``data`` (bytes) under the 128-bit key ``(k0, k1)``: the hash of
    TensorFlow's ``to_hash_bucket_strong`` (Keras's Hashing with a ``salt``)."""
    k0, k1 = key[0] & _M64, key[1] & _M64
    v0, v1 = k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d
    v2, v3 = k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573

    def rounds(v0, v1, v2, v3, n):
        for _ in range(n):
            v0 = (v0 + v1) & _M64
            v1 = _rot(v1, 64 - 13) ^ v0
            v0 = _rot(v0, 64 - 32)
            v2 = (v2 + v3) & _M64
            v3 = _rot(v3, 64 - 16) ^ v2
            v0 = (v0 + v3) & _M64
            v3 = _rot(v3, 64 - 21) ^ v0
            v2 = (v2 + v1) & _M64
            v1 = _rot(v1, 64 - 17) ^ v2
            v2 = _rot(v2, 64 - 32)
        return v0, v1, v2, v3
    n = len(data)
    tail = data[n - n % 8:] + bytes(7 - n % 8) + bytes([n & 0xff])
    for i in range(0, n - n % 8, 8):
        m = _u64(data, i)
        v3 ^= m
        v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
        v0 ^= m
    m = int.from_bytes(tail, "little")
    v3 ^= m
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
    v0 ^= m
    v2 ^= 0xff
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3


class Hashing(Layer):
    """Hashes strings or integers into ``num_bins`` bins, as Keras (TensorFlow's
    FarmHash64 of the value's text, integers in decimal; SipHash-2-4 keyed by ``salt``
    when given), so the bins match Keras's.  ``mask_value`` reserves bin 0 for itself
    (the others hash into 1 .. num_bins - 1).  'int' keeps the input shape (int64);
    'one_hot' / 'multi_hot' / 'count' encode the bins as :class:`CategoryEncoding`."""

    _convert_inputs = False

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False,
                 **kwargs):
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "int64" if output_mode == "int" else "float32"
        super().__init__(**kwargs)
        who = f"Hashing '{self.name}'"
        if num_bins is None or num_bins <= 0:
            raise ValueError(f"{who}: num_bins must be a positive int, got {num_bins!r}")
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise ValueError(f"{who}: output_mode must be 'int', 'one_hot', 'multi_hot' or "
                             f"'count', got {output_mode!r}")
        if output_mode == "int" and self._dtype.kind != "i":
            raise ValueError(f"{who}: output_mode='int' needs an integer dtype, got "
                             f"{self._dtype}")
        if sparse:
            raise ValueError(f"{who}: sparse=True is not supported")
        if salt is not None:
            if isinstance(salt, (tuple, list)) and len(salt) == 2:
                salt = [int(s) for s in salt]
            elif isinstance(salt, (int, np.integer)):
                salt = [int(salt), int(salt)]
            else:
                raise ValueError(f"{who}: salt must be an int or a pair of ints, got "
                                 f"{salt!r}")
        self.num_bins = int(num_bins)
        self.mask_value = mask_value
        self.salt = salt
        self.output_mode = output_mode
        self.sparse = False
        self.built = True

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, KerasTensor):
            return super().__call__(inputs, *args, **kwargs)
        return self.call(inputs)

    def _bins(self, arr):
        """The bin of each value of ``arr`` (a NumPy array), as an int64 array."""
        bins = self.num_bins
        masked = self.mask_value is not None and bins > 1
        if masked:
            bins -= 1
        if arr.dtype.kind == "f":
            arr = arr.astype(np.int64)       # as Keras: floats hash as their integer part
        salt = self.salt
        out = np.empty(arr.size, dtype=np.int64)
        for i, v in enumerate(arr.reshape(-1).tolist()):
            if masked and v == self.mask_value:
                out[i] = 0
                continue
            if isinstance(v, str):
                b = v.encode("utf-8")
            elif isinstance(v, bytes):
                b = v
            elif isinstance(v, int) and not isinstance(v, bool):
                b = str(v).encode()
            else:
                raise TypeError(f"Hashing '{self.name}': expected strings or integers, got "
                                f"{type(v).__name__} ({v!r})")
            out[i] = _hash_bytes(b, salt) % bins + (1 if masked else 0)
        return out.reshape(arr.shape)

    def call(self, inputs):
        arr = _host(inputs)
        if isinstance(inputs, (list, tuple)) or arr.dtype.kind in "USO":
            arr = np.asarray(inputs, dtype=object) if arr.dtype.kind in "USO" else arr
        if arr.dtype.kind == "b":
            raise TypeError(f"Hashing '{self.name}': expected strings or integers, got "
                            f"booleans")
        ids = self._bins(arr)
        if self.output_mode == "int":
            return _wrap(ids.astype(self._dtype))
        if ids.ndim > 2 or (ids.ndim == 2 and self.output_mode == "one_hot" and
                            ids.shape[-1] != 1):
            raise ValueError(f"Hashing '{self.name}': output_mode={self.output_mode!r} takes "
                             f"inputs of rank <= 2 ((N, 1) for 'one_hot'), got shape "
                             f"{arr.shape}")
        return _wrap(_encode(ids, self.output_mode, self.num_bins, self._dtype,
                             f"Hashing '{self.name}'"))

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        return _encoded_shape(input_shape, self.output_mode, self.num_bins)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"num_bins": self.num_bins, "salt": self.salt,
                    "mask_value": self.mask_value, "output_mode": self.output_mode,
                    "sparse": self.sparse})
        return cfg
