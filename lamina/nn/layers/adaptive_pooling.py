"""Adaptive pooling layers with Keras 3's names and arguments: AdaptiveAveragePooling1D/2D/3D
and AdaptiveMaxPooling1D/2D/3D (``output_size``, ``data_format``).  No weights.

Output bin ``i`` of an axis of length L pooled to ``o`` covers ``[floor(i L / o),
ceil((i + 1) L / o))``, the bins of Keras (its NumPy backend's small/big windows and
PyTorch's adaptive pooling alike).  Bins along different axes are independent, so the
pooling runs one axis at a time on lamina ops (so it differentiates to any order):
averaging is a product with a constant (o, L) bin matrix, and the max a gather of each
bin's indices (short bins repeat their last index, which leaves the max and, ties being
split evenly, its gradient unchanged) followed by a max over the window.
"""
from __future__ import annotations

import numpy as np

from ...ops.base import xp_of
from ...ops.indexing import take
from ...ops.linalg import matmul
from ...ops.reduction import max as _max
from ...ops.shape import moveaxis, reshape
from .base import InputSpec, Layer
from .conv import _data_format, _to_first, _to_last

__all__ = ["AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
           "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D"]


def adaptive_bins(length, out):
    """(starts, ends) of the ``out`` bins adaptive pooling takes over ``length`` items."""
    i = np.arange(out)
    return (i * length) // out, -((-(i + 1) * length) // out)


def _pool_axis(x, axis, out, mode):
    """Adaptive average or max pooling of tensor ``x`` along ``axis`` to ``out`` entries."""
    length = x.shape[axis]
    if length == out:
        return x
    starts, ends = adaptive_bins(length, out)
    xp = xp_of(x)
    if mode == "average":
        p = np.zeros((length, out), dtype=x.dtype)
        for j, (a, b) in enumerate(zip(starts, ends)):
            p[a:b, j] = 1.0 / (b - a)
        y = matmul(moveaxis(x, axis, -1), xp.asarray(p))
        return moveaxis(y, -1, axis)
    width = int((ends - starts).max())
    idx = np.minimum(starts[:, None] + np.arange(width), ends[:, None] - 1)
    g = take(x, xp.asarray(idx.reshape(-1)), axis=axis)
    shape = tuple(x.shape)
    g = reshape(g, shape[:axis] + (out, width) + shape[axis + 1:])
    return _max(g, axis=axis + 1)


class _AdaptivePool(Layer):
    """(N, *spatial, C) -> (N, *output_size, C) (or channels first)."""

    rank = 2
    _mode = "average"

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        who = f"{type(self).__name__} '{self.name}'"
        r = self.rank
        if isinstance(output_size, (int, np.integer)) and not isinstance(output_size, bool):
            size = (int(output_size),) * r
        elif isinstance(output_size, (tuple, list)) and len(output_size) == r:
            size = tuple(output_size)
        else:
            raise TypeError(f"{who}: output_size must be an int or a tuple of {r} ints, got "
                            f"{output_size!r}")
        if not all(isinstance(v, (int, np.integer)) and v > 0 for v in size):
            raise ValueError(f"{who}: output_size must hold positive ints, got {output_size!r}")
        self.output_size = tuple(int(v) for v in size)
        self.data_format = _data_format(data_format, who)
        self.input_spec = InputSpec(ndim=r + 2)

    def call(self, inputs):
        r = self.rank
        x = _to_last(inputs, r) if self.data_format == "channels_first" else inputs
        for a, out in enumerate(self.output_size):
            if x.shape[1 + a] == 0:
                raise ValueError(f"{type(self).__name__} '{self.name}': cannot pool an empty "
                                 f"spatial axis, got input shape {tuple(inputs.shape)}")
            x = _pool_axis(x, 1 + a, out, self._mode)
        return _to_first(x, r) if self.data_format == "channels_first" else x

    def compute_output_shape(self, input_shape):
        s = tuple(input_shape)
        if self.data_format == "channels_last":
            return (s[0],) + self.output_size + (s[-1],)
        return (s[0], s[1]) + self.output_size

    def get_config(self):
        cfg = super().get_config()
        cfg.update(output_size=self.output_size, data_format=self.data_format)
        return cfg


class AdaptiveAveragePooling1D(_AdaptivePool):
    """Averages each of ``output_size`` adaptive bins: (N, L, C) -> (N, output_size, C)."""
    rank = 1


class AdaptiveAveragePooling2D(_AdaptivePool):
    """Averages adaptive bins: (N, H, W, C) -> (N, *output_size, C)."""
    rank = 2


class AdaptiveAveragePooling3D(_AdaptivePool):
    """Averages adaptive bins: (N, D, H, W, C) -> (N, *output_size, C)."""
    rank = 3


class AdaptiveMaxPooling1D(_AdaptivePool):
    """Max over each of ``output_size`` adaptive bins: (N, L, C) -> (N, output_size, C)."""
    rank = 1
    _mode = "max"


class AdaptiveMaxPooling2D(_AdaptivePool):
    """Max over adaptive bins: (N, H, W, C) -> (N, *output_size, C)."""
    rank = 2
    _mode = "max"


class AdaptiveMaxPooling3D(_AdaptivePool):
    """Max over adaptive bins: (N, D, H, W, C) -> (N, *output_size, C)."""
    rank = 3
    _mode = "max"
