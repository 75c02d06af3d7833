"""fit/evaluate/predict against real Keras 3 (torch backend): loss curves from identical
initial weights with the same SGD steps (shuffle=False), history keys, and Keras reading a
lamina-written ``.weights.h5`` (and lamina reading Keras's)."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import lamina as lm  # noqa: E402
from lamina import keras as lk  # noqa: E402

rng = np.random.default_rng(3)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _both(build):
    """The same architecture in both libraries, lamina's weights copied into Keras's."""
    km = build(keras)
    lmod = build(lk)
    km.set_weights(lmod.get_weights())
    return km, lmod


def _mlp(k, act="softmax", units=4, inp=6):
    return k.Sequential([k.Input((inp,)), k.layers.Dense(8, activation="tanh"),
                         k.layers.Dense(units, activation=act)])


def _fit_both(build, loss, x, y, metrics=None, epochs=4, lr=0.1, **kw):
    lm.random.seed(0)
    km, lmod = _both(build)
    km.compile(keras.optimizers.SGD(lr), loss, metrics=metrics)
    lmod.compile(lk.optimizers.SGD(lr), loss, metrics=metrics)
    hk = km.fit(x, y, epochs=epochs, batch_size=8, shuffle=False, verbose=0, **kw)
    hl = lmod.fit(x, y, epochs=epochs, batch_size=8, shuffle=False, verbose=0, **kw)
    return km, lmod, hk.history, hl.history


def test_categorical_loss_curve_and_accuracy_match_keras():
    x = rng.standard_normal((40, 6)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 40)]
    km, lmod, hk, hl = _fit_both(_mlp, "categorical_crossentropy", x, y,
                                 metrics=["accuracy"], validation_split=0.2)
    assert set(hk) == set(hl)
    for key in hk:
        np.testing.assert_allclose(hl[key], hk[key], rtol=2e-4, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(lmod.predict(x, verbose=0), km.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-6)
    ek = km.evaluate(x, y, verbose=0, return_dict=True)
    el = lmod.evaluate(x, y, verbose=0, return_dict=True)
    assert set(ek) == set(el)
    for k in ek:
        assert el[k] == pytest.approx(ek[k], rel=1e-4)


def test_sparse_loss_with_sample_weight_matches_keras():
    x = rng.standard_normal((32, 6)).astype(np.float32)
    y = rng.integers(0, 4, 32)
    sw = rng.uniform(0.2, 2.0, 32).astype(np.float32)
    _, _, hk, hl = _fit_both(_mlp, "sparse_categorical_crossentropy", x, y,
                             metrics=["accuracy"], sample_weight=sw)
    for key in hk:
        np.testing.assert_allclose(hl[key], hk[key], rtol=2e-4, atol=1e-6, err_msg=key)


def test_regression_with_momentum_and_mae_matches_keras():
    x = rng.standard_normal((24, 6)).astype(np.float32)
    y = (x @ rng.standard_normal((6, 1))).astype(np.float32)
    lm.random.seed(0)
    km, lmod = _both(lambda k: _mlp(k, act=None, units=1))
    km.compile(keras.optimizers.SGD(0.05, momentum=0.9), "mse", metrics=["mae"])
    lmod.compile(lk.optimizers.SGD(0.05, momentum=0.9), "mse", metrics=["mae"])
    hk = km.fit(x, y, epochs=5, batch_size=6, shuffle=False, verbose=0).history
    hl = lmod.fit(x, y, epochs=5, batch_size=6, shuffle=False, verbose=0).history
    for key in hk:
        np.testing.assert_allclose(hl[key], hk[key], rtol=2e-4, atol=1e-6, err_msg=key)


def test_multi_output_history_keys_match_keras():
    def build(k):
        i = k.Input((6,))
        h = k.layers.Dense(5, activation="relu", name="trunk")(i)
        a = k.layers.Dense(3, activation="softmax", name="label")(h)
        b = k.layers.Dense(1, name="score")(h)
        return k.Model(i, [a, b])
    x = rng.standard_normal((16, 6)).astype(np.float32)
    ys = [rng.integers(0, 3, 16), rng.standard_normal((16, 1)).astype(np.float32)]
    lm.random.seed(0)
    km, lmod = _both(build)
    for m, k in ((km, keras), (lmod, lk)):
        m.compile(k.optimizers.SGD(0.05), ["sparse_categorical_crossentropy", "mse"],
                  metrics=[["accuracy"], ["mae"]])
    hk = km.fit(x, ys, epochs=2, batch_size=8, shuffle=False, verbose=0,
                validation_split=0.25).history
    hl = lmod.fit(x, ys, epochs=2, batch_size=8, shuffle=False, verbose=0,
                  validation_split=0.25).history
    assert set(hl) == set(hk)
    for key in hk:
        np.testing.assert_allclose(hl[key], hk[key], rtol=5e-4, atol=1e-6, err_msg=key)


def test_keras_reads_lamina_weights_h5_and_back(tmp_path):
    pytest.importorskip("h5py")
    x = rng.standard_normal((5, 6)).astype(np.float32)
    lm.random.seed(1)
    lmod = _mlp(lk)
    km = _mlp(keras)
    p = str(tmp_path / "lamina.weights.h5")
    lmod.save_weights(p)
    km.load_weights(p)
    np.testing.assert_allclose(km.predict(x, verbose=0), lmod.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    # and lamina reads a Keras-written file
    km2 = _mlp(keras)
    p2 = str(tmp_path / "keras.weights.h5")
    km2.save_weights(p2)
    lmod.load_weights(p2)
    np.testing.assert_allclose(lmod.predict(x, verbose=0), km2.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_functional_with_batchnorm_weights_h5_for_keras(tmp_path):
    pytest.importorskip("h5py")

    def build(k):
        i = k.Input((6,))
        h = k.layers.Dense(4)(i)
        h = k.layers.BatchNormalization()(h)
        return k.Model(i, k.layers.Dense(2)(h))
    lm.random.seed(2)
    lmod = build(lk)
    lmod.compile("sgd", "mse")
    x = rng.standard_normal((16, 6)).astype(np.float32)
    lmod.fit(x, rng.standard_normal((16, 2)).astype(np.float32), epochs=1, verbose=0)
    p = str(tmp_path / "f.weights.h5")
    lmod.save_weights(p)
    km = build(keras)
    km.load_weights(p)
    np.testing.assert_allclose(km.predict(x, verbose=0), lmod.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)


def test_nested_model_weights_h5_for_keras(tmp_path):
    pytest.importorskip("h5py")

    def build(k):
        inner = k.Sequential([k.Input((6,)), k.layers.Dense(3), k.layers.Dense(3)])
        i = k.Input((6,))
        return k.Model(i, k.layers.Dense(2)(inner(i)))
    lm.random.seed(4)
    lmod = build(lk)
    p = str(tmp_path / "nested.weights.h5")
    lmod.save_weights(p)
    km = build(keras)
    km.load_weights(p)
    x = rng.standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_allclose(km.predict(x, verbose=0), lmod.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


SEQUENCES = [[1.0, 0.9, 0.95, 0.94, 0.93, 0.5, 0.6, 0.7, 0.8, 0.9],
             [3.0, 2.0, 2.0, 2.0, 1.99995, 1.9999, 1.5, 1.5, 1.5, 1.5],
             [0.1, 0.2, 0.3, 0.05, 0.04, 0.3, 0.3, 0.3, 0.3, 0.3]]


def _drive(cb, model, seq, key="val_loss"):
    """Feed a callback a sequence of epoch logs; returns (stop epoch, lrs seen)."""
    cb.set_model(model)
    cb.on_train_begin({})
    lrs = []
    for epoch, v in enumerate(seq):
        logs = {key: v, "loss": v}
        cb.on_epoch_end(epoch, logs)
        lr = model.optimizer.learning_rate     # a Keras Variable or lamina's float
        lrs.append(lr if isinstance(lr, float) else float(keras.ops.convert_to_numpy(lr)))
        if model.stop_training:
            return epoch, lrs
    return None, lrs


@pytest.mark.parametrize("seq", SEQUENCES)
@pytest.mark.parametrize("kw", [dict(patience=2), dict(patience=1, min_delta=0.05),
                                dict(patience=3, baseline=0.8), dict(patience=0),
                                dict(patience=2, start_from_epoch=3)])
def test_early_stopping_stops_at_the_same_epoch_as_keras(seq, kw):
    km, lmod = _both(_mlp)
    km.compile("sgd", "mse")
    lmod.compile("sgd", "mse")
    km.stop_training = lmod.stop_training = False
    ek, _ = _drive(keras.callbacks.EarlyStopping(**kw), km, seq)
    el, _ = _drive(lk.callbacks.EarlyStopping(**kw), lmod, seq)
    assert el == ek


@pytest.mark.parametrize("seq", SEQUENCES)
@pytest.mark.parametrize("kw", [dict(patience=1, factor=0.5),
                                dict(patience=2, factor=0.1, cooldown=1, min_lr=1e-3),
                                dict(patience=1, factor=0.5, min_delta=0.1)])
def test_reduce_lr_on_plateau_follows_keras(seq, kw):
    km, lmod = _both(_mlp)
    km.compile(keras.optimizers.SGD(0.1), "mse")
    lmod.compile(lk.optimizers.SGD(0.1), "mse")
    km.stop_training = lmod.stop_training = False
    _, lk_lrs = _drive(keras.callbacks.ReduceLROnPlateau(**kw), km, seq)
    _, ll_lrs = _drive(lk.callbacks.ReduceLROnPlateau(**kw), lmod, seq)
    np.testing.assert_allclose(ll_lrs, lk_lrs, rtol=1e-6)


def test_evaluate_list_order_matches_keras():
    def build(k):
        i = k.Input((6,))
        h = k.layers.Dense(5, activation="relu", name="trunk")(i)
        a = k.layers.Dense(3, activation="softmax", name="label")(h)
        b = k.layers.Dense(1, name="score")(h)
        return k.Model(i, [a, b])
    x = rng.standard_normal((16, 6)).astype(np.float32)
    ys = [rng.integers(0, 3, 16), rng.standard_normal((16, 1)).astype(np.float32)]
    lm.random.seed(0)
    km, lmod = _both(build)
    for m, k in ((km, keras), (lmod, lk)):
        m.compile("sgd", ["sparse_categorical_crossentropy", "mse"],
                  metrics=[["accuracy"], ["mae", "mse"]])
    np.testing.assert_allclose(lmod.evaluate(x, ys, verbose=0), km.evaluate(x, ys, verbose=0),
                               rtol=1e-5)
    km, lmod = _both(_mlp)
    for m, k in ((km, keras), (lmod, lk)):
        m.compile("sgd", "categorical_crossentropy", metrics=["mae", "accuracy"])
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 16)]
    x = rng.standard_normal((16, 6)).astype(np.float32)
    np.testing.assert_allclose(lmod.evaluate(x, y, verbose=0), km.evaluate(x, y, verbose=0),
                               rtol=1e-5)


def _h5_datasets(path):
    import h5py
    out = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.append((n, o.shape)) if isinstance(o, h5py.Dataset)
                     else None)
    return sorted(out)


def _sequence_model(k):
    i = k.Input((6, 4))
    h = k.layers.LSTM(3, return_sequences=True)(i)
    h = k.layers.Bidirectional(k.layers.GRU(2, return_sequences=True))(h)
    h = k.layers.MultiHeadAttention(2, 3)(h, h)
    h = k.layers.TimeDistributed(k.layers.Dense(2))(h)
    h = k.layers.LayerNormalization()(h)
    return k.Model(i, k.layers.Dense(1)(k.layers.GlobalAveragePooling1D()(h)))


def _subclassed_model(k):
    class Net(k.Model):
        def __init__(self):
            super().__init__()
            self.emb = k.layers.Embedding(20, 4)
            self.rnn = k.layers.RNN([k.layers.LSTMCell(3), k.layers.GRUCell(2)])
            self.blocks = [k.layers.Dense(3), k.layers.Dense(3), k.layers.BatchNormalization()]
            self.out = k.layers.Dense(1)

        def call(self, x):
            h = self.rnn(self.emb(x))
            for b in self.blocks:
                h = b(h)
            return self.out(h)
    return Net()


@pytest.mark.parametrize("build,x", [
    (_sequence_model, rng.standard_normal((5, 6, 4)).astype(np.float32)),
    (_subclassed_model, rng.integers(0, 20, (5, 6)))], ids=["sequence", "subclassed"])
def test_weights_h5_of_layers_holding_layers_match_keras(tmp_path, build, x):
    """LSTM (cell), Bidirectional (forward_layer/backward_layer), MultiHeadAttention
    (query_dense, ...), TimeDistributed (layer), RNN over stacked cells and a subclassed model's
    attributes and lists: the same HDF5 groups as Keras, read both ways."""
    pytest.importorskip("h5py")
    lm.random.seed(5)
    lmod, km = build(lk), build(keras)
    lmod(x)
    km(x)
    pl, pk = str(tmp_path / "lamina.weights.h5"), str(tmp_path / "keras.weights.h5")
    lmod.save_weights(pl)
    km.save_weights(pk)
    assert _h5_datasets(pl) == _h5_datasets(pk)
    km.load_weights(pl)
    np.testing.assert_allclose(km.predict(x, verbose=0), lmod.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)
    km2 = build(keras)
    km2(x)
    km2.save_weights(pk)
    lmod.load_weights(pk)
    np.testing.assert_allclose(lmod.predict(x, verbose=0), km2.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)


def _archive_model(k):
    i = k.Input((6, 4), name="x")
    h = k.layers.LSTM(3, return_sequences=True)(i)
    h = k.layers.MultiHeadAttention(2, 3, sliding_window=3)(h, h)
    h = k.layers.LayerNormalization()(h)
    h = k.layers.GlobalAveragePooling1D()(h)
    h = k.layers.Dense(4, activation="relu", kernel_constraint="max_norm")(h)
    h = k.layers.BatchNormalization()(h)
    return k.Model(i, k.layers.Dense(3, activation="softmax")(h))


def test_keras_archives_cross_over_both_ways(tmp_path):
    """model.save('m.keras') in lamina -> keras.models.load_model (weights, compile config,
    trains on), and a Keras-written archive -> lamina's load_model."""
    pytest.importorskip("h5py")
    x = rng.standard_normal((16, 6, 4)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    lm.random.seed(8)
    ours = _archive_model(lk)
    ours.compile(lk.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                 metrics=["accuracy"])
    ours.fit(x, y, epochs=1, verbose=0)
    p = str(tmp_path / "lamina.keras")
    ours.save(p)
    theirs = keras.models.load_model(p)
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)
    assert type(theirs.optimizer).__name__ == "Adam"
    assert theirs.get_layer(index=2).get_config()["sliding_window"] == 3
    theirs.fit(x, y, epochs=1, verbose=0)

    k = _archive_model(keras)
    k.compile(keras.optimizers.RMSprop(1e-3), "sparse_categorical_crossentropy")
    k.fit(x, y, epochs=1, verbose=0)
    pk = str(tmp_path / "keras.keras")
    k.save(pk)
    back = lk.models.load_model(pk)
    np.testing.assert_allclose(back.predict(x, verbose=0), k.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)
    assert back.compiled and type(back.optimizer).__name__ == "RMSprop"
    back.fit(x, y, epochs=1, verbose=0)


@pytest.mark.parametrize("opt,kw", [
    ("Adam", {"learning_rate": 0.01}), ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.9, "centered": True}),
    ("Nadam", {"learning_rate": 0.01}), ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    ("Adagrad", {"learning_rate": "schedule"}), ("Muon", {"learning_rate": 0.02})])
def test_optimizer_state_crosses_over_in_keras_archives(tmp_path, opt, kw):
    """Training resumes exactly across libraries: after a few steps in one, the archive's
    optimizer state (Keras's optimizer/vars layout) continues in the other, and one more
    identical step gives the same weights on both sides."""
    pytest.importorskip("h5py")
    x = rng.standard_normal((32, 6)).astype(np.float32)
    y = rng.standard_normal((32, 2)).astype(np.float32)

    def build(k):
        m = k.Sequential([k.Input((6,)), k.layers.Dense(5, activation="tanh"),
                          k.layers.Dense(2)])
        kws = dict(kw)
        if kws.get("learning_rate") == "schedule":
            kws["learning_rate"] = k.optimizers.schedules.ExponentialDecay(0.1, 3, 0.5)
        m.compile(getattr(k.optimizers, opt)(**kws), "mse")
        return m
    for first, second in ((lk, keras), (keras, lk)):
        lm.random.seed(3)
        a = build(first)
        a.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        p = str(tmp_path / f"{first.__name__}.keras")
        a.save(p)
        b = second.models.load_model(p)
        a.train_on_batch(x[:8], y[:8])
        b.train_on_batch(x[:8], y[:8])
        for wa, wb in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_allclose(np.asarray(wb), np.asarray(wa), rtol=2e-4, atol=2e-6,
                                       err_msg=f"{first.__name__} -> {second.__name__}")


def test_conv_lstm2d_models_cross_over_in_keras_archives(tmp_path):
    """A model with stacked ConvLSTM2D layers saved by either library loads in the other and
    predicts the same (config names, weight paths and layouts agree)."""
    pytest.importorskip("h5py")
    x = rng.standard_normal((2, 3, 6, 5, 2)).astype(np.float32)
    for first, second in ((keras, lk), (lk, keras)):
        m = first.Sequential([first.Input((3, 6, 5, 2)),
                              first.layers.ConvLSTM2D(3, 3, padding="same",
                                                      return_sequences=True),
                              first.layers.ConvLSTM2D(2, 2)])
        p = str(tmp_path / f"{first.__name__}.keras")
        m.save(p)
        back = second.models.load_model(p)
        np.testing.assert_allclose(np.asarray(back.predict(x, verbose=0)),
                                   np.asarray(m.predict(x, verbose=0)), rtol=1e-5, atol=1e-6,
                                   err_msg=f"{first.__name__} -> {second.__name__}")


@pytest.mark.parametrize("opt,kw", [
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"learning_rate": 0.01, "gradient_accumulation_steps": 2}),
    ("Adam", {"learning_rate": 0.01, "use_ema": True, "ema_momentum": 0.9,
              "ema_overwrite_frequency": 3}),
    ("Adam", {"learning_rate": 0.01, "clipnorm": 0.1}),
    ("Adam", {"learning_rate": 0.01, "global_clipnorm": 0.1}),
    ("Adam", {"learning_rate": 0.01, "clipvalue": 0.01}),
    ("Adam", {"learning_rate": 0.01, "loss_scale_factor": 128.0}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    ("Ftrl", {"learning_rate": 0.05, "l1_regularization_strength": 0.01}),
    ("Adafactor", {"learning_rate": 0.01}), ("Lion", {"learning_rate": 0.001}),
])
def test_fit_with_optimizer_options_matches_keras(opt, kw):
    """The optimizer's options as fit uses them (loss scaling, accumulation, EMA, clipping,
    decay), not only as apply() sees them: same weights and losses after two epochs."""
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = rng.standard_normal((32, 2)).astype(np.float32)
    init, results = None, []
    for k in (lk, keras):
        m = k.Sequential([k.Input((4,)), k.layers.Dense(3, activation="tanh"),
                          k.layers.Dense(2)])
        if init is None:
            init = [np.asarray(w) for w in m.get_weights()]
        m.set_weights(init)
        m.compile(optimizer=getattr(k.optimizers, opt)(**kw), loss="mse")
        hist = m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        results.append(([np.asarray(w) for w in m.get_weights()], hist.history["loss"]))
    (ours, our_loss), (theirs, their_loss) = results
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(our_loss, their_loss, rtol=1e-4)
