"""Callbacks do what they say: hooks order, EarlyStopping, ModelCheckpoint, schedulers..."""
import csv
import math
import os

import numpy as np
import pytest

import lamina as lm
from lamina import keras
from lamina.nn import callbacks as C


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    return x, x @ np.array([[1.0], [-1.0], [2.0]], np.float32)


def _model(lr=0.05):
    lm.random.seed(0)
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    m.compile(keras.optimizers.SGD(lr), "mse")
    return m


class Recorder(C.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        attr = object.__getattribute__(self, name)
        if name.startswith("on_") and callable(attr):
            def rec(*a, **k):
                self.calls.append(name)
                return attr(*a, **k)
            return rec
        return attr


class BatchRecorder(C.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    for _h in ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
               "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
               "on_test_batch_begin", "on_test_batch_end", "on_predict_begin",
               "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end"):
        exec(f"def {_h}(self, *a, **k):\n    self.calls.append('{_h}')")


def test_every_hook_is_called_in_order():
    x, y = _data(8)
    m = _model()
    r = BatchRecorder()
    m.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[r], validation_data=(x, y))
    c = r.calls
    assert c[0] == "on_train_begin" and c[-1] == "on_train_end"
    assert c[1:8] == ["on_epoch_begin", "on_train_batch_begin", "on_train_batch_end",
                      "on_train_batch_begin", "on_train_batch_end", "on_test_begin",
                      "on_test_batch_begin"]
    assert c.count("on_epoch_end") == 2 and c.count("on_train_batch_end") == 4
    assert r.model is m and r.params["epochs"] == 2 and r.params["steps"] == 2
    r.calls.clear()
    m.predict(x, batch_size=4, verbose=0, callbacks=[r])
    assert r.calls == ["on_predict_begin", "on_predict_batch_begin", "on_predict_batch_end",
                       "on_predict_batch_begin", "on_predict_batch_end", "on_predict_end"]
    r.calls.clear()
    m.evaluate(x, y, batch_size=8, verbose=0, callbacks=[r])
    assert r.calls == ["on_test_begin", "on_test_batch_begin", "on_test_batch_end",
                       "on_test_end"]


def test_batch_logs_and_epoch_logs():
    x, y = _data(8)
    m = _model()
    seen = []
    cb = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: seen.append((b, dict(logs))),
        on_epoch_end=lambda e, logs: seen.append(("epoch", dict(logs))))
    m.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[cb])
    assert [s[0] for s in seen] == [0, 1, "epoch"]
    assert isinstance(seen[0][1]["loss"], float)
    assert seen[2][1]["loss"] == pytest.approx(seen[1][1]["loss"])


def test_callback_list_skips_unused_batch_hooks():
    cl = C.CallbackList([C.History(), C.EarlyStopping()])
    assert not cl.wants("on_train_batch_end") and not cl.wants("on_train_batch_begin")
    cl = C.CallbackList([C.TerminateOnNaN()])
    assert cl.wants("on_train_batch_end")

    class Old(C.Callback):
        def on_batch_end(self, batch, logs=None):
            pass
    assert C.CallbackList([Old()]).wants("on_train_batch_end")


def test_history_and_model_history():
    x, y = _data()
    m = _model()
    h = m.fit(x, y, epochs=3, verbose=0)
    assert isinstance(h, C.History) and m.history is h
    assert h.epoch == [0, 1, 2] and len(h.history["loss"]) == 3


def test_early_stopping_restores_best_weights():
    x, y = _data()
    m = _model()
    recorded = {}

    # val_loss goes down then up: make the validation targets drift after epoch 2
    class Spy(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            recorded[epoch] = (logs["val_loss"], m.get_weights())

    losses = iter([5.0, 3.0, 1.0, 2.0, 4.0, 6.0, 7.0, 8.0])

    class FakeVal(C.Callback):      # runs before EarlyStopping: overrides val_loss
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(losses)

    es = C.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    h = m.fit(x, y, epochs=8, verbose=0, validation_data=(x, y),
              callbacks=[FakeVal(), Spy(), es])
    assert h.epoch == [0, 1, 2, 3, 4]              # stopped 2 epochs after the best
    assert es.stopped_epoch == 4 and es.best == 1.0 and es.best_epoch == 2
    for a, b in zip(m.get_weights(), recorded[2][1]):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_modes_baseline_and_start_epoch():
    es = C.EarlyStopping(monitor="val_accuracy")
    assert es.mode == "max"
    es = C.EarlyStopping(monitor="loss", min_delta=0.5, patience=1)

    class M:
        stop_training = False

        def get_weights(self):
            return []
    es.set_model(M())
    es.on_train_begin()
    for e, v in enumerate([10.0, 9.8, 9.7]):      # improvements below min_delta
        es.on_epoch_end(e, {"loss": v})
    assert es.model.stop_training
    for baseline, stop_epoch in ((1.0, 2), (None, 3)):
        # improvements that do not beat the baseline do not reset the patience count
        es = C.EarlyStopping(monitor="loss", patience=2, baseline=baseline)
        es.set_model(M())
        es.on_train_begin()
        for e, v in enumerate([5.0, 4.0, 4.5, 4.6]):
            es.on_epoch_end(e, {"loss": v})
            if es.model.stop_training:
                break
        assert es.stopped_epoch == stop_epoch
    es = C.EarlyStopping(monitor="loss", patience=0, start_from_epoch=3)
    es.set_model(M())
    es.on_train_begin()
    for e, v in enumerate([1.0, 2.0, 3.0]):
        es.on_epoch_end(e, {"loss": v})
    assert not es.model.stop_training


def test_early_stopping_warns_on_missing_metric():
    x, y = _data(8)
    m = _model()
    with pytest.warns(UserWarning, match="val_loss"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[C.EarlyStopping()])


def test_model_checkpoint_formats_name_and_keeps_best(tmp_path):
    x, y = _data()
    m = _model()
    vals = iter([3.0, 1.0, 2.0, 0.5])

    class FakeVal(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(vals)

    path = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.weights.safetensors")
    mc = C.ModelCheckpoint(path, save_best_only=True, save_weights_only=True)
    m.fit(x, y, epochs=4, verbose=0, callbacks=[FakeVal(), mc])
    assert sorted(os.listdir(tmp_path)) == ["ckpt-01-3.00.weights.safetensors",
                                            "ckpt-02-1.00.weights.safetensors",
                                            "ckpt-04-0.50.weights.safetensors"]
    # a fixed name with save_best_only keeps the best epoch's weights
    best = str(tmp_path / "best.keras")
    vals2 = iter([3.0, 1.0, 2.0])
    snap = {}

    class FakeVal2(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(vals2)
            snap[epoch] = m.get_weights()

    m.fit(x, y, epochs=3, verbose=0,
          callbacks=[FakeVal2(), C.ModelCheckpoint(best, save_best_only=True)])
    loaded = keras.models.load_model(best)
    for a, b in zip(loaded.get_weights(), snap[1]):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_every_epoch_and_bad_paths(tmp_path):
    x, y = _data(8)
    m = _model()
    m.fit(x, y, epochs=2, verbose=0, callbacks=[
        C.ModelCheckpoint(str(tmp_path / "m{epoch}.keras"), monitor="loss")])
    assert sorted(os.listdir(tmp_path)) == ["m1.keras", "m2.keras"]
    with pytest.raises(ValueError, match=".keras"):
        C.ModelCheckpoint(str(tmp_path / "m.h5"))
    with pytest.raises(ValueError, match="weights"):
        C.ModelCheckpoint(str(tmp_path / "m.keras"), save_weights_only=True)
    with pytest.raises(KeyError, match="nope"):
        m.fit(x, y, epochs=1, verbose=0,
              callbacks=[C.ModelCheckpoint(str(tmp_path / "{nope}.keras"))])


def test_reduce_lr_on_plateau():
    x, y = _data(8)
    m = _model(lr=0.01)
    vals = iter([1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5])

    class FakeVal(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(vals)

    cb = C.ReduceLROnPlateau(factor=0.5, patience=2, min_lr=0.001, cooldown=0)
    h = m.fit(x, y, epochs=7, verbose=0, callbacks=[FakeVal(), cb])
    lrs = h.history["learning_rate"]
    assert lrs[0] == pytest.approx(0.01)
    assert m.optimizer.learning_rate == pytest.approx(0.005 * 0.5)
    with pytest.raises(ValueError, match="factor"):
        C.ReduceLROnPlateau(factor=2.0)


def test_learning_rate_scheduler():
    x, y = _data(8)
    m = _model(lr=0.1)
    seen = []
    cb = C.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)
    spy = C.LambdaCallback(on_epoch_begin=lambda e, l: seen.append(m.optimizer.learning_rate))
    h = m.fit(x, y, epochs=3, verbose=0, callbacks=[cb, spy])
    assert seen == pytest.approx([0.1, 0.05, 0.025])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])


def test_terminate_on_nan():
    x, y = _data(16)
    y[5] = np.nan
    m = _model()
    h = m.fit(x, y, batch_size=4, epochs=3, verbose=0, shuffle=False,
              callbacks=[C.TerminateOnNaN()])
    assert h.epoch == [0] and math.isnan(h.history["loss"][0])


def test_csv_logger(tmp_path):
    x, y = _data(8)
    m = _model()
    p = tmp_path / "log.csv"
    m.fit(x, y, epochs=3, verbose=0, validation_data=(x, y), callbacks=[C.CSVLogger(str(p))])
    rows = list(csv.DictReader(open(p)))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert set(rows[0]) == {"epoch", "loss", "val_loss"}
    m.fit(x, y, epochs=1, verbose=0, callbacks=[C.CSVLogger(str(p), append=True)])
    assert len(list(csv.DictReader(open(p)))) == 4


def test_lambda_callback_rejects_unknown_hooks():
    with pytest.raises(ValueError, match="unknown hook"):
        C.LambdaCallback(on_banana=print)


def test_backup_and_restore_resumes_an_interrupted_fit(tmp_path):
    x, y = _data(16)

    def fresh():
        lm.random.seed(0)
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        m.compile(keras.optimizers.Adam(0.05), "mse")
        return m

    full = fresh()
    lm.random.seed(5)
    full.fit(x, y, epochs=4, batch_size=4, verbose=0, shuffle=False)

    class Crash(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("preempted")

    bdir = tmp_path / "backup"
    m = fresh()
    with pytest.raises(RuntimeError, match="preempted"):
        m.fit(x, y, epochs=4, batch_size=4, verbose=0, shuffle=False,
              callbacks=[C.BackupAndRestore(bdir), Crash()])
    assert sorted(os.listdir(bdir)) == ["latest.keras", "training_metadata.json"]
    m2 = fresh()                               # a new process would rebuild the model
    h = m2.fit(x, y, epochs=4, batch_size=4, verbose=0, shuffle=False,
               callbacks=[C.BackupAndRestore(bdir)])
    assert h.epoch == [2, 3]
    for a, b in zip(m2.get_weights(), full.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert os.listdir(bdir) == []              # removed after a normal end


def test_unsupported_callbacks_say_so():
    with pytest.raises(NotImplementedError, match="CSVLogger"):
        C.TensorBoard("logs")
