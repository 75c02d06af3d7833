"""Losses (lamina/nn/losses.py): values against NumPy formulas, gradients by finite
differences (float64) and against PyTorch, the shape rules, reductions, lookup."""
import numpy as np
import pytest

import lamina as lm
from lamina.nn import losses as L
from lamina.testing import gradcheck

EPS = 1e-7


def _np_softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# name, class, kwargs, y_true kind, numpy formula of the per-sample loss
def _hinge_t(t):
    return 2 * t - 1 if np.all((t == 0) | (t == 1)) else t


FORMULAS = [
    ("mse", L.MeanSquaredError, {}, "real", lambda t, p: ((t - p) ** 2).mean(-1)),
    ("mae", L.MeanAbsoluteError, {}, "real", lambda t, p: np.abs(t - p).mean(-1)),
    ("mape", L.MeanAbsolutePercentageError, {}, "pos",
     lambda t, p: 100 * np.abs((t - p) / np.maximum(np.abs(t), EPS)).mean(-1)),
    ("msle", L.MeanSquaredLogarithmicError, {}, "pos",
     lambda t, p: ((np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(t, EPS) + 1)) ** 2)
     .mean(-1)),
    ("huber", L.Huber, {"delta": 0.5}, "real",
     lambda t, p: np.where(np.abs(p - t) <= 0.5, 0.5 * (p - t) ** 2,
                           0.5 * np.abs(p - t) - 0.125).mean(-1)),
    ("log_cosh", L.LogCosh, {}, "real", lambda t, p: np.log(np.cosh(p - t)).mean(-1)),
    ("kld", L.KLDivergence, {}, "prob",
     lambda t, p: (np.clip(t, EPS, 1) * np.log(np.clip(t, EPS, 1) / np.clip(p, EPS, 1)))
     .sum(-1)),
    ("poisson", L.Poisson, {}, "pos", lambda t, p: (p - t * np.log(p + EPS)).mean(-1)),
    ("hinge", L.Hinge, {}, "binary",
     lambda t, p: np.maximum(1 - _hinge_t(t) * p, 0).mean(-1)),
    ("squared_hinge", L.SquaredHinge, {}, "binary",
     lambda t, p: (np.maximum(1 - _hinge_t(t) * p, 0) ** 2).mean(-1)),
    ("categorical_hinge", L.CategoricalHinge, {}, "binary",
     lambda t, p: np.maximum(((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0)),
    ("cosine_similarity", L.CosineSimilarity, {}, "real",
     lambda t, p: -((t / np.linalg.norm(t, axis=-1, keepdims=True)) *
                    (p / np.linalg.norm(p, axis=-1, keepdims=True))).sum(-1)),
    ("binary_crossentropy", L.BinaryCrossentropy, {}, "binary",
     lambda t, p: -(t * np.log(np.clip(p, EPS, 1 - EPS)) +
                    (1 - t) * np.log(1 - np.clip(p, EPS, 1 - EPS))).mean(-1)),
    ("binary_crossentropy_logits", L.BinaryCrossentropy, {"from_logits": True}, "binary",
     lambda t, p: (np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p)))).mean(-1)),
    ("categorical_crossentropy", L.CategoricalCrossentropy, {}, "onehot",
     lambda t, p: -(t * np.log(np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS))).sum(-1)),
    ("categorical_crossentropy_logits", L.CategoricalCrossentropy, {"from_logits": True},
     "onehot", lambda t, p: -(t * np.log(_np_softmax(p))).sum(-1)),
    ("cce_smoothing", L.CategoricalCrossentropy, {"label_smoothing": 0.1}, "onehot",
     lambda t, p: -((t * 0.9 + 0.1 / t.shape[-1]) *
                    np.log(np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS))).sum(-1)),
]


def _inputs(rng, kind, shape, logits=False):
    if kind == "pos":
        t = rng.uniform(0.2, 2, shape)
    elif kind == "prob":
        t = rng.uniform(0.05, 0.95, shape)
    elif kind == "binary":
        t = rng.integers(0, 2, shape).astype(float)
    elif kind == "onehot":
        t = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
    else:
        t = rng.standard_normal(shape)
    if kind in ("pos", "prob") or (kind in ("binary", "onehot") and not logits):
        p = rng.uniform(0.1, 0.9, shape)
    else:
        p = rng.standard_normal(shape)
    return t, p


@pytest.mark.parametrize("name,cls,kw,kind,formula", FORMULAS, ids=[f[0] for f in FORMULAS])
def test_loss_values_match_formula(name, cls, kw, kind, formula, rng):
    for shape in [(5, 3), (2, 3, 4)]:
        t, p = _inputs(rng, kind, shape, kw.get("from_logits", False))
        want = formula(t, p)
        per = cls(reduction="none", **kw)(t.astype(np.float32), p.astype(np.float32))
        assert per.dtype == np.float32 and per.shape == want.shape
        np.testing.assert_allclose(per.numpy(), want, rtol=2e-5, atol=1e-6)
        total = cls(**kw)(t, p)
        np.testing.assert_allclose(float(total), want.mean(), rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(float(cls(reduction="sum", **kw)(t, p)), want.sum(),
                                   rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("name,cls,kw,kind,formula", FORMULAS, ids=[f[0] for f in FORMULAS])
def test_loss_gradients_by_finite_differences(name, cls, kw, kind, formula, rng):
    t, p = _inputs(rng, kind, (4, 3), kw.get("from_logits", False))
    if name in ("mae", "huber", "hinge", "squared_hinge", "categorical_hinge"):
        # keep away from kinks, where finite differences straddle two branches
        p = p + np.sign(p - t) * 0.05
    loss = cls(**kw)
    gradcheck(lambda pp: loss(lm.tensor(t, dtype="float64"), pp), [p], atol=1e-6, rtol=1e-4)


def test_sparse_categorical_gradients_by_finite_differences(rng):
    labels = rng.integers(0, 5, (3, 4))
    logits = rng.standard_normal((3, 4, 5))
    probs = rng.uniform(0.1, 1.0, (3, 4, 5))
    for from_logits, x in ((True, logits), (False, probs)):
        loss = L.SparseCategoricalCrossentropy(from_logits=from_logits)
        gradcheck(lambda z: loss(labels, z), [x], atol=1e-6, rtol=1e-4)


def test_probability_crossentropies_match_torch(torch, rng):
    """The fused probability forms: values and gradients against torch on clipped inputs."""
    p = rng.uniform(0.02, 1.0, (6, 5))
    labels = rng.integers(0, 5, (6,))
    onehot = np.eye(5)[labels]
    pt = torch.tensor(p, requires_grad=True)
    q = torch.clamp(pt / pt.sum(-1, keepdim=True), EPS, 1 - EPS)
    want = -(torch.tensor(onehot) * torch.log(q)).sum(-1).mean()
    want.backward()
    for yt, cls in ((onehot, L.CategoricalCrossentropy), (labels, L.SparseCategoricalCrossentropy)):
        x = lm.tensor(p, requires_grad=True)
        got = cls()(yt, x)
        got.backward()
        np.testing.assert_allclose(float(got), want.item(), rtol=1e-10)
        np.testing.assert_allclose(x.grad.numpy(), pt.grad.numpy(), rtol=1e-8, atol=1e-12)
    b = rng.uniform(0.01, 0.99, (6, 3))
    t = rng.integers(0, 2, (6, 3)).astype(float)
    bt = torch.tensor(b, requires_grad=True)
    want = torch.nn.functional.binary_cross_entropy(bt, torch.tensor(t))
    want.backward()
    x = lm.tensor(b, requires_grad=True)
    got = L.BinaryCrossentropy()(t, x)
    got.backward()
    np.testing.assert_allclose(float(got), want.item(), rtol=1e-10)
    np.testing.assert_allclose(x.grad.numpy(), bt.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_softmax_then_crossentropy_is_stable_and_one_node():
    z = lm.tensor([[50.0, -50.0, 0.0], [0.0, 0.0, 0.0]], requires_grad=True)
    p = lm.softmax(z)
    loss = L.CategoricalCrossentropy()(np.eye(3)[[1, 2]], p)
    # loss = sum(per_sample) / n, and per_sample is one fused node over the softmax output
    fused = loss._parents[0]._parents[0]
    assert fused._op == "categorical_crossentropy" and fused._parents[0] is p
    loss.backward()
    assert np.isfinite(float(loss)) and np.all(np.isfinite(z.grad.numpy()))
    # the clipped probability 1e-7 bounds the first sample's loss, as in Keras
    np.testing.assert_allclose(float(loss), (-np.log(EPS) + np.log(3)) / 2, rtol=1e-5)


def test_targets_n_against_predictions_n1_never_broadcast(rng):
    t = rng.standard_normal(7).astype(np.float32)
    p = rng.standard_normal((7, 1)).astype(np.float32)
    for cls in (L.MeanSquaredError, L.MeanAbsoluteError, L.Huber, L.LogCosh):
        per = cls(reduction="none")(t, p)
        assert per.shape == (7,)
        np.testing.assert_allclose(float(cls()(t, p)), float(cls()(t[:, None], p)), rtol=1e-6)
    b = (t > 0).astype(np.float32)
    s = 1 / (1 + np.exp(-p))
    assert L.BinaryCrossentropy(reduction="none")(b, s).shape == (7,)
    assert L.BinaryCrossentropy(reduction="none")(b[:, None], s[:, 0]).shape == (7,)


def test_sparse_targets_with_and_without_trailing_axis(rng):
    labels = rng.integers(0, 6, (3, 4))
    logits = rng.standard_normal((3, 4, 6)).astype(np.float32)
    loss = L.SparseCategoricalCrossentropy(from_logits=True, reduction="none")
    a = loss(labels, logits)
    b = loss(labels[..., None], logits)
    c = loss(labels.astype(np.float32), logits)
    assert a.shape == (3, 4)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(a.numpy(), c.numpy())


def test_errors_name_the_loss_and_shapes(rng):
    with pytest.raises(ValueError, match=r"mean_squared_error.*\(4, 3\).*\(4, 2\)"):
        L.MeanSquaredError()(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        L.CategoricalCrossentropy()(np.zeros(4), np.full((4, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy.*\(5,\).*\(4, 3\)"):
        L.SparseCategoricalCrossentropy()(np.zeros(5, int), np.full((4, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 3\)"):
        L.SparseCategoricalCrossentropy()(np.array([0, 3]), np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="integer class ids"):
        L.SparseCategoricalCrossentropy()(np.array([0.5, 1.0]), np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="reduction"):
        L.MeanSquaredError(reduction="average")


def test_sample_weight_and_reductions(rng):
    t = rng.standard_normal((4, 3)).astype(np.float32)
    p = rng.standard_normal((4, 3)).astype(np.float32)
    sw = np.array([1.0, 0.0, 2.0, 0.5], np.float32)
    per = ((t - p) ** 2).mean(-1)
    np.testing.assert_allclose(float(L.MeanSquaredError()(t, p, sample_weight=sw)),
                               (per * sw).sum() / 4, rtol=1e-6)
    np.testing.assert_allclose(L.MeanSquaredError(reduction="none")(t, p, sw).numpy(),
                               per * sw, rtol=1e-6)
    np.testing.assert_allclose(
        float(L.MeanSquaredError(reduction="mean_with_sample_weight")(t, p, sw)),
        (per * sw).sum() / sw.sum(), rtol=1e-6)
    # per-sample weights on per-timestep losses weight whole rows
    labels = rng.integers(0, 3, (4, 5))
    logits = rng.standard_normal((4, 5, 3)).astype(np.float32)
    sce = L.SparseCategoricalCrossentropy(from_logits=True, reduction="none")
    np.testing.assert_allclose(sce(labels, logits, sample_weight=sw).numpy(),
                               sce(labels, logits).numpy() * sw[:, None], rtol=1e-6)


def test_float32_stays_float32_and_float64_stays_float64(rng):
    p = rng.standard_normal((3, 2))
    assert L.MeanSquaredError()(np.zeros((3, 2)), lm.tensor(p, dtype="float32")).dtype == \
        np.float32
    assert L.MeanSquaredError()(np.zeros((3, 2)), lm.tensor(p, dtype="float64")).dtype == \
        np.float64


def test_second_order_through_probability_form_raises():
    x = lm.tensor(np.full((2, 3), 1 / 3), requires_grad=True)
    loss = L.CategoricalCrossentropy()(np.eye(3)[[0, 1]], x)
    with pytest.raises(RuntimeError, match="from_logits=True"):
        lm.autograd.gradients(loss, [x], create_graph=True)


def test_get_serialize_roundtrip_and_function_wrapping():
    assert isinstance(L.get("mse"), L.MeanSquaredError) and L.get("mse").name == "mse"
    assert isinstance(L.get("CategoricalCrossentropy"), L.CategoricalCrossentropy)
    assert L.get(None) is None
    bce = L.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, name="b")
    back = L.deserialize(L.serialize(bce))
    assert type(back) is L.BinaryCrossentropy and back.get_config() == bce.get_config()
    assert L.get({"class_name": "Huber", "config": {"delta": 2.0}})._fn_kwargs["delta"] == 2.0

    def my_loss(y_true, y_pred):
        return lm.mean(lm.abs(y_true - y_pred) ** 3, axis=-1)

    w = L.get(my_loss)
    assert isinstance(w, L.Loss) and w.name == "my_loss"
    assert float(w(np.zeros((2, 2)), np.full((2, 2), 2.0))) == pytest.approx(8.0)
    # the built-in function objects map to their classes
    assert isinstance(L.get(L.mean_absolute_error), L.MeanAbsoluteError)
    with pytest.raises(ValueError, match="unknown loss"):
        L.get("not_a_loss")


def test_focal_losses_formula_and_gradients(rng):
    t = rng.integers(0, 2, (4, 3)).astype(float)
    p = rng.uniform(0.1, 0.9, (4, 3))
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    p_t = t * p + (1 - t) * (1 - p)
    want = ((1 - p_t) ** 2 * bce).mean(-1).mean()
    assert float(L.BinaryFocalCrossentropy()(t, p)) == pytest.approx(want, rel=1e-10)
    gradcheck(lambda x: L.BinaryFocalCrossentropy(apply_class_balancing=True)(t, x), [p],
              atol=1e-6, rtol=1e-4)
    oh = np.eye(3)[rng.integers(0, 3, 4)]
    z = rng.standard_normal((4, 3))
    q = _np_softmax(z)
    want = (-(0.25 * (1 - q) ** 2 * oh * np.log(q))).sum(-1).mean()
    assert float(L.CategoricalFocalCrossentropy(from_logits=True)(oh, z)) == \
        pytest.approx(want, rel=1e-10)
    gradcheck(lambda x: L.CategoricalFocalCrossentropy(from_logits=True)(oh, x), [z],
              atol=1e-6, rtol=1e-4)


def test_fused_reduction_path_equals_weighted_path(rng):
    """Without sample weights the from-logits cross-entropies reduce inside the fused node;
    the result and gradient equal the general path (forced here with unit weights)."""
    labels = rng.integers(0, 5, (6, 2))
    z = rng.standard_normal((6, 2, 5))
    for loss, yt in ((L.SparseCategoricalCrossentropy(from_logits=True), labels),
                     (L.CategoricalCrossentropy(from_logits=True), np.eye(5)[labels]),
                     (L.SparseCategoricalCrossentropy(from_logits=True, reduction="sum"),
                      labels)):
        a, b = lm.tensor(z, requires_grad=True), lm.tensor(z, requires_grad=True)
        fa = loss(yt, a)
        fb = loss(yt, b, sample_weight=np.ones(6))
        fa.backward()
        fb.backward()
        assert fa._op == "cross_entropy" and fb._op != "cross_entropy"
        np.testing.assert_allclose(float(fa), float(fb), rtol=1e-12)
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_custom_loss_subclass_keras_style():
    class ScaledMSE(L.Loss):
        def __init__(self, scale=2.0, name="scaled_mse", **kwargs):
            super().__init__(name=name, **kwargs)
            self.scale = scale

        def call(self, y_true, y_pred):
            return lm.mean(lm.square(y_pred - y_true), axis=-1) * self.scale

        def get_config(self):
            return {**super().get_config(), "scale": self.scale}

    loss = ScaledMSE(reduction="sum")
    assert float(loss(np.zeros((2, 2)), np.ones((2, 2)))) == pytest.approx(4.0)
    back = ScaledMSE.from_config(loss.get_config())
    assert back.scale == 2.0 and back.reduction == "sum" and back.name == "scaled_mse"
    assert L.get(loss) is loss


def test_dice_and_tversky_formula_and_gradients(rng):
    t = rng.integers(0, 2, (3, 4)).astype(float)
    p = rng.uniform(0.1, 0.9, (3, 4))
    want = 1 - 2 * (t * p).sum(1) / (t.sum(1) + p.sum(1) + EPS)
    np.testing.assert_allclose(L.Dice(axis=1, reduction="none")(t, p).numpy(), want,
                               rtol=1e-10)
    assert float(L.Tversky(alpha=0.5, beta=0.5)(t, p)) == pytest.approx(float(L.Dice()(t, p)),
                                                                        rel=1e-6)
    gradcheck(lambda x: L.Tversky(alpha=0.2, beta=0.8, axis=1)(t, x), [p], atol=1e-6,
              rtol=1e-4)


@pytest.mark.parametrize("loss", [L.MeanSquaredError(), L.LogCosh(), L.Poisson(),
                                  L.CategoricalCrossentropy(from_logits=True),
                                  L.BinaryCrossentropy(from_logits=True),
                                  L.CosineSimilarity()], ids=lambda x: x.name)
def test_second_derivatives_of_composed_and_logit_losses(loss, rng):
    from lamina.testing import gradgradcheck
    t = np.eye(3)[rng.integers(0, 3, 4)]
    p = rng.uniform(0.2, 1.5, (4, 3))
    gradgradcheck(lambda x: loss(t, x), [p])


def test_wrapped_user_function_roundtrips_with_custom_objects():
    def cubic(y_true, y_pred):
        return lm.mean(lm.abs(y_true - y_pred) ** 3, axis=-1)

    cfg = L.serialize(L.get(cubic))
    with pytest.raises(ValueError, match="custom_objects"):
        L.deserialize(cfg)
    back = L.deserialize(cfg, custom_objects={"cubic": cubic})
    assert back.fn is cubic and back.name == "cubic"


def test_ctc_loss_trains_a_sequence_model():
    """loss='ctc' through compile/fit: a per-step classifier learns to spell its targets."""
    from lamina import keras
    lm.random.seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8, 3)).astype(np.float32)
    # label = 1 + (sign of the first feature at steps 1 and 5), padded with 0 (the blank)
    y = np.zeros((64, 3), np.int64)
    y[:, 0] = 1 + (x[:, 1, 0] > 0)
    y[:, 1] = 3
    y[:, 2] = 1 + (x[:, 5, 0] > 0)
    model = keras.Sequential([keras.Input((8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(64, activation="tanh"),
                              keras.layers.Dense(8 * 4), keras.layers.Reshape((8, 4))])
    model.compile(keras.optimizers.Adam(0.02), loss="ctc")
    h = model.fit(x, y, epochs=40, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < 0.1 * h.history["loss"][0]
    decoded, _ = keras.ops.ctc_decode(model.predict(x, verbose=0), np.full(64, 8))
    assert (decoded.numpy()[0][:, :3] == y).all(axis=1).mean() > 0.9


@pytest.mark.parametrize("cls,kw,kind", [
    (L.MeanSquaredError, {}, "real"), (L.BinaryCrossentropy, {}, "prob"),
    (L.BinaryCrossentropy, {"from_logits": True}, "binary"),
    (L.CategoricalCrossentropy, {}, "onehot"),
    (L.CategoricalCrossentropy, {"from_logits": True}, "onehot"), (L.Hinge, {}, "binary")])
def test_targets_follow_the_prediction_to_its_device(cls, kw, kind, device, rng):
    """Targets on another device than the prediction (host labels for a model on the
    GPU, or the reverse) are moved to the prediction's device, which carries the graph."""
    t, p = _inputs(rng, kind, (4, 3), kw.get("from_logits", False))
    want = float(cls(**kw)(t, p))
    for t_dev, p_dev in (("cpu", device), (device, "cpu")):
        yp = lm.tensor(p, device=p_dev, requires_grad=True)
        raw = lm.tensor(t, device=t_dev).data          # a NumPy or CuPy array
        for yt in (lm.tensor(t, device=t_dev), raw):
            got = cls(**kw)(yt, yp, sample_weight=np.ones(4))
            assert got.device == yp.device
            np.testing.assert_allclose(float(got), want, rtol=1e-6)
            got.backward()
            assert yp.grad.device == yp.device


def test_sparse_targets_follow_the_prediction_to_its_device(device, rng):
    labels = rng.integers(0, 5, (3, 4))
    logits = rng.standard_normal((3, 4, 5))
    for from_logits in (True, False):
        x = logits if from_logits else np.abs(logits) + 0.1
        loss = L.SparseCategoricalCrossentropy(from_logits=from_logits)
        want = float(loss(labels, x))
        for t_dev, p_dev in (("cpu", device), (device, "cpu")):
            got = loss(lm.tensor(labels, device=t_dev), lm.tensor(x, device=p_dev))
            assert got.device == lm.device(p_dev)
            np.testing.assert_allclose(float(got), want, rtol=1e-6)
