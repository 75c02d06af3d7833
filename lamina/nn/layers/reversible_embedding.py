"""``ReversibleEmbedding``: an Embedding that can also be called in reverse, projecting
hidden states back to vocabulary logits (Keras 3's ``keras.layers.ReversibleEmbedding``,
the tied input/output embedding of language models)."""
from __future__ import annotations

import numpy as np

from ... import backend as _backend
from ...ops import elementwise as _E
from ...ops import shape as _S
from ...ops.base import as_tensor
from ...ops.nn import linear
from ...tensor import Tensor
from .base import set_mask
from .core import Embedding
from .symbolic import KerasTensor

__all__ = ["ReversibleEmbedding"]


class ReversibleEmbedding(Embedding):
    """An :class:`Embedding` (ids (batch, ...) -> vectors (batch, ..., output_dim)) that,
    called with ``reverse=True``, maps hidden states (..., output_dim) to logits
    (..., input_dim): ``h @ embeddings.T`` when ``tie_weights`` (the default), else
    ``h @ reverse_embeddings`` with a separate trainable (output_dim, input_dim) weight.
    ``logit_soft_cap`` c turns the logits into ``c * tanh(logits / c)``; ``reverse_dtype``
    casts the hidden states and the kernel before the product.  Without bias.

    As in Keras, ``mask_zero=True`` masks id 0 on the forward output only; the reverse
    output carries no mask."""

    def __init__(self, input_dim, output_dim, tie_weights=True, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 reverse_dtype=None, logit_soft_cap=None, **kwargs):
        # Embedding builds at once when given `weights`; that build needs tie_weights, so
        # the weights are set here, after the attributes below exist
        weights = kwargs.pop("weights", None)
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer,
                         embeddings_constraint=embeddings_constraint, mask_zero=mask_zero,
                         **kwargs)
        who = f"ReversibleEmbedding '{self.name}'"
        if logit_soft_cap is not None and (isinstance(logit_soft_cap, bool) or not isinstance(
                logit_soft_cap, (int, float, np.integer, np.floating)) or logit_soft_cap <= 0):
            raise ValueError(f"{who}: logit_soft_cap must be None or a positive number, got "
                             f"{logit_soft_cap!r}")
        if reverse_dtype is not None:
            try:
                rd = _backend.as_dtype(reverse_dtype)
            except TypeError:
                rd = None
            if rd is None or (rd.kind != "f" and rd.name != "bfloat16"):
                raise ValueError(f"{who}: reverse_dtype must be None or a float dtype, got "
                                 f"{reverse_dtype!r}")
        self.tie_weights = bool(tie_weights)
        self.reverse_dtype = reverse_dtype
        self.logit_soft_cap = logit_soft_cap
        if weights is not None:
            self.build(None)
            self.set_weights([weights] if isinstance(weights, (np.ndarray, Tensor)) else weights)

    def build(self, input_shape=None):
        if self.built:
            return
        super().build(input_shape)
        if not self.tie_weights:
            # as Keras: the embeddings' initializer, but not their regularizer/constraint
            self.reverse_embeddings = self.add_weight(
                shape=(self.output_dim, self.input_dim),
                initializer=self.embeddings_initializer, name="reverse_embeddings")

    def call(self, inputs, reverse=False):
        if not reverse:
            out = super().call(inputs)
            if self.mask_zero:
                # the mask is attached here rather than by compute_mask, which cannot tell
                # a forward call from a reverse one
                set_mask(out, Embedding.compute_mask(self, inputs))
            return out
        x = inputs if isinstance(inputs, Tensor) else as_tensor(inputs)
        self._check_hidden(x.shape)
        kernel = _S.transpose(self.embeddings) if self.tie_weights else self.reverse_embeddings
        if self.reverse_dtype is not None:
            x = _E.cast(x, self.reverse_dtype)
            kernel = _E.cast(kernel, self.reverse_dtype)
        logits = linear(x, kernel)
        if self.logit_soft_cap is not None:
            cap = float(self.logit_soft_cap)
            logits = _E.multiply(_E.tanh(_E.divide(logits, cap)), cap)
        return logits

    def _check_hidden(self, shape):
        if len(shape) == 0 or shape[-1] not in (None, self.output_dim):
            raise ValueError(f"ReversibleEmbedding '{self.name}': reverse=True takes hidden "
                             f"states of shape (..., output_dim={self.output_dim}) and gives "
                             f"logits (..., input_dim={self.input_dim}); got inputs of shape "
                             f"{tuple(shape)}")

    def compute_mask(self, inputs, previous_mask=None):
        # masking is done in call, for the forward direction only
        return None

    def compute_output_shape(self, input_shape, reverse=False):
        """(..., ) -> (..., output_dim); with ``reverse``: (..., output_dim) ->
        (..., input_dim)."""
        shape = tuple(input_shape)
        if reverse:
            self._check_hidden(shape)
            return shape[:-1] + (self.input_dim,)
        return shape + (self.output_dim,)

    @staticmethod
    def _reverse_arg(args, kwargs):
        if args:
            return bool(args[0])
        return bool((kwargs or {}).get("reverse", False))

    def _output_spec(self, sym_first, args=(), kwargs=None):
        # Keras's compute_output_spec: the shape follows the `reverse` argument, which
        # the generic path (compute_output_shape of the input alone) cannot see
        if not isinstance(sym_first, KerasTensor):
            return super()._output_spec(sym_first, args, kwargs)
        reverse = self._reverse_arg(args, kwargs)
        shape = self.compute_output_shape(sym_first.shape, reverse=reverse)
        dtype = self.compute_dtype
        if reverse and self.reverse_dtype is not None:
            dtype = _backend.as_dtype(self.reverse_dtype)
        return KerasTensor(shape, dtype)

    def _symbolic_call(self, args, kwargs):
        # the forward output carries the id mask, the reverse output none (not even one
        # the hidden states carried in), as in call
        out = super()._symbolic_call(args, kwargs)
        out._has_mask = self.mask_zero and not self._reverse_arg(args[1:], kwargs)
        return out

    def get_config(self):
        cfg = super().get_config()
        # Keras's key order: activity_regularizer right after embeddings_regularizer
        act = cfg.pop("activity_regularizer", None)
        out = {}
        for k, v in cfg.items():
            out[k] = v
            if k == "embeddings_regularizer":
                out["activity_regularizer"] = act
        out.update({"tie_weights": self.tie_weights, "reverse_dtype": self.reverse_dtype,
                    "logit_soft_cap": self.logit_soft_cap})
        return out
