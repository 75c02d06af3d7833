"""Layers reshaping images and sequences without weights, Keras 3 names and arguments:
UpSampling2D (nearest, bilinear), ZeroPadding2D, Cropping2D, UpSampling1D, ZeroPadding1D,
Cropping1D, and SpatialDropout1D/2D/3D (drop whole feature maps while training)."""
from __future__ import annotations

import numpy as np

from ...ops import image as _I
from ...ops.conv import normalize_tuple
from ...ops.shape import pad as _pad, repeat as _repeat
from .base import InputSpec, Layer
from .conv import _SpatialLayer, _data_format
from .core import _generator, _scaled_keep_mask

__all__ = ["UpSampling2D", "ZeroPadding2D", "Cropping2D", "SpatialDropout1D",
           "SpatialDropout2D", "SpatialDropout3D", "UpSampling1D", "ZeroPadding1D",
           "Cropping1D", "UpSampling3D", "ZeroPadding3D", "Cropping3D"]


class UpSampling2D(_SpatialLayer):
    """Repeat rows and columns ``size`` times ('nearest') or resize bilinearly:
    (N, H, W, C) -> (N, H*sh, W*sw, C)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        who = f"UpSampling2D '{self.name}'"
        self.size = normalize_tuple(size, 2, "size", who)
        self.data_format = _data_format(data_format, who)
        self.interpolation = str(interpolation).lower()
        if self.interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"{who}: interpolation must be 'nearest' or 'bilinear', got "
                             f"{interpolation!r}")
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        return self._apply(inputs, lambda x: _I.upsample2d(x, self.size, self.interpolation))

    def compute_output_shape(self, input_shape):
        out = tuple(None if n is None else n * s
                    for n, s in zip(self._spatial(input_shape), self.size))
        return self._out_shape(input_shape, out)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"size": self.size, "data_format": self.data_format,
                    "interpolation": self.interpolation})
        return cfg


class ZeroPadding2D(_SpatialLayer):
    """Zeros around the image: ``padding`` int, (sym_h, sym_w) or ((top, bottom),
    (left, right)); (N, H, W, C) -> (N, H+t+b, W+l+r, C)."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        who = f"ZeroPadding2D '{self.name}'"
        self.padding = _I._pairs(padding, who, "padding")
        self.data_format = _data_format(data_format, who)
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        return self._apply(inputs, lambda x: _I.zero_pad2d(x, self.padding))

    def compute_output_shape(self, input_shape):
        out = tuple(None if n is None else n + a + b
                    for n, (a, b) in zip(self._spatial(input_shape), self.padding))
        return self._out_shape(input_shape, out)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"padding": self.padding, "data_format": self.data_format})
        return cfg


class Cropping2D(_SpatialLayer):
    """Cut rows/columns off the edges: ``cropping`` int, (sym_h, sym_w) or ((top, bottom),
    (left, right)); (N, H, W, C) -> (N, H-t-b, W-l-r, C)."""

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        who = f"Cropping2D '{self.name}'"
        self.cropping = _I._pairs(cropping, who, "cropping")
        self.data_format = _data_format(data_format, who)
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        return self._apply(inputs, lambda x: _I.crop2d(x, self.cropping))

    def compute_output_shape(self, input_shape):
        out = tuple(None if n is None else n - a - b
                    for n, (a, b) in zip(self._spatial(input_shape), self.cropping))
        return self._out_shape(input_shape, out)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"cropping": self.cropping, "data_format": self.data_format})
        return cfg


class _SpatialDropout(_SpatialLayer):
    """While training, zero whole channels (one draw per sample and channel) with
    probability ``rate`` and scale the rest by 1/(1-rate); the identity otherwise."""

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        who = f"{type(self).__name__} '{self.name}'"
        if not 0 <= rate <= 1:
            raise ValueError(f"{who}: rate must be in [0, 1], got {rate}")
        self.rate = float(rate)
        self.seed = seed
        self.data_format = _data_format(data_format, who)
        self._gen = _generator(seed)
        self.input_spec = InputSpec(ndim=self.rank + 2)
        self.supports_masking = True

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        if self.rate >= 1:
            return inputs * 0.0
        shp = list(inputs.shape)
        ch = 1 if self.data_format == "channels_first" else len(shp) - 1
        for i in range(1, len(shp)):
            if i != ch:
                shp[i] = 1
        return inputs * _scaled_keep_mask(shp, self.rate, inputs, self._gen)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        # Keras's order: rate and seed before the base keys
        cfg = {"rate": self.rate, "seed": self.seed}
        cfg.update(super().get_config())
        cfg["data_format"] = self.data_format
        return cfg


class SpatialDropout2D(_SpatialDropout):
    """Drops entire feature maps of (N, H, W, C) inputs while training."""
    rank = 2


class SpatialDropout1D(_SpatialDropout):
    """Drops entire feature maps of (N, L, C) inputs while training."""
    rank = 1


class SpatialDropout3D(_SpatialDropout):
    """Drops entire feature maps of (N, D, H, W, C) inputs while training."""
    rank = 3


def _pair_1d(value, who, what):
    """An int or a pair of ints -> (before, after), each >= 0."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif isinstance(value, (list, tuple)) and len(value) == 2 and \
            all(isinstance(v, (int, np.integer)) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{who}: {what} must be an int or a pair of ints, got {value!r}")
    if min(pair) < 0:
        raise ValueError(f"{who}: {what} must be >= 0, got {value!r}")
    return pair


class UpSampling1D(Layer):
    """Repeats each step ``size`` times along the time axis: (N, T, C) -> (N, T*size, C)."""

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"UpSampling1D '{self.name}': size must be a positive int, got "
                             f"{size!r}")
        self.size = int(size)
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs):
        return _repeat(inputs, self.size, axis=1)

    def compute_output_shape(self, input_shape):
        t = input_shape[1]
        return (input_shape[0], None if t is None else t * self.size, input_shape[2])

    def get_config(self):
        cfg = super().get_config()
        cfg["size"] = self.size
        return cfg


class ZeroPadding1D(Layer):
    """Zeros before and after the time axis: ``padding`` int or (before, after);
    (N, T, C) -> (N, T+before+after, C) (channels_first: (N, C, T))."""

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        who = f"ZeroPadding1D '{self.name}'"
        self.padding = _pair_1d(padding, who, "padding")
        self.data_format = _data_format(data_format, who)
        self.input_spec = InputSpec(ndim=3)

    def _t_axis(self):
        return 2 if self.data_format == "channels_first" else 1

    def call(self, inputs):
        widths = [(0, 0)] * 3
        widths[self._t_axis()] = self.padding
        return _pad(inputs, widths)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        t = self._t_axis()
        if shape[t] is not None:
            shape[t] += sum(self.padding)
        return tuple(shape)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"padding": self.padding, "data_format": self.data_format})
        return cfg


class Cropping1D(Layer):
    """Cuts steps off the start and end of the time axis: ``cropping`` int or
    (start, end); (N, T, C) -> (N, T-start-end, C)."""

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pair_1d(cropping, f"Cropping1D '{self.name}'", "cropping")
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs):
        a, b = self.cropping
        t = inputs.shape[1]
        if a + b >= t:
            raise ValueError(f"Cropping1D '{self.name}': cropping {self.cropping} removes all "
                             f"{t} steps of input shape {tuple(inputs.shape)}")
        return inputs[:, a:t - b, :]

    def compute_output_shape(self, input_shape):
        t = input_shape[1]
        if t is not None and sum(self.cropping) >= t:
            raise ValueError(f"Cropping1D '{self.name}': cropping {self.cropping} removes all "
                             f"{t} steps of input shape {tuple(input_shape)}")
        return (input_shape[0], None if t is None else t - sum(self.cropping), input_shape[2])

    def get_config(self):
        cfg = super().get_config()
        cfg["cropping"] = self.cropping
        return cfg


def _triples(value, who, what):
    """An int, three ints (symmetric per axis) or three (low, high) pairs, as three pairs."""
    if isinstance(value, (int, np.integer)):
        return ((int(value), int(value)),) * 3
    try:
        items = list(value)
        if len(items) != 3:
            raise ValueError
        out = tuple((int(v), int(v)) if isinstance(v, (int, np.integer))
                    else tuple(int(a) for a in v) for v in items)
        if any(len(p) != 2 or min(p) < 0 for p in out):
            raise ValueError
        return out
    except (TypeError, ValueError):
        raise ValueError(f"{who}: {what} must be an int, 3 ints or 3 (low, high) pairs of "
                         f"non-negative ints, got {value!r}") from None


class _Volume(_SpatialLayer):
    """Shared plumbing of the 3-D shape layers (inputs (N, D, H, W, C))."""

    rank = 3

    _key = None     # the constructor argument the config holds (besides data_format)

    def _setup(self, data_format):
        self.data_format = _data_format(data_format, f"{type(self).__name__} '{self.name}'")
        self.input_spec = InputSpec(ndim=5)

    def _size(self, n, axis):
        """The output size of spatial axis ``axis`` (0-2) for an input size ``n``."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return self._out_shape(input_shape, tuple(None if n is None else self._size(n, i)
                                                  for i, n in
                                                  enumerate(self._spatial(input_shape))))

    def get_config(self):
        cfg = super().get_config()
        cfg.update({self._key: getattr(self, self._key), "data_format": self.data_format})
        return cfg


class UpSampling3D(_Volume):
    """Repeat every voxel ``size`` times along depth, height and width:
    (N, D, H, W, C) -> (N, D*sd, H*sh, W*sw, C)."""

    _key = "size"

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.size = normalize_tuple(size, 3, "size", f"UpSampling3D '{self.name}'")
        self._setup(data_format)

    def call(self, inputs):
        def up(x):
            for axis, k in zip((1, 2, 3), self.size):
                if k > 1:
                    x = _repeat(x, k, axis=axis)
            return x
        return self._apply(inputs, up)

    def _size(self, n, axis):
        return n * self.size[axis]


class ZeroPadding3D(_Volume):
    """Zeros around the volume: ``padding`` int, 3 ints or 3 (low, high) pairs."""

    _key = "padding"

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _triples(padding, f"ZeroPadding3D '{self.name}'", "padding")
        self._setup(data_format)

    def call(self, inputs):
        return self._apply(inputs, lambda x: _pad(x, ((0, 0),) + self.padding + ((0, 0),)))

    def _size(self, n, axis):
        return n + sum(self.padding[axis])


class Cropping3D(_Volume):
    """Cut voxels off the edges: ``cropping`` int, 3 ints or 3 (low, high) pairs."""

    _key = "cropping"

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _triples(cropping, f"Cropping3D '{self.name}'", "cropping")
        self._setup(data_format)

    def call(self, inputs):
        def crop(x):
            sl = tuple(slice(a, x.shape[i + 1] - b) for i, (a, b) in enumerate(self.cropping))
            return x[(slice(None),) + sl]
        return self._apply(inputs, crop)

    def _size(self, n, axis):
        return n - sum(self.cropping[axis])


def _register():
    from ..serialization import register_class
    for cls in (UpSampling2D, ZeroPadding2D, Cropping2D, SpatialDropout1D, SpatialDropout2D):
        register_class(cls)


_register()
