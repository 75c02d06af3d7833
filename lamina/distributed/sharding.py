"""Each rank's share of every global batch.

The batch size given to ``fit`` is the *global* batch (as with Keras's distribution
strategies): every global batch is split into ``world_size`` contiguous parts of nearly
equal size and rank ``r`` trains on part ``r``.  The epoch's shuffle is drawn on rank 0 (from
lamina's default generator, exactly as a single process would draw it) and broadcast, so
all ranks agree on it whatever their own random state, and the union of the ranks' batches
is, step for step, the batch a single process would use.
"""
from __future__ import annotations

import warnings

import numpy as np

from . import world

__all__ = ["ShardedAdapter", "shard_bounds", "shard"]


def shard_bounds(m, rank=None, size=None):
    """``(start, stop)`` of rank ``rank``'s contiguous part of ``m`` rows (parts differ in
    size by at most one row)."""
    rank = world.rank() if rank is None else rank
    size = world.world_size() if size is None else size
    return (m * rank) // size, (m * (rank + 1)) // size


def shard(array):
    """This rank's contiguous part of ``array`` along axis 0 (for custom loops)."""
    lo, hi = shard_bounds(int(array.shape[0]))
    return array[lo:hi]


def _bcast_ints(make, n):
    """Rank 0's ``make()`` (an int array of ``n`` entries) on every rank."""
    buf = np.asarray(make(), np.int64) if world.is_main() else np.empty(n, np.int64)
    return world.bcast_(np.ascontiguousarray(buf), 0)


class ShardedAdapter:
    """Wraps a data adapter of ``lamina.nn.data_adapter``: ``batches(shuffle, steps)``
    yields this rank's part of each global batch; ``steps`` counts global batches."""

    def __init__(self, adapter):
        self.adapter = adapter
        self.steps = adapter.steps
        self._warned = False

    def __getattr__(self, name):
        # anything else (n, batch_size, ...) is the wrapped adapter's
        return getattr(self.__dict__["adapter"], name)

    def _too_small(self, m):
        size = world.world_size()
        if m >= size:
            return False
        if not self._warned:
            warnings.warn(f"DataParallel: a batch of {m} samples cannot be split over {size} "
                          "ranks; it is skipped (use a batch size that is a multiple of the "
                          "number of ranks)", stacklevel=4)
            self._warned = True
        return True

    def batches(self, shuffle=False, steps=None):
        from ..nn import data_adapter as _da
        a = self.adapter
        if isinstance(a, _da.ArrayAdapter):
            return self._array_batches(shuffle, steps)
        if isinstance(a, _da.PyDatasetAdapter):
            return self._pydataset_batches(shuffle, steps)
        return self._split_each(a.batches(shuffle, steps))

    def _array_batches(self, shuffle, steps):
        a = self.adapter
        n, bs = a.n, a.batch_size
        perm = None
        if shuffle == "batch":
            order = _bcast_ints(lambda: np.random.permutation(a.steps), a.steps)
        else:
            order = range(a.steps)
            if shuffle:
                from .. import random as _random
                perm = _bcast_ints(lambda: _random.default_generator().permutation_array(n), n)
        count = 0
        for b in order:
            if steps is not None and count >= steps:
                return
            count += 1
            lo, hi = int(b) * bs, min(n, int(b) * bs + bs)
            if self._too_small(hi - lo):
                continue
            s0, s1 = shard_bounds(hi - lo)
            idx = slice(lo + s0, lo + s1) if perm is None else perm[lo + s0:lo + s1]
            yield a._pack([x if x is None or x.ndim == 0 else x[idx] for x in a.leaves])

    def _pydataset_batches(self, shuffle, steps):
        from ..nn import data_adapter as _da
        a = self.adapter
        ds = a.ds
        steps = a.steps if steps is None else steps
        begin = getattr(ds, "on_epoch_begin", None)
        if callable(begin):
            begin()
        n = len(ds)
        order = _bcast_ints(lambda: np.random.permutation(n), n) if shuffle else range(n)
        batches = (_da._normalize_batch(ds[int(i)], a.who) for c, i in enumerate(order)
                   if c < steps)
        yield from self._split_each(batches)
        end = getattr(ds, "on_epoch_end", None)
        if callable(end):
            end()

    def _split_each(self, batches):
        from ..nn import data_adapter as _da
        for x, y, sw in batches:
            leaves, _ = _da.flatten(x)
            m = next((int(l.shape[0]) for l in leaves if getattr(l, "ndim", 0) > 0), 1)
            if self._too_small(m):
                continue
            s0, s1 = shard_bounds(m)
            yield tuple(_slice_rows(part, s0, s1) for part in (x, y, sw))


def _slice_rows(struct, s0, s1):
    from ..nn import data_adapter as _da
    if struct is None:
        return None
    leaves, un = _da.flatten(struct)
    return un([l if l is None or getattr(l, "ndim", 0) == 0 else l[s0:s1] for l in leaves])
