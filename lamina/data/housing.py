"""Regression datasets: Boston and California housing, with Keras's ``load_data``
signatures, shuffle and train/test split.

Both are the plain numeric ``.npz`` files Keras publishes (arrays ``x`` (n, features) and
``y`` (n,)), read with ``allow_pickle=False`` from the cache (``lamina.data.vision.cache_dir()``,
folders ``boston_housing/`` and ``california_housing/``) after checking the SHA-256 Keras
pins.  A missing file is fetched from Keras's URL when the network allows; otherwise the
error names the file, the URL and where to put it.
"""
from __future__ import annotations

import numpy as np

from . import vision
from .datasets import load_local_npz

__all__ = ["boston_housing", "california_housing", "PINS"]

# dataset -> SHA-256 of Keras's file (the ``file_hash`` Keras passes to get_file)
PINS = {
    "boston_housing": "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5",
    "california_housing": "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f",
}


def _read_xy(name, path):
    """Arrays ``x`` and ``y`` of the verified ``.npz`` at ``path`` (relative paths live in
    the dataset's cache folder)."""
    who = f"{name}.load_data"
    path = vision.cache_path(name, path)
    vision._fetch_verified(vision.KERAS_ORIGIN + f"{name}.npz", PINS[name], path, who,
                           hint="set LAMINA_HOME to move the cache")
    x, y = load_local_npz(path, ("x", "y"), who, "Use Keras's numeric file.")
    if len(x) != len(y):
        raise ValueError(f"{who}: {path} has {len(x)} samples in x but {len(y)} in y")
    return x, y


def _shuffle_split(x, y, test_split, seed):
    """Keras's split: shuffle with ``RandomState(seed)``, the first
    ``int(n * (1 - test_split))`` samples train, the rest test."""
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def _check_split(name, test_split):
    if not 0 <= test_split < 1:
        raise ValueError(f"{name}.load_data: test_split must be in [0, 1), got {test_split}")


class _BostonHousing:
    """``keras.datasets.boston_housing`` (13 features; targets in k$).  Keras warns of an
    ethical problem with this dataset's "B" feature; prefer ``california_housing``."""

    name = "boston_housing"

    def load_data(self, path="boston_housing.npz", test_split=0.2, seed=113):
        """``((x_train, y_train), (x_test, y_test))``: x float64 (n, 13), y float64 (n,),
        shuffled with ``seed`` and split as Keras does."""
        _check_split(self.name, test_split)
        return _shuffle_split(*_read_xy(self.name, path), test_split, seed)

    def __repr__(self):
        return "<lamina dataset boston_housing>"


class _CaliforniaHousing:
    """``keras.datasets.california_housing`` (8 features; targets in dollars)."""

    name = "california_housing"

    def load_data(self, version="large", path="california_housing.npz", test_split=0.2,
                  seed=113):
        """``((x_train, y_train), (x_test, y_test))`` from all 20,640 samples
        (``version='large'``) or the first 600 (``'small'``), shuffled with ``seed`` and
        split as Keras does."""
        if version not in ("small", "large"):
            raise ValueError("california_housing.load_data: version must be one of 'small', "
                             f"'large'; got {version!r}")
        _check_split(self.name, test_split)
        x, y = _read_xy(self.name, path)
        if version == "small":
            x, y = x[:600], y[:600]
        return _shuffle_split(x, y, test_split, seed)

    def __repr__(self):
        return "<lamina dataset california_housing>"


boston_housing = _BostonHousing()
california_housing = _CaliforniaHousing()
