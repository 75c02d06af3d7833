"""Activation layers with parameters: ReLU, LeakyReLU, ELU, PReLU, Softmax."""
from __future__ import annotations

import numpy as np

from ...ops import elementwise as _E
from ...ops.nn import softmax as _softmax
from ...tensor import _wrap
from .base import Layer


class ReLU(Layer):
    """max(x, 0), with Keras's options: ``negative_slope`` below ``threshold`` and a
    ``max_value`` cap."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"ReLU '{self.name}': max_value must be >= 0, got {max_value}")
        if negative_slope is None or negative_slope < 0:
            raise ValueError(f"ReLU '{self.name}': negative_slope must be >= 0, got "
                             f"{negative_slope}")
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = float(negative_slope)
        self.threshold = float(threshold)
        self.supports_masking = True

    def call(self, inputs):
        from .. import activations
        return activations.relu(inputs, negative_slope=self.negative_slope,
                                max_value=self.max_value, threshold=self.threshold)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"max_value": self.max_value, "negative_slope": self.negative_slope,
                    "threshold": self.threshold})
        return cfg


class LeakyReLU(Layer):
    """x for x >= 0 else ``negative_slope * x`` (Keras 3 default 0.3; legacy ``alpha``)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError(f"LeakyReLU '{self.name}': negative_slope must be >= 0, got "
                             f"{negative_slope}")
        self.negative_slope = float(negative_slope)
        self.supports_masking = True

    def call(self, inputs):
        return _E.leaky_relu(inputs, self.negative_slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        cfg = super().get_config()
        cfg["negative_slope"] = self.negative_slope
        return cfg


class ELU(Layer):
    """x for x > 0 else ``alpha * (exp(x) - 1)``."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)
        self.supports_masking = True

    def call(self, inputs):
        return _E.elu(inputs, self.alpha)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        cfg = super().get_config()
        cfg["alpha"] = self.alpha
        return cfg


class PReLU(Layer):
    """x for x >= 0 else ``alpha * x`` with a learned ``alpha`` per feature (shared
    along ``shared_axes``, 1-based)."""

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        from .. import initializers, regularizers
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        if shared_axes is not None and not isinstance(shared_axes, (list, tuple)):
            shared_axes = [shared_axes]
        self.shared_axes = None if shared_axes is None else [int(a) for a in shared_axes]
        self.supports_masking = True

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for a in self.shared_axes or []:
            shape[a - 1] = 1
        self.alpha = self.add_weight(name="alpha", shape=tuple(shape),
                                     initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer)
        self.built = True

    def call(self, inputs):
        pos = _E.relu(inputs)
        neg = _E.relu(-inputs)
        return pos - self.alpha * neg

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        from .core import _ser
        cfg = super().get_config()
        cfg.update({"alpha_initializer": _ser("initializers", self.alpha_initializer),
                    "alpha_regularizer": _ser("regularizers", self.alpha_regularizer),
                    "alpha_constraint": None, "shared_axes": self.shared_axes})
        return cfg


class Softmax(Layer):
    """softmax along ``axis``; positions where ``mask`` is False get probability 0."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            md = mask.data if hasattr(mask, "data") else np.asarray(mask)
            if md.ndim < inputs.ndim:
                md = md.reshape(md.shape + (1,) * (inputs.ndim - md.ndim))
            big = 1e9
            inputs = inputs + _wrap(((1.0 - md.astype(inputs.dtype)) * -big)
                                    .astype(inputs.dtype))
        if isinstance(self.axis, (list, tuple)):
            from ...ops.reduction import logsumexp
            return _E.exp(inputs - logsumexp(inputs, axis=tuple(self.axis), keepdims=True))
        return _softmax(inputs, axis=self.axis)

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        cfg = super().get_config()
        cfg["axis"] = self.axis
        return cfg


__all__ = ["ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax"]
