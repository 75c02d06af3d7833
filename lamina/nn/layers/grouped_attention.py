"""Grouped-query attention (Ainslie et al. 2023), Keras 3's ``GroupQueryAttention``: queries
get ``num_query_heads`` heads, keys and values only ``num_key_value_heads``, each shared by a
group of num_query_heads / num_key_value_heads query heads (multi-query attention when it
is 1).  Masks, causal and sliding-window attention, dropout and the optional output gate
work as in MultiHeadAttention, whose code it reuses."""
from __future__ import annotations

from ...ops.shape import repeat
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

    def _projections(self, qs, vs, ks):
        Hq, Hkv, hd = self.num_query_heads, self.num_key_value_heads, self.head_dim
        subs = [("query", qs[-1], Hq, hd), ("key", ks[-1], Hkv, hd), ("value", vs[-1], Hkv, hd)]
        if self.use_gate:
            subs.insert(2, ("gate", qs[-1], Hq, hd))
        return subs, (Hq, hd, qs[-1])

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

    def _project_qkv(self, query, key, value):
        # each key/value head serves num_repeats consecutive query heads (Keras's ops.repeat)
        return (self._project(query, "query"),
                repeat(self._project(key, "key"), self.num_repeats, axis=1),
                repeat(self._project(value, "value"), self.num_repeats, axis=1))

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
