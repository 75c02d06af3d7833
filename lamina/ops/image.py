"""Image ops, channels-last (N, H, W, C): nearest upsampling by integer factors, resize
(nearest, bilinear or bicubic, half-pixel centres as Keras/PyTorch, optional antialiasing),
scale-and-translate resampling, zero padding, cropping, separable depthwise filtering
(Gaussian blur, Sobel), colour conversions (grayscale, HSV), sampling at fractional
coordinates (``map_coordinates``), and the projective warp behind the random augmentation
layers (which records no gradient).

``upsample2d``, ``resize``, ``zero_pad2d`` and ``crop2d`` are in the op table.  The rest
serve the layers and ``lamina.nn.keras_ops_image``: ``separable_filter2d`` records its own
node (its backward is the same filter with the taps reversed), the others are composed
from lamina ops, except the warp, which works on raw arrays.  Gradients are written with
lamina ops, so second derivatives work.  Resampling is a small weight matrix per resized
axis (einsum / matmul), which makes its backward the transposed matrices for free.
"""
from __future__ import annotations

import itertools

import numpy as np

from .base import Tensor, as_tensor, needs_grad, record, register, wrap, xp_of
from .conv import normalize_tuple
from .elementwise import _float_in

__all__ = ["upsample2d", "resize", "zero_pad2d", "crop2d", "interpolation_matrix",
           "resample_matrix", "scale_and_translate", "affine_transform", "homography",
           "map_coordinates", "gaussian_kernel1d", "separable_filter2d", "rgb_to_grayscale",
           "rgb_to_hsv", "hsv_to_rgb"]


def _check4(op, x):
    if x.data.ndim != 4:
        raise ValueError(f"{op}: expected an input of rank 4 (batch, height, width, channels), "
                         f"got shape {x.shape}")


@register()
def upsample2d(x, size=2, interpolation="nearest"):
    """Repeat rows and columns: (N, H, W, C) -> (N, H*sh, W*sw, C).  ``interpolation`` is
    'nearest' (each pixel copied sh x sw times) or 'bilinear' (resize with half-pixel
    centres, as Keras's UpSampling2D)."""
    x = as_tensor(x)
    _check4("upsample2d", x)
    sh, sw = normalize_tuple(size, 2, "size", "upsample2d")
    n, h, w, c = x.data.shape
    if interpolation == "bilinear":
        return resize(x, (h * sh, w * sw), "bilinear")
    if interpolation != "nearest":
        raise ValueError(f"upsample2d: interpolation must be 'nearest' or 'bilinear', got "
                         f"{interpolation!r}")
    xp = xp_of(x)
    y = xp.broadcast_to(x.data[:, :, None, :, None, :], (n, h, sh, w, sw, c))
    y = y.reshape(n, h * sh, w * sw, c)
    if needs_grad(x):
        def back(g, out):
            from .shape import reshape
            from .reduction import sum as _sum
            return (_sum(reshape(g, (n, h, sh, w, sw, c)), axis=(2, 4)),)
        return record(y, (x,), back, "upsample2d")
    return wrap(y)


def _cubic_taps(t, a):
    """Weights of the taps at offsets -1, 0, 1, 2 for fractional positions ``t`` (the cubic
    convolution kernel with parameter ``a``)."""
    near = lambda x: ((a + 2) * x - (a + 3)) * x * x + 1              # noqa: E731  |x| <= 1
    far = lambda x: ((a * x - 5 * a) * x + 8 * a) * x - 4 * a          # noqa: E731  1 < |x| < 2
    return far(t + 1), near(t), near(1 - t), far(2 - t)


def interpolation_matrix(n_in, n_out, method, dtype=np.float32, antialias=False):
    """(n_out, n_in) matrix mapping a length-``n_in`` signal to ``n_out`` samples taken at
    half-pixel centres: 'nearest' picks floor((o + 0.5) * n_in / n_out), 'bilinear'
    blends the two neighbours (edges clamped), 'bicubic' the four neighbours with the
    cubic kernel a = -0.75 (edges replicated), as PyTorch's ``interpolate``.  With
    ``antialias`` (bilinear, bicubic, lanczos3, lanczos5) the kernel is widened by the
    downscaling factor and normalized (:func:`resample_matrix`); lanczos always goes
    through it."""
    if method in ("lanczos3", "lanczos5") or (antialias and method in ("bilinear", "bicubic")):
        kernel = {"bilinear": "linear", "bicubic": "cubic"}.get(method, method)
        return resample_matrix(n_in, n_out, n_out / n_in, 0.0, kernel, antialias, dtype)
    scale = n_in / n_out
    m = np.zeros((n_out, n_in), dtype=np.float64)
    o = np.arange(n_out)
    if method == "nearest":
        idx = np.minimum(np.floor((o + 0.5) * scale).astype(np.int64), n_in - 1)
        m[o, idx] = 1.0
    elif method == "bilinear":
        src = np.clip((o + 0.5) * scale - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        frac = src - lo
        np.add.at(m, (o, lo), 1.0 - frac)
        np.add.at(m, (o, hi), frac)
    elif method == "bicubic":
        src = (o + 0.5) * scale - 0.5          # not clamped: the taps are (edges replicate)
        lo = np.floor(src).astype(np.int64)
        for k, w in zip(range(-1, 3), _cubic_taps(src - lo, -0.75)):
            np.add.at(m, (o, np.clip(lo + k, 0, n_in - 1)), w)
    else:
        raise ValueError(f"resize: interpolation must be 'nearest', 'bilinear', 'bicubic', "
                         f"'lanczos3' or 'lanczos5', got {method!r}")
    return m.astype(dtype)


def _keys_cubic(x):
    """Keys' cubic kernel (a = -0.5) at distances ``x`` >= 0."""
    out = ((1.5 * x - 2.5) * x) * x + 1.0
    out = np.where(x >= 1.0, ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0, out)
    return np.where(x >= 2.0, 0.0, out)


def _lanczos(radius):
    """The Lanczos kernel of ``radius`` at distances x >= 0 (1 near 0, 0 beyond radius)."""
    def kernel(x):
        with np.errstate(invalid="ignore", divide="ignore"):
            y = radius * np.sin(np.pi * x) * np.sin(np.pi * x / radius) / (np.pi * x) ** 2
        return np.where(x > radius, 0.0, np.where(x > 1e-3, y, 1.0))
    return kernel


_KERNELS = {"linear": lambda x: np.maximum(0.0, 1.0 - x), "cubic": _keys_cubic,
            "lanczos3": _lanczos(3.0), "lanczos5": _lanczos(5.0)}
_KERNEL_ALIASES = {"bilinear": "linear", "trilinear": "linear", "triangle": "linear",
                   "bicubic": "cubic", "tricubic": "cubic"}


def resample_matrix(n_in, n_out, scale, translation, kernel, antialias=True,
                    dtype=np.float32):
    """(n_out, n_in) weights of JAX's ``scale_and_translate`` along one axis: output sample
    o reads the input around ((o + 0.5) - translation) / scale - 0.5 through ``kernel``
    ('linear', 'cubic' (Keys, a = -0.5), 'lanczos3', 'lanczos5'), widened by 1 / scale
    when ``antialias`` and downscaling; each row is normalized, and rows whose sample lies
    outside the input are zero.  Built on the host in float64."""
    name = _KERNEL_ALIASES.get(kernel, kernel)
    if name not in _KERNELS:
        raise ValueError(f"scale_and_translate: method must be one of "
                         f"{sorted(set(_KERNELS) | set(_KERNEL_ALIASES))}, got {kernel!r}")
    inv = 1.0 / float(scale)
    widen = max(inv, 1.0) if antialias else 1.0
    sample = (np.arange(n_out) + 0.5) * inv - float(translation) * inv - 0.5
    w = _KERNELS[name](np.abs(sample[:, None] - np.arange(n_in)[None, :]) / widen)
    total = w.sum(axis=1, keepdims=True)
    ok = np.abs(total) > 1000.0 * float(np.finfo(np.float32).eps)
    w = np.where(ok, w / np.where(total != 0, total, 1.0), 0.0)
    inside = (sample >= -0.5) & (sample <= n_in - 0.5)
    return np.where(inside[:, None], w, 0.0).astype(dtype)


def _resample_axis(x, axis, m):
    """Apply the (n_out, n_in) matrix ``m`` (host) along ``axis`` of the tensor ``x``."""
    from .linalg import matmul
    from .shape import moveaxis
    mt = wrap(xp_of(x).asarray(np.ascontiguousarray(m.T)))
    return moveaxis(matmul(moveaxis(x, axis, -1), mt), -1, axis)


_RESIZE_METHODS = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")


@register()
def resize(x, size, interpolation="bilinear", antialias=False):
    """Resize images (N, H, W, C) -> (N, size[0], size[1], C) by 'nearest', 'bilinear' or
    'bicubic' interpolation with half-pixel centres (as PyTorch's ``interpolate``), or
    'lanczos3'/'lanczos5'; ``antialias`` widens the bilinear/bicubic kernel when
    downscaling (ignored for 'nearest')."""
    from .linalg import einsum
    x = _float_in(x)
    _check4("resize", x)
    if interpolation not in _RESIZE_METHODS:
        raise ValueError(f"resize: interpolation must be one of {_RESIZE_METHODS}, got "
                         f"{interpolation!r}")
    ho, wo = normalize_tuple(size, 2, "size", "resize")
    _, h, w, _ = x.data.shape
    xp = xp_of(x)
    dt = x.data.dtype
    y = x
    if ho != h:
        mh = wrap(xp.asarray(interpolation_matrix(h, ho, interpolation, dt, antialias)))
        y = einsum("oh,nhwc->nowc", mh, y)
    if wo != w:
        mw = wrap(xp.asarray(interpolation_matrix(w, wo, interpolation, dt, antialias)))
        y = einsum("pw,nowc->nopc", mw, y)
    return y


@register()
def scale_and_translate(x, output_shape, scale, translation, spatial_dims, method,
                        antialias=True):
    """Resample ``x`` (any rank) to ``output_shape``: along each axis of ``spatial_dims``
    the input location u maps to the output location u * scale + translation (half-pixel
    centres), sampled through the ``method`` kernel (:func:`resample_matrix`); the other
    axes must keep their length.  Differentiable in ``x``."""
    x = _float_in(x)
    shape = tuple(int(v) for v in output_shape)
    if len(shape) != x.ndim:
        raise ValueError(f"scale_and_translate: output_shape {shape} must have one entry per "
                         f"axis of the input, shape {x.shape}")
    dims = [int(d) % x.ndim for d in spatial_dims]
    scale, translation = _host_floats(scale), _host_floats(translation)
    if len(scale) != len(dims) or len(translation) != len(dims):
        raise ValueError(f"scale_and_translate: expected {len(dims)} scales and translations "
                         f"(one per spatial dim {tuple(spatial_dims)}), got {len(scale)} and "
                         f"{len(translation)}")
    for a in range(x.ndim):
        if a not in dims and shape[a] != x.shape[a]:
            raise ValueError(f"scale_and_translate: axis {a} is not in spatial_dims, so "
                             f"output_shape {shape} must keep its length {x.shape[a]}")
    y = x
    for d, s, t in zip(dims, scale, translation):
        y = _resample_axis(y, d, resample_matrix(x.shape[d], shape[d], s, t, method,
                                                 antialias, x.data.dtype))
    return y


def _host_floats(v):
    if isinstance(v, Tensor):
        v = v.data
    v = v.get() if hasattr(v, "get") else v
    return [float(e) for e in np.asarray(v, dtype=np.float64).reshape(-1)]


def _pairs(value, op, name):
    """An int, a pair of ints (symmetric per axis) or ((top, bottom), (left, right))."""
    if isinstance(value, (int, np.integer)):
        return ((int(value),) * 2,) * 2
    try:
        a, b = value
        if isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer)):
            out = ((int(a), int(a)), (int(b), int(b)))
        else:
            out = (tuple(int(v) for v in a), tuple(int(v) for v in b))
            if len(out[0]) != 2 or len(out[1]) != 2:
                raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{op}: {name} must be an int, a pair of ints or "
                         f"((top, bottom), (left, right)), got {value!r}") from None
    if any(v < 0 for pr in out for v in pr):
        raise ValueError(f"{op}: {name} must be >= 0, got {value!r}")
    return out


@register()
def zero_pad2d(x, padding=1):
    """Pad height and width with zeros: (N, H, W, C) -> (N, H+t+b, W+l+r, C); ``padding``
    is an int, (sym_h, sym_w) or ((t, b), (l, r)) as in Keras's ZeroPadding2D."""
    from .shape import pad
    x = as_tensor(x)
    _check4("zero_pad2d", x)
    (t, b), (l, r) = _pairs(padding, "zero_pad2d", "padding")
    return pad(x, ((0, 0), (t, b), (l, r), (0, 0)))


@register()
def crop2d(x, cropping=((0, 0), (0, 0))):
    """Cut rows and columns off the edges: (N, H, W, C) -> (N, H-t-b, W-l-r, C);
    ``cropping`` as in Keras's Cropping2D."""
    x = as_tensor(x)
    _check4("crop2d", x)
    (t, b), (l, r) = _pairs(cropping, "crop2d", "cropping")
    _, h, w, _ = x.data.shape
    if t + b >= h or l + r >= w:
        raise ValueError(f"crop2d: cropping {((t, b), (l, r))} leaves nothing of an input of "
                         f"shape {x.shape}")
    return x[:, t:h - b, l:w - r, :]


def _fill_index(xp, idx, n, mode):
    """Integer source indices mapped inside [0, n) by ``fill_mode``; also returns the mask of
    indices that were inside (used by 'constant')."""
    inside = (idx >= 0) & (idx < n)
    if mode == "reflect":       # d c b a | a b c d | d c b a
        m = xp.mod(idx, 2 * n)
        idx = xp.where(m >= n, 2 * n - 1 - m, m)
    elif mode == "wrap":        # a b c d | a b c d | a b c d
        idx = xp.mod(idx, n)
    elif mode == "mirror":      # d c b | a b c d | c b a
        if n == 1:
            idx = xp.zeros_like(idx)
        else:
            m = xp.mod(idx, 2 * n - 2)
            idx = xp.where(m >= n, 2 * n - 2 - m, m)
    else:                       # 'nearest' and 'constant' (masked afterwards)
        idx = xp.clip(idx, 0, n - 1)
    return idx, inside


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                     fill_value=0.0):
    """Warp images (N, H, W, C) by projective transforms (N, 8) or (8,) as Keras/TF define
    them: output pixel (x, y) samples the input at ((a0 x + a1 y + a2) / k,
    (b0 x + b1 y + b2) / k), k = c0 x + c1 y + 1.  ``fill_mode`` 'constant', 'nearest',
    'reflect', 'wrap' or 'mirror' says what lies outside the image; 'nearest'
    interpolation rounds half to even.  Not differentiable (an augmentation op): the
    result records no graph (:func:`map_coordinates` is the differentiable sampler)."""
    x = _float_in(images)
    _check4("affine_transform", x)
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"affine_transform: interpolation must be 'nearest' or 'bilinear', "
                         f"got {interpolation!r}")
    if fill_mode not in ("constant", "nearest", "reflect", "wrap", "mirror"):
        raise ValueError(f"affine_transform: fill_mode must be 'constant', 'nearest', "
                         f"'reflect', 'wrap' or 'mirror', got {fill_mode!r}")
    xp = xp_of(x)
    d = x.data
    n, h, w, c = d.shape
    if isinstance(transform, Tensor):
        transform = transform.data
    t = xp.asarray(transform, dtype=np.float64).reshape(-1, 8)     # host transforms follow
    if t.shape[0] not in (1, n):
        raise ValueError(f"affine_transform: expected {n} transforms (or one), got "
                         f"{t.shape[0]}")
    t = xp.broadcast_to(t, (n, 8))
    ys, xs = xp.meshgrid(xp.arange(h, dtype=np.float64), xp.arange(w, dtype=np.float64),
                         indexing="ij")
    a = [t[:, i, None, None] for i in range(8)]
    k = a[6] * xs + a[7] * ys + 1.0
    sx = (a[0] * xs + a[1] * ys + a[2]) / k
    sy = (a[3] * xs + a[4] * ys + a[5]) / k
    bidx = xp.arange(n)[:, None, None]
    fill = d.dtype.type(fill_value)

    def gather(iy, ix):
        jy, in_y = _fill_index(xp, iy, h, fill_mode)
        jx, in_x = _fill_index(xp, ix, w, fill_mode)
        v = d[bidx, jy, jx]                               # (N, H, W, C)
        if fill_mode == "constant":
            v = xp.where((in_y & in_x)[..., None], v, fill)
        return v

    if interpolation == "nearest":
        # round half to even, as Keras's map_coordinates (torch/jax/numpy backends)
        out = gather(xp.round(sy).astype(np.int64), xp.round(sx).astype(np.int64))
    else:
        x0, y0 = xp.floor(sx), xp.floor(sy)
        fx = (sx - x0).astype(d.dtype)[..., None]
        fy = (sy - y0).astype(d.dtype)[..., None]
        x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
        out = (gather(y0, x0) * (1 - fx) * (1 - fy) + gather(y0, x0 + 1) * fx * (1 - fy) +
               gather(y0 + 1, x0) * (1 - fx) * fy + gather(y0 + 1, x0 + 1) * fx * fy)
    return wrap(out.astype(d.dtype, copy=False))


def homography(start_points, end_points):
    """The (N, 8) projective transforms (as :func:`affine_transform` takes them) that map
    each output point in ``end_points`` (N, 4, 2) to the input point in ``start_points``:
    a warp by them moves the content at the start corners to the end corners.  Solved on
    the host in float64."""
    s = np.asarray(start_points, dtype=np.float64).reshape(-1, 4, 2)
    e = np.asarray(end_points, dtype=np.float64).reshape(-1, 4, 2)
    n = s.shape[0]
    a = np.zeros((n, 8, 8))
    b = np.zeros((n, 8))
    for i in range(4):
        ex, ey, sx, sy = e[:, i, 0], e[:, i, 1], s[:, i, 0], s[:, i, 1]
        a[:, 2 * i, 0], a[:, 2 * i, 1], a[:, 2 * i, 2] = ex, ey, 1.0
        a[:, 2 * i, 6], a[:, 2 * i, 7] = -sx * ex, -sx * ey
        a[:, 2 * i + 1, 3], a[:, 2 * i + 1, 4], a[:, 2 * i + 1, 5] = ex, ey, 1.0
        a[:, 2 * i + 1, 6], a[:, 2 * i + 1, 7] = -sy * ex, -sy * ey
        b[:, 2 * i], b[:, 2 * i + 1] = sx, sy
    return np.linalg.solve(a, b[..., None])[..., 0]


_FILL_MODES = ("constant", "nearest", "reflect", "wrap", "mirror")


@register()
def map_coordinates(x, coordinates, order=1, fill_mode="constant", fill_value=0.0):
    """Sample ``x`` (rank R) at the positions ``coordinates``: R arrays (a sequence, or an
    array (R, *S)) broadcasting to S, giving the position along each axis -> (*S).
    ``order`` 0 takes the nearest entry (rounding half to even), 1 interpolates linearly;
    an integer coordinate array is an exact index.  ``fill_mode`` ('constant',
    'nearest', 'reflect', 'wrap', 'mirror') says what lies outside ``x``.
    Differentiable in ``x`` and in the float coordinates (order 1)."""
    from .indexing import take
    from .elementwise import cast, where
    from .shape import reshape
    x = as_tensor(x)
    if order not in (0, 1):
        raise ValueError(f"map_coordinates: order must be 0 (nearest) or 1 (linear), got "
                         f"{order!r}")
    if fill_mode not in _FILL_MODES:
        raise ValueError(f"map_coordinates: fill_mode must be one of {_FILL_MODES}, got "
                         f"{fill_mode!r}")
    if isinstance(coordinates, (list, tuple)):
        coords = [as_tensor(c) for c in coordinates]
    else:
        c = as_tensor(coordinates)
        coords = [c[i] for i in range(c.shape[0])] if c.ndim >= 1 else []
    if len(coords) != x.ndim:
        raise ValueError(f"map_coordinates: expected {x.ndim} coordinate arrays (one per axis "
                         f"of the input, shape {x.shape}), got {len(coords)}")
    xp = xp_of(x)
    dt = x.data.dtype
    if dt.kind not in "fc" and order == 1:   # integer images: interpolate in float, round
        work = np.result_type(*[c.data.dtype for c in coords if c.data.dtype.kind == "f"],
                              np.float32)
        y = map_coordinates(cast(x, work), coords, order, fill_mode, float(fill_value))
        return cast(wrap(xp.round(y.data)), dt)
    axes = []                            # per axis: [(index array, weight tensor or None)]
    for c, n in zip(coords, x.shape):
        cd = c.data
        if cd.dtype.kind in "iub":
            nodes = [(cd.astype(np.int64), None)]
        elif order == 0:
            nodes = [(xp.round(cd).astype(np.int64), None)]
        else:
            lo = xp.floor(cd)
            frac = cast(c - wrap(lo), dt)                  # carries the coordinate's gradient
            lo = lo.astype(np.int64)
            nodes = [(lo, 1 - frac), (lo + 1, frac)]
        axes.append([(*_fill_index(xp, i, n, fill_mode), w) for i, w in nodes])
    strides = np.cumprod((1,) + tuple(x.shape[::-1]))[:-1][::-1]
    flat = reshape(x, (-1,))
    out = None
    for corner in itertools.product(*axes):
        index = sum(int(st) * i for st, (i, _, _) in zip(strides, corner))
        v = take(flat, index)
        if fill_mode == "constant":
            valid = None
            for _, inside, _ in corner:
                valid = inside if valid is None else valid & inside
            v = where(valid, v, dt.type(fill_value))
        ws = [w for _, _, w in corner if w is not None]
        if ws:
            weight = ws[0]
            for w in ws[1:]:
                weight = weight * w
            v = weight * v
        out = v if out is None else out + v
    return out


def gaussian_kernel1d(size, sigma, dtype=np.float32):
    """The normalized Gaussian taps exp(-t^2 / 2), t = (i - (size - 1) / 2) / sigma,
    i < ``size``, as a host array of ``dtype``."""
    dt = np.dtype(dtype).type
    t = (np.arange(size, dtype=dt) - dt((size - 1) / 2)) / dt(sigma)
    k = np.exp(dt(-0.5) * t * t)
    return k / k.sum()


def _filter_pads(op, padding, kh, kw):
    if padding == "same":          # (k - 1) // 2 before, the rest after (as JAX's SAME)
        return tuple(((k - 1) // 2, k - 1 - (k - 1) // 2) for k in (len(kh), len(kw)))
    if padding == "valid":
        return ((0, 0), (0, 0))
    try:
        (t, b), (l, r) = padding
        pads = ((int(t), int(b)), (int(l), int(r)))
    except (TypeError, ValueError):
        pads = None
    if pads is None or not all(0 <= p <= k - 1 for pr, k in zip(pads, (len(kh), len(kw)))
                               for p in pr):
        raise ValueError(f"{op}: padding must be 'same', 'valid' or ((top, bottom), "
                         f"(left, right)) each in [0, kernel size - 1] for a "
                         f"{len(kh)}x{len(kw)} kernel, got {padding!r}")
    return pads


def _filter_array(xp, d, kh, kw, pads):
    """Correlate each channel of (N, H, W, C) with the separable kernel kh (rows) x kw
    (columns) after zero padding ``pads`` ((top, bottom), (left, right))."""
    (t, b), (l, r) = pads
    ho = d.shape[1] + t + b - len(kh) + 1
    wo = d.shape[2] + l + r - len(kw) + 1
    p = xp.pad(d, ((0, 0), (t, b), (0, 0), (0, 0)))
    rows = sum(p[:, i:i + ho] * d.dtype.type(k) for i, k in enumerate(kh))
    p = xp.pad(rows, ((0, 0), (0, 0), (l, r), (0, 0)))
    return sum(p[:, :, j:j + wo] * d.dtype.type(k) for j, k in enumerate(kw))


@register()
def separable_filter2d(x, kh, kw, padding="same"):
    """Depthwise correlation of images (N, H, W, C) with the separable kernel outer(kh, kw)
    (``kh`` along height, ``kw`` along width; host numbers), zero padded: ``padding``
    'same' (output H x W), 'valid' or ((top, bottom), (left, right)).  Its gradient is the
    same filter with the taps reversed, so it differentiates again."""
    x = _float_in(x)
    _check4("separable_filter2d", x)
    kh = tuple(float(k) for k in np.asarray(kh, dtype=np.float64).reshape(-1))
    kw = tuple(float(k) for k in np.asarray(kw, dtype=np.float64).reshape(-1))
    if not kh or not kw:
        raise ValueError("separable_filter2d: the kernels must not be empty")
    pads = _filter_pads("separable_filter2d", padding, kh, kw)
    if x.shape[1] + sum(pads[0]) < len(kh) or x.shape[2] + sum(pads[1]) < len(kw):
        raise ValueError(f"separable_filter2d: a {len(kh)}x{len(kw)} kernel does not fit in "
                         f"images of shape {x.shape} padded by {pads}")
    y = _filter_array(xp_of(x), x.data, kh, kw, pads)
    if needs_grad(x):
        (t, b), (l, r) = pads
        adjoint = ((len(kh) - 1 - t, len(kh) - 1 - b), (len(kw) - 1 - l, len(kw) - 1 - r))

        def back(g, out):
            return (separable_filter2d(g, kh[::-1], kw[::-1], adjoint),)
        return record(y, (x,), back, "separable_filter2d")
    return wrap(y)


# ITU-R 601 luma weights, as Keras and torchvision
_LUMA = (0.2989, 0.587, 0.114)


def _check_rgb(op, x, allow_gray=False):
    c = x.shape[-1] if x.ndim else None
    if c != 3 and not (allow_gray and c == 1):
        raise ValueError(f"{op}: expected {'1 or ' if allow_gray else ''}3 channels on the "
                         f"last axis, got shape {x.shape}")


@register()
def rgb_to_grayscale(x):
    """Luma 0.2989 R + 0.587 G + 0.114 B of images (..., 3) -> (..., 1); a one-channel
    input is copied."""
    from .shape import expand_dims
    x = _float_in(x)
    _check_rgb("rgb_to_grayscale", x, allow_gray=True)
    if x.shape[-1] == 1:
        return x * 1
    t = x.data.dtype.type
    y = t(_LUMA[0]) * x[..., 0] + t(_LUMA[1]) * x[..., 1] + t(_LUMA[2]) * x[..., 2]
    return expand_dims(y, -1)


@register()
def rgb_to_hsv(x):
    """RGB (..., 3) -> HSV (..., 3), all in [0, 1] for inputs in [0, 1] (hue 0 red, 1/3
    green, 2/3 blue; the dm_pix formulas Keras uses).  Differentiable (piecewise)."""
    from .elementwise import abs as _abs, cast, maximum, minimum, where
    from .shape import stack
    x = _float_in(x)
    _check_rgb("rgb_to_hsv", x)
    t = x.data.dtype.type
    zero, one = t(0), t(1)
    x = where(_abs(x) < t(np.finfo(x.data.dtype).eps), zero, x)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    v = maximum(maximum(r, g), b)
    rng = v - minimum(minimum(r, g), b)
    pos_v, pos_rng = (v > 0).data, (rng > 0).data
    s = where(pos_v, rng / where(pos_v, v, one), zero)
    norm = one / (t(6) * where(pos_rng, rng, one))
    h = where((v == g).data, norm * (b - r) + t(2 / 6), norm * (r - g) + t(4 / 6))
    h = where((v == r).data, norm * (g - b), h)
    h = where(pos_rng, h, zero) + cast(h < 0, h.dtype)
    return stack([h, s, v], axis=-1)


@register()
def hsv_to_rgb(x):
    """HSV (..., 3) -> RGB (..., 3), the inverse of :func:`rgb_to_hsv`.  Differentiable
    (piecewise)."""
    from .elementwise import abs as _abs, clip, mod
    from .shape import stack
    x = _float_in(x)
    _check_rgb("hsv_to_rgb", x)
    t = x.data.dtype.type
    h, s, v = x[..., 0], x[..., 1], x[..., 2]
    dh = mod(h, t(1)) * t(6)
    dr = clip(_abs(dh - t(3)) - t(1), 0, 1)
    dg = clip(t(2) - _abs(dh - t(2)), 0, 1)
    db = clip(t(2) - _abs(dh - t(4)), 0, 1)
    oms = t(1) - s
    return stack([v * (oms + s * dr), v * (oms + s * dg), v * (oms + s * db)], axis=-1)
