"""Conv3DTranspose, ConvLSTM1D/3D and the adaptive pooling layers against real Keras 3
(PyTorch backend): the same arguments, Keras's weights copied across unchanged, the same
outputs, weight shapes, parameter counts, output shapes and config keys."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from layer_oracle import assert_layer_matches_keras  # noqa: E402

import lamina as lm  # noqa: E402
from lamina.nn.layers import adaptive_pooling as AP, conv as CL  # noqa: E402
from lamina.nn.layers import conv_recurrent as CR  # noqa: E402

rng = np.random.default_rng(0)
X5 = rng.standard_normal((2, 3, 4, 5, 3)).astype(np.float32)
X4 = rng.standard_normal((2, 7, 5, 3)).astype(np.float32)
X3 = rng.standard_normal((2, 9, 3)).astype(np.float32)

CASES = [
    ("Conv3DTranspose", dict(filters=2, kernel_size=3), X5),
    ("Conv3DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="same"), X5),
    ("Conv3DTranspose", dict(filters=3, kernel_size=(2, 3, 4), strides=(2, 1, 3),
                             padding="valid", use_bias=False), X5),
    ("Conv3DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="valid",
                             output_padding=1), X5),
    ("Conv3DTranspose", dict(filters=2, kernel_size=4, strides=2, padding="same",
                             output_padding=(1, 0, 1)), X5),
    ("Conv3DTranspose", dict(filters=2, kernel_size=3, dilation_rate=(2, 1, 2),
                             padding="same", activation="relu"), X5),
    ("Conv3DTranspose", dict(filters=2, kernel_size=2, strides=2,
                             data_format="channels_first"), X5),
]
for _r, _x in ((1, X3), (2, X4), (3, X5)):
    for _mode in ("Average", "Max"):
        for _size in (2, 3, 8):
            CASES.append((f"Adaptive{_mode}Pooling{_r}D", dict(output_size=_size), _x))
        CASES.append((f"Adaptive{_mode}Pooling{_r}D",
                      dict(output_size=(4, 3, 2)[:_r], data_format="channels_first"), _x))


def _cls(name):
    for m in (CL, AP):
        if hasattr(m, name):
            return getattr(m, name)
    raise AttributeError(name)


@pytest.mark.parametrize("name,kwargs,x", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_layer_matches_keras(name, kwargs, x):
    kl, ll = assert_layer_matches_keras(keras, _cls(name), name, kwargs, x)
    kcfg, lcfg = kl.get_config(), ll.get_config()
    missing = set(kcfg) - set(lcfg) - {"dtype", "lora_rank", "lora_alpha", "name"}
    assert not missing, f"{name}: config lacks {sorted(missing)}"
    for k in set(kcfg) & set(lcfg) - {"dtype", "name"}:
        if isinstance(kcfg[k], (int, float, str, tuple, list, bool)) or kcfg[k] is None:
            a, b = kcfg[k], lcfg[k]
            assert (list(a) if isinstance(a, tuple) else a) == \
                (list(b) if isinstance(b, tuple) else b), f"{name}: config {k}"


def _outs(o):
    return [keras.ops.convert_to_numpy(t) for t in (o if isinstance(o, (list, tuple)) else [o])]


@pytest.mark.parametrize("name,shape,kw", [
    ("ConvLSTM1D", (2, 4, 9, 3), {}),
    ("ConvLSTM1D", (2, 4, 9, 3), {"padding": "same", "return_sequences": True}),
    ("ConvLSTM1D", (2, 4, 9, 3), {"strides": 2, "return_state": True}),
    ("ConvLSTM1D", (2, 4, 9, 3), {"dilation_rate": 2, "go_backwards": True,
                                  "activation": "relu"}),
    ("ConvLSTM3D", (2, 3, 4, 5, 4, 2), {}),
    ("ConvLSTM3D", (2, 3, 4, 5, 4, 2), {"padding": "same", "return_sequences": True,
                                        "kernel_size": (2, 3, 2)}),
    ("ConvLSTM3D", (2, 3, 5, 4, 4, 2), {"strides": (2, 1, 2), "return_state": True,
                                        "use_bias": False}),
])
def test_conv_lstm_matches_keras(name, shape, kw):
    kw = dict(kw)
    ks = kw.pop("kernel_size", 3 if name == "ConvLSTM1D" else 2)
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    kl = getattr(keras.layers, name)(4, ks, **kw)
    ko = kl(x)
    ll = getattr(CR, name)(4, ks, **kw)
    ll.build(x.shape)
    assert [tuple(w.shape) for w in ll.weights] == [tuple(w.shape) for w in kl.weights]
    assert ll.count_params() == kl.count_params()
    ll.set_weights([keras.ops.convert_to_numpy(w) for w in kl.weights])
    lo = ll(lm.tensor(x))
    for a, b in zip([t.numpy() for t in (lo if isinstance(lo, (list, tuple)) else [lo])],
                    _outs(ko)):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    missing = set(kl.get_config()) - set(ll.get_config()) - {"dtype", "name"}
    assert not missing, f"{name}: config lacks {sorted(missing)}"


def test_keras_archives_cross_over(tmp_path):
    """Models with the new layers saved by either library load in the other."""
    pytest.importorskip("h5py")
    from lamina import keras as lk
    x = np.random.default_rng(5).standard_normal((2, 3, 6, 3)).astype(np.float32)
    for first, second in ((keras, lk), (lk, keras)):
        L = first.layers
        m = first.Sequential([first.Input((3, 6, 3)),
                              L.ConvLSTM1D(2, 2, padding="same", return_sequences=True),
                              L.Reshape((3, 6, 2, 1)),
                              L.Conv3DTranspose(2, 2, strides=(1, 2, 1), padding="same"),
                              L.AdaptiveMaxPooling3D((2, 3, 2)),
                              L.AdaptiveAveragePooling3D(1)])
        p = str(tmp_path / f"{first.__name__}.keras")
        m.save(p)
        back = second.models.load_model(p)
        np.testing.assert_allclose(np.asarray(back.predict(x, verbose=0)),
                                   np.asarray(m.predict(x, verbose=0)), rtol=1e-5, atol=1e-6,
                                   err_msg=f"{first.__name__} -> {second.__name__}")


# (an Embedding inside is left out: Keras casts its output to the int ids' dtype)
@pytest.mark.parametrize("inner,shape,pi", [("Conv2D", (4, 6, 6, 3), 1), ("Dense", (5, 3), 3)])
def test_spectral_normalization_matches_keras(inner, shape, pi):
    from lamina.nn import layers as LL
    from lamina.nn.layers import wrappers as W
    args = {"Conv2D": (5, 3), "Dense": (4,)}[inner]
    x = np.random.default_rng(6).standard_normal(shape).astype(np.float32)
    kl = keras.layers.SpectralNormalization(getattr(keras.layers, inner)(*args),
                                            power_iterations=pi)
    kl(x)
    ll = W.SpectralNormalization(getattr(LL, inner)(*args), power_iterations=pi)
    ll(lm.tensor(x))
    # Keras lists (kernel, vector_u, bias); lamina its own vector_u first: copy by name
    kw = {w.path.split("/")[-1]: keras.ops.convert_to_numpy(w) for w in kl.weights}
    assert sorted(kw) == sorted(w.name for w in ll.weights)
    for w in ll.weights:
        w.assign(kw[w.name])
    for training in (True, True, False):
        np.testing.assert_allclose(ll(lm.tensor(x), training=training).numpy(),
                                   keras.ops.convert_to_numpy(kl(x, training=training)),
                                   rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ll.vector_u.numpy(), keras.ops.convert_to_numpy(kl.vector_u),
                               rtol=1e-4, atol=1e-6)
    assert set(kl.get_config()) - set(ll.get_config()) == set()
