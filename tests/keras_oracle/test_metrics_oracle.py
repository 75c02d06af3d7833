"""lamina's metrics against real Keras 3 (PyTorch backend) on random data, accumulated
over several batches (with and without sample weights)."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from lamina.nn import metrics as M  # noqa: E402


def _compare(ours, theirs, batches, rtol=1e-5, atol=1e-6):
    for args, kw in batches:
        ours.update_state(*args, **kw)
        theirs.update_state(*args, **kw)
    np.testing.assert_allclose(ours.result().numpy(),
                               keras.ops.convert_to_numpy(theirs.result()), rtol=rtol,
                               atol=atol)
    ours.reset_state()
    theirs.reset_state()
    np.testing.assert_allclose(ours.result().numpy(),
                               keras.ops.convert_to_numpy(theirs.result()), atol=1e-7)


def _binary_batches(rng, weighted, shape=(16, 1)):
    out = []
    for _ in range(3):
        y = rng.integers(0, 2, shape).astype(np.float32)
        p = rng.random(shape).astype(np.float32)
        kw = {"sample_weight": rng.uniform(0, 2, shape[:1]).astype(np.float32)} \
            if weighted else {}
        out.append(((y, p), kw))
    return out


BINARY = [
    ("BinaryAccuracy", {}), ("BinaryAccuracy", {"threshold": 0.7}),
    ("AUC", {}), ("AUC", {"curve": "PR"}), ("AUC", {"num_thresholds": 17}),
    ("AUC", {"summation_method": "minoring"}), ("AUC", {"curve": "PR",
                                                          "summation_method": "majoring"}),
    ("AUC", {"thresholds": [0.1, 0.33, 0.5, 0.9]}), ("AUC", {"from_logits": True}),
    ("Precision", {}), ("Recall", {}), ("Precision", {"thresholds": [0.2, 0.5, 0.8]}),
    ("Recall", {"thresholds": 0.3}),
    ("MeanSquaredError", {}), ("MeanAbsoluteError", {}), ("RootMeanSquaredError", {}),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name,kw", BINARY, ids=[f"{n}-{'-'.join(map(str, k.values()))}"
                                                 for n, k in BINARY])
def test_binary_metrics_match_keras(name, kw, weighted, rng):
    _compare(getattr(M, name)(**kw), getattr(keras.metrics, name)(**kw),
             _binary_batches(rng, weighted))


@pytest.mark.parametrize("shape", [(16,), (8, 3)])
def test_auc_on_other_shapes_matches_keras(shape, rng):
    _compare(M.AUC(), keras.metrics.AUC(), _binary_batches(rng, False, shape))
    _compare(M.AUC(multi_label=True), keras.metrics.AUC(multi_label=True),
             _binary_batches(rng, False, (12, 3)))


def test_precision_top_k_and_class_id_match_keras(rng):
    y = (rng.random((10, 5)) > 0.6).astype(np.float32)
    p = rng.random((10, 5)).astype(np.float32)
    for kw in ({"top_k": 2}, {"class_id": 3}):
        _compare(M.Precision(**kw), keras.metrics.Precision(**kw), [((y, p), {})])
        _compare(M.Recall(**kw), keras.metrics.Recall(**kw), [((y, p), {})])


@pytest.mark.parametrize("weighted", [False, True])
def test_categorical_metrics_match_keras(weighted, rng):
    batches_sparse, batches_dense = [], []
    for _ in range(3):
        labels = rng.integers(0, 6, (12,))
        p = rng.random((12, 6)).astype(np.float32)
        kw = {"sample_weight": rng.uniform(0, 2, (12,)).astype(np.float32)} if weighted else {}
        batches_sparse.append(((labels, p), kw))
        batches_sparse.append(((labels[:, None], p), kw))
        batches_dense.append(((np.eye(6, dtype=np.float32)[labels], p), kw))
    _compare(M.SparseCategoricalAccuracy(), keras.metrics.SparseCategoricalAccuracy(),
             batches_sparse)
    _compare(M.SparseTopKCategoricalAccuracy(k=3),
             keras.metrics.SparseTopKCategoricalAccuracy(k=3), batches_sparse)
    _compare(M.CategoricalAccuracy(), keras.metrics.CategoricalAccuracy(), batches_dense)
    _compare(M.TopKCategoricalAccuracy(k=2), keras.metrics.TopKCategoricalAccuracy(k=2),
             batches_dense)


def test_sequence_accuracy_and_mean_match_keras(rng):
    labels = rng.integers(0, 5, (4, 7))
    p = rng.random((4, 7, 5)).astype(np.float32)
    sw = rng.uniform(0, 1, (4, 7)).astype(np.float32)
    _compare(M.SparseCategoricalAccuracy(), keras.metrics.SparseCategoricalAccuracy(),
             [((labels, p), {}), ((labels, p), {"sample_weight": sw})])
    vals = rng.standard_normal((5, 3)).astype(np.float32)
    _compare(M.Mean(), keras.metrics.Mean(), [((vals,), {}),
                                              ((vals,), {"sample_weight": sw[0, :5]})])
    _compare(M.Sum(), keras.metrics.Sum(), [((vals,), {})])


@pytest.mark.parametrize("name", ["AUC", "Precision", "BinaryAccuracy", "Mean",
                                  "SparseTopKCategoricalAccuracy"])
def test_config_keys_match_keras(name):
    ours = set(getattr(M, name)().get_config())
    theirs = set(getattr(keras.metrics, name)().get_config())
    assert ours == theirs


@pytest.mark.parametrize("name,kw,kind", [
    ("BinaryCrossentropy", {}, "prob"), ("BinaryCrossentropy", {"from_logits": True}, "real"),
    ("CategoricalCrossentropy", {}, "prob"), ("KLDivergence", {}, "prob"),
    ("Poisson", {}, "prob"), ("Hinge", {}, "real"), ("SquaredHinge", {}, "real"),
    ("CategoricalHinge", {}, "real"), ("LogCoshError", {}, "real"),
    ("CosineSimilarity", {}, "real"), ("MeanAbsolutePercentageError", {}, "prob"),
    ("MeanSquaredLogarithmicError", {}, "prob")])
def test_loss_metrics_match_keras(name, kw, kind, rng):
    batches = []
    for _ in range(2):
        y = (rng.random((8, 4)) > 0.5).astype(np.float32)
        p = rng.uniform(0.05, 0.95, (8, 4)).astype(np.float32) if kind == "prob" else \
            rng.standard_normal((8, 4)).astype(np.float32)
        batches.append(((y, p), {"sample_weight": rng.uniform(0, 1, (8,)).astype(np.float32)}))
    ours, theirs = getattr(M, name)(**kw), getattr(keras.metrics, name)(**kw)
    assert ours.name == theirs.name
    _compare(ours, theirs, batches)


@pytest.mark.parametrize("kw", [{}, {"average": "micro"}, {"average": "macro"},
                                {"average": "weighted", "threshold": 0.4}])
@pytest.mark.parametrize("name", ["F1Score", "FBetaScore"])
def test_f_scores_match_keras(name, kw, rng):
    if name == "FBetaScore":
        kw = dict(kw, beta=2.0)
    batches = []
    for _ in range(2):
        y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 10)]
        p = rng.random((10, 4)).astype(np.float32)
        batches.append(((y, p), {"sample_weight": rng.uniform(0, 1, 10).astype(np.float32)}))
    _compare(getattr(M, name)(**kw), getattr(keras.metrics, name)(**kw), batches)
    assert set(getattr(M, name)(**kw).get_config()) == \
        set(getattr(keras.metrics, name)(**kw).get_config())


@pytest.mark.parametrize("kw", [{}, {"class_aggregation": "variance_weighted_average"},
                                {"class_aggregation": None}, {"num_regressors": 2}])
def test_r2_score_matches_keras(kw, rng):
    batches = []
    for _ in range(2):
        y = rng.standard_normal((12, 3)).astype(np.float32)
        p = (y + 0.5 * rng.standard_normal((12, 3))).astype(np.float32)
        batches.append(((y, p), {"sample_weight": rng.uniform(0, 1, 12).astype(np.float32)}))
    batches.append(((y, p), {}))
    ours, theirs = M.R2Score(**kw), keras.metrics.R2Score(**kw)
    for args, k in batches:
        ours.update_state(*args, **k)
        theirs.update_state(*args, **k)
    np.testing.assert_allclose(ours.result().numpy(),
                               keras.ops.convert_to_numpy(theirs.result()), rtol=1e-4)


@pytest.mark.parametrize("name,kw", [("TruePositives", {}), ("FalsePositives", {}),
                                     ("TrueNegatives", {"thresholds": [0.2, 0.6]}),
                                     ("FalseNegatives", {"thresholds": 0.3})])
def test_confusion_counts_match_keras(name, kw, rng):
    _compare(getattr(M, name)(**kw), getattr(keras.metrics, name)(**kw),
             _binary_batches(rng, True))


def test_iou_metrics_match_keras(rng):
    t = rng.integers(0, 4, (3, 5, 5))
    p = rng.integers(0, 4, (3, 5, 5))
    scores = rng.random((3, 5, 5, 4)).astype(np.float32)
    onehot = np.eye(4, dtype=np.float32)[t]
    sw = rng.integers(0, 3, (3, 5, 5))           # integer weights: Keras's int matrix agrees
    cases = [(M.MeanIoU(4), keras.metrics.MeanIoU(4), (t, p)),
             (M.MeanIoU(4, ignore_class=2), keras.metrics.MeanIoU(4, ignore_class=2), (t, p)),
             (M.IoU(4, [1, 3]), keras.metrics.IoU(4, [1, 3]), (t, p)),
             (M.MeanIoU(4, sparse_y_pred=False), keras.metrics.MeanIoU(4, sparse_y_pred=False),
              (t, scores)),
             (M.OneHotMeanIoU(4), keras.metrics.OneHotMeanIoU(4), (onehot, scores)),
             (M.OneHotIoU(4, [0, 2]), keras.metrics.OneHotIoU(4, [0, 2]), (onehot, scores))]
    for ours, theirs, args in cases:
        _compare(ours, theirs, [(args, {}), (args, {"sample_weight": sw})])
        assert set(ours.get_config()) == set(theirs.get_config())
    bt = rng.integers(0, 2, 20)
    bp = rng.random(20).astype(np.float32)
    _compare(M.BinaryIoU(threshold=0.3), keras.metrics.BinaryIoU(threshold=0.3),
             [((bt, bp), {})])


@pytest.mark.parametrize("name,kw", [("SensitivityAtSpecificity", {"specificity": 0.6}),
                                     ("SpecificityAtSensitivity", {"sensitivity": 0.7}),
                                     ("PrecisionAtRecall", {"recall": 0.5}),
                                     ("RecallAtPrecision", {"precision": 0.55,
                                                            "num_thresholds": 11}),
                                     ("PrecisionAtRecall", {"recall": 0.5, "class_id": 1})])
def test_rate_at_constraint_metrics_match_keras(name, kw, rng):
    shape = (16, 3) if "class_id" in kw else (16, 1)
    _compare(getattr(M, name)(**kw), getattr(keras.metrics, name)(**kw),
             _binary_batches(rng, True, shape))
    assert set(getattr(M, name)(**kw).get_config()) == \
        set(getattr(keras.metrics, name)(**kw).get_config())


@pytest.mark.parametrize("name", ["PearsonCorrelation", "ConcordanceCorrelation"])
def test_correlation_metrics_match_keras(name):
    from lamina.nn import metrics as M
    rng = np.random.default_rng(21)
    yt = rng.standard_normal((6, 5)).astype(np.float32)
    yp = (yt + rng.standard_normal((6, 5)) * 0.5).astype(np.float32)
    ours, theirs = getattr(M, name)(), getattr(keras.metrics, name)()
    for args in ((yt, yp), (yp, yt * 2 + 1)):
        ours.update_state(*args, sample_weight=np.arange(1, 7))
        theirs.update_state(*args, sample_weight=np.arange(1, 7))
    np.testing.assert_allclose(float(ours.result()), float(theirs.result()), rtol=1e-5)
    assert ours.get_config() == theirs.get_config()
    fn = name.replace("Correlation", "_correlation").lower()
    np.testing.assert_allclose(getattr(M, fn)(yt, yp),
                               keras.ops.convert_to_numpy(getattr(keras.metrics, fn)(yt, yp)),
                               rtol=1e-5)
