"""Image preprocessing and augmentation layers, Keras 3 names and arguments: Rescaling,
Resizing, CenterCrop (always on) and RandomFlip, RandomCrop, RandomRotation,
RandomTranslation, RandomZoom, RandomContrast, RandomBrightness, RandomGrayscale (active
only when ``training=True``; the identity at inference, except RandomCrop which then
center-crops).

Random draws come from ``lamina.random``: a layer built with ``seed=`` has its own
generator, otherwise it draws from ``lamina.random.default_generator()`` (so
``lamina.random.seed(n)`` makes augmentation reproducible).  Augmentations warp raw
arrays and record no gradient: they are meant for inputs.
"""
from __future__ import annotations

import math

import numpy as np

from ...ops import image as _I
from ...ops.base import wrap, xp_of
from ...ops.elementwise import _float_in
from .base import InputSpec
from .conv import _SpatialLayer, _data_format
from .core import _generator

__all__ = ["Rescaling", "Resizing", "CenterCrop", "RandomFlip", "RandomCrop",
           "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast",
           "RandomBrightness", "RandomGrayscale"]


def _range(factor, who, name, symmetric=True):
    """A factor ``f`` as (-f, f) (or (0, f)), or a (lower, upper) pair, as floats."""
    if isinstance(factor, (int, float)):
        f = float(factor)
        lo, hi = (-abs(f), abs(f)) if symmetric else (0.0, f)
    else:
        try:
            lo, hi = (float(v) for v in factor)
        except (TypeError, ValueError):
            raise ValueError(f"{who}: {name} must be a float or a (lower, upper) pair, got "
                             f"{factor!r}") from None
    if lo > hi:
        raise ValueError(f"{who}: {name} lower bound {lo} exceeds upper bound {hi}")
    return lo, hi


class _Augment(_SpatialLayer):
    """Random augmentation base: a per-layer or global generator, training-only."""

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.data_format = _data_format(data_format, f"{type(self).__name__} '{self.name}'")
        self._gen = _generator(seed)
        self.input_spec = InputSpec(min_ndim=3)

    def _uniform(self, shape, lo, hi):
        from ... import random as _random
        gen = self._gen or _random.default_generator()
        return gen.np.uniform(lo, hi, size=shape)

    # training=True by default, as Keras 3: a bare call, or a model called without
    # ``training``, augments; fit passes True, and evaluate/predict pass False
    def call(self, inputs, training=True):
        x = _float_in(inputs)
        if not training:
            return self._inference(x)
        batched = x.ndim == 4
        if not batched:
            x = wrap(x.data[None])
        y = self._apply(x, self._augment)
        return y if batched else wrap(y.data[0])

    def _inference(self, x):
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"seed": self.seed, "data_format": self.data_format})
        return cfg


class Rescaling(_SpatialLayer):
    """``inputs * scale + offset`` (e.g. ``scale=1/255`` maps pixels to [0, 1])."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.offset = offset

    def call(self, inputs):
        x = _float_in(inputs)
        return x * self.scale + self.offset

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"scale": self.scale, "offset": self.offset})
        return cfg


class Resizing(_SpatialLayer):
    """Resize images to (height, width) by 'bilinear' or 'nearest' interpolation;
    ``crop_to_aspect_ratio`` first center-crops to the target aspect ratio."""

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 data_format=None, **kwargs):
        super().__init__(**kwargs)
        who = f"Resizing '{self.name}'"
        self.height, self.width = int(height), int(width)
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"{who}: interpolation must be 'bilinear' or 'nearest', got "
                             f"{interpolation!r}")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.data_format = _data_format(data_format, who)
        self.input_spec = InputSpec(min_ndim=3)

    def _resize(self, x):
        if self.crop_to_aspect_ratio:
            _, h, w, _ = x.shape
            target = self.width / self.height
            ch, cw = (h, int(round(h * target))) if w / h > target else \
                (int(round(w / target)), w)
            t, l = (h - ch) // 2, (w - cw) // 2
            x = x[:, t:t + ch, l:l + cw, :]
        return _I.resize(x, (self.height, self.width), self.interpolation)

    def call(self, inputs):
        x = _float_in(inputs)
        if x.ndim == 3:
            from ...ops.shape import expand_dims, squeeze
            return squeeze(self._apply(expand_dims(x, 0), self._resize), 0)
        return self._apply(x, self._resize)

    def compute_output_shape(self, input_shape):
        s = tuple(input_shape)
        if self.data_format == "channels_first":
            return s[:-2] + (self.height, self.width)
        return s[:-3] + (self.height, self.width, s[-1])

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"height": self.height, "width": self.width,
                    "interpolation": self.interpolation,
                    "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                    "data_format": self.data_format})
        return cfg


def _center_crop(x, height, width):
    """Center crop (N, H, W, C) to (height, width); an image smaller than the target is
    resized up instead (bilinear), as Keras does."""
    _, h, w, _ = x.shape
    if h < height or w < width:
        return _I.resize(x, (height, width), "bilinear")
    t, l = (h - height) // 2, (w - width) // 2
    return x[:, t:t + height, l:l + width, :]


class CenterCrop(Resizing):
    """Crop the central (height, width) window of each image."""

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(height, width, data_format=data_format, **kwargs)

    def _resize(self, x):
        return _center_crop(x, self.height, self.width)

    def get_config(self):
        cfg = super().get_config()
        for k in ("interpolation", "crop_to_aspect_ratio"):
            cfg.pop(k)
        return cfg


class RandomFlip(_Augment):
    """While training, flip each image left-right and/or up-down with probability 1/2:
    ``mode`` 'horizontal', 'vertical' or 'horizontal_and_vertical'."""

    def __init__(self, mode="horizontal_and_vertical", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if mode not in ("horizontal", "vertical", "horizontal_and_vertical"):
            raise ValueError(f"RandomFlip '{self.name}': mode must be 'horizontal', 'vertical' "
                             f"or 'horizontal_and_vertical', got {mode!r}")
        self.mode = mode

    def _augment(self, x):
        xp = xp_of(x)
        d = x.data
        n = d.shape[0]
        if self.mode != "vertical":
            m = xp.asarray(self._uniform((n, 1, 1, 1), 0, 1) < 0.5)
            d = xp.where(m, d[:, :, ::-1], d)
        if self.mode != "horizontal":
            m = xp.asarray(self._uniform((n, 1, 1, 1), 0, 1) < 0.5)
            d = xp.where(m, d[:, ::-1], d)
        return wrap(d)

    def get_config(self):
        cfg = super().get_config()
        cfg["mode"] = self.mode
        return cfg


class RandomCrop(_Augment):
    """While training, crop a random (height, width) window (one offset per batch); at
    inference, the central window."""

    def __init__(self, height, width, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.height, self.width = int(height), int(width)

    def _augment(self, x):
        _, h, w, _ = x.shape
        if h < self.height or w < self.width:
            return _center_crop(x, self.height, self.width)
        t = int(self._uniform((), 0, h - self.height + 1))
        l = int(self._uniform((), 0, w - self.width + 1))
        return x[:, t:t + self.height, l:l + self.width, :]

    def _inference(self, x):
        if x.ndim == 3:
            return wrap(self._apply(wrap(x.data[None]),
                                    lambda v: _center_crop(v, self.height, self.width)).data[0])
        return self._apply(x, lambda v: _center_crop(v, self.height, self.width))

    def compute_output_shape(self, input_shape):
        s = tuple(input_shape)
        if self.data_format == "channels_first":
            return s[:-2] + (self.height, self.width)
        return s[:-3] + (self.height, self.width, s[-1])

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"height": self.height, "width": self.width})
        return cfg


class _Warp(_Augment):
    """Augmentations that warp each image by a random affine map."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        who = f"{type(self).__name__} '{self.name}'"
        if fill_mode not in ("constant", "nearest", "reflect", "wrap"):
            raise ValueError(f"{who}: fill_mode must be 'constant', 'nearest', 'reflect' or "
                             f"'wrap', got {fill_mode!r}")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"{who}: interpolation must be 'bilinear' or 'nearest', got "
                             f"{interpolation!r}")
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = float(fill_value)

    def _augment(self, x):
        n, h, w, _ = x.shape
        return _I.affine_transform(x, self._transforms(n, h, w), self.interpolation,
                                   self.fill_mode, self.fill_value)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"fill_mode": self.fill_mode, "interpolation": self.interpolation,
                    "fill_value": self.fill_value})
        return cfg


class RandomRotation(_Warp):
    """While training, rotate each image about its centre by an angle drawn uniformly from
    ``factor`` (a fraction of a full turn: 0.1 means up to +-36 degrees)."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.factor = factor
        self._lo, self._hi = _range(factor, f"RandomRotation '{self.name}'", "factor")

    def _transforms(self, n, h, w):
        ang = self._uniform((n,), self._lo, self._hi) * 2 * math.pi
        c, s = np.cos(ang), np.sin(ang)
        cx, cy = (w - 1) / 2, (h - 1) / 2
        z = np.zeros(n)
        return np.stack([c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy, z, z], 1)

    def get_config(self):
        cfg = super().get_config()
        cfg["factor"] = self.factor
        return cfg


class RandomTranslation(_Warp):
    """While training, shift each image by fractions of its height and width drawn from
    ``height_factor`` and ``width_factor``."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        who = f"RandomTranslation '{self.name}'"
        self.height_factor, self.width_factor = height_factor, width_factor
        self._h = _range(height_factor, who, "height_factor")
        self._w = _range(width_factor, who, "width_factor")

    def _transforms(self, n, h, w):
        dy = self._uniform((n,), *self._h) * h
        dx = self._uniform((n,), *self._w) * w
        o, z = np.ones(n), np.zeros(n)
        return np.stack([o, z, -dx, z, o, -dy, z, z], 1)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"height_factor": self.height_factor, "width_factor": self.width_factor})
        return cfg


class RandomZoom(_Warp):
    """While training, zoom each image about its centre: a factor f drawn from
    ``height_factor`` shows (1 + f) times the height (f > 0 zooms out, f < 0 zooms in);
    ``width_factor=None`` keeps the aspect ratio."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        who = f"RandomZoom '{self.name}'"
        self.height_factor, self.width_factor = height_factor, width_factor
        self._h = _range(height_factor, who, "height_factor")
        self._w = None if width_factor is None else _range(width_factor, who, "width_factor")
        if self._h[0] <= -1 or (self._w is not None and self._w[0] <= -1):
            raise ValueError(f"{who}: zoom factors must be > -1, got {height_factor!r}, "
                             f"{width_factor!r}")

    def _transforms(self, n, h, w):
        zy = 1.0 + self._uniform((n,), *self._h)
        zx = zy if self._w is None else 1.0 + self._uniform((n,), *self._w)
        cx, cy = (w - 1) / 2, (h - 1) / 2
        z = np.zeros(n)
        return np.stack([zx, z, cx - zx * cx, z, zy, cy - zy * cy, z, z], 1)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"height_factor": self.height_factor, "width_factor": self.width_factor})
        return cfg


class RandomContrast(_Augment):
    """While training, scale each image's deviation from its per-channel mean by a factor
    drawn from [1 - lower, 1 + upper] and clip to ``value_range``: ``factor`` f gives
    lower = upper = f (Keras's documented range), a pair (lower, upper) its two bounds in
    either order, as Keras reads it."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        who = f"RandomContrast '{self.name}'"
        self.factor = factor
        if isinstance(factor, (int, float)):
            lo, hi = _range(factor, who, "factor", symmetric=True)
            self._lo, self._hi = 1.0 + lo, 1.0 + hi
        else:
            # a pair is (lower, upper) of [1 - lower, 1 + upper], sorted as Keras does:
            # (0.1, 0.3) draws from [0.9, 1.3]
            try:
                lower, upper = sorted(float(v) for v in factor)
            except (TypeError, ValueError):
                raise ValueError(f"{who}: factor must be a float or a (lower, upper) pair, "
                                 f"got {factor!r}") from None
            self._lo, self._hi = 1.0 - lower, 1.0 + upper
        if self._lo < 0:
            raise ValueError(f"{who}: factor must leave the contrast >= 0, got {factor!r}")
        self.value_range = tuple(value_range)

    def _augment(self, x):
        xp = xp_of(x)
        d = x.data
        f = xp.asarray(self._uniform((d.shape[0], 1, 1, 1), self._lo, self._hi), dtype=d.dtype)
        mean = d.mean(axis=(1, 2), keepdims=True)
        return wrap(xp.clip((d - mean) * f + mean, *self.value_range).astype(d.dtype))

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"factor": self.factor, "value_range": self.value_range})
        return cfg


class RandomBrightness(_Augment):
    """While training, shift each image's pixels by one delta drawn from
    [lower, upper] * (value_range[1] - value_range[0]) and clip to ``value_range``
    (``factor`` f means (-f, f); both bounds in [-1, 1])."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        who = f"RandomBrightness '{self.name}'"
        self.factor = _range(factor, who, "factor", symmetric=True)
        if not -1.0 <= self.factor[0] <= self.factor[1] <= 1.0:
            raise ValueError(f"{who}: factor must lie in [-1, 1], got {factor!r}")
        if len(tuple(value_range)) != 2 or value_range[0] >= value_range[1]:
            raise ValueError(f"{who}: value_range must be (low, high) with low < high, got "
                             f"{value_range!r}")
        self.value_range = tuple(value_range)

    def _augment(self, x):
        xp = xp_of(x)
        d = x.data
        lo, hi = self.value_range
        delta = self._uniform((d.shape[0], 1, 1, 1), *self.factor) * (hi - lo)
        return wrap(xp.clip(d + xp.asarray(delta, dtype=d.dtype), lo, hi).astype(d.dtype))

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("seed")
        cfg.update({"factor": self.factor, "value_range": list(self.value_range),
                    "seed": self.seed})
        return cfg


class RandomGrayscale(_Augment):
    """While training, turn each RGB image to grayscale with probability ``factor``
    (luma 0.2989 R + 0.587 G + 0.114 B, as Keras), kept as 3 equal channels."""

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if not 0.0 <= float(factor) <= 1.0:
            raise ValueError(f"RandomGrayscale '{self.name}': factor must be in [0, 1], got "
                             f"{factor!r}")
        self.factor = float(factor)

    def _augment(self, x):
        xp = xp_of(x)
        d = x.data
        if d.shape[-1] != 3:
            raise ValueError(f"RandomGrayscale '{self.name}': expected RGB images (3 channels), "
                             f"got shape {tuple(d.shape)}")
        pick = xp.asarray(self._uniform((d.shape[0], 1, 1, 1), 0.0, 1.0) < self.factor)
        w = xp.asarray([0.2989, 0.587, 0.114], dtype=d.dtype)
        gray = (d @ w)[..., None]
        return wrap(xp.where(pick, xp.broadcast_to(gray, d.shape), d).astype(d.dtype))

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("seed")
        cfg["factor"] = self.factor
        return cfg


def _register():
    from ..serialization import register_class
    for cls in (Rescaling, Resizing, CenterCrop, RandomFlip, RandomCrop, RandomRotation,
                RandomTranslation, RandomZoom, RandomContrast, RandomBrightness,
                RandomGrayscale):
        register_class(cls)


_register()
