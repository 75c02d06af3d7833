"""STFTSpectrogram, MelSpectrogram and RandomElasticTransform against real Keras 3
(torch backend): outputs, weights, output shapes and configs on several shapes and
options; the elastic transform on the same displacement fields (Keras's draws replaced by
ours); .keras archives crossing between the two libraries."""
import os
from unittest import mock

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

from lamina.nn.layers import audio as A  # noqa: E402
from lamina.nn.layers import augmentation as G  # noqa: E402

from layer_oracle import assert_layer_matches_keras  # noqa: E402

rng = np.random.default_rng(11)


def _np(y):
    return y.detach().cpu().numpy() if hasattr(y, "detach") else np.asarray(y)


def _same_config(ours, theirs):
    oc, tc = ours.get_config(), theirs.get_config()
    assert list(oc) == list(tc)
    for k in oc:
        if k not in ("name", "dtype"):
            a, b = oc[k], tc[k]
            if isinstance(a, (tuple, list)):
                a, b = list(a), list(b)
            assert a == b, (k, a, b)


STFT_CASES = [
    (dict(mode="log", frame_length=16, frame_step=4, fft_length=32, padding="same"),
     (2, 50, 3)),
    (dict(mode="magnitude", frame_length=16, frame_step=5, window="hamming", periodic=True),
     (2, 53, 2)),
    (dict(mode="psd", frame_length=12, frame_step=3, fft_length=16, scaling="spectrum"),
     (1, 40, 1)),
    (dict(mode="real", frame_length=8, frame_step=3, window="blackman", padding="same"),
     (2, 31, 2)),
    (dict(mode="imag", frame_length=8, window=None, scaling=None), (2, 31, 1)),
    (dict(mode="angle", frame_length=16, frame_step=7, padding="same"), (2, 45, 2)),
    (dict(mode="stft", frame_length=16, frame_step=4, data_format="channels_first"),
     (2, 3, 45)),
    (dict(mode="log", frame_length=16, frame_step=4, expand_dims=True, padding="same",
          data_format="channels_first"), (2, 3, 45)),
    (dict(mode="stft", frame_length=16, frame_step=6, expand_dims=True, padding="same",
          window="bartlett"), (2, 45, 3)),
]


@pytest.mark.parametrize("kw,shape", STFT_CASES)
def test_stft_spectrogram_matches_keras(kw, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    # with Keras's kernels copied over: the same convolution, layout and mode
    kl, _ = assert_layer_matches_keras(keras, A.STFTSpectrogram, "STFTSpectrogram", kw, x,
                                       rtol=1e-5, atol=1e-5)
    # our own initial kernels are Keras's (computed in float64, so a little closer to
    # the exact DFT than Keras's float32 angles)
    ours = A.STFTSpectrogram(**kw)
    y = ours(x).numpy()
    for a, b in zip(ours.get_weights(), kl.get_weights()):
        np.testing.assert_allclose(a, _np(b), atol=3e-6)
    ky = _np(kl(x))
    if kw["mode"] == "angle":       # equal angles up to the 2 pi of arctan2's cut
        y, ky = np.exp(1j * y), np.exp(1j * ky)
    np.testing.assert_allclose(y, ky, rtol=1e-4, atol=1e-4)
    _same_config(ours, kl)


def test_stft_spectrogram_odd_fft_length_follows_keras():
    # Keras builds the DFT of 2 (bins - 1) points: fft_length 15 is taken as 14
    kw = dict(mode="log", frame_length=9, frame_step=2, fft_length=15, window="boxcar")
    x = rng.standard_normal((2, 45, 1)).astype(np.float32)
    with pytest.warns(UserWarning):
        ours = A.STFTSpectrogram(**kw)
    with pytest.warns(UserWarning):
        kl = keras.layers.STFTSpectrogram(**kw)
    np.testing.assert_allclose(ours(x).numpy(), _np(kl(x)), rtol=1e-4, atol=1e-4)


MEL_CASES = [
    (dict(fft_length=64, sequence_stride=16, num_mel_bins=10, sampling_rate=8000), (2, 303)),
    (dict(fft_length=64, sequence_stride=16, sequence_length=40, num_mel_bins=12,
          sampling_rate=8000, window="hamming", min_freq=100.0, max_freq=3000.0), (300,)),
    (dict(fft_length=32, sequence_stride=8, num_mel_bins=8, sampling_rate=4000,
          power_to_db=False, mag_exp=1.0), (3, 100)),
    (dict(fft_length=32, sequence_stride=8, num_mel_bins=8, sampling_rate=4000,
          top_db=20.0, ref_power=-2.0, min_power=1e-4), (3, 100)),
    (dict(fft_length=31, sequence_stride=7, num_mel_bins=6, sampling_rate=4000,
          window=None), (2, 100)),
]


@pytest.mark.parametrize("kw,shape", MEL_CASES)
def test_mel_spectrogram_matches_keras(kw, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    kl = keras.layers.MelSpectrogram(**kw)
    ours = A.MelSpectrogram(**kw)
    ky, y = _np(kl(x)), ours(x).numpy()
    assert y.shape == ky.shape
    tol = 2e-3 if kw.get("power_to_db", True) else 1e-4          # decibels vs linear
    np.testing.assert_allclose(y, ky, rtol=1e-4, atol=tol)
    _same_config(ours, kl)
    bins = kw["fft_length"] // 2 + 1
    args = (kw["num_mel_bins"], bins, kw["sampling_rate"], 20.0, 1800.0)
    np.testing.assert_allclose(ours.linear_to_mel_weight_matrix(*args).numpy(),
                               _np(kl.linear_to_mel_weight_matrix(*args)), atol=2e-6)


def test_mel_output_shape_is_the_real_one_where_keras_miscounts():
    kw = dict(fft_length=64, sequence_stride=16, num_mel_bins=10)
    x = rng.standard_normal((2, 303)).astype(np.float32)
    real = tuple(_np(keras.layers.MelSpectrogram(**kw)(x)).shape)
    assert A.MelSpectrogram(**kw).compute_output_shape((2, 303)) == real == (2, 10, 19)
    # Keras's own formula says 20 frames here; elsewhere the two agree
    assert keras.layers.MelSpectrogram(**kw).compute_output_shape((2, 303))[-1] == 20
    for t in (300, 256, 1000):
        assert A.MelSpectrogram(**kw).compute_output_shape((t,)) == \
            tuple(keras.layers.MelSpectrogram(**kw).compute_output_shape((t,)))


# ------------------------------------------------------------------ elastic transform
def _keras_normal(noise):
    """A stand-in for torch.normal handing out our noise: Keras's elastic_transform
    draws the x field, then the y field, each (batch, height, width)."""
    parts = [torch.as_tensor(noise[..., 0]), torch.as_tensor(noise[..., 1])]

    def normal(mean, std, size=None, **kwargs):
        out = parts.pop(0)
        assert tuple(out.shape) == tuple(size)
        return out.clone()
    return normal


@pytest.mark.parametrize("interp", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill_mode", ["reflect", "mirror", "constant", "nearest", "wrap"])
def test_elastic_transform_on_given_fields_matches_keras(interp, fill_mode):
    x = rng.uniform(0, 255, (3, 24, 20, 3)).astype(np.float32)
    noise = rng.standard_normal((3, 24, 20, 2)).astype(np.float32)
    apply = np.array([True, False, True])
    kw = dict(interpolation=interp, fill_mode=fill_mode, fill_value=7.0)
    for distortion in (1.0, 0.37):
        ours = G.RandomElasticTransform(**kw)._transform(
            x, {"apply_transform": apply, "distortion_factor": np.float32(distortion),
                "noise": noise})
        kl = keras.layers.RandomElasticTransform(**kw)
        with mock.patch.object(torch, "normal", _keras_normal(noise)):
            theirs = _np(kl.transform_images(
                torch.as_tensor(x), {"apply_transform": torch.as_tensor(apply),
                                     "distortion_factor": torch.tensor(distortion),
                                     "seed": None}, training=True))
        assert np.abs(theirs - x).max() > 10                       # the fields did move
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=2e-3)


def test_elastic_layer_call_matches_keras_channels_first_and_unbatched():
    x = rng.uniform(0, 1, (2, 3, 16, 18)).astype(np.float32)          # channels first
    kw = dict(factor=(1.0, 1.0), scale=(0.8, 0.8), value_range=(0.1, 0.9),
              data_format="channels_first")
    lay = G.RandomElasticTransform(seed=0, **kw)
    noise = {}
    draw = lay._draw

    def keep(d):
        p = draw(d)
        noise["n"] = p["noise"]
        return p
    lay._draw = keep
    ours = lay(x).numpy()
    with mock.patch.object(torch, "normal", _keras_normal(noise["n"])):
        theirs = _np(keras.layers.RandomElasticTransform(**kw)(x, training=True))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    one = x[0]
    ours1 = lay(one).numpy()
    with mock.patch.object(torch, "normal", _keras_normal(noise["n"])):
        theirs1 = _np(keras.layers.RandomElasticTransform(**kw)(one, training=True))
    np.testing.assert_allclose(ours1, theirs1, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kw", [dict(factor=0.0), dict(scale=0.0)])
def test_elastic_identity_settings_and_inference_match_keras(kw):
    x = rng.uniform(-50, 300, (2, 9, 11, 3)).astype(np.float32)     # beyond value_range
    for training in (True, False):
        ours = G.RandomElasticTransform(seed=1, **kw)(x, training=training).numpy()
        theirs = _np(keras.layers.RandomElasticTransform(seed=1, **kw)(x, training=training))
        np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(ours, x)


def test_elastic_config_matches_keras():
    kw = dict(factor=(0.2, 0.6), scale=0.3, interpolation="nearest", fill_mode="constant",
              fill_value=2.0, value_range=(0, 1), seed=4)
    _same_config(G.RandomElasticTransform(**kw), keras.layers.RandomElasticTransform(**kw))
    _same_config(G.RandomElasticTransform(), keras.layers.RandomElasticTransform())


def test_keras_archives_cross_over(tmp_path):
    """Models with the three layers saved by either library load in the other."""
    pytest.importorskip("h5py")
    from lamina import keras as lk
    x = rng.standard_normal((2, 200)).astype(np.float32)
    for first, second in ((keras, lk), (lk, keras)):
        L = first.layers
        m = first.Sequential([first.Input((200,)), L.Reshape((200, 1)),
                              L.STFTSpectrogram(mode="log", frame_length=32, frame_step=8,
                                                padding="same"),
                              L.Dense(3)])
        n = first.Sequential([first.Input((200,)),
                              L.MelSpectrogram(fft_length=32, sequence_stride=8,
                                               num_mel_bins=10, sampling_rate=8000),
                              L.Reshape((10, 26, 1)),
                              L.RandomElasticTransform(seed=1, value_range=(-100, 100)),
                              L.Flatten(), L.Dense(2)])
        for i, model in enumerate((m, n)):
            p = str(tmp_path / f"{first.__name__}{i}.keras")
            model.save(p)
            back = second.models.load_model(p)
            np.testing.assert_allclose(np.asarray(back.predict(x, verbose=0)),
                                       np.asarray(model.predict(x, verbose=0)), rtol=1e-4,
                                       atol=1e-4, err_msg=f"{first.__name__} -> "
                                                          f"{second.__name__}")
