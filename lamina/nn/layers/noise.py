"""Noise and regularization layers: GaussianNoise, GaussianDropout, ActivityRegularization
(Dropout lives in :mod:`.core`)."""
from __future__ import annotations

from ... import random as _random
from ...ops.base import xp_of
from ...tensor import _wrap
from .base import Layer


class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise of standard deviation ``stddev`` while training; the
    identity at inference."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if stddev < 0:
            raise ValueError(f"GaussianNoise '{self.name}': stddev must be >= 0, got {stddev}")
        self.stddev = float(stddev)
        self.seed = seed
        self._gen = _random.Generator(seed) if seed is not None else None
        self.supports_masking = True

    def call(self, inputs, training=None):
        if not training or self.stddev == 0:
            return inputs
        gen = self._gen or _random.default_generator()
        noise = gen.normal_array(inputs.shape, xp_of(inputs), 0.0, self.stddev,
                                 dtype=inputs.dtype)
        return inputs + _wrap(noise)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"stddev": self.stddev, "seed": self.seed})
        return cfg


class GaussianDropout(Layer):
    """Multiplies by Gaussian noise of mean 1 and std sqrt(rate / (1 - rate)) while
    training; the identity at inference."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"GaussianDropout '{self.name}': rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.seed = seed
        self._gen = _random.Generator(seed) if seed is not None else None
        self.supports_masking = True

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        gen = self._gen or _random.default_generator()
        std = (self.rate / (1.0 - self.rate)) ** 0.5
        noise = gen.normal_array(inputs.shape, xp_of(inputs), 1.0, std, dtype=inputs.dtype)
        return inputs * _wrap(noise)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"rate": self.rate, "seed": self.seed})
        return cfg


class ActivityRegularization(Layer):
    """The identity, adding ``l1 * sum|x| + l2 * sum x^2`` (divided by the batch size, as
    Keras does) to the layer's losses on each call."""

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        kwargs.pop("activity_regularizer", None)
        from ..regularizers import L1L2
        super().__init__(activity_regularizer=L1L2(l1=l1, l2=l2), **kwargs)
        self.l1 = float(l1)
        self.l2 = float(l2)
        self.supports_masking = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("activity_regularizer", None)
        cfg.update({"l1": self.l1, "l2": self.l2})
        return cfg


__all__ = ["GaussianNoise", "GaussianDropout", "ActivityRegularization"]
