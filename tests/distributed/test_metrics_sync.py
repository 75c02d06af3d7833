"""Summing metric states over (simulated) ranks."""
import numpy as np
import pytest

from lamina.distributed import metrics_sync
from lamina.nn import metrics


def test_state_names_are_what_reset_state_assigns():
    assert metrics_sync.metric_state_names(metrics.Mean()) == ("total", "count")
    assert set(metrics_sync.metric_state_names(metrics.Precision())) == {
        "true_positives", "false_positives", "false_negatives"}
    assert "total_cm" in metrics_sync.metric_state_names(metrics.MeanIoU(num_classes=3))


def test_sum_over_identical_ranks_keeps_results_and_scales_counts(fake_world):
    fake_world(size=3)
    acc = metrics.SparseCategoricalAccuracy()
    acc.update_state(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]))
    prec = metrics.Precision()
    prec.update_state(np.array([1, 0, 1, 1]), np.array([0.9, 0.8, 0.2, 0.7]))
    r2 = metrics.R2Score()
    r2.update_state(np.array([[1.0], [2.0], [4.0]]), np.array([[1.1], [1.8], [3.5]]))
    before = [float(m.result()) for m in (acc, prec, r2)]
    metrics_sync.sync_metrics([acc, prec, r2])
    after = [float(m.result()) for m in (acc, prec, r2)]
    np.testing.assert_allclose(after, before, rtol=1e-6)
    assert float(acc.count) == 9.0
    assert prec.true_positives.tolist() == [6.0]
    assert r2.num_samples == 9 and isinstance(r2.num_samples, int)


def test_mismatched_states_are_reported(fake_world, monkeypatch):
    fake_world(size=2)
    from lamina.distributed import world

    def other_rank_has_more(buf, op="sum"):
        if op == "max":
            buf[1] += 2
        return buf
    monkeypatch.setattr(world, "allreduce_", other_rank_has_more)
    with pytest.raises(ValueError, match="the ranks hold different metric states"):
        metrics_sync.sync_metrics([metrics.Mean()])


def test_world_of_one_is_untouched(fresh_world):
    m = metrics.Mean()
    m.update_state(np.array([1.0, 3.0]))
    metrics_sync.sync_metrics([m])
    assert float(m.count) == 2.0 and float(m.result()) == 2.0
