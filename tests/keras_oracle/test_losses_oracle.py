"""lamina's losses against real Keras 3 (PyTorch backend): same inputs, same values, for
several shapes including the broadcasting traps ((n,) vs (n, 1), sparse (N, T) vs
(N, T, 1)), sample weights and every reduction."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from lamina.nn import losses as L  # noqa: E402


def _k(x):
    return keras.ops.convert_to_numpy(x)


def _data(rng, kind, shape):
    if kind == "prob":
        return rng.uniform(0.05, 0.95, shape).astype(np.float32)
    if kind == "binary":
        return rng.integers(0, 2, shape).astype(np.float32)
    if kind == "pos":
        return rng.uniform(0.1, 3.0, shape).astype(np.float32)
    if kind == "pm1":
        return (rng.integers(0, 2, shape) * 2 - 1).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


REGRESSION = [
    ("MeanSquaredError", {}, "real", "real"),
    ("MeanAbsoluteError", {}, "real", "real"),
    ("MeanAbsolutePercentageError", {}, "pos", "real"),
    ("MeanSquaredLogarithmicError", {}, "pos", "pos"),
    ("Huber", {"delta": 0.7}, "real", "real"),
    ("LogCosh", {}, "real", "real"),
    ("KLDivergence", {}, "prob", "prob"),
    ("Poisson", {}, "pos", "pos"),
    ("Hinge", {}, "binary", "real"),
    ("Hinge", {}, "pm1", "real"),
    ("SquaredHinge", {}, "binary", "real"),
    ("CategoricalHinge", {}, "binary", "real"),
    ("CosineSimilarity", {}, "real", "real"),
    ("BinaryCrossentropy", {}, "binary", "prob"),
    ("BinaryCrossentropy", {"from_logits": True}, "binary", "real"),
    ("BinaryCrossentropy", {"label_smoothing": 0.2}, "binary", "prob"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "binary", "real"),
]
SHAPES = [((6,), (6, 1)), ((6, 1), (6, 1)), ((6, 3), (6, 3)), ((2, 3, 4), (2, 3, 4)),
          ((6, 1), (6,))]


@pytest.mark.parametrize("tshape,pshape", SHAPES, ids=[f"{t}-{p}" for t, p in SHAPES])
@pytest.mark.parametrize("name,kw,tk,pk", REGRESSION,
                         ids=[f"{n}{'-'.join(k)}-{t}" for n, k, t, _ in REGRESSION])
def test_loss_matches_keras(name, kw, tk, pk, tshape, pshape, rng):
    y_true = _data(rng, tk, tshape)
    y_pred = _data(rng, pk, pshape)
    for reduction in ("sum_over_batch_size", "sum", "none"):
        ours = getattr(L, name)(reduction=reduction, **kw)(y_true, y_pred)
        theirs = getattr(keras.losses, name)(reduction=reduction, **kw)(y_true, y_pred)
        assert ours.shape == tuple(theirs.shape), (reduction, ours.shape, theirs.shape)
        np.testing.assert_allclose(ours.numpy(), _k(theirs), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kw", [{}, {"from_logits": True}, {"label_smoothing": 0.1},
                                {"from_logits": True, "label_smoothing": 0.2}])
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 6)])
def test_categorical_crossentropy_matches_keras(kw, shape, rng):
    labels = rng.integers(0, shape[-1], shape[:-1])
    y_true = np.eye(shape[-1], dtype=np.float32)[labels]
    logits = rng.standard_normal(shape).astype(np.float32) * 3
    e = np.exp(logits - logits.max(-1, keepdims=True))
    y_pred = logits if kw.get("from_logits") else (e / e.sum(-1, keepdims=True))
    ours = L.CategoricalCrossentropy(**kw)(y_true, y_pred)
    theirs = keras.losses.CategoricalCrossentropy(**kw)(y_true, y_pred)
    np.testing.assert_allclose(float(ours), float(_k(theirs)), rtol=1e-5)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("tshape,pshape", [((5,), (5, 4)), ((5, 1), (5, 4)),
                                           ((2, 3), (2, 3, 6)), ((2, 3, 1), (2, 3, 6))])
def test_sparse_categorical_crossentropy_matches_keras(from_logits, tshape, pshape, rng):
    y_true = rng.integers(0, pshape[-1], tshape)
    logits = rng.standard_normal(pshape).astype(np.float32) * 3
    e = np.exp(logits - logits.max(-1, keepdims=True))
    y_pred = logits if from_logits else e / e.sum(-1, keepdims=True)
    for yt in (y_true, y_true.astype(np.float32)):       # float-valued ids work too
        for reduction in ("sum_over_batch_size", "none"):
            ours = L.SparseCategoricalCrossentropy(from_logits=from_logits,
                                                   reduction=reduction)(yt, y_pred)
            theirs = keras.losses.SparseCategoricalCrossentropy(
                from_logits=from_logits, reduction=reduction)(yt, y_pred)
            np.testing.assert_allclose(ours.numpy(), _k(theirs), rtol=1e-5, atol=1e-6)


def test_sample_weight_matches_keras(rng):
    y_true = rng.standard_normal((6, 3)).astype(np.float32)
    y_pred = rng.standard_normal((6, 3)).astype(np.float32)
    for sw in (rng.uniform(0, 2, (6,)).astype(np.float32),
               rng.uniform(0, 2, (6, 1)).astype(np.float32)):
        for reduction in ("sum_over_batch_size", "sum", "none", "mean_with_sample_weight"):
            ours = L.MeanSquaredError(reduction=reduction)(y_true, y_pred, sample_weight=sw)
            theirs = keras.losses.MeanSquaredError(reduction=reduction)(y_true, y_pred,
                                                                        sample_weight=sw)
            np.testing.assert_allclose(ours.numpy(), _k(theirs), rtol=1e-5, atol=1e-6)


def test_ignore_class_matches_keras(rng):
    y_true = rng.integers(0, 4, (3, 5))
    y_true[0, 1] = y_true[2, 3] = -1
    logits = rng.standard_normal((3, 5, 4)).astype(np.float32)
    ours = L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1,
                                           reduction="none")(y_true, logits)
    theirs = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1,
                                                        reduction="none")(y_true, logits)
    np.testing.assert_allclose(ours.numpy(), _k(theirs), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["mean_squared_error", "mean_absolute_error", "huber",
                                  "log_cosh", "kl_divergence", "poisson",
                                  "mean_squared_logarithmic_error"])
def test_function_forms_match_keras(name, rng):
    y_true = rng.uniform(0.1, 1, (4, 5)).astype(np.float32)
    y_pred = rng.uniform(0.1, 1, (4, 5)).astype(np.float32)
    ours = getattr(L, name)(y_true, y_pred)
    theirs = getattr(keras.losses, name)(y_true, y_pred)
    np.testing.assert_allclose(ours.numpy(), _k(theirs), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["MeanSquaredError", "Huber", "BinaryCrossentropy",
                                  "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
                                  "CosineSimilarity", "KLDivergence"])
def test_config_keys_match_keras(name):
    ours = set(getattr(L, name)().get_config())
    theirs = set(getattr(keras.losses, name)().get_config()) - {"dtype"}
    assert theirs <= ours
    assert getattr(L, name)().name == getattr(keras.losses, name)().name


@pytest.mark.parametrize("kw", [{}, {"from_logits": True, "gamma": 3.0},
                                {"apply_class_balancing": True, "alpha": 0.4},
                                {"label_smoothing": 0.1}])
def test_binary_focal_matches_keras(kw, rng):
    y_true = rng.integers(0, 2, (6, 3)).astype(np.float32)
    y_pred = rng.standard_normal((6, 3)).astype(np.float32) if kw.get("from_logits") else \
        rng.uniform(0.02, 0.98, (6, 3)).astype(np.float32)
    for reduction in ("sum_over_batch_size", "none"):
        ours = L.BinaryFocalCrossentropy(reduction=reduction, **kw)(y_true, y_pred)
        theirs = keras.losses.BinaryFocalCrossentropy(reduction=reduction, **kw)(y_true, y_pred)
        np.testing.assert_allclose(ours.numpy(), _k(theirs), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kw", [{}, {"from_logits": True, "gamma": 1.0, "alpha": 0.5},
                                {"label_smoothing": 0.2}])
def test_categorical_focal_matches_keras(kw, rng):
    y_true = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 5)]
    y_pred = rng.standard_normal((5, 4)).astype(np.float32) if kw.get("from_logits") else \
        rng.uniform(0.05, 1.0, (5, 4)).astype(np.float32)
    ours = L.CategoricalFocalCrossentropy(**kw)(y_true, y_pred)
    theirs = keras.losses.CategoricalFocalCrossentropy(**kw)(y_true, y_pred)
    np.testing.assert_allclose(float(ours), float(_k(theirs)), rtol=1e-5)


@pytest.mark.parametrize("name,kw", [("Dice", {}), ("Dice", {"axis": (1, 2)}),
                                     ("Tversky", {}), ("Tversky", {"alpha": 0.3, "beta": 0.7,
                                                                   "axis": (1, 2)})])
def test_dice_and_tversky_match_keras(name, kw, rng):
    y_true = rng.integers(0, 2, (3, 4, 5)).astype(np.float32)
    y_pred = rng.uniform(0, 1, (3, 4, 5)).astype(np.float32)
    for reduction in ("sum_over_batch_size", "none"):
        ours = getattr(L, name)(reduction=reduction, **kw)(y_true, y_pred)
        theirs = getattr(keras.losses, name)(reduction=reduction, **kw)(y_true, y_pred)
        np.testing.assert_allclose(ours.numpy(), _k(theirs), rtol=1e-5, atol=1e-6)


def test_ctc_loss_and_decode_match_keras():
    """keras.losses.CTC (labels with 0 as blank/padding, logits) and keras.ops.ctc_loss /
    ctc_decode (greedy) on the same inputs."""
    from lamina import keras as lk
    rng = np.random.default_rng(11)
    yp = rng.standard_normal((4, 9, 5)).astype(np.float32)
    yt = np.array([[1, 2, 2, 0], [3, 1, 0, 0], [0, 0, 0, 0], [4, 4, 4, 4]])
    np.testing.assert_allclose(float(lk.losses.CTC()(yt, yp)),
                               float(keras.ops.convert_to_numpy(keras.losses.CTC()(yt, yp))),
                               rtol=1e-5)
    tl, ol = np.array([3, 2, 0, 4]), np.array([9, 6, 3, 9])
    np.testing.assert_allclose(
        lk.ops.ctc_loss(yt, yp, tl, ol).numpy(),
        keras.ops.convert_to_numpy(keras.ops.ctc_loss(yt, yp, tl, ol)), rtol=1e-5, atol=1e-5)
    kd, ks = keras.ops.ctc_decode(yp, ol)
    ld, ls = lk.ops.ctc_decode(yp, ol)
    np.testing.assert_array_equal(ld.numpy(), keras.ops.convert_to_numpy(kd))
    np.testing.assert_allclose(ls.numpy(), keras.ops.convert_to_numpy(ks), rtol=1e-6)
