"""Conv3DTranspose, ConvLSTM1D/3D and the adaptive pooling layers: gradients of the
layers (inputs and weights), config round trips, `.keras` save/load, shapes and errors
(their agreement with real Keras is in tests/keras_oracle/test_more_conv_oracle.py)."""
import numpy as np
import pytest

import lamina as lm
from lamina.nn.layers import adaptive_pooling as AP, conv as CL, conv_recurrent as CR
from layer_checks import gradcheck_layer, roundtrip


def _x(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("kw", [
    dict(strides=2, padding="same"),
    dict(strides=(1, 2, 1), padding="valid", use_bias=False),
    dict(kernel_size=(2, 3, 2), strides=2, output_padding=(1, 0, 1)),
    dict(dilation_rate=(2, 1, 1), padding="same", activation="relu"),
    dict(strides=2, data_format="channels_first"),
])
def test_conv3d_transpose_gradcheck_and_roundtrip(kw):
    kw = dict(kw)
    ks = kw.pop("kernel_size", 2)
    x = _x((1, 2, 3, 2, 2), seed=1)
    gradcheck_layer(CL.Conv3DTranspose(2, ks, dtype="float64", **kw), x)
    layer = CL.Conv3DTranspose(3, ks, **kw)
    y = roundtrip(layer, x.astype(np.float32))(x.astype(np.float32))
    assert tuple(y.shape) == layer.compute_output_shape(x.shape)


def test_conv3d_transpose_weights_and_alias():
    layer = CL.Conv3DTranspose(4, (3, 2, 1))
    layer.build((None, 5, 6, 7, 3))
    assert [tuple(w.shape) for w in layer.weights] == [(3, 2, 1, 4, 3), (4,)]
    assert CL.Convolution3DTranspose is CL.Conv3DTranspose
    assert layer.compute_output_shape((None, 5, 6, 7, 3)) == (None, 7, 7, 7, 4)
    with pytest.raises(ValueError, match="conv3d_transpose: input of shape"):
        lm.ops.conv.conv3d_transpose(np.zeros((1, 2, 2, 2, 3)), np.zeros((2, 2, 2, 4, 2)))


@pytest.mark.parametrize("cls,shape,kw", [
    (CR.ConvLSTM1D, (2, 3, 6, 2), {}),
    (CR.ConvLSTM1D, (2, 3, 7, 2), {"strides": 2, "return_sequences": True}),
    (CR.ConvLSTM1D, (2, 3, 6, 2), {"padding": "same", "dilation_rate": 2,
                                   "go_backwards": True}),
    (CR.ConvLSTM3D, (1, 2, 3, 4, 3, 2), {"padding": "same"}),
    (CR.ConvLSTM3D, (1, 2, 4, 3, 4, 1), {"strides": (2, 1, 2), "return_sequences": True}),
])
def test_conv_lstm_1d_3d_gradcheck_and_roundtrip(cls, shape, kw):
    x = _x(shape, seed=2)
    gradcheck_layer(cls(2, 2, dtype="float64", **kw), x)
    roundtrip(cls(2, 2, **kw), x.astype(np.float32))


def test_conv_lstm_weights_states_and_errors():
    layer = CR.ConvLSTM3D(4, (3, 2, 1), return_state=True)
    x = _x((2, 3, 5, 4, 3, 2), dtype=np.float32)
    out, h, c = layer(lm.tensor(x))
    assert [tuple(w.shape) for w in layer.weights] == [(3, 2, 1, 2, 16), (3, 2, 1, 4, 16),
                                                        (16,)]
    assert out.shape == h.shape == c.shape == (2, 3, 3, 3, 4)
    assert layer.compute_output_shape(x.shape) == [(2, 3, 3, 3, 4)] * 3
    assert "rank" not in layer.get_config()
    l1 = CR.ConvLSTM1D(3, 4)
    l1.build((None, 2, 9, 5))
    assert [tuple(w.shape) for w in l1.weights] == [(4, 5, 12), (4, 3, 12), (12,)]
    with pytest.raises(ValueError, match=r"ConvLSTM1D '.*': expected inputs of shape"):
        CR.ConvLSTM1D(3, 2).build((2, 3, 4, 4, 1))
    with pytest.raises(ValueError, match="ConvLSTM3D: kernel_size must have 3 entries"):
        CR.ConvLSTM3D(3, (2, 2))


def test_conv_lstm_dropout_runs_per_rank():
    for cls, shape in ((CR.ConvLSTM1D, (2, 3, 6, 2)), (CR.ConvLSTM3D, (1, 2, 3, 3, 3, 2))):
        layer = cls(2, 2, padding="same", dropout=0.3, recurrent_dropout=0.2, seed=1)
        x = lm.tensor(_x(shape, dtype=np.float32))
        assert not np.allclose(layer(x, training=True).numpy(), layer(x).numpy())


def _bins_reference(x, out, mode):
    """Adaptive pooling by loops over PyTorch's bins (channels last)."""
    spatial = x.shape[1:-1]
    res = np.zeros((x.shape[0],) + tuple(out) + (x.shape[-1],))
    for idx in np.ndindex(*out):
        sl = tuple(slice((i * n) // o, -((-(i + 1) * n) // o))
                   for i, n, o in zip(idx, spatial, out))
        win = x[(slice(None),) + sl + (slice(None),)]
        axes = tuple(range(1, 1 + len(out)))
        res[(slice(None),) + idx] = win.mean(axes) if mode == "Average" else win.max(axes)
    return res


@pytest.mark.parametrize("mode", ["Average", "Max"])
@pytest.mark.parametrize("rank,shape,out", [(1, (2, 7, 3), 3), (1, (1, 3, 2), 5),
                                            (2, (2, 7, 5, 2), (3, 2)),
                                            (3, (1, 5, 4, 3, 2), (2, 3, 2))])
def test_adaptive_pooling_bins_gradcheck_and_roundtrip(mode, rank, shape, out):
    cls = getattr(AP, f"Adaptive{mode}Pooling{rank}D")
    x = _x(shape, seed=3)
    layer = cls(out, dtype="float64")
    size = layer.output_size
    np.testing.assert_allclose(layer(lm.tensor(x)).numpy(), _bins_reference(x, size, mode),
                               rtol=1e-12, atol=1e-12)
    gradcheck_layer(cls(out, dtype="float64"), x)
    roundtrip(cls(out), x.astype(np.float32))
    cf = cls(out, data_format="channels_first")
    xf = np.moveaxis(x, -1, 1)
    np.testing.assert_allclose(cf(lm.tensor(xf)).numpy(),
                               np.moveaxis(_bins_reference(x, size, mode), -1, 1), rtol=1e-6)
    assert cf.compute_output_shape(xf.shape) == (shape[0], shape[-1]) + size


def test_adaptive_pooling_arguments():
    assert AP.AdaptiveMaxPooling3D(2).output_size == (2, 2, 2)
    assert AP.AdaptiveAveragePooling2D([3, 4]).get_config()["output_size"] == (3, 4)
    with pytest.raises(TypeError, match="AdaptiveAveragePooling2D .*output_size"):
        AP.AdaptiveAveragePooling2D((2, 2, 2))
    with pytest.raises(ValueError, match="positive"):
        AP.AdaptiveMaxPooling1D(0)
    with pytest.raises(ValueError, match="data_format"):
        AP.AdaptiveMaxPooling1D(2, data_format="nhwc")


def test_models_with_the_new_layers_save_and_load(tmp_path):
    from lamina import keras
    L = keras.layers
    m = keras.Sequential([keras.Input((3, 4, 4, 4, 2)),
                          L.ConvLSTM3D(2, 2, padding="same", return_sequences=True),
                          L.TimeDistributed(L.Conv3DTranspose(2, 2, strides=2)),
                          L.TimeDistributed(L.AdaptiveMaxPooling3D(3)),
                          L.TimeDistributed(L.AdaptiveAveragePooling3D((1, 2, 1))),
                          L.Reshape((3, 4, 1)), L.ConvLSTM1D(2, 2), L.Flatten()])
    x = np.random.default_rng(0).random((2, 3, 4, 4, 4, 2)).astype(np.float32)
    path = str(tmp_path / "more.keras")
    m.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), m.predict(x, verbose=0))
    assert [type(a).__name__ for a in again.layers] == [type(a).__name__ for a in m.layers]


def test_spectral_normalization_roundtrip_and_errors():
    from lamina.nn.layers import wrappers as W, core
    x = _x((3, 4), dtype=np.float32)
    layer = W.SpectralNormalization(core.Dense(3), power_iterations=2)
    layer(lm.tensor(x), training=True)
    s = np.linalg.svd(layer.layer.kernel.numpy(), compute_uv=False)
    assert s[0] < 1.5      # one step of the estimate already brings sigma near 1
    roundtrip(layer, x)
    with pytest.raises(ValueError, match="power_iterations"):
        W.SpectralNormalization(core.Dense(3), power_iterations=0)
    with pytest.raises(ValueError, match="nor 'embeddings'"):
        W.SpectralNormalization(core.Flatten())(lm.tensor(x))
