"""STFTSpectrogram and MelSpectrogram (lamina.nn.layers.audio): values against NumPy
FFT references, every mode and layout, shapes (also symbolic), float64 gradients of the
inputs and kernels, configs, .keras save and load, devices, and errors.  Keras itself
is compared in tests/keras_oracle/test_audio_elastic_oracle.py."""
from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import keras
from lamina.nn.layers import audio as A

from layer_checks import gradcheck_layer, roundtrip

rng = np.random.default_rng(0)
SIG = rng.standard_normal((2, 70, 3)).astype(np.float32)       # (batch, time, channels)
WAV = rng.standard_normal((2, 300)).astype(np.float32)         # (batch, time)


def _frames(x, length, step):
    """(..., time) -> (..., frames, length), valid framing."""
    n = 1 + (x.shape[-1] - length) // step
    idx = np.arange(n)[:, None] * step + np.arange(length)[None, :]
    return x[..., idx]


def test_stft_mode_matches_numpy_rfft_of_the_frames():
    # no window, no scaling, fft_length = frame_length: the kernels are the plain DFT
    layer = A.STFTSpectrogram("stft", frame_length=16, frame_step=5, window=None,
                              scaling=None)
    y = layer(SIG).numpy()                                   # (2, frames, 3 * 2 * 9)
    spec = np.fft.rfft(_frames(np.moveaxis(SIG, -1, 1).astype(np.float64), 16, 5), axis=-1)
    want = np.concatenate([spec.real, spec.imag], axis=-1)   # (2, 3, frames, 18)
    want = np.moveaxis(want, 1, 2).reshape(y.shape)          # channels major, as Keras
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)


def test_window_scaling_and_zero_padded_fft():
    # frame_length < fft_length: the DFT of the frame zero padded to fft_length, windowed
    # by the symmetric Hann window and divided by its L2 norm ('density')
    layer = A.STFTSpectrogram("magnitude", frame_length=12, frame_step=4, fft_length=32)
    y = layer(SIG[:, :, :1]).numpy()
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(12) / 11)
    fr = _frames(SIG[:, :, 0].astype(np.float64), 12, 4) * win / np.sqrt((win ** 2).sum())
    np.testing.assert_allclose(y, np.abs(np.fft.rfft(fr, n=32, axis=-1)), rtol=1e-4,
                               atol=1e-4)
    # 'spectrum' divides by the L1 norm; periodic uses the DFT-even window
    k = A.STFTSpectrogram("real", frame_length=12, fft_length=16, periodic=True,
                          scaling="spectrum")
    k.build((None, 30, 1))
    pwin = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(12) / 12)
    np.testing.assert_allclose(k.real_kernel.numpy()[:, 0, 0], pwin / pwin.sum(), atol=1e-7)


def test_modes_relate_to_each_other():
    kw = dict(frame_length=16, frame_step=4, fft_length=32, padding="same")
    out = {m: A.STFTSpectrogram(m, **kw)(SIG).numpy() for m in
           ("real", "imag", "angle", "psd", "magnitude", "log", "stft")}
    re, im = out["real"], out["imag"]
    f = 17
    power = re ** 2 + im ** 2
    np.testing.assert_allclose(out["magnitude"], np.sqrt(np.maximum(power, 1e-7)),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["log"], np.log(out["magnitude"]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["angle"], np.arctan2(im, re), atol=1e-6)
    doubled = np.tile(np.r_[1.0, np.full(f - 2, 2.0), 1.0], 3)
    np.testing.assert_allclose(out["psd"], power * doubled, rtol=1e-5, atol=1e-6)
    st = out["stft"].reshape(2, -1, 3, 2, f)
    np.testing.assert_array_equal(st[:, :, :, 0].reshape(re.shape), re)
    np.testing.assert_array_equal(st[:, :, :, 1].reshape(im.shape), im)


@pytest.mark.parametrize("mode", ["log", "stft"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("data_format,expand", [("channels_last", False),
                                                ("channels_last", True),
                                                ("channels_first", False),
                                                ("channels_first", True)])
def test_layouts_and_output_shapes(mode, padding, data_format, expand):
    x = SIG if data_format == "channels_last" else np.ascontiguousarray(
        np.moveaxis(SIG, -1, 1))
    layer = A.STFTSpectrogram(mode, frame_length=16, frame_step=6, fft_length=16,
                              padding=padding, expand_dims=expand, data_format=data_format)
    y = layer(x).numpy()
    assert y.shape == layer.compute_output_shape(x.shape)
    frames = 10 if padding == "valid" else 12
    f = 9 * (2 if mode == "stft" else 1)
    if data_format == "channels_last":
        assert y.shape == ((2, frames, f, 3) if expand else (2, frames, 3 * f))
    else:
        assert y.shape == ((2, 3, frames, f) if expand else (2, 3 * f, frames))
    # every layout holds the same numbers: compare with channels_last, expand_dims
    ref = A.STFTSpectrogram(mode, frame_length=16, frame_step=6, fft_length=16,
                            padding=padding, expand_dims=True)(SIG).numpy()  # (b, t, f, c)
    if data_format == "channels_last" and not expand:
        ref = np.moveaxis(ref, -1, 2).reshape(y.shape)
    elif data_format == "channels_first":
        ref = np.moveaxis(ref, -1, 1)                                      # (b, c, t, f)
        if not expand:
            ref = np.swapaxes(ref, -1, -2).reshape(y.shape)
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6)


def test_weights_per_mode_and_trainable_flag():
    for mode, names in (("real", ["real_kernel"]), ("imag", ["imag_kernel"]),
                        ("log", ["real_kernel", "imag_kernel"])):
        layer = A.STFTSpectrogram(mode, frame_length=8)
        layer(SIG)
        assert [w.name for w in layer.weights] == names
        assert all(w.shape == (8, 1, 5) for w in layer.weights)
    frozen = A.STFTSpectrogram(frame_length=8, trainable=False)
    frozen(SIG)
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 2


@pytest.mark.parametrize("kw", [
    dict(mode="log", frame_length=6, frame_step=2, fft_length=8, padding="same"),
    dict(mode="angle", frame_length=5, frame_step=3, fft_length=8),
    dict(mode="psd", frame_length=6, frame_step=2, window="hamming", scaling="spectrum"),
    dict(mode="stft", frame_length=4, frame_step=2, data_format="channels_first",
         expand_dims=True),
])
def test_stft_gradients_of_input_and_kernels(kw):
    x = rng.standard_normal((2, 2, 17) if kw.get("data_format") else (2, 17, 2))
    layer = A.STFTSpectrogram(dtype="float64", **kw)
    layer(x)
    if kw["mode"] == "angle":
        # the DC and Nyquist bins have zero imaginary kernels: their angle sits on
        # arctan2's cut (a jump of 2 pi), so move the kernels off it
        layer.set_weights([w + 0.1 * rng.standard_normal(w.shape)
                           for w in layer.get_weights()])
    assert gradcheck_layer(layer, x)


def test_stft_symbolic_model_trains_and_saves(tmp_path):
    inp = keras.Input((70, 3))
    spec = A.STFTSpectrogram("log", frame_length=16, frame_step=8, padding="same")
    h = spec(inp)
    assert tuple(h.shape) == (None, 9, 27)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(h)))
    model.compile("sgd", "mse")
    before = spec.real_kernel.numpy()
    model.fit(SIG, np.zeros((2, 2), np.float32), epochs=1, verbose=0)
    assert not np.array_equal(spec.real_kernel.numpy(), before)     # the kernels learn
    path = str(tmp_path / "stft.keras")
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(SIG, verbose=0), model.predict(SIG, verbose=0),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(again.layers[1].real_kernel.numpy(),
                                  spec.real_kernel.numpy())


@pytest.mark.parametrize("kw", [dict(mode="psd", frame_length=16, window=[1.0] * 16),
                                dict(mode="stft", frame_length=8, fft_length=8,
                                     padding="same", data_format="channels_first",
                                     expand_dims=True, window="blackman", periodic=True)])
def test_stft_config_roundtrip(kw):
    x = SIG if "data_format" not in kw else np.moveaxis(SIG, -1, 1)
    roundtrip(A.STFTSpectrogram(**kw), lm.tensor(np.ascontiguousarray(x)))


def test_stft_errors_name_the_layer():
    with pytest.raises(ValueError, match="STFTSpectrogram.*mode"):
        A.STFTSpectrogram("power")
    with pytest.raises(ValueError, match="STFTSpectrogram.*frame_step"):
        A.STFTSpectrogram(frame_length=8, frame_step=9)
    with pytest.raises(ValueError, match="STFTSpectrogram.*fft_length"):
        A.STFTSpectrogram(frame_length=8, fft_length=4)
    with pytest.raises(ValueError, match="STFTSpectrogram.*padding"):
        A.STFTSpectrogram(padding="causal")
    with pytest.raises(ValueError, match="STFTSpectrogram.*scaling"):
        A.STFTSpectrogram(scaling="power")
    with pytest.raises(ValueError, match="STFTSpectrogram.*window 'nope'"):
        A.STFTSpectrogram(window="nope")
    with pytest.raises(ValueError, match=r"STFTSpectrogram.*\(8,\).*got \(5,\)"):
        A.STFTSpectrogram(frame_length=8, window=np.ones(5))
    with pytest.warns(UserWarning, match="STFTSpectrogram.*power of two.*12"):
        A.STFTSpectrogram(frame_length=8, fft_length=12)
    with pytest.raises(ValueError, match=r"stft_spectrogram.*ndim=3.*\(2, 70\)"):
        A.STFTSpectrogram(frame_length=8)(SIG[:, :, 0])
    with pytest.raises(TypeError, match=r"STFTSpectrogram.*float.*int32"):
        A.STFTSpectrogram(frame_length=8)(np.ones((1, 20, 1), np.int32))
    with pytest.raises(ValueError, match=r"STFTSpectrogram.*10 samples.*\(1, 10, 1\).*32"):
        A.STFTSpectrogram(frame_length=32)(np.ones((1, 10, 1), np.float32))


# ------------------------------------------------------------------ MelSpectrogram
def _np_power_spectrogram(x, n, hop, seq_len=None, window="hann"):
    """|rfft|^2 of centred, reflect-padded frames windowed by the periodic window."""
    seq_len = seq_len or n
    xp = np.pad(x.astype(np.float64), [(0, 0)] * (x.ndim - 1) + [(n // 2, n // 2)],
                mode="reflect")
    a = {"hann": 0.5, "hamming": 0.54}[window]
    win = a - (1 - a) * np.cos(2 * np.pi * np.arange(seq_len) / seq_len)
    left = (n - seq_len) // 2
    win = np.pad(win, (left, n - seq_len - left))
    return np.abs(np.fft.rfft(_frames(xp, n, hop) * win, axis=-1)) ** 2


def test_mel_power_spectrogram_matches_numpy():
    layer = A.MelSpectrogram(fft_length=64, sequence_stride=16, sequence_length=48,
                             window="hamming", sampling_rate=8000, num_mel_bins=12,
                             power_to_db=False)
    y = layer(WAV).numpy()
    m = A.mel_weight_matrix(12, 33, 8000, 20.0, 4000)
    want = np.swapaxes(_np_power_spectrogram(WAV, 64, 16, 48, "hamming") @ m, -1, -2)
    assert y.shape == (2, 12, 19) == want.shape
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)


def test_mel_filters_are_triangles_on_the_mel_scale():
    m = A.mel_weight_matrix(10, 129, 16000, 100.0, 6000.0)
    assert m.shape == (129, 10)
    assert np.all(m[0] == 0) and np.all(m >= 0) and np.all(m <= 1)
    mel = lambda f: 1127.0 * np.log1p(f / 700.0)         # noqa: E731
    edges = np.linspace(mel(100.0), mel(6000.0), 12)
    freqs = mel(np.linspace(0, 8000, 129))
    peaks = np.argmax(m, axis=0)                          # each filter peaks near its centre
    assert np.all(np.abs(freqs[peaks] - edges[1:-1]) <= np.diff(freqs)[0] * 2 + 1e-9)
    assert np.all(m[freqs > mel(6000.0)] == 0) and np.all(m[freqs < mel(100.0)] == 0)


def test_mel_decibels_magnitude_and_top_db():
    kw = dict(fft_length=32, sequence_stride=8, num_mel_bins=8, sampling_rate=4000)
    lin = A.MelSpectrogram(power_to_db=False, **kw)(WAV).numpy().astype(np.float64)
    db = A.MelSpectrogram(top_db=None, ref_power=-2.0, **kw)(WAV).numpy()
    np.testing.assert_allclose(db, 10 * np.log10(np.maximum(lin, 1e-10) / 2.0), rtol=1e-4,
                               atol=1e-3)
    floored = A.MelSpectrogram(top_db=20.0, ref_power=-2.0, **kw)(WAV).numpy()
    # floored at the maximum over the whole batch minus top_db, as Keras
    np.testing.assert_allclose(floored, np.maximum(db, db.max() - 20.0), rtol=1e-5, atol=1e-4)
    assert floored.min() == pytest.approx(db.max() - 20.0, abs=1e-4)
    mag = A.MelSpectrogram(power_to_db=False, mag_exp=1.0, **kw)(WAV).numpy()
    m = A.mel_weight_matrix(8, 17, 4000, 20.0, 2000)
    want = np.swapaxes(np.sqrt(_np_power_spectrogram(WAV, 32, 8)) @ m, -1, -2)
    np.testing.assert_allclose(mag, want, rtol=1e-4, atol=1e-4)


def test_mel_shapes_unbatched_and_symbolic():
    layer = A.MelSpectrogram(fft_length=64, sequence_stride=16, num_mel_bins=10)
    # 303 samples: 19 frames (Keras's compute_output_shape would say 20)
    x = rng.standard_normal((2, 303)).astype(np.float32)
    y = layer(x)
    assert tuple(y.shape) == (2, 10, 19) == layer.compute_output_shape((2, 303))
    one = layer(x[0]).numpy()
    assert one.shape == (10, 19) == layer.compute_output_shape((303,))
    lone = A.MelSpectrogram(fft_length=64, sequence_stride=16, num_mel_bins=10,
                            top_db=None)
    np.testing.assert_allclose(lone(x[1]).numpy(), lone(x).numpy()[1], rtol=1e-5, atol=1e-4)
    inp = keras.Input((303,))
    assert tuple(layer(inp).shape) == (None, 10, 19)
    # integer audio is converted to float32, as Keras converts it
    assert layer(np.arange(303, dtype=np.int32)[None] % 7).dtype == np.float32


@pytest.mark.parametrize("kw", [dict(power_to_db=True, top_db=None),
                                dict(power_to_db=False, mag_exp=1.0),
                                dict(power_to_db=True, top_db=30.0, window="hamming",
                                     sequence_length=12)])
def test_mel_gradients(kw):
    layer = A.MelSpectrogram(fft_length=16, sequence_stride=5, num_mel_bins=4,
                             sampling_rate=1000, dtype="float64", **kw)
    assert gradcheck_layer(layer, rng.standard_normal((2, 23)))


def test_mel_config_roundtrip_and_keras_file(tmp_path):
    layer = A.MelSpectrogram(fft_length=64, sequence_stride=16, num_mel_bins=10,
                             sampling_rate=8000, min_freq=50.0, top_db=60.0)
    roundtrip(layer, lm.tensor(WAV))
    cfg = layer.get_config()
    assert cfg["sequence_length"] == 64 and cfg["max_freq"] == 4000
    model = keras.Sequential([keras.Input((300,)), layer, keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    path = str(tmp_path / "mel.keras")
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(WAV, verbose=0), model.predict(WAV, verbose=0),
                               rtol=1e-6, atol=1e-6)
    assert again.layers[0].get_config() == cfg


def test_mel_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"MelSpectrogram.*\(batch, time\).*\(1, 2, 300\)"):
        A.MelSpectrogram()(WAV[None])
    with pytest.raises(ValueError, match="MelSpectrogram.*sequence_length"):
        A.MelSpectrogram(fft_length=64, sequence_length=65)
    with pytest.raises(ValueError, match="MelSpectrogram.*window"):
        A.MelSpectrogram(window="blackman")
    with pytest.raises(ValueError, match="MelSpectrogram.*min_freq < max_freq"):
        A.MelSpectrogram(sampling_rate=1000, min_freq=600.0)
    with pytest.raises(ValueError, match=r"MelSpectrogram.*\(2, 32\) is too short.*= 32"):
        A.MelSpectrogram(fft_length=64)(WAV[:, :32])
    with pytest.raises(ValueError, match="MelSpectrogram.*sequence_stride"):
        A.MelSpectrogram(sequence_stride=0)


def test_audio_layers_on_every_device(device):
    x = lm.tensor(SIG, device=device)
    stft = A.STFTSpectrogram("psd", frame_length=16, frame_step=8).to(device)
    y = stft(x)
    assert str(y.device).startswith(device)
    np.testing.assert_allclose(y.numpy(), A.STFTSpectrogram("psd", frame_length=16,
                                                            frame_step=8)(SIG).numpy(),
                               rtol=1e-4, atol=1e-5)
    mel = A.MelSpectrogram(fft_length=32, sequence_stride=8, num_mel_bins=6)
    z = mel(lm.tensor(WAV, device=device))
    assert str(z.device).startswith(device)
    np.testing.assert_allclose(z.numpy(), mel(WAV).numpy(), rtol=1e-4, atol=1e-3)
