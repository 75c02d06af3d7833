"""``DataParallel``: synchronous data-parallel training with ``fit`` unchanged.

    strategy = lamina.distributed.DataParallel()
    with strategy.scope():              # or simply: with strategy:
        model = build_model()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    model.fit(x, y, batch_size=256, epochs=5)    # batch_size is the global batch

``compile`` inside the scope records the strategy on the model (``model.distribute_strategy``,
as in tf.keras); ``fit``/``evaluate`` then call the hook methods below.  Under it:

- each rank trains on its contiguous share of every global batch of the epoch's shuffle,
  which rank 0 draws and broadcasts (see :mod:`.sharding`);
- the weights are broadcast from rank 0 when ``fit`` starts, so every rank starts equal;
- after each backward pass the gradients are averaged over ranks (weighted by local batch
  size) in a few large buckets, so the optimizer takes the same step everywhere;
- at each epoch's end the metric states are summed over ranks (every rank logs the global
  loss and metrics, so ``EarlyStopping`` decides alike everywhere) and non-trainable float
  weights (e.g. BatchNormalization's moving statistics) are averaged;
- only rank 0 prints progress and writes files: ``ModelCheckpoint``, ``CSVLogger`` and
  ``BackupAndRestore``'s writes are dropped on the other ranks;
- ``stop_training`` set on any rank stops every rank.

The logs given to batch-level callbacks (and a terminal progress bar's running figures) are
rank 0's own; epoch logs, ``val_*`` and ``evaluate`` are global.  ``predict`` is not split:
every rank predicts all of its input.

In a world of one every hook is a no-op and ``fit`` runs exactly as without a strategy.
"""
from __future__ import annotations

import numpy as np

from . import world
from .buckets import DEFAULT_BUCKET_MB, broadcast_variables, reduce_gradients
from .metrics_sync import sync_metrics
from .sharding import ShardedAdapter

__all__ = ["DataParallel", "current_strategy"]

_STACK = []


def current_strategy():
    """The innermost active :class:`DataParallel` scope, or None."""
    return _STACK[-1] if _STACK else None


class DataParallel:
    """Synchronous data parallelism over all MPI ranks (see the module doc).

    ``bucket_mb``: size of the gradient buckets; ``timeout``: seconds a rank may wait in a
    collective before the job is aborted (None: no limit; a rank that raises still ends
    the job at once); ``backend``: "mpi" (CuPy arrays are staged through host memory);
    "nccl" is not implemented yet."""

    def __init__(self, bucket_mb=DEFAULT_BUCKET_MB, timeout=None, backend="mpi"):
        if not bucket_mb > 0:
            raise ValueError(f"DataParallel: bucket_mb must be > 0, got {bucket_mb!r}")
        if backend == "nccl":
            raise NotImplementedError(
                "DataParallel(backend='nccl'): NCCL (cupy.cuda.nccl) is not implemented yet; "
                "use backend='mpi', which reduces CuPy gradients through host memory")
        if backend != "mpi":
            raise ValueError(f"DataParallel: backend must be 'mpi' or 'nccl', got {backend!r}")
        world.init(timeout)
        self.bucket_mb = float(bucket_mb)
        self.stop_each_batch = False

    # ------------------------------------------------------------ the world
    @property
    def rank(self):
        """This process's rank."""
        return world.rank()

    @property
    def world_size(self):
        """The number of ranks training together."""
        return world.world_size()

    num_replicas_in_sync = world_size        # tf.distribute's name

    @property
    def is_main(self):
        """True on rank 0 (prints and writes files)."""
        return world.is_main()

    def __repr__(self):
        return f"DataParallel(rank={self.rank}, world_size={self.world_size})"

    # ------------------------------------------------------------ the scope
    def scope(self):
        """A context manager: models compiled inside it train with this strategy."""
        return self

    def __enter__(self):
        _STACK.append(self)
        return self

    def __exit__(self, *exc):
        if _STACK and _STACK[-1] is self:
            _STACK.pop()
        elif self in _STACK:
            _STACK.remove(self)
        return False

    # ------------------------------------------------------------ hooks of the training loop
    def distribute_data(self, adapter):
        """The adapter yielding this rank's share of every global batch."""
        if world.world_size() == 1 or adapter is None or isinstance(adapter, ShardedAdapter):
            return adapter
        return ShardedAdapter(adapter)

    def verbose(self, verbose):
        """``verbose`` on rank 0, 0 elsewhere (only rank 0 prints progress)."""
        return verbose if world.is_main() else 0

    def callbacks(self, callbacks):
        """The callbacks for this rank: on ranks other than 0, those writing files are
        dropped (BackupAndRestore keeps only its restore at train begin) and lamina's own
        callbacks are made silent (``verbose = 0``: their messages come from rank 0)."""
        if world.is_main() or not callbacks:
            return callbacks
        from ..nn import callbacks as _cb
        inner = callbacks.callbacks if isinstance(callbacks, _cb.CallbackList) else \
            list(callbacks)
        kept = []
        for c in inner:
            if isinstance(c, (_cb.ModelCheckpoint, _cb.CSVLogger)):
                continue
            if isinstance(c, _cb.BackupAndRestore):
                c = _RestoreOnly(c)
            elif type(c).__module__ == _cb.__name__ and getattr(c, "verbose", 0):
                c.verbose = 0
            kept.append(c)
        if isinstance(callbacks, _cb.CallbackList):
            out = _cb.CallbackList(kept, model=callbacks.model)
            out.set_params(callbacks.params)
            return out
        return kept

    def on_train_begin(self, model, initial_epoch=0, callbacks=None):
        """Broadcast rank 0's weights (and starting epoch, which ``BackupAndRestore`` may
        have advanced) to every rank; returns the starting epoch.  Also agrees whether
        some rank has batch-end callbacks (:attr:`stop_each_batch`): then every rank checks
        ``stop_training`` collectively after each batch."""
        self.stop_each_batch = False
        if world.world_size() == 1:
            return initial_epoch
        wants = callbacks is not None and callbacks.wants("on_train_batch_end")
        self.stop_each_batch = self.any(wants)
        if not getattr(model, "built", True) or not model.weights:
            raise ValueError(f"DataParallel: the model {getattr(model, 'name', '')!r} has no "
                             "weights yet when fit starts, so rank 0's initial weights cannot "
                             "be broadcast; build it first (keras.Input(shape=...) or "
                             "model.build(input_shape))")
        broadcast_variables(model.weights, root=0)
        ep = world.bcast_(np.array([initial_epoch], np.int64), 0)
        return int(ep[0])

    def reduce_gradients(self, grads, variables=None, weight=None):
        """Gradients averaged over ranks, weighted by ``weight`` (the local batch size)."""
        if world.world_size() == 1:
            return grads
        return reduce_gradients(grads, variables, average=True, weight=weight,
                                bucket_mb=self.bucket_mb)

    def on_epoch_end(self, model):
        """Average the non-trainable float weights, then sum the metric states."""
        if world.world_size() == 1:
            return
        average_non_trainable(model)
        self.sync_metrics(model)

    def sync_metrics(self, model):
        """Sum the state of ``model.metrics`` over ranks (every rank logs global figures)."""
        if world.world_size() == 1:
            return
        sync_metrics(model.metrics)

    def any(self, flag):
        """True on every rank if ``flag`` is true on any rank."""
        if world.world_size() == 1:
            return bool(flag)
        return bool(world.allreduce_(np.array([1 if flag else 0], np.int32), "max")[0])


def average_non_trainable(model):
    """Replace each non-trainable float weight by its mean over ranks.  Computed as rank
    0's value plus the mean difference, so a weight equal on every rank (a frozen layer)
    stays bit-for-bit unchanged."""
    from .collectives import from_host, to_host
    ws = [v for v in getattr(model, "non_trainable_weights", ())
          if np.dtype(v.data.dtype).kind == "f"]
    if not ws:
        return
    hs = [to_host(v.data)[0].astype(np.float64).reshape(-1) for v in ws]
    mine = np.concatenate(hs)
    root = world.bcast_(mine.copy(), 0)
    delta = mine - root
    world.allreduce_(delta, "mean")
    new = root + delta
    off = 0
    for v, h in zip(ws, hs):
        k = h.size
        part = new[off:off + k]
        off += k
        if np.any(part != h):
            val = from_host(part.reshape(v.data.shape).astype(v.data.dtype), v.data,
                            np.dtype(v.data.dtype))
            from ..backend import get_xp
            get_xp(v.data).copyto(v.data, val)
            v._version += 1


def _RestoreOnly(inner):
    """A callback for ranks other than 0 that runs ``inner``'s (a BackupAndRestore's)
    restore at train begin and none of its writes."""
    from ..nn.callbacks import Callback

    class RestoreOnly(Callback):
        def set_model(self, model):
            super().set_model(model)
            inner.set_model(model)

        def set_params(self, params):
            super().set_params(params)
            inner.set_params(params)

        def on_train_begin(self, logs=None):
            inner.on_train_begin(logs)
    return RestoreOnly()
