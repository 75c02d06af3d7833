"""Sliding windows over a time series as batches: ``timeseries_dataset_from_array``, as in
``keras.utils``.

Keras builds a tf.data pipeline; here the windows are one fancy-index per batch into the
original array (no copy of the series is made up front), served by a :class:`PyDataset`
that ``model.fit`` / ``predict`` take directly.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..nn.data_adapter import PyDataset
from .transforms import DatasetOps

__all__ = ["timeseries_dataset_from_array", "TimeseriesDataset"]

_WHO = "timeseries_dataset_from_array"


def _as_numpy(a, name):
    if a is None:
        return None
    if hasattr(a, "numpy") and not isinstance(a, np.ndarray):
        a = a.numpy()
    if not isinstance(a, np.ndarray):
        a = np.asarray(a)
        # Python numbers become float32/int32, as tf converts them in Keras
        if a.dtype == np.float64:
            a = a.astype(np.float32)
        elif a.dtype == np.int64:
            a = a.astype(np.int32)
    if a.ndim == 0:
        raise ValueError(f"{_WHO}: {name} must have a time axis first, got a scalar")
    return a


class TimeseriesDataset(DatasetOps, PyDataset):
    """Batches of windows ``x`` of shape (batch, sequence_length, *data.shape[1:]) and, when
    targets are given, ``y = targets[start_index + window start]`` of shape
    (batch, *targets.shape[1:]).  ``batch_size=None`` serves single windows (no batch
    axis), as Keras's unbatched dataset does.  With ``shuffle`` the window order is redrawn
    after every epoch.  ``map`` / ``take`` give lazy views, as tf.data's."""

    def __init__(self, data, targets, starts, sequence_length, sampling_rate, batch_size,
                 shuffle, seed):
        super().__init__()
        self.data = data
        self.targets = targets
        self.sequence_length = int(sequence_length)
        self.sampling_rate = int(sampling_rate)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self._starts = starts                      # absolute window starts, in serving order
        self._offsets = np.arange(self.sequence_length, dtype=np.int64) * self.sampling_rate
        self._rng = np.random.RandomState(seed)

    @property
    def num_windows(self):
        """How many windows one epoch serves."""
        return len(self._starts)

    def __len__(self):
        if self.batch_size is None:
            return len(self._starts)
        return -(-len(self._starts) // self.batch_size)

    def __getitem__(self, index):
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"{_WHO}: batch {index} out of range for {n} batches")
        index %= n
        if self.batch_size is None:
            pos = self._starts[index]
            x = self.data[pos + self._offsets]
            return x if self.targets is None else (x, self.targets[pos])
        pos = self._starts[index * self.batch_size:(index + 1) * self.batch_size]
        x = self.data[pos[:, None] + self._offsets]
        return x if self.targets is None else (x, self.targets[pos])

    def on_epoch_end(self):
        if self.shuffle:
            self._rng.shuffle(self._starts)


def _check_int(value, name, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{_WHO}: {name} must be an integer, got {type(value).__name__} "
                        f"{value!r}")
    if value < low:
        raise ValueError(f"{_WHO}: {name} must be >= {low}, got {value}")


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1,
                                  sampling_rate=1, batch_size=128, shuffle=False, seed=None,
                                  start_index=None, end_index=None):
    """Windows over ``data`` (time first, shape (T, ...)) as a :class:`TimeseriesDataset`,
    like ``keras.utils.timeseries_dataset_from_array``.

    Window ``i`` starts at ``s_i = start_index + i * sequence_stride`` and holds the steps
    ``s_i, s_i + sampling_rate, ...`` (``sequence_length`` of them, all before
    ``end_index``); its target is ``targets[s_i]``.  With ``targets=None`` batches are ``x``
    alone.  ``shuffle`` draws the window order from ``numpy.random.RandomState(seed)`` (the
    same first permutation Keras draws; Keras then adds a tf.data shuffle buffer that
    cannot be reproduced)."""
    data = _as_numpy(data, "data")
    targets = _as_numpy(targets, "targets")
    _check_int(sequence_length, "sequence_length", 1)
    _check_int(sequence_stride, "sequence_stride", 1)
    _check_int(sampling_rate, "sampling_rate", 1)
    if batch_size is not None:
        _check_int(batch_size, "batch_size", 1)
    n = len(data)
    if start_index is not None:
        _check_int(start_index, "start_index", 0)
        if start_index >= n:
            raise ValueError(f"{_WHO}: start_index must be lower than the length of the data; "
                             f"got start_index={start_index} for data of length {n}")
    if end_index is not None:
        _check_int(end_index, "end_index", 1)
        if start_index and end_index <= start_index:
            raise ValueError(f"{_WHO}: end_index must be higher than start_index; got "
                             f"start_index={start_index}, end_index={end_index}")
        # Keras rejects end_index == len(data) too; leave it as None for "to the end"
        if end_index >= n:
            raise ValueError(f"{_WHO}: end_index must be lower than the length of the data; "
                             f"got end_index={end_index} for data of length {n}")
    if sampling_rate >= n:
        raise ValueError(f"{_WHO}: sampling_rate must be lower than the length of the data; "
                         f"got sampling_rate={sampling_rate} for data of length {n}")
    if sequence_stride >= n:
        raise ValueError(f"{_WHO}: sequence_stride must be lower than the length of the data; "
                         f"got sequence_stride={sequence_stride} for data of length {n}")
    start = start_index or 0
    end = n if end_index is None else end_index
    num = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num = min(num, len(targets) - start)
    starts = np.arange(0, max(num, 0), sequence_stride, dtype=np.int64)
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(starts)
    return TimeseriesDataset(data, targets, starts + start, sequence_length, sampling_rate,
                             batch_size, shuffle, seed)
