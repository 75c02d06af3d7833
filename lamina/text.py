"""Text and sequence utilities: ``pad_sequences``, the legacy Keras ``Tokenizer`` subset,
and sampling helpers for generation (temperature sampling, greedy and beam search).

All work on plain Python/NumPy data (no tensors) and follow Keras's semantics.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

__all__ = ["pad_sequences", "text_to_word_sequence", "Tokenizer", "sample_with_temperature",
           "greedy_decode", "beam_search_decode"]


# ------------------------------------------------------------------ padding
def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Pad (or truncate) a list of sequences to one length: -> array (n, maxlen, ...).

    ``padding`` / ``truncating`` 'pre' (default) or 'post' say at which end values are
    added / removed; ``maxlen`` defaults to the longest sequence.
    """
    if padding not in ("pre", "post"):
        raise ValueError(f"pad_sequences: padding must be 'pre' or 'post', got {padding!r}")
    if truncating not in ("pre", "post"):
        raise ValueError(f"pad_sequences: truncating must be 'pre' or 'post', got "
                         f"{truncating!r}")
    if not hasattr(sequences, "__len__"):
        raise ValueError("pad_sequences: sequences must be a list of sequences")
    lengths, sample_shape = [], ()
    found = False
    for i, s in enumerate(sequences):
        try:
            lengths.append(len(s))
        except TypeError:
            raise ValueError(f"pad_sequences: sequences must be a list of iterables; item {i} "
                             f"is {type(s).__name__}") from None
        if not found and len(s):
            sample_shape = np.asarray(s).shape[1:]
            found = True
    if maxlen is None:
        maxlen = max(lengths) if lengths else 0
    maxlen = int(maxlen)
    is_str = np.issubdtype(np.dtype(dtype), np.str_) if dtype is not object else False
    if isinstance(value, str) and dtype is not object and not is_str:
        raise ValueError(f"pad_sequences: dtype {dtype} cannot hold the string value {value!r}; "
                         "use dtype=object")
    out = np.full((len(sequences), maxlen) + tuple(sample_shape), value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s) or maxlen == 0:
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        trunc = np.asarray(trunc, dtype=dtype)
        if trunc.shape[1:] != sample_shape:
            raise ValueError(f"pad_sequences: sequence {i} has items of shape "
                             f"{trunc.shape[1:]}, expected {sample_shape}")
        if padding == "post":
            out[i, :len(trunc)] = trunc
        else:
            out[i, maxlen - len(trunc):] = trunc
    return out


# ------------------------------------------------------------------ Tokenizer
_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def text_to_word_sequence(text, filters=_FILTERS, lower=True, split=" "):
    """Words of ``text``: lowercased, the ``filters`` characters turned into ``split``,
    split on it, empty strings dropped."""
    if lower:
        text = text.lower()
    text = text.translate(str.maketrans({c: split for c in filters}))
    return [w for w in text.split(split) if w]


class Tokenizer:
    """The legacy ``keras.preprocessing.text.Tokenizer``: builds a word index from texts by
    frequency (1 = most frequent; ties keep first-seen order) and turns texts into
    integer sequences.  ``num_words`` keeps the ``num_words - 1`` most frequent words;
    ``oov_token`` (index 1) replaces unknown words; ``char_level`` indexes characters."""

    def __init__(self, num_words=None, filters=_FILTERS, lower=True, split=" ",
                 char_level=False, oov_token=None, document_count=0, **kwargs):
        if kwargs:
            raise TypeError(f"Tokenizer: unexpected keyword argument(s) {sorted(kwargs)}")
        self.num_words = num_words
        self.filters = filters
        self.lower = lower
        self.split = split
        self.char_level = char_level
        self.oov_token = oov_token
        self.document_count = document_count
        self.word_counts = OrderedDict()
        self.word_docs = {}
        self.word_index = {}
        self.index_word = {}
        self.index_docs = {}

    def _tokens(self, text):
        if self.char_level or isinstance(text, list):
            if self.lower:
                text = [t.lower() for t in text] if isinstance(text, list) else text.lower()
            return list(text)
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts):
        """Count the words of ``texts`` (strings, or lists of tokens) and rebuild the index."""
        if isinstance(texts, str):
            raise TypeError("Tokenizer.fit_on_texts: expected a list of texts, got one string "
                            "(wrap it in a list)")
        for text in texts:
            self.document_count += 1
            seq = self._tokens(text)
            for w in seq:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(seq):
                self.word_docs[w] = self.word_docs.get(w, 0) + 1
        wcounts = sorted(self.word_counts.items(), key=lambda kv: kv[1], reverse=True)
        vocab = ([self.oov_token] if self.oov_token is not None else []) + \
            [w for w, _ in wcounts]
        self.word_index = {w: i for i, w in enumerate(vocab, start=1)}
        self.index_word = {i: w for w, i in self.word_index.items()}
        self.index_docs = {self.word_index[w]: c for w, c in self.word_docs.items()}

    def texts_to_sequences(self, texts):
        """Each text as a list of word indices (unknown or rare words dropped, or mapped to
        the ``oov_token`` index)."""
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts):
        """Like ``texts_to_sequences``, one text at a time."""
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        nw = self.num_words
        for text in texts:
            vect = []
            for w in self._tokens(text):
                i = self.word_index.get(w)
                if i is not None:
                    if nw and i >= nw:
                        if oov is not None:
                            vect.append(oov)
                    else:
                        vect.append(i)
                elif oov is not None:
                    vect.append(oov)
            yield vect

    def sequences_to_texts(self, sequences):
        """Index sequences back to space-joined words (rare/unknown indices dropped, or the
        oov token)."""
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        out = []
        for seq in sequences:
            words = []
            for i in seq:
                w = self.index_word.get(int(i))
                if w is not None and not (self.num_words and i >= self.num_words):
                    words.append(w)
                elif oov is not None:
                    words.append(self.index_word[oov])
            out.append(("" if self.char_level else " ").join(words))
        return out

    def texts_to_matrix(self, texts, mode="binary"):
        """(n_texts, num_words) matrix: 'binary', 'count', 'freq' or 'tfidf' per word index."""
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode)

    def sequences_to_matrix(self, sequences, mode="binary"):
        """(n, num_words) matrix from index sequences, as Keras's Tokenizer."""
        if mode not in ("binary", "count", "freq", "tfidf"):
            raise ValueError(f"Tokenizer: unknown mode {mode!r}; expected 'binary', 'count', "
                             "'freq' or 'tfidf'")
        n = self.num_words or (len(self.word_index) + 1)
        if not self.num_words and not self.word_index:
            raise ValueError("Tokenizer.sequences_to_matrix: fit the tokenizer or set num_words")
        x = np.zeros((len(sequences), n))
        for r, seq in enumerate(sequences):
            if not seq:
                continue
            counts = {}
            for j in seq:
                if j < n:
                    counts[j] = counts.get(j, 0) + 1
            for j, c in counts.items():
                if mode == "count":
                    x[r, j] = c
                elif mode == "freq":
                    x[r, j] = c / len(seq)
                elif mode == "binary":
                    x[r, j] = 1
                else:
                    tf = 1 + np.log(c)
                    idf = np.log(1 + self.document_count / (1 + self.index_docs.get(j, 0)))
                    x[r, j] = tf * idf
        return x

    def get_config(self):
        """JSON-able state (counts and index)."""
        return {"num_words": self.num_words, "filters": self.filters, "lower": self.lower,
                "split": self.split, "char_level": self.char_level,
                "oov_token": self.oov_token, "document_count": self.document_count,
                "word_counts": dict(self.word_counts), "word_docs": dict(self.word_docs),
                "word_index": dict(self.word_index)}


# ------------------------------------------------------------------ sampling
def sample_with_temperature(preds, temperature=1.0, rng=None, from_logits=False):
    """Draw an index from a distribution reshaped by ``temperature`` (< 1 sharper,
    > 1 flatter; 0 means argmax).  ``preds``: probabilities (or logits with
    ``from_logits``) of shape (V,) or (N, V) -> an int or an (N,) array."""
    p = np.asarray(preds.numpy() if hasattr(preds, "numpy") else preds, dtype=np.float64)
    if temperature < 0:
        raise ValueError(f"sample_with_temperature: temperature must be >= 0, got {temperature}")
    logits = p if from_logits else np.log(np.clip(p, 1e-300, None))
    if temperature == 0:
        idx = logits.argmax(axis=-1)
        return int(idx) if idx.ndim == 0 else idx
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)
    q = np.exp(z)
    q /= q.sum(axis=-1, keepdims=True)
    rng = rng if rng is not None else np.random.default_rng()
    if q.ndim == 1:
        return int(rng.choice(q.shape[0], p=q))
    u = rng.random((q.shape[0], 1))
    return np.minimum((q.cumsum(axis=-1) < u).sum(axis=-1), q.shape[-1] - 1)


def greedy_decode(step_fn, start, max_length, end_token=None):
    """Greedy decoding: ``step_fn(prefix)`` gives next-token log-probabilities (or
    probabilities) of shape (V,) for the list ``prefix``; append the best token until
    ``end_token`` or ``max_length`` tokens.  Returns the token list (with ``start``)."""
    seq = list(start)
    while len(seq) < max_length:
        scores = np.asarray(step_fn(seq))
        tok = int(scores.argmax())
        seq.append(tok)
        if end_token is not None and tok == end_token:
            break
    return seq


def beam_search_decode(step_fn, start, max_length, beam_width=3, end_token=None,
                       length_penalty=0.0):
    """Beam search: keeps the ``beam_width`` best prefixes by summed log-probability
    (``step_fn(prefix)`` returns log-probabilities (V,)); finished beams end with
    ``end_token``.  Scores are divided by len**length_penalty.  Returns a list of
    (tokens, score), best first."""
    if beam_width < 1:
        raise ValueError(f"beam_search_decode: beam_width must be >= 1, got {beam_width}")
    beams = [(list(start), 0.0)]
    done = []
    while beams:
        cand = []
        for seq, score in beams:
            lp = np.asarray(step_fn(seq), dtype=np.float64)
            top = np.argsort(lp)[::-1][:beam_width]
            for t in top:
                cand.append((seq + [int(t)], score + float(lp[t])))
        cand.sort(key=lambda c: c[1], reverse=True)
        beams = []
        for seq, score in cand[:beam_width]:
            if (end_token is not None and seq[-1] == end_token) or len(seq) >= max_length:
                done.append((seq, score))
            else:
                beams.append((seq, score))
        if len(done) >= beam_width:
            break

    def norm(c):
        return c[1] / (len(c[0]) ** length_penalty if length_penalty else 1.0)
    done.sort(key=norm, reverse=True)
    return [(s, norm((s, sc))) for s, sc in done[:beam_width]]

