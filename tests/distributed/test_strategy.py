"""DataParallel with fit: the world-of-one path, the scope, and the per-rank hooks."""
import os

import numpy as np
import pytest

import lamina.distributed as dist
from lamina import keras


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    m = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(6, activation="relu"),
                          keras.layers.Dense(2, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def _data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def test_world_of_one_fit_is_plain_fit(fresh_world):
    x, y = _data()
    plain = _model()
    h0 = plain.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_split=0.25)
    assert plain.distribute_strategy is None
    strategy = dist.DataParallel()
    with strategy.scope():
        m = _model()
    assert m.distribute_strategy is strategy
    h1 = m.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_split=0.25)
    assert h1.history == h0.history
    for a, b in zip(plain.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert m.evaluate(x, y, verbose=0) == plain.evaluate(x, y, verbose=0)


def test_scope_nesting_and_properties(fresh_world):
    assert dist.current_strategy() is None
    a, b = dist.DataParallel(), dist.DataParallel(bucket_mb=1)
    with a:
        with b.scope():
            assert dist.current_strategy() is b
        assert dist.current_strategy() is a
    assert dist.current_strategy() is None
    assert (a.rank, a.world_size, a.num_replicas_in_sync, a.is_main) == (0, 1, 1, True)
    assert "world_size=1" in repr(a)
    with pytest.raises(ValueError, match="bucket_mb must be > 0"):
        dist.DataParallel(bucket_mb=0)
    with pytest.raises(NotImplementedError, match="NCCL .* is not implemented yet"):
        dist.DataParallel(backend="nccl")
    with pytest.raises(ValueError, match="backend must be 'mpi' or 'nccl'"):
        dist.DataParallel(backend="gloo")


def test_only_rank_zero_prints_and_writes(fake_world, tmp_path):
    s = dist.DataParallel()
    ckpt = keras.callbacks.ModelCheckpoint(str(tmp_path / "m.keras"))
    csv = keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))
    stop = keras.callbacks.EarlyStopping(monitor="loss", verbose=1)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    fake_world(size=2, rank=0)
    assert s.verbose(2) == 2
    assert s.callbacks([ckpt, csv, stop, backup]) == [ckpt, csv, stop, backup]
    fake_world(size=2, rank=1)
    assert s.verbose(1) == 0
    kept = s.callbacks([ckpt, csv, stop, backup])
    assert len(kept) == 2 and kept[0] is stop
    assert stop.verbose == 0                   # its message is printed by rank 0
    restore = kept[1]
    calls = []
    backup.on_train_begin = lambda logs=None: calls.append("restore")
    backup.on_epoch_end = lambda epoch, logs=None: calls.append("write")
    restore.on_train_begin()
    restore.on_epoch_end(0, {})
    restore.on_train_end()
    assert calls == ["restore"] and not os.listdir(tmp_path)


def test_unbuilt_model_is_refused_with_several_ranks(fake_world):
    fake_world(size=2)
    m = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="has no weights yet when fit starts"):
        dist.DataParallel().on_train_begin(m)


def test_any_and_world_of_one_hooks(fresh_world):
    s = dist.DataParallel()
    assert s.any(True) is True and s.any(0) is False
    ad = object()
    assert s.distribute_data(ad) is ad
    assert s.reduce_gradients([1, 2]) == [1, 2]


def test_any_over_ranks(fake_world):
    fake_world(size=2)
    s = dist.DataParallel()
    assert s.any(True) is True and s.any(False) is False
