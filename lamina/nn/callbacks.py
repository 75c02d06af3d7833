"""Callbacks: hooks that ``fit``/``evaluate``/``predict`` call around epochs and batches.

Names, arguments and defaults follow Keras 3.  ``logs`` are dicts of Python floats.
"""
from __future__ import annotations

import csv
import math
import os
import sys
import warnings

import numpy as np

__all__ = ["Callback", "CallbackList", "History", "EarlyStopping", "ModelCheckpoint",
           "ReduceLROnPlateau", "LearningRateScheduler", "TerminateOnNaN", "CSVLogger",
           "LambdaCallback", "ProgbarLogger", "BackupAndRestore", "TensorBoard",
           "RemoteMonitor"]


class Callback:
    """Base class: override any ``on_*`` hook.  ``self.model`` and ``self.params``
    (``epochs``, ``steps``, ``verbose``) are set by the training loop."""

    def __init__(self):
        self.model = None
        self.params = {}
        self.validation_data = None

    def set_params(self, params):
        """Receive the loop's parameters (``epochs``, ``steps``, ``verbose``)."""
        self.params = params

    def set_model(self, model):
        """Attach the model being trained."""
        self.model = model

    def on_batch_begin(self, batch, logs=None):
        """Alias of on_train_batch_begin (Keras 2 name)."""

    def on_batch_end(self, batch, logs=None):
        """Alias of on_train_batch_end (Keras 2 name)."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of every epoch."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of every epoch; ``logs`` holds its metrics and val_ ones."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called before each training batch."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """Called after each training batch with its logs."""
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        """Called before each evaluation batch."""

    def on_test_batch_end(self, batch, logs=None):
        """Called after each evaluation batch."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before each prediction batch."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called after each prediction batch."""

    def on_train_begin(self, logs=None):
        """Called once when fit starts."""

    def on_train_end(self, logs=None):
        """Called once when fit ends."""

    def on_test_begin(self, logs=None):
        """Called when evaluation starts."""

    def on_test_end(self, logs=None):
        """Called when evaluation ends."""

    def on_predict_begin(self, logs=None):
        """Called when prediction starts."""

    def on_predict_end(self, logs=None):
        """Called when prediction ends."""


_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
                "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end",
                "on_batch_begin", "on_batch_end")


def _overrides(cb, hook):
    if getattr(cb, "_skip_batch_hooks", False):
        return False
    if hook in getattr(cb, "__dict__", {}):      # LambdaCallback sets hooks on the instance
        return True
    fn = getattr(type(cb), hook, None)
    base = getattr(Callback, hook)
    if fn is None:
        return callable(getattr(cb, hook, None))
    if fn is not base:
        return True
    # on_train_batch_* of the base forward to on_batch_*: overridden if those are
    if hook.startswith("on_train_batch_"):
        return _overrides(cb, hook.replace("on_train_batch_", "on_batch_"))
    return False


class CallbackList(Callback):
    """Calls every hook on each callback in order.  Batch hooks are dispatched only to
    callbacks that override them, so the training loop skips the call when none does."""

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None,
                 **params):
        super().__init__()
        self.callbacks = list(callbacks or [])
        if add_history and not any(isinstance(c, History) for c in self.callbacks):
            self.callbacks.append(History())
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.insert(0, ProgbarLogger())
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)
        self._refresh()

    def _refresh(self):
        self._batch = {h: [getattr(c, h) for c in self.callbacks if _overrides(c, h)]
                       for h in _BATCH_HOOKS}

    def wants(self, hook):
        """True when some callback overrides the batch hook ``hook``."""
        return bool(self._batch[hook])

    def append(self, cb):
        self.callbacks.append(cb)
        if self.model is not None:
            cb.set_model(self.model)
        cb.set_params(self.params)
        self._refresh()

    def set_params(self, params):
        self.params = params
        for c in self.callbacks:
            c.set_params(params)

    def set_model(self, model):
        self.model = model
        for c in self.callbacks:
            c.set_model(model)

    def _call(self, hook, *args):
        for c in self.callbacks:
            getattr(c, hook)(*args)

    def _batch_call(self, hook, batch, logs):
        for fn in self._batch[hook]:
            fn(batch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._batch_call("on_train_batch_end", batch, logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._batch_call("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._batch_call("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._batch_call("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._batch_call("on_predict_batch_end", batch, logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs)

    def __iter__(self):
        return iter(self.callbacks)


class History(Callback):
    """Records the logs of every epoch: ``history.history = {'loss': [...], ...}``."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self


class ProgbarLogger(Callback):
    """Prints the progress bar (verbose=1) or one line per epoch (verbose=2)."""

    def __init__(self, count_mode="steps", stream=None):
        super().__init__()
        self.stream = stream
        self.verbose = 1
        self.epochs = 1
        self.target = None
        self.bar = None
        self._seen = 0
        self._train = False

    def set_params(self, params):
        super().set_params(params)
        self.verbose = params.get("verbose", 1)
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")
        from .progbar import stream_is_interactive
        # per-batch redraws only on a terminal/notebook with verbose=1: elsewhere the
        # training loop need not call (or build logs for) the batch hooks at all
        self._skip_batch_hooks = self.target is not None and not (
            self.verbose == 1 and stream_is_interactive(self._stream()))

    def _stream(self):
        if self.stream is not None:
            return self.stream
        from .progbar import is_interactive_logging_enabled, LogStream
        if is_interactive_logging_enabled():
            return sys.stdout
        # keras.config.disable_interactive_logging(): lines go to the logging module
        log = self.__dict__.get("_log_stream")
        if log is None:
            log = self.__dict__["_log_stream"] = LogStream()
        return log

    def _new_bar(self, target):
        from .progbar import Progbar
        # batch hooks may be skipped (known step count, no redraws): assume a full pass
        self._seen = target if self._skip_batch_hooks and target else 0
        self.bar = Progbar(target, verbose=self.verbose, stream=self._stream(),
                           stateful_metrics=True)

    def on_train_begin(self, logs=None):
        self._train = True

    def on_train_end(self, logs=None):
        self._train = False

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose and self.epochs > 1:
            self._stream().write(f"Epoch {epoch + 1}/{self.epochs}\n")
        self._new_bar(self.target)

    def on_train_batch_end(self, batch, logs=None):
        self._seen = batch + 1
        if self.verbose == 1 and self.bar is not None and self.bar.interactive:
            self.bar.update(self._seen, _pairs(logs))

    def on_epoch_end(self, epoch, logs=None):
        if self.verbose and self.bar is not None:
            self.bar.update(self._seen, _pairs(logs), finalize=True)

    def on_test_begin(self, logs=None):
        if not self._train:
            self._new_bar(self.params.get("steps"))

    def on_test_batch_end(self, batch, logs=None):
        if not self._train:
            self._seen = batch + 1
            if self.verbose == 1 and self.bar is not None and self.bar.interactive:
                self.bar.update(self._seen, _pairs(logs))

    def on_test_end(self, logs=None):
        if not self._train and self.verbose and self.bar is not None:
            self.bar.update(self._seen, _pairs(logs), finalize=True)

    def on_predict_begin(self, logs=None):
        self._new_bar(self.params.get("steps"))

    def on_predict_batch_end(self, batch, logs=None):
        self._seen = batch + 1
        if self.verbose == 1 and self.bar is not None and self.bar.interactive:
            self.bar.update(self._seen)

    def on_predict_end(self, logs=None):
        if self.verbose and self.bar is not None:
            self.bar.update(self._seen, finalize=True)


def _pairs(logs):
    return [(k, v) for k, v in (logs or {}).items() if np.ndim(v) == 0]


# ------------------------------------------------------------------ monitors
def _monitor_op(mode, monitor, who):
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{who}: mode {mode!r} is unknown, falling back to 'auto'")
        mode = "auto"
    if mode == "auto":
        m = monitor.lower()
        maximize = any(s in m for s in ("acc", "auc", "precision", "recall", "f1", "fmeasure"))
        mode = "max" if maximize and "loss" not in m else "min"
    return mode


class _Monitor(Callback):
    def _setup_monitor(self, monitor, mode, min_delta, who):
        self.monitor = monitor
        self.mode = _monitor_op(mode, monitor, who)
        self.min_delta = abs(min_delta)
        self._who = who

    def _improved(self, current, reference):
        if reference is None:
            return True
        if self.mode == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta

    def _get(self, logs):
        v = (logs or {}).get(self.monitor)
        if v is None:
            warnings.warn(f"{self._who}: metric {self.monitor!r} is not in the logs (available: "
                          f"{sorted((logs or {}).keys())}); skipping", stacklevel=3)
        return None if v is None else float(v)


class EarlyStopping(_Monitor):
    """Stop training when ``monitor`` has not improved by ``min_delta`` for ``patience``
    epochs; with ``restore_best_weights`` the best epoch's weights are put back."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self._setup_monitor(monitor, mode, min_delta, "EarlyStopping")
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = self._get(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._improved(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(_Monitor):
    """Save the model (or its weights) after every epoch, or only when ``monitor``
    improves (``save_best_only``).  ``filepath`` may hold ``{epoch:02d}`` and any log key,
    e.g. ``'ckpt-{epoch:02d}-{val_loss:.2f}.keras'``."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__()
        self._setup_monitor(monitor, mode, 0, "ModelCheckpoint")
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        if save_freq != "epoch" and not isinstance(save_freq, int):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or an int, got "
                             f"{save_freq!r}")
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self._batches_seen = 0
        self._epoch = 0
        if save_weights_only:
            if not (self.filepath.endswith(".weights.h5") or ".safetensors" in self.filepath):
                raise ValueError("ModelCheckpoint: with save_weights_only=True the filepath must "
                                 "end in '.weights.h5' or '.weights.safetensors', got "
                                 f"{self.filepath!r}")
        elif not self.filepath.endswith(".keras"):
            raise ValueError("ModelCheckpoint: the filepath must end in '.keras' (or pass "
                             f"save_weights_only=True), got {self.filepath!r}")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if isinstance(self.save_freq, int):
            self._batches_seen += 1
            if self._batches_seen % self.save_freq == 0:
                self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _path(self, epoch, batch, logs):
        try:
            fmt = dict(logs or {})
            if batch is None:
                return self.filepath.format(epoch=epoch + 1, **fmt)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **fmt)
        except KeyError as e:
            raise KeyError(f"ModelCheckpoint: the filepath {self.filepath!r} names {e}, which is "
                           f"not in the logs (available: {sorted((logs or {}).keys())})") from None

    def _save(self, epoch, batch, logs):
        path = self._path(epoch, batch, logs)
        if self.save_best_only:
            current = self._get(logs)
            if current is None:
                return
            if not self._improved(current, self.best):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best}")
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best} to "
                      f"{current}, saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when ``monitor`` stalls for ``patience``
    epochs, then wait ``cooldown`` epochs; never below ``min_lr``."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor}")
        self._setup_monitor(monitor, mode, min_delta, "ReduceLROnPlateau")
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(_get_lr(self.model.optimizer))
        current = self._get(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current, self.best):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(_get_lr(self.model.optimizer))
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    _set_lr(self.model.optimizer, new)
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                              f"to {new}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


def _get_lr(opt):
    lr = opt.learning_rate
    v = getattr(lr, "data", lr)
    if callable(v):
        it = getattr(opt, "iterations", 0)
        v = v(int(np.asarray(getattr(it, "data", it))))
    return float(np.asarray(getattr(v, "data", v)))


def _set_lr(opt, value):
    lr = getattr(opt, "learning_rate", None)
    if callable(lr) and not hasattr(lr, "assign"):
        raise TypeError("cannot change the learning rate of an optimizer driven by a "
                        f"LearningRateSchedule ({type(lr).__name__})")
    if hasattr(lr, "assign"):
        lr.assign(np.asarray(value, dtype=np.asarray(lr.data).dtype))
    else:
        opt.learning_rate = float(value)


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch start to ``schedule(epoch, lr)``."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = _get_lr(self.model.optimizer)
        try:
            new = self.schedule(epoch, lr)
        except TypeError:           # Keras 1 style: schedule(epoch)
            new = self.schedule(epoch)
        new = float(np.asarray(getattr(new, "data", new)))
        if not math.isfinite(new):
            raise ValueError(f"LearningRateScheduler: the schedule returned {new} at epoch "
                             f"{epoch}")
        _set_lr(self.model.optimizer, new)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {new}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _get_lr(self.model.optimizer)


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Write one CSV row per epoch (epoch + every log key) to ``filename``."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self._file = None
        self._writer = None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename)
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._header_done = bool(exists)
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs.keys())
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self.keys,
                                          delimiter=self.sep)
            if not self._header_done:
                self._writer.writeheader()
        row = {"epoch": epoch}
        row.update({k: logs.get(k, "NA") for k in self.keys})
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


class LambdaCallback(Callback):
    """A callback from plain functions: ``on_epoch_begin(epoch, logs)``, ``on_epoch_end``,
    ``on_train_batch_begin(batch, logs)`` / ``on_batch_begin`` ..., ``on_train_begin(logs)``,
    ``on_train_end(logs)`` and any other hook name."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for k in ("on_batch_begin", "on_batch_end"):
            if given.get(k) is not None:
                given["on_train_" + k[3:]] = given.pop(k)
        for name, fn in given.items():
            if fn is None:
                continue
            if not hasattr(Callback, name):
                raise ValueError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, fn)


class BackupAndRestore(Callback):
    """Keep the latest training state (weights, optimizer state, epoch) in ``backup_dir``
    so that re-running the same ``fit`` after a crash resumes where it stopped.  The
    backup is removed when training ends normally (unless ``delete_checkpoint=False``)."""

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if save_freq != "epoch":
            raise ValueError("BackupAndRestore: only save_freq='epoch' is supported")
        self.backup_dir = os.fspath(backup_dir)
        self.delete_checkpoint = delete_checkpoint
        self._model_path = os.path.join(self.backup_dir, "latest.keras")
        self._meta_path = os.path.join(self.backup_dir, "training_metadata.json")

    def on_train_begin(self, logs=None):
        import json
        from .. import io as _io
        if os.path.exists(self._model_path) and os.path.exists(self._meta_path):
            _io.load_training_state(self.model, self._model_path)
            with open(self._meta_path) as f:
                epoch = int(json.load(f)["epoch"])
            self.model._initial_epoch = epoch + 1

    def on_epoch_end(self, epoch, logs=None):
        import json
        from .. import io as _io
        os.makedirs(self.backup_dir, exist_ok=True)
        self.model.save(self._model_path, overwrite=True)
        with _io.atomic_write(self._meta_path, "w") as f:
            json.dump({"epoch": epoch}, f)

    def on_train_end(self, logs=None):
        # only reached when fit ends normally: an exception skips on_train_end
        if self.delete_checkpoint:
            for p in (self._model_path, self._meta_path):
                if os.path.exists(p):
                    os.remove(p)


class TensorBoard(Callback):
    """Not supported: lamina writes no TensorBoard event files (use CSVLogger)."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("TensorBoard: lamina cannot write TensorBoard logs; use "
                                  "keras.callbacks.CSVLogger and keras.utils.plot_history")


class RemoteMonitor(Callback):
    """Not supported: lamina makes no network calls."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("RemoteMonitor: lamina makes no network calls")
