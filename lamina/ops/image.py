"""Image ops, channels-last (N, H, W, C): nearest upsampling by integer factors, resize
(nearest or bilinear, half-pixel centres as Keras/TF), zero padding, cropping, and the
affine warp behind the random augmentation layers (which records no gradient).

Their gradients are written with lamina ops, so second derivatives work.  Resize is two
small interpolation matrices applied along height and width (einsum), which makes its
backward the transposed matrices for free.
"""
from __future__ import annotations

import numpy as np

from .base import Tensor, as_tensor, needs_grad, record, register, wrap, xp_of
from .conv import normalize_tuple
from .elementwise import _float_in

__all__ = ["upsample2d", "resize", "zero_pad2d", "crop2d", "interpolation_matrix",
           "affine_transform"]


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


def interpolation_matrix(n_in, n_out, method, dtype=np.float32):
    """(n_out, n_in) matrix mapping a length-``n_in`` signal to ``n_out`` samples taken at
    half-pixel centres: 'nearest' picks floor((o + 0.5) * n_in / n_out), 'bilinear'
    blends the two neighbours (edges clamped)."""
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
    else:
        raise ValueError(f"resize: interpolation must be 'nearest' or 'bilinear', got "
                         f"{method!r}")
    return m.astype(dtype)


@register()
def resize(x, size, interpolation="bilinear"):
    """Resize images (N, H, W, C) -> (N, size[0], size[1], C) by 'nearest' or 'bilinear'
    interpolation with half-pixel centres (no antialiasing)."""
    from .linalg import einsum
    x = _float_in(x)
    _check4("resize", x)
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"resize: interpolation must be 'nearest' or 'bilinear', got "
                         f"{interpolation!r}")
    ho, wo = normalize_tuple(size, 2, "size", "resize")
    _, h, w, _ = x.data.shape
    xp = xp_of(x)
    dt = x.data.dtype
    y = x
    if ho != h:
        mh = wrap(xp.asarray(interpolation_matrix(h, ho, interpolation, dt)))
        y = einsum("oh,nhwc->nowc", mh, y)
    if wo != w:
        mw = wrap(xp.asarray(interpolation_matrix(w, wo, interpolation, dt)))
        y = einsum("pw,nowc->nopc", mw, y)
    return y


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
    'reflect', 'wrap' or 'mirror' says what lies outside the image.  Not differentiable
    (an augmentation op): the result records no graph."""
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
        out = gather(xp.floor(sy + 0.5).astype(np.int64), xp.floor(sx + 0.5).astype(np.int64))
    else:
        x0, y0 = xp.floor(sx), xp.floor(sy)
        fx = (sx - x0).astype(d.dtype)[..., None]
        fy = (sy - y0).astype(d.dtype)[..., None]
        x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
        out = (gather(y0, x0) * (1 - fx) * (1 - fy) + gather(y0, x0 + 1) * fx * (1 - fy) +
               gather(y0 + 1, x0) * (1 - fx) * fy + gather(y0 + 1, x0 + 1) * fx * fy)
    return wrap(out.astype(d.dtype, copy=False))
