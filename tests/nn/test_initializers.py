"""Initializers (lamina/nn/initializers.py): statistics within tolerance, Keras's fans,
seeded reproducibility, orthogonality, lookup and configs."""
import math

import numpy as np
import pytest

import lamina as lm
from lamina.nn import initializers as I

SHAPE = (200, 300)          # 60,000 draws: std estimates within ~1%


@pytest.mark.parametrize("name,std", [
    ("glorot_uniform", math.sqrt(2 / 500)), ("glorot_normal", math.sqrt(2 / 500)),
    ("he_normal", math.sqrt(2 / 200)), ("he_uniform", math.sqrt(2 / 200)),
    ("lecun_normal", math.sqrt(1 / 200)), ("lecun_uniform", math.sqrt(1 / 200)),
    ("random_normal", 0.05), ("truncated_normal", 0.05 * 0.8796256610342398),
    ("random_uniform", 0.1 / math.sqrt(12)),
])
def test_statistics(name, std):
    lm.random.seed(1)
    w = I.get(name)(SHAPE)
    assert w.shape == SHAPE and w.dtype == np.float32 and isinstance(w, np.ndarray)
    assert abs(w.mean()) < 4 * std / math.sqrt(w.size)
    assert w.std() == pytest.approx(std, rel=0.03)


def test_uniform_limits_and_truncation():
    lm.random.seed(0)
    w = I.GlorotUniform()((100, 50))
    limit = math.sqrt(6 / 150)
    assert w.max() <= limit and w.min() >= -limit and w.max() > 0.95 * limit
    t = I.HeNormal()((400, 100))
    std = math.sqrt(2 / 400) / 0.87962566103423978
    assert np.abs(t).max() <= 2 * std + 1e-6      # cut at two (pre-correction) stddevs


def test_conv_kernel_fans_use_receptive_field():
    assert I.compute_fans((3, 3, 16, 32)) == (144, 288)
    assert I.compute_fans((5,)) == (5, 5) and I.compute_fans(()) == (1, 1)
    lm.random.seed(2)
    w = I.HeNormal()((3, 3, 64, 64))
    assert w.std() == pytest.approx(math.sqrt(2 / 576), rel=0.05)


def test_variance_scaling_modes():
    lm.random.seed(3)
    w = I.VarianceScaling(scale=3.0, mode="fan_out", distribution="uniform")((100, 400))
    assert w.std() == pytest.approx(math.sqrt(3.0 / 400), rel=0.03)
    with pytest.raises(ValueError, match="mode"):
        I.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="scale must be positive"):
        I.VarianceScaling(scale=0.0)


def test_seeding_reproducible():
    lm.random.seed(7)
    a = I.GlorotUniform()((4, 5))
    lm.random.seed(7)
    b = I.GlorotUniform()((4, 5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, I.GlorotUniform()((4, 5)))
    # an explicit seed gives the same values on every call, as in Keras 3
    s = I.RandomNormal(seed=11)
    np.testing.assert_array_equal(s((3, 3)), s((3, 3)))
    assert not np.array_equal(I.RandomNormal(seed=12)((3, 3)), s((3, 3)))


@pytest.mark.parametrize("shape", [(6, 6), (8, 3), (3, 8), (2, 3, 4)])
def test_orthogonal(shape):
    lm.random.seed(4)
    w = I.Orthogonal(gain=2.0)(shape).astype(np.float64)
    m = w.reshape(-1, shape[-1])
    if m.shape[0] >= m.shape[1]:
        np.testing.assert_allclose(m.T @ m, 4.0 * np.eye(m.shape[1]), atol=1e-5)
    else:
        np.testing.assert_allclose(m @ m.T, 4.0 * np.eye(m.shape[0]), atol=1e-5)
    with pytest.raises(ValueError, match="rank >= 2"):
        I.Orthogonal()((5,))


def test_constants_identity_and_dtype():
    np.testing.assert_array_equal(I.get("zeros")((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(I.get("ones")((2,), dtype="float64"), np.ones(2))
    assert I.get("ones")((2,), dtype="float64").dtype == np.float64
    np.testing.assert_array_equal(I.Constant(0.5)((2, 2)), np.full((2, 2), 0.5))
    np.testing.assert_array_equal(I.Identity(gain=3.0)((2, 3)), 3 * np.eye(2, 3))
    with pytest.raises(ValueError, match="2-D"):
        I.Identity()((2, 2, 2))


def test_get_accepts_names_classes_dicts_callables_and_arrays():
    assert isinstance(I.get("glorot_uniform"), I.GlorotUniform)
    assert isinstance(I.get("GlorotUniform"), I.GlorotUniform)
    assert isinstance(I.get(I.HeNormal), I.HeNormal)
    assert I.get(None) is None
    init = I.get({"class_name": "RandomUniform", "config": {"minval": 1.0, "maxval": 2.0}})
    w = init((50,))
    assert w.min() >= 1.0 and w.max() < 2.0

    def fn(shape, dtype=None):
        return np.full(shape, 7.0, dtype=dtype)
    assert I.get(fn) is fn
    arr = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(I.get(arr)((2, 3)), arr)
    with pytest.raises(ValueError, match=r"expected shape \(2, 3\)"):
        I.get(arr)((3, 2))
    with pytest.raises(ValueError, match="unknown initializer"):
        I.get("glorot")


@pytest.mark.parametrize("init", [I.GlorotUniform(seed=1), I.VarianceScaling(2.0, "fan_avg",
                                  "untruncated_normal"), I.Constant(0.3), I.Orthogonal(1.5),
                                  I.RandomUniform(-1, 1), I.Identity(2.0)])
def test_serialize_roundtrip(init):
    back = I.deserialize(I.serialize(init))
    assert type(back) is type(init) and back.get_config() == init.get_config()


def test_variance_scaling_accepts_keras_fan_axes():
    """Keras 3.15 configs carry input_axes/output_axes; they choose which axes count as fans."""
    from lamina.nn import initializers as I
    init = I.deserialize({"class_name": "VarianceScaling",
                          "config": {"scale": 2.0, "mode": "fan_in", "distribution": "uniform",
                                     "seed": 3, "input_axes": [0], "output_axes": [1, 2]}})
    w = init((30, 40, 5))
    limit = (3 * 2.0 / 30) ** 0.5          # fan_in = 30 (axis 0), not 40 * 30 as by default
    assert abs(float(np.abs(w).max()) - limit) < 0.05 * limit
    glorot = I.deserialize({"class_name": "GlorotUniform",
                            "config": {"seed": None, "input_axes": None, "output_axes": None}})
    assert glorot.get_config()["input_axes"] is None
