"""Array helpers Keras scripts use: one-hot encoding, normalization and splitting a
dataset in two."""
from __future__ import annotations

import numbers
import random

import numpy as np

__all__ = ["to_categorical", "normalize", "split_dataset"]


def to_categorical(x, num_classes=None):
    """One-hot encode integer class ids ``x`` (any shape; a trailing axis of size 1 is
    dropped) into float32 of shape ``x.shape + (num_classes,)``."""
    y = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    if y.dtype.kind == "f":
        if y.size and not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError("to_categorical: expected integer class ids, got non-integer values")
        y = y.astype(np.int64)
    elif y.dtype.kind not in "iub":
        raise TypeError(f"to_categorical: expected integer class ids, got dtype {y.dtype}")
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y[..., 0]
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical: class ids must be >= 0, got {int(y.min())}")
    n = int(y.max()) + 1 if num_classes is None and y.size else int(num_classes or 0)
    if y.size and int(y.max()) >= n:
        raise ValueError(f"to_categorical: class id {int(y.max())} does not fit "
                         f"num_classes={n}")
    out = np.zeros(y.shape + (n,), dtype=np.float32)
    np.put_along_axis(out, y[..., None].astype(np.int64), 1.0, axis=-1)
    return out


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (zero vectors stay zero)."""
    a = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    if a.dtype.kind != "f":
        a = a.astype(np.float32)
    n = np.linalg.norm(a, ord=order, axis=axis, keepdims=True)
    return a / np.where(n == 0, 1, n).astype(a.dtype)


def _split_sizes(left_size, right_size, total):
    """Keras's rules for ``split_dataset`` sizes: ints count samples, floats are fractions
    rounded with ``round``; the missing side takes the rest."""
    for name, v in (("left_size", left_size), ("right_size", right_size)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real)):
            raise TypeError(f"split_dataset: {name} must be an int, a float or None, got "
                            f"{type(v).__name__} {v!r}")
    if left_size is None and right_size is None:
        raise ValueError("split_dataset: give left_size, right_size or both")
    sizes = []
    for name, v in (("left_size", left_size), ("right_size", right_size)):
        if v is None:
            sizes.append(None)
        elif isinstance(v, numbers.Integral):
            if not 0 < v < total:
                raise ValueError(f"split_dataset: {name} must be a positive integer smaller "
                                 f"than the number of samples {total}, or a float in (0, 1); "
                                 f"got {v}")
            sizes.append(int(v))
        else:
            if not 0 < v < 1:
                raise ValueError(f"split_dataset: {name} must be a positive integer smaller "
                                 f"than the number of samples {total}, or a float in (0, 1); "
                                 f"got {v}")
            sizes.append(round(v * total))
    left, right = sizes
    if isinstance(left_size, float) and isinstance(right_size, float) and \
            left_size + right_size > 1:
        raise ValueError(f"split_dataset: left_size + right_size = {left_size + right_size} "
                         "is more than 1")
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ValueError(f"split_dataset: left_size + right_size = {left + right} samples is "
                         f"more than the {total} samples of the dataset")
    for side, n in (("left", left), ("right", right)):
        if n == 0:
            raise ValueError(f"split_dataset: with {total} samples, left_size={left_size} and "
                             f"right_size={right_size} leave the {side} part empty")
    return left, right


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """Split samples (the first axis) into a left and a right part, like
    ``keras.utils.split_dataset``: ``dataset`` is an array, or a tuple/list of arrays of
    equal length (e.g. ``(x, y)``); each part comes back in the same form.  The left part
    is the first ``left_size`` samples and the right part the last ``right_size`` (ints
    count samples, floats are fractions of the total; a missing size takes the rest).
    ``shuffle`` permutes the samples first, with the same permutation Keras draws from
    ``random.seed(seed)`` (Python's ``random``, whose global state is left untouched)."""
    if isinstance(dataset, (tuple, list)):
        if not dataset:
            raise ValueError(f"split_dataset: got an empty {type(dataset).__name__}; give a "
                             "non-empty tuple/list of arrays")
        arrays = [_split_array(a, i) for i, a in enumerate(dataset)]
        ns = {len(a) for a in arrays}
        if len(ns) != 1:
            raise ValueError(f"split_dataset: the arrays of a {type(dataset).__name__} must "
                             f"have the same number of samples; got shapes "
                             f"{[a.shape for a in arrays]}")
    elif isinstance(dataset, np.ndarray) or hasattr(dataset, "numpy"):
        arrays = [_split_array(dataset, None)]
    else:
        raise TypeError(f"split_dataset: dataset must be a NumPy array or a tuple/list of "
                        f"arrays, got {type(dataset).__name__}")
    total = len(arrays[0])
    left, right = _split_sizes(left_size, right_size, total)
    order = None
    if shuffle:
        if seed is None:
            seed = random.randint(0, int(1e6))
        order = list(range(total))
        random.Random(seed).shuffle(order)
        order = np.asarray(order, dtype=np.int64)
    lefts, rights = [], []
    for a in arrays:
        if order is not None:
            a = a[order]
        lefts.append(a[:left])
        rights.append(a[total - right:])
    if isinstance(dataset, (tuple, list)):
        return type(dataset)(lefts), type(dataset)(rights)
    return lefts[0], rights[0]


def _split_array(a, i):
    where = "dataset" if i is None else f"dataset[{i}]"
    if hasattr(a, "numpy") and not isinstance(a, np.ndarray):
        a = a.numpy()
    if not isinstance(a, np.ndarray):
        raise TypeError(f"split_dataset: {where} must be a NumPy array, got "
                        f"{type(a).__name__}")
    if a.ndim == 0:
        raise ValueError(f"split_dataset: {where} is a scalar; it needs a sample axis")
    return a
