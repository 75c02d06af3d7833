"""The 8x8 handwritten digits (1,797 images, shipped in the package) and small helpers.

The digits come from scikit-learn when it is importable, else from ``digits.npz`` next to
this file (the same data, saved once with ``np.savez_compressed``; read with
``allow_pickle=False``).
"""
from __future__ import annotations

import os

import numpy as np

__all__ = ["load_digits", "train_test_split", "standardize", "load_local_npz", "get_file",
           "load_digits_split"]

_HERE = os.path.dirname(os.path.abspath(__file__))
DIGITS_PATH = os.path.join(_HERE, "digits.npz")


def load_local_npz(path, keys, who="load_local_npz", hint=""):
    """Arrays ``keys`` from an ``.npz`` file, never unpickling anything: missing arrays and
    object arrays (which only pickle can read) raise, naming ``who`` and the file, with
    ``hint`` appended."""
    tail = f" {hint}" if hint else ""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in keys if k not in f.files]
            if missing:
                raise ValueError(f"{who}: {path} lacks arrays {missing} (it holds "
                                 f"{f.files}).{tail}")
            return [np.asarray(f[k]) for k in keys]
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise ValueError(f"{who}: {path} holds object arrays, which need pickle to load; "
                             f"lamina never unpickles.{tail}") from None
        raise


def load_digits(source="auto"):
    """The 8x8 digits: ``X`` (1797, 64) float32 pixel values in [0, 16], ``y`` (1797,) int64.

    ``source``: ``'auto'`` (scikit-learn if importable, else the shipped copy),
    ``'sklearn'`` or ``'package'``.
    """
    if source not in ("auto", "sklearn", "package"):
        raise ValueError(f"load_digits: source must be 'auto', 'sklearn' or 'package', "
                         f"got {source!r}")
    if source in ("auto", "sklearn"):
        try:
            from sklearn.datasets import load_digits as _sk
        except ImportError:
            if source == "sklearn":
                raise ImportError("load_digits(source='sklearn') needs scikit-learn "
                                  "(pip install scikit-learn)") from None
        else:
            d = _sk()
            return d.data.astype(np.float32), d.target.astype(np.int64)
    X, y = load_local_npz(DIGITS_PATH, ["images", "target"])
    return X.astype(np.float32), y.astype(np.int64)


def train_test_split(*arrays, test_size=0.25, seed=None, shuffle=True):
    """Split arrays along axis 0 into train and test parts: ``(a_train, a_test, b_train, ...)``.

    ``test_size`` is a fraction in (0, 1) or a number of samples.
    """
    if not arrays:
        raise ValueError("train_test_split: at least one array is required")
    n = len(arrays[0])
    for a in arrays:
        if len(a) != n:
            raise ValueError(f"train_test_split: arrays have different lengths "
                             f"{[len(x) for x in arrays]}")
    n_test = int(round(test_size * n)) if isinstance(test_size, float) else int(test_size)
    if not 0 < n_test < n:
        raise ValueError(f"train_test_split: test_size={test_size} leaves an empty part for "
                         f"{n} samples")
    idx = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    tr, te = idx[:n - n_test], idx[n - n_test:]
    out = []
    for a in arrays:
        a = np.asarray(a)
        out += [a[tr], a[te]]
    return tuple(out)


def standardize(train, *others, eps=1e-8):
    """Scale features to zero mean and unit variance using ``train``'s statistics
    (constant features are left centred); returns the transformed arrays."""
    train = np.asarray(train, dtype=np.float32)
    mu = train.mean(axis=0)
    sd = train.std(axis=0)
    sd = np.where(sd < eps, np.float32(1), sd).astype(np.float32)
    res = [(train - mu) / sd] + [(np.asarray(o, dtype=np.float32) - mu) / sd for o in others]
    return res[0] if not others else tuple(res)


def get_file(fname=None, origin=None, **kwargs):
    """Not supported: lamina never downloads.  Put the file in place yourself."""
    raise RuntimeError(f"get_file({fname!r}): lamina makes no network access; download "
                       f"{origin or fname!r} yourself and load it from disk")


def load_digits_split(test_size=270, seed=0):
    """The digits as Keras datasets are returned: ``((x_train, y_train), (x_test, y_test))``,
    images (n, 8, 8) float32 in [0, 16], a fixed-seed split with ``test_size`` test images."""
    X, y = load_digits()
    xtr, xte, ytr, yte = train_test_split(X.reshape(-1, 8, 8), y, test_size=test_size,
                                          seed=seed)
    return (xtr, ytr), (xte, yte)
