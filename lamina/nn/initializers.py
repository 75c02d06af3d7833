"""Weight initializers with Keras 3's names, arguments and formulas.

An initializer is called as ``init(shape, dtype=None)`` and returns a raw NumPy
array of that shape (float32 by default).  Random ones draw from
``lamina.random.default_generator()`` (so ``lamina.random.seed(n)`` makes them
repeat), or, when built with an integer ``seed``, from a fresh generator with that
seed on every call (Keras 3 does the same: equal seeds give equal values).

Fans are computed like Keras: a 2-D kernel (in, out) has fan_in=in, fan_out=out;
a convolution kernel (..., in_channels, out_channels) multiplies both by the
receptive field size (the product of the leading dimensions).
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from .. import random as _random
from ._registry import ConfigObject, Kind

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "Identity", "RandomNormal",
           "RandomUniform", "TruncatedNormal", "VarianceScaling", "GlorotUniform",
           "GlorotNormal", "HeNormal", "HeUniform", "LecunNormal", "LecunUniform", "Orthogonal",
           "IdentityInitializer", "OrthogonalInitializer",
           "compute_fans", "get", "serialize", "deserialize", "zeros", "ones", "constant",
           "identity", "random_normal", "random_uniform", "truncated_normal",
           "variance_scaling", "orthogonal", "glorot_uniform", "glorot_normal", "he_normal",
           "he_uniform", "lecun_normal", "lecun_uniform"]

# stddev of a standard normal truncated to [-2, 2]; dividing by it restores the target std
_TRUNC_STD = 0.87962566103423978


def _shape(shape, who):
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: shape must be a tuple of ints, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"{who}: shape {shape} has a negative dimension")
    return shape


def _dtype(dtype):
    dt = backend.as_dtype(dtype) if dtype is not None else backend.default_dtype()
    return dt


def compute_fans(shape, input_axes=None, output_axes=None):
    """(fan_in, fan_out) of a weight shape, as Keras computes them (see module doc).
    ``input_axes``/``output_axes`` (both given) name the axes counted as inputs/outputs."""
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return (int(np.prod([shape[a] for a in input_axes])),
                int(np.prod([shape[a] for a in output_axes])))
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    rf = 1
    for d in shape[:-2]:
        rf *= d
    return shape[-2] * rf, shape[-1] * rf


class Initializer(ConfigObject):
    """Base class: subclasses implement ``__call__(shape, dtype=None)`` -> numpy array."""

    def __call__(self, shape, dtype=None):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(shape, dtype)")

    def clone(self):
        """A new initializer with the same configuration."""
        return self.__class__.from_config(self.get_config())


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype=None):
        return np.zeros(_shape(shape, "Zeros"), dtype=_dtype(dtype))


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype=None):
        return np.ones(_shape(shape, "Ones"), dtype=_dtype(dtype))


class Constant(Initializer):
    """Every entry equal to ``value`` (a scalar, or an array broadcastable to the shape)."""

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        shape = _shape(shape, "Constant")
        v = np.asarray(self.value.numpy() if hasattr(self.value, "numpy") else self.value)
        try:
            return np.array(np.broadcast_to(v, shape), dtype=_dtype(dtype))
        except ValueError:
            raise ValueError(f"Constant: value of shape {v.shape} cannot fill shape {shape}") \
                from None

    def get_config(self):
        v = self.value
        if isinstance(v, np.ndarray) or hasattr(v, "numpy"):
            v = np.asarray(v.numpy() if hasattr(v, "numpy") else v).tolist()
        elif isinstance(v, np.generic):
            v = v.item()
        return {"value": v}


class Identity(Initializer):
    """``gain`` times the identity matrix; 2-D shapes only (non-square: eye(rows, cols))."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        shape = _shape(shape, "Identity")
        if len(shape) != 2:
            raise ValueError(f"Identity: expected a 2-D shape, got {shape}")
        return (np.eye(*shape) * self.gain).astype(_dtype(dtype))

    def get_config(self):
        return {"gain": self.gain}


class RandomInitializer(Initializer):
    """Base of the random initializers: holds ``seed`` (None: the default generator)."""

    def __init__(self, seed=None):
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise TypeError(f"{type(self).__name__}: seed must be an int or None, got "
                            f"{type(seed).__name__}")
        self.seed = None if seed is None else int(seed)

    def _gen(self):
        return _random.default_generator() if self.seed is None else _random.Generator(self.seed)

    def get_config(self):
        return {"seed": self.seed}


def _truncated_normal(gen, shape, mean, std, dtype):
    """Normal samples redrawn until all lie within two standard deviations."""
    x = gen.normal_array(shape, np, 0.0, 1.0, np.float64)
    bad = np.abs(x) > 2.0
    while bad.any():
        x[bad] = gen.normal_array((int(bad.sum()),), np, 0.0, 1.0, np.float64)
        bad = np.abs(x) > 2.0
    return (x * std + mean).astype(dtype)


class RandomNormal(RandomInitializer):
    """Normal samples with ``mean`` and ``stddev``."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        shape = _shape(shape, "RandomNormal")
        return self._gen().normal_array(shape, np, self.mean, self.stddev, _dtype(dtype))

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class TruncatedNormal(RandomNormal):
    """Normal samples with ``mean`` and ``stddev``, redrawn beyond two stddevs (as Keras)."""

    def __call__(self, shape, dtype=None):
        shape = _shape(shape, "TruncatedNormal")
        return _truncated_normal(self._gen(), shape, self.mean, self.stddev, _dtype(dtype))


class RandomUniform(RandomInitializer):
    """Uniform samples in [minval, maxval)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval = minval, maxval
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        shape = _shape(shape, "RandomUniform")
        return self._gen().uniform_array(shape, np, self.minval, self.maxval, _dtype(dtype))

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class VarianceScaling(RandomInitializer):
    """Samples with variance scale / n, n = fan_in, fan_out or their mean (``mode``).

    ``distribution``: "truncated_normal" (stddev sqrt(scale/n)/0.8796, cut at 2 stddevs),
    "untruncated_normal" (stddev sqrt(scale/n)) or "uniform" (limit sqrt(3 scale/n))."""

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 input_axes=None, output_axes=None):
        self.input_axes = None if input_axes is None else list(input_axes)
        self.output_axes = None if output_axes is None else list(output_axes)
        if scale <= 0.0:
            raise ValueError(f"VarianceScaling: scale must be positive, got {scale}")
        if mode not in self._MODES:
            raise ValueError(f"VarianceScaling: mode must be one of {self._MODES}, got {mode!r}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in self._DISTS:
            raise ValueError(f"VarianceScaling: distribution must be one of {self._DISTS}, "
                             f"got {distribution!r}")
        self.scale, self.mode, self.distribution = scale, mode, distribution
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        shape = _shape(shape, type(self).__name__)
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        gen, dt = self._gen(), _dtype(dtype)
        if self.distribution == "truncated_normal":
            return _truncated_normal(gen, shape, 0.0, math.sqrt(scale) / _TRUNC_STD, dt)
        if self.distribution == "untruncated_normal":
            return gen.normal_array(shape, np, 0.0, math.sqrt(scale), dt)
        limit = math.sqrt(3.0 * scale)
        return gen.uniform_array(shape, np, -limit, limit, dt)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                **super().get_config(), "input_axes": self.input_axes,
                "output_axes": self.output_axes}


def _preset(name, scale, mode, distribution, doc):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}

    cls = type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                          "__doc__": doc, "__module__": __name__})
    return cls


GlorotUniform = _preset("GlorotUniform", 1.0, "fan_avg", "uniform",
                        "Uniform in [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)).")
GlorotNormal = _preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                       "Truncated normal, stddev = sqrt(2 / (fan_in + fan_out)).")
HeNormal = _preset("HeNormal", 2.0, "fan_in", "truncated_normal",
                   "Truncated normal, stddev = sqrt(2 / fan_in).")
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform",
                    "Uniform in [-limit, limit], limit = sqrt(6 / fan_in).")
LecunNormal = _preset("LecunNormal", 1.0, "fan_in", "truncated_normal",
                      "Truncated normal, stddev = sqrt(1 / fan_in).")
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform",
                       "Uniform in [-limit, limit], limit = sqrt(3 / fan_in).")


class Orthogonal(RandomInitializer):
    """An orthogonal matrix (QR of a normal matrix, signs fixed) times ``gain``; shapes of
    rank > 2 are treated as (prod(shape[:-1]), shape[-1])."""

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        shape = _shape(shape, "Orthogonal")
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: expected a shape of rank >= 2, got {shape}")
        rows = int(np.prod(shape[:-1]))
        cols = shape[-1]
        a = self._gen().normal_array((max(rows, cols), min(rows, cols)), np, 0.0, 1.0,
                                     np.float64)
        q, r = np.linalg.qr(a)
        d = np.sign(np.diag(r))
        d[d == 0] = 1.0
        q = q * d
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(_dtype(dtype))

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


_CLASSES = {c.__name__: c for c in (Zeros, Ones, Constant, Identity, RandomNormal, RandomUniform,
                                     TruncatedNormal, VarianceScaling, GlorotUniform,
                                     GlorotNormal, HeNormal, HeUniform, LecunNormal,
                                     LecunUniform, Orthogonal)}
_ALIASES = {"zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
            "identity": Identity, "random_normal": RandomNormal, "normal": RandomNormal,
            "random_uniform": RandomUniform, "uniform": RandomUniform,
            "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
            "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
            "he_normal": HeNormal, "he_uniform": HeUniform, "lecun_normal": LecunNormal,
            "lecun_uniform": LecunUniform, "orthogonal": Orthogonal,
            "IdentityInitializer": Identity, "OrthogonalInitializer": Orthogonal}

# lowercase function forms, as in keras.initializers (called with a shape)
zeros, ones, constant, identity = Zeros, Ones, Constant, Identity
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal = VarianceScaling, Orthogonal
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_normal, he_uniform, lecun_normal, lecun_uniform = HeNormal, HeUniform, LecunNormal, LecunUniform
# Keras 3's longer class names for two of them
IdentityInitializer, OrthogonalInitializer = Identity, Orthogonal


def _array_initializer(identifier):
    """An initializer returning the array ``identifier`` (None if it is not an array)."""
    if not (isinstance(identifier, (np.ndarray, np.generic)) or
            hasattr(identifier, "__array__") and not callable(identifier)):
        return None
    value = np.asarray(identifier)

    def initialize_fn(shape, dtype=None):
        shape = _shape(shape, "initializer")
        if shape != value.shape:
            raise ValueError(f"initializer: expected shape {value.shape} (the array given "
                             f"as initializer), got {shape}")
        return value.astype(_dtype(dtype))
    return initialize_fn


_KIND = Kind("initializers", "initializer", names={**_CLASSES, **_ALIASES}, known=sorted(_ALIASES),
             none=None, subclasses=object, other=_array_initializer,
             expected="a string, dict, callable, array or None",
             keras_module="keras.initializers")


def get(identifier):
    """An initializer from a name ("glorot_uniform", "HeNormal"), a config dict, a class, an
    array (used as the value; the shape must match), a callable ``(shape, dtype)``, or None
    (returns None)."""
    return _KIND.get(identifier)


def serialize(initializer):
    """``{"class_name": ..., "config": ...}`` for an Initializer (what ``get`` accepts)."""
    return _KIND.serialize(initializer)


def deserialize(config, custom_objects=None):
    """An initializer from ``serialize``'s dict or a name."""
    return _KIND.deserialize(config, custom_objects)
