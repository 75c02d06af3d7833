"""lamina.distributed.collectives in a world of one, and with simulated identical ranks."""
import numpy as np
import pytest

import lamina as lm
import lamina.distributed as dist


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
def test_all_reduce_world_of_one_returns_a_new_equal_tensor(fresh_world, op):
    t = lm.tensor([[1.0, -2.0], [3.0, 4.0]])
    r = dist.all_reduce(t, op)
    assert isinstance(r, lm.Tensor) and r is not t and r.data is not t.data
    assert r.dtype == np.float32 and r.shape == (2, 2)
    np.testing.assert_array_equal(r.numpy(), t.numpy())


def test_all_reduce_sum_and_mean_with_simulated_ranks(fake_world):
    fake_world(size=3)
    a = np.array([1.0, 2.0], np.float32)
    np.testing.assert_array_equal(dist.all_reduce(a, "sum"), [3.0, 6.0])
    np.testing.assert_array_equal(dist.all_reduce(a, "mean"), [1.0, 2.0])
    np.testing.assert_array_equal(a, [1.0, 2.0])           # the input is untouched
    ints = dist.all_reduce(np.array([1, 2]), "mean")
    assert ints.dtype == np.float64


def test_half_precision_is_reduced_in_float32(fake_world):
    fw = fake_world(size=2)
    r = dist.all_reduce(lm.tensor([1.5, 2.0], dtype="float16"), "sum")
    assert r.dtype == np.float16 and r.numpy().tolist() == [3.0, 4.0]
    assert fw.calls[-1][1] == np.float32


def test_all_reduce_errors(fresh_world):
    with pytest.raises(ValueError, match="op must be one of"):
        dist.all_reduce(lm.tensor([1.0]), "prod")
    with pytest.raises(TypeError, match="all_reduce: expected a lamina Tensor"):
        dist.all_reduce("abc")


def test_broadcast_and_all_gather_world_of_one(fresh_world):
    t = lm.tensor([1.0, 2.0, 3.0])
    b = dist.broadcast(t, root=0)
    assert b is not t and b.numpy().tolist() == [1.0, 2.0, 3.0]
    g = dist.all_gather(lm.tensor(5.0))
    assert g.shape == (1,) and float(g.numpy()[0]) == 5.0
    assert dist.all_gather(np.ones((2, 3))).shape == (2, 3)
    assert dist.nccl_available() is False
