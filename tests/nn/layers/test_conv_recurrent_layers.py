"""ConvLSTM2D: the step formulas, gradients, config and save round trips, states, masks,
dropout and the errors it raises (its agreement with real Keras is in
tests/keras_oracle/test_sequence_oracle.py)."""
import numpy as np
import pytest

import lamina as lm
from lamina import keras
from lamina.nn.layers import ConvLSTM2D
from layer_checks import gradcheck_layer, roundtrip


def _x(shape=(2, 3, 5, 4, 2), seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _conv_same(x, k):
    """'same' cross-correlation of x (N, H, W, C) with k (KH, KW, C, O), stride 1, by loops."""
    kh, kw = k.shape[:2]
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    xp = np.pad(x, ((0, 0), (ph, kh - 1 - ph), (pw, kw - 1 - pw), (0, 0)))
    out = np.zeros(x.shape[:3] + (k.shape[3],))
    for a in range(kh):
        for b in range(kw):
            out += np.einsum("nhwc,co->nhwo", xp[:, a:a + x.shape[1], b:b + x.shape[2]], k[a, b])
    return out


def test_steps_follow_the_lstm_formulas_with_convolutions():
    x = _x().astype(np.float64)
    layer = ConvLSTM2D(3, 3, padding="same", return_sequences=True, dtype="float64")
    y = layer(lm.tensor(x)).numpy()
    k, u, b = (w.numpy() for w in layer.weights)
    sig = lambda z: 1 / (1 + np.exp(-z))      # noqa: E731
    h = c = np.zeros(x.shape[:1] + x.shape[2:4] + (3,))
    for t in range(x.shape[1]):
        z = _conv_same(x[:, t], k) + b + _conv_same(h, u)
        i, f, g, o = sig(z[..., :3]), sig(z[..., 3:6]), np.tanh(z[..., 6:9]), sig(z[..., 9:])
        c = f * c + i * g
        h = o * np.tanh(c)
        np.testing.assert_allclose(y[:, t], h, rtol=1e-10, atol=1e-12)


def test_weights_shapes_and_the_forget_bias():
    layer = ConvLSTM2D(4, (3, 2))
    layer.build((None, 5, 7, 6, 3))
    assert [tuple(w.shape) for w in layer.weights] == [(3, 2, 3, 16), (3, 2, 4, 16), (16,)]
    np.testing.assert_array_equal(layer.bias.numpy(), [0] * 4 + [1] * 4 + [0] * 8)
    assert layer.filters == 4 and layer.kernel_size == (3, 2)     # read through to the cell


@pytest.mark.parametrize("kw", [{}, {"strides": 2, "return_sequences": True},
                                {"padding": "same", "dilation_rate": 2},
                                {"go_backwards": True, "activation": "relu"}])
def test_gradcheck_and_config_roundtrip(kw):
    x = _x((2, 3, 6, 5, 2), seed=1)
    gradcheck_layer(ConvLSTM2D(2, 3, dtype="float64", **kw), x.astype(np.float64))
    roundtrip(ConvLSTM2D(2, 3, **kw), x)


def test_output_and_state_shapes():
    x = _x((2, 4, 9, 8, 3))
    layer = ConvLSTM2D(5, 3, strides=2, return_sequences=True, return_state=True)
    seq, h, c = layer(lm.tensor(x))
    assert seq.shape == (2, 4, 4, 3, 5) and h.shape == c.shape == (2, 4, 3, 5)
    np.testing.assert_array_equal(seq.numpy()[:, -1], h.numpy())
    assert layer.compute_output_shape((2, 4, 9, 8, 3)) == [(2, 4, 4, 3, 5), (2, 4, 3, 5),
                                                           (2, 4, 3, 5)]


def test_initial_state_is_used_and_checked():
    x = _x()
    layer = ConvLSTM2D(2, 3, padding="same")
    zero = layer(lm.tensor(x)).numpy()
    h0 = np.ones((2, 5, 4, 2), np.float32)
    moved = layer(lm.tensor(x), initial_state=[h0, h0]).numpy()
    assert not np.allclose(zero, moved)
    with pytest.raises(ValueError, match=r"initial state has shape \(2, 5, 4, 3\)"):
        layer(lm.tensor(x), initial_state=[np.ones((2, 5, 4, 3)), h0])


def test_masked_steps_carry_the_states():
    x = _x()
    mask = np.array([[True, True, False], [True, False, False]])
    layer = ConvLSTM2D(2, 3, padding="same", return_sequences=True)
    y = layer(lm.tensor(x), mask=mask).numpy()
    np.testing.assert_array_equal(y[0, 2], y[0, 1])
    np.testing.assert_array_equal(y[1, 1], y[1, 0])
    np.testing.assert_array_equal(y[1, 2], y[1, 0])
    # the unmasked steps are those of the sequence cut where the mask ends
    cut = layer(lm.tensor(x[:, :2])).numpy()
    np.testing.assert_allclose(y[0, :2], cut[0], rtol=1e-6)
    np.testing.assert_allclose(y[1, :1], cut[1, :1], rtol=1e-6)


def test_dropout_only_while_training_and_per_gate():
    x = _x()
    layer = ConvLSTM2D(2, 3, padding="same", dropout=0.5, recurrent_dropout=0.3, seed=3)
    infer = layer(lm.tensor(x)).numpy()
    np.testing.assert_array_equal(infer, layer(lm.tensor(x), training=False).numpy())
    train = layer(lm.tensor(x), training=True).numpy()
    assert not np.allclose(train, infer)
    masks = layer.cell._masks["input"]
    assert len(masks) == 4 and not np.array_equal(masks[0].numpy(), masks[1].numpy())


def test_fits_in_a_sequential_model_and_survives_save_and_load(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 3, 6, 6, 1)).astype(np.float32)
    y = (x[:, -1].mean(axis=(1, 2, 3)) > 0).astype(np.float32)
    model = keras.Sequential([keras.Input((3, 6, 6, 1)), ConvLSTM2D(4, 3, padding="same"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    hist = model.fit(x, y, epochs=8, batch_size=8, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


@pytest.mark.parametrize("kw,msg", [
    ({"data_format": "nchw"}, "data_format"),
    ({"strides": 2, "dilation_rate": 2}, "dilation_rate"),
    ({"padding": "causal"}, "padding"),
    ({"dropout": 1.0}, "dropout"),
])
def test_bad_arguments_are_refused(kw, msg):
    with pytest.raises(ValueError, match=msg):
        ConvLSTM2D(2, 3, **kw)


def test_inputs_of_the_wrong_rank_are_refused():
    with pytest.raises(ValueError,
                       match=r"ConvLSTM2D .*\(batch, time, height, width, channels\)"):
        ConvLSTM2D(2, 3)(lm.tensor(np.zeros((2, 3, 5, 4), np.float32)))
