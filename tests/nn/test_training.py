"""The training mixin: compile/fit/evaluate/predict, custom steps, data formats."""
import io
import contextlib

import numpy as np
import pytest

import lamina as lm
from lamina import keras
from lamina.nn.data_adapter import PyDataset


def _regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    w = np.array([[1.0], [-2.0], [0.5]], np.float32)
    return x, x @ w + 0.3


def _blobs(n=120, seed=0, classes=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    centers = rng.standard_normal((classes, 4)).astype(np.float32) * 3
    x = centers[y] + rng.standard_normal((n, 4)).astype(np.float32) * 0.5
    return x, y


def _dense_model(units=1, act=None, inp=3, name=None):
    return keras.Sequential([keras.Input((inp,)), keras.layers.Dense(units, activation=act)],
                            name=name)


def test_fit_converges_on_linear_regression():
    lm.random.seed(0)
    x, y = _regression()
    m = _dense_model()
    m.compile(keras.optimizers.SGD(0.1), "mse")
    h = m.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < 1e-3 < h.history["loss"][0]
    kernel, bias = m.get_weights()
    np.testing.assert_allclose(kernel[:, 0], [1, -2, 0.5], atol=0.05)
    np.testing.assert_allclose(bias, [0.3], atol=0.05)


def test_fit_classification_with_accuracy_and_validation_data():
    lm.random.seed(1)
    x, y = _blobs()
    m = _dense_model(3, "softmax", inp=4)
    m.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
    h = m.fit(x[:100], y[:100], epochs=40, batch_size=20, verbose=0,
              validation_data=(x[100:], y[100:]))
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 40 for v in h.history.values())
    assert h.history["accuracy"][-1] > 0.95 and h.history["val_accuracy"][-1] > 0.9
    loss, acc = m.evaluate(x[100:], y[100:], verbose=0)
    assert loss == pytest.approx(h.history["val_loss"][-1], rel=1e-5)
    d = m.evaluate(x[100:], y[100:], verbose=0, return_dict=True)
    assert d == {"loss": loss, "accuracy": acc}
    assert m.metrics_names == ["loss", "accuracy"]


def test_history_epoch_logs_equal_evaluate_on_frozen_weights():
    # the epoch's logged loss is the batch-size-weighted mean of the batch losses
    x, y = _regression(10)
    m = _dense_model()
    m.compile(keras.optimizers.SGD(0.0), "mse")       # lr 0: weights never change
    h = m.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    assert h.history["loss"][0] == pytest.approx(m.evaluate(x, y, verbose=0), rel=1e-5)


def test_validation_split_takes_the_last_samples():
    x, y = _regression(50)
    m = _dense_model()
    m.compile(keras.optimizers.SGD(0.0), "mse")
    h = m.fit(x, y, epochs=1, validation_split=0.2, verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(m.evaluate(x[40:], y[40:], verbose=0),
                                                     rel=1e-5)
    assert h.history["loss"][0] == pytest.approx(m.evaluate(x[:40], y[:40], verbose=0),
                                                 rel=1e-5)


def test_sample_weight_and_class_weight():
    x, y = _blobs(30)
    m = _dense_model(3, "softmax", inp=4)
    m.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    sw = np.where(y == 0, 2.0, 0.5).astype(np.float32)
    per = -np.log(m.predict(x, verbose=0)[np.arange(len(y)), y])
    got = m.evaluate(x, y, sample_weight=sw, verbose=0, batch_size=len(y))
    assert got == pytest.approx(float(np.mean(per * sw)), rel=1e-5)
    # class_weight is the same as the equivalent per-sample weights
    w0 = m.get_weights()
    h1 = m.fit(x, y, sample_weight=sw, epochs=1, verbose=0, shuffle=False)
    m.set_weights(w0)
    h2 = m.fit(x, y, class_weight={0: 2.0, 1: 0.5, 2: 0.5}, epochs=1, verbose=0, shuffle=False)
    assert h1.history["loss"] == pytest.approx(h2.history["loss"], rel=1e-6)
    with pytest.raises(ValueError, match="class_weight"):
        m.fit(x, y, class_weight={0: 1.0}, epochs=1, verbose=0)


def test_sample_weight_changes_training():
    lm.random.seed(0)
    x, y = _regression(32)
    y2 = y.copy()
    y2[:16] += 10.0                     # corrupted half, weighted zero
    sw = np.r_[np.zeros(16), np.ones(16)].astype(np.float32)
    m = _dense_model()
    m.compile(keras.optimizers.SGD(0.1), "mse")
    m.fit(x, y2, sample_weight=sw, epochs=60, batch_size=8, verbose=0)
    assert m.evaluate(x, y, verbose=0) < 1e-3


def test_multi_output_history_keys_follow_output_layer_names():
    inp = keras.Input((4,), name="x")
    h = keras.layers.Dense(8, activation="relu", name="hidden")(inp)
    a = keras.layers.Dense(3, activation="softmax", name="cls")(h)
    b = keras.layers.Dense(1, name="reg")(h)
    m = keras.Model(inp, [a, b])
    x, y = _blobs(40)
    yr = x[:, :1] * 2
    m.compile("sgd", loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5],
              metrics=[["accuracy"], ["mae"]])
    hist = m.fit(x, [y, yr], epochs=2, verbose=0, validation_split=0.25)
    assert set(hist.history) == {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae",
                                 "val_loss", "val_cls_loss", "val_reg_loss",
                                 "val_cls_accuracy", "val_reg_mae"}
    d = m.evaluate(x, [y, yr], verbose=0, return_dict=True)
    assert d["loss"] == pytest.approx(d["cls_loss"] + 0.5 * d["reg_loss"], rel=1e-5)
    # dict losses and targets keyed by output name
    m.compile("sgd", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
              metrics={"cls": "accuracy"})
    hist = m.fit(x, {"cls": y, "reg": yr}, epochs=1, verbose=0)
    assert set(hist.history) == {"loss", "cls_loss", "reg_loss", "cls_accuracy"}
    out = m.predict(x, verbose=0)
    assert isinstance(out, list) and out[0].shape == (40, 3) and out[1].shape == (40, 1)
    with pytest.raises(ValueError, match="do not name an output"):
        m.fit(x, {"cls": y, "nope": yr}, epochs=1, verbose=0)


def test_dict_inputs_by_name():
    a = keras.Input((2,), name="a")
    b = keras.Input((3,), name="b")
    out = keras.layers.Dense(1)(keras.layers.Concatenate()([a, b]))
    m = keras.Model({"a": a, "b": b}, out)
    m.compile("sgd", "mse")
    x = {"a": np.ones((8, 2), np.float32), "b": np.zeros((8, 3), np.float32)}
    h = m.fit(x, np.ones((8, 1), np.float32), epochs=2, batch_size=4, verbose=0)
    assert len(h.history["loss"]) == 2
    assert m.predict(x, verbose=0).shape == (8, 1)


def test_one_dimensional_integer_inputs_become_columns():
    m = keras.Sequential([keras.Input((1,), dtype="int64"),
                          keras.layers.Embedding(10, 4), keras.layers.Flatten(),
                          keras.layers.Dense(1)])
    m.compile("sgd", "mse")
    x = np.arange(10)                          # shape (10,), not (10, 1)
    m.fit(x, np.ones(10, np.float32), epochs=1, verbose=0)
    assert m.predict(x, verbose=0).shape == (10, 1)


def test_generator_and_pydataset():
    x, y = _regression(40)

    def gen():
        while True:
            for i in range(0, 40, 10):
                yield x[i:i + 10], y[i:i + 10]

    class DS(PyDataset):
        def __init__(self):
            super().__init__()
            self.epochs_seen = 0

        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[i * 10:(i + 1) * 10], y[i * 10:(i + 1) * 10]

        def on_epoch_end(self):
            self.epochs_seen += 1

    lm.random.seed(0)
    m = _dense_model()
    m.compile(keras.optimizers.SGD(0.05), "mse")
    h = m.fit(gen(), steps_per_epoch=4, epochs=3, verbose=0, validation_data=gen(),
              validation_steps=2)
    assert len(h.history["loss"]) == 3 and "val_loss" in h.history
    ds = DS()
    h2 = m.fit(ds, epochs=2, verbose=0)
    assert ds.epochs_seen == 2 and h2.history["loss"][1] < h.history["loss"][0]
    assert m.evaluate(DS(), verbose=0) == pytest.approx(m.evaluate(x, y, verbose=0), rel=1e-5)
    assert m.predict(DS(), verbose=0).shape == (40, 1)
    # a finite generator without steps_per_epoch: one epoch uses it up
    m.fit((b for b in [(x[:8], y[:8]), (x[8:16], y[8:16])]), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="exhausted"):
        g = (b for b in [(x[:8], y[:8])])
        m.fit(g, epochs=2, verbose=0)


def test_custom_train_step_with_gradient_tape():
    class MyModel(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)
            self.tracker = keras.metrics.Mean(name="my_loss")

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            x, y = data
            with lm.GradientTape() as tape:
                pred = self(x, training=True)
                loss = lm.mean(lm.square(pred - lm.tensor(y)))
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.tracker.update_state(loss.item())
            return {"my_loss": self.tracker.result()}

        @property
        def metrics(self):
            return [self.tracker]

    lm.random.seed(0)
    x, y = _regression()
    m = MyModel()
    m.compile(keras.optimizers.SGD(0.1))
    h = m.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert list(h.history) == ["my_loss"]
    assert h.history["my_loss"][-1] < 0.01 < h.history["my_loss"][0]


def test_custom_train_step_with_backward_and_compute_loss():
    class M(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = keras.layers.Dense(1)

        def call(self, x):
            return self.d(x)

        def train_step(self, data):
            x, y = data
            for v in self.trainable_weights:
                v.grad = None
            pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=pred)
            loss.backward()
            self.optimizer.apply([v.grad for v in self.trainable_weights],
                                 self.trainable_weights)
            self._loss_tracker.update_state(loss.item())
            return self.compute_metrics(x, y, pred)

    lm.random.seed(0)
    x, y = _regression()
    m = M()
    m.compile(keras.optimizers.SGD(0.1), "mse", metrics=["mae"])
    h = m.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert set(h.history) == {"loss", "mae"}
    assert h.history["loss"][-1] < 0.01


def test_add_loss_model_without_targets():
    class AE(keras.Model):
        def __init__(self):
            super().__init__()
            self.enc = keras.layers.Dense(2)
            self.dec = keras.layers.Dense(3)

        def call(self, x):
            out = self.dec(self.enc(x))
            self.add_loss(lm.mean(lm.square(out - x)))
            return out

    lm.random.seed(0)
    x, _ = _regression(64)
    m = AE()
    m.compile(keras.optimizers.Adam(0.01))
    h = m.fit(x, None, epochs=10, batch_size=16, verbose=0, validation_data=(x, None))
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert "val_loss" in h.history


def test_regularization_losses_are_added():
    x, y = _regression(8)
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(
        1, kernel_regularizer=keras.regularizers.L2(0.5), kernel_initializer="ones")])
    m.compile(keras.optimizers.SGD(0.0), "mse")
    plain = float(np.mean((m.predict(x, verbose=0) - y) ** 2))
    assert m.evaluate(x, y, verbose=0) == pytest.approx(plain + 0.5 * 3.0, rel=1e-5)


def test_on_batch_methods():
    x, y = _regression(8)
    m = _dense_model()
    m.compile(keras.optimizers.SGD(0.1), "mse", metrics=["mae"])
    before = m.test_on_batch(x, y)
    assert isinstance(before, list) and len(before) == 2
    logs = m.train_on_batch(x, y, return_dict=True)
    assert logs["loss"] == pytest.approx(before[0], rel=1e-5)
    after = m.test_on_batch(x, y, return_dict=True)
    assert after["loss"] < before[0]
    np.testing.assert_allclose(m.predict_on_batch(x), m.predict(x, verbose=0), rtol=1e-6)


def test_predict_is_batched_and_matches_call():
    x, _ = _regression(37)
    m = _dense_model(2)
    out = m.predict(x, batch_size=5, verbose=0)
    assert isinstance(out, np.ndarray) and out.shape == (37, 2)
    np.testing.assert_allclose(out, m(x).numpy(), rtol=1e-6, atol=1e-7)


def test_verbose_output_in_a_log_file_has_no_carriage_returns():
    x, y = _regression(40)
    m = _dense_model()
    m.compile("sgd", "mse", metrics=["mae"])
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        m.fit(x, y, epochs=3, batch_size=8, verbose=1, validation_split=0.25)
        m.evaluate(x, y, verbose=1)
    out = buf.getvalue()
    assert "\r" not in out and "\b" not in out
    assert out.count("Epoch ") == 3
    assert out.count("4/4 [" + "=" * 30 + "]") == 3      # 30 samples / batch 8 = 4 steps
    assert "loss:" in out and "val_mae:" in out
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        m.fit(x, y, epochs=2, verbose=0)
    assert buf.getvalue() == ""


def test_errors_are_clear():
    x, y = _regression(8)
    m = _dense_model()
    with pytest.raises(RuntimeError, match="compile"):
        m.fit(x, y, verbose=0)
    m.compile("sgd", "mse")
    with pytest.raises(ValueError, match="same number of samples"):
        m.fit(x, y[:5], verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        m.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        m.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match="verbose"):
        m.fit(x, y, verbose=5)


def test_stop_training_and_initial_epoch():
    x, y = _regression(16)
    m = _dense_model()
    m.compile("sgd", "mse")
    stopper = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: setattr(m, "stop_training", epoch >= 3))
    h = m.fit(x, y, epochs=10, verbose=0, callbacks=[stopper])
    assert h.epoch == [0, 1, 2, 3]
    h = m.fit(x, y, epochs=5, initial_epoch=3, verbose=0)
    assert h.epoch == [3, 4]


def test_validation_freq():
    x, y = _regression(16)
    m = _dense_model()
    m.compile("sgd", "mse")
    h = m.fit(x, y, epochs=4, verbose=0, validation_data=(x, y), validation_freq=2)
    assert len(h.history["loss"]) == 4 and len(h.history["val_loss"]) == 2


def test_freezing_after_compile_stops_updates():
    x, y = _regression(16)
    m = _dense_model()
    m.compile("sgd", "mse")
    w0 = m.get_weights()
    m.layers[0].trainable = False
    with pytest.warns(UserWarning, match="trainable weights"):
        m.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(w0, m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_fused_softmax_cross_entropy_matches_unfused():
    from lamina.nn import losses
    from lamina.nn.training import _call_loss
    rng = np.random.default_rng(0)
    z = lm.tensor(rng.standard_normal((6, 4)).astype(np.float32), requires_grad=True)
    t_sparse = rng.integers(0, 4, 6)
    t_dense = np.eye(4, dtype=np.float32)[t_sparse]
    for fn, t in ((losses.SparseCategoricalCrossentropy(), t_sparse),
                  (losses.CategoricalCrossentropy(), t_dense)):
        p = lm.softmax(z)
        fused = _call_loss(fn, t, p, None)
        (g1,) = lm.autograd.gradients(fused, [z])
        p = lm.softmax(z)
        ref = fn(t, p)
        (g2,) = lm.autograd.gradients(ref, [z])
        assert fused.item() == pytest.approx(ref.item(), rel=1e-5)
        np.testing.assert_allclose(g1.numpy(), g2.numpy(), rtol=1e-4, atol=1e-6)


def test_weighted_metrics_and_name_clashes():
    x, y = _blobs(30)
    sw = np.where(y == 0, 1.0, 0.0).astype(np.float32)
    m = _dense_model(3, "softmax", inp=4)
    m.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy",
              metrics=["accuracy", "accuracy"], weighted_metrics=["accuracy"])
    d = m.evaluate(x, y, sample_weight=sw, return_dict=True, verbose=0)
    assert set(d) == {"loss", "accuracy", "accuracy_1", "weighted_accuracy"}
    pred = m.predict(x, verbose=0).argmax(-1)
    assert d["accuracy"] == pytest.approx(np.mean(pred == y), rel=1e-5)
    assert d["weighted_accuracy"] == pytest.approx(np.mean((pred == y)[y == 0]), rel=1e-5)


class _TTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_redraws_with_carriage_returns_only():
    x, y = _regression(64)
    m = _dense_model()
    m.compile("sgd", "mse")
    buf = _TTY()
    with contextlib.redirect_stdout(buf):
        m.fit(x, y, epochs=2, batch_size=8, verbose=1)
    out = buf.getvalue()
    assert "\b" not in out and "\r" in out and "ETA" in out
    assert out.count("8/8 [" + "=" * 30 + "]") == 2


def test_notebook_detection(monkeypatch):
    import sys
    import types
    from lamina.nn import progbar

    class ZMQInteractiveShell:
        config = {"IPKernelApp": {}}
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: ZMQInteractiveShell()
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert progbar.stream_is_interactive(sys.stdout)
    assert not progbar.stream_is_interactive(io.StringIO())
    fake.get_ipython = lambda: None             # IPython imported, but no kernel
    assert not progbar._in_notebook()


def test_fused_loss_is_skipped_for_softmax_over_another_axis():
    from lamina.nn import losses
    from lamina.nn.training import _call_loss
    z = lm.tensor(np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32),
                  requires_grad=True)
    t = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    p = lm.softmax(z, axis=0)                  # columns sum to 1, rows do not
    got = _call_loss(losses.CategoricalCrossentropy(), t, p, None)
    ref = losses.CategoricalCrossentropy()(t, lm.softmax(z, axis=0))
    assert got.item() == pytest.approx(ref.item(), rel=1e-6)


def test_fit_evaluate_predict_on_every_device(device, tmp_path):
    lm.random.seed(0)
    x, y = _blobs(64)
    m = _dense_model(3, "softmax", inp=4).to(device)
    m.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy",
              metrics=["accuracy"])
    h = m.fit(x, y, epochs=10, batch_size=16, verbose=0, validation_split=0.25)
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert str(m.weights[0].device).startswith(device)
    out = m.predict(x, verbose=0)
    assert isinstance(out, np.ndarray) and out.shape == (64, 3)
    assert m.evaluate(x, y, verbose=0, return_dict=True)["accuracy"] > 0.8
    p = tmp_path / "m.weights.safetensors"
    m.save_weights(p)
    m2 = _dense_model(3, "softmax", inp=4)
    m2.load_weights(p)
    np.testing.assert_allclose(m2.predict(x, verbose=0), out, rtol=1e-5, atol=1e-6)


def test_steps_per_epoch_and_batch_shuffle_with_arrays():
    x, y = _regression(40)
    m = _dense_model()
    m.compile("sgd", "mse")
    seen = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    m.fit(x, y, batch_size=8, epochs=2, steps_per_epoch=3, verbose=0, callbacks=[cb])
    assert seen == [0, 1, 2, 0, 1, 2]
    h = m.fit(x, y, batch_size=8, epochs=1, shuffle="batch", verbose=0,
              validation_data=(x, y), validation_batch_size=40)
    assert np.isfinite(h.history["val_loss"][0])


def test_compute_loss_override_without_training_argument():
    class M(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = keras.layers.Dense(1)
            self.calls = 0

        def call(self, x):
            return self.d(x)

        def compute_loss(self, x, y, y_pred, sample_weight=None):     # Keras < 3.3 style
            self.calls += 1
            return lm.mean(lm.abs(y_pred - lm.tensor(y)))

    x, y = _regression(16)
    m = M()
    m.compile(keras.optimizers.SGD(0.05))
    h = m.fit(x, y, batch_size=8, epochs=3, verbose=0)
    assert m.calls == 6 and h.history["loss"][-1] < h.history["loss"][0]
    m.evaluate(x, y, verbose=0)
    assert m.calls == 7              # one evaluation batch of 16


def test_metrics_held_as_attributes_are_tracked_and_replaced():
    m = _dense_model()
    m.compile("sgd", "mse")
    assert m.metrics_names == ["loss"]
    m.extra = keras.metrics.Mean(name="extra")
    assert m.metrics_names == ["loss", "extra"]
    m.extra = keras.metrics.Mean(name="extra2")          # replaced, not added
    assert m.metrics_names == ["loss", "extra2"]
    del m.extra
    assert m.metrics_names == ["loss"]


def test_distribution_strategy_hooks_are_called():
    calls = []

    class FakeStrategy:
        stop_each_batch = True

        def distribute_data(self, adapter):
            calls.append("data")
            return adapter

        def verbose(self, v):
            return 0

        def callbacks(self, cbs):
            calls.append("callbacks")
            return cbs

        def on_train_begin(self, model, initial_epoch=0, callbacks=None):
            calls.append("begin")
            return initial_epoch

        def reduce_gradients(self, grads, variables=None, weight=None):
            calls.append(("reduce", weight))
            return [g * 0 for g in grads]          # the update uses what this returns

        def any(self, flag):
            calls.append("any")
            return bool(flag)

        def on_epoch_end(self, model):
            calls.append("epoch_end")

        def sync_metrics(self, model):
            calls.append("sync")

    x, y = _regression(10)
    m = _dense_model()
    m.compile(keras.optimizers.SGD(0.1), "mse")
    assert m.distribute_strategy is None
    m.distribute_strategy = FakeStrategy()
    w0 = m.get_weights()
    m.fit(x, y, batch_size=6, epochs=1, validation_data=(x, y))
    for a, b in zip(w0, m.get_weights()):
        np.testing.assert_array_equal(a, b)          # zeroed "reduced" gradients
    assert calls[:4] == ["data", "data", "callbacks", "begin"]
    assert ("reduce", 6) in calls and ("reduce", 4) in calls
    assert calls.count("any") == 3                   # after each batch and at epoch end
    assert calls.index("epoch_end") < calls.index("sync")


def test_metrics_list_on_a_multi_output_model_is_one_entry_per_output():
    """Keras 3: ['mae', 'mse'] on two outputs gives a_mae and b_mse; a list of another
    length is an error (a dict gives metrics to some outputs only)."""
    from lamina import keras
    i = keras.Input((3,))
    m = keras.Model(i, [keras.layers.Dense(2, name="a")(i), keras.layers.Dense(2, name="b")(i)])
    x, ys = np.ones((4, 3), "f4"), [np.ones((4, 2), "f4"), np.zeros((4, 2), "f4")]
    m.compile("sgd", loss=["mse", "mse"], metrics=["mae", ["mse", "mae"]])
    h = m.fit(x, ys, epochs=1, verbose=0)
    assert sorted(h.history) == ["a_loss", "a_mae", "b_loss", "b_mae", "b_mse", "loss"]
    with pytest.raises(ValueError, match="2 outputs .* one entry per output"):
        m.compile("sgd", loss="mse", metrics=["mae"])
        m.fit(x, ys, epochs=1, verbose=0)


@pytest.mark.parametrize("factor", [4.0, 1024.0])
def test_loss_scale_factor_leaves_the_training_step_unchanged(factor):
    # fit takes gradients of the scaled loss and the optimizer divides them again (Keras 3):
    # the weights move exactly as without scaling, and the reported loss is unscaled
    x = np.random.default_rng(5).standard_normal((16, 3)).astype(np.float32)
    y = np.ones((16, 1), np.float32)
    results = []
    for f in (None, factor):
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, kernel_initializer="ones")])
        opt = keras.optimizers.SGD(0.1, momentum=0.5, loss_scale_factor=f)
        m.compile(optimizer=opt, loss="mse")
        losses = [m.train_on_batch(x, y) for _ in range(3)]
        results.append((m.get_weights(), losses))
    (w0, l0), (w1, l1) = results
    for a, b in zip(w0, w1):
        np.testing.assert_allclose(b, a, rtol=1e-5)
    np.testing.assert_allclose(l1, l0, rtol=1e-5)
    assert keras.optimizers.SGD(loss_scale_factor=factor).scale_loss(2.0) == 2.0 * factor


@pytest.mark.gpu
@pytest.mark.skipif(not lm.cuda.is_available(), reason="needs CUDA and CuPy")
def test_fit_on_the_gpu_reads_no_value_back_per_batch(monkeypatch):
    """Without callbacks that read each batch's logs, fit converts device values to Python
    floats at epoch ends only (a float per batch would wait for the GPU every step)."""
    from lamina.nn import training
    calls = []
    real = training._float
    monkeypatch.setattr(training, "_float", lambda v: calls.append(1) or real(v))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((640, 4)).astype(np.float32), rng.integers(0, 3, 640)
    counts = []
    for epochs in (1, 3):
        m = _dense_model(3, "softmax", inp=4).to("cuda")
        m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        calls.clear()
        m.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
        counts.append(len(calls))
    # 20 batches an epoch: the conversions grow with epochs, not with batches
    assert counts[0] < 10 and counts[1] == 3 * counts[0], counts
