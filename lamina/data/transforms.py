"""``map`` and ``take`` on lamina's datasets, the two tf.data methods Keras course scripts
call most on what ``*_dataset_from_*`` return (``ds.map(lambda x, y: x)`` to adapt a
TextVectorization, ``ds.take(1)`` to peek at a batch).  Both are lazy views: a batch is
transformed when it is read."""
from __future__ import annotations

from ..nn.data_adapter import PyDataset

__all__ = ["DatasetOps", "MappedDataset", "TakenDataset"]


class DatasetOps:
    """Mixin for a PyDataset: ``map(fn)`` and ``take(count)``."""

    def map(self, fn):
        """A dataset whose batches are ``fn(*batch)`` for a tuple batch (as tf.data
        unpacks ``(x, y)``), else ``fn(batch)``."""
        if not callable(fn):
            raise TypeError(f"{type(self).__name__}.map: expected a callable, got "
                            f"{type(fn).__name__}")
        return MappedDataset(self, fn)

    def take(self, count):
        """A dataset of the first ``count`` batches (all of them for ``count=-1``)."""
        if isinstance(count, bool) or not isinstance(count, int) or count < -1:
            raise ValueError(f"{type(self).__name__}.take: count must be an integer >= -1, "
                             f"got {count!r}")
        return TakenDataset(self, count)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


class _View(DatasetOps, PyDataset):
    def __init__(self, source):
        super().__init__()
        self.source = source

    def __getattr__(self, name):
        # class_names, file_paths, batch_size ... of the dataset underneath
        if name == "source":
            raise AttributeError(name)
        return getattr(self.source, name)

    def on_epoch_begin(self):
        self.source.on_epoch_begin()

    def on_epoch_end(self):
        self.source.on_epoch_end()


class MappedDataset(_View):
    """``source``'s batches passed through ``fn`` (see :meth:`DatasetOps.map`)."""

    def __init__(self, source, fn):
        super().__init__(source)
        self.fn = fn

    def __len__(self):
        return len(self.source)

    def __getitem__(self, index):
        batch = self.source[index]
        return self.fn(*batch) if isinstance(batch, tuple) else self.fn(batch)


class TakenDataset(_View):
    """The first ``count`` batches of ``source`` (see :meth:`DatasetOps.take`)."""

    def __init__(self, source, count):
        super().__init__(source)
        self.count = count

    def __len__(self):
        n = len(self.source)
        return n if self.count == -1 else min(n, self.count)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range for {len(self)} batches")
        return self.source[index]
