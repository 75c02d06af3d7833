"""keras.random: seeding and random tensors (lamina.random under Keras's argument names)."""
from ..random import seed as _seed, Generator as SeedGenerator  # noqa: F401
from .. import random as _r


def set_seed(seed):
    """Reseed lamina's generators."""
    _seed(seed)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal samples of ``shape``."""
    return (_r.Generator(seed) if seed is not None else _r.default_generator()).normal(
        shape, mean, stddev, dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Uniform samples in [minval, maxval)."""
    return (_r.Generator(seed) if seed is not None else _r.default_generator()).uniform(
        shape, minval, maxval, dtype)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers in [minval, maxval)."""
    return (_r.Generator(seed) if seed is not None else _r.default_generator()).integers(
        minval, maxval, shape, dtype)
