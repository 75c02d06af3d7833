"""Each rank's share of the global batches: the union over (simulated) ranks is exactly the
batch one process would use, for every shuffle mode."""
import numpy as np
import pytest

import lamina
import lamina.distributed as dist
from lamina.distributed import world
from lamina.nn import data_adapter as da


@pytest.mark.parametrize("m,size", [(10, 3), (12, 4), (7, 2), (3, 3)])
def test_shard_bounds_cover_every_row_once(m, size):
    parts = [dist.shard_bounds(m, r, size) for r in range(size)]
    assert parts[0][0] == 0 and parts[-1][1] == m
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
    sizes = [b - a for a, b in parts]
    assert max(sizes) - min(sizes) <= 1


def _rank_batches(fake_world, monkeypatch, make_adapter, size, shuffle, seed=3):
    per_rank = []
    for r in range(size):
        fake_world(size, r)
        # every simulated rank draws what rank 0 would draw (the broadcast is the identity)
        monkeypatch.setattr(world, "is_main", lambda: True)
        lamina.random.seed(seed)
        np.random.seed(seed)
        per_rank.append(list(dist.ShardedAdapter(make_adapter()).batches(shuffle)))
    return per_rank


@pytest.mark.parametrize("shuffle", [False, True, "batch"])
@pytest.mark.parametrize("size", [2, 3])
def test_union_of_shards_is_the_single_process_batch(fake_world, monkeypatch, shuffle, size):
    x = np.arange(42, dtype=np.float32).reshape(21, 2)     # batches of 6, 6, 6, 3
    y = np.arange(21)

    def make():
        return da.ArrayAdapter(x, y, batch_size=6)
    per_rank = _rank_batches(fake_world, monkeypatch, make, size, shuffle)
    lamina.random.seed(3)
    np.random.seed(3)
    single = list(make().batches(shuffle))
    assert all(len(b) == len(single) for b in per_rank)
    for step, (sx, sy, _) in enumerate(single):
        gx = np.concatenate([per_rank[r][step][0] for r in range(size)])
        gy = np.concatenate([per_rank[r][step][1] for r in range(size)])
        np.testing.assert_array_equal(gx, sx)
        np.testing.assert_array_equal(gy, sy)


def test_a_batch_smaller_than_the_world_is_skipped_with_a_warning(fake_world):
    fake_world(size=3, rank=1)
    x = np.zeros((8, 1), np.float32)            # batches of 6 and 2: the 2 cannot be split
    ad = dist.ShardedAdapter(da.ArrayAdapter(x, batch_size=6))
    with pytest.warns(UserWarning, match="a batch of 2 samples cannot be split over 3 ranks"):
        batches = list(ad.batches(False))
    assert len(batches) == 1 and batches[0][0].shape == (2, 1)
    assert ad.steps == 2 and ad.n == 8         # the wrapped adapter's attributes


def test_generator_and_pydataset_batches_are_split(fake_world, monkeypatch):
    class DS(da.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return np.full((4, 2), i, np.float32), np.full(4, i)
    per_rank = _rank_batches(fake_world, monkeypatch, lambda: da.PyDatasetAdapter(DS()), 2,
                             True)
    np.random.seed(3)
    order = np.random.permutation(3)
    for step, i in enumerate(order):
        for r in range(2):
            bx, by, _ = per_rank[r][step]
            assert bx.shape == (2, 2) and (bx == i).all() and (by == i).all()
    fake_world(size=2, rank=1)
    gen = ((np.arange(6, dtype=np.float32)[:, None], np.arange(6)) for _ in range(2))
    out = list(dist.ShardedAdapter(da.GeneratorAdapter(gen)).batches())
    assert len(out) == 2 and out[0][0][:, 0].tolist() == [3, 4, 5]


def test_shard_for_custom_loops(fake_world):
    fake_world(size=2, rank=1)
    assert dist.shard(np.arange(5)).tolist() == [2, 3, 4]
    assert dist.shard(lamina.tensor(np.arange(4.0))).numpy().tolist() == [2.0, 3.0]
