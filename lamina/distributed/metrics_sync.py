"""Summing the state of stateful metrics over ranks, so every rank reports global figures.

Every built-in metric keeps additive state (totals and counts, confusion counts, sums of
squares), so the global metric is the metric of the summed state.  The state of a metric is
found without a per-class table: it is whatever ``reset_state()`` assigns (recorded on a
shallow copy), plus the Variables made with ``add_variable``.  A user metric whose state is
not additive (a running max, say) must override ``reset_state``-assigned state itself.
"""
from __future__ import annotations

import copy

import numpy as np

from . import world
from .collectives import from_host, to_host

__all__ = ["metric_state_names", "sync_metrics"]

_NAMES = {}


def metric_state_names(metric):
    """The attribute names that ``metric.reset_state()`` assigns (its accumulators)."""
    cls = type(metric)
    key = cls
    names = _NAMES.get(key)
    if names is not None:
        return names
    seen = []
    probe = copy.copy(metric)

    def record(self, name, value):
        seen.append(name)
        object.__setattr__(self, name, value)
    try:
        probe.__class__ = type("_StateProbe", (cls,), {"__setattr__": record})
        probe.reset_state()
    except (TypeError, NotImplementedError):
        seen = []
    names = tuple(dict.fromkeys(n for n in seen if not n.startswith("__")))
    _NAMES[key] = names
    return names


def _numeric(v):
    if isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, (int, float, np.number)):
        return True
    return hasattr(v, "shape") and hasattr(v, "dtype") and np.dtype(v.dtype).kind in "iuf"


def sync_metrics(metrics):
    """Replace the state of each metric by its sum over all ranks (one message)."""
    if world.world_size() == 1:
        return
    slots = []          # (metric, attribute name or Variable, original value)
    for m in metrics:
        for name in metric_state_names(m):
            v = getattr(m, name, None)
            if v is not None and _numeric(v):
                slots.append((m, name, v))
        for var in getattr(m, "variables", ()) or ():
            slots.append((m, var, var.data))
    hosts = []
    for _, _, v in slots:
        a = v if hasattr(v, "shape") else np.asarray(v)
        h, _ = to_host(a)
        hosts.append(h.astype(np.float64).reshape(-1))
    sizes = [h.size for h in hosts]
    sig = np.array([len(slots), sum(sizes)], np.int64)
    lo, hi = sig.copy(), sig.copy()
    flat = np.concatenate(hosts + [np.zeros(0)]) if hosts else np.zeros(0)
    world.allreduce_(lo, "min")
    world.allreduce_(hi, "max")
    if not (np.array_equal(lo, sig) and np.array_equal(hi, sig)):
        raise ValueError(f"sync_metrics: the ranks hold different metric states (rank "
                         f"{world.rank()}: {len(slots)} accumulators, {sum(sizes)} numbers); a "
                         "rank that saw no batch leaves some metrics unset: give every rank "
                         "at least one batch")
    world.allreduce_(flat, "sum")
    off = 0
    for (m, key, v), k in zip(slots, sizes):
        part = flat[off:off + k]
        off += k
        if isinstance(key, str):
            if hasattr(v, "shape"):
                new = from_host(part.reshape(v.shape).astype(v.dtype), v, np.dtype(v.dtype))
            elif isinstance(v, (int, np.integer)):
                new = type(v)(round(float(part[0])))
            else:
                new = type(v)(part[0])
            object.__setattr__(m, key, new)
        else:
            key.assign(from_host(part.reshape(v.shape).astype(v.dtype), v, np.dtype(v.dtype)))
