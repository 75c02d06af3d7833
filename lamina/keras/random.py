"""keras.random: seeding and random tensors (lamina.random under Keras's argument names).

``seed`` is, as in Keras, None (the global stream), an int (the same draw every call) or a
``SeedGenerator`` (lamina.random.Generator: each call advances it).  Draws land on
lamina's default device; ``shuffle``, ``categorical`` and ``dropout`` follow their input's.
"""
from ..random import seed as _seed, Generator as SeedGenerator  # noqa: F401
from .. import random as _r


def _gen(seed):
    """The generator a Keras ``seed`` argument names."""
    if seed is None:
        return _r.default_generator()
    if isinstance(seed, SeedGenerator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int) and not hasattr(seed, "__index__"):
        raise ValueError(f"seed must be None, an int or a keras.random.SeedGenerator; got "
                         f"{seed!r} ({type(seed).__name__})")
    return SeedGenerator(int(seed))


def set_seed(seed):
    """Reseed lamina's generators."""
    _seed(seed)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal samples of ``shape``."""
    return _gen(seed).normal(shape, mean, stddev, dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Uniform samples in [minval, maxval)."""
    return _gen(seed).uniform(shape, minval, maxval, dtype)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers in [minval, maxval)."""
    return _gen(seed).integers(minval, maxval, shape, dtype)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal samples; values more than 2 ``stddev`` from ``mean`` are drawn again."""
    return _gen(seed).truncated_normal(shape, mean, stddev, dtype)


def gamma(shape, alpha, dtype=None, seed=None):
    """Gamma(``alpha``, scale 1) samples of ``shape``."""
    return _gen(seed).gamma(shape, alpha, dtype)


def beta(shape, alpha, beta, dtype=None, seed=None):
    """Beta(``alpha``, ``beta``) samples of ``shape``."""
    return _gen(seed).beta(shape, alpha, beta, dtype)


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """Binomial(``counts``, ``probabilities``) samples of ``shape`` (floatx by default)."""
    return _gen(seed).binomial(shape, counts, probabilities, dtype)


def categorical(logits, num_samples, dtype="int32", seed=None):
    """``num_samples`` class indices per row of ``logits`` (batch, classes), drawn from
    softmax(logits) with replacement: shape (batch, num_samples)."""
    return _gen(seed).categorical(logits, num_samples, dtype)


def shuffle(x, axis=0, seed=None):
    """``x`` with its entries along ``axis`` randomly permuted."""
    return _gen(seed).shuffle(x, axis)


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Zero entries with probability ``rate`` and scale the rest by 1/(1-rate)."""
    return _gen(seed).dropout(inputs, rate, noise_shape)
