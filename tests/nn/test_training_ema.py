"""fit with an optimizer's ``use_ema=True``: at the end of training the weights become their
exponential moving averages (``optimizer.finalize_variable_values``), as in Keras's fit."""
import os

import numpy as np
import pytest

from lamina.nn import Input, Sequential, optimizers
from lamina.nn import layers as L
from lamina.nn.callbacks import Callback

rng = np.random.default_rng(11)
X = rng.standard_normal((24, 3)).astype(np.float32)
Y = rng.standard_normal((24, 2)).astype(np.float32)
W0 = [rng.standard_normal((3, 2)).astype(np.float32), np.zeros(2, np.float32)]


class _Record(Callback):
    """Keeps a copy of the weights after every training batch."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append([w.copy() for w in self.model.get_weights()])


def _model(**opt_kw):
    m = Sequential([Input((3,)), L.Dense(2)])
    m.set_weights(W0)
    m.compile(optimizer=optimizers.SGD(0.1, **opt_kw), loss="mse")
    return m


def _ema(history, momentum):
    """Keras's average: the weights after the first step, then m * avg + (1 - m) * w."""
    avg = [w.astype(np.float64) for w in history[0]]
    for ws in history[1:]:
        avg = [momentum * a + (1 - momentum) * w for a, w in zip(avg, ws)]
    return avg


def test_fit_ends_with_the_moving_average():
    rec = _Record()
    m = _model(use_ema=True, ema_momentum=0.7)
    m.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[rec])
    assert len(rec.seen) == 12
    final = m.get_weights()
    for got, want, last in zip(final, _ema(rec.seen, 0.7), rec.seen[-1]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        assert not np.allclose(got, last, atol=1e-4)      # not the raw trained weights


def test_without_ema_fit_keeps_the_trained_weights():
    rec = _Record()
    m = _model()
    m.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[rec])
    for got, last in zip(m.get_weights(), rec.seen[-1]):
        np.testing.assert_array_equal(got, last)


def test_epochs_zero_does_not_finalize_but_a_resumed_fit_does():
    m = _model(use_ema=True, ema_momentum=0.5)
    m.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    avg = [w.copy() for w in m.get_weights()]
    m.set_weights([w + 1 for w in avg])
    m.fit(X, Y, epochs=0, verbose=0)              # Keras: no finalize when epochs == 0
    np.testing.assert_array_equal(m.get_weights()[0], avg[0] + 1)
    m.fit(X, Y, epochs=1, initial_epoch=1, verbose=0)     # no step, but finalized
    np.testing.assert_allclose(m.get_weights()[0], avg[0])


def test_fit_with_ema_matches_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    km = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    km.set_weights(W0)
    km.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.5, use_ema=True,
                                              ema_momentum=0.8), loss="mse")
    km.fit(X, Y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    m = _model(momentum=0.5, use_ema=True, ema_momentum=0.8)
    m.fit(X, Y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    for got, want in zip(m.get_weights(), km.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
