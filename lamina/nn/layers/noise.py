"""Noise and regularization layers: GaussianNoise, GaussianDropout, AlphaDropout,
ActivityRegularization (Dropout lives in :mod:`.core`)."""
from __future__ import annotations

from ... import random as _random
from ...ops.base import xp_of
from ...tensor import _wrap
from .base import Layer
from .core import Dropout


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


# SELU's constants: AlphaDropout keeps SELU's self-normalizing mean 0 and variance 1
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class AlphaDropout(Dropout):
    """While training, sets a fraction ``rate`` of the inputs to SELU's negative saturation
    value ``alpha' = -alpha * scale`` and applies the affine map ``a * x + b`` that keeps
    mean and variance, with ``a = ((1 - rate) * (1 + rate * alpha'^2))^-1/2`` and
    ``b = -a * alpha' * rate``; the identity at inference.  ``noise_shape`` shares the
    drop pattern along axes of size 1 (None entries take the input's size).  Arguments,
    checks and config are Dropout's."""

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        if self.rate >= 1:
            raise ValueError(f"AlphaDropout '{self.name}': rate=1 drops everything (the "
                             f"rescaling 1/sqrt(1 - rate) is infinite); use rate < 1")
        shape = tuple(inputs.shape)
        if self.noise_shape is not None:
            if len(self.noise_shape) != len(shape):
                raise ValueError(f"AlphaDropout '{self.name}': noise_shape {self.noise_shape} "
                                 f"does not match the input shape {shape}")
            shape = tuple(s if n is None else int(n) for s, n in zip(shape, self.noise_shape))
        gen = self._gen or _random.default_generator()
        dt = inputs.dtype
        keep = (gen.uniform_array(shape, xp_of(inputs), dtype=dt) >= self.rate).astype(dt)
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        a = ((1 - self.rate) * (1 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        # a * (x * keep + alpha' * (1 - keep)) + b, with the constants folded per element
        return inputs * _wrap(keep * dt.type(a)) + _wrap((1 - keep) * dt.type(a * alpha_p) +
                                                         dt.type(b))


__all__ = ["GaussianNoise", "GaussianDropout", "ActivityRegularization", "AlphaDropout"]
