"""Keras 3's ``keras.ops.image`` functions (``lamina.keras.ops.image`` re-exports them).

Each takes Keras's arguments, turns the images into lamina's layout (a batch, channels
last), calls the image op of lamina's table (``lamina.ops.image``: resize, affine_transform,
map_coordinates, separable_filter2d, the colour conversions, ...) or composes lamina ops,
and turns the result back.  ``data_format=None`` means ``keras.config.image_data_format()``
(channels_last unless changed).  Images are one image (H, W, C) or a batch (N, H, W, C)
(channels first: (C, H, W) / (N, C, H, W)).  Integer images are resampled in float32 and
rounded back to their dtype, as Keras does.

Gradients: resize, scale_and_translate, map_coordinates, elastic_transform (in the images),
gaussian_blur, sobel_edges, ssim, pad/crop, extract_patches and the colour conversions are
differentiable; affine_transform and perspective_transform record no gradient (lamina's
warp is an augmentation op).
"""
from __future__ import annotations

import numpy as _np

import lamina as _lm
from ..ops import image as _I
from ..ops.base import Tensor as _Tensor, as_tensor as _as_tensor, wrap as _wrap, \
    xp_of as _xp_of
from ..ops.elementwise import _float_in

__all__ = ["affine_transform", "crop_images", "elastic_transform", "extract_patches",
           "extract_patches_3d", "gaussian_blur", "hsv_to_rgb", "map_coordinates",
           "pad_images", "perspective_transform", "resize", "rgb_to_grayscale", "rgb_to_hsv",
           "scale_and_translate", "sobel_edges", "ssim"]


# ------------------------------------------------------------------ layout helpers
def _data_format(op, data_format):
    if data_format is None:
        from .keras_backend import image_data_format
        data_format = image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{op}: data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}")
    return data_format


def _rank_error(op, x, ranks=(3, 4), what="images"):
    names = {3: "3 (a single image)", 4: "4 (a batch of images)"}
    if what == "volumes":
        names = {4: "4 (a single volume)", 5: "5 (a batch of volumes)"}
    return ValueError(f"{op}: expected {what} of rank " + " or ".join(names[r] for r in ranks)
                      + f", got shape {tuple(x.shape)}")


def _to_nhwc(op, images, data_format, ranks=(3, 4)):
    """(x as (N, H, W, C), unbatched, channels_first) for the Keras images ``images``."""
    x = _as_tensor(images)
    if x.ndim not in ranks:
        raise _rank_error(op, x, ranks)
    first = _data_format(op, data_format) == "channels_first"
    unbatched = x.ndim == 3
    if unbatched:
        x = _lm.expand_dims(x, 0)
    if first:
        x = _lm.moveaxis(x, 1, -1)
    return x, unbatched, first


def _from_nhwc(y, unbatched, first):
    if first:
        y = _lm.moveaxis(y, -1, 1)
    return _lm.squeeze(y, 0) if unbatched else y


def _like(y, dtype):
    """``y`` (float) back to the input's ``dtype``: integers are rounded and saturated."""
    dtype = _np.dtype(dtype)
    if y.dtype == dtype:
        return y
    if dtype.kind in "iub":
        info = _np.iinfo(dtype) if dtype.kind != "b" else None
        y = _lm.round(y)
        if info is not None:
            y = _lm.clip(y, float(info.min), float(info.max))
    return _lm.cast(y, dtype)


def _pair(op, name, value, n=2):
    if isinstance(value, (int, _np.integer)):
        return (int(value),) * n
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        out = ()
    if len(out) != n:
        raise ValueError(f"{op}: {name} must be an int or {n} ints, got {value!r}")
    return out


# ------------------------------------------------------------------ colour
def rgb_to_grayscale(images, data_format=None):
    """Luma 0.2989 R + 0.587 G + 0.114 B: images (..., H, W, 3) -> (..., H, W, 1)
    (channels first: (..., 3, H, W) -> (..., 1, H, W)); one channel is copied."""
    x, unbatched, first = _to_nhwc("rgb_to_grayscale", images, data_format)
    if x.shape[-1] not in (1, 3):
        raise ValueError(f"rgb_to_grayscale: expected 3 (RGB) or 1 (grayscale) channels, got "
                         f"images of shape {tuple(_as_tensor(images).shape)}")
    dtype = x.dtype
    y = _I.rgb_to_grayscale(x)
    # Keras keeps the input's dtype (an integer result is truncated, as torch's .to())
    return _from_nhwc(y if y.dtype == dtype else _lm.cast(y, dtype), unbatched, first)


def _hsv(op, fn, images, data_format):
    x, unbatched, first = _to_nhwc(op, images, data_format)
    if x.dtype.kind != "f":
        raise ValueError(f"{op}: expected float images, got dtype {x.dtype}")
    if x.shape[-1] != 3:
        raise ValueError(f"{op}: expected 3 channels, got images of shape "
                         f"{tuple(_as_tensor(images).shape)}")
    return _from_nhwc(fn(x), unbatched, first)


def rgb_to_hsv(images, data_format=None):
    """RGB -> HSV, same shape; float images with values in [0, 1]; every HSV value is in
    [0, 1] (hue 0 red, 1/3 green, 2/3 blue)."""
    return _hsv("rgb_to_hsv", _I.rgb_to_hsv, images, data_format)


def hsv_to_rgb(images, data_format=None):
    """HSV -> RGB, same shape (the inverse of :func:`rgb_to_hsv`); float images."""
    return _hsv("hsv_to_rgb", _I.hsv_to_rgb, images, data_format)


# ------------------------------------------------------------------ resampling
def _aspect_crop(x, size):
    """Keras's crop_to_aspect_ratio: the largest centred window of the target's ratio."""
    _, h, w, _ = x.shape
    th, tw = size
    ch = max(min(h, int(float(w * th) / tw)), 1)
    cw = max(min(w, int(float(h * tw) / th)), 1)
    t, l = int(float(h - ch) / 2), int(float(w - cw) / 2)
    return x[:, t:t + ch, l:l + cw, :]


def _aspect_pad(x, size, fill_value):
    """Keras's pad_to_aspect_ratio: pad the short side evenly (the same amount on both
    sides, as Keras does) with ``fill_value``."""
    _, h, w, _ = x.shape
    th, tw = size
    ph = int(float(max(h, int(float(w * th) / tw)) - h) / 2)
    pw = int(float(max(w, int(float(h * tw) / th)) - w) / 2)
    if ph or pw:
        x = _lm.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)), constant_values=fill_value)
    return x


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """Resize images to ``size`` = (height, width): (N, H, W, C) -> (N, height, width, C)
    (or unbatched, or channels first).  ``interpolation`` 'nearest', 'bilinear', 'bicubic'
    (PyTorch's kernels, half-pixel centres), 'lanczos3' or 'lanczos5'; ``antialias``
    widens the kernel when downscaling; ``crop_to_aspect_ratio`` first crops the largest
    centred window of the target's aspect ratio, ``pad_to_aspect_ratio`` instead pads the
    short side with ``fill_value`` (``fill_mode`` 'constant' only)."""
    size = tuple(size)
    if len(size) != 2:
        raise ValueError(f"resize: size must be (height, width), got {size!r}")
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"resize: size must have a positive height and width, got {size!r}")
    if pad_to_aspect_ratio and crop_to_aspect_ratio:
        raise ValueError("resize: only one of pad_to_aspect_ratio and crop_to_aspect_ratio "
                         "can be True")
    if fill_mode != "constant":
        raise ValueError(f"resize: fill_mode must be 'constant' (the only mode Keras "
                         f"supports), got {fill_mode!r}")
    x, unbatched, first = _to_nhwc("resize", images, data_format)
    dtype = x.dtype
    x = _float_in(x)
    if crop_to_aspect_ratio:
        x = _aspect_crop(x, size)
    elif pad_to_aspect_ratio:
        x = _aspect_pad(x, size, fill_value)
    y = _I.resize(x, size, interpolation, antialias=antialias)
    return _from_nhwc(_like(y, dtype), unbatched, first)


def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method,
                        antialias=True):
    """Resample ``images`` (any rank) to ``output_shape``: along each axis of
    ``spatial_dims``, input location u (pixel centres at i + 0.5) goes to
    u * scale + translation.  ``method`` 'linear'/'bilinear'/'trilinear'/'triangle',
    'cubic'/'bicubic'/'tricubic' (Keys), 'lanczos3' or 'lanczos5'; ``antialias`` widens
    the kernel when downscaling.  Output locations sampling outside the input are 0."""
    x = _as_tensor(images)
    if x.dtype.kind in "iub":
        # Keras: resample in float32, round, keep within the input's range
        y = _I.scale_and_translate(_lm.cast(x, "float32"), output_shape, scale, translation,
                                   spatial_dims, method, antialias)
        lo, hi = float(x.data.min()), float(x.data.max())
        return _lm.cast(_lm.clip(_lm.round(y), lo, hi), x.dtype)
    return _I.scale_and_translate(x, output_shape, scale, translation, spatial_dims, method,
                                  antialias)


_INTERPOLATIONS = ("nearest", "bilinear")
_WARP_FILL = ("constant", "nearest", "wrap", "mirror", "reflect")


def _check_warp(op, interpolation, fill_mode=None):
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"{op}: interpolation must be 'nearest' or 'bilinear', got "
                         f"{interpolation!r}")
    if fill_mode is not None and fill_mode not in _WARP_FILL:
        raise ValueError(f"{op}: fill_mode must be one of {_WARP_FILL}, got {fill_mode!r}")


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                     fill_value=0, data_format=None):
    """Warp images by projective transforms ``transform`` (8,) or (N, 8): a row
    [a0, a1, a2, b0, b1, b2, c0, c1] maps output pixel (x, y) to the input point
    ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k), k = c0 x + c1 y + 1.  Same shape
    out; outside points follow ``fill_mode``.  Records no gradient."""
    _check_warp("affine_transform", interpolation, fill_mode)
    t = transform.data if isinstance(transform, _Tensor) else transform
    shape = tuple(getattr(t, "shape", _np.shape(t)))      # host or device arrays alike
    if len(shape) not in (1, 2) or shape[-1] != 8:
        raise ValueError(f"affine_transform: transform must be (8,) or (N, 8), got shape "
                         f"{shape}")
    x, unbatched, first = _to_nhwc("affine_transform", images, data_format)
    dtype = x.dtype
    y = _I.affine_transform(_float_in(x), t, interpolation, fill_mode, float(fill_value))
    return _from_nhwc(_like(y, dtype), unbatched, first)


def perspective_transform(images, start_points, end_points, interpolation="bilinear",
                          fill_value=0, data_format=None):
    """Warp images so that the content at ``start_points`` (4, 2) or (N, 4, 2) (x, y
    corners) lands at ``end_points``; outside points take ``fill_value``.  Same shape out;
    records no gradient."""
    _check_warp("perspective_transform", interpolation)
    pts = []
    for name, p in (("start_points", start_points), ("end_points", end_points)):
        p = p.data if isinstance(p, _Tensor) else p
        p = p.get() if hasattr(p, "get") else _np.asarray(p, dtype=_np.float64)
        if p.ndim not in (2, 3) or p.shape[-2:] != (4, 2):
            raise ValueError(f"perspective_transform: {name} must be (4, 2) or (N, 4, 2), got "
                             f"shape {tuple(p.shape)}")
        pts.append(p)
    if pts[0].shape != pts[1].shape:
        raise ValueError(f"perspective_transform: start_points {pts[0].shape} and end_points "
                         f"{pts[1].shape} differ in shape")
    x, unbatched, first = _to_nhwc("perspective_transform", images, data_format)
    dtype = x.dtype
    t = _I.homography(*pts)
    y = _I.affine_transform(_float_in(x), t, interpolation, "constant", float(fill_value))
    return _from_nhwc(_like(y, dtype), unbatched, first)


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    """Sample ``inputs`` (rank R) at ``coordinates`` (R, *S) (or R arrays of shape S):
    ``order`` 0 nearest, 1 linear; ``fill_mode`` 'constant', 'nearest', 'wrap', 'mirror'
    or 'reflect' beyond the edges -> shape S, the input's dtype."""
    if isinstance(coordinates, (list, tuple)):
        first = coordinates[0] if coordinates else None
        rank = (1 + _np.ndim(first.data if isinstance(first, _Tensor) else first)) \
            if coordinates else 1
    else:
        rank = len(getattr(coordinates, "shape", _np.shape(coordinates)))
    if rank < 2:
        raise ValueError(f"map_coordinates: coordinates must have rank >= 2 (one array per "
                         f"input axis), got rank {rank}")
    return _I.map_coordinates(inputs, coordinates, order, fill_mode, fill_value)


def elastic_transform(images, alpha=20.0, sigma=5.0, interpolation="bilinear",
                      fill_mode="reflect", fill_value=0.0, seed=None, data_format=None):
    """Elastic deformation: each pixel samples the input at its position plus ``alpha``
    times a random displacement field (standard normals times ``sigma``, Gaussian-blurred
    with ``sigma`` over a window of int(6 sigma) | 1), one field per image.  ``seed``:
    None (the global stream), an int or a ``keras.random.SeedGenerator``.  Same shape
    out; differentiable in the images."""
    from .. import random as _random
    _check_warp("elastic_transform", interpolation, fill_mode)
    x, unbatched, first = _to_nhwc("elastic_transform", images, data_format)
    dtype = x.dtype
    x = _float_in(x)
    if seed is None:
        gen = _random.default_generator()
    elif isinstance(seed, _random.Generator):
        gen = seed
    elif isinstance(seed, (int, _np.integer)) and not isinstance(seed, bool):
        gen = _random.Generator(int(seed))
    else:
        raise ValueError(f"elastic_transform: seed must be None, an int or a "
                         f"keras.random.SeedGenerator, got {seed!r}")
    dt = x.data.dtype
    noise = gen.normal_array(tuple(x.shape[:3]) + (2,), _xp_of(x), dtype=dt)
    y = elastic_warp(x, noise, alpha, sigma, interpolation, fill_mode, fill_value)
    return _from_nhwc(_like(y, dtype), unbatched, first)


def elastic_warp(x, noise, alpha, sigma, interpolation="bilinear", fill_mode="reflect",
                 fill_value=0.0):
    """The deterministic part of :func:`elastic_transform` (RandomElasticTransform uses
    it too): float images ``x`` (N, H, W, C) (a Tensor), standard-normal ``noise``
    (N, H, W, 2) (a raw array holding the x then the y displacement seeds) ->
    (N, H, W, C) sampled at (row + alpha dy, col + alpha dx), where (dx, dy) is
    ``noise * sigma`` blurred by a Gaussian of ``sigma`` over int(6 sigma) | 1 taps
    (zero padded).  Differentiable in ``x``."""
    xp = _xp_of(x)
    n, h, w, c = x.shape
    dt = x.data.dtype
    if tuple(noise.shape) != (n, h, w, 2):
        raise ValueError(f"elastic_warp: noise must have shape {(n, h, w, 2)} for images of "
                         f"shape {tuple(x.shape)}, got {tuple(noise.shape)}")
    sigma, alpha = float(sigma), float(alpha)
    k = _I.gaussian_kernel1d(int(6 * sigma) | 1, sigma, dt)
    # both fields in one (N, H, W, 2) batch: the blur works per channel
    field = _I.separable_filter2d(_wrap(noise * dt.type(sigma)), k, k).data * dt.type(alpha)
    ys = xp.arange(h, dtype=dt)[None, :, None] + field[..., 1]
    xs = xp.arange(w, dtype=dt)[None, None, :] + field[..., 0]
    coords = [xp.arange(n)[:, None, None, None], _wrap(ys[..., None]), _wrap(xs[..., None]),
              xp.arange(c)[None, None, None, :]]
    order = 0 if interpolation == "nearest" else 1
    return _I.map_coordinates(x, [_wrap(v) if not isinstance(v, _Tensor) else v
                                  for v in coords], order, fill_mode, fill_value)


# ------------------------------------------------------------------ padding and cropping
def _check_two_of(op, names, values):
    if list(values).count(None) != 1:
        raise ValueError(f"{op}: give exactly two of {', '.join(names)}; got "
                         + ", ".join(f"{n}={v}" for n, v in zip(names, values)))
    for n, v in zip(names, values):
        if v is not None and v < 0:
            raise ValueError(f"{op}: {n} must be >= 0, got {v}")


def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None,
               right_padding=None, target_height=None, target_width=None, data_format=None):
    """Zero-pad images to (target_height, target_width): exactly two of (top_padding,
    bottom_padding, target_height) and of (left_padding, right_padding, target_width) are
    given; (N, H, W, C) -> (N, H + top + bottom, W + left + right, C)."""
    op = "pad_images"
    _check_two_of(op, ("top_padding", "bottom_padding", "target_height"),
                  (top_padding, bottom_padding, target_height))
    _check_two_of(op, ("left_padding", "right_padding", "target_width"),
                  (left_padding, right_padding, target_width))
    x, unbatched, first = _to_nhwc(op, images, data_format)
    _, h, w, _ = x.shape
    if top_padding is None:
        top_padding = target_height - bottom_padding - h
    if bottom_padding is None:
        bottom_padding = target_height - top_padding - h
    if left_padding is None:
        left_padding = target_width - right_padding - w
    if right_padding is None:
        right_padding = target_width - left_padding - w
    for n, v in (("top_padding", top_padding), ("bottom_padding", bottom_padding),
                 ("left_padding", left_padding), ("right_padding", right_padding)):
        if v < 0:
            raise ValueError(f"{op}: images of height {h} and width {w} do not fit the "
                             f"target: {n} would be {v}")
    y = _lm.pad(x, ((0, 0), (top_padding, bottom_padding), (left_padding, right_padding),
                    (0, 0)))
    return _from_nhwc(y, unbatched, first)


def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None,
                right_cropping=None, target_height=None, target_width=None, data_format=None):
    """Crop images to (target_height, target_width): exactly two of (top_cropping,
    bottom_cropping, target_height) and of (left_cropping, right_cropping, target_width)
    are given; the window starts at (top_cropping, left_cropping)."""
    op = "crop_images"
    _check_two_of(op, ("top_cropping", "bottom_cropping", "target_height"),
                  (top_cropping, bottom_cropping, target_height))
    _check_two_of(op, ("left_cropping", "right_cropping", "target_width"),
                  (left_cropping, right_cropping, target_width))
    x, unbatched, first = _to_nhwc(op, images, data_format)
    _, h, w, _ = x.shape
    if top_cropping is None:
        top_cropping = h - target_height - bottom_cropping
    if target_height is None:
        target_height = h - bottom_cropping - top_cropping
    if left_cropping is None:
        left_cropping = w - target_width - right_cropping
    if target_width is None:
        target_width = w - right_cropping - left_cropping
    for n, v in (("top_cropping", top_cropping), ("target_height", target_height),
                 ("left_cropping", left_cropping), ("target_width", target_width)):
        if v < 0:
            raise ValueError(f"{op}: images of height {h} and width {w} are too small: {n} "
                             f"would be {v}")
    if top_cropping + target_height > h or left_cropping + target_width > w:
        raise ValueError(f"{op}: the window ({top_cropping}, {left_cropping}) + "
                         f"({target_height}, {target_width}) leaves images of height {h} "
                         f"and width {w}")
    y = x[:, top_cropping:top_cropping + target_height,
          left_cropping:left_cropping + target_width, :]
    return _from_nhwc(y, unbatched, first)


# ------------------------------------------------------------------ patches
def _patches(op, images, size, strides, dilation_rate, padding, data_format, nd):
    from .keras_ops import conv
    x = _as_tensor(images)
    ranks = (nd + 1, nd + 2)
    if x.ndim not in ranks:
        raise _rank_error(op, x, ranks, "images" if nd == 2 else "volumes")
    fmt = _data_format(op, data_format)
    size = _pair(op, "size", size, nd)
    strides = size if strides is None or strides == 0 else _pair(op, "strides", strides, nd)
    if padding not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be 'valid' or 'same', got {padding!r}")
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = _lm.expand_dims(x, 0)
    dtype = x.dtype
    x = _float_in(x)
    c = x.shape[-1] if fmt == "channels_last" else x.shape[1]
    depth = int(_np.prod(size)) * c
    # a convolution with the identity kernel copies each window (patch-major, channels
    # fastest) into the output channels: exact, differentiable, every padding/stride rule
    # of conv for free
    eye = _np.eye(depth, dtype=x.data.dtype).reshape(size + (c, depth))
    y = conv(x, _wrap(_xp_of(x).asarray(eye)), strides=strides, padding=padding,
             data_format=fmt, dilation_rate=dilation_rate)
    y = _like(y, dtype)
    return _lm.squeeze(y, 0) if unbatched else y


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid",
                    data_format=None):
    """Patches of images (N, H, W, C) -> (N, H', W', ph * pw * C) for ``size`` (ph, pw)
    (an int means square), each window flattened (rows, columns, channels); ``strides``
    default to ``size``.  A 3-tuple ``size`` extracts 3-D patches of volumes
    (:func:`extract_patches_3d`)."""
    if not isinstance(size, (int, _np.integer)):
        if not isinstance(size, (tuple, list)):
            raise TypeError(f"extract_patches: size must be an int or a tuple, got "
                            f"{type(size).__name__}")
        if len(size) not in (2, 3):
            raise ValueError(f"extract_patches: size must have 2 or 3 entries, got {size!r}")
        if len(size) == 3:
            return extract_patches_3d(images, size, strides, dilation_rate, padding,
                                      data_format)
    return _patches("extract_patches", images, size, strides, dilation_rate, padding,
                    data_format, 2)


def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid",
                       data_format=None):
    """Patches of volumes (N, D, H, W, C) -> (N, D', H', W', pd * ph * pw * C) for
    ``size`` (pd, ph, pw) (an int means a cube); ``strides`` default to ``size``."""
    return _patches("extract_patches_3d", volumes, size, strides, dilation_rate, padding,
                    data_format, 3)


# ------------------------------------------------------------------ filters
def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    """Blur images with a Gaussian of ``kernel_size`` taps and standard deviations
    ``sigma`` (first entry along the width, second along the height, as Keras's kernel
    construction), zero padded to the same size."""
    ks = _pair("gaussian_blur", "kernel_size", kernel_size)
    if min(ks) < 1:
        raise ValueError(f"gaussian_blur: kernel_size must be positive, got {kernel_size!r}")
    sig = _I._host_floats(sigma)
    if len(sig) == 1:
        sig = sig * 2
    if len(sig) != 2 or min(sig) <= 0:
        raise ValueError(f"gaussian_blur: sigma must be two positive numbers, got {sigma!r}")
    x, unbatched, first = _to_nhwc("gaussian_blur", images, data_format)
    dtype = x.dtype
    x = _float_in(x)
    dt = x.data.dtype
    y = _I.separable_filter2d(x, _I.gaussian_kernel1d(ks[1], sig[1], dt),
                              _I.gaussian_kernel1d(ks[0], sig[0], dt), "same")
    return _from_nhwc(_like(y, dtype), unbatched, first)


def sobel_edges(images, data_format=None):
    """Sobel gradients of a batch of images: (N, H, W, C) -> (N, H, W, C, 2) holding
    [dy, dx] (channels first: (N, C, H, W) -> (N, C, H, W, 2)), zero padded."""
    x, _, first = _to_nhwc("sobel_edges", images, data_format, ranks=(4,))
    x = _float_in(x)
    dy = _I.separable_filter2d(x, (-1, 0, 1), (1, 2, 1))
    dx = _I.separable_filter2d(x, (1, 2, 1), (-1, 0, 1))
    y = _lm.stack([dy, dx], axis=-1)
    return _lm.moveaxis(y, 3, 1) if first else y


def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         data_format=None):
    """Structural similarity of two images or batches (Wang et al. 2004): local means,
    variances and covariance under a Gaussian window (``filter_size``, ``filter_sigma``,
    no padding), the SSIM map averaged over space and channels -> (N,) (a scalar for
    single images), in the input's dtype."""
    a = _as_tensor(image1)
    b = _as_tensor(image2)
    if a.shape != b.shape:
        raise ValueError(f"ssim: image1 {tuple(a.shape)} and image2 {tuple(b.shape)} must "
                         f"have the same shape")
    dtype = a.dtype
    x, unbatched, first = _to_nhwc("ssim", _float_in(a), data_format)
    y = _to_nhwc("ssim", _lm.cast(_float_in(b), x.dtype), data_format)[0]
    if x.shape[1] < filter_size or x.shape[2] < filter_size:
        raise ValueError(f"ssim: images of height {x.shape[1]} and width {x.shape[2]} are "
                         f"smaller than filter_size {filter_size}")
    g = _I.gaussian_kernel1d(int(filter_size), float(filter_sigma), x.data.dtype)

    def blur(v):
        return _I.separable_filter2d(v, g, g, "valid")

    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    mu1, mu2 = blur(x), blur(y)
    mu11, mu22, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s11 = blur(x * x) - mu11
    s22 = blur(y * y) - mu22
    s12 = blur(x * y) - mu12
    smap = (2.0 * mu12 + c1) * (2.0 * s12 + c2) / ((mu11 + mu22 + c1) * (s11 + s22 + c2))
    out = _lm.mean(_lm.mean(smap, axis=(1, 2)), axis=-1)
    out = _lm.squeeze(out, 0) if unbatched else out
    return out if out.dtype == dtype else _lm.cast(out, dtype)
