"""Turning what ``fit``/``evaluate``/``predict`` receive into batches.

Accepted: NumPy arrays (or lamina Tensors, lists), lists/tuples/dicts of them, generators
yielding ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``, and ``PyDataset`` /
``Sequence`` objects (``__len__`` + ``__getitem__``).  Array data is shuffled once per epoch
(one fancy-index per array) and batches are then contiguous slices (views), so the per-batch
cost does not grow with the size of the data.
"""
from __future__ import annotations

import math
import types

import numpy as np

__all__ = ["PyDataset", "Sequence", "unpack_x_y_sample_weight", "pack_x_y_sample_weight",
           "ArrayAdapter", "GeneratorAdapter", "PyDatasetAdapter", "get_adapter", "flatten",
           "class_weight_to_sample_weight", "train_validation_split", "num_samples"]


class PyDataset:
    """Base class for a dataset given batch by batch: implement ``__len__`` (number of
    batches) and ``__getitem__(index)`` returning ``(x, y)`` or ``(x, y, sample_weight)``;
    ``on_epoch_end`` is called after each epoch.  (``workers``/``use_multiprocessing`` are
    accepted for Keras compatibility; batches are produced in the main thread.)"""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    @property
    def num_batches(self):
        return len(self)

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass


Sequence = PyDataset   # Keras 2's name


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch given as ``x``, ``(x,)``, ``(x, y)`` or
    ``(x, y, sw)``; missing parts are None."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError(f"data should be x, (x,), (x, y) or (x, y, sample_weight); got a tuple of "
                     f"{len(data)} elements")


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The inverse of :func:`unpack_x_y_sample_weight`."""
    if y is None:
        return (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


# ----------------------------------------------------------- nested structures
def flatten(struct):
    """Leaves (arrays) of a nested list/tuple/dict and a function rebuilding the structure."""
    if struct is None:
        return [], lambda leaves: None
    if isinstance(struct, dict):
        keys = list(struct)
        parts = [flatten(struct[k]) for k in keys]
        sizes = [len(p[0]) for p in parts]

        def un(leaves):
            out, i = {}, 0
            for k, (_, u), n in zip(keys, parts, sizes):
                out[k] = u(leaves[i:i + n])
                i += n
            return out
        return [l for p in parts for l in p[0]], un
    if isinstance(struct, (list, tuple)) and not _is_array_like_list(struct):
        kind = type(struct)
        parts = [flatten(s) for s in struct]
        sizes = [len(p[0]) for p in parts]

        def un(leaves):
            out, i = [], 0
            for (_, u), n in zip(parts, sizes):
                out.append(u(leaves[i:i + n]))
                i += n
            return kind(out)
        return [l for p in parts for l in p[0]], un
    return [struct], lambda leaves: leaves[0]


def _is_array_like_list(s):
    """Nested Python lists of numbers (one array written as lists) rather than a list of
    arrays (several inputs)."""
    if len(s) == 0:
        return False
    return all(isinstance(e, (int, float, np.number, bool)) or (
        isinstance(e, (list, tuple)) and _is_array_like_list(e)) for e in s)


def _as_array(a, who):
    if a is None:
        return None
    if hasattr(a, "numpy") and not isinstance(a, np.ndarray):
        a = a.numpy()
    a = np.asarray(a)
    if a.dtype == object and not all(isinstance(v, (str, bytes)) for v in a.flat):
        # object arrays of text (e.g. a pandas column) are "string" inputs and batch as such
        raise TypeError(f"{who}: data of type {type(a).__name__} with object dtype (ragged or "
                        "non-numeric) cannot be batched")
    if a.dtype == np.float64:
        a = a.astype(np.float32)      # float32 end to end, as Keras casts to floatx
    return a


def num_samples(leaves, who="fit"):
    """The common first dimension of ``leaves``; raises naming the mismatch."""
    ns = {len(a) for a in leaves if a is not None and a.ndim > 0}
    if len(ns) > 1:
        raise ValueError(f"{who}: all inputs, targets and sample weights must have the same number "
                         f"of samples; got sizes {sorted(ns)} "
                         f"(shapes {[tuple(a.shape) for a in leaves if a is not None]})")
    if not ns:
        raise ValueError(f"{who}: no data (got only scalars or nothing)")
    return ns.pop()


def class_weight_to_sample_weight(y, class_weight):
    """Per-sample weights ``class_weight[class of y[i]]`` for integer or one-hot targets."""
    y = np.asarray(y)
    if y.ndim >= 2 and y.shape[-1] > 1:
        cls = np.argmax(y, axis=-1)
    elif y.ndim >= 2:
        cls = np.round(y[..., 0]).astype(np.int64)
    else:
        cls = np.round(y).astype(np.int64)
    if cls.ndim > 1:
        raise ValueError(f"class_weight: only targets of shape (n,), (n, 1) or (n, classes) are "
                         f"supported, got {y.shape}")
    missing = sorted(set(np.unique(cls).tolist()) - set(int(k) for k in class_weight))
    if missing:
        raise ValueError(f"class_weight: classes {missing} appear in the targets but have no "
                         f"weight in class_weight (keys {sorted(class_weight)})")
    table = np.zeros(max(int(k) for k in class_weight) + 1, dtype=np.float32)
    for k, v in class_weight.items():
        table[int(k)] = v
    return table[cls]


def train_validation_split(arrays, validation_split):
    """Split leaves into the first ``1 - validation_split`` and the last part (Keras takes the
    validation samples from the end, before any shuffling)."""
    if not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
    n = num_samples([a for a in arrays if a is not None])
    split = int(math.floor(n * (1.0 - validation_split)))
    if split == 0 or split == n:
        raise ValueError(f"validation_split={validation_split} on {n} samples leaves one part "
                         "empty")
    return ([None if a is None else a[:split] for a in arrays],
            [None if a is None else a[split:] for a in arrays])


# ------------------------------------------------------------------- adapters
class ArrayAdapter:
    """Batches of in-memory arrays.  ``batches(shuffle)`` yields ``(x, y, sw)`` with the
    original nesting; ``steps`` is the number of batches per epoch."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, who="fit",
                 class_weight=None, expand_1d=True):
        if batch_size is None:
            batch_size = 32
        if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"{who}: batch_size must be a positive integer, got {batch_size!r}")
        xl, self._unx = flatten(x)
        yl, self._uny = flatten(y)
        sl, self._uns = flatten(sample_weight)
        xl = [_as_array(a, who) for a in xl]
        if expand_1d:
            # like Keras: a 1-D input of shape (n,) is a batch of n one-feature samples
            xl = [a[:, None] if a is not None and a.ndim == 1 else a for a in xl]
        yl = [_as_array(a, who) for a in yl]
        sl = [_as_array(a, who) for a in sl]
        if class_weight is not None:
            if len(yl) != 1:
                raise ValueError(f"{who}: class_weight is only supported for models with one "
                                 "output; use sample_weight for several outputs")
            cw = class_weight_to_sample_weight(yl[0], class_weight)
            sl = [cw if not sl or sl[0] is None else sl[0] * cw]
            self._uns = lambda leaves: leaves[0]
        self.nx, self.ny = len(xl), len(yl)
        self.leaves = xl + yl + sl
        self.n = num_samples(self.leaves, who)
        self.batch_size = int(batch_size)
        self.steps = max(1, -(-self.n // self.batch_size))
        self.has_y = y is not None
        self.has_sw = bool(sl)

    def _pack(self, leaves):
        x = self._unx(leaves[:self.nx])
        y = self._uny(leaves[self.nx:self.nx + self.ny]) if self.has_y else None
        sw = self._uns(leaves[self.nx + self.ny:]) if self.has_sw else None
        return x, y, sw

    def batches(self, shuffle=False, steps=None):
        """Yield ``(x, y, sw)`` per batch, in a fresh random order if ``shuffle``."""
        leaves = self.leaves
        if shuffle == "batch":
            # Keras's "batch" shuffle: shuffle batch order, keep samples within a batch
            order = np.random.permutation(self.steps)
        else:
            order = range(self.steps)
            if shuffle:
                from .. import random as _random
                perm = _random.default_generator().permutation_array(self.n)
                leaves = [a if a is None or a.ndim == 0 else a[perm] for a in leaves]
        bs = self.batch_size
        single = len(leaves) == 1
        count = 0
        for b in order:
            if steps is not None and count >= steps:
                return
            s = slice(b * bs, b * bs + bs)
            if single:
                yield self._pack([leaves[0][s]])
            else:
                yield self._pack([a if a is None or a.ndim == 0 else a[s] for a in leaves])
            count += 1


def _normalize_batch(data, who):
    x, y, sw = unpack_x_y_sample_weight(data)
    xl, unx = flatten(x)
    xl = [_as_array(a, who) for a in xl]
    xl = [a[:, None] if a is not None and a.ndim == 1 else a for a in xl]
    x = unx(xl)
    if y is not None:
        yl, uny = flatten(y)
        y = uny([_as_array(a, who) for a in yl])
    if sw is not None:
        sl, uns = flatten(sw)
        sw = uns([_as_array(a, who) for a in sl])
    return x, y, sw


class GeneratorAdapter:
    """Batches from a Python generator/iterator.  Without ``steps`` an epoch ends when the
    generator is exhausted (it can then not be used for a second epoch)."""

    def __init__(self, gen, steps=None, who="fit"):
        self.gen = gen
        self.steps = steps
        self.who = who
        self._exhausted = False

    def batches(self, shuffle=False, steps=None):
        steps = steps if steps is not None else self.steps
        if self._exhausted:
            raise ValueError(f"{self.who}: the generator was exhausted in an earlier epoch; pass "
                             "steps_per_epoch (and make the generator infinite) to train several "
                             "epochs")
        count = 0
        while steps is None or count < steps:
            try:
                data = next(self.gen)
            except StopIteration:
                if steps is not None:
                    self._exhausted = True
                    import warnings
                    warnings.warn(f"{self.who}: the generator ran out of data after {count} "
                                  f"of {steps} steps", stacklevel=3)
                else:
                    self._exhausted = True
                return
            yield _normalize_batch(data, self.who)
            count += 1


class PyDatasetAdapter:
    """Batches from a :class:`PyDataset` / ``Sequence`` (indexable batches)."""

    def __init__(self, ds, steps=None, who="fit"):
        self.ds = ds
        self.who = who
        try:
            n = len(ds)
        except TypeError:
            raise TypeError(f"{who}: {type(ds).__name__} must define __len__") from None
        self.steps = n if steps is None else min(steps, n) if n else steps

    def batches(self, shuffle=False, steps=None):
        steps = self.steps if steps is None else steps
        begin = getattr(self.ds, "on_epoch_begin", None)
        if callable(begin):
            begin()
        order = np.random.permutation(len(self.ds)) if shuffle else range(len(self.ds))
        for count, i in enumerate(order):
            if count >= steps:
                break
            yield _normalize_batch(self.ds[int(i)], self.who)
        end = getattr(self.ds, "on_epoch_end", None)
        if callable(end):
            end()


def _is_pydataset(x):
    return isinstance(x, PyDataset) or (hasattr(x, "__getitem__") and hasattr(x, "__len__")
                                        and not isinstance(x, (np.ndarray, list, tuple, dict))
                                        and not hasattr(x, "shape"))


def get_adapter(x, y=None, sample_weight=None, batch_size=None, steps=None, shuffle=False,
                class_weight=None, who="fit"):
    """The adapter for ``x`` (and ``y``, ``sample_weight``)."""
    if isinstance(x, types.GeneratorType) or (hasattr(x, "__next__") and hasattr(x, "__iter__")):
        _no_y(y, sample_weight, who, "a generator")
        if class_weight is not None:
            raise ValueError(f"{who}: class_weight is not supported with generators; yield "
                             "sample weights instead")
        return GeneratorAdapter(x, steps, who)
    if _is_pydataset(x):
        _no_y(y, sample_weight, who, "a PyDataset")
        if class_weight is not None:
            raise ValueError(f"{who}: class_weight is not supported with a PyDataset; return "
                             "sample weights from __getitem__ instead")
        return PyDatasetAdapter(x, steps, who)
    if x is None:
        raise ValueError(f"{who}: x is required")
    return ArrayAdapter(x, y, sample_weight, batch_size, who, class_weight)


def _no_y(y, sw, who, what):
    if y is not None or sw is not None:
        raise ValueError(f"{who}: when x is {what}, y and sample_weight must not be given (the "
                         "data yields them)")
