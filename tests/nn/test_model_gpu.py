"""Models on a CUDA device (CuPy): weights moved with ``.to('cuda')`` give the same
outputs and gradients as on the CPU.  Marked ``gpu``: skipped without a device."""
import numpy as np
import pytest

import lamina as lm
from lamina.nn import layers, Model, Sequential, Input

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _need_cuda():
    if not lm.cuda.is_available():
        pytest.skip("no CUDA device")


def _models():
    seq = Sequential([Input((6,)), layers.Dense(8, activation="relu"),
                      layers.BatchNormalization(), layers.LayerNormalization(),
                      layers.Dropout(0.0), layers.Dense(3, activation="softmax")])
    ids = Input((5,), dtype="int32")
    e = layers.Embedding(10, 4, mask_zero=True)(ids)
    h = layers.Flatten()(layers.Masking()(e))
    fun = Model(ids, layers.Dense(2)(layers.concatenate([h, h * 2.0])))
    return [(seq, np.random.default_rng(0).standard_normal((4, 6)).astype("float32")),
            (fun, np.random.default_rng(1).integers(0, 10, (4, 5)))]


@pytest.mark.parametrize("idx", [0, 1])
def test_same_outputs_and_grads_on_gpu(idx):
    model, x = _models()[idx]
    cpu_y = model(x, training=True)
    lm.sum(cpu_y * cpu_y).backward()
    cpu_grads = [w.grad.numpy().copy() for w in model.trainable_weights]
    for w in model.weights:
        w.grad = None
    if idx == 0:       # reset the moving statistics the CPU pass updated
        bn = model.layers[1]
        bn.moving_mean.assign(np.zeros(8))
        bn.moving_variance.assign(np.ones(8))
    model.to("cuda")
    assert all(w.device.type == "cuda" for w in model.weights)
    y = model(x, training=True)
    assert y.device.type == "cuda"
    lm.sum(y * y).backward()
    np.testing.assert_allclose(y.numpy(), cpu_y.numpy(), rtol=1e-4, atol=1e-5)
    for g, w in zip(cpu_grads, model.trainable_weights):
        np.testing.assert_allclose(w.grad.numpy(), g, rtol=1e-3, atol=1e-4)
    model.to("cpu")
    assert all(w.device.type == "cpu" for w in model.weights)


def test_layer_built_after_to_cuda_creates_weights_there():
    d = layers.Dense(3).to("cuda")
    y = d(np.ones((2, 4), "float32"))
    assert d.kernel.device.type == "cuda" and y.device.type == "cuda"
    s = Sequential([layers.Dense(2)]).to("cuda")
    assert s(np.ones((1, 3), "float32")).shape == (1, 2)
