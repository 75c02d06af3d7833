"""Random numbers: one seed call makes a run reproducible.

``lamina.random.seed(n)`` resets the default generator, used by ``rand``,
``randn``, dropout, initializers and shuffling.  ``Generator(seed)`` gives an
independent stream.  On the GPU a CuPy generator seeded from the same stream is
used, so arrays are born on the device.
"""
from __future__ import annotations

import numpy as np

from . import backend


class Generator:
    """An explicit random stream (NumPy's PCG64 on the CPU)."""

    def __init__(self, seed=None):
        self.seed(seed)

    def seed(self, seed=None):
        self._seed = seed
        self.np = np.random.default_rng(seed)
        self._cp = None

    def _xp_rng(self, xp):
        if xp is np:
            return self.np
        if self._cp is None:
            self._cp = xp.random.default_rng(int(self.np.integers(0, 2 ** 63 - 1)))
        return self._cp

    # raw-array draws, used by ops and initializers
    def uniform_array(self, shape, xp=np, low=0.0, high=1.0, dtype=None):
        dt = backend.as_dtype(dtype)
        r = self._xp_rng(xp).random(size=tuple(shape), dtype=np.float64 if xp is np else dt)
        r = r.astype(dt, copy=False)
        if low != 0.0 or high != 1.0:
            r = r * dt.type(high - low) + dt.type(low)
        return r

    def normal_array(self, shape, xp=np, mean=0.0, std=1.0, dtype=None):
        dt = backend.as_dtype(dtype)
        r = self._xp_rng(xp).standard_normal(size=tuple(shape), dtype=np.float64 if xp is np else dt)
        r = r.astype(dt, copy=False)
        if std != 1.0 or mean != 0.0:
            r = r * dt.type(std) + dt.type(mean)
        return r

    def integers_array(self, low, high=None, shape=(), xp=np, dtype=np.int64):
        if high is None:
            low, high = 0, low
        if xp is np:
            return self.np.integers(low, high, size=tuple(shape), dtype=dtype)
        return self._xp_rng(xp).integers(low, high, size=tuple(shape), dtype=dtype)

    def permutation_array(self, n):
        return self.np.permutation(n)

    # tensor draws
    def uniform(self, shape, low=0.0, high=1.0, dtype=None, device=None):
        from .tensor import _wrap
        return _wrap(self.uniform_array(shape, _xp(device), low, high, dtype))

    def normal(self, shape, mean=0.0, std=1.0, dtype=None, device=None):
        from .tensor import _wrap
        return _wrap(self.normal_array(shape, _xp(device), mean, std, dtype))

    def integers(self, low, high=None, shape=(), dtype=np.int64, device=None):
        from .tensor import _wrap
        return _wrap(self.integers_array(low, high, shape, _xp(device), dtype))

    def permutation(self, n):
        from .tensor import _wrap
        return _wrap(self.permutation_array(n))


def _xp(device):
    if device is None:
        device = backend._default_device       # None: the CPU
    return np if device is None else backend.Device(device).xp


_default = Generator(None)


def default_generator() -> Generator:
    """The generator used when none is passed."""
    return _default


def seed(n):
    """Reseed the default generator (and Python's and NumPy's global ones, which user
    code and data pipelines often use) so a run repeats exactly on the CPU."""
    import random as _pyrandom
    _default.seed(n)
    _pyrandom.seed(n)
    np.random.seed(n % (2 ** 32))


def uniform(shape, low=0.0, high=1.0, dtype=None, device=None):
    """Uniform samples in [low, high)."""
    return _default.uniform(shape, low, high, dtype, device)


def normal(shape, mean=0.0, std=1.0, dtype=None, device=None):
    """Normal samples."""
    return _default.normal(shape, mean, std, dtype, device)


def integers(low, high=None, shape=(), dtype=np.int64, device=None):
    """Integers in [low, high)."""
    return _default.integers(low, high, shape, dtype, device)


def permutation(n):
    """A random permutation of range(n) (an int64 tensor)."""
    return _default.permutation(n)
