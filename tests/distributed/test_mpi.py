"""lamina.distributed across real processes: ``mpiexec -n 2`` and ``-n 3`` (oversubscribed)
on tests/distributed/scripts/train_mlp.py, compared with single-process training in this
process.  Skipped when mpi4py or mpiexec is missing."""
import json
import os
import re
import sys
import time

import numpy as np
import pytest

from mpi_launch import SCRIPTS, run_mpi

sys.path.insert(0, SCRIPTS)
import train_mlp  # noqa: E402


def _ranks(outdir, n):
    ws = [dict(np.load(os.path.join(outdir, f"rank{r}.npz"))) for r in range(n)]
    meta = [json.load(open(os.path.join(outdir, f"rank{r}.json"))) for r in range(n)]
    return ws, meta


def _check_ok(proc):
    assert proc.returncode == 0, f"mpiexec failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def _assert_same_everywhere(ws):
    for w in ws[1:]:
        assert w.keys() == ws[0].keys()
        for k in w:
            np.testing.assert_array_equal(w[k], ws[0][k], err_msg=f"{k} differs across ranks")


@pytest.fixture(scope="module")
def reference():
    """Single-process training on the full (global) batches of the same data."""
    model, history = train_mlp.train()
    return train_mlp.weights(model), history


@pytest.mark.parametrize("n", [2, 3])
def test_fit_matches_single_process_and_reports_global_history(n, tmp_path, reference):
    proc = run_mpi(n, "train_mlp.py", str(tmp_path), "fit")
    _check_ok(proc)
    ws, meta = _ranks(tmp_path, n)
    assert all(m["world"] == n for m in meta)
    _assert_same_everywhere(ws)
    ref_w, ref_h = reference
    for k, v in ref_w.items():
        np.testing.assert_allclose(ws[0][k], v, rtol=1e-5, atol=2e-6, err_msg=k)
    # every rank logged the global loss/metrics: those of the single process
    for m in meta:
        assert m["history"].keys() == ref_h.keys()
        for key, vals in ref_h.items():
            np.testing.assert_allclose(m["history"][key], vals, rtol=1e-5, atol=1e-6,
                                       err_msg=key)
    # only rank 0 printed, and what it printed is the global history
    printed = [l for l in proc.stdout.splitlines() if "loss:" in l]
    assert len(printed) == train_mlp.EPOCHS
    assert all(l.startswith("[1,0]") for l in printed if l.startswith("[1,"))
    losses = [float(re.search(r" loss: ([0-9.]+)", l).group(1)) for l in printed]
    np.testing.assert_allclose(losses, ref_h["loss"], atol=1e-4)


def test_batchnorm_statistics_agree_across_ranks(tmp_path):
    proc = run_mpi(2, "train_mlp.py", str(tmp_path), "batchnorm")
    _check_ok(proc)
    ws, _ = _ranks(tmp_path, 2)
    assert any("moving_mean" in k for k in ws[0])
    _assert_same_everywhere(ws)


@pytest.mark.parametrize("mode", ["earlystop", "stop"])
def test_every_rank_stops_at_the_same_step(mode, tmp_path):
    proc = run_mpi(2, "train_mlp.py", str(tmp_path), mode)
    _check_ok(proc)
    ws, meta = _ranks(tmp_path, 2)
    _assert_same_everywhere(ws)
    # EarlyStopping on the global val_loss, or a stop requested by rank 1 alone in the
    # second epoch: both ranks end after 2 of the 6 epochs
    assert [len(m["history"]["loss"]) for m in meta] == [2, 2]
    assert meta[0]["history"] == meta[1]["history"]


def test_custom_loop_all_reduce_gradients(tmp_path):
    proc = run_mpi(2, "train_mlp.py", str(tmp_path), "loop")
    _check_ok(proc)
    ws, _ = _ranks(tmp_path, 2)
    _assert_same_everywhere(ws)
    import lamina as lm
    from lamina import keras
    # the same loop in one process on the whole global batch
    model = train_mlp.build(0)
    x, y = train_mlp.data()
    tw = model.trainable_weights
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    for s in range(6):
        lo = (s * train_mlp.BATCH) % train_mlp.N
        for v in tw:
            v.grad = None
        loss_fn(y[lo:lo + train_mlp.BATCH],
                model(lm.tensor(x[lo:lo + train_mlp.BATCH]), training=True)).backward()
        with lm.no_grad():
            for v in tw:
                v.data -= np.float32(0.1) * v.grad.data
    for k, v in train_mlp.weights(model).items():
        np.testing.assert_allclose(ws[1][k], v, rtol=1e-5, atol=1e-6, err_msg=k)


def test_a_rank_that_raises_ends_the_job(tmp_path):
    t0 = time.monotonic()
    proc = run_mpi(2, "train_mlp.py", str(tmp_path), "raise", timeout=60)
    elapsed = time.monotonic() - t0
    assert proc.returncode != 0
    assert "rank 1 of 2 raised an uncaught exception" in proc.stderr
    assert "RuntimeError: boom on rank 1" in proc.stderr
    assert elapsed < 40      # 50 epochs were asked for: the job did not run to the end


def test_a_rank_that_hangs_times_out(tmp_path):
    t0 = time.monotonic()
    proc = run_mpi(2, "train_mlp.py", str(tmp_path), "hang", timeout=60)
    elapsed = time.monotonic() - t0
    assert proc.returncode != 0
    assert "rank 0 of 2: timed out after 2 s waiting in all_reduce" in proc.stderr
    assert elapsed < 40      # rank 1 sleeps 60 s


@pytest.mark.slow
def test_checkpoint_from_two_ranks_resumes_on_three(tmp_path):
    _check_ok(run_mpi(2, "train_mlp.py", str(tmp_path), "resume1"))
    files = sorted(os.listdir(tmp_path))
    assert files == ["ckpt.keras", "rank0.json", "rank0.npz", "rank1.json", "rank1.npz"]
    _check_ok(run_mpi(3, "train_mlp.py", str(tmp_path), "resume2"))
    ws, meta = _ranks(tmp_path, 3)
    _assert_same_everywhere(ws)
    # reference: one process, 2 epochs, save, reload with the same seed, 1 more epoch
    from lamina import keras
    model, _ = train_mlp.train(epochs=2)
    path = str(tmp_path / "ref.keras")
    model.save(path)
    keras.utils.set_random_seed(1)
    model = keras.saving.load_model(path)
    x, y = train_mlp.data()
    hist = model.fit(x, y, batch_size=train_mlp.BATCH, epochs=3, initial_epoch=2, verbose=0)
    for k, v in train_mlp.weights(model).items():
        np.testing.assert_allclose(ws[2][k], v, rtol=1e-5, atol=2e-6, err_msg=k)
    np.testing.assert_allclose(meta[2]["history"]["loss"], hist.history["loss"], rtol=1e-5)


@pytest.mark.slow
def test_backup_and_restore_after_a_crash_on_another_number_of_ranks(tmp_path):
    crashed = run_mpi(2, "train_mlp.py", str(tmp_path), "backup1")
    assert crashed.returncode != 0 and "Crash: crash at the end of epoch 2" in crashed.stderr
    assert sorted(os.listdir(tmp_path / "backup")) == ["latest.keras",
                                                       "training_metadata.json"]
    _check_ok(run_mpi(3, "train_mlp.py", str(tmp_path), "backup2"))
    ws, meta = _ranks(tmp_path, 3)
    _assert_same_everywhere(ws)
    assert [len(m["history"]["loss"]) for m in meta] == [2, 2, 2]   # epochs 3 and 4 only
    assert not os.path.exists(tmp_path / "backup" / "latest.keras")  # removed at the end
    # the same crash and resume in one process
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    with pytest.raises(train_mlp.Crash):
        train_mlp.backup_run(str(ref_dir), crash=True)
    model, history = train_mlp.backup_run(str(ref_dir), crash=False)
    for k, v in train_mlp.weights(model).items():
        np.testing.assert_allclose(ws[0][k], v, rtol=1e-5, atol=2e-6, err_msg=k)
    np.testing.assert_allclose(meta[0]["history"]["loss"], history["loss"], rtol=1e-5)
