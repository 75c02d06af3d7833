"""Bucketed gradient reduction and weight broadcast (simulated identical ranks)."""
import numpy as np
import pytest

import lamina as lm
import lamina.distributed as dist
from lamina.distributed import buckets
from lamina.nn import Variable


def _grads(rng, shapes, dtype=np.float32):
    return [lm.tensor(rng.normal(size=s).astype(dtype)) for s in shapes]


def test_world_of_one_returns_the_gradients_unchanged(fresh_world, rng):
    gs = _grads(rng, [(3, 2), (2,)])
    assert dist.reduce_gradients(gs) == gs


def test_plan_packs_small_tensors_and_isolates_large_ones():
    f32 = np.dtype(np.float32)
    shapes = [(10,), (10,), (100,), (10,), (5,)]
    plan = buckets._plan(shapes, [f32] * 5, bucket_bytes=100 * 4)
    assert [s for _, s in plan] == [[0, 1], [2], [3, 4]]
    mixed = buckets._plan([(4,), (4,), (4,)], [f32, np.dtype(np.float64), f32], 1 << 20)
    assert [(d, s) for d, s in mixed] == [(f32, [0, 2]), (np.dtype(np.float64), [1])]


def test_average_over_identical_ranks_is_the_local_gradient(fake_world, rng):
    fw = fake_world(size=4)
    gs = _grads(rng, [(8, 3), (3,), (3, 2), (2,)])
    out = dist.reduce_gradients(gs, average=True, weight=5)
    for g, o in zip(gs, out):
        assert o.dtype == np.float32 and o.shape == g.shape
        np.testing.assert_allclose(o.numpy(), g.numpy(), rtol=1e-6)
    # one message for the four gradients (after the one-off layout check)
    reduces = [c for c in fw.calls if c[1] == np.float32]
    assert len(reduces) == 1 and reduces[0][2] == 24 + 3 + 6 + 2 + 4 + 1


def test_sum_and_small_buckets(fake_world, rng):
    fw = fake_world(size=2)
    gs = _grads(rng, [(1000,), (1000,), (10,)])
    # buckets of 4,040 bytes: [0], [1, 2]
    out = dist.reduce_gradients(gs, average=False, bucket_mb=4040 / 2 ** 20)
    for g, o in zip(gs, out):
        np.testing.assert_allclose(o.numpy(), 2 * g.numpy(), rtol=1e-6)
    assert len([c for c in fw.calls if c[1] == np.float32]) == 2


def test_missing_gradients(fake_world, rng):
    fake_world(size=2)
    v = [Variable(np.ones((2, 2), np.float32)), Variable(np.ones(3, np.float32))]
    g = _grads(rng, [(2, 2)])[0]
    out = dist.reduce_gradients([g, None], v)
    np.testing.assert_allclose(out[0].numpy(), g.numpy(), rtol=1e-6)
    assert out[1] is None                 # no rank had one
    with pytest.raises(ValueError, match="gradient 1 is None; pass `variables`"):
        dist.reduce_gradients([g, None])
    with pytest.raises(ValueError, match="got 2 gradients for 1 variables"):
        dist.reduce_gradients([g, None], v[:1])


def test_all_reduce_gradients_sets_grad(fake_world, rng):
    fake_world(size=3)
    v = Variable(rng.normal(size=(4,)).astype(np.float32))
    (v * v).sum().backward()
    expect = 2 * v.numpy()
    dist.all_reduce_gradients([v], average=False)
    np.testing.assert_allclose(v.grad.numpy(), 3 * expect, rtol=1e-6)


def test_layout_mismatch_is_reported(fake_world, rng, monkeypatch):
    fake_world(size=2)

    def disagreeing(buf, op="sum"):
        if op == "max" and buf.dtype == np.int64:
            buf[0] += 1                     # another rank has one more tensor
        return buf
    monkeypatch.setattr(dist.world, "allreduce_", disagreeing)
    with pytest.raises(ValueError, match="the ranks disagree on the tensors to reduce"):
        dist.reduce_gradients(_grads(rng, [(2,)]))


def test_broadcast_variables_in_place(fake_world):
    fw = fake_world(size=2)
    a = Variable(np.arange(4, dtype=np.float32))
    b = Variable(np.zeros(2, np.float64))
    data_a = a.data
    dist.broadcast_variables([a, b])
    assert a.data is data_a and a.numpy().tolist() == [0, 1, 2, 3]
    assert sorted(c[2] for c in fw.calls if c[0] == "bcast") == [2, 4]   # one per dtype
