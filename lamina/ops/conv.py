"""Convolutions, channels-last: conv1d, conv2d (stride, 'valid'/'same'/explicit padding,
dilation, groups), depthwise_conv2d, conv3d, and the transposed conv1d/2d/3d.

Images are (N, H, W, C) and kernels HWIO (KH, KW, C_in/groups, C_out) as Keras stores them.
Each op is one fused node.  The forward pass is one GEMM (one per group) over an im2col
matrix copied once from a strided window view of the padded input; the backward pass
reuses that matrix for the kernel gradient (one GEMM) and, a few images at a time so the
blocks stay in cache, computes the column gradient with one batched GEMM and scatters it
back with KH*KW strided adds (col2im looping over kernel offsets, not pixels).  The large
2-D GEMMs go through :mod:`lamina.ops.blas` (MKL when installed).  With few input channels
(<= 4) the im2col matrix carries a column of ones, so the forward GEMM adds the bias and
the kernel-gradient GEMM also yields the bias gradient.  ``conv2d_relu`` rectifies its
output in place and masks the incoming gradient once in its backward (for few input
channels a block of rows at a time, in cache), or not at all when a max pool over its
output masked the gradient already (``tag_relu_masked``).  Depthwise convolutions (one
input channel per group) skip im2col: KH*KW broadcast multiply-adds over strided slices.
The transposed convolution is the data gradient of a convolution, and its backward a
convolution plus a kernel gradient.  The VJPs work on raw arrays, so second derivatives
through these ops raise NotImplementedError.

'same' follows Keras/TensorFlow: output = ceil(size / stride) and, when the total padding
is odd, the extra row/column goes at the bottom/right.
"""
from __future__ import annotations

import weakref

import numpy as np

from . import kernels as _kernels
from .base import (GradMode, Tensor, as_tensor, as_tensor_on, check_device, needs_grad, record,
                   register, wrap, xp_of)
from .blas import matmul as gemm
from .elementwise import _float_in, relu_grad_array

__all__ = ["conv1d", "conv2d", "conv2d_relu", "depthwise_conv2d", "conv2d_transpose",
           "conv1d_transpose", "conv3d_transpose", "conv_output_length", "same_padding",
           "normalize_tuple"]


# ------------------------------------------------------------------ arguments
def normalize_tuple(value, n, name, op, minimum=1):
    """``value`` (an int or a sequence of ``n`` ints, each >= ``minimum``) as a tuple."""
    if isinstance(value, (int, np.integer)):
        t = (int(value),) * n
    else:
        try:
            if isinstance(value, str):
                raise TypeError
            t = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, "
                            f"got {value!r}") from None
        if len(t) != n:
            raise ValueError(f"{op}: {name} must have {n} entries, got {value!r}")
    if any(v < minimum for v in t):
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return t


def same_padding(size, k, stride, dilation=1):
    """(low, high) padding of Keras/TF 'same' for one axis: extra pad at the high end."""
    keff = (k - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + keff - size, 0)
    return total // 2, total - total // 2


def conv_output_length(size, k, padding, stride, dilation=1):
    """Output length along one axis for padding 'valid', 'same', 'causal' or (low, high)."""
    keff = (k - 1) * dilation + 1
    if isinstance(padding, str):
        if padding in ("same", "causal"):
            return -(-size // stride)
        return max((size - keff) // stride + 1, 0)
    lo, hi = padding
    return max((size + lo + hi - keff) // stride + 1, 0)


def _pads(op, padding, spatial, ksize, strides, dil):
    """Per-axis (low, high) paddings from a padding spec."""
    if isinstance(padding, str):
        p = padding.lower()
        if p == "valid":
            return tuple((0, 0) for _ in spatial)
        if p == "same":
            return tuple(same_padding(n, k, s, d) for n, k, s, d in
                         zip(spatial, ksize, strides, dil))
        if p == "causal" and len(spatial) == 1:
            return (((ksize[0] - 1) * dil[0], 0),)
        allowed = "'valid', 'same' or 'causal'" if len(spatial) == 1 else "'valid' or 'same'"
        raise ValueError(f"{op}: padding must be {allowed}, got {padding!r}")
    # explicit: an int, or one int / (low, high) pair per spatial axis
    if isinstance(padding, (int, np.integer)):
        return tuple((int(padding), int(padding)) for _ in spatial)
    try:
        items = list(padding)
        if len(items) != len(spatial):
            raise ValueError
        out = []
        for it in items:
            if isinstance(it, (int, np.integer)):
                out.append((int(it), int(it)))
            else:
                lo, hi = it
                out.append((int(lo), int(hi)))
    except (TypeError, ValueError):
        raise ValueError(f"{op}: padding must be 'valid', 'same', an int or one (low, high) "
                         f"pair per spatial axis, got {padding!r}") from None
    if any(v < 0 for pr in out for v in pr):
        raise ValueError(f"{op}: explicit padding must be >= 0, got {padding!r}")
    return tuple(out)


def _no_second_order(op):
    if GradMode.enabled:
        raise NotImplementedError(
            f"{op}: its backward pass works on raw arrays, so second derivatives "
            "(create_graph=True through it) are not supported")


# ------------------------------------------------------------- array kernels
def _pad_or_crop(xp, x, pads, value=0.0):
    """Pad (or, for negative amounts, crop) axes 1..len(pads) of ``x``."""
    if all(lo == 0 and hi == 0 for lo, hi in pads):
        return x
    crop = [slice(None)]
    width = [(0, 0)]
    for (lo, hi), n in zip(pads, x.shape[1:]):
        crop.append(slice(max(-lo, 0), n - max(-hi, 0)))
        width.append((max(lo, 0), max(hi, 0)))
    x = x[tuple(crop)]
    width += [(0, 0)] * (x.ndim - len(width))
    if any(a or b for a, b in width):
        x = xp.pad(x, width, mode="constant", constant_values=value)
    return x


def _windows(xp, xpad, ksize, strides, dil, out_hw, groups):
    """Strided view (G, N, Ho, Wo, KH, KW, Cg) of the windows of padded ``xpad`` (N, Hp, Wp, C)."""
    n, _, _, c = xpad.shape
    cg = c // groups
    sn, sh, sw, sc = xpad.strides
    shape = (groups, n, out_hw[0], out_hw[1], ksize[0], ksize[1], cg)
    st = (cg * sc, sn, sh * strides[0], sw * strides[1], sh * dil[0], sw * dil[1], sc)
    return xp.lib.stride_tricks.as_strided(xpad, shape=shape, strides=st)


def _im2col(xp, xpad, ksize, strides, dil, out_hw, groups):
    """The im2col matrix (G, N*Ho*Wo, KH*KW*Cg), one contiguous copy of the window view
    (with a last column of ones, (1, N*Ho*Wo, KH*KW*Cg + 1), when ``_bias_column``)."""
    v = _windows(xp, xpad, ksize, strides, dil, out_hw, groups)
    g, n, ho, wo, kh, kw, cg = v.shape
    if _bias_column(groups, cg):
        # an extra column of ones: the GEMM then adds the bias and the kernel-gradient GEMM
        # yields the bias gradient as its last row, saving two passes over the output
        # (measured 0.9 -> 0.5 ms forward, 0.9 -> 0.7 ms backward on MNIST's first conv).
        # Few channels: the matrix is built transposed, (K + 1, M), each kernel offset
        # and channel one row copied from long runs of the image (measured 4x faster than
        # filling columns of an (M, K + 1) matrix); its transpose is what BLAS gets
        k = kh * kw * cg
        out = xp.empty((k + 1, n * ho * wo), dtype=xpad.dtype)
        o5 = out[:k].reshape(kh, kw, cg, n, ho, wo)
        for i in range(kh):
            for j in range(kw):
                o5[i, j] = v[0, :, :, :, i, j, :].transpose(3, 0, 1, 2)
        out[k] = 1
        return out.T[None]
    return xp.ascontiguousarray(v).reshape(g, n * ho * wo, kh * kw * cg)


def _bias_column(groups, cg):
    """Whether the im2col matrix carries a ones column for the bias: only for few input
    channels, where the bias pass costs as much as the GEMM (with many channels the odd
    row length K + 1 would slow the bigger GEMMs for little gain)."""
    return groups == 1 and cg <= 4


def _kernel_matrix(w, groups):
    """HWIO kernel (KH, KW, Cg, O) as (G, KH*KW*Cg, O/G)."""
    kh, kw, cg, o = w.shape
    og = o // groups
    if groups == 1:
        return w.reshape(1, kh * kw * cg, o)
    return w.reshape(kh, kw, cg, groups, og).transpose(3, 0, 1, 2, 4).reshape(
        groups, kh * kw * cg, og)


def _group_out(y, groups, n, ho, wo):
    """(G, M, Og) -> (N, Ho, Wo, G*Og)."""
    g, m, og = y.shape
    if groups == 1:
        return y.reshape(n, ho, wo, og)
    return y.transpose(1, 0, 2).reshape(n, ho, wo, g * og)


def _group_in(g_arr, groups):
    """(N, Ho, Wo, O) -> (G, M, Og)."""
    n, ho, wo, o = g_arr.shape
    if groups == 1:
        return g_arr.reshape(1, n * ho * wo, o)
    return g_arr.reshape(n * ho * wo, groups, o // groups).transpose(1, 0, 2)


def _conv_forward(xp, x, w, strides, dil, pads, groups, b=None, relu=False):
    """y (N, Ho, Wo, O) (plus bias ``b`` (O,) if given, rectified if ``relu``) and the
    im2col matrix of ``x`` (N, H, W, C) with kernel ``w``; the matrix has a last column of
    ones when ``_bias_column(groups, C)`` holds."""
    xpad = _pad_or_crop(xp, x, pads)
    kh, kw = w.shape[0], w.shape[1]
    ho = (xpad.shape[1] - (kh - 1) * dil[0] - 1) // strides[0] + 1
    wo = (xpad.shape[2] - (kw - 1) * dil[1] - 1) // strides[1] + 1
    n = x.shape[0]
    if ho <= 0 or wo <= 0:
        y = xp.zeros((n, max(ho, 0), max(wo, 0), w.shape[3]), dtype=x.dtype)
        y = y if b is None else y + b
        return (xp.maximum(y, 0, out=y) if relu else y), None
    cols = _im2col(xp, xpad, (kh, kw), strides, dil, (ho, wo), groups)
    if _bias_column(groups, x.shape[3]):
        wm = w.reshape(-1, w.shape[3])
        bias_row = xp.zeros((1, w.shape[3]), dtype=wm.dtype) if b is None else b[None]
        wb = xp.concatenate([wm, bias_row.astype(wm.dtype, copy=False)])
        if not relu:
            return gemm(cols[0], wb).reshape(n, ho, wo, w.shape[3]), cols
        # a few rows at a time, each block rectified while still in cache: the GEMM's
        # inner dimension is tiny, so its output's trips to memory dominate (measured
        # 0.85 -> 0.67 ms on MNIST's first conv)
        y = xp.empty((n * ho * wo, w.shape[3]), dtype=wb.dtype)
        for r0, r1 in _row_chunks(y.shape[0], y.shape[1] * y.itemsize, xp):
            blk = gemm(cols[0][r0:r1], wb, out=y[r0:r1])
            xp.maximum(blk, 0, out=blk)
        return y.reshape(n, ho, wo, w.shape[3]), cols
    if groups == 1:     # a plain GEMM: faster than matmul over a batch axis of one
        y = gemm(cols[0], w.reshape(-1, w.shape[3])).reshape(n, ho, wo, w.shape[3])
    else:
        y = _group_out(xp.matmul(cols, _kernel_matrix(w, groups)), groups, n, ho, wo)
    if b is not None:
        y += b
    if relu:
        xp.maximum(y, 0, out=y)
    return y, cols


_ROW_BLOCK_BYTES = 256 << 10    # rows of a small-K GEMM's output handled per block


def _row_chunks(m, row_bytes, xp=np):
    """(start, stop) row ranges of about ``_ROW_BLOCK_BYTES`` each covering ``m`` rows."""
    if xp is not np:        # a GPU has no cache to fit; each block is another launch
        return [(0, m)]
    step = max(1, _ROW_BLOCK_BYTES // max(row_bytes, 1))
    return [(r0, min(m, r0 + step)) for r0 in range(0, m, step)]


def _masked_cols_grad(xp, cols, g2, y2):
    """``cols.T @ (g2 * (y2 > 0))`` (K, O) for an (M, K) matrix with small K, a block of
    rows at a time: the relu mask is applied to a cache-sized block that the GEMM then
    reads, instead of a full masked copy of the gradient (measured 1.5 -> 1.2 ms on
    MNIST's first conv, kernel and bias gradients).  ``y2=None``: ``g2`` is masked
    already (see :func:`tag_relu_masked`), only the blocked GEMM runs."""
    m, o = g2.shape
    acc = xp.zeros((cols.shape[1], o), dtype=g2.dtype)
    chunks = _row_chunks(m, o * g2.itemsize, xp)
    rows = chunks[0][1] if chunks else 0            # the first block is the widest
    buf = xp.empty((rows, o), dtype=g2.dtype)
    mask = xp.empty((rows, o), dtype=bool)
    for r0, r1 in chunks:
        k = r1 - r0
        if y2 is None:
            gemm(cols[r0:r1].T, g2[r0:r1], out=acc, accumulate=True)
            continue
        xp.greater(y2[r0:r1], 0, out=mask[:k])
        xp.multiply(g2[r0:r1], mask[:k], out=buf[:k])
        gemm(cols[r0:r1].T, buf[:k], out=acc, accumulate=True)
    return acc


# Gradient arrays known to be zero wherever the conv2d_relu output they flow into is not
# positive (id -> weak reference, so a reused id never matches a dead array).  A max pool
# over a conv2d_relu output tags its input gradient: it routes each window's gradient to a
# pixel equal to the window's maximum, so it can apply the relu mask on its 4x smaller
# pooled gradient (y_pool > 0 is y_relu > 0 there), and conv2d_relu then skips its own
# full-size mask pass (measured ~0.4 ms per conv on the MNIST CNN).
_relu_masked = {}


def tag_relu_masked(a, y):
    """Mark gradient array ``a`` as already multiplied by ``y > 0``, for the backward of
    the conv2d_relu whose output array is ``y`` (arrays without weak references, e.g.
    some GPU arrays, are left untagged: the conv's mask then simply runs)."""
    k = id(a)
    try:
        _relu_masked[k] = (weakref.ref(a, lambda _r, k=k: _relu_masked.pop(k, None)),
                           weakref.ref(y))
    except TypeError:
        pass


def _is_relu_masked(a, y):
    r = _relu_masked.get(id(a))
    return r is not None and r[0]() is a and r[1]() is y


def _conv_filter_grad(xp, cols, g_arr, wshape, groups):
    """d(loss)/d(kernel) (KH, KW, Cg, O) from the im2col matrix and the output gradient."""
    kh, kw, cg, o = wshape
    if groups == 1:
        # a ones column (see _im2col) adds a last row, the bias gradient: dropped here
        return gemm(cols[0].T, g_arr.reshape(-1, o))[:kh * kw * cg].reshape(wshape)
    gw = xp.matmul(cols.transpose(0, 2, 1), _group_in(g_arr, groups))     # (G, K, Og)
    return gw.reshape(groups, kh, kw, cg, o // groups).transpose(1, 2, 3, 0, 4).reshape(wshape)


def _conv_data_grad(xp, g_arr, w, in_hw, strides, dil, pads, groups):
    """d(loss)/d(input) (N, H, W, C): column gradient then col2im over the kernel offsets."""
    n, ho, wo, o = g_arr.shape
    kh, kw, cg, _ = w.shape
    c = cg * groups
    if groups != 1:
        gcols = xp.matmul(_group_in(g_arr, groups),
                          _kernel_matrix(w, groups).transpose(0, 2, 1))
        gcols = gcols.reshape(groups, n, ho, wo, kh, kw, cg)
    (plh, _), (plw, _) = pads
    # padded-gradient canvas, shifted where a negative pad (a crop) moved the origin; a
    # negative high pad (rows the windows never reach) just leaves zeros there
    oh, ow = max(-plh, 0), max(-plw, 0)
    hp = max(in_hw[0] + plh, (ho - 1) * strides[0] + (kh - 1) * dil[0] + 1)
    wp = max(in_hw[1] + plw, (wo - 1) * strides[1] + (kw - 1) * dil[1] + 1)
    gx = xp.zeros((n, hp + oh, wp + ow, groups, cg), dtype=g_arr.dtype)
    he = (ho - 1) * strides[0] + 1
    we = (wo - 1) * strides[1] + 1
    if groups == 1:
        _col2im_chunked(xp, g_arr, w, gx[:, :, :, 0], strides, dil, oh, ow, he, we)
    else:
        for i in range(kh):
            r0 = i * dil[0] + oh
            for j in range(kw):
                c0 = j * dil[1] + ow
                blk = gcols[:, :, :, :, i, j, :]
                gx[:, r0:r0 + he:strides[0], c0:c0 + we:strides[1], :, :] += \
                    blk.transpose(1, 2, 3, 0, 4)
    gx = gx.reshape(n, hp + oh, wp + ow, c)
    top, left = plh + oh, plw + ow
    return gx[:, top:top + in_hw[0], left:left + in_hw[1], :]


_CHUNK_BYTES = 600 << 10     # column-gradient blocks per batch chunk: they stay in L2
#                              (150K-2.4M measured on MNIST's second conv: 600K fastest)


def _col2im_chunked(xp, g_arr, w, gx, strides, dil, oh, ow, he, we):
    """Add the data gradient of a one-group conv into the zeroed canvas ``gx``
    (N, Hp, Wp, C), a few images at a time: one batched GEMM gives the chunk's column
    gradient as KH*KW contiguous (n, Ho, Wo, C) blocks, each added to its shifted strided
    slice while still in cache (measured 4.2 -> 3.0 ms on MNIST's second conv against
    the whole batch's blocks at once)."""
    n, ho, wo, o = g_arr.shape
    kh, kw, cg, _ = w.shape
    per_image = kh * kw * ho * wo * cg * g_arr.dtype.itemsize
    # on a GPU the whole batch at once: chunks for the CPU's L2 are only more launches there
    cs = max(n, 1) if xp is not np else int(max(1, min(n, _CHUNK_BYTES // max(per_image, 1))))
    dt = g_arr.dtype
    kern = _kernels.conv_kernels(dt) if type(gx) is np.ndarray and dt == gx.dtype else None
    if kern is not None:
        # with numba: the chunk's column gradient as one GEMM, (m Ho Wo, O) @ (O, KH KW C),
        # and a compiled loop adding its rows into the canvas (NumPy's strided adds over
        # that layout would each run C-element pieces, too short for its loops).  MNIST's
        # second conv: 3.4 -> 2.1 ms.
        wt = w.reshape(kh * kw * cg, o).T
        buf = np.empty((cs * ho * wo, kh * kw * cg), dtype=dt)
        g2 = g_arr.reshape(-1, o)
        for n0 in range(0, n, cs):
            m = min(cs, n - n0)
            cols = gemm(g2[n0 * ho * wo:(n0 + m) * ho * wo], wt, out=buf[:m * ho * wo])
            kern.col2im_add(cols, gx, n0, ho, wo, kh, kw, strides[0], strides[1], dil[0],
                            dil[1], oh, ow)
        return
    wk = xp.ascontiguousarray(w.reshape(kh * kw, cg, o).transpose(0, 2, 1))   # (K, O, C)
    buf = xp.empty(kh * kw * cs * ho * wo * cg, dtype=g_arr.dtype)
    for n0 in range(0, n, cs):
        m = min(cs, n - n0)
        blocks = buf[:kh * kw * m * ho * wo * cg].reshape(kh * kw, m * ho * wo, cg)
        xp.matmul(g_arr[n0:n0 + m].reshape(-1, o), wk, out=blocks)
        blocks = blocks.reshape(kh, kw, m, ho, wo, cg)
        for i in range(kh):
            r0 = i * dil[0] + oh
            for j in range(kw):
                c0 = j * dil[1] + ow
                gx[n0:n0 + m, r0:r0 + he:strides[0], c0:c0 + we:strides[1]] += blocks[i, j]


def _bias_grad(xp, g_arr):
    """d(loss)/d(bias) (O,): the output gradient (N, Ho, Wo, O) summed over all pixels, as
    one GEMV with a ones vector (measured ~3x faster than a reduction over three axes)."""
    if not g_arr.flags.c_contiguous:    # e.g. a broadcast gradient: reshaping would copy
        return g_arr.sum(axis=(0, 1, 2))
    g2 = g_arr.reshape(-1, g_arr.shape[-1])
    return xp.ones(g2.shape[0], dtype=g2.dtype) @ g2


def _dw_slices(strides, dil, kh, kw, ho, wo):
    he, we = (ho - 1) * strides[0] + 1, (wo - 1) * strides[1] + 1
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dil[0], j * dil[1]
            yield i, j, (slice(None), slice(r0, r0 + he, strides[0]),
                         slice(c0, c0 + we, strides[1]))


def _depthwise_forward(xp, x, w, strides, dil, pads):
    """Depthwise conv (groups == channels) as KH*KW broadcast multiply-adds over strided
    slices: no im2col copy and no batch of tiny GEMMs (both measured slower)."""
    xpad = _pad_or_crop(xp, x, pads)
    kh, kw, _, cm = w.shape
    n, c = x.shape[0], x.shape[3]
    m = cm // c
    ho = max((xpad.shape[1] - (kh - 1) * dil[0] - 1) // strides[0] + 1, 0)
    wo = max((xpad.shape[2] - (kw - 1) * dil[1] - 1) // strides[1] + 1, 0)
    wk = w.reshape(kh, kw, c, m)
    y = xp.zeros((n, ho, wo, c, m), dtype=x.dtype)
    if ho and wo:
        for i, j, sl in _dw_slices(strides, dil, kh, kw, ho, wo):
            y += xpad[sl][..., None] * wk[i, j]
    return y.reshape(n, ho, wo, cm), xpad


def _depthwise_backward(xp, g_arr, w, xpad, in_hw, strides, dil, pads, need_x, need_w):
    """(d input, d kernel) of the depthwise conv, looping over the kernel offsets."""
    kh, kw, _, cm = w.shape
    n, ho, wo, _ = g_arr.shape
    c = xpad.shape[3]
    m = cm // c
    wk = w.reshape(kh, kw, c, m)
    g5 = g_arr.reshape(n, ho, wo, c, m)
    gx = xp.zeros(xpad.shape, dtype=g_arr.dtype) if need_x else None
    gw = xp.zeros((kh, kw, c, m), dtype=g_arr.dtype) if need_w else None
    for i, j, sl in _dw_slices(strides, dil, kh, kw, ho, wo):
        if need_x:
            gx[sl] += (g5 * wk[i, j]).sum(axis=-1) if m > 1 else g5[..., 0] * wk[i, j, :, 0]
        if need_w:
            gw[i, j] = xp.einsum("nhwc,nhwcm->cm", xpad[sl], g5)
    if need_x:
        (t, _), (le, _) = pads
        gx = gx[:, t:t + in_hw[0], le:le + in_hw[1]]
    return gx, (None if gw is None else gw.reshape(w.shape))


# ------------------------------------------------------------------ the ops
def _check_conv_inputs(op, x, w, nd, groups):
    if x.data.ndim != nd + 2:
        raise ValueError(f"{op}: expected an input of rank {nd + 2} "
                         f"(batch, {'length' if nd == 1 else 'height, width'}, channels), "
                         f"got shape {x.shape}")
    if w.data.ndim != nd + 2:
        raise ValueError(f"{op}: expected a kernel of rank {nd + 2} "
                         f"({'KW' if nd == 1 else 'KH, KW'}, in_channels/groups, out_channels), "
                         f"got shape {w.shape}")
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    c = x.data.shape[-1]
    if c % groups or w.data.shape[-1] % groups:
        raise ValueError(f"{op}: input channels ({c}) and output channels "
                         f"({w.data.shape[-1]}) must both be divisible by groups={groups}")
    if w.data.shape[-2] * groups != c:
        raise ValueError(f"{op}: input of shape {x.shape} has {c} channels but the kernel of "
                         f"shape {w.shape} expects {w.data.shape[-2] * groups} "
                         f"(kernel in_channels {w.data.shape[-2]} x groups {groups})")


def _same_dtype(op, x, w):
    """Input and kernel as float tensors of the kernel's dtype on one device (raw data
    follows the other operand's device; tensors on two devices raise)."""
    if isinstance(x, Tensor) and not isinstance(w, Tensor):
        w = as_tensor_on(w, x)
    w = _float_in(w)
    x = _float_in(as_tensor_on(x, w))
    check_device(op, "input", x, "kernel", w)
    if x.data.dtype != w.data.dtype:
        x = as_tensor(x, dtype=w.data.dtype)
    return x, w


def _bias_tensor(op, bias, w):
    """``bias`` as a tensor of the kernel's dtype on its device (raw data follows it)."""
    b = as_tensor_on(bias, w, w.data.dtype)
    check_device(op, "bias", b, "kernel", w)
    return b


def _conv_nd(op, x, kernel, bias, strides, padding, dilation_rate, groups, nd, relu=False):
    x, w = _same_dtype(op, x, kernel)
    _check_conv_inputs(op, x, w, nd, groups)
    b = None
    if bias is not None:
        b = _bias_tensor(op, bias, w)
        if b.data.shape != (w.data.shape[-1],):
            raise ValueError(f"{op}: bias must have shape ({w.data.shape[-1]},), got {b.shape}")
    strides = normalize_tuple(strides, nd, "strides", op)
    dil = normalize_tuple(dilation_rate, nd, "dilation_rate", op)
    ksize = w.data.shape[:nd]
    pads = _pads(op, padding, x.data.shape[1:1 + nd], ksize, strides, dil)
    xp = xp_of(x)
    xd, wd = x.data, w.data
    if nd == 1:     # a 1-D conv is a 2-D one over a height of 1
        xd, wd = xd[:, None], wd[None]
        strides, dil, pads = (1,) + strides, (1,) + dil, ((0, 0),) + pads
    # groups == channels with one input channel per group: the depthwise fast path
    depthwise = groups > 1 and wd.shape[2] == 1 and all(lo >= 0 for lo, _ in pads)
    if depthwise:
        y, cols = _depthwise_forward(xp, xd, wd, strides, dil, pads)
        if b is not None:
            y += b.data
        if relu:    # y is this op's own fresh array: rectified in place
            xp.maximum(y, 0, out=y)
    else:
        y, cols = _conv_forward(xp, xd, wd, strides, dil, pads, groups,
                                None if b is None else b.data, relu)
    if nd == 1:
        y = y[:, 0]
    parents = (x, w) if b is None else (x, w, b)
    if not needs_grad(*parents):
        return wrap(y)
    in_hw = xd.shape[1:3]
    wshape = wd.shape
    xshape = x.data.shape
    # with a ones column the kernel-gradient GEMM also gives the bias gradient
    fused_bias = (b is not None and not depthwise and cols is not None
                  and _bias_column(groups, xd.shape[3]))
    if not w.requires_grad and not depthwise and not (fused_bias and b.requires_grad):
        cols = None        # only the kernel (and fused bias) gradients need the matrix

    def back(g, out):
        _no_second_order(op)
        ps = out._parents
        # a gradient tagged by the max pool it came from is masked already; hooks on
        # this output could have changed it in place since, so they turn the shortcut off
        masked = relu and not out._hooks and _is_relu_masked(g.data, out.data)
        # a broadcast gradient (say from sum()) reshapes to zero-stride matrices, which
        # BLAS cannot take: NumPy's fallback loops were measured 3x slower than one copy
        ga = g.data if g.data.flags.c_contiguous else xp.ascontiguousarray(g.data)
        need_cols = fused_bias and cols is not None and (ps[1].requires_grad
                                                         or ps[2].requires_grad)
        if relu and need_cols and not ps[0].requires_grad:
            # only the kernel and bias gradients: the mask fuses into their GEMM
            o_ = ga.shape[-1]
            full = _masked_cols_grad(xp, cols[0], ga.reshape(-1, o_),
                                     None if masked else out.data.reshape(-1, o_))
            gw = wrap(full[:-1].reshape(ps[1].data.shape)) if ps[1].requires_grad else None
            gb = wrap(full[-1]) if ps[2].requires_grad else None
            return None, gw, gb
        if relu and not masked:
            # a fresh array (taking it, or the im2col matrices, from the workspace pool
            # measured 2-5% slower per MNIST CNN training step than fresh arrays)
            ga = relu_grad_array(ga, out.data)
        if nd == 1:
            ga = ga[:, None]
        gx = gw = gb = None
        if depthwise:
            wa = ps[1].data if nd == 2 else ps[1].data[None]
            dx, dw = _depthwise_backward(xp, ga, wa, cols, in_hw, strides, dil, pads,
                                         ps[0].requires_grad, ps[1].requires_grad)
            gx = None if dx is None else wrap(dx.reshape(xshape))
            gw = None if dw is None else wrap(dw.reshape(ps[1].data.shape))
        elif ps[0].requires_grad:
            wa = ps[1].data if nd == 2 else ps[1].data[None]
            gx = wrap(_conv_data_grad(xp, ga, wa, in_hw, strides, dil, pads, groups)
                      .reshape(xshape))
        if need_cols:
            full = gemm(cols[0].T, ga.reshape(-1, ga.shape[-1]))     # (K + 1, O)
            if ps[1].requires_grad:
                gw = wrap(full[:-1].reshape(ps[1].data.shape))
            if ps[2].requires_grad:
                gb = wrap(full[-1])
            return gx, gw, gb
        if ps[1].requires_grad and not depthwise:
            if cols is None:
                gw = wrap(xp.zeros(ps[1].data.shape, dtype=ga.dtype))
            else:
                gw = wrap(_conv_filter_grad(xp, cols, ga, wshape, groups).reshape(
                    ps[1].data.shape))
        if len(ps) == 3 and ps[2].requires_grad:
            gb = wrap(_bias_grad(xp, ga))
        return (gx, gw) if len(ps) == 2 else (gx, gw, gb)
    return record(y, parents, back, op)


@register()
def conv2d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups=1):
    """2-D convolution (cross-correlation, as in Keras): x (N, H, W, C), kernel
    (KH, KW, C/groups, O), optional bias (O,) -> (N, Ho, Wo, O).  ``padding`` is 'valid',
    'same' (Keras/TF rule) or explicit ((top, bottom), (left, right))."""
    return _conv_nd("conv2d", x, kernel, bias, strides, padding, dilation_rate, groups, 2)


@register()
def conv2d_relu(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups=1):
    """relu(conv2d(x, kernel, bias, ...)) as one node, same arguments and shapes as
    :func:`conv2d`: the relu runs in place on the convolution's output and its backward
    masks the incoming gradient once, saving a separate relu node's two full passes."""
    return _conv_nd("conv2d_relu", x, kernel, bias, strides, padding, dilation_rate, groups,
                    2, relu=True)


@register()
def conv1d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups=1):
    """1-D convolution: x (N, L, C), kernel (K, C/groups, O), bias (O,) -> (N, Lo, O).
    ``padding`` is 'valid', 'same', 'causal' (left padding only) or explicit."""
    return _conv_nd("conv1d", x, kernel, bias, strides, padding, dilation_rate, groups, 1)


@register()
def conv3d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1):
    """3-D convolution: x (N, D, H, W, C), kernel (KD, KH, KW, C, O), optional bias (O,)
    -> (N, Do, Ho, Wo, O); padding 'valid' or 'same' (Keras/TF rule on every axis).

    Written as KD 2-D convolutions, one per depth offset of the kernel, each over every
    output depth at once (the depth slices folded into the batch), summed: the 2-D
    convolution's fused GEMMs do the work, and its gradients flow through lamina's slicing,
    reshaping and addition (so this op needs no backward of its own)."""
    from .shape import pad as _pad, reshape as _reshape
    k = as_tensor(kernel)
    x = as_tensor_on(x, k)
    check_device("conv3d", "input", x, "kernel", k)
    if x.data.ndim != 5 or k.data.ndim != 5 or k.data.shape[3] != x.data.shape[-1]:
        raise ValueError(f"conv3d: expected x (N, D, H, W, C) and kernel (KD, KH, KW, C, O) "
                         f"with matching C, got shapes {x.shape} and {k.shape}")
    strides = normalize_tuple(strides, 3, "strides", "conv3d")
    dil = normalize_tuple(dilation_rate, 3, "dilation_rate", "conv3d")
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"conv3d: padding must be 'valid' or 'same', got {padding!r}")
    padding = padding.lower()
    n, d = x.data.shape[0], x.data.shape[1]
    kd = k.data.shape[0]
    if padding == "same":
        lo, hi = same_padding(d, kd, strides[0], dil[0])
        if lo or hi:
            x = _pad(x, ((0, 0), (lo, hi), (0, 0), (0, 0), (0, 0)))
            d += lo + hi
    d_out = conv_output_length(d, kd, "valid", strides[0], dil[0])
    if d_out <= 0:
        raise ValueError(f"conv3d: the depth {d} is smaller than the kernel's reach "
                         f"{(kd - 1) * dil[0] + 1}")
    y = None
    for i in range(kd):
        start = i * dil[0]
        xs = x[:, start:start + (d_out - 1) * strides[0] + 1:strides[0]]
        xs = _reshape(xs, (n * d_out,) + tuple(xs.shape[2:]))
        yi = conv2d(xs, k[i], None, strides=strides[1:], padding=padding,
                    dilation_rate=dil[1:])
        y = yi if y is None else y + yi
    if bias is not None:
        b = as_tensor_on(bias, k)
        check_device("conv3d", "bias", b, "kernel", k)
        y = y + b
    return _reshape(y, (n, d_out) + tuple(y.shape[1:]))


@register()
def depthwise_conv2d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1):
    """Depthwise 2-D convolution: x (N, H, W, C), kernel (KH, KW, C, M) as Keras stores it
    -> (N, Ho, Wo, C*M), output channel c*M + m filtering input channel c alone."""
    k = as_tensor(kernel)
    if k.data.ndim != 4:
        raise ValueError(f"depthwise_conv2d: expected a kernel of shape (KH, KW, C, M), "
                         f"got {k.shape}")
    xin = as_tensor_on(x, k)
    if xin.data.ndim != 4 or xin.data.shape[-1] != k.data.shape[2]:
        raise ValueError(f"depthwise_conv2d: input of shape {xin.shape} does not match a "
                         f"kernel of shape {k.shape}: expected (N, H, W, {k.data.shape[2]})")
    from .shape import reshape
    kh, kw, c, m = k.data.shape
    return _conv_nd("depthwise_conv2d", xin, reshape(k, (kh, kw, 1, c * m)), bias, strides,
                    padding, dilation_rate, c, 2)


# ----------------------------------------------------------- transposed conv
def transpose_output_length(size, k, padding, stride, dilation=1, output_padding=None):
    """Output length of a transposed convolution along one axis (Keras's rule)."""
    keff = (k - 1) * dilation + 1
    if padding == "valid":
        op_ = max(keff, stride) - keff if output_padding is None else output_padding
        return (size - 1) * stride + keff + op_
    if output_padding is None:
        return size * stride
    return (size - 1) * stride + keff % 2 + output_padding


def _transpose_crop(k, padding, stride, dilation, output_padding):
    """Rows cut from the start of the full transposed output, as Keras (JAX/TF) does."""
    keff = (k - 1) * dilation + 1
    if padding == "valid":
        return 0
    if output_padding is None:
        pad_len = stride + keff - 2
    else:
        pad_len = keff + keff % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, keff - 1)
    return keff - 1 - left


def _conv_transpose_nd(op, x, kernel, bias, strides, padding, output_padding, dilation_rate, nd):
    x, w = _same_dtype(op, x, kernel)
    if x.data.ndim != nd + 2 or w.data.ndim != nd + 2:
        raise ValueError(f"{op}: expected an input of rank {nd + 2} and a kernel of rank "
                         f"{nd + 2} (spatial..., out_channels, in_channels), got shapes "
                         f"{x.shape} and {w.shape}")
    if w.data.shape[-1] != x.data.shape[-1]:
        raise ValueError(f"{op}: input of shape {x.shape} has {x.data.shape[-1]} channels but "
                         f"the kernel of shape {w.shape} expects {w.data.shape[-1]} (its last "
                         "axis)")
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be 'valid' or 'same', got {padding!r}")
    padding = padding.lower()
    strides = normalize_tuple(strides, nd, "strides", op)
    dil = normalize_tuple(dilation_rate, nd, "dilation_rate", op)
    if output_padding is None:
        opad = (None,) * nd
    else:
        opad = normalize_tuple(output_padding, nd, "output_padding", op, minimum=0)
        for o_, s_, d_ in zip(opad, strides, dil):
            if o_ >= s_ and o_ >= d_:
                raise ValueError(f"{op}: output_padding {output_padding} must be smaller than "
                                 f"the stride {strides} or the dilation {dil}")
    b = None
    if bias is not None:
        b = _bias_tensor(op, bias, w)
        if b.data.shape != (w.data.shape[-2],):
            raise ValueError(f"{op}: bias must have shape ({w.data.shape[-2]},), got {b.shape}")
    ksize = w.data.shape[:nd]
    insz = x.data.shape[1:1 + nd]
    outsz = tuple(transpose_output_length(n, k, padding, s, d, o_) for n, k, s, d, o_ in
                  zip(insz, ksize, strides, dil, opad))
    # the transposed conv is the data gradient of a conv mapping outsz -> insz with these pads
    pads = []
    for n, no, k, s, d, o_ in zip(insz, outsz, ksize, strides, dil, opad):
        lo = _transpose_crop(k, padding, s, d, o_)
        full = (n - 1) * s + (k - 1) * d + 1
        pads.append((lo, full - lo - no))
    pads = tuple(pads)
    xp = xp_of(x)
    fold = _TransposeFold(nd, x.data.shape, w.data.shape, outsz, strides, dil, pads)
    # conv kernel (KH, KW, O, C) maps O -> C; its data gradient maps C -> O
    y = fold.unfold_out(xp, _conv_data_grad(xp, fold.x2(xp, x.data), fold.w2(xp, w.data),
                                            fold.out2, fold.strides, fold.dil, fold.pads, 1))
    if b is not None:
        y += b.data
    parents = (x, w) if b is None else (x, w, b)
    if not needs_grad(*parents):
        return wrap(y)

    def back(g, out):
        _no_second_order(op)
        ps = out._parents
        ga = g.data if g.data.flags.c_contiguous else xp.ascontiguousarray(g.data)
        wa = fold.w2(xp, ps[1].data)
        gx = gw = gb = None
        gx_arr, cols = _conv_forward(xp, fold.fold_grad(xp, ga), wa, fold.strides, fold.dil,
                                     fold.pads, 1)
        if ps[0].requires_grad:
            gx = wrap(gx_arr.reshape(ps[0].data.shape))
        if ps[1].requires_grad:
            if cols is None:
                gw = wrap(xp.zeros(ps[1].data.shape, dtype=ga.dtype))
            else:
                gw2 = _conv_filter_grad(xp, cols, fold.x2(xp, ps[0].data), wa.shape, 1)
                gw = wrap(fold.unfold_kernel(gw2))
        if len(ps) == 3 and ps[2].requires_grad:
            gb = wrap(_bias_grad(xp, ga))
        return (gx, gw) if len(ps) == 2 else (gx, gw, gb)
    return record(y, parents, back, op)


class _TransposeFold:
    """How a 1-, 2- or 3-D transposed convolution runs on the 2-D kernels: 1-D adds a
    height of 1; 3-D folds the input's depth into the batch and the kernel's depth into its
    output channels ((KD, KH, KW, O, C) -> (KH, KW, KD*O, C)), so one 2-D data-gradient GEMM
    gives every depth offset's contribution, then KD strided adds place them along the
    output depth (and the backward gathers the KD depth slices back as channels)."""

    __slots__ = ("nd", "xshape", "wshape", "outsz", "strides", "dil", "pads", "out2",
                 "depth")

    def __init__(self, nd, xshape, wshape, outsz, strides, dil, pads):
        self.nd, self.xshape, self.wshape, self.outsz = nd, xshape, wshape, outsz
        self.depth = None
        if nd == 1:
            strides, dil, pads, outsz = ((1,) + strides, (1,) + dil, ((0, 0),) + pads,
                                         (1,) + outsz)
        elif nd == 3:
            # (stride, dilation, crop at the start, the full uncropped depth)
            full = (xshape[1] - 1) * strides[0] + (wshape[0] - 1) * dil[0] + 1
            self.depth = (strides[0], dil[0], pads[0], full)
            strides, dil, pads, outsz = strides[1:], dil[1:], pads[1:], outsz[1:]
        self.strides, self.dil, self.pads, self.out2 = strides, dil, pads, outsz

    def x2(self, xp, xd):
        """The input as a 2-D conv's (N', H, W, C)."""
        if self.nd == 1:
            return xd[:, None]
        if self.nd == 3:
            return xp.ascontiguousarray(xd).reshape((-1,) + xd.shape[2:])
        return xd

    def w2(self, xp, wd):
        """The kernel as a 2-D conv's (KH, KW, O', C)."""
        if self.nd == 1:
            return wd[None]
        if self.nd == 3:
            kd, kh, kw, o, c = wd.shape
            return xp.ascontiguousarray(wd.transpose(1, 2, 0, 3, 4)).reshape(kh, kw, kd * o, c)
        return wd

    def unfold_kernel(self, gw2):
        """A kernel gradient in :meth:`w2`'s layout back in the kernel's."""
        if self.nd == 3:
            kd, kh, kw, o, c = self.wshape
            return gw2.reshape(kh, kw, kd, o, c).transpose(2, 0, 1, 3, 4)
        return gw2.reshape(self.wshape)

    def unfold_out(self, xp, y2):
        """The 2-D result (N', Ho, Wo, O') as the output (N, *outsz, O), contiguous."""
        if self.nd == 1:
            return xp.ascontiguousarray(y2[:, 0])
        if self.nd == 2:
            return xp.ascontiguousarray(y2)
        s, d, (lo, _), full = self.depth
        n, dn = self.xshape[:2]
        kd, o = self.wshape[0], self.wshape[3]
        y6 = y2.reshape((n, dn) + y2.shape[1:3] + (kd, o))
        dout = self.outsz[0]
        canvas = xp.zeros((n, max(full, lo + dout)) + y2.shape[1:3] + (o,), dtype=y2.dtype)
        span = (dn - 1) * s + 1
        for i in range(kd):
            canvas[:, i * d:i * d + span:s] += y6[:, :, :, :, i]
        return xp.ascontiguousarray(canvas[:, lo:lo + dout])

    def fold_grad(self, xp, g):
        """The output gradient (N, *outsz, O) as the 2-D conv's input (N', Ho, Wo, O')."""
        if self.nd == 1:
            return g[:, None]
        if self.nd == 2:
            return g
        s, d, (lo, hi), full = self.depth
        gp = xp.ascontiguousarray(_pad_or_crop(xp, g, ((lo, hi),)))      # depth == full
        n, dn = self.xshape[:2]
        kd = self.wshape[0]
        sn, sd, sh, sw, so = gp.strides
        view = xp.lib.stride_tricks.as_strided(
            gp, shape=(n, dn) + gp.shape[2:4] + (kd, gp.shape[4]),
            strides=(sn, s * sd, sh, sw, d * sd, so))
        return xp.ascontiguousarray(view).reshape((n * dn,) + gp.shape[2:4] +
                                                  (kd * gp.shape[4],))


@register()
def conv2d_transpose(x, kernel, bias=None, strides=1, padding="valid", output_padding=None,
                     dilation_rate=1):
    """Transposed 2-D convolution: x (N, H, W, C), kernel (KH, KW, O, C) as Keras's
    Conv2DTranspose stores it, bias (O,) -> (N, Ho, Wo, O) with Keras's output size
    (padding 'same': H*stride; 'valid': (H-1)*stride + max(KH, stride); output_padding
    overrides as in Keras)."""
    return _conv_transpose_nd("conv2d_transpose", x, kernel, bias, strides, padding,
                              output_padding, dilation_rate, 2)


@register()
def conv1d_transpose(x, kernel, bias=None, strides=1, padding="valid", output_padding=None,
                     dilation_rate=1):
    """Transposed 1-D convolution: x (N, L, C), kernel (K, O, C), bias (O,) -> (N, Lo, O)."""
    return _conv_transpose_nd("conv1d_transpose", x, kernel, bias, strides, padding,
                              output_padding, dilation_rate, 1)


@register()
def conv3d_transpose(x, kernel, bias=None, strides=1, padding="valid", output_padding=None,
                     dilation_rate=1):
    """Transposed 3-D convolution: x (N, D, H, W, C), kernel (KD, KH, KW, O, C) as Keras's
    Conv3DTranspose stores it, bias (O,) -> (N, Do, Ho, Wo, O) with Keras's output sizes."""
    return _conv_transpose_nd("conv3d_transpose", x, kernel, bias, strides, padding,
                              output_padding, dilation_rate, 3)
