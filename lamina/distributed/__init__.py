"""Data-parallel training over MPI (mpi4py), from one process to many machines.

Launch with ``mpiexec -n 4 python train.py``; a plain ``python train.py`` is a world of one
and needs no MPI.  With ``fit``, use the strategy (see :class:`DataParallel`)::

    import lamina.distributed as dist
    with dist.DataParallel():
        model = build_model()
        model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, batch_size=256)        # the global batch, split over the ranks

In a custom loop use the primitives: :func:`broadcast_variables` once at the start,
:func:`shard` for each rank's data and :func:`all_reduce_gradients` after ``backward()``.

Collectives work on contiguous buffers (mpi4py's ``Allreduce``/``Bcast``/``Allgatherv``),
never pickle.  CuPy arrays are staged through host memory; NCCL is not used yet.
"""
from .world import init, rank, world_size, is_main, is_initialized, barrier, abort
from .collectives import all_reduce, broadcast, all_gather, nccl_available
from .buckets import reduce_gradients, all_reduce_gradients, broadcast_variables
from .sharding import shard, shard_bounds, ShardedAdapter
from .metrics_sync import sync_metrics
from .strategy import DataParallel, current_strategy

__all__ = ["init", "rank", "world_size", "is_main", "is_initialized", "barrier", "abort",
           "all_reduce", "broadcast", "all_gather", "nccl_available", "reduce_gradients",
           "all_reduce_gradients", "broadcast_variables", "shard", "shard_bounds",
           "ShardedAdapter", "sync_metrics", "DataParallel", "current_strategy"]
