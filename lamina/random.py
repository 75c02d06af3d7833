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

    def permutation_array(self, n, xp=np):
        """A random permutation of range(n), on ``xp``'s device (drawn on the host)."""
        perm = self.np.permutation(n)
        return perm if xp is np else xp.asarray(perm)

    def truncated_normal_array(self, shape, xp=np, mean=0.0, std=1.0, dtype=None):
        """Normal draws, those beyond 2 std of the mean drawn again (as Keras)."""
        dt = backend.as_dtype(dtype)
        z = self.normal_array(shape, xp, dtype=dt)
        bad = xp.abs(z) >= 2
        while bool(bad.any()):
            z[bad] = self.normal_array((int(bad.sum()),), xp, dtype=dt)
            bad = xp.abs(z) >= 2
        if std != 1.0 or mean != 0.0:
            z = z * dt.type(std) + dt.type(mean)
        return z

    def _host_draw(self, xp, dtype, draw):
        # gamma, beta and binomial come from the host stream (the same numbers on every
        # device) and are moved to ``xp``'s device
        r = draw(self.np).astype(backend.as_dtype(dtype), copy=False)
        return r if xp is np else xp.asarray(r)

    def gamma_array(self, shape, alpha, xp=np, dtype=None):
        """Gamma(alpha, scale 1) draws; ``alpha`` broadcasts to ``shape``."""
        a = np.broadcast_to(backend.to_host(alpha), tuple(shape))
        return self._host_draw(xp, dtype, lambda g: g.standard_gamma(a))

    def beta_array(self, shape, alpha, beta, xp=np, dtype=None):
        """Beta(alpha, beta) draws; the parameters broadcast to ``shape``."""
        shape = tuple(shape)
        a, b = np.broadcast_to(backend.to_host(alpha), shape), np.broadcast_to(backend.to_host(beta), shape)
        return self._host_draw(xp, dtype, lambda g: g.beta(a, b))

    def binomial_array(self, shape, counts, probabilities, xp=np, dtype=None):
        """Binomial(counts, probabilities) draws (as floats by default, like Keras)."""
        shape = tuple(shape)
        n = np.broadcast_to(np.asarray(backend.to_host(counts)).astype(np.int64), shape)
        p = np.broadcast_to(backend.to_host(probabilities), shape)
        return self._host_draw(xp, dtype, lambda g: g.binomial(n, p))

    def categorical_array(self, logits, num_samples, dtype="int32"):
        """``num_samples`` class indices per row of the 2-D ``logits`` (with replacement),
        drawn from softmax(logits), on the logits' device."""
        xp = backend.get_xp(logits)
        if logits.ndim != 2:
            raise ValueError(f"categorical: `logits` must be 2-D (batch, num_classes), got "
                             f"shape {tuple(logits.shape)}")
        z = logits.astype(np.float64) if logits.dtype.kind != "f" else logits
        z = z - z.max(axis=-1, keepdims=True)
        cdf = xp.cumsum(xp.exp(z), axis=-1)
        u = self.uniform_array((logits.shape[0], int(num_samples)), xp, dtype=cdf.dtype)
        u = u * cdf[:, -1:]
        idx = (u[:, :, None] >= cdf[:, None, :]).sum(axis=-1)
        return xp.minimum(idx, logits.shape[1] - 1).astype(backend.as_dtype(dtype))

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

    def truncated_normal(self, shape, mean=0.0, std=1.0, dtype=None, device=None):
        from .tensor import _wrap
        return _wrap(self.truncated_normal_array(shape, _xp(device), mean, std, dtype))

    def gamma(self, shape, alpha, dtype=None, device=None):
        from .tensor import _wrap
        return _wrap(self.gamma_array(shape, alpha, _xp(device), dtype))

    def beta(self, shape, alpha, beta, dtype=None, device=None):
        from .tensor import _wrap
        return _wrap(self.beta_array(shape, alpha, beta, _xp(device), dtype))

    def binomial(self, shape, counts, probabilities, dtype=None, device=None):
        from .tensor import _wrap
        return _wrap(self.binomial_array(shape, counts, probabilities, _xp(device), dtype))

    def categorical(self, logits, num_samples, dtype="int32"):
        """Class indices (batch, num_samples) drawn from softmax of the 2-D ``logits``."""
        from .tensor import _wrap
        return _wrap(self.categorical_array(_as_tensor(logits).data, num_samples, dtype))

    def shuffle(self, x, axis=0):
        """``x`` with its entries along ``axis`` in a random order (differentiable)."""
        from .ops.indexing import take
        x = _as_tensor(x)
        if x.ndim == 0:
            raise ValueError("shuffle: cannot shuffle a 0-d tensor")
        ax = axis % x.ndim if -x.ndim <= axis < x.ndim else None
        if ax is None:
            raise ValueError(f"shuffle: axis {axis} is out of range for shape {x.shape}")
        perm = self.permutation_array(x.shape[ax], backend.get_xp(x.data))
        return take(x, perm, axis=ax)

    def dropout(self, x, rate, noise_shape=None):
        """Zero entries of ``x`` with probability ``rate`` and scale the rest by
        1/(1-rate); ``noise_shape`` (None entries take x's size) shares the mask along
        broadcast axes."""
        from .tensor import _wrap
        x = _as_tensor(x)
        if not 0 <= rate <= 1:
            raise ValueError(f"dropout: rate must be in [0, 1], got {rate}")
        if rate == 0:
            return x
        if x.data.dtype.kind != "f":
            x = x.astype(backend.default_dtype())
        dt = x.data.dtype
        if rate == 1:
            return x * dt.type(0)
        shape = x.shape if noise_shape is None else tuple(
            s if n is None else int(n) for n, s in zip(noise_shape, x.shape))
        if len(shape) != x.ndim:
            raise ValueError(f"dropout: noise_shape {tuple(noise_shape)} must have one entry "
                             f"per axis of the input, shape {x.shape}")
        keep = self.uniform_array(shape, backend.get_xp(x.data), dtype=dt) >= dt.type(rate)
        return x * _wrap(keep.astype(dt) * dt.type(1.0 / (1.0 - rate)))


def _data(x):
    """The raw array of ``x`` (a Tensor, an array or nested lists), on its device."""
    d = getattr(x, "data", None)
    if d is not None and not isinstance(x, np.ndarray):
        return d
    return np.asarray(x) if not hasattr(x, "__cuda_array_interface__") else x


def _as_tensor(x):
    from .tensor import Tensor, _wrap
    if isinstance(x, Tensor):
        return x
    d = _data(x)
    if backend.get_xp(d) is np and backend._default_device is not None:
        d = _xp(None).asarray(d)
    return _wrap(d)


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


def truncated_normal(shape, mean=0.0, std=1.0, dtype=None, device=None):
    """Normal samples within 2 std of the mean (those outside are drawn again)."""
    return _default.truncated_normal(shape, mean, std, dtype, device)
