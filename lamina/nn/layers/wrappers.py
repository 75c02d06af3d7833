"""Wrapper layers with Keras 3's names and arguments: SpectralNormalization.

``SpectralNormalization(layer, power_iterations=1)`` follows Keras: while training, each call
runs ``power_iterations`` steps of the power iteration from the non-trainable ``vector_u``
(1, units) on the wrapped layer's ``kernel`` (or ``embeddings``) seen as a
(-1, units) matrix, then assigns ``kernel / sigma`` to the kernel and the new vector to
``vector_u`` (an in-place update, as Keras's ``assign``: the gradient flows through the
wrapped layer only), and calls the layer.  Outside training it just calls the layer.
"""
from __future__ import annotations

from ...autograd import no_grad
from ...ops.base import xp_of
from .base import InputSpec
from .recurrent import Wrapper

__all__ = ["SpectralNormalization"]

_EPSILON = 1e-7     # Keras's backend epsilon, as its normalize() uses it


def _normalize(xp, a):
    """``a`` over its L2 norm (Keras's ``normalize(a, axis=None)``: rsqrt capped at 1/eps)."""
    inv = xp.minimum(1.0 / xp.sqrt(xp.sum(a * a)), 1.0 / _EPSILON)
    return a * inv.astype(a.dtype)


class SpectralNormalization(Wrapper):
    """Divides the wrapped layer's kernel by its largest singular value, estimated by
    power iteration, on every training call (Keras ``SpectralNormalization``)."""

    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        if not isinstance(power_iterations, int) or power_iterations <= 0:
            raise ValueError(f"SpectralNormalization '{self.name}': power_iterations should "
                             f"be greater than zero, got {power_iterations!r}")
        self.power_iterations = power_iterations

    def build(self, input_shape):
        super().build(input_shape)
        self.input_spec = InputSpec(min_ndim=1, axes={-1: tuple(input_shape)[-1]})
        kernel = self._kernel()
        from .. import initializers
        self.vector_u = self.add_weight(
            name="vector_u", shape=(1, kernel.shape[-1]),
            initializer=initializers.TruncatedNormal(stddev=0.02), trainable=False,
            dtype=kernel.dtype)
        self.built = True

    def _kernel(self):
        for name in ("kernel", "embeddings"):
            w = getattr(self.layer, name, None)
            if w is not None:
                return w
        raise ValueError(f"SpectralNormalization '{self.name}': {type(self.layer).__name__} "
                         "object has no attribute 'kernel' nor 'embeddings'")

    def normalized_weights(self):
        """(new vector_u, spectrally normalized kernel) as raw arrays."""
        kernel = self._kernel().data
        xp = xp_of(self.vector_u)
        w = kernel.reshape(-1, kernel.shape[-1])
        u = self.vector_u.data
        for _ in range(self.power_iterations):
            v = _normalize(xp, u @ w.T)
            u = _normalize(xp, v @ w)
        sigma = (v @ w) @ u.T
        return u, kernel / sigma

    def call(self, inputs, training=False):
        if training:
            kernel = self._kernel()
            if bool((kernel.data != 0).any()):
                with no_grad():
                    u, k = self.normalized_weights()
                    self.vector_u.assign(u)
                    kernel.assign(k)
        return self.layer(inputs)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg["power_iterations"] = self.power_iterations
        return cfg
