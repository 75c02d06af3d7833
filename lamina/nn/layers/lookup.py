"""The vocabulary lookups ``StringLookup`` and ``IntegerLookup`` (Keras 3's IndexLookup):
tokens to integer ids with mask and out-of-vocabulary slots (unknown tokens spread over
several OOV slots as Keras spreads them), ``invert``, the int / one-hot / multi-hot /
count / tf-idf outputs, and ``adapt`` on data.  Not differentiable: they map raw arrays."""
from __future__ import annotations

from collections import Counter

import numpy as np

from ...tensor import Tensor, _wrap
from .base import Layer
from .hashing import _hash_bytes
from .structured import _raw, _host, _batches, _encode
from .symbolic import KerasTensor
from .text import by_frequency

__all__ = ["StringLookup", "IntegerLookup"]


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
