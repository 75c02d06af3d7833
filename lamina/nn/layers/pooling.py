"""Pooling layers with Keras 3's names and arguments: MaxPooling1D/2D/3D (MaxPool1D/2D/3D),
AveragePooling1D/2D/3D (AvgPool1D/2D/3D), GlobalAveragePooling1D/2D and GlobalMaxPooling1D/2D
(GlobalAvgPool*/GlobalMaxPool*).  They have no weights."""
from __future__ import annotations

from ...ops import pooling as _P
from ...ops.base import xp_of
from ...ops.conv import conv_output_length, normalize_tuple
from ...ops.elementwise import where
from ...ops.reduction import sum as _sum
from ...tensor import Tensor, _wrap
from .base import InputSpec, Layer
from .conv import _SpatialLayer, _data_format, _padding, _to_first, _to_last

__all__ = ["MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
           "MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D", "GlobalAveragePooling1D",
           "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
           "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D",
           "MaxPooling3D", "AveragePooling3D", "MaxPool3D", "AvgPool3D"]


class _Pool(_SpatialLayer):
    """Windowed pooling: (N, *spatial, C) -> (N, *pooled, C)."""

    _op = None

    def __init__(self, rank, pool_size, strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        who = f"{type(self).__name__} '{self.name}'"
        self.rank = rank
        self.pool_size = normalize_tuple(pool_size, rank, "pool_size", who)
        self.strides = self.pool_size if strides is None else \
            normalize_tuple(strides, rank, "strides", who)
        self.padding = _padding(padding, who, ("valid", "same"))
        self.data_format = _data_format(data_format, who)
        self.input_spec = InputSpec(ndim=rank + 2)

    def call(self, inputs):
        op = type(self)._op
        return self._apply(inputs, lambda x: op(x, self.pool_size, self.strides, self.padding))

    def compute_output_shape(self, input_shape):
        out = tuple(None if n is None else conv_output_length(n, k, self.padding, s)
                    for n, k, s in zip(self._spatial(input_shape), self.pool_size,
                                       self.strides))
        return self._out_shape(input_shape, out)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"pool_size": self.pool_size, "padding": self.padding,
                    "strides": self.strides, "data_format": self.data_format})
        return cfg


class MaxPooling2D(_Pool):
    """Max over ``pool_size`` windows: (N, H, W, C) -> (N, Ho, Wo, C)."""
    _op = staticmethod(_P.max_pool2d)

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(2, pool_size, strides, padding, data_format, **kwargs)


class AveragePooling2D(_Pool):
    """Mean over ``pool_size`` windows ('same' averages real pixels only):
    (N, H, W, C) -> (N, Ho, Wo, C)."""
    _op = staticmethod(_P.avg_pool2d)

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(2, pool_size, strides, padding, data_format, **kwargs)


class MaxPooling3D(_Pool):
    """Max over ``pool_size`` boxes: (N, D, H, W, C) -> (N, Do, Ho, Wo, C)."""
    _op = staticmethod(_P.max_pool3d)

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(3, pool_size, strides, padding, data_format, **kwargs)


class AveragePooling3D(_Pool):
    """Mean over ``pool_size`` boxes ('same' averages real voxels only):
    (N, D, H, W, C) -> (N, Do, Ho, Wo, C)."""
    _op = staticmethod(_P.avg_pool3d)

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(3, pool_size, strides, padding, data_format, **kwargs)


class MaxPooling1D(_Pool):
    """Max over windows of ``pool_size`` steps: (N, L, C) -> (N, Lo, C)."""
    _op = staticmethod(_P.max_pool1d)

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(1, pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_Pool):
    """Mean over windows of ``pool_size`` steps: (N, L, C) -> (N, Lo, C)."""
    _op = staticmethod(_P.avg_pool1d)

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(1, pool_size, strides, padding, data_format, **kwargs)


MaxPool2D, MaxPool1D = MaxPooling2D, MaxPooling1D
AvgPool2D, AvgPool1D = AveragePooling2D, AveragePooling1D
MaxPool3D, AvgPool3D = MaxPooling3D, AveragePooling3D


class _GlobalPool(Layer):
    """Reduce every spatial axis: (N, *spatial, C) -> (N, C) (or keep them as size 1)."""

    rank = 2
    _op = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format, f"{type(self).__name__} '{self.name}'")
        self.keepdims = bool(keepdims)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        x = inputs
        if self.data_format == "channels_first":
            x = _to_last(x, self.rank)
        y = type(self)._op(x, keepdims=self.keepdims)
        if self.data_format == "channels_first" and self.keepdims:
            y = _to_first(y, self.rank)
        return y

    def compute_output_shape(self, input_shape):
        s = tuple(input_shape)
        if self.data_format == "channels_first":
            return (s[0], s[1]) + (1,) * self.rank if self.keepdims else (s[0], s[1])
        return (s[0],) + (1,) * self.rank + (s[-1],) if self.keepdims else (s[0], s[-1])

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return cfg


class GlobalAveragePooling2D(_GlobalPool):
    """Mean over height and width: (N, H, W, C) -> (N, C)."""
    rank = 2
    _op = staticmethod(_P.global_avg_pool2d)


class GlobalMaxPooling2D(_GlobalPool):
    """Max over height and width: (N, H, W, C) -> (N, C)."""
    rank = 2
    _op = staticmethod(_P.global_max_pool2d)


class GlobalAveragePooling1D(_GlobalPool):
    """Mean over the steps: (N, L, C) -> (N, C).  With a mask (N, L) (e.g. from
    ``Embedding(mask_zero=True)``) the mean is over the unmasked steps only, as in Keras;
    a row with every step masked gives NaN (0 / 0), as in Keras.  The mask stops here."""
    rank = 1
    # Keras sets supports_masking = True; here a ``mask`` argument in call() is what brings
    # the mask in, and True would mark the symbolic output as masked although no mask
    # leaves this layer.
    supports_masking = False
    _op = staticmethod(_P.global_avg_pool1d)

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        x = _to_last(inputs, 1) if self.data_format == "channels_first" else inputs
        m = mask.data if isinstance(mask, Tensor) else mask
        xp = xp_of(x)
        m = xp.asarray(m)
        if m.shape != tuple(x.shape[:2]):
            raise ValueError(f"GlobalAveragePooling1D '{self.name}': mask of shape "
                             f"{tuple(m.shape)} does not match the (batch, steps) = "
                             f"{tuple(x.shape[:2])} of inputs of shape {tuple(inputs.shape)}")
        keep = m.astype(bool)[:, :, None]
        # where (not x * mask) so that NaN/inf at masked steps cannot leak into the mean
        total = _sum(where(_wrap(keep), x, 0.0), axis=1, keepdims=self.keepdims)
        count = keep.astype(x.dtype).sum(axis=1, keepdims=self.keepdims)
        y = total / _wrap(count)
        if self.data_format == "channels_first" and self.keepdims:
            y = _to_first(y, 1)
        return y


class GlobalMaxPooling1D(_GlobalPool):
    """Max over the steps: (N, L, C) -> (N, C).  As in Keras 3 this layer does not support
    masking: a mask from an upstream layer is dropped, and masked steps take part in the
    max (Keras 3 warns and does the same)."""
    rank = 1
    _op = staticmethod(_P.global_max_pool1d)


GlobalAvgPool2D, GlobalMaxPool2D = GlobalAveragePooling2D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalMaxPool1D = GlobalAveragePooling1D, GlobalMaxPooling1D


def _register():
    from ..serialization import register_class
    for cls in (MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D,
                GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
                GlobalMaxPooling2D, MaxPooling3D, AveragePooling3D):
        register_class(cls)


_register()


def _global_mean3d(x, keepdims=False):
    from ...ops.reduction import mean
    return mean(x, axis=(1, 2, 3), keepdims=keepdims)


def _global_max3d(x, keepdims=False):
    from ...ops.reduction import max as _max
    return _max(x, axis=(1, 2, 3), keepdims=keepdims)


class GlobalAveragePooling3D(_GlobalPool):
    """Mean over depth, height and width: (N, D, H, W, C) -> (N, C)."""
    rank = 3
    _op = staticmethod(_global_mean3d)


class GlobalMaxPooling3D(_GlobalPool):
    """Max over depth, height and width: (N, D, H, W, C) -> (N, C)."""
    rank = 3
    _op = staticmethod(_global_max3d)


GlobalAvgPool3D, GlobalMaxPool3D = GlobalAveragePooling3D, GlobalMaxPooling3D
__all__ += ["GlobalAveragePooling3D", "GlobalMaxPooling3D", "GlobalAvgPool3D",
            "GlobalMaxPool3D"]
