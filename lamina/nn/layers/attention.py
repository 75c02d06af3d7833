"""Attention layers with Keras 3's names and weights: Attention (Luong dot-product),
AdditiveAttention (Bahdanau) and MultiHeadAttention; plus positional embeddings and
small Transformer encoder/decoder blocks (keras_hub-style helpers).

MultiHeadAttention keeps Keras's EinsumDense weight shapes (query kernel
(D, heads, key_dim), bias (heads, key_dim), output kernel (heads, value_dim, D_out)),
so parameter counts and weight transfer match Keras; it runs the fused
:func:`lamina.ops.attention.scaled_dot_product_attention`.
"""
from __future__ import annotations

import math

import numpy as np

from ... import ops as _ops  # noqa: F401  (installs Tensor methods)
from ...ops.attention import scaled_dot_product_attention
from ...ops.elementwise import sigmoid, tanh, where
from ...ops.indexing import embedding
from ...ops.linalg import matmul
from ...ops.nn import dropout as _dropout, linear, softmax
from ...ops.reduction import sum as _sum
from ...ops.shape import expand_dims, reshape, swapaxes, transpose
from ...tensor import Tensor, _wrap
from .. import initializers
from .base import Layer, get_mask
from .core import Dense, _on, _seeded_generator, _ser, _weight_args, _weight_config
from .normalization import LayerNormalization

__all__ = ["Attention", "AdditiveAttention", "MultiHeadAttention", "PositionEmbedding",
           "SinePositionEncoding", "TokenAndPositionEmbedding", "TransformerEncoder",
           "TransformerDecoder", "sinusoidal_positions"]


def _bool(m):
    """A mask as a NumPy bool array (masks are small; ops move them to the device)."""
    if m is None:
        return None
    d = m.numpy() if isinstance(m, Tensor) else np.asarray(m)
    return d.astype(bool)


# ------------------------------------------------------------------ Attention
class _BaseDenseAttention(Layer):
    """Shared call of Attention and AdditiveAttention: inputs [query, value(, key)]
    of shapes (N, Tq, dim), (N, Tv, dim), masks [query_mask (N, Tq), value_mask (N, Tv)]."""

    supports_masking = True

    def __init__(self, dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= dropout < 1:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1), got {dropout}")
        self.dropout = float(dropout)
        self.seed = seed
        self._gen = None

    _generator = _seeded_generator

    def _validate(self, inputs, mask):
        name = type(self).__name__
        if not isinstance(inputs, (list, tuple)) or not 2 <= len(inputs) <= 3:
            raise ValueError(f"{name} layer '{self.name}' must be called on a list [query, "
                             f"value] or [query, value, key], got {type(inputs).__name__}")
        if mask is not None and (not isinstance(mask, (list, tuple)) or
                                 not 2 <= len(mask) <= 3):
            raise ValueError(f"{name} layer '{self.name}': mask must be a list [query_mask, "
                             f"value_mask], got {mask!r}")

    def compute_mask(self, inputs, previous_mask=None):
        if previous_mask is None or not isinstance(previous_mask, (list, tuple)):
            return None
        return previous_mask[0]

    def call(self, inputs, mask=None, training=None, return_attention_scores=False,
             use_causal_mask=False):
        self._validate(inputs, mask)
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        q_mask = _bool(mask[0]) if mask else None
        v_mask = _bool(mask[1]) if mask else None
        if q.shape[-1] != k.shape[-1]:
            raise ValueError(f"{type(self).__name__} layer '{self.name}': query of shape "
                             f"{tuple(q.shape)} and key of shape {tuple(k.shape)} must have the "
                             "same last dimension")
        allowed = None if v_mask is None else v_mask[:, None, :]
        if use_causal_mask:
            tri = np.tril(np.ones((q.shape[-2], k.shape[-2]), dtype=bool))
            allowed = tri[None] if allowed is None else (allowed & tri)
        scores = self._fast_attention(q, k, v, allowed, training, return_attention_scores)
        if scores is not None:
            out, weights = scores
        else:
            s = self._scores(q, k)
            if allowed is not None:
                s = where(_on(allowed, s), s, s - 1e9)
            weights = softmax(s, axis=-1)
            w = weights
            if training and self.dropout > 0:
                w = _dropout(weights, self.dropout, training=True, generator=self._generator())
            out = matmul(w, v)
        if q_mask is not None:
            out = where(_on(q_mask[..., None], out), out, _on(np.zeros((), out.dtype), out))
        if return_attention_scores:
            return out, weights
        return out

    def _fast_attention(self, q, k, v, allowed, training, want_weights):
        return None

    def get_config(self):
        cfg = super().get_config()
        cfg.update(dropout=self.dropout, seed=self.seed)
        return cfg


class Attention(_BaseDenseAttention):
    """Dot-product (Luong) attention: softmax(q @ k^T [* scale]) @ v, (N, Tq, dim) out.

    ``use_scale`` learns a scalar ``scale``; ``score_mode='concat'`` scores with
    sum(tanh(q + k)) times a learned ``concat_score_weight``.  ``use_causal_mask=True`` in
    call hides future values."""

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"Attention: score_mode must be 'dot' or 'concat', got "
                             f"{score_mode!r}")
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode

    def build(self, input_shape):
        self.scale = None
        self.concat_score_weight = None
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(), initializer="ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight(name="concat_score_weight", shape=(),
                                                       initializer="ones")

    def _scores(self, q, k):
        if self.score_mode == "dot":
            s = matmul(q, swapaxes(k, -1, -2))
            return s * self.scale if self.scale is not None else s
        qe, ke = expand_dims(q, -2), expand_dims(k, -3)
        t = tanh(self.scale * (qe + ke)) if self.scale is not None else tanh(qe + ke)
        return self.concat_score_weight * _sum(t, axis=-1)

    def _fast_attention(self, q, k, v, allowed, training, want_weights):
        if self.score_mode != "dot" or self.scale is not None:
            return None
        res = scaled_dot_product_attention(q, k, v, mask=allowed, scale=1.0,
                                           dropout=self.dropout, training=bool(training),
                                           return_weights=True, generator=self._generator())
        return res

    def get_config(self):
        cfg = super().get_config()
        cfg.update(use_scale=self.use_scale, score_mode=self.score_mode)
        return cfg


class AdditiveAttention(_BaseDenseAttention):
    """Additive (Bahdanau) attention: scores sum(scale * tanh(q + k)) over the features,
    ``scale`` a learned (dim,) vector when ``use_scale`` (default True)."""

    def __init__(self, use_scale=True, dropout=0.0, seed=None, **kwargs):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.use_scale = bool(use_scale)

    def build(self, input_shape):
        dim = input_shape[0][-1]
        self.scale = None
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(dim,),
                                         initializer="glorot_uniform")

    def _scores(self, q, k):
        t = tanh(expand_dims(q, -2) + expand_dims(k, -3))
        if self.scale is not None:
            t = t * self.scale
        return _sum(t, axis=-1)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(use_scale=self.use_scale)
        return cfg


# ------------------------------------------------------------------ MultiHeadAttention
class MultiHeadAttention(Layer):
    """Multi-head attention as in Keras: queries (N, Tq, Dq), values (N, Tv, Dv), keys
    (N, Tv, Dk; default: the values) -> (N, Tq, output_shape or Dq).

    Each head projects with EinsumDense-shaped weights (``query/kernel`` (Dq, heads,
    key_dim) ...), attends with softmax(q k^T / sqrt(key_dim)), and ``attention_output``
    projects the concatenated heads back.  ``attention_mask`` (N, Tq, Tv) bool, input masks
    (from Embedding(mask_zero=True)) and ``use_causal_mask`` combine; with
    ``return_attention_scores`` the (N, heads, Tq, Tv) weights are returned too.
    """

    supports_masking = True

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, sliding_window=None,
                 flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 use_gate=False, seed=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if int(num_heads) <= 0 or int(key_dim) <= 0:
            raise ValueError(f"MultiHeadAttention: num_heads and key_dim must be positive, got "
                             f"{num_heads} and {key_dim}")
        if attention_axes is not None and tuple(np.atleast_1d(attention_axes)) not in \
                ((1,), (-2,)):
            raise ValueError(f"MultiHeadAttention '{self.name}': only attention over the "
                             f"sequence axis is supported (attention_axes=None), got "
                             f"{attention_axes}")
        if not 0 <= dropout < 1:
            raise ValueError(f"MultiHeadAttention: dropout must be in [0, 1), got {dropout}")
        self.num_heads = int(num_heads)
        self.key_dim = int(key_dim)
        self.value_dim = int(value_dim) if value_dim else self.key_dim
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        if isinstance(output_shape, int):
            output_shape = (output_shape,)
        self._output_shape = tuple(output_shape) if output_shape else None
        if self._output_shape is not None and len(self._output_shape) != 1:
            raise ValueError(f"MultiHeadAttention '{self.name}': output_shape must be an int or "
                             f"a 1-tuple, got {output_shape}")
        self.attention_axes = attention_axes
        if sliding_window is not None and (isinstance(sliding_window, bool) or
                                           not isinstance(sliding_window, int) or
                                           sliding_window <= 0):
            raise ValueError(f"MultiHeadAttention '{self.name}': sliding_window must be None "
                             f"or a positive integer, got {sliding_window!r}")
        self.sliding_window = sliding_window
        # flash_attention picks a kernel in Keras; lamina's fused attention is the one kernel
        self.use_gate = bool(use_gate)
        _weight_args(self, "kernel", kernel_initializer, kernel_regularizer, kernel_constraint)
        _weight_args(self, "bias", bias_initializer, bias_regularizer, bias_constraint)
        self.seed = seed
        self._gen = None
        self._built_heads = False

    def _weight(self, sub, name, shape, init, reg):
        v = self.add_weight(name=f"{sub}_{name}", shape=shape, initializer=init, regularizer=reg)
        # Keras's paths: <layer>/<sublayer>/<weight>
        v.name = name
        v.path = f"{self.name}/{sub}/{name}"
        return v

    def build(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None:
            return          # the value's shape is known at the first call
        self._build_heads(tuple(query_shape), tuple(value_shape),
                          tuple(key_shape) if key_shape is not None else tuple(value_shape))

    def _projections(self, qs, vs, ks):
        """The input projections [(name, input dim, heads, head dim)] in Keras's creation
        order (the gate after the key), and the output's (heads, head dim, output dim)."""
        H, kd, vd = self.num_heads, self.key_dim, self.value_dim
        subs = [("query", qs[-1], H, kd), ("key", ks[-1], H, kd), ("value", vs[-1], H, vd)]
        if self.use_gate:
            subs.insert(2, ("gate", qs[-1], H, vd))
        return subs, (H, vd, self._output_shape[0] if self._output_shape else qs[-1])

    def _build_heads(self, qs, vs, ks):
        ki, bi = self.kernel_initializer, self.bias_initializer
        kr, br = self.kernel_regularizer, self.bias_regularizer
        self._head_shapes = (qs, vs, ks)
        subs, (H, hd_out, out_dim) = self._projections(qs, vs, ks)
        for sub, din, heads, hd in subs:
            setattr(self, f"_{sub}_kernel", self._weight(sub, "kernel", (din, heads, hd), ki, kr))
            setattr(self, f"_{sub}_bias", self._weight(sub, "bias", (heads, hd), bi, br)
                    if self.use_bias else None)
        self._out_kernel = self._weight("attention_output", "kernel", (H, hd_out, out_dim),
                                        ki, kr)
        self._out_bias = self._weight("attention_output", "bias", (out_dim,), bi, br) \
            if self.use_bias else None
        self._built_heads = True

    _generator = _seeded_generator

    def _keras_h5_layout(self):
        """``.weights.h5`` groups as Keras 3 names them: its MultiHeadAttention keeps each
        projection in an EinsumDense sublayer (query_dense, ..., output_dense)."""
        groups = [("", [])]
        if not self._built_heads:
            return groups
        for sub, k, b in (("query_dense", self._query_kernel, self._query_bias),
                          ("key_dense", self._key_kernel, self._key_bias),
                          ("_gate_dense", getattr(self, "_gate_kernel", None),
                           getattr(self, "_gate_bias", None)),
                          ("value_dense", self._value_kernel, self._value_bias),
                          ("output_dense", self._out_kernel, self._out_bias)):
            if k is not None:
                groups.append((sub, [k] if b is None else [k, b]))
        return groups

    def _project(self, x, sub, hd=None):
        """(N, T, D) -> (N, heads, T, hd) through the (D, heads, hd) kernel ``_<sub>_kernel``
        (heads and hd are the kernel's)."""
        k = getattr(self, f"_{sub}_kernel")
        b = getattr(self, f"_{sub}_bias")
        N, T = x.shape[0], x.shape[1]
        y = linear(x, reshape(k, (k.shape[0], -1)),
                   reshape(b, (-1,)) if b is not None else None)
        return transpose(reshape(y, (N, T, k.shape[1], k.shape[2])), (0, 2, 1, 3))

    def _inputs(self, query, value, key):
        """The three inputs as (N, T, D) tensors (the key defaults to the value)."""
        who = f"{type(self).__name__} '{self.name}'"
        if value is None:
            raise ValueError(f"{who}: call(query, value, key=None) needs a value tensor")
        out = []
        for nm, t in (("query", query), ("value", value),
                      ("key", value if key is None else key)):
            if not isinstance(t, Tensor):
                t = _wrap(np.asarray(t, self._dtype))
            if t.ndim != 3:
                raise ValueError(f"{who}: {nm} must have shape (batch, length, features), "
                                 f"got {tuple(t.shape)}")
            out.append(t)
        return out

    def call(self, query, value=None, key=None, query_mask=None, value_mask=None, key_mask=None,
             attention_mask=None, return_attention_scores=False, training=None,
             use_causal_mask=False, mask=None):
        query, value, key = self._inputs(query, value, key)
        if not self._built_heads:
            self._build_heads(tuple(query.shape), tuple(value.shape), tuple(key.shape))
        allowed = self._mask(query, value, key, query_mask, value_mask, key_mask,
                             attention_mask, use_causal_mask)
        q, k, v = self._project_qkv(query, key, value)
        return self._attend(query, q, k, v, allowed, 1.0 / math.sqrt(self.key_dim), training,
                            return_attention_scores)

    def _project_qkv(self, query, key, value):
        """The query, key and value heads, (N, heads, T, d) each."""
        return (self._project(query, "query"), self._project(key, "key"),
                self._project(value, "value"))

    def _attend(self, query, q, k, v, allowed, scale, training, return_scores):
        """Attention of the projected heads q (N, H, Tq, dk), k, v (N, H, Tv, d), then the
        gate (if any) and the output projection: (N, Tq, out) [, scores (N, H, Tq, Tv)]."""
        res = scaled_dot_product_attention(
            q, k, v, mask=allowed, scale=scale, dropout=self.dropout, training=bool(training),
            return_weights=return_scores, generator=self._generator())
        a, scores = res if return_scores else (res, None)
        N, H, Tq, d = a.shape
        a = reshape(transpose(a, (0, 2, 1, 3)), (N, Tq, H * d))
        if self.use_gate:
            # gated attention: each head's output times sigmoid(query projection)
            gk, gb = self._gate_kernel, self._gate_bias
            a = a * sigmoid(linear(query, reshape(gk, (gk.shape[0], -1)),
                                   reshape(gb, (-1,)) if gb is not None else None))
        ok = self._out_kernel
        out = linear(a, reshape(ok, (-1, ok.shape[-1])), self._out_bias)
        return (out, scores) if return_scores else out

    def _mask(self, query, value, key, query_mask, value_mask, key_mask, attention_mask,
              causal):
        """The (N, 1, Tq, Tv) boolean mask from input masks, attention_mask and causality."""
        qm = _bool(query_mask if query_mask is not None else get_mask(query))
        vm = _bool(value_mask if value_mask is not None else get_mask(value))
        km = _bool(key_mask if key_mask is not None else
                   (get_mask(key) if key is not value else None))
        m = None

        def _and(a, b):
            return b if a is None else (a & b)
        if qm is not None:
            m = _and(m, qm[:, :, None])
        if vm is not None:
            m = _and(m, vm[:, None, :])
        if km is not None:
            m = _and(m, km[:, None, :])
        if causal:
            m = _and(m, np.tril(np.ones((query.shape[1], value.shape[1]), dtype=bool))[None])
        if self.sliding_window is not None:
            # a symmetric band: each query sees the keys within sliding_window - 1 steps
            rows = np.arange(query.shape[1])[:, None]
            cols = np.arange(value.shape[1])[None, :]
            m = _and(m, (np.abs(rows - cols) < self.sliding_window)[None])
        if attention_mask is not None:
            am = _bool(attention_mask)
            if am.ndim == 2:
                am = am[None]
            m = _and(m, am)
        if m is None:
            return None
        return m[:, None]

    def compute_mask(self, inputs, previous_mask=None):
        return previous_mask

    def get_build_config(self):
        """Keras 3's form: the query, value (and key) shapes the heads were built for."""
        if not self._built_heads:
            return super().get_build_config()
        qs, vs, ks = self._head_shapes
        shapes = {"query_shape": list(qs), "value_shape": list(vs)}
        if ks != vs:
            shapes["key_shape"] = list(ks)
        return {"shapes_dict": shapes}

    def build_from_config(self, config):
        shapes = (config or {}).get("shapes_dict")
        if shapes and not self._built_heads:
            qs, vs = tuple(shapes["query_shape"]), tuple(shapes["value_shape"])
            self._build_heads(qs, vs, tuple(shapes.get("key_shape") or vs))
            self.built = True
            return
        super().build_from_config(config)

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        qs = tuple(query_shape)
        return qs[:-1] + ((self._output_shape[0],) if self._output_shape else (qs[-1],))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(num_heads=self.num_heads, key_dim=self.key_dim, value_dim=self.value_dim,
                   dropout=self.dropout, use_bias=self.use_bias, use_gate=self.use_gate,
                   output_shape=list(self._output_shape) if self._output_shape else None,
                   attention_axes=self.attention_axes, sliding_window=self.sliding_window)
        cfg.update(_weight_config(self, ("kernel", "bias")))
        cfg["seed"] = self.seed
        return cfg


# ------------------------------------------------------------------ positions
def sinusoidal_positions(length, dim, max_wavelength=10000, dtype=np.float32, start=0):
    """The (length, dim) sinusoidal encoding of "Attention is all you need": sin on even
    features, cos on odd ones, wavelengths from 2*pi to max_wavelength*2*pi."""
    pos = np.arange(start, start + length, dtype=np.float64)[:, None]
    i = np.arange(dim)
    timescales = max_wavelength ** (-(2 * (i // 2)) / dim)
    ang = pos * timescales[None]
    out = np.where(i % 2 == 0, np.sin(ang), np.cos(ang))
    return out.astype(dtype)


class PositionEmbedding(Layer):
    """Learned position embeddings (keras_hub ``PositionEmbedding``): for inputs
    (N, T, D) returns the (N, T, D) embeddings of positions start_index..start_index+T-1
    from a (sequence_length, D) table (add them to the inputs yourself)."""

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = int(sequence_length)
        self.initializer = initializers.get(initializer)

    def build(self, input_shape):
        self.position_embeddings = self.add_weight(
            name="embeddings", shape=(self.sequence_length, int(input_shape[-1])),
            initializer=self.initializer)

    def call(self, inputs, start_index=0):
        T = inputs.shape[-2]
        if start_index + T > self.sequence_length:
            raise ValueError(f"PositionEmbedding '{self.name}': positions up to "
                             f"{start_index + T} requested, the table has "
                             f"{self.sequence_length}")
        pe = self.position_embeddings[start_index:start_index + T]
        return pe.broadcast_to(tuple(inputs.shape))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(sequence_length=self.sequence_length,
                   initializer=_ser("initializers", self.initializer))
        return cfg


class SinePositionEncoding(Layer):
    """Fixed sinusoidal position encodings (keras_hub ``SinePositionEncoding``): inputs
    (N, T, D) -> the (N, T, D) encodings (no weights)."""

    def __init__(self, max_wavelength=10000, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = max_wavelength

    def call(self, inputs, start_index=0):
        T, D = inputs.shape[-2], inputs.shape[-1]
        pe = sinusoidal_positions(T, D, self.max_wavelength, inputs.dtype, start_index)
        from ...ops.base import xp_of
        xp = xp_of(inputs)
        return _wrap(xp.broadcast_to(xp.asarray(pe), tuple(inputs.shape)))

    def get_config(self):
        cfg = super().get_config()
        cfg["max_wavelength"] = self.max_wavelength
        return cfg


class TokenAndPositionEmbedding(Layer):
    """Token embeddings plus learned (or sinusoidal) position embeddings: integer ids
    (N, T) -> (N, T, embedding_dim).  With ``mask_zero`` id 0 is padding (masked)."""

    def __init__(self, vocabulary_size, sequence_length, embedding_dim, mask_zero=False,
                 embeddings_initializer="uniform", sinusoidal=False, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.sequence_length = int(sequence_length)
        self.embedding_dim = int(embedding_dim)
        self.mask_zero = bool(mask_zero)
        self.sinusoidal = bool(sinusoidal)
        self.embeddings_initializer = initializers.get(embeddings_initializer)

    def build(self, input_shape):
        self.token_embeddings = self.add_weight(
            name="token_embeddings", shape=(self.vocabulary_size, self.embedding_dim),
            initializer=self.embeddings_initializer)
        self.position_embeddings = None
        if not self.sinusoidal:
            self.position_embeddings = self.add_weight(
                name="position_embeddings", shape=(self.sequence_length, self.embedding_dim),
                initializer=self.embeddings_initializer)

    def call(self, inputs):
        ids = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        T = ids.shape[-1]
        if T > self.sequence_length:
            raise ValueError(f"TokenAndPositionEmbedding '{self.name}': inputs of length {T} "
                             f"exceed sequence_length={self.sequence_length}")
        x = embedding(ids.astype(np.int64, copy=False), self.token_embeddings)
        if self.position_embeddings is not None:
            return x + self.position_embeddings[:T]
        return x + _on(sinusoidal_positions(T, self.embedding_dim, dtype=x.dtype), x)

    def compute_mask(self, inputs, previous_mask=None):
        if not self.mask_zero:
            return None
        ids = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        return _wrap(ids != 0)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(vocabulary_size=self.vocabulary_size, sequence_length=self.sequence_length,
                   embedding_dim=self.embedding_dim, mask_zero=self.mask_zero,
                   sinusoidal=self.sinusoidal,
                   embeddings_initializer=_ser("initializers", self.embeddings_initializer))
        return cfg


# ------------------------------------------------------------------ Transformer blocks
class TransformerEncoder(Layer):
    """A Transformer encoder block (keras_hub's arguments): self-attention and a
    feed-forward network, each with dropout, a residual connection and layer norm
    (after, or before with ``normalize_first``).  (N, T, D) -> (N, T, D); padding masks from
    the input (Embedding(mask_zero=True)) or ``padding_mask`` (N, T) are honoured."""

    supports_masking = True

    def __init__(self, intermediate_dim, num_heads, dropout=0.0, activation="relu",
                 layer_norm_epsilon=1e-5, normalize_first=False, **kwargs):
        super().__init__(**kwargs)
        self.intermediate_dim = int(intermediate_dim)
        self.num_heads = int(num_heads)
        self.dropout = float(dropout)
        self.activation = activation
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.normalize_first = bool(normalize_first)

    def build(self, input_shape):
        d = int(input_shape[-1])
        if d % self.num_heads:
            raise ValueError(f"TransformerEncoder '{self.name}': the feature size {d} must be "
                             f"divisible by num_heads={self.num_heads}")
        self.attention = MultiHeadAttention(self.num_heads, d // self.num_heads,
                                            dropout=self.dropout,
                                            name=f"{self.name}_self_attention")
        self.norm1 = LayerNormalization(epsilon=self.layer_norm_epsilon)
        self.norm2 = LayerNormalization(epsilon=self.layer_norm_epsilon)
        self.ffn_intermediate = Dense(self.intermediate_dim, activation=self.activation)
        self.ffn_output = Dense(d)

    def ffn(self, x):
        return self.ffn_output(self.ffn_intermediate(x))

    def _drop(self, x, training):
        return _dropout(x, self.dropout, training=bool(training)) if self.dropout else x

    def call(self, inputs, padding_mask=None, attention_mask=None, training=None, mask=None):
        pm = padding_mask if padding_mask is not None else mask
        x = inputs
        h = self.norm1(x) if self.normalize_first else x
        a = self.attention(h, h, value_mask=pm, attention_mask=attention_mask,
                           training=training)
        x = x + self._drop(a, training)
        if not self.normalize_first:
            x = self.norm1(x)
        h = self.norm2(x) if self.normalize_first else x
        x = x + self._drop(self.ffn(h), training)
        return x if self.normalize_first else self.norm2(x)

    def compute_mask(self, inputs, previous_mask=None):
        return previous_mask

    def get_config(self):
        cfg = super().get_config()
        cfg.update(intermediate_dim=self.intermediate_dim, num_heads=self.num_heads,
                   dropout=self.dropout, activation=self.activation,
                   layer_norm_epsilon=self.layer_norm_epsilon,
                   normalize_first=self.normalize_first)
        return cfg


class TransformerDecoder(TransformerEncoder):
    """A Transformer decoder block: causal self-attention, then (when an encoder sequence
    is given) cross-attention over it, then the feed-forward network; each with dropout,
    residual and layer norm.  call(decoder_sequence (N, T, D), encoder_sequence=None)."""

    def build(self, input_shape):
        super().build(input_shape)
        d = int(input_shape[-1])
        self.cross_attention = MultiHeadAttention(self.num_heads, d // self.num_heads,
                                                  dropout=self.dropout,
                                                  name=f"{self.name}_cross_attention")
        self.norm3 = LayerNormalization(epsilon=self.layer_norm_epsilon)

    def call(self, decoder_sequence, encoder_sequence=None, decoder_padding_mask=None,
             encoder_padding_mask=None, use_causal_mask=True, training=None, mask=None):
        pm = decoder_padding_mask if decoder_padding_mask is not None else mask
        x = decoder_sequence
        h = self.norm1(x) if self.normalize_first else x
        a = self.attention(h, h, query_mask=pm, value_mask=pm, use_causal_mask=use_causal_mask,
                           training=training)
        x = x + self._drop(a, training)
        if not self.normalize_first:
            x = self.norm1(x)
        if encoder_sequence is not None:
            h = self.norm3(x) if self.normalize_first else x
            em = encoder_padding_mask if encoder_padding_mask is not None else \
                get_mask(encoder_sequence)
            a = self.cross_attention(h, encoder_sequence, value_mask=em, training=training)
            x = x + self._drop(a, training)
            if not self.normalize_first:
                x = self.norm3(x)
        h = self.norm2(x) if self.normalize_first else x
        x = x + self._drop(self.ffn(h), training)
        return x if self.normalize_first else self.norm2(x)
