"""BatchNormalization and LayerNormalization: the fused op against the formula and
PyTorch, moving statistics, train vs inference, frozen layers, gradients, configs."""
import numpy as np
import pytest

import lamina as lm
from lamina.nn import layers
from lamina.nn.layers.normalization import normalize_affine
from lamina.testing import gradcheck, gradgradcheck
from layer_checks import gradcheck_layer, roundtrip

rng = np.random.default_rng(2)


def test_normalize_affine_gradcheck_and_second_order():
    x = rng.standard_normal((4, 3))
    g = rng.standard_normal((1, 3))
    b = rng.standard_normal((1, 3))
    gradcheck(lambda x, g, b: normalize_affine(x, g, b, (0,), 1e-3)[0], [x, g, b])
    gradcheck(lambda x, g, b: normalize_affine(x, g, b, (1,), 1e-3)[0], [x, g, b])
    x4 = rng.standard_normal((2, 3, 2, 2))
    gradcheck(lambda x, g: normalize_affine(x, g, None, (0, 2, 3), 1e-3)[0],
              [x4, rng.standard_normal((1, 3, 1, 1))])
    gradgradcheck(lambda x, g, b: normalize_affine(x, g, b, (0,), 1e-3)[0], [x, g, b])
    gradgradcheck(lambda x: normalize_affine(x, None, None, (1,), 1e-3)[0], [x])


def test_batchnorm_training_formula_and_moving_stats():
    bn = layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    x = (rng.standard_normal((16, 3)) * 2 + 1).astype("float32")
    y = bn(x, training=True).numpy()
    ref = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * x.var(0), rtol=1e-5)
    yi = bn(x, training=False).numpy()
    ref_i = (x - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + 1e-3)
    np.testing.assert_allclose(yi, ref_i, rtol=1e-5, atol=1e-6)
    assert [w.name for w in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2


def test_batchnorm_statistics_on_another_device_than_the_inputs(device):
    """A layer on ``device`` run on host tensors with host gamma/beta (what gradcheck_layer
    does): the batch statistics update the moving ones where those live, and inference
    brings the moving ones to the inputs."""
    x = (rng.standard_normal((16, 3)) * 2 + 1).astype("float32")
    bn = layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    bn.build((None, 3))
    bn.to(device)
    for k in ("gamma", "beta"):
        bn.__dict__[k] = lm.tensor(getattr(bn, k).numpy(), device="cpu")
    y = bn(lm.tensor(x, device="cpu"), training=True)
    assert y.device == lm.device("cpu") and bn.moving_mean.device == lm.device(device)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * x.var(0), rtol=1e-5)
    yi = bn(lm.tensor(x, device="cpu"), training=False)
    assert yi.device == lm.device("cpu")
    ref = (x - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + 1e-3)
    np.testing.assert_allclose(yi.numpy(), ref, rtol=1e-5, atol=1e-6)


def test_normalize_affine_names_mixed_devices(device):
    if device == "cpu":
        pytest.skip("needs a second device")
    x = lm.tensor(rng.standard_normal((4, 3)), device="cpu")
    g = lm.tensor(np.ones((1, 3)), device=device)
    with pytest.raises(ValueError, match="normalize_affine: gamma is on cuda:0, input on cpu"):
        normalize_affine(x, g, None, (0,), 1e-3)


def test_batchnorm_frozen_runs_in_inference_mode():
    bn = layers.BatchNormalization()
    x = rng.standard_normal((8, 2)).astype("float32")
    bn(x)
    bn.trainable = False
    before = bn.moving_mean.numpy()
    y = bn(x, training=True).numpy()
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before)
    np.testing.assert_allclose(y, bn(x, training=False).numpy())
    assert bn.trainable_weights == [] and len(bn.non_trainable_weights) == 4


def test_batchnorm_channels_axis_images_gradcheck():
    x = rng.standard_normal((3, 2, 2, 4))
    gradcheck_layer(layers.BatchNormalization(dtype="float64"), x, training=True)
    gradcheck_layer(layers.BatchNormalization(axis=1, dtype="float64"), x, training=True)
    gradcheck_layer(layers.BatchNormalization(dtype="float64", center=False), x, training=False)
    roundtrip(layers.BatchNormalization(axis=1, momentum=0.5), x.astype("float32"))


def test_batchnorm_against_torch(torch):
    x = rng.standard_normal((10, 3, 4, 4)).astype("float32")
    bn = layers.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5)
    gamma = rng.standard_normal(3).astype("float32")
    beta = rng.standard_normal(3).astype("float32")
    bn(x)
    bn.set_weights([gamma, beta, np.zeros(3, "float32"), np.ones(3, "float32")])
    xt = lm.tensor(x, requires_grad=True)
    y = bn(xt, training=True)
    w = rng.standard_normal(y.shape).astype("float32")
    lm.sum(y * lm.tensor(w)).backward()
    tb = torch.nn.BatchNorm2d(3, eps=1e-5, momentum=0.1)
    with torch.no_grad():
        tb.weight.copy_(torch.tensor(gamma))
        tb.bias.copy_(torch.tensor(beta))
    tx = torch.tensor(x, requires_grad=True)
    ty = tb(tx)
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(bn.gamma.grad.numpy(), tb.weight.grad.numpy(), rtol=1e-3,
                               atol=1e-3)
    np.testing.assert_allclose(bn.moving_mean.numpy(), tb.running_mean.numpy(), rtol=1e-4,
                               atol=1e-6)


def test_layernorm_formula_torch_and_gradcheck(torch):
    x = rng.standard_normal((4, 5, 6)).astype("float32")
    ln = layers.LayerNormalization(epsilon=1e-5)
    g = rng.standard_normal(6).astype("float32")
    b = rng.standard_normal(6).astype("float32")
    ln(x)
    ln.set_weights([g, b])
    xt = lm.tensor(x, requires_grad=True)
    y = ln(xt)
    w = rng.standard_normal(y.shape).astype("float32")
    lm.sum(y * lm.tensor(w)).backward()
    tl = torch.nn.LayerNorm(6, eps=1e-5)
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(g))
        tl.bias.copy_(torch.tensor(b))
    tx = torch.tensor(x, requires_grad=True)
    ty = tl(tx)
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(ln.beta.grad.numpy(), tl.bias.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_layernorm_variants_gradcheck_and_roundtrip():
    x = rng.standard_normal((3, 4, 5))
    gradcheck_layer(layers.LayerNormalization(dtype="float64"), x)
    gradcheck_layer(layers.LayerNormalization(axis=[1, 2], dtype="float64"), x)
    gradcheck_layer(layers.LayerNormalization(rms_scaling=True, dtype="float64"), x)
    y = layers.LayerNormalization(axis=[1, 2], epsilon=1e-3)(x.astype("float32")).numpy()
    mu = x.mean((1, 2), keepdims=True)
    np.testing.assert_allclose(y, (x - mu) / np.sqrt(x.var((1, 2), keepdims=True) + 1e-3),
                               rtol=1e-4, atol=1e-5)
    roundtrip(layers.LayerNormalization(axis=1, epsilon=1e-4), x.astype("float32"))


def test_normalization_errors():
    with pytest.raises(ValueError, match="batch_normalization.*axis"):
        layers.BatchNormalization()(lm.nn.Input((None,)))
    bn = layers.BatchNormalization()
    bn(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="batch_normalization"):
        bn(np.zeros((2, 4), "float32"))


# ---------------------------------------------------------------- Group/Unit/RMS norm
def _torch_grads(torch, f_lm, f_t, x, params):
    """Values and gradients of sum(f(x) * w) in lamina and torch (params: list of arrays)."""
    xt = lm.tensor(x, requires_grad=True)
    ps = [lm.tensor(p, requires_grad=True) for p in params]
    y = f_lm(xt, *ps)
    w = rng.standard_normal(y.shape).astype("float32")
    lm.sum(y * lm.tensor(w)).backward()
    tx = torch.tensor(x, requires_grad=True)
    tps = [torch.tensor(p, requires_grad=True) for p in params]
    ty = f_t(tx, *tps)
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    for a, b in zip([xt] + ps, [tx] + tps):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-3, atol=1e-4)


def test_group_normalization_formula_by_hand():
    x = rng.standard_normal((2, 3, 4)).astype("float32")
    y = layers.GroupNormalization(groups=2, epsilon=1e-3)(x).numpy()
    g = x.reshape(2, 3, 2, 2)              # channels split into 2 groups of 2
    mu = g.mean(axis=(1, 3), keepdims=True)
    var = g.var(axis=(1, 3), keepdims=True)
    np.testing.assert_allclose(y, ((g - mu) / np.sqrt(var + 1e-3)).reshape(2, 3, 4),
                               rtol=1e-4, atol=1e-5)


def test_group_normalization_against_torch(torch):
    x = rng.standard_normal((2, 5, 6)).astype("float32")      # (N, T, C), 3 groups
    gamma = rng.standard_normal(6).astype("float32")
    beta = rng.standard_normal(6).astype("float32")
    gn = layers.GroupNormalization(groups=3, epsilon=1e-5)
    gn(x)

    def f_lm(xt, g, b):
        gn.gamma, gn.beta = g, b
        return gn(xt)

    def f_t(tx, g, b):
        y = torch.nn.functional.group_norm(tx.transpose(1, 2), 3, g, b, eps=1e-5)
        return y.transpose(1, 2)
    _torch_grads(torch, f_lm, f_t, x, [gamma, beta])


def test_group_normalization_gradcheck_config_and_errors():
    x = rng.standard_normal((2, 3, 4))
    gradcheck_layer(layers.GroupNormalization(groups=2, dtype="float64"), x)
    gradcheck_layer(layers.GroupNormalization(groups=-1, axis=1, center=False,
                                              dtype="float64"), x)
    layer = layers.GroupNormalization(groups=2)
    roundtrip(layer, x.astype("float32"))
    assert [w.name for w in layer.weights] == ["gamma", "beta"]
    assert layers.GroupNormalization(groups=-1)(x.astype("float32")) is not None
    with pytest.raises(ValueError, match="group_normalization.*4 channels.*3"):
        layers.GroupNormalization(groups=3, name="group_normalization_err")(x)


def test_unit_normalization_values_torch_and_gradcheck(torch):
    x = rng.standard_normal((3, 4)).astype("float32")
    y = layers.UnitNormalization()(x).numpy()
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.ones(3), rtol=1e-5)
    np.testing.assert_allclose(y, x / np.linalg.norm(x, axis=-1, keepdims=True), rtol=1e-5)
    un = layers.UnitNormalization()
    _torch_grads(torch, lambda t: un(t),
                 lambda t: torch.nn.functional.normalize(t, dim=-1), x, [])
    x3 = rng.standard_normal((2, 3, 4))
    gradcheck_layer(layers.UnitNormalization(axis=[1, 2], dtype="float64"), x3)
    y3 = layers.UnitNormalization(axis=[1, 2])(x3.astype("float32")).numpy()
    np.testing.assert_allclose((y3 ** 2).sum(axis=(1, 2)), np.ones(2), rtol=1e-5)
    np.testing.assert_array_equal(layers.UnitNormalization()(np.zeros((1, 3), "float32"))
                                  .numpy(), np.zeros((1, 3)))
    roundtrip(layers.UnitNormalization(axis=[1, 2]), x3.astype("float32"))
    with pytest.raises(TypeError, match="unit_normalization"):
        layers.UnitNormalization(axis="last")


def test_rms_normalization_torch_gradcheck_and_config(torch):
    x = rng.standard_normal((2, 3, 4)).astype("float32")
    scale = rng.standard_normal(4).astype("float32")
    rn = layers.RMSNormalization()
    assert rn.epsilon == 1e-6                  # Keras's default
    rn(x)

    def f_lm(xt, s):
        rn.scale = s
        return rn(xt)
    _torch_grads(torch, f_lm,
                 lambda t, s: torch.nn.functional.rms_norm(t, (4,), s, eps=1e-6), x, [scale])
    gradcheck_layer(layers.RMSNormalization(dtype="float64"), x.astype("float64"))
    gradcheck_layer(layers.RMSNormalization(axis=[1, 2], dtype="float64"),
                    x.astype("float64"))
    layer = layers.RMSNormalization(axis=1, epsilon=1e-4)
    roundtrip(layer, x)
    assert [w.shape for w in layer.weights] == [(3,)]
    assert layer.get_config()["axis"] == 1 and layer.get_config()["epsilon"] == 1e-4
