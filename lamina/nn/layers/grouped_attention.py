"""Grouped-query attention (Ainslie et al. 2023), Keras 3's ``GroupQueryAttention``: queries
get ``num_query_heads`` heads, keys and values only ``num_key_value_heads``, each shared by a
group of num_query_heads / num_key_value_heads query heads (multi-query attention when it
is 1).  Masks, causal and sliding-window attention, dropout and the optional output gate
work as in MultiHeadAttention, whose code it reuses."""
from __future__ import annotations

import math

import numpy as np

from ...ops.attention import scaled_dot_product_attention
from ...ops.elementwise import sigmoid
from ...ops.nn import linear
from ...ops.shape import repeat, reshape, transpose
from ...tensor import Tensor, _wrap
from .attention import MultiHeadAttention

__all__ = ["GroupedQueryAttention", "GroupQueryAttention"]


class GroupedQueryAttention(MultiHeadAttention):
    """Grouped-query attention: query (N, Tq, D), value (N, Tv, Dv), key (N, Tv, Dk; default
    the value) -> (N, Tq, D).  Weights as Keras's EinsumDense sublayers: query/kernel
    (D, Hq, head_dim), key/kernel and value/kernel (Dk/Dv, Hkv, head_dim),
    attention_output/kernel (Hq, head_dim, D), with biases when ``use_bias``."""

    def __init__(self, head_dim, num_query_heads, num_key_value_heads, dropout=0.0,
                 use_bias=True, sliding_window=None, flash_attention=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None,
                 **kwargs):
        if int(num_key_value_heads) <= 0 or int(num_query_heads) % int(num_key_value_heads):
            raise ValueError(f"GroupQueryAttention: num_query_heads ({num_query_heads}) must "
                             f"be a positive multiple of num_key_value_heads "
                             f"({num_key_value_heads})")
        super().__init__(num_heads=num_query_heads, key_dim=head_dim, dropout=dropout,
                         use_bias=use_bias, sliding_window=sliding_window,
                         flash_attention=flash_attention,
                         kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                         use_gate=use_gate, seed=seed, **kwargs)
        self.head_dim = int(head_dim)
        self.num_query_heads = int(num_query_heads)
        self.num_key_value_heads = int(num_key_value_heads)
        self.num_repeats = self.num_query_heads // self.num_key_value_heads

    def _build_heads(self, qs, vs, ks):
        Hq, Hkv, hd = self.num_query_heads, self.num_key_value_heads, self.head_dim
        ki, bi = self.kernel_initializer, self.bias_initializer
        kr, br = self.kernel_regularizer, self.bias_regularizer
        self._head_shapes = (qs, vs, ks)
        subs = [("query", qs[-1], Hq), ("key", ks[-1], Hkv), ("value", vs[-1], Hkv)]
        if self.use_gate:       # Keras creates the gate after the key projection
            subs.insert(2, ("gate", qs[-1], Hq))
        for sub, din, heads in subs:
            setattr(self, f"_{sub}_kernel", self._weight(sub, "kernel", (din, heads, hd), ki, kr))
            setattr(self, f"_{sub}_bias", self._weight(sub, "bias", (heads, hd), bi, br)
                    if self.use_bias else None)
        self._out_kernel = self._weight("attention_output", "kernel", (Hq, hd, qs[-1]), ki, kr)
        self._out_bias = self._weight("attention_output", "bias", (qs[-1],), bi, br) \
            if self.use_bias else None
        self._built_heads = True

    def _keras_h5_layout(self):
        """Keras 3 keeps the projections in private EinsumDense sublayers (_query_dense...)."""
        groups = [("", [])]
        if not self._built_heads:
            return groups
        for sub, name in (("_query_dense", "query"), ("_key_dense", "key"),
                          ("_gate_dense", "gate"), ("_value_dense", "value"),
                          ("_output_dense", "out")):
            k = getattr(self, f"_{name}_kernel", None)
            if k is not None:
                b = getattr(self, f"_{name}_bias", None)
                groups.append((sub, [k] if b is None else [k, b]))
        return groups

    def _heads(self, x, name, heads):
        """(N, T, D) -> (N, heads, T, head_dim) through the (D, heads, head_dim) kernel."""
        k, b = getattr(self, f"_{name}_kernel"), getattr(self, f"_{name}_bias")
        y = linear(x, reshape(k, (k.shape[0], -1)), reshape(b, (-1,)) if b is not None else None)
        return transpose(reshape(y, (x.shape[0], x.shape[1], heads, self.head_dim)),
                         (0, 2, 1, 3))

    def _inputs(self, query, value, key):
        """The three inputs as (N, T, D) tensors (the key defaults to the value)."""
        if value is None:
            raise ValueError(f"GroupQueryAttention '{self.name}': call(query, value, key=None) "
                             "needs a value tensor")
        out = []
        for nm, t in (("query", query), ("value", value), ("key", value if key is None
                                                           else key)):
            if not isinstance(t, Tensor):
                t = _wrap(np.asarray(t, self._dtype))
            if t.ndim != 3:
                raise ValueError(f"GroupQueryAttention '{self.name}': {nm} must have shape "
                                 f"(batch, length, features), got {tuple(t.shape)}")
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
        q = self._heads(query, "query", self.num_query_heads)
        # each key/value head serves num_repeats consecutive query heads (Keras's ops.repeat)
        k = repeat(self._heads(key, "key", self.num_key_value_heads), self.num_repeats, axis=1)
        v = repeat(self._heads(value, "value", self.num_key_value_heads), self.num_repeats,
                   axis=1)
        res = scaled_dot_product_attention(
            q, k, v, mask=allowed, scale=1.0 / math.sqrt(self.head_dim), dropout=self.dropout,
            training=bool(training), return_weights=return_attention_scores,
            generator=self._generator())
        a, scores = res if return_attention_scores else (res, None)
        N, Tq = query.shape[0], query.shape[1]
        a = reshape(transpose(a, (0, 2, 1, 3)), (N, Tq, self.num_query_heads * self.head_dim))
        if self.use_gate:
            gk, gb = self._gate_kernel, self._gate_bias
            a = a * sigmoid(linear(query, reshape(gk, (gk.shape[0], -1)),
                                   reshape(gb, (-1,)) if gb is not None else None))
        ok = self._out_kernel
        out = linear(a, reshape(ok, (-1, ok.shape[-1])), self._out_bias)
        return (out, scores) if return_attention_scores else out

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        return tuple(query_shape)

    def get_config(self):
        from .core import _ser, _weight_config
        cfg = {k: v for k, v in super().get_config().items()
               if k not in ("num_heads", "key_dim", "value_dim", "output_shape",
                            "attention_axes")}
        base = {k: cfg.pop(k) for k in ("name", "trainable", "dtype") if k in cfg}
        # Keras's keys and order
        out = dict(base, head_dim=self.head_dim, num_query_heads=self.num_query_heads,
                   num_key_value_heads=self.num_key_value_heads, use_bias=self.use_bias,
                   use_gate=self.use_gate, sliding_window=self.sliding_window,
                   dropout=self.dropout)
        w = _weight_config(self, ("kernel", "bias"))
        out.update({k: w[k] for k in ("kernel_initializer", "bias_initializer",
                                      "kernel_regularizer", "bias_regularizer")})
        out["activity_regularizer"] = _ser("regularizers", self.activity_regularizer)
        out.update({k: w[k] for k in ("kernel_constraint", "bias_constraint")})
        out["seed"] = self.seed
        return out


GroupQueryAttention = GroupedQueryAttention
