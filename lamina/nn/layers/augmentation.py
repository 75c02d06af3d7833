"""Keras 3 image augmentation layers beyond the basic ones in ``preprocessing``: color
(Solarization, RandomInvert, AutoContrast, Equalization, RandomPosterization,
RandomColorDegeneration, RandomSaturation, RandomHue, RandomSharpness,
RandomColorJitter), occlusion and blur (RandomErasing, RandomGaussianBlur), geometry
(RandomShear, RandomPerspective, RandomElasticTransform) and batch mixing (MixUp,
CutMix).

Inputs are images (N, H, W, C) or one image (H, W, C) (channels first with
``data_format='channels_first'``); a dict ``{"images": ..., "labels": ...}`` is accepted
too, and MixUp and CutMix then mix the labels as they mix the images.

As in Keras, ``call`` defaults to ``training=True``: a bare call augments, while
``training=False`` (and ``predict``/``evaluate``) leaves images unchanged, except
AutoContrast which is always applied.  Each layer first draws its random parameters
(``_draw``) and then applies them (``_transform``), both on the data's array module;
draws come from the layer's own generator when ``seed`` is given, else from
``lamina.random.default_generator()``.  Outputs record no gradient.
"""
from __future__ import annotations

import numpy as np

from ...backend import to_host
from ... import random as _random
from ...ops import image as _I
from ...ops.base import wrap, xp_of
from ...ops.elementwise import _float_in
from .. import keras_ops_image as _KI
from .preprocessing import RandomBrightness, RandomContrast, _Augment

__all__ = ["Solarization", "RandomInvert", "AutoContrast", "Equalization",
           "RandomPosterization", "RandomColorDegeneration", "RandomSaturation", "RandomHue",
           "RandomSharpness", "RandomColorJitter", "RandomErasing", "RandomGaussianBlur",
           "RandomShear", "RandomPerspective", "RandomElasticTransform", "MixUp", "CutMix"]

_F32 = np.float32


def _factor(factor, who, name="factor", bounds=(0.0, 1.0), strict=False):
    """Keras's factor rule: a number f gives (max(-|f|, low), |f|); a pair is sorted.
    Numbers outside ``bounds`` raise (for a pair: only when it misses the bounds
    entirely, unless ``strict``)."""
    lo_b, hi_b = bounds
    msg = (f"{who}: `{name}` must be a number or a pair of numbers in [{lo_b}, {hi_b}], "
           f"got {factor!r}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(isinstance(v, (int, float)) for v in factor):
            raise ValueError(msg)
        if factor[0] > hi_b or factor[1] < lo_b or (strict and not all(
                lo_b <= v <= hi_b for v in factor)):
            raise ValueError(msg)
        return tuple(sorted(factor))
    if isinstance(factor, (int, float)) and not isinstance(factor, bool):
        if factor < lo_b or factor > hi_b:
            raise ValueError(msg)
        f = abs(factor)
        return (lo_b if -f <= lo_b else -f, f)
    raise ValueError(msg)


def _value_range(value_range, who, sort=True):
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise ValueError(f"{who}: `value_range` must be a list of two numbers (low, high), "
                         f"got {value_range!r}")
    return sorted(value_range) if sort else list(value_range)


def _rescale(d, src, dst):
    """Map values linearly from the range ``src`` to ``dst``."""
    if src[0] == dst[0] and src[1] == dst[1]:
        return d
    d = (d - _F32(src[0])) / _F32(src[1] - src[0])
    return d * _F32(dst[1] - dst[0]) + _F32(dst[0])


def _box_mask(xp, shape, x0, x1, y0, y1):
    """(N, H, W, 1) mask of pixels with x0 <= col < x1 and y0 <= row < y1."""
    _, h, w, _ = shape
    gy = xp.arange(h, dtype=_F32)[None, :, None, None]
    gx = xp.arange(w, dtype=_F32)[None, None, :, None]
    e = (slice(None), None, None, None)
    return (gx >= x0[e]) & (gx < x1[e]) & (gy >= y0[e]) & (gy < y1[e])


class _ImageLayer(_Augment):
    """Shared plumbing: rank and layout handling, ``training=True`` by default, dict
    inputs, draws on the data's device.  Subclasses define ``_draw(d)`` -> params and
    ``_transform(d, params)`` on raw channels-last batches (N, H, W, C)."""

    _ALWAYS = False          # applied also when not training (AutoContrast)
    _SEEDED = True           # has a `seed` argument

    @property
    def _who(self):
        return f"{type(self).__name__} '{self.name}'"

    def _g(self):
        return self._gen or _random.default_generator()

    def _u(self, shape, xp, lo=0.0, hi=1.0):
        return self._g().uniform_array(shape, xp, float(lo), float(hi), dtype=_F32)

    def _draw(self, d):
        return None

    def _labels(self, y, params):
        return y

    def _bounds(self, xp, n, length, ratio):
        """A random span of ``ratio * length`` per image along an axis of ``length``:
        (start, stop) arrays (n,)."""
        size = ratio * _F32(length)
        start = self._u((n,), xp) * (_F32(length) - size)
        return start, start + size

    def call(self, inputs, training=True):
        if isinstance(inputs, dict):
            if "images" not in inputs:
                raise ValueError(f"{self._who}: a dict input needs an 'images' entry, got "
                                 f"keys {sorted(inputs)}")
            out = dict(inputs)
            out["images"], params = self._run(inputs["images"], training)
            if "labels" in inputs and params is not None:
                y = _float_in(inputs["labels"])
                out["labels"] = wrap(self._labels(y.data, params))
            return out
        return self._run(inputs, training)[0]

    def _run(self, inputs, training):
        x = _float_in(inputs)
        if not (training or self._ALWAYS):
            return x, None
        d = x.data
        if d.ndim not in (3, 4):
            raise ValueError(f"{self._who}: expected images of rank 3 (H, W, C) or 4 "
                             f"(N, H, W, C), got shape {tuple(d.shape)}")
        xp = xp_of(x)
        batched = d.ndim == 4
        if not batched:
            d = d[None]
        first = self.data_format == "channels_first"
        if first:
            d = xp.moveaxis(d, 1, -1)
        if batched or not self._BATCH_ONLY:
            params = self._draw(d)
            y = self._transform(d, params)
        else:
            params, y = None, d
        y = xp.ascontiguousarray(y.astype(d.dtype, copy=False))
        if first:
            y = xp.moveaxis(y, -1, 1)
        return wrap(y if batched else y[0]), params

    _BATCH_ONLY = False      # CutMix: an unbatched image is returned unchanged

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.input_spec = None           # dict inputs allowed; the rank is checked in call

    def get_config(self):
        cfg = super().get_config()
        if not self._SEEDED:
            cfg.pop("seed")
        return cfg


class Solarization(_ImageLayer):
    """Invert pixels at or above a threshold: per image, add a = U(addition_factor) and
    compare with t = U(threshold_factor) (both drawn as Keras draws them, on the 0..255
    scale), ``y = x + a`` clipped to [0, 255] where ``y < t``, else ``255 - y``, mapped
    back to ``value_range``.  Factors lie in [0, 1]; a number f means (0, f)."""

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255),
                 seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.addition_factor = _factor(addition_factor, self._who, "addition_factor", strict=True)
        self.threshold_factor = _factor(threshold_factor, self._who, "threshold_factor",
                                        strict=True)
        self.value_range = _value_range(value_range, self._who)

    def _draw(self, d):
        # Keras scales only the upper bound by 255: kept as is
        xp, n = xp_of(d), d.shape[0]
        a = self._u((n, 1, 1, 1), xp, self.addition_factor[0], self.addition_factor[1] * 255)
        t = self._u((n, 1, 1, 1), xp, self.threshold_factor[0],
                    self.threshold_factor[1] * 255)
        return {"additions": a, "thresholds": t}

    def _transform(self, d, p):
        xp = xp_of(d)
        y = xp.clip(_rescale(d, self.value_range, (0, 255)) + p["additions"], 0, 255)
        y = xp.where(y < p["thresholds"], y, _F32(255) - y)
        return _rescale(y, (0, 255), self.value_range)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"value_range": self.value_range, "addition_factor": self.addition_factor,
                    "threshold_factor": self.threshold_factor})
        return cfg


class RandomInvert(_ImageLayer):
    """Invert each image (``value_range[1] - x``) with probability p drawn per image from
    ``factor`` (a number f means (0, f); the default 1.0 draws p uniformly in [0, 1])."""

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor(factor, self._who)
        self.value_range = _value_range(value_range, self._who, sort=False)

    def _draw(self, d):
        xp, n = xp_of(d), d.shape[0]
        p = self._u((n,), xp, *self.factor)
        return {"apply_inversion": self._u((n,), xp) < p}

    def _transform(self, d, p):
        xp = xp_of(d)
        return xp.where(p["apply_inversion"][:, None, None, None],
                        _F32(self.value_range[1]) - d, d)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"factor": self.factor, "value_range": self.value_range})
        return cfg


class AutoContrast(_ImageLayer):
    """Stretch each image's channels to fill ``value_range``: (x - min) / (max - min) per
    image and channel; a constant channel (or one holding NaN) is left as it is.
    Applied at training and inference alike."""

    _ALWAYS = True
    _SEEDED = False

    def __init__(self, value_range=(0, 255), **kwargs):
        super().__init__(**kwargs)
        self.value_range = _value_range(value_range, self._who)

    def _transform(self, d, p):
        xp = xp_of(d)
        y = _rescale(d, self.value_range, (0, 255))
        low = y.min(axis=(1, 2), keepdims=True)
        high = y.max(axis=(1, 2), keepdims=True)
        flat = ~(high > low)
        scale = _F32(255) / xp.where(flat, _F32(1), high - low)
        y = _rescale(xp.clip((y - low) * scale, 0, 255), (0, 255), self.value_range)
        return xp.where(flat | xp.isnan(y), d, y)

    def get_config(self):
        cfg = super().get_config()
        cfg["value_range"] = self.value_range
        return cfg


class Equalization(_ImageLayer):
    """Histogram equalization of each channel with ``bins`` bins on the 0..255 scale.
    As in Keras, a channel's histogram is taken over the whole batch (all images
    together), and a channel whose values fall in a single bin is left unchanged."""

    _SEEDED = False

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        if not isinstance(bins, (int, np.integer)) or bins < 2:
            raise ValueError(f"{self._who}: `bins` must be an integer >= 2, got {bins!r}")
        self.bins = int(bins)
        self.value_range = _value_range(value_range, self._who)

    def _equalize(self, xp, ch):
        nb = self.bins
        idx = xp.clip((ch * _F32(nb - 1) / _F32(255)).astype(np.int32), 0, nb - 1)
        hist = xp.bincount(idx.ravel(), minlength=nb)
        if int((hist > 0).sum()) <= 1:
            return ch
        cdf = xp.cumsum(hist)
        cmin = cdf[int(xp.argmax(cdf > 0))]
        den = cdf[-1] - cmin
        den = den if int(den) != 0 else 1
        lut = xp.clip(xp.round(((cdf - cmin) * 255).astype(_F32) / _F32(den)), 0, 255)
        look = xp.clip((ch / _F32(255)) * _F32(nb - 1), 0, nb - 1).astype(np.int32)
        return lut[look].astype(ch.dtype)

    def _transform(self, d, p):
        xp = xp_of(d)
        y = _rescale(d, self.value_range, (0, 255))
        y = xp.stack([self._equalize(xp, y[..., c]) for c in range(y.shape[-1])], axis=-1)
        return _rescale(y, (0, 255), self.value_range)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"bins": self.bins, "value_range": self.value_range})
        return cfg


class _ColorFactor(_ImageLayer):
    """(factor, value_range, data_format, seed) colour layers; ``factor`` in [-1, 1]
    unless ``_BOUNDS`` says otherwise (a number f means (-f, f) clipped to the bounds)."""

    _BOUNDS = (-1.0, 1.0)
    _SORT_RANGE = True

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor(factor, self._who, bounds=self._BOUNDS)
        self.value_range = _value_range(value_range, self._who, sort=self._SORT_RANGE)

    def _check_rgb(self, d):
        if d.shape[-1] != 3:
            raise ValueError(f"{self._who}: expected RGB images (3 channels), got "
                             f"{d.shape[-1]} channels")

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"factor": self.factor, "value_range": self.value_range})
        return cfg


class RandomPosterization(_ColorFactor):
    """Keep only the top b bits of each 8-bit channel value (on the 0..255 scale): b is
    ``factor`` when it is a fixed pair (b, b), else drawn per image as an integer in
    [low, high) from ``factor`` (a number f means (1, f)); 1 <= b <= 8."""

    _BOUNDS = (1, 8)

    def _draw(self, d):
        xp, n = xp_of(d), d.shape[0]
        lo, hi = int(self.factor[0]), int(self.factor[1])
        bits = self._g().integers_array(lo, hi, (n,), xp, np.int64) if lo != hi else \
            xp.full((n,), lo, dtype=np.int64)
        return {"shift_factor": (8 - bits).astype(np.uint8)}

    def _transform(self, d, p):
        s = p["shift_factor"][:, None, None, None]
        v = _rescale(d, self.value_range, (0, 255)).astype(np.uint8)
        v = ((v >> s) << s).astype(_F32)
        return _rescale(v, (0, 255), self.value_range)


class RandomColorDegeneration(_ColorFactor):
    """Blend each image toward its grayscale version: ``x + f (gray - x)`` with f drawn
    per image from ``factor`` (a number f means (-f, f), as Keras), clipped to
    ``value_range``.  Needs 3 channels."""

    def _draw(self, d):
        return {"factor": self._u((d.shape[0], 1, 1, 1), xp_of(d), *self.factor)}

    def _transform(self, d, p):
        self._check_rgb(d)
        y = d + p["factor"] * (_I.rgb_to_grayscale(wrap(d)).data - d)
        return xp_of(d).clip(y, *self.value_range)

    def compute_output_shape(self, input_shape):
        ax = 1 if self.data_format == "channels_first" and len(input_shape) == 4 else -1
        if self.data_format == "channels_first" and len(input_shape) == 3:
            ax = 0
        if input_shape[ax] is not None and input_shape[ax] != 3:
            raise ValueError(f"{self._who}: expected RGB images (3 channels), got input "
                             f"shape {tuple(input_shape)}")
        return tuple(input_shape)


class RandomSaturation(_ColorFactor):
    """Scale the HSV saturation of each image by f / (1 - f + 1e-7), f drawn per image
    from ``factor`` (a number f means (-f, f); 0.5 keeps the image, 1.0 saturates fully,
    values <= 0 give grayscale), saturation clipped to ``value_range`` as in Keras."""

    def _draw(self, d):
        f = self._u((d.shape[0],), xp_of(d), *self.factor)
        return {"factor": f / (_F32(1) - f + _F32(1e-7))}

    def _transform(self, d, p):
        xp = xp_of(d)
        self._check_rgb(d)
        hsv = _I.rgb_to_hsv(wrap(d)).data
        s = xp.clip(hsv[..., 1] * p["factor"][:, None, None], *self.value_range)
        return _I.hsv_to_rgb(wrap(xp.stack([hsv[..., 0], s, hsv[..., 2]], axis=-1))).data


class RandomHue(_ColorFactor):
    """Rotate the hue of each image by +-f/2 of a turn, f drawn per image from ``factor``
    in [0, 1] (a number f means (0, f)) and the sign by a coin flip."""

    _BOUNDS = (0.0, 1.0)
    _SORT_RANGE = False

    def _draw(self, d):
        xp, n = xp_of(d), d.shape[0]
        sign = xp.where(self._u((n,), xp) > 0.5, _F32(-1), _F32(1))
        return {"factor": sign * self._u((n,), xp, *self.factor) * _F32(0.5)}

    def _transform(self, d, p):
        xp = xp_of(d)
        self._check_rgb(d)
        hsv = _I.rgb_to_hsv(wrap(_rescale(d, self.value_range, (0, 1)))).data
        h = hsv[..., 0] + p["factor"][:, None, None]
        h = xp.where(h > 1, h - _F32(1), h)
        h = xp.where(h < 0, h + _F32(1), h)
        y = _I.hsv_to_rgb(wrap(xp.stack([h, hsv[..., 1], hsv[..., 2]], axis=-1))).data
        return _rescale(xp.clip(y, 0, 1), (0, 1), self.value_range)


class RandomSharpness(_ColorFactor):
    """Sharpen or soften: ``x + (1 - 2f) (smooth - x)`` with the 3x3 smoothing kernel
    [[1,1,1],[1,5,1],[1,1,1]]/13 (zero padded), f drawn per image from ``factor`` in
    [0, 1] (a number f means (0, f); f = 0.5 is the identity), clipped to
    ``value_range``."""

    _BOUNDS = (0.0, 1.0)

    def _draw(self, d):
        return {"factor": self._u((d.shape[0],), xp_of(d), *self.factor)}

    def _transform(self, d, p):
        xp = xp_of(d)
        a, b = 1 / 13, 5 / 13
        # [[a,a,a],[a,b,a],[a,a,a]] = a * ones(3,3) + (b - a) * delta
        smooth = _I.separable_filter2d(wrap(d), (1, 1, 1), (1, 1, 1)).data * _F32(a) + \
            d * _F32(b - a)
        f = _F32(1) - (p["factor"] * _F32(2))[:, None, None, None]
        return xp.clip(d + f * (smooth - d), *self.value_range)


class RandomColorJitter(_ImageLayer):
    """Random brightness, contrast, saturation and hue, applied in that order, each only
    when its factor is given (as in RandomBrightness, RandomContrast, RandomSaturation
    and RandomHue with this ``value_range`` and ``seed``)."""

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None,
                 saturation_factor=None, hue_factor=None, seed=None, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = _value_range(value_range, self._who, sort=False)
        lst = lambda f: list(f) if isinstance(f, tuple) else f     # noqa: E731 (JSON-stable)
        self.brightness_factor = lst(brightness_factor)
        self.contrast_factor = lst(contrast_factor)
        self.saturation_factor = lst(saturation_factor)
        self.hue_factor = lst(hue_factor)
        vr = tuple(self.value_range)
        self._steps = []
        if brightness_factor is not None:
            self._steps.append(RandomBrightness(brightness_factor, vr, seed=seed))
        if contrast_factor is not None:
            self._steps.append(RandomContrast(contrast_factor, vr, seed=seed))
        if saturation_factor is not None:
            self._steps.append(RandomSaturation(saturation_factor, vr, seed=seed))
        if hue_factor is not None:
            self._steps.append(RandomHue(hue_factor, vr, seed=seed))

    def _transform(self, d, p):
        for step in self._steps:
            if isinstance(step, _ImageLayer):
                d = step._transform(d, step._draw(d))
            else:
                d = step._augment(wrap(d)).data
        return d

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"value_range": self.value_range,
                    "brightness_factor": self.brightness_factor,
                    "contrast_factor": self.contrast_factor,
                    "saturation_factor": self.saturation_factor,
                    "hue_factor": self.hue_factor})
        return cfg


class RandomErasing(_ImageLayer):
    """With probability p drawn per image from ``factor`` (a number f means (0, f)),
    replace a random box by ``fill_value`` (a number, 3 per-channel numbers, or None:
    Gaussian noise times value_range[1]), clipped to ``value_range``.  The box's width
    and height are sqrt(U(scale)) times the image's."""

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255),
                 seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor(factor, self._who)
        self.scale = _factor(scale, self._who, "scale")
        ok = fill_value is None or (isinstance(fill_value, (int, float)) and
                                    not isinstance(fill_value, bool)) or \
            (isinstance(fill_value, (tuple, list)) and len(fill_value) == 3)
        if not ok:
            raise ValueError(f"{self._who}: `fill_value` must be None, a number or a list of "
                             f"three numbers, got {fill_value!r}")
        self.fill_value = fill_value
        self.value_range = _value_range(value_range, self._who, sort=False)

    def _draw(self, d):
        xp, (n, h, w, _) = xp_of(d), d.shape
        mix = xp.sqrt(self._u((n, 2), xp, *self.scale))
        x0, x1 = self._bounds(xp, n, w, mix[:, 0])
        y0, y1 = self._bounds(xp, n, h, mix[:, 1])
        p = self._u((n,), xp, *self.factor)
        apply = self._u((n,), xp) < p
        if self.fill_value is None:
            fill = self._g().normal_array(d.shape, xp, dtype=_F32) * _F32(self.value_range[1])
        else:
            fill = xp.broadcast_to(xp.asarray(self.fill_value, dtype=_F32), d.shape)
        fill = xp.clip(fill, self.value_range[0], self.value_range[1])
        return {"apply_erasing": apply, "batch_masks": _box_mask(xp, d.shape, x0, x1, y0, y1),
                "fill_value": fill}

    def _transform(self, d, p):
        xp = xp_of(d)
        m = p["batch_masks"] & p["apply_erasing"][:, None, None, None]
        return xp.where(m, p["fill_value"], d)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"factor": self.factor, "scale": self.scale, "fill_value": self.fill_value,
                    "value_range": self.value_range})
        return cfg


class RandomGaussianBlur(_ImageLayer):
    """With probability p drawn per image from ``factor``, blur by a Gaussian kernel of
    ``kernel_size`` (odd; one number or (width, height)) whose sigmas (x, y) are drawn once
    per batch from ``sigma`` in [0, 1] (a number s means (0, s)), zero padded; the result
    is clipped to ``value_range``."""

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255),
                 data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor(factor, self._who)
        ks = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else \
            (kernel_size, kernel_size)
        if len(ks) != 2 or not all(isinstance(k, (int, np.integer)) and k > 0 and k % 2
                                   for k in ks):
            raise ValueError(f"{self._who}: `kernel_size` must be an odd positive integer or "
                             f"a pair of them, got {kernel_size!r}")
        self.kernel_size = ks
        self.sigma = _factor(sigma, self._who, "sigma")
        self.value_range = _value_range(value_range, self._who, sort=False)

    def _draw(self, d):
        xp, n = xp_of(d), d.shape[0]
        p = self._u((n,), xp, *self.factor)
        apply = self._u((n,), xp) < p
        sig = self._u((2,), xp, *self.sigma) + _F32(1e-6)
        return {"should_apply_blur": apply, "blur_factor": sig}

    def _transform(self, d, p):
        xp = xp_of(d)
        sx, sy = (float(v) for v in to_host(p["blur_factor"]))
        kx = _I.gaussian_kernel1d(self.kernel_size[0], sx, _F32)
        ky = _I.gaussian_kernel1d(self.kernel_size[1], sy, _F32)
        blur = _I.separable_filter2d(wrap(d), ky, kx).data
        y = xp.where(p["should_apply_blur"][:, None, None, None], blur, d)
        return xp.clip(y, self.value_range[0], self.value_range[1])

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"factor": self.factor, "kernel_size": self.kernel_size,
                    "sigma": self.sigma, "value_range": self.value_range})
        return cfg


class _Projective(_ImageLayer):
    def _check_interp(self, interpolation):
        if interpolation not in ("nearest", "bilinear"):
            raise NotImplementedError(f"{self._who}: unknown `interpolation` "
                                      f"{interpolation!r}; expected 'nearest' or 'bilinear'")
        self.interpolation = interpolation


class RandomShear(_Projective):
    """Shear each image about its top-left corner: the output pixel (x, y) samples the
    input at (x + sx y, sy x + y), sx and sy drawn per image from ``x_factor`` and
    ``y_factor`` (in [0, 1]; a number f means (-f, f)) with one random sign for both."""

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear",
                 fill_mode="reflect", fill_value=0.0, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.x_factor = self._shear_factor(x_factor, "x_factor")
        self.y_factor = self._shear_factor(y_factor, "y_factor")
        if fill_mode not in ("reflect", "wrap", "constant", "nearest"):
            raise NotImplementedError(f"{self._who}: unknown `fill_mode` {fill_mode!r}; "
                                      f"expected 'reflect', 'wrap', 'constant' or 'nearest'")
        self._check_interp(interpolation)
        self.fill_mode = fill_mode
        self.fill_value = fill_value

    def _shear_factor(self, f, name):
        # a number f in [0, 1] means (-f, f); a pair may lie in [-1, 1] (Keras rejects
        # negative entries, so its own configs could not be reloaded)
        if isinstance(f, (tuple, list)):
            return _factor(f, self._who, name, bounds=(-1.0, 1.0), strict=True)
        lo, hi = _factor(f, self._who, name, strict=True)
        return (-hi, hi)

    def _draw(self, d):
        xp, n = xp_of(d), d.shape[0]
        sign = xp.where(self._u((n, 1), xp) > 0.5, _F32(-1), _F32(1))
        sy = self._u((n, 1), xp, *self.y_factor)
        sx = self._u((n, 1), xp, *self.x_factor)
        return {"shear_factor": xp.concatenate([sx, sy], axis=1) * sign}

    def _transform(self, d, p):
        s = to_host(p["shear_factor"]).astype(np.float64)
        n = s.shape[0]
        o, z = np.ones(n), np.zeros(n)
        t = np.stack([o, s[:, 0], z, s[:, 1], o, z, z, z], axis=1)
        return _I.affine_transform(wrap(d), t, self.interpolation, self.fill_mode,
                                   float(self.fill_value)).data

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"x_factor": self.x_factor, "y_factor": self.y_factor,
                    "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                    "fill_value": self.fill_value})
        return cfg


class RandomPerspective(_Projective):
    """With probability p drawn per image from ``factor``, warp the image by the
    perspective transform that moves each corner c to c + c * u, u drawn per corner and
    coordinate in [-scale/2, scale/2]; outside pixels take ``fill_value``."""

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_value=0.0,
                 seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor(factor, self._who)
        if not isinstance(scale, (int, float)) or not 0.0 <= scale <= 1.0:
            raise ValueError(f"{self._who}: `scale` must be a number in [0, 1], got {scale!r}")
        self.scale = scale
        self.fill_value = fill_value
        self._check_interp(interpolation)

    def _draw(self, d):
        xp, (n, h, w, _) = xp_of(d), d.shape
        p = self._u((n,), xp, *self.factor)
        apply = self._u((n,), xp) < p
        u = self._u((n, 4, 2), xp, -0.5 * self.scale, 0.5 * self.scale)
        start = xp.broadcast_to(xp.asarray([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]],
                                           dtype=_F32), (n, 4, 2))
        return {"apply_perspective": apply, "start_points": start,
                "end_points": start + start * u}

    def _transform(self, d, p):
        xp = xp_of(d)
        t = _I.homography(to_host(p["start_points"]), to_host(p["end_points"]))
        y = _I.affine_transform(wrap(d), t, self.interpolation, "constant",
                                float(self.fill_value)).data
        return xp.where(p["apply_perspective"][:, None, None, None], y, d)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"factor": self.factor, "scale": self.scale,
                    "interpolation": self.interpolation, "fill_value": self.fill_value})
        return cfg


class RandomElasticTransform(_Projective):
    """Elastic distortion (Simard et al.): with probability p drawn per image from
    ``factor`` (a number f means (0, f)), resample the image at (row + alpha dy,
    col + alpha dx), where dx, dy are standard normals times sigma, blurred by a Gaussian
    of sigma (``keras.ops.image.elastic_transform``); alpha = 0.1 s max(H, W) and sigma =
    0.05 s min(H, W) for s drawn once per batch from ``scale`` (a number s means (0, s)).
    Every image is then clipped to ``value_range``; ``fill_mode`` ('reflect', 'mirror',
    'constant', 'nearest', 'wrap') says how points outside the image are read.  Images
    (N, H, W, C) or (H, W, C) -> the same shape."""

    _FILL_MODES = ("reflect", "mirror", "constant", "nearest", "wrap")

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_mode="reflect",
                 fill_value=0.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor(factor, self._who)
        self.scale = _factor(scale, self._who, "scale")
        self._check_interp(interpolation)
        if fill_mode not in self._FILL_MODES:
            raise NotImplementedError(f"{self._who}: unknown `fill_mode` {fill_mode!r}; "
                                      f"expected one of {self._FILL_MODES}")
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.value_range = _value_range(value_range, self._who, sort=False)

    def _draw(self, d):
        if self.scale[1] == 0 or self.factor[1] == 0:
            return None          # as Keras: nothing at all is done, not even the clip
        xp, (n, h, w, _) = xp_of(d), d.shape
        p = self._u((n,), xp, *self.factor)
        apply = self._u((n,), xp) < p
        distortion = self._u((), xp, *self.scale)
        noise = self._g().normal_array((n, h, w, 2), xp, dtype=d.dtype)
        return {"apply_transform": apply, "distortion_factor": distortion, "noise": noise}

    def _fields(self, h, w, distortion):
        """(alpha, sigma) for a distortion factor, in float32 as Keras computes them (the
        blur's width int(6 sigma) | 1 then agrees at the integer boundaries)."""
        f = _F32(distortion)
        alpha = _F32(max(h, w)) * (_F32(0.1) * f)
        return float(alpha), float(_F32(min(h, w)) * (_F32(0.05) * f))

    def _transform(self, d, p):
        if p is None:
            return d
        xp, (_, h, w, _) = xp_of(d), d.shape
        alpha, sigma = self._fields(h, w, to_host(p["distortion_factor"]))
        y = d
        if alpha != 0 and sigma > 0:      # a zero distortion moves nothing (Keras: NaN)
            y = _KI.elastic_warp(wrap(d), p["noise"], alpha, sigma, self.interpolation,
                                 self.fill_mode, float(self.fill_value)).data
            y = xp.where(p["apply_transform"][:, None, None, None], y, d)
        return xp.clip(y, self.value_range[0], self.value_range[1])

    def get_config(self):
        cfg = super().get_config()
        seed = cfg.pop("seed")
        # Keras's key order: data_format (from the base), the arguments, then seed
        cfg["data_format"] = cfg.pop("data_format")
        cfg.update({"factor": self.factor, "scale": self.scale,
                    "interpolation": self.interpolation, "fill_mode": self.fill_mode,
                    "fill_value": self.fill_value, "value_range": self.value_range,
                    "seed": seed})
        return cfg


class _BatchMix(_ImageLayer):
    """Layers blending each image with another of the batch (``permutation_order``): the
    labels blend with the same weights (``mix_weight``)."""

    def _labels(self, y, p):
        w = p["mix_weight"].reshape((-1,) + (1,) * (y.ndim - 1)).astype(y.dtype)
        return w * y + (1 - w) * y[p["permutation_order"]]


class MixUp(_BatchMix):
    """Blend each image with another of the batch: ``w x + (1 - w) x[perm]``, w ~
    Beta(alpha, alpha) per image and perm a random permutation; labels in a dict input
    ``{"images", "labels"}`` are blended alike."""

    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if not isinstance(alpha, (int, float)) or alpha <= 0:
            raise ValueError(f"{self._who}: `alpha` must be a positive number, got {alpha!r}")
        self.alpha = alpha

    def _draw(self, d):
        xp, n = xp_of(d), d.shape[0]
        perm = self._g().permutation_array(n, xp)
        w = self._g().beta_array((n,), self.alpha, self.alpha, xp, dtype=_F32)
        return {"mix_weight": w, "permutation_order": perm}

    def _transform(self, d, p):
        w = p["mix_weight"][:, None, None, None]
        return w * d + (_F32(1) - w) * d[p["permutation_order"]]

    def get_config(self):
        cfg = super().get_config()
        cfg["alpha"] = self.alpha
        return cfg


class CutMix(_BatchMix):
    """Paste a random box from another image of the batch into each image: the box covers
    a fraction 1 - w of the area, w ~ Beta(a, a) per image with a drawn from ``factor``
    (a number f means (0, f)); labels in a dict input are mixed by the pasted area.  An
    unbatched image is returned unchanged."""

    _BATCH_ONLY = True
    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor(factor, self._who)

    def _draw(self, d):
        xp, (n, h, w, _) = xp_of(d), d.shape
        a = float(self._u((), xp, *self.factor)) + 1e-6
        mix = self._g().beta_array((n,), a, a, xp, dtype=_F32)
        ratio = xp.sqrt(_F32(1) - mix)
        x0, x1 = self._bounds(xp, n, w, ratio)
        y0, y1 = self._bounds(xp, n, h, ratio)
        perm = self._g().permutation_array(n, xp)
        weight = _F32(1) - (x1 - x0) * (y1 - y0) / _F32(w * h)
        return {"permutation_order": perm, "batch_masks": _box_mask(xp, d.shape, x0, x1, y0, y1),
                "mix_weight": weight}

    def _transform(self, d, p):
        return xp_of(d).where(p["batch_masks"], d[p["permutation_order"]], d)

    def get_config(self):
        cfg = super().get_config()
        cfg["factor"] = self.factor
        return cfg


def _register():
    from ..serialization import register_class
    for name in __all__:
        register_class(globals()[name])


_register()
