"""lamina's convolution, pooling and image layers against real Keras 3 (PyTorch backend):
the same layer arguments, weights copied across unchanged (both store HWIO kernels), the
same outputs; and the same parameter counts and output shapes."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from layer_oracle import assert_layer_matches_keras  # noqa: E402

from lamina.nn.layers import conv as CL, pooling as PL, reshaping as SL  # noqa: E402
from lamina.nn.layers import preprocessing as PP  # noqa: E402

X4 = np.random.default_rng(0).standard_normal((2, 9, 8, 4)).astype(np.float32)
X3 = np.random.default_rng(1).standard_normal((2, 11, 4)).astype(np.float32)

# (class name, kwargs, input)
CASES = [
    ("Conv2D", dict(filters=3, kernel_size=3), X4),
    ("Conv2D", dict(filters=3, kernel_size=(3, 2), strides=2, padding="same"), X4),
    ("Conv2D", dict(filters=4, kernel_size=3, dilation_rate=2, padding="same",
                    activation="relu"), X4),
    ("Conv2D", dict(filters=6, kernel_size=3, groups=2, use_bias=False), X4),
    ("Conv1D", dict(filters=3, kernel_size=3, padding="causal", dilation_rate=2), X3),
    ("Conv1D", dict(filters=3, kernel_size=4, strides=3, padding="same"), X3),
    ("DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=2, strides=2, padding="same"), X4),
    ("SeparableConv2D", dict(filters=5, kernel_size=3, padding="same"), X4),
    ("Conv2DTranspose", dict(filters=3, kernel_size=3, strides=2, padding="same"), X4),
    ("Conv2DTranspose", dict(filters=3, kernel_size=3, strides=2, padding="valid"), X4),
    ("Conv2DTranspose", dict(filters=2, kernel_size=4, strides=2, padding="same"), X4),
    ("Conv2DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="valid",
                             output_padding=1), X4),
    ("Conv1DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="same"), X3),
    ("MaxPooling2D", dict(), X4),
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same"), X4),
    # symmetric 'same' padding only: for an odd total pad Keras's torch backend pads by
    # replicating edge pixels and averages them, while Keras/TF (and lamina) average the
    # real pixels only; tests/ops/test_pooling.py checks lamina's rule
    ("AveragePooling2D", dict(pool_size=3, strides=1, padding="same"), X4),
    ("AveragePooling2D", dict(pool_size=(2, 3), strides=1), X4),
    ("MaxPooling1D", dict(pool_size=3, strides=2, padding="same"), X3),
    ("AveragePooling1D", dict(pool_size=3, strides=2, padding="same"), X3),
    ("GlobalAveragePooling2D", dict(), X4),
    ("GlobalMaxPooling2D", dict(keepdims=True), X4),
    ("GlobalAveragePooling1D", dict(), X3),
    ("UpSampling2D", dict(size=(2, 3)), X4),
    ("UpSampling2D", dict(size=2, interpolation="bilinear"), X4),
    ("ZeroPadding2D", dict(padding=((1, 2), (3, 0))), X4),
    ("Cropping2D", dict(cropping=((1, 2), (0, 3))), X4),
    ("Rescaling", dict(scale=1 / 255, offset=-0.5), X4),
    ("Resizing", dict(height=5, width=11), X4),
    ("Resizing", dict(height=6, width=6, interpolation="nearest"), X4),
    ("Resizing", dict(height=4, width=4, crop_to_aspect_ratio=True), X4),
    ("CenterCrop", dict(height=5, width=4), X4),
]

_MODULES = (CL, PL, SL, PP)


def _lamina_class(name):
    for m in _MODULES:
        if hasattr(m, name):
            return getattr(m, name)
    raise AttributeError(name)


@pytest.mark.parametrize("name,kwargs,x", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_layer_matches_keras(name, kwargs, x):
    assert_layer_matches_keras(keras, _lamina_class(name), name, kwargs, x)


def test_config_keys_match_keras():
    for name, kwargs, _ in CASES[:1] + CASES[6:9] + CASES[13:14] + CASES[22:23]:
        kcfg = getattr(keras.layers, name)(**kwargs).get_config()
        lcfg = _lamina_class(name)(**kwargs).get_config()
        missing = set(kcfg) - set(lcfg) - {"dtype", "lora_rank", "lora_alpha", "name",
                                          "trainable", "activity_regularizer"}
        assert not missing, f"{name}: config lacks {sorted(missing)}"


@pytest.mark.parametrize("name,kw", [
    ("DepthwiseConv1D", dict(kernel_size=3)),
    ("DepthwiseConv1D", dict(kernel_size=3, strides=2, padding="same", depth_multiplier=2,
                             activation="relu")),
    ("DepthwiseConv1D", dict(kernel_size=2, dilation_rate=2, use_bias=False)),
    ("SeparableConv1D", dict(filters=4, kernel_size=3)),
    ("SeparableConv1D", dict(filters=5, kernel_size=3, strides=2, padding="same",
                             depth_multiplier=2)),
    ("SeparableConv1D", dict(filters=4, kernel_size=3, data_format="channels_first"))])
def test_one_dimensional_depthwise_and_separable_match_keras(name, kw):
    x = np.random.default_rng(4).standard_normal((2, 11, 3)).astype(np.float32)
    if kw.get("data_format") == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 2, 1))
    kl = getattr(keras.layers, name)(**kw)
    want = keras.ops.convert_to_numpy(kl(x))
    ll = getattr(CL, name)(**kw)
    ll(x)
    assert [(w.name, tuple(w.shape)) for w in ll.weights] == \
        [(w.name, tuple(w.shape)) for w in kl.weights]
    ll.set_weights([keras.ops.convert_to_numpy(w) for w in kl.weights])
    np.testing.assert_allclose(ll(x).numpy(), want, rtol=1e-5, atol=1e-5)
    assert list(ll.get_config()) == list(kl.get_config()) or \
        set(ll.get_config()) == set(kl.get_config())
    assert ll.compute_output_shape((None,) + x.shape[1:]) == kl.compute_output_shape(
        (None,) + x.shape[1:])


@pytest.mark.parametrize("name,kw", [("RandomBrightness", dict(factor=0.2)),
                                     ("RandomBrightness", dict(factor=(-0.1, 0.3),
                                                               value_range=(0, 1))),
                                     ("RandomGrayscale", dict(factor=0.3))])
def test_brightness_and_grayscale_configs_match_keras(name, kw):
    theirs, ours = getattr(keras.layers, name)(**kw), getattr(PP, name)(**kw)
    t, o = theirs.get_config(), ours.get_config()
    assert list(t) == list(o)
    for k in t:
        if k not in ("name", "dtype"):
            want = list(t[k]) if isinstance(t[k], (list, tuple)) else t[k]
            got = list(o[k]) if isinstance(o[k], (list, tuple)) else o[k]
            assert got == want, k
    back = getattr(keras.layers, name).from_config(o)        # Keras reads lamina's config
    assert back.get_config()["factor"] == t["factor"]


@pytest.mark.parametrize("name,kw", [
    ("Conv3D", dict(filters=4, kernel_size=3)),
    ("Conv3D", dict(filters=4, kernel_size=(3, 2, 3), strides=2, padding="same",
                    activation="relu")),
    ("Conv3D", dict(filters=2, kernel_size=2, dilation_rate=(2, 1, 1), use_bias=False)),
    ("Conv3D", dict(filters=2, kernel_size=2, data_format="channels_first")),
    ("MaxPooling3D", dict()),
    ("MaxPooling3D", dict(pool_size=(2, 3, 2), strides=(1, 2, 2), padding="same")),
    ("AveragePooling3D", dict(pool_size=2, padding="same")),
    ("AveragePooling3D", dict(pool_size=(3, 2, 2), strides=1)),
    ("UpSampling3D", dict(size=(2, 1, 3))), ("ZeroPadding3D", dict(padding=(1, 2, 0))),
    ("Cropping3D", dict(cropping=((1, 0), (2, 1), (0, 3))))])
def test_volume_layers_match_keras(name, kw):
    from lamina.nn import layers as LL
    x = np.random.default_rng(7).standard_normal((2, 5, 6, 7, 3)).astype(np.float32)
    if kw.get("data_format") == "channels_first":
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    kl = getattr(keras.layers, name)(**kw)
    want = keras.ops.convert_to_numpy(kl(x))
    ll = getattr(LL, name)(**kw)
    ll(x)
    assert [tuple(w.shape) for w in ll.weights] == [tuple(w.shape) for w in kl.weights]
    if kl.weights:
        ll.set_weights([keras.ops.convert_to_numpy(w) for w in kl.weights])
    np.testing.assert_allclose(ll(x).numpy(), want, rtol=1e-5, atol=2e-6)
    assert set(ll.get_config()) == set(kl.get_config())
    shape = (None,) + x.shape[1:]
    assert ll.compute_output_shape(shape) == kl.compute_output_shape(shape)
