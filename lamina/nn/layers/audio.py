"""Keras 3's audio layers: STFTSpectrogram (a short-time Fourier transform as a strided
1-D convolution with DFT kernels, trainable like any convolution) and MelSpectrogram (the
power spectrum of ``keras.ops.stft`` on the mel scale, optionally in decibels).

Both are built from lamina ops (conv1d, stft, matmul, elementwise), so they run on the
inputs' array module and differentiate in their inputs (and STFTSpectrogram's kernels).
"""
from __future__ import annotations

import math
import warnings

import numpy as np

import lamina as _lm
from ...backend import to_host
from ...ops import conv as _C
from ...ops.base import Tensor, wrap, xp_of
from .. import keras_ops_signal as _S
from .base import InputSpec, Layer
from .conv import _data_format

__all__ = ["STFTSpectrogram", "MelSpectrogram"]

_MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _host_window(window):
    """A window given as data (list, array, Tensor) as a 1-D float64 host array."""
    return to_host(window).astype(np.float64)


def stft_kernels(frame_length, fft_length, window="hann", scaling="density",
                 periodic=False, dtype=np.float32):
    """STFTSpectrogram's initial kernels: (real, imag), each (frame_length, 1,
    fft_length // 2 + 1), holding w[t] cos(2 pi t k / n) and -w[t] sin(2 pi t k / n)
    divided by the window's L2 norm ('density') or L1 norm ('spectrum').  As in Keras,
    n = 2 (bins - 1): an odd fft_length is taken as the even length below it."""
    bins = fft_length // 2 + 1
    cos, msin = _S._dft_matrices(2 * (bins - 1), bins, np.float64, rows=frame_length)
    if window is not None:
        win = _S.window_array("STFTSpectrogram", window, frame_length, periodic) \
            if isinstance(window, str) else _host_window(window)
        scale = 1.0
        if scaling == "density":
            scale = np.sqrt(np.sum(win ** 2))
        elif scaling == "spectrum":
            scale = np.sum(np.abs(win))
        cos, msin = cos * (win[:, None] / scale), msin * (win[:, None] / scale)
    return cos[:, None, :].astype(dtype), msin[:, None, :].astype(dtype)


class STFTSpectrogram(Layer):
    """Short-time Fourier transform of each channel of a signal, as a strided convolution
    with DFT kernels ``real_kernel`` and ``imag_kernel`` (frame_length, 1, F),
    F = fft_length // 2 + 1 (trainable unless ``trainable=False``).

    Input (batch, time, channels) (channels first: (batch, channels, time)); frames of
    ``frame_length`` samples every ``frame_step`` (default frame_length // 2),
    ``padding`` 'valid' or 'same'.  ``mode``: 'real', 'imag', 'angle' (of the complex
    value), 'stft' (real then imaginary parts, 2F values), 'magnitude' (sqrt of the power
    floored at epsilon), 'log' (its log, default) or 'psd' (power, inner bins doubled).
    Output (batch, frames, channels * F) (channels first: (batch, channels * F, frames));
    with ``expand_dims`` (batch, frames, F, channels) (channels first: (batch, channels,
    frames, F)).  ``window`` is a scipy window name ('hann', 'hamming', 'blackman',
    'bartlett', 'boxcar' built in), an array of frame_length, or None; ``periodic``
    selects the DFT-even window; ``scaling`` 'density', 'spectrum' or None."""

    def __init__(self, mode="log", frame_length=256, frame_step=None, fft_length=None,
                 window="hann", periodic=False, scaling="density", padding="valid",
                 expand_dims=False, data_format=None, **kwargs):
        super().__init__(**kwargs)
        who = self._who = f"STFTSpectrogram '{self.name}'"
        if not _is_int(frame_length) or frame_length < 1:
            raise ValueError(f"{who}: `frame_length` must be a positive integer, got "
                             f"{frame_length!r}")
        if frame_step is not None and (not _is_int(frame_step) or
                                       not 1 <= frame_step <= frame_length):
            raise ValueError(f"{who}: `frame_step` must be a positive integer not greater "
                             f"than `frame_length` ({frame_length}), got {frame_step!r}")
        if fft_length is not None and (not _is_int(fft_length) or fft_length < frame_length):
            raise ValueError(f"{who}: `fft_length` must be an integer not less than "
                             f"`frame_length` ({frame_length}), got {fft_length!r}")
        if fft_length is not None and fft_length & (fft_length - 1):
            warnings.warn(f"{who}: `fft_length` is recommended to be a power of two, got "
                          f"{fft_length}", stacklevel=2)
        if mode not in _MODES:
            raise ValueError(f"{who}: `mode` must be one of {', '.join(_MODES)}, got "
                             f"{mode!r}")
        if scaling not in (None, "density", "spectrum"):
            raise ValueError(f"{who}: `scaling` must be None, 'density' or 'spectrum', got "
                             f"{scaling!r}")
        if padding not in ("valid", "same"):
            raise ValueError(f"{who}: `padding` must be 'valid' or 'same', got {padding!r}")
        if isinstance(window, str):
            _S.window_array(who, window, 1)          # an unknown name fails here
        elif window is not None:
            w = _host_window(window)
            if w.shape != (frame_length,):
                raise ValueError(f"{who}: a `window` array must have shape ({frame_length},) "
                                 f"(frame_length), got {w.shape}")
            window = w.tolist() if isinstance(window, (np.ndarray, Tensor)) else window
        self.mode = mode
        self.frame_length = int(frame_length)
        self.frame_step = frame_step
        self._frame_step = int(frame_step or max(frame_length // 2, 1))
        self.fft_length = fft_length
        self._fft_length = int(fft_length or 2 ** int(math.ceil(math.log2(frame_length))))
        if self._fft_length < 2:
            raise ValueError(f"{who}: the FFT needs at least 2 points; give fft_length >= 2 "
                             f"(frame_length={frame_length})")
        self.window = window
        self.periodic = bool(periodic)
        self.scaling = scaling
        self.padding = padding
        self.expand_dims = bool(expand_dims)
        self.data_format = _data_format(data_format, who)
        self.input_spec = InputSpec(ndim=3)

    def build(self, input_shape):
        shape = (self.frame_length, 1, self._fft_length // 2 + 1)
        real, imag = stft_kernels(self.frame_length, self._fft_length, self.window,
                                  self.scaling, self.periodic, np.float64)
        # Keras's weights, in its order: no real kernel for 'imag', no imaginary for 'real'
        if self.mode != "imag":
            self.real_kernel = self.add_weight(name="real_kernel", shape=shape,
                                               initializer=real)
        if self.mode != "real":
            self.imag_kernel = self.add_weight(name="imag_kernel", shape=shape,
                                               initializer=imag)
        self.built = True

    def _frames(self, t):
        return _C.conv_output_length(t, self.frame_length, self.padding, self._frame_step)

    def call(self, inputs):
        x = inputs
        if x.dtype.kind != "f":
            raise TypeError(f"{self._who}: expected a float16, float32 or float64 signal, got "
                            f"dtype {x.dtype} (input shape {tuple(x.shape)})")
        first = self.data_format == "channels_first"
        b, c, t = (x.shape[0], x.shape[1], x.shape[2]) if first else \
            (x.shape[0], x.shape[2], x.shape[1])
        if self._frames(t) < 1:
            raise ValueError(f"{self._who}: a signal of {t} samples (input shape "
                             f"{tuple(x.shape)}) holds no frame of frame_length "
                             f"{self.frame_length} with padding 'valid'")
        # every channel is a separate one-channel signal: (batch * channels, time, 1)
        seq = x if first else _lm.transpose(x, (0, 2, 1))
        seq = _lm.reshape(seq, (b * c, t, 1))
        kernels = [k for k in (getattr(self, "real_kernel", None),
                               getattr(self, "imag_kernel", None)) if k is not None]
        kernels = [k if k.dtype == x.dtype else _lm.cast(k, x.dtype) for k in kernels]
        # one convolution for both kernels: the frames are read once
        kern = kernels[0] if len(kernels) == 1 else _lm.concatenate(kernels, axis=-1)
        y = _C.conv1d(seq, kern, strides=self._frame_step, padding=self.padding)
        y = _lm.reshape(y, (b, c) + tuple(y.shape[1:]))          # (b, c, frames, F or 2F)
        return self._layout(self._mode_output(y))

    def _mode_output(self, y):
        f = self._fft_length // 2 + 1
        if self.mode in ("real", "imag", "stft"):
            return y                # the one kernel's output, or [real | imag] for 'stft'
        re, im = y[..., :f], y[..., f:]
        if self.mode == "angle":
            return _lm.arctan2(im, re)
        power = re * re + im * im
        if self.mode == "psd":
            # the one-sided spectrum's inner bins stand for two (as Keras: all but the
            # first and the last bin)
            w = np.full(f, 2.0)
            w[0] = w[-1] = 1.0
            return power * wrap(xp_of(power).asarray(w.astype(power.dtype)))
        from ..keras_backend import epsilon
        eps = epsilon()
        mag = _lm.sqrt(_lm.maximum(power, eps))
        return mag if self.mode == "magnitude" else _lm.log(_lm.maximum(mag, eps))

    def _layout(self, y):
        """(b, c, frames, F) -> the output layout of ``data_format`` / ``expand_dims``."""
        b, c, frames, f = y.shape
        if self.data_format == "channels_last":
            if self.expand_dims:
                return _lm.transpose(y, (0, 2, 3, 1))
            return _lm.reshape(_lm.transpose(y, (0, 2, 1, 3)), (b, frames, c * f))
        if self.expand_dims:
            return y
        return _lm.reshape(_lm.transpose(y, (0, 1, 3, 2)), (b, c * f, frames))

    def compute_output_shape(self, input_shape):
        s = tuple(input_shape)
        if len(s) != 3:
            raise ValueError(f"{self._who}: expected an input of rank 3 (batch, time, "
                             f"channels), got shape {s}")
        first = self.data_format == "channels_first"
        c, t = (s[1], s[2]) if first else (s[2], s[1])
        f = (self._fft_length // 2 + 1) * (2 if self.mode == "stft" else 1)
        frames = None if t is None else self._frames(t)
        if self.expand_dims:
            return (s[0], c, frames, f) if first else (s[0], frames, f, c)
        cf = None if c is None else c * f
        return (s[0], cf, frames) if first else (s[0], frames, cf)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"mode": self.mode, "frame_length": self.frame_length,
                    "frame_step": self.frame_step, "fft_length": self.fft_length,
                    "window": self.window, "periodic": self.periodic,
                    "scaling": self.scaling, "padding": self.padding,
                    "data_format": self.data_format, "expand_dims": self.expand_dims})
        return cfg


_MEL_BREAK_HZ = 700.0
_MEL_HIGH_Q = 1127.0


def _hertz_to_mel(hz):
    return _MEL_HIGH_Q * np.log1p(np.asarray(hz, dtype=np.float64) / _MEL_BREAK_HZ)


def mel_weight_matrix(num_mel_bins, num_spectrogram_bins, sampling_rate, lower_edge_hertz,
                      upper_edge_hertz):
    """(num_spectrogram_bins, num_mel_bins) host float64 matrix of triangular filters
    (peak 1) spaced evenly on the HTK mel scale 1127 ln(1 + f / 700) between the edges;
    the spectrogram's bins lie evenly on [0, sampling_rate / 2] and the DC bin gets no
    weight (tf.signal.linear_to_mel_weight_matrix, as Keras)."""
    freqs = np.linspace(0.0, sampling_rate / 2.0, num_spectrogram_bins)[1:]
    mel = _hertz_to_mel(freqs)[:, None]
    edges = np.linspace(_hertz_to_mel(lower_edge_hertz), _hertz_to_mel(upper_edge_hertz),
                        num_mel_bins + 2)
    lower, center, upper = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    up = (mel - lower) / (center - lower)
    down = (upper - mel) / (upper - center)
    w = np.maximum(0.0, np.minimum(up, down))
    return np.pad(w, ((1, 0), (0, 0)))


class MelSpectrogram(Layer):
    """Mel spectrogram of audio: signals (batch, time) or one signal (time,) ->
    (batch, num_mel_bins, frames) or (num_mel_bins, frames).

    |stft|^mag_exp (``keras.ops.stft`` with ``fft_length``, ``sequence_stride``,
    ``sequence_length`` (default fft_length), ``window``, centred, frames = 1 +
    (time + 2 (fft_length // 2) - fft_length) // sequence_stride), weighted by
    ``num_mel_bins`` triangular filters between ``min_freq`` and ``max_freq`` (default
    sampling_rate / 2) Hz; with ``power_to_db`` then 10 log10(max(S, min_power) /
    max(|ref_power|, min_power)), floored at its maximum (over the whole batch, as
    Keras) minus ``top_db`` (None: no floor)."""

    def __init__(self, fft_length=2048, sequence_stride=512, sequence_length=None,
                 window="hann", sampling_rate=16000, num_mel_bins=128, min_freq=20.0,
                 max_freq=None, power_to_db=True, top_db=80.0, mag_exp=2.0, min_power=1e-10,
                 ref_power=1.0, **kwargs):
        super().__init__(**kwargs)
        who = self._who = f"MelSpectrogram '{self.name}'"
        for name, v in (("fft_length", fft_length), ("sequence_stride", sequence_stride),
                        ("num_mel_bins", num_mel_bins)):
            if not _is_int(v) or v < 1:
                raise ValueError(f"{who}: `{name}` must be a positive integer, got {v!r}")
        sequence_length = sequence_length or fft_length
        if not _is_int(sequence_length) or not 1 <= sequence_length <= fft_length:
            raise ValueError(f"{who}: `sequence_length` must be an integer in [1, fft_length "
                             f"= {fft_length}], got {sequence_length!r}")
        if not isinstance(sampling_rate, (int, float)) or sampling_rate <= 0:
            raise ValueError(f"{who}: `sampling_rate` must be a positive number, got "
                             f"{sampling_rate!r}")
        if window is not None and not isinstance(window, str):
            w = _host_window(window)
            if w.shape != (sequence_length,):
                raise ValueError(f"{who}: a `window` array must have shape "
                                 f"({sequence_length},) (sequence_length), got {w.shape}")
            window = w.tolist() if isinstance(window, (np.ndarray, Tensor)) else window
        elif isinstance(window, str) and window not in ("hann", "hamming"):
            raise ValueError(f"{who}: `window` must be 'hann', 'hamming', an array or None, "
                             f"got {window!r}")
        self.fft_length = fft_length
        self.sequence_stride = sequence_stride
        self.sequence_length = sequence_length
        self.window = window
        self.sampling_rate = sampling_rate
        self.num_mel_bins = num_mel_bins
        self.min_freq = min_freq
        self.max_freq = max_freq or int(sampling_rate / 2)
        if not 0 <= self.min_freq < self.max_freq:
            raise ValueError(f"{who}: need 0 <= min_freq < max_freq, got min_freq={min_freq}, "
                             f"max_freq={self.max_freq}")
        self.power_to_db = power_to_db
        self.top_db = top_db
        self.mag_exp = mag_exp
        self.min_power = min_power
        self.ref_power = ref_power

    def linear_to_mel_weight_matrix(self, num_mel_bins=20, num_spectrogram_bins=129,
                                    sampling_rate=8000, lower_edge_hertz=125.0,
                                    upper_edge_hertz=3800.0, dtype="float32"):
        """Keras's method: the (num_spectrogram_bins, num_mel_bins) mel filter matrix (see
        :func:`mel_weight_matrix`) as a Tensor of ``dtype``."""
        return wrap(mel_weight_matrix(num_mel_bins, num_spectrogram_bins, sampling_rate,
                                      lower_edge_hertz, upper_edge_hertz).astype(dtype))

    def call(self, inputs):
        x = inputs
        if x.ndim not in (1, 2):
            raise ValueError(f"{self._who}: expected audio of shape (batch, time) or (time,), "
                             f"got shape {tuple(x.shape)}")
        if x.shape[-1] <= self.fft_length // 2:
            raise ValueError(f"{self._who}: audio of shape {tuple(x.shape)} is too short: the "
                             f"centred frames need more than fft_length // 2 = "
                             f"{self.fft_length // 2} samples (reflect padding)")
        cdt = np.dtype(self.compute_dtype)
        dt = cdt if cdt in (np.float32, np.float64) else np.dtype(np.float32)
        if x.dtype != dt:
            x = _lm.cast(x, dt)
        re, im = _S.stft(x, self.sequence_length, self.sequence_stride, self.fft_length,
                         window=self.window, center=True)         # (..., frames, bins)
        power = re * re + im * im
        # |z| ** e = power ** (e / 2): no square root (and no infinite slope at 0) for e = 2
        e = float(self.mag_exp)
        spec = power if e == 2.0 else power ** (e / 2.0)
        m = mel_weight_matrix(self.num_mel_bins, re.shape[-1], self.sampling_rate,
                              self.min_freq, self.max_freq)
        mel = _lm.matmul(spec, wrap(xp_of(spec).asarray(m.astype(dt))))
        if self.power_to_db:
            mel = self._db(mel)
        mel = _lm.swapaxes(mel, -1, -2)
        return mel if mel.dtype == cdt else _lm.cast(mel, cdt)

    def _db(self, s):
        k = 10.0 / math.log(10.0)
        ref = max(abs(float(self.ref_power)), self.min_power)
        db = _lm.log(_lm.maximum(s, self.min_power)) * k - 10.0 * math.log10(ref)
        if self.top_db is None:
            return db
        return _lm.maximum(db, _lm.max(db) - float(self.top_db))

    def compute_output_shape(self, input_shape):
        s = tuple(input_shape)
        if len(s) not in (1, 2):
            raise ValueError(f"{self._who}: expected audio of shape (batch, time) or (time,), "
                             f"got shape {s}")
        t = s[-1]
        # the frames of a centred stft (Keras's formula, (t + stride + 1) // stride,
        # counts one more when t + 1 is a multiple of the stride)
        n = self.fft_length
        frames = None if t is None else 1 + (t + 2 * (n // 2) - n) // self.sequence_stride
        return s[:-1] + (self.num_mel_bins, frames)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"fft_length": self.fft_length, "sequence_stride": self.sequence_stride,
                    "sequence_length": self.sequence_length, "window": self.window,
                    "sampling_rate": self.sampling_rate, "num_mel_bins": self.num_mel_bins,
                    "min_freq": self.min_freq, "max_freq": self.max_freq,
                    "power_to_db": self.power_to_db, "top_db": self.top_db,
                    "mag_exp": self.mag_exp, "min_power": self.min_power,
                    "ref_power": self.ref_power})
        return cfg
