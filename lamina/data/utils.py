"""Array helpers Keras scripts use: one-hot encoding and normalization."""
from __future__ import annotations

import numpy as np

__all__ = ["to_categorical", "normalize"]


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
