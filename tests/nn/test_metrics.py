"""Metrics (lamina/nn/metrics.py): values by hand, accumulation and reset, weights, the
'accuracy' resolution rule, user functions, configs."""
import numpy as np
import pytest

import lamina as lm
from lamina.nn import losses as L
from lamina.nn import metrics as M


def test_mean_accumulates_weighted_and_resets():
    m = M.Mean()
    m.update_state([1.0, 2.0, 3.0])
    m.update_state([10.0], sample_weight=[2.0])
    assert float(m.result()) == pytest.approx((1 + 2 + 3 + 20) / 5)
    m.reset_state()
    assert float(m.result()) == 0.0
    s = M.Sum()
    s.update_state(np.ones((2, 3)))
    assert float(s.result()) == 6.0


def test_accuracies_by_hand():
    acc = M.BinaryAccuracy()
    acc.update_state([[1], [0], [1], [0]], [[0.9], [0.6], [0.4], [0.1]])
    assert float(acc.result()) == 0.5
    acc.update_state(np.array([1, 1]), np.array([[0.8], [0.7]]))      # (n,) vs (n, 1)
    assert float(acc.result()) == pytest.approx(4 / 6)
    cat = M.CategoricalAccuracy()
    cat.update_state(np.eye(3)[[0, 1, 2]], np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7],
                                                     [0.0, 0.1, 0.9]]))
    assert float(cat.result()) == pytest.approx(2 / 3)
    sp = M.SparseCategoricalAccuracy()
    sp.update_state(np.array([[0], [2]]), np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1]]))
    assert float(sp.result()) == 0.5
    top = M.SparseTopKCategoricalAccuracy(k=2)
    top.update_state(np.array([2, 2]), np.array([[0.1, 0.5, 0.4], [0.5, 0.4, 0.1]]))
    assert float(top.result()) == 0.5
    exact = M.Accuracy()
    exact.update_state([1, 2, 3, 4], [0, 2, 3, 4])
    assert float(exact.result()) == 0.75


def test_accepts_tensors_that_require_grad_without_building_graphs():
    p = lm.tensor(np.array([[0.2, 0.8], [0.9, 0.1]], np.float32), requires_grad=True)
    m = M.SparseCategoricalAccuracy()
    m.update_state(lm.tensor([1, 1]), p)
    assert float(m.result()) == 0.5
    mse = M.MeanSquaredError()
    mse.update_state(np.zeros((2, 2)), p)
    assert float(mse.result()) == pytest.approx(((p.numpy()) ** 2).mean(), rel=1e-6)
    assert isinstance(mse.result(), lm.Tensor) and mse.result().dtype == np.float32


def test_rmse_precision_recall_auc_by_hand():
    r = M.RootMeanSquaredError()
    r.update_state([0.0, 0.0], [3.0, 4.0])
    assert float(r.result()) == pytest.approx(np.sqrt(12.5))
    y = np.array([1, 1, 0, 0, 1])
    p = np.array([0.9, 0.3, 0.8, 0.1, 0.7])
    pr, rc = M.Precision(), M.Recall()
    pr.update_state(y, p)
    rc.update_state(y, p)
    assert float(pr.result()) == pytest.approx(2 / 3) and float(rc.result()) == pytest.approx(2 / 3)
    auc = M.AUC(num_thresholds=1000)
    auc.update_state(y, p)
    # exact ROC AUC: positive/negative pairs ranked correctly = 4 of 6
    assert float(auc.result()) == pytest.approx(4 / 6, abs=2e-3)
    perfect = M.AUC()
    perfect.update_state([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert float(perfect.result()) == pytest.approx(1.0, abs=1e-6)


def test_accuracy_resolution_rule():
    def cls(**kw):
        return type(M.get("accuracy", **kw))
    assert cls(y_true=np.zeros((4, 1)), y_pred=np.zeros((4, 1))) is M.BinaryAccuracy
    assert cls(y_true=np.zeros(4), y_pred=np.zeros((4, 5))) is M.SparseCategoricalAccuracy
    assert cls(y_true=np.zeros((4, 1)), y_pred=np.zeros((4, 5))) is \
        M.SparseCategoricalAccuracy
    assert cls(y_true=np.zeros((4, 5)), y_pred=np.zeros((4, 5))) is M.CategoricalAccuracy
    assert cls(y_true=(None, 3, 1), y_pred=(None, 3, 5)) is M.SparseCategoricalAccuracy
    assert cls(loss="sparse_categorical_crossentropy") is M.SparseCategoricalAccuracy
    assert cls(loss=L.BinaryCrossentropy()) is M.BinaryAccuracy
    assert cls(loss=L.get("categorical_crossentropy")) is M.CategoricalAccuracy
    assert cls(output_shape=(None, 1)) is M.BinaryAccuracy
    assert cls(output_shape=(None, 10)) is M.CategoricalAccuracy
    assert M.get("acc", output_shape=(None, 1)).name == "acc"


def test_get_names_and_user_functions():
    assert M.get("mae").name == "mae" and isinstance(M.get("mae"), M.MeanAbsoluteError)
    assert isinstance(M.get("auc"), M.AUC) and isinstance(M.get("AUC"), M.AUC)
    assert isinstance(M.get("top_k_categorical_accuracy"), M.TopKCategoricalAccuracy)
    bce = M.get("binary_crossentropy")
    bce.update_state(np.array([[1.0]]), np.array([[0.5]]))
    assert float(bce.result()) == pytest.approx(np.log(2), rel=1e-5)

    def max_error(y_true, y_pred):
        return np.abs(np.asarray(y_true) - np.asarray(y_pred)).max(axis=-1)
    m = M.get(max_error)
    assert m.name == "max_error"
    m.update_state(np.zeros((2, 2)), np.array([[1.0, 3.0], [2.0, 0.0]]))
    assert float(m.result()) == pytest.approx(2.5)
    assert M.get(m) is m and M.get(None) is None
    with pytest.raises(ValueError, match="unknown metric"):
        M.get("acuracy")


def test_errors_name_metric_and_shapes():
    with pytest.raises(ValueError, match=r"categorical_accuracy.*\(3,\).*\(3, 4\)"):
        M.CategoricalAccuracy().update_state(np.zeros(3), np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"sparse_categorical_accuracy.*\(5,\)"):
        M.SparseCategoricalAccuracy().update_state(np.zeros(5), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="thresholds must lie in"):
        M.Precision(thresholds=1.5)


@pytest.mark.parametrize("metric", [M.AUC(curve="PR", num_thresholds=50), M.Precision(0.3),
                                    M.TopKCategoricalAccuracy(k=3), M.BinaryAccuracy(threshold=0.2),
                                    M.Mean(name="m"), M.MeanSquaredError(name="x")])
def test_config_roundtrip(metric):
    back = M.deserialize(M.serialize(metric))
    assert type(back) is type(metric) and back.get_config() == metric.get_config()


def test_f1_and_r2_by_hand():
    y = np.eye(2)[[0, 0, 1, 1]]
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    f1 = M.F1Score()
    f1.update_state(y, p)
    # class 0: tp 1, fp 1, fn 1 -> 0.5; class 1 likewise
    np.testing.assert_allclose(f1.result().numpy(), [0.5, 0.5], atol=1e-6)
    macro = M.F1Score(average="macro")
    macro.update_state(y, p)
    assert float(macro.result()) == pytest.approx(0.5, abs=1e-6)
    r2 = M.R2Score()
    t = np.array([[1.0], [2.0], [3.0], [4.0]])
    r2.update_state(t, t + np.array([[0.5], [-0.5], [0.5], [-0.5]]))
    assert float(r2.result()) == pytest.approx(1 - 1.0 / 5.0)
    with pytest.raises(ValueError, match="average must be"):
        M.F1Score(average="mean")


def test_custom_metric_subclass_keras_style():
    class BinaryTruePositives(M.Metric):
        def __init__(self, name="binary_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), initializer="zeros",
                                                    name="true_positives")

        def update_state(self, y_true, y_pred, sample_weight=None):
            hits = lm.tensor((np.asarray(y_true) == 1) & (np.asarray(y_pred) > 0.5),
                             dtype="float32")
            self.true_positives.assign(self.true_positives + lm.sum(hits))

        def result(self):
            return self.true_positives

    m = BinaryTruePositives()
    m.update_state([1, 1, 0], [0.9, 0.2, 0.8])
    m.update_state([1], [0.7])
    assert float(m.result()) == 2.0
    assert [v.path for v in m.variables] == ["binary_true_positives/true_positives"]
    m.reset_state()
    assert float(m.result()) == 0.0


def test_iou_and_confusion_counts_by_hand():
    m = M.MeanIoU(num_classes=2)
    m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
    # cm = [[1, 1], [1, 1]]: each class IoU = 1 / (2 + 2 - 1)
    assert float(m.result()) == pytest.approx(1 / 3, rel=1e-6)
    b = M.BinaryIoU(target_class_ids=[0, 1], threshold=0.3)
    b.update_state([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7])
    assert float(b.result()) == pytest.approx(1 / 3, rel=1e-6)
    tp = M.TruePositives()
    tp.update_state([1, 1, 0, 1], [0.9, 0.4, 0.8, 0.6], sample_weight=[1.0, 1.0, 1.0, 2.0])
    assert float(tp.result()) == 3.0
    with pytest.raises(ValueError, match="out of range"):
        M.IoU(num_classes=2, target_class_ids=[2])


def test_precision_at_recall_by_hand():
    m = M.PrecisionAtRecall(recall=1.0)
    m.update_state([1, 1, 0, 0], [0.9, 0.6, 0.7, 0.1])
    # full recall needs a threshold below 0.6: best is 2 positives among 3 predicted
    assert float(m.result()) == pytest.approx(2 / 3, rel=1e-6)
    s = M.SensitivityAtSpecificity(specificity=1.0)
    s.update_state([1, 1, 0, 0], [0.9, 0.6, 0.7, 0.1])
    assert float(s.result()) == pytest.approx(0.5)       # threshold in [0.7, 0.9)
    with pytest.raises(ValueError, match="recall must be in"):
        M.PrecisionAtRecall(recall=1.5)


def test_wrapped_user_metric_roundtrips_with_custom_objects():
    def max_abs(y_true, y_pred):
        return np.abs(np.asarray(y_true) - np.asarray(y_pred)).max(axis=-1)

    cfg = M.serialize(M.get(max_abs))
    with pytest.raises(ValueError, match="custom_objects"):
        M.deserialize(cfg)
    back = M.deserialize(cfg, custom_objects={"max_abs": max_abs})
    assert back._fn is max_abs and back.name == "max_abs"
    assert isinstance(M.deserialize(M.serialize(M.get("binary_crossentropy"))),
                      M.BinaryCrossentropy)
