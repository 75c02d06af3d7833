"""Keras 3's short-time Fourier transforms and complex-number helpers over lamina ops
(``stft``, ``istft``, ``polar``, ``view_as_complex``, ``view_as_real``; re-exported by
``lamina.nn.keras_ops``).

Complex spectra travel as Keras's (real, imag) pairs of float tensors, and the transforms
are composed from lamina ops (a gather for the frames, a real DFT as two matrix products,
an overlap-add by reshapes), so they differentiate; without a gradient to record, the
forward DFT runs as ``xp.fft`` (the same values up to rounding).  lamina's tensors may hold
complex arrays, but its gradients are real: ``polar`` and ``view_as_complex`` return
complex tensors that record no gradient.
"""
from __future__ import annotations

import numpy as _np

import lamina as _lm
from ..ops.base import Tensor as _Tensor, as_tensor as _as_tensor, needs_grad as _needs_grad, \
    wrap as _wrap, xp_of as _xp_of
from ..ops.elementwise import _float_in

__all__ = ["stft", "istft", "polar", "view_as_complex", "view_as_real"]


# cosine-sum windows: sum_k (-1)^k a_k cos(2 pi k n / D), D = length when periodic (the
# DFT-even window), else length - 1; the aliases are scipy.signal.get_window's
_COSINE_WINDOWS = {"hann": (0.5, 1 - 0.5), "hamming": (0.54, 1 - 0.54),
                   "blackman": (0.42, 0.5, 0.08)}
_WINDOW_ALIASES = {"han": "hann", "hamm": "hamming", "ham": "hamming", "black": "blackman",
                   "blk": "blackman", "bart": "bartlett", "brt": "bartlett", "box": "boxcar",
                   "ones": "boxcar", "rect": "boxcar", "rectangular": "boxcar"}


def window_array(op, name, length, periodic=True, dtype=_np.float64):
    """The window ``name`` of ``length`` samples as a host array: 'hann', 'hamming',
    'blackman', 'bartlett', 'boxcar' (scipy's names and aliases), symmetric or
    ``periodic`` (computed for length + 1 and cut, as scipy.signal.get_window with
    fftbins=True).  Other names go to scipy.signal.get_window when scipy is installed."""
    if not isinstance(name, str):
        raise ValueError(f"{op}: a window name must be a string, got {name!r}")
    key = _WINDOW_ALIASES.get(name, name)
    if key in _COSINE_WINDOWS or key in ("bartlett", "boxcar"):
        if length == 1 or key == "boxcar":
            return _np.ones(length, dtype=dtype)
        n = _np.arange(length, dtype=_np.float64)
        den = length if periodic else length - 1
        if key == "bartlett":
            return (1.0 - _np.abs(2.0 * n / den - 1.0)).astype(dtype)
        a = _COSINE_WINDOWS[key]
        if len(a) == 2:             # this form gives stft's hann/hamming values bit for bit
            return (a[0] - a[1] * _np.cos(2 * _np.pi * n / den)).astype(dtype)
        w = sum((-1) ** k * c * _np.cos(2 * _np.pi * k * n / den) for k, c in enumerate(a))
        return w.astype(dtype)
    try:
        import scipy.signal
    except ImportError:
        raise ValueError(f"{op}: unknown window {name!r}; lamina computes 'hann', 'hamming', "
                         f"'blackman', 'bartlett' and 'boxcar' itself, other scipy windows "
                         f"need scipy (pip install scipy)") from None
    try:
        return _np.asarray(scipy.signal.get_window(name, length, fftbins=periodic),
                           dtype=dtype)
    except ValueError as e:
        raise ValueError(f"{op}: unknown window {name!r} ({e})") from None


def _window(op, window, length, dtype, xp):
    """The analysis window (length,) as a host array: 'hann'/'hamming' (periodic, as
    torch and scipy make them), a given array, or None (ones)."""
    if window is None:
        return _np.ones(length, dtype=dtype)
    if isinstance(window, str):
        if window not in ("hann", "hamming"):
            raise ValueError(f"{op}: a window given by name must be 'hann' or 'hamming', got "
                             f"{window!r}")
        return window_array(op, window, length, True, dtype)
    w = window.data if isinstance(window, _Tensor) else window
    w = w.get() if hasattr(w, "get") else _np.asarray(w)
    if w.ndim != 1 or w.shape[0] != length:
        raise ValueError(f"{op}: window must have shape ({length},) (sequence_length), got "
                         f"{tuple(w.shape)}")
    return w.astype(dtype)


def _centred(win, fft_length):
    """``win`` zero padded on both sides to ``fft_length`` (the extra zero on the right)."""
    left = (fft_length - win.shape[0]) // 2
    return _np.pad(win, (left, fft_length - win.shape[0] - left))


def _check_lengths(op, sequence_length, sequence_stride, fft_length):
    if not isinstance(sequence_stride, int) or sequence_stride <= 0:
        raise ValueError(f"{op}: sequence_stride must be a positive integer, got "
                         f"{sequence_stride!r}")
    if fft_length < sequence_length or sequence_length < 1:
        raise ValueError(f"{op}: need 1 <= sequence_length <= fft_length, got "
                         f"sequence_length={sequence_length}, fft_length={fft_length}")


def _dft_matrices(n, bins, dtype, rows=None):
    """cos and -sin of 2 pi j k / n for j < rows (default n), k < bins: frames @ c,
    frames @ s are the real and imaginary parts of their real DFT."""
    jk = _np.outer(_np.arange(n if rows is None else rows), _np.arange(bins)) % n  # exact
    ang = 2 * _np.pi * jk / n
    return _np.cos(ang).astype(dtype), (-_np.sin(ang)).astype(dtype)


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """Short-time Fourier transform along the last axis: x (..., T) -> (real, imag), each
    (..., frames, fft_length // 2 + 1), frames = 1 + (T + 2 (fft_length // 2) - fft_length)
    // sequence_stride with ``center`` (reflect padding by fft_length // 2 on both sides),
    else 1 + (T - fft_length) // sequence_stride.  ``window`` ('hann', 'hamming', an array
    of sequence_length, or None) is centred in each fft_length frame."""
    _check_lengths("stft", sequence_length, sequence_stride, fft_length)
    x = _as_tensor(x)
    if x.dtype not in (_np.float32, _np.float64):
        raise TypeError(f"stft: expected a float32 or float64 signal, got dtype {x.dtype}")
    if x.ndim < 1:
        raise ValueError("stft: expected a signal with at least one axis, got a scalar")
    xp = _xp_of(x)
    dt = x.data.dtype
    n, hop, T = fft_length, sequence_stride, x.shape[-1]
    pad = n // 2 if center else 0
    if center and T <= pad:
        raise ValueError(f"stft: with center=True the signal length {T} must exceed "
                         f"fft_length // 2 = {pad} (reflect padding)")
    frames = 1 + (T + 2 * pad - n) // hop
    if frames < 1:
        raise ValueError(f"stft: a signal of length {T} holds no frame of fft_length {n}")
    pos = _np.arange(frames)[:, None] * hop + _np.arange(n)[None, :] - pad
    pos = _np.abs(pos)                                   # reflect (no edge repeat) at 0 ...
    pos = _np.where(pos > T - 1, 2 * (T - 1) - pos, pos)  # ... and at T - 1
    win = _centred(_window("stft", window, sequence_length, dt, xp), n)
    seg = x[..., xp.asarray(pos)] * _wrap(xp.asarray(win))           # (..., frames, n)
    bins = n // 2 + 1
    if not _needs_grad(seg):
        spec = xp.fft.rfft(seg.data, n=n, axis=-1)
        return _wrap(spec.real.astype(dt)), _wrap(spec.imag.astype(dt))
    c, s = _dft_matrices(n, bins, dt)
    return _lm.matmul(seg, _wrap(xp.asarray(c))), _lm.matmul(seg, _wrap(xp.asarray(s)))


def _irfft_frames(re, im, n):
    """The real inverse DFT of one-sided spectra (..., bins) -> (..., n) as two matrix
    products (the imaginary parts of the DC and Nyquist bins are ignored, as irfft)."""
    xp = _xp_of(re)
    dt = re.data.dtype
    bins = re.shape[-1]
    k = _np.arange(n // 2 + 1)
    weight = _np.where((k == 0) | (2 * k == n), 1.0, 2.0) / n
    jk = _np.outer(k, _np.arange(n)) % n
    ang = 2 * _np.pi * jk / n
    a = (_np.cos(ang) * weight[:, None]).astype(dt)
    b = (-_np.sin(ang) * weight[:, None]).astype(dt)
    use = min(bins, n // 2 + 1)              # irfft reads the first n // 2 + 1 bins
    if use < bins:
        re, im = re[..., :use], im[..., :use]
    a, b = a[:use], b[:use]
    return _lm.matmul(re, _wrap(xp.asarray(a))) + _lm.matmul(im, _wrap(xp.asarray(b)))


def _overlap_add(frames, hop):
    """Sum frames (..., F, L) placed every ``hop`` samples -> (..., hop (F - 1) + L)."""
    *lead, f, length = frames.shape
    seg = -(-length // hop)                      # hop-sized pieces per frame
    y = _lm.pad(frames, [(0, 0)] * len(lead) + [(0, 0), (0, seg * hop - length)])
    y = _lm.reshape(y, tuple(lead) + (f, seg, hop))
    y = _lm.moveaxis(y, -2, -3)                  # (..., seg, F, hop)
    # skew: piece s of frame i belongs to block i + s; padding each row with seg blocks
    # and reading the flat data in rows one block shorter shifts row s by s blocks
    y = _lm.pad(y, [(0, 0)] * len(lead) + [(0, 0), (0, seg), (0, 0)])
    y = _lm.reshape(y, tuple(lead) + (seg * (f + seg) * hop,))
    y = y[..., :seg * (f + seg - 1) * hop]
    y = _lm.reshape(y, tuple(lead) + (seg, (f + seg - 1) * hop))
    return _lm.sum(y, axis=-2)[..., :hop * (f - 1) + length]


def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann",
          center=True):
    """Inverse of :func:`stft`: (real, imag) (..., frames, fft_length // 2 + 1) -> signal
    (..., samples) by inverse DFT, windowing and overlap-add.  With sequence_length ==
    fft_length, ``center`` and a window, the sum is divided by the overlapped squared
    window (torch.istft); otherwise the window is normalized by its squares summed over
    the overlaps (tf.signal.inverse_stft_window_fn), as Keras does.  ``length`` cuts or
    zero-pads the result to that many samples."""
    _check_lengths("istft", sequence_length, sequence_stride, fft_length)
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"istft: expected a tuple (real, imag) of two tensors, got "
                         f"{type(x).__name__}")
    re, im = _float_in(x[0]), _float_in(x[1])
    if re.shape != im.shape:
        raise ValueError(f"istft: real and imaginary parts differ in shape: {re.shape} vs "
                         f"{im.shape}")
    if re.ndim < 2:
        raise ValueError(f"istft: expected spectra of rank >= 2 (..., frames, bins), got "
                         f"shape {re.shape}")
    im = _lm.cast(im, re.dtype)
    xp = _xp_of(re)
    dt = re.data.dtype
    n, hop, nf = fft_length, sequence_stride, re.shape[-2]
    frames = _irfft_frames(re, im, n)                            # (..., F, n)
    full = n + hop * (nf - 1)
    start = n // 2 if center else 0
    if sequence_length == n and center and window is not None:
        win = _window("istft", window, sequence_length, dt, xp)
        y = _overlap_add(frames * _wrap(xp.asarray(win)), hop)
        env = _np.zeros(full, dtype=_np.float64)
        for i in range(nf):
            env[i * hop:i * hop + n] += win.astype(_np.float64) ** 2
        end = start + length if length is not None else full - n // 2
        env = env[start:end]
        if env.size and _np.abs(env).min() < 1e-11:
            raise ValueError("istft: the overlapped squared window is zero somewhere "
                             "(nonzero overlap-add constraint violated); use a larger "
                             "overlap or another window")
        y = y[..., start:end] / _wrap(xp.asarray(env.astype(dt)))
        if length is not None and y.shape[-1] < length:
            y = _lm.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, length - y.shape[-1])])
        return y
    if window is not None:
        win = _centred(_window("istft", window, sequence_length, dt, xp), n).astype(_np.float64)
        over = -(-n // hop)
        sq = _np.pad(win ** 2, (0, over * hop - n)).reshape(over, hop).sum(axis=0)
        win = win / _np.tile(sq, over)[:n]
        frames = frames * _wrap(xp.asarray(win.astype(dt)))
    y = _overlap_add(frames, hop)
    if length is not None:
        end = start + length
    elif center:
        end = -(n // 2)
    else:
        end = full
    return y[..., start:end]


def _complex_dtype(dt):
    return _np.complex128 if _np.dtype(dt) == _np.float64 else _np.complex64


def polar(abs_, angle):
    """The complex tensor abs_ * (cos(angle) + i sin(angle)) (as torch.polar); complex64
    (complex128 for float64 inputs); no gradient (lamina's gradients are real)."""
    r, a = _float_in(abs_), _float_in(angle)
    xp = _xp_of(r)
    re, im = (r * _lm.cos(a)).data, (r * _lm.sin(a)).data
    out = xp.empty(re.shape, dtype=_complex_dtype(re.dtype))
    out.real, out.imag = re, im
    return _wrap(out)


def view_as_complex(x):
    """A real tensor (..., 2) holding (real, imag) pairs -> the complex tensor (...) (as
    Keras: complex64); no gradient."""
    x = _as_tensor(x)
    if x.ndim < 1 or x.shape[-1] != 2:
        raise ValueError(f"view_as_complex: the last axis must have size 2 (real, imag), got "
                         f"shape {x.shape}")
    if x.dtype.kind == "c":
        raise ValueError(f"view_as_complex: expected a real tensor, got dtype {x.dtype}")
    xp = _xp_of(x)
    out = xp.empty(x.shape[:-1], dtype=_np.complex64)
    out.real, out.imag = x.data[..., 0], x.data[..., 1]
    return _wrap(out)


def view_as_real(x):
    """A complex tensor (...) -> real (..., 2) holding (real, imag); a real tensor gets a
    zero imaginary part (differentiable then)."""
    x = _as_tensor(x)
    if x.dtype.kind == "c":
        xp = _xp_of(x)
        return _wrap(xp.stack([x.data.real, x.data.imag], axis=-1))
    return _lm.stack([x, _lm.zeros_like(x)], axis=-1)
