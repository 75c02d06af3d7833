"""Layers reshaping images without weights, Keras 3 names and arguments: UpSampling2D
(nearest, bilinear), ZeroPadding2D, Cropping2D, and SpatialDropout1D/2D (drops whole
feature maps while training)."""
from __future__ import annotations

from ...ops import image as _I
from ...ops.conv import normalize_tuple
from .base import InputSpec
from .conv import _SpatialLayer, _data_format
from .core import _generator, _scaled_keep_mask

__all__ = ["UpSampling2D", "ZeroPadding2D", "Cropping2D", "SpatialDropout1D",
           "SpatialDropout2D"]


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
        cfg = super().get_config()
        cfg.update({"rate": self.rate, "seed": self.seed, "data_format": self.data_format})
        return cfg


class SpatialDropout2D(_SpatialDropout):
    """Drops entire feature maps of (N, H, W, C) inputs while training."""
    rank = 2


class SpatialDropout1D(_SpatialDropout):
    """Drops entire feature maps of (N, L, C) inputs while training."""
    rank = 1


def _register():
    from ..serialization import register_class
    for cls in (UpSampling2D, ZeroPadding2D, Cropping2D, SpatialDropout1D, SpatialDropout2D):
        register_class(cls)


_register()
