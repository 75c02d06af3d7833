"""Recurrent layers (lamina/nn/layers/recurrent.py): Keras semantics of SimpleRNN/LSTM/
GRU, the fused path against the generic cell loop, masks, states, dropout, wrappers."""
import numpy as np
import pytest

import lamina as lm
from lamina.nn.layers.core import Dense
from lamina.nn.layers.recurrent import (GRU, LSTM, RNN, Bidirectional, GRUCell, LSTMCell,
                                        SimpleRNN, SimpleRNNCell, StackedRNNCells,
                                        TimeDistributed)
from layer_checks import gradcheck_layer, roundtrip

N, T, D, U = 3, 5, 4, 6


@pytest.fixture
def x():
    return np.random.default_rng(0).standard_normal((N, T, D)).astype(np.float32)


def _same_weights(src, dst):
    dst.set_weights(src.get_weights())


@pytest.mark.parametrize("cls,nstates,kw", [
    (SimpleRNN, 1, {}), (LSTM, 2, {}), (GRU, 1, {}), (GRU, 1, {"reset_after": False}),
    (SimpleRNN, 1, {"activation": "relu"}),
])
def test_shapes_weights_and_return_flags(cls, nstates, kw, x):
    layer = cls(U, return_sequences=True, return_state=True, **kw)
    out = layer(x)
    assert len(out) == 1 + nstates
    assert out[0].shape == (N, T, U)
    assert all(s.shape == (N, U) for s in out[1:])
    names = [w.name for w in layer.weights]
    assert names == ["kernel", "recurrent_kernel", "bias"]
    gates = {SimpleRNN: 1, LSTM: 4, GRU: 3}[cls]
    assert layer.cell.kernel.shape == (D, gates * U)
    assert layer.cell.recurrent_kernel.shape == (U, gates * U)
    last = cls(U, **kw)
    last.build(x.shape)
    _same_weights(layer, last)
    np.testing.assert_allclose(last(x).numpy(), out[0].numpy()[:, -1], rtol=1e-6)


def test_lstm_bias_init_and_gru_bias_shape():
    lstm = LSTM(U)
    lstm.build((N, T, D))
    b = lstm.cell.bias.numpy()
    np.testing.assert_array_equal(b[U:2 * U], 1)       # unit_forget_bias
    np.testing.assert_array_equal(b[:U], 0)
    assert GRU(U).cell.__class__ is GRUCell
    g = GRU(U)
    g.build((N, T, D))
    assert g.cell.bias.shape == (2, 3 * U)
    g2 = GRU(U, reset_after=False)
    g2.build((N, T, D))
    assert g2.cell.bias.shape == (3 * U,)


@pytest.mark.parametrize("cls,cell_cls,kw", [
    (SimpleRNN, SimpleRNNCell, {}), (LSTM, LSTMCell, {}), (GRU, GRUCell, {}),
    (GRU, GRUCell, {"reset_after": False}),
])
@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_fused_layer_equals_generic_cell_loop(cls, cell_cls, kw, backwards, masked, x):
    fused = cls(U, return_sequences=True, return_state=True, go_backwards=backwards, **kw)
    fused.build(x.shape)
    generic = RNN(cell_cls(U, **kw), return_sequences=True, return_state=True,
                  go_backwards=backwards)
    generic.build(x.shape)
    _same_weights(fused, generic)
    mask = np.ones((N, T), bool)
    mask[0, 3:] = False
    mask[1, 0] = False
    m = mask if masked else None
    a = fused(x, mask=m)
    b = generic(x, mask=m)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-5, atol=1e-6)
    ga = lm.autograd.gradients(sum(o.sum() for o in a), fused.trainable_weights)
    gb = lm.autograd.gradients(sum(o.sum() for o in b), generic.trainable_weights)
    for u, v in zip(ga, gb):
        np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-4, atol=1e-5)


def test_mask_from_embedding_and_masking_layer():
    from lamina.nn.layers.core import Embedding, Masking
    ids = np.array([[3, 4, 5, 0, 0], [1, 2, 0, 0, 0]])
    emb = Embedding(10, D, mask_zero=True)
    lstm = LSTM(U)
    y = lstm(emb(ids))
    # same as running only the unpadded steps
    for i, n in enumerate([3, 2]):
        yi = lstm(emb(ids[i:i + 1, :n]))
        np.testing.assert_allclose(y.numpy()[i], yi.numpy()[0], rtol=1e-5, atol=1e-6)
    xs = np.random.default_rng(1).standard_normal((2, 5, D)).astype(np.float32)
    xs[0, 3:] = 0
    gru = GRU(U, return_sequences=True)
    seq = gru(Masking()(xs)).numpy()
    np.testing.assert_array_equal(seq[0, 3], seq[0, 2])     # masked: previous output
    np.testing.assert_array_equal(seq[0, 4], seq[0, 2])


def test_initial_state_and_stateful(x):
    lstm = LSTM(U, return_state=True)
    h0 = np.full((N, U), 0.5, np.float32)
    c0 = np.full((N, U), -0.5, np.float32)
    a = lstm(x, initial_state=[h0, c0])
    b = lstm(x)
    assert not np.allclose(a[0].numpy(), b[0].numpy())
    with pytest.raises(ValueError, match="initial state"):
        lstm(x, initial_state=[h0])
    st = GRU(U, stateful=True)
    ref = GRU(U, return_state=True)
    st.build(x.shape)
    ref.build(x.shape)
    _same_weights(st, ref)
    st(x[:, :2])
    y2 = st(x[:, 2:])
    _, h = ref(x[:, :2])
    np.testing.assert_allclose(y2.numpy(), ref(x[:, 2:], initial_state=[h])[0].numpy(),
                               rtol=1e-6)
    st.reset_states()
    np.testing.assert_allclose(st(x[:, :2]).numpy(), ref(x[:, :2])[0].numpy(), rtol=1e-6)


@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
def test_dropout_and_recurrent_dropout(cls, x):
    lm.random.seed(0)
    layer = cls(U, dropout=0.5, recurrent_dropout=0.3)
    a = layer(x, training=True).numpy()
    b = layer(x, training=False).numpy()
    c = layer(x).numpy()
    np.testing.assert_allclose(b, c)
    assert not np.allclose(a, b)
    # input dropout only: the fused path; its gradient flows
    d = cls(U, dropout=0.5)
    out = d(x, training=True)
    g = lm.autograd.gradients(out.sum(), d.trainable_weights)
    assert all(gi is not None and np.isfinite(gi.numpy()).all() for gi in g)


@pytest.mark.parametrize("mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_merge_modes(mode, x):
    fwd = LSTM(U, return_sequences=True)
    bi = Bidirectional(fwd, merge_mode=mode)
    out = bi(x)
    assert len(bi.weights) == 6
    yf = bi.forward_layer(x).numpy()
    yb = bi.backward_layer(x).numpy()[:, ::-1]       # back in input order
    ref = {"concat": lambda: np.concatenate([yf, yb], -1), "sum": lambda: yf + yb,
           "mul": lambda: yf * yb, "ave": lambda: (yf + yb) / 2}
    if mode is None:
        np.testing.assert_allclose(out[0].numpy(), yf, rtol=1e-6)
        np.testing.assert_allclose(out[1].numpy(), yb, rtol=1e-6)
    else:
        np.testing.assert_allclose(out.numpy(), ref[mode](), rtol=1e-6, atol=1e-7)


def test_bidirectional_return_state_and_errors(x):
    bi = Bidirectional(GRU(U, return_state=True))
    out = bi(x)
    assert [o.shape for o in out] == [(N, 2 * U), (N, U), (N, U)]
    with pytest.raises(ValueError, match="merge_mode"):
        Bidirectional(GRU(U), merge_mode="max")
    with pytest.raises(ValueError, match="go_backwards"):
        Bidirectional(GRU(U), backward_layer=GRU(U))
    custom = Bidirectional(GRU(U), backward_layer=SimpleRNN(2, go_backwards=True))
    assert custom(x).shape == (N, U + 2)
    with pytest.raises(ValueError, match="recurrent layer"):
        Bidirectional(Dense(3))


def test_time_distributed_and_stacked(x):
    td = TimeDistributed(Dense(2))
    y = td(x)
    assert y.shape == (N, T, 2)
    np.testing.assert_allclose(y.numpy()[:, 1], td.layer(x[:, 1]).numpy(), rtol=1e-6)
    stacked = RNN([LSTMCell(U), GRUCell(3)], return_state=True)
    out = stacked(x)
    assert out[0].shape == (N, 3) and len(out) == 4
    assert isinstance(stacked.cell, StackedRNNCells)


def test_config_round_trip(x):
    layer = LSTM(U, return_sequences=True, go_backwards=True, dropout=0.1)
    cfg = layer.get_config()
    clone = LSTM.from_config(cfg)
    assert clone.units == U and clone.go_backwards and clone.return_sequences
    assert clone.cell.dropout == 0.1
    clone.build(x.shape)
    layer.build(x.shape)
    _same_weights(layer, clone)
    np.testing.assert_allclose(clone(x).numpy(), layer(x).numpy(), rtol=1e-6)


def test_bad_input_names_the_layer():
    layer = LSTM(U, name="my_lstm")
    with pytest.raises(ValueError, match="my_lstm"):
        layer(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="units"):
        LSTM(0)
    with pytest.raises(ValueError, match="dropout"):
        GRU(3, dropout=1.5)


def test_custom_cell_in_rnn(x):
    from lamina.nn.layers.base import Layer

    class MinimalCell(Layer):
        def __init__(self, units, **kw):
            super().__init__(**kw)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")

        def call(self, inputs, states):
            h = inputs @ self.w + states[0]
            return h, [h]
    layer = RNN(MinimalCell(2))
    y = layer(x)
    w = layer.cell.w.numpy()
    np.testing.assert_allclose(y.numpy(), (x @ w).sum(axis=1), rtol=1e-5, atol=1e-6)


def test_model_save_and_load_round_trip(tmp_path):
    from lamina import keras
    ids = np.random.default_rng(5).integers(0, 30, (4, 7))
    model = keras.Sequential([
        keras.layers.Embedding(30, 8, mask_zero=True),
        keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True)),
        keras.layers.RNN([keras.layers.GRUCell(5), keras.layers.SimpleRNNCell(3)]),
        keras.layers.Dense(2)])
    y = model(ids).numpy()
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again(ids).numpy(), y, rtol=1e-6)


_CHECKED = {
    "LSTM": lambda d: LSTM(3, return_sequences=True, dtype=d),
    "GRU_before": lambda d: GRU(3, reset_after=False, dtype=d),
    "SimpleRNN": lambda d: SimpleRNN(3, dtype=d),
    "Bidirectional": lambda d: Bidirectional(LSTM(2, dtype=d), dtype=d),
    "RNN_GRUCell": lambda d: RNN(GRUCell(2, dtype=d), dtype=d),
    "TimeDistributed": lambda d: TimeDistributed(Dense(2, dtype=d), dtype=d),
}


@pytest.mark.parametrize("name", sorted(_CHECKED))
def test_gradcheck_and_config_roundtrip(name):
    x = np.random.default_rng(8).standard_normal((2, 3, 4))
    gradcheck_layer(_CHECKED[name]("float64"), x)
    roundtrip(_CHECKED[name]("float32"), x.astype(np.float32))


def test_lstm_layer_without_sequences_uses_the_last_output_op():
    """LSTM(return_sequences=False) asks the fused op for the last output only; it must
    equal the last step of the sequence the same weights give."""
    from lamina import keras
    rng = np.random.default_rng(13)
    N, T, D, H = 3, 5, 4, 6
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    lay = keras.layers.LSTM(H, return_state=True)
    out, h, c = lay(x)
    seq_lay = keras.layers.LSTM(H, return_sequences=True)
    seq_lay(x)
    seq_lay.set_weights(lay.get_weights())
    np.testing.assert_allclose(out.numpy(), seq_lay(x).numpy()[:, -1], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out.numpy(), h.numpy(), rtol=1e-6, atol=1e-7)


def test_a_user_wrapper_builds_calls_and_round_trips(tmp_path):
    # a Keras-style custom wrapper: the wrapped layer is built with the wrapper's input
    # shape, trained through it, and restored from the config with custom_objects
    from lamina import keras

    class Doubled(keras.layers.Wrapper):
        def call(self, inputs):
            return 2.0 * self.layer(inputs)

    x = np.random.default_rng(4).standard_normal((6, 3)).astype(np.float32)
    inner = Dense(2)
    w = Doubled(inner)
    y = w(lm.tensor(x)).numpy()
    assert inner.built and w.layer is inner
    np.testing.assert_allclose(y, 2 * inner(lm.tensor(x)).numpy(), rtol=1e-6)
    model = keras.Sequential([keras.Input((3,)), Doubled(Dense(2))])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((6, 2), np.float32), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras", custom_objects={"Doubled": Doubled})
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    assert isinstance(again.layers[0], Doubled) and isinstance(again.layers[0].layer, Dense)
    with pytest.raises(ValueError, match="Doubled: expected a layer to wrap, got int"):
        Doubled(3)
