"""``TextVectorization``: strings -> token ids (or multi-hot / counts), Keras 3's layer.

Works on Python strings with the standard library (no TensorFlow): standardize
(lowercase, strip punctuation), split (whitespace or characters), look the tokens up
in a vocabulary learned by ``adapt``.  Index 0 is padding (''), 1 is '[UNK]'; learned
tokens follow by decreasing frequency, ties broken by the token in reverse order (as
Keras's ``np.lexsort`` does).
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

from ...tensor import Tensor, _wrap
from .base import Layer
from .symbolic import KerasTensor

__all__ = ["TextVectorization"]

_PUNCT = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
_STANDARDIZE = (None, "lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = (None, "whitespace", "character")
_MODES = ("int", "multi_hot", "count", "tf_idf")


def _as_strings(data):
    """A flat list of Python strings from a string, list, array or (N, 1) array."""
    if isinstance(data, Tensor):
        data = data.numpy()
    if isinstance(data, (str, bytes)):
        data = [data]
    arr = np.asarray(data, dtype=object)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"TextVectorization: expected a batch of strings of shape (N,) or "
                         f"(N, 1), got shape {arr.shape}")
    out = []
    for s in arr:
        if isinstance(s, bytes):
            s = s.decode("utf-8")
        if not isinstance(s, str):
            raise TypeError(f"TextVectorization: expected strings, got {type(s).__name__}")
        out.append(s)
    return out


def by_frequency(counts, key=str):
    """The tokens of ``counts`` (a Counter) by decreasing count, ties broken by
    ``key(token)`` decreasing, as Keras's ``np.lexsort((tokens, counts))[::-1]``; shared
    with the lookup layers of :mod:`.structured`."""
    tokens = list(counts)
    if not tokens:
        return tokens
    keys = np.array([key(t) for t in tokens])
    order = np.lexsort((keys, np.array([counts[t] for t in tokens])))[::-1]
    return [tokens[i] for i in order]


class TextVectorization(Layer):
    """Maps strings (N,) to integer token ids (N, output_sequence_length) ('int' mode,
    padded with 0 at the end / truncated), or to (N, max_tokens) 'multi_hot' / 'count' /
    'tf_idf' (count * log(1 + docs / (1 + document frequency))) vectors; ``ngrams`` adds
    the space-joined n-grams of the given widths as tokens.  ``adapt(texts)`` learns the
    vocabulary (at most ``max_tokens`` entries, including '' and '[UNK]')."""

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation",
                 split="whitespace", ngrams=None, output_mode="int",
                 output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 **kwargs):
        idf_weights = kwargs.pop("idf_weights", None)
        for k in ("sparse", "ragged", "encoding"):
            if kwargs.pop(k, None) not in (None, False, "utf-8"):
                raise ValueError(f"TextVectorization: {k} is not supported")
        super().__init__(**kwargs)
        if standardize not in _STANDARDIZE and not callable(standardize):
            raise ValueError(f"TextVectorization: standardize must be one of {_STANDARDIZE} or "
                             f"a callable, got {standardize!r}")
        if split not in _SPLIT and not callable(split):
            raise ValueError(f"TextVectorization: split must be one of {_SPLIT} or a callable, "
                             f"got {split!r}")
        if output_mode not in _MODES:
            raise ValueError(f"TextVectorization: output_mode must be one of {_MODES}, got "
                             f"{output_mode!r}")
        if not (ngrams is None or isinstance(ngrams, int) or
                (isinstance(ngrams, (tuple, list)) and all(isinstance(n, int) for n in ngrams))):
            raise ValueError(f"TextVectorization: ngrams must be None, an int or a tuple of "
                             f"ints, got {ngrams!r}")
        if max_tokens is not None and int(max_tokens) < 3:
            raise ValueError(f"TextVectorization: max_tokens must be at least 3 (padding, OOV "
                             f"and one token), got {max_tokens}")
        if output_sequence_length is not None and output_mode != "int":
            raise ValueError("TextVectorization: output_sequence_length only applies to "
                             "output_mode='int'")
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.standardize = standardize
        self.split = split
        self.output_mode = output_mode
        self.output_sequence_length = output_sequence_length
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.ngrams = tuple(ngrams) if isinstance(ngrams, list) else ngrams
        self._widths = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else \
            (tuple(ngrams) if ngrams else (1,))
        self._vocab = ["", "[UNK]"]
        self._index = {}
        self._idf = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        self.built = True

    # ---------------------------------------------------------------- vocabulary
    def _standardize(self, s):
        st = self.standardize
        if callable(st):
            return st(s)
        if st in ("lower", "lower_and_strip_punctuation"):
            s = s.lower()
        if st in ("strip_punctuation", "lower_and_strip_punctuation"):
            s = _PUNCT.sub("", s)
        return s

    def _split(self, s):
        sp = self.split
        if sp is None:
            return [s]
        if callable(sp):
            return list(sp(s))
        if sp == "character":
            return list(s)
        return s.split()

    def _tokens(self, s):
        toks = self._split(self._standardize(s))
        if self._widths == (1,):
            return toks
        # all n-grams of each width, widths in order, joined by a space (as tf.strings.ngrams)
        return [" ".join(toks[i:i + n]) for n in self._widths
                for i in range(len(toks) - n + 1)]

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary from ``data``: strings, an array of them, or an iterable of
        such batches (e.g. a dataset)."""
        counts = Counter()
        doc_counts = Counter()
        n_docs = 0
        one = isinstance(data, (str, bytes, np.ndarray, Tensor)) or (
            isinstance(data, (list, tuple)) and all(isinstance(s, (str, bytes)) for s in data))
        batches = [data] if one else data
        for i, batch in enumerate(batches):
            if steps is not None and i >= steps:
                break
            if isinstance(batch, tuple) and len(batch) == 2 and not isinstance(batch[0], str):
                batch = batch[0]        # (texts, labels) pairs from a dataset
            for s in _as_strings(batch):
                toks = self._tokens(s)
                counts.update(toks)
                doc_counts.update(set(toks))
                n_docs += 1
        counts.pop("", None)
        tokens = by_frequency(counts)
        if self.max_tokens is not None:
            tokens = tokens[:self.max_tokens - 2]
        idf = None
        if self.output_mode == "tf_idf":
            df = np.array([doc_counts[t] for t in tokens], dtype=np.float64)
            idf = np.log(1 + n_docs / (1 + df))
        self._set(tokens, idf)

    def _set(self, tokens, idf=None):
        self._vocab = ["", "[UNK]"] + list(tokens)
        self._index = {t: i for i, t in enumerate(self._vocab) if i >= 2}
        self._idf = None
        if self.output_mode == "tf_idf":
            if idf is None or len(idf) != len(tokens):
                raise ValueError(f"TextVectorization: output_mode='tf_idf' needs one idf weight "
                                 f"per token ({len(tokens)}), got "
                                 f"{None if idf is None else len(idf)}")
            idf = np.asarray(idf, dtype=np.float64)
            # padding 0; OOV: the mean idf of the vocabulary (as Keras)
            self._idf = np.concatenate([[0.0, idf.mean() if len(idf) else 0.0], idf])

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Use ``vocabulary`` (a list of tokens, or a path to a file with one per line);
        '' and '[UNK]' at its start are taken as the special tokens."""
        if isinstance(vocabulary, str):
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = [ln.rstrip("\n") for ln in f]
        vocab = list(vocabulary)
        if vocab[:1] == [""]:
            vocab = vocab[1:]
        if vocab[:1] == ["[UNK]"]:
            vocab = vocab[1:]
        if len(set(vocab)) != len(vocab):
            raise ValueError("TextVectorization.set_vocabulary: the vocabulary has repeated "
                             "tokens")
        if self.max_tokens is not None and len(vocab) + 2 > self.max_tokens:
            raise ValueError(f"TextVectorization.set_vocabulary: {len(vocab) + 2} tokens "
                             f"exceed max_tokens={self.max_tokens}")
        self._set(vocab, idf_weights)

    def get_vocabulary(self, include_special_tokens=True):
        """The tokens by index ('' and '[UNK]' first unless ``include_special_tokens=False``)."""
        return list(self._vocab) if include_special_tokens else list(self._vocab[2:])

    def vocabulary_size(self):
        """Number of tokens including the two special ones."""
        return len(self._vocab)

    # ---------------------------------------------------------------- call
    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, KerasTensor):
            return super().__call__(inputs, *args, **kwargs)
        return self.call(inputs)

    def call(self, inputs):
        if isinstance(inputs, Tensor) and inputs.dtype.kind in "iufb" and inputs.ndim >= 1:
            # placeholder data from a symbolic call: shapes only
            n = inputs.shape[0]
            texts = [""] * n
        else:
            texts = _as_strings(inputs)
        idx = self._index
        seqs = [[idx.get(t, 1) for t in self._tokens(s)] for s in texts]
        if self.output_mode == "int":
            L = self.output_sequence_length
            if L is None:
                L = max((len(s) for s in seqs), default=0)
            out = np.zeros((len(seqs), L), dtype=np.int64)
            for i, s in enumerate(seqs):
                s = s[:L]
                out[i, :len(s)] = s
            return _wrap(out)
        V = self.max_tokens if (self.pad_to_max_tokens and self.max_tokens) else len(self._vocab)
        out = np.zeros((len(seqs), V), dtype=np.float32)
        for i, s in enumerate(seqs):
            for t in s:
                if self.output_mode == "multi_hot":
                    out[i, t] = 1
                else:
                    out[i, t] += 1
        out[:, 0] = 0          # padding is never a token
        if self.output_mode == "tf_idf":
            out[:, :len(self._idf)] *= self._idf.astype(np.float32)
        return _wrap(out)

    def compute_output_shape(self, input_shape):
        n = input_shape[0] if input_shape else None
        if self.output_mode == "int":
            return (n, self.output_sequence_length)
        V = self.max_tokens if (self.pad_to_max_tokens and self.max_tokens) else \
            len(self._vocab)
        return (n, V)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(max_tokens=self.max_tokens,
                   standardize=self.standardize if not callable(self.standardize) else None,
                   split=self.split if not callable(self.split) else None,
                   output_mode=self.output_mode,
                   output_sequence_length=self.output_sequence_length,
                   pad_to_max_tokens=self.pad_to_max_tokens,
                   ngrams=list(self.ngrams) if isinstance(self.ngrams, tuple) else self.ngrams,
                   vocabulary=self.get_vocabulary()[2:] if len(self._vocab) > 2 else None,
                   idf_weights=self._idf[2:].tolist() if self._idf is not None else None)
        return cfg
