"""keras.config's global settings act as in Keras 3: set_image_data_format('channels_first')
makes the layers made afterwards (with data_format=None) channels-first (their data_format,
output shapes and, for Flatten, the order of the flattened values), and set_epsilon changes
the fuzz factor the losses clip and divide with."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import lamina as lm  # noqa: E402
from lamina import keras as lk  # noqa: E402


@pytest.fixture
def channels_first():
    keras.config.set_image_data_format("channels_first")
    lk.config.set_image_data_format("channels_first")
    yield
    keras.config.set_image_data_format("channels_last")
    lk.config.set_image_data_format("channels_last")


CASES = [
    ("Conv2D", dict(filters=4, kernel_size=3), (2, 3, 8, 9)),
    ("Conv1D", dict(filters=4, kernel_size=3), (2, 3, 8)),
    ("Conv2DTranspose", dict(filters=4, kernel_size=3, strides=2), (2, 3, 5, 6)),
    ("SeparableConv2D", dict(filters=4, kernel_size=3), (2, 3, 8, 9)),
    ("DepthwiseConv2D", dict(kernel_size=3), (2, 3, 8, 9)),
    ("MaxPooling2D", dict(), (2, 3, 8, 9)),
    ("AveragePooling1D", dict(pool_size=2), (2, 3, 8)),
    ("GlobalAveragePooling2D", dict(), (2, 3, 8, 9)),
    ("GlobalMaxPooling1D", dict(), (2, 3, 8)),
    ("UpSampling2D", dict(), (2, 3, 4, 5)),
    ("ZeroPadding2D", dict(padding=1), (2, 3, 4, 5)),
    ("Cropping2D", dict(cropping=1), (2, 3, 6, 7)),
    ("Flatten", dict(), (2, 3, 4, 5)),
    ("Resizing", dict(height=4, width=6), (2, 3, 8, 9)),
    ("ConvLSTM2D", dict(filters=2, kernel_size=3), (2, 4, 3, 6, 7)),
]


@pytest.mark.parametrize("name,kwargs,shape", CASES, ids=[c[0] for c in CASES])
def test_layers_follow_the_global_image_data_format(channels_first, name, kwargs, shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    kl = getattr(keras.layers, name)(**kwargs)
    ll = getattr(lk.layers, name)(**kwargs)
    assert ll.get_config()["data_format"] == kl.get_config()["data_format"] \
        == "channels_first"
    ky = keras.ops.convert_to_numpy(kl(x))
    ly = ll(lm.tensor(x))
    assert tuple(ly.shape) == ky.shape
    if not kl.weights:                       # no weights to copy: the values too
        np.testing.assert_allclose(ly.numpy(), ky, rtol=1e-5, atol=1e-5)


def test_an_explicit_data_format_and_earlier_layers_keep_theirs(channels_first):
    before = lk.layers.Conv2D(2, 3, data_format="channels_last")
    lk.config.set_image_data_format("channels_last")
    made_first = lk.layers.MaxPooling2D(data_format="channels_first")
    assert before.data_format == "channels_last"
    assert made_first.data_format == "channels_first"
    assert lk.layers.MaxPooling2D().data_format == "channels_last"


@pytest.mark.parametrize("name,kwargs,shape", [
    ("ConvLSTM2D", dict(filters=5, kernel_size=3, padding="same"), (2, 4, 3, 7, 6)),
    ("ConvLSTM2D", dict(filters=4, kernel_size=(3, 2), strides=2, return_sequences=True,
                        return_state=True), (2, 3, 2, 8, 7)),
    ("ConvLSTM1D", dict(filters=3, kernel_size=3, return_sequences=True), (2, 5, 3, 9)),
])
def test_conv_lstm_channels_first_matches_keras(name, kwargs, shape):
    """Channels-first ConvLSTMs (here asked for explicitly) compute Keras's values with
    Keras's weights: sequences, last outputs and states in (N, [T,] filters, *spatial)."""
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    kl = getattr(keras.layers, name)(data_format="channels_first", **kwargs)
    ky = kl(x)
    ll = getattr(lk.layers, name)(data_format="channels_first", **kwargs)
    ll(lm.tensor(x))
    ll.set_weights(kl.get_weights())
    ly = ll(lm.tensor(x))
    ky, ly = (v if isinstance(v, (list, tuple)) else [v] for v in (ky, ly))
    assert len(ky) == len(ly)
    for k, m in zip(ky, ly):
        np.testing.assert_allclose(m.numpy(), keras.ops.convert_to_numpy(k), rtol=1e-5,
                                   atol=1e-5)


@pytest.fixture
def big_epsilon():
    keras.config.set_epsilon(0.1)
    lk.config.set_epsilon(0.1)
    yield
    keras.config.set_epsilon(1e-7)
    lk.config.set_epsilon(1e-7)


@pytest.mark.parametrize("name", ["binary_crossentropy", "categorical_crossentropy",
                                  "kl_divergence", "poisson",
                                  "mean_absolute_percentage_error",
                                  "mean_squared_logarithmic_error"])
def test_losses_use_the_global_epsilon(big_epsilon, name):
    y = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    p = np.array([[0.0, 1.0], [0.3, 0.7]], np.float32)    # 0 and 1: where the clip acts
    want = keras.ops.convert_to_numpy(getattr(keras.losses, name)(y, p))
    got = getattr(lk.losses, name)(y, p).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert lk.config.epsilon() == 0.1


def test_dice_uses_the_global_epsilon(big_epsilon):
    y = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    p = np.array([[0.0, 1.0], [0.3, 0.7]], np.float32)
    assert float(lk.losses.Dice()(y, p)) == pytest.approx(float(keras.losses.Dice()(y, p)),
                                                          abs=1e-6)
