"""``HashedCrossing``: crosses of categorical features into ``num_bins`` bins by hashing,
with the bins TensorFlow's ``tf.sparse.cross_hashed`` gives (which Keras's layer calls).

TensorFlow crosses a row's features by chaining ``FingerprintCat64`` from the key
0xDECAFCAFFE over the features in order: a string feature enters as its FarmHash64
fingerprint (:func:`lamina.nn.layers.hashing.farmhash64`, the hash of the Hashing
layer), an integer as its own 64-bit value; the bin is the result modulo ``num_bins``
(unsigned).  Everything but the string fingerprints runs on the inputs' array module.
"""
from __future__ import annotations

import numpy as np

from ...tensor import Tensor, _wrap
from ... import backend as _backend
from .base import Layer
from .hashing import farmhash64
from .structured import _encode
from .symbolic import KerasTensor, any_symbolic

__all__ = ["HashedCrossing", "fingerprint_cat64"]

_HASH_KEY = 0xDECAFCAFFE          # tf.sparse.cross_hashed's default hash_key
_KMUL = np.uint64(0xc6a4a7935bd1e995)
_S47 = np.uint64(47)


def _shift_mix(v):
    return v ^ (v >> _S47)


def fingerprint_cat64(a, b):
    """TensorFlow's ``FingerprintCat64(a, b)``: two 64-bit fingerprints combined into one,
    elementwise over uint64 arrays ``a`` and ``b`` of one shape (NumPy or CuPy, rank >= 1:
    the products wrap modulo 2**64, which NumPy does silently only for arrays)."""
    r = a ^ _KMUL
    r = r ^ (_shift_mix(b * _KMUL) * _KMUL)
    r = r * _KMUL
    return _shift_mix(_shift_mix(r) * _KMUL)


def _raw(x):
    if isinstance(x, Tensor):
        return x.data
    if hasattr(x, "__cuda_array_interface__") or isinstance(x, np.ndarray):
        return x
    return np.asarray(x)


def _is_text(a):
    if a.dtype.kind in "US":
        return True
    if a.dtype.kind == "O":
        return all(isinstance(v, (str, bytes)) for v in a.reshape(-1).tolist())
    return False


def _string_fingerprints(a):
    """FarmHash64 of each string (UTF-8) or bytes of the host array ``a``, as uint64;
    each distinct value is hashed once."""
    seen = {}
    out = np.empty(a.size, dtype=np.uint64)
    for i, v in enumerate(a.reshape(-1).tolist()):
        f = seen.get(v)
        if f is None:
            f = seen[v] = farmhash64(v.encode("utf-8") if isinstance(v, str) else bytes(v))
        out[i] = f
    return out.reshape(a.shape)


class HashedCrossing(Layer):
    """Crosses two or more categorical features by hashing: row i of the output is
    ``hash(f1[i], f2[i], ...) % num_bins``, TensorFlow's ``cross_hashed`` bins (those of
    Keras, e.g. ('A', 101) -> 1 of 5).  Each input holds strings or integers, of shape
    (), (batch,) or (batch, 1), all alike.  ``output_mode='int'`` gives the bins with the
    input shape (int64 unless ``dtype`` says otherwise); ``'one_hot'`` gives
    (batch, num_bins) (``(num_bins,)`` for scalars), float32 by default."""

    _convert_inputs = False          # text stays a raw array

    def __init__(self, num_bins, output_mode="int", sparse=False, name=None, dtype=None,
                 **kwargs):
        if dtype is None:
            dtype = "int64" if output_mode == "int" else "float32"
        super().__init__(name=name, dtype=dtype, **kwargs)
        who = f"HashedCrossing '{self.name}'"
        if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or \
                num_bins <= 0:
            raise ValueError(f"{who}: num_bins must be a positive int, got {num_bins!r}")
        if output_mode not in ("int", "one_hot"):
            raise ValueError(f"{who}: output_mode must be 'int' or 'one_hot', got "
                             f"{output_mode!r}")
        if sparse:
            raise ValueError(f"{who}: sparse=True is not supported (Keras allows it only with "
                             "the TensorFlow backend)")
        self.num_bins = int(num_bins)
        self.output_mode = output_mode
        self.sparse = False
        self.built = True

    @property
    def _who(self):
        return f"HashedCrossing '{self.name}'"

    def __call__(self, inputs, *args, **kwargs):
        if any_symbolic(inputs):
            return super().__call__(inputs, *args, **kwargs)
        return self.call(inputs)

    def _check_shapes(self, shapes):
        if len(shapes) < 2:
            raise ValueError(f"{self._who}: expected at least two inputs to cross, got "
                             f"{len(shapes)}")
        first = tuple(shapes[0])
        if len(first) > 2 or (len(first) == 2 and first[-1] not in (1, None)):
            raise ValueError(f"{self._who}: inputs must have shape (), (batch,) or (batch, 1), "
                             f"got shapes {[tuple(s) for s in shapes]}")
        for s in shapes[1:]:
            if len(s) != len(first) or any(a is not None and b is not None and a != b
                                           for a, b in zip(first, s)):
                raise ValueError(f"{self._who}: all inputs must have the same shape, got "
                                 f"shapes {[tuple(s) for s in shapes]}")
        return first

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{self._who}: expected a list or tuple of at least two inputs, "
                             f"got {type(inputs).__name__}")
        arrays = [_raw(x) for x in inputs]
        shape = self._check_shapes([a.shape for a in arrays])
        # the array module: the first device array's, else NumPy (strings live on the host)
        xp = next((_backend.get_xp(a) for a in arrays if not isinstance(a, np.ndarray)), np)
        n = int(np.prod(shape, dtype=np.int64))
        h = xp.full((n,), _HASH_KEY, dtype=np.uint64)
        for i, a in enumerate(arrays):
            if isinstance(a, np.ndarray) and a.dtype.kind == "O" and not _is_text(a):
                a = np.asarray(a.tolist())          # Python ints held as objects
            if isinstance(a, np.ndarray) and _is_text(a):
                f = _string_fingerprints(a).reshape(-1)
                f = f if xp is np else xp.asarray(f)
            elif a.dtype.kind in "iu":
                # TensorFlow casts integers to int64 and uses the value itself
                f = xp.asarray(a).astype(np.int64).reshape(-1).view(np.uint64)
            else:
                raise ValueError(f"{self._who}: inputs must hold integers or strings; input "
                                 f"{i} has dtype {a.dtype} (shape {tuple(a.shape)})")
            h = fingerprint_cat64(h, f)
        ids = (h % np.uint64(self.num_bins)).astype(np.int64).reshape(shape)
        if self.output_mode == "int":
            return _wrap(ids.astype(self._dtype))
        out = _encode(ids, "one_hot", self.num_bins, self._dtype, self._who)
        return _wrap(out[0] if not shape else out)

    def compute_output_shape(self, input_shape):
        """The shape of the bins ('int': the inputs' shape) or of their one-hot encoding."""
        if not isinstance(input_shape, (list, tuple)) or not input_shape or \
                not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"{self._who}: expected a list of input shapes, got "
                             f"{input_shape!r}")
        shape = self._check_shapes([tuple(s) for s in input_shape])
        if self.output_mode == "int":
            return shape
        if len(shape) == 2:
            return shape[:-1] + (self.num_bins,)
        return shape + (self.num_bins,)

    def _output_spec(self, sym_first, args=(), kwargs=None):
        # the shape and dtype are known without a run on placeholder data
        if isinstance(sym_first, (list, tuple)) and all(isinstance(t, KerasTensor)
                                                        for t in sym_first):
            for i, t in enumerate(sym_first):
                if t.dtype.kind not in "iuUSO":
                    raise ValueError(f"{self._who}: inputs must hold integers or strings; "
                                     f"input {i} has dtype {t.dtype}")
            return KerasTensor(self.compute_output_shape([t.shape for t in sym_first]),
                               self._dtype)
        return super()._output_spec(sym_first, args, kwargs)

    def get_config(self):
        # Keras's keys, in its order (no 'trainable': the layer has no weights)
        return {"num_bins": self.num_bins, "output_mode": self.output_mode,
                "sparse": self.sparse, "name": self.name, "dtype": self.dtype}
