"""Fixtures for lamina.distributed: a fresh world of one, and a simulated world of identical
ranks (to test the multi-rank code paths in one process)."""
import pytest

from lamina.distributed import world


@pytest.fixture
def fresh_world(monkeypatch):
    """The world forgotten before and after the test (init runs again)."""
    for v in world.LAUNCHER_VARS + ("LAMINA_DIST_TIMEOUT",):
        monkeypatch.delenv(v, raising=False)
    world._reset_for_tests()
    yield world
    world._reset_for_tests()


class FakeWorld:
    """``size`` ranks that all hold this process's data: a sum all-reduce multiplies by
    ``size``; broadcasts change nothing.  Records every collective."""

    def __init__(self, size, rank):
        self.size, self.rank_ = size, rank
        self.calls = []

    def allreduce_(self, buf, op="sum"):
        self.calls.append(("allreduce", buf.dtype, buf.size, op))
        if op == "sum":
            buf *= buf.dtype.type(self.size)
        return buf

    def bcast_(self, buf, root=0):
        self.calls.append(("bcast", buf.dtype, buf.size, root))
        return buf


@pytest.fixture
def fake_world(monkeypatch):
    """A factory: ``fake_world(size, rank)`` patches lamina.distributed.world."""
    def make(size=2, rank=0):
        fw = FakeWorld(size, rank)
        monkeypatch.setattr(world, "world_size", lambda: size)
        monkeypatch.setattr(world, "rank", lambda: rank)
        monkeypatch.setattr(world, "is_main", lambda: rank == 0)
        monkeypatch.setattr(world, "allreduce_", fw.allreduce_)
        monkeypatch.setattr(world, "bcast_", fw.bcast_)
        from lamina.distributed import buckets
        monkeypatch.setattr(buckets, "_checked_layouts", set())
        return fw
    return make
