"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Permute, RepeatVector,
Lambda, Identity, Masking, Embedding, and the small op layers recorded by arithmetic on
symbolic tensors."""
from __future__ import annotations

import numpy as np

from ...ops import elementwise as _E
from ...ops import shape as _S
from ...ops.nn import linear, dropout as _dropout
from ...ops.indexing import embedding as _embedding
from ...tensor import Tensor, _wrap
from .base import InputSpec, Layer


def _act_get(identifier, layer=None):
    from .. import activations
    try:
        fn = activations.get(identifier)
    except (ValueError, TypeError) as e:
        if layer is None:
            raise
        raise type(e)(f"{type(layer).__name__} '{layer.name}': {e}") from None
    return None if fn is activations.linear else fn


_RELU = None


def _relu_fn():
    """activations.relu (imported late, as the other activation helpers here do)."""
    global _RELU
    from .. import activations
    _RELU = activations.relu
    return _RELU


def _act_ser(fn):
    from .. import activations
    return activations.serialize(fn if fn is not None else activations.linear)


def _ser(module, obj):
    from importlib import import_module
    return import_module(f"lamina.nn.{module}").serialize(obj) if obj is not None else None


def _weight_args(layer, prefix, initializer, regularizer, constraint):
    """Stores one weight's Keras arguments on ``layer``: ``<prefix>_initializer`` and
    ``<prefix>_regularizer`` and ``<prefix>_constraint`` resolved from names/configs."""
    from .. import constraints, initializers, regularizers
    setattr(layer, f"{prefix}_initializer", initializers.get(initializer))
    setattr(layer, f"{prefix}_regularizer", regularizers.get(regularizer))
    setattr(layer, f"{prefix}_constraint", constraints.get(constraint))


def _add_weight_of(layer, prefix, shape, name=None, initializer=None):
    """``layer.add_weight(name or prefix, shape)`` with the initializer (unless given),
    regularizer and constraint that :func:`_weight_args` stored for ``prefix``."""
    return layer.add_weight(name=name or prefix, shape=shape,
                            initializer=initializer or getattr(layer, f"{prefix}_initializer"),
                            regularizer=getattr(layer, f"{prefix}_regularizer"),
                            constraint=getattr(layer, f"{prefix}_constraint"))


def _weight_config(layer, prefixes, constraints=True, activity=False):
    """Config entries of the weights ``prefixes`` in Keras's order: all initializers, then
    all regularizers (and, with ``activity``, the activity regularizer, which Keras's
    convolutions always write), then (``constraints``) the constraints."""
    cfg = {f"{p}_initializer": _ser("initializers", getattr(layer, f"{p}_initializer"))
           for p in prefixes}
    cfg.update({f"{p}_regularizer": _ser("regularizers", getattr(layer, f"{p}_regularizer"))
                for p in prefixes})
    if activity:
        cfg["activity_regularizer"] = _ser("regularizers", layer.activity_regularizer)
    if constraints:
        cfg.update({f"{p}_constraint": _ser("constraints", getattr(layer, f"{p}_constraint"))
                    for p in prefixes})
    return cfg


def _on(arr, like):
    """``arr`` (NumPy) as a constant tensor on ``like``'s device."""
    from ...ops.base import xp_of
    xp = xp_of(like)
    return _wrap(arr if xp is np else xp.asarray(arr))


def _scaled_keep_mask(shape, rate, like, generator):
    """A dropout mask of ``shape`` as a constant tensor on ``like``'s device: 1/(1-rate)
    where kept, 0 where dropped (a fraction ``rate``); ``generator`` None draws from
    lamina's default generator."""
    from ... import random as _random
    from ...ops.base import xp_of
    gen = generator if generator is not None else _random.default_generator()
    dt = like.data.dtype
    keep = gen.uniform_array(tuple(shape), xp_of(like), dtype=dt) >= rate
    return _wrap(keep.astype(dt) * dt.type(1.0 / (1.0 - rate)))


def _seeded_generator(layer):
    """The layer's own random generator, made from ``layer.seed`` on first use (stored in
    ``layer._gen``), or None without a seed (callers then use the default generator).
    Assign it as a method: ``_generator = _seeded_generator``."""
    if layer.seed is None:
        return None
    if layer._gen is None:
        from ... import random as _random
        layer._gen = _random.Generator(layer.seed)
    return layer._gen


class Dense(Layer):
    """``activation(inputs @ kernel + bias)``: (..., in) -> (..., units); kernel (in, units)."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 lora_rank=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Dense '{self.name}': units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = _act_get(activation, self)
        self.use_bias = bool(use_bias)
        _weight_args(self, "kernel", kernel_initializer, kernel_regularizer, kernel_constraint)
        _weight_args(self, "bias", bias_initializer, bias_regularizer, bias_constraint)
        self.input_spec = InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError(f"Dense '{self.name}': the last axis of the input must be known, "
                             f"got input shape {input_shape}")
        self.kernel = _add_weight_of(self, "kernel", (in_dim, self.units))
        self.bias = _add_weight_of(self, "bias", (self.units,)) if self.use_bias else None
        self.input_spec = InputSpec(min_ndim=2, axes={-1: in_dim})
        self.built = True

    def call(self, inputs):
        act = self.activation
        if act is not None and act is (_RELU or _relu_fn()):
            # one fused node: relu applied in place on the GEMM's result
            return linear(inputs, self.kernel, self.bias, activation="relu")
        y = linear(inputs, self.kernel, self.bias)
        return y if act is None else act(y)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.units,)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"units": self.units, "activation": _act_ser(self.activation),
                    "use_bias": self.use_bias})
        cfg.update(_weight_config(self, ("kernel", "bias")))
        return cfg


class Activation(Layer):
    """Applies an activation function (a name or a callable) elementwise."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.activation = _act_get(activation, self)

    def call(self, inputs):
        return inputs if self.activation is None else self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        cfg = super().get_config()
        cfg["activation"] = _act_ser(self.activation)
        return cfg


def _generator(seed):
    """A new random generator for ``seed``; None without one (the default generator is
    then used at each draw)."""
    if seed is None:
        return None
    from ... import random as _random
    return _random.Generator(seed)


class Dropout(Layer):
    """While training, zeroes a fraction ``rate`` of the inputs and scales the rest by
    1/(1-rate); the identity at inference.  ``noise_shape`` shares the mask along axes of
    size 1."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(f"{type(self).__name__} '{self.name}': rate must be in [0, 1], "
                             f"got {rate}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._gen = _generator(seed)
        self.supports_masking = True

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        if self.rate >= 1:
            return inputs * 0.0
        if self.noise_shape is None:
            return _dropout(inputs, self.rate, True, self._gen)
        shp = tuple(s if n is None else n for s, n in zip(inputs.shape, self.noise_shape))
        return inputs * _scaled_keep_mask(shp, self.rate, inputs, self._gen)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"rate": self.rate, "seed": self.seed,
                    "noise_shape": None if self.noise_shape is None else list(self.noise_shape)})
        return cfg


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1*d2*...)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format is None:     # Keras: the global image data format
            from ..keras_backend import image_data_format
            data_format = image_data_format()
        self.data_format = data_format
        self.input_spec = InputSpec(min_ndim=1)

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = _S.transpose(inputs, (0,) + tuple(range(2, inputs.ndim)) + (1,))
        return _S.reshape(inputs, (inputs.shape[0], -1))

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        n = None if any(d is None for d in rest) else int(np.prod(rest)) if rest else 1
        return (input_shape[0], n)

    def get_config(self):
        cfg = super().get_config()
        cfg["data_format"] = self.data_format
        return cfg


class Reshape(Layer):
    """(batch, ...) -> (batch,) + target_shape (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in self.target_shape) > 1:
            raise ValueError(f"Reshape '{self.name}': at most one -1 in target_shape "
                             f"{self.target_shape}")

    def _resolve(self, input_shape):
        rest = input_shape[1:]
        if any(d is None for d in rest):
            return tuple(None if d == -1 else d for d in self.target_shape)
        n = int(np.prod(rest)) if rest else 1
        known = int(np.prod([d for d in self.target_shape if d != -1]))
        if -1 in self.target_shape:
            if known == 0 or n % known:
                raise ValueError(f"Reshape '{self.name}': cannot reshape input of shape "
                                 f"{tuple(input_shape)} to target shape {self.target_shape}")
            return tuple(n // known if d == -1 else d for d in self.target_shape)
        if known != n:
            raise ValueError(f"Reshape '{self.name}': the input of shape {tuple(input_shape)} has "
                             f"{n} values per sample, target shape {self.target_shape} holds "
                             f"{known}")
        return self.target_shape

    def build(self, input_shape):
        self._resolve(tuple(input_shape))
        self.built = True

    def call(self, inputs):
        tgt = self._resolve(inputs.shape)
        return _S.reshape(inputs, (inputs.shape[0],) + tgt)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolve(tuple(input_shape))

    def get_config(self):
        cfg = super().get_config()
        cfg["target_shape"] = list(self.target_shape)
        return cfg


class Permute(Layer):
    """Permutes the non-batch axes: ``dims`` are 1-based, e.g. (2, 1) swaps axes 1 and 2."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Permute '{self.name}': dims must be a permutation of "
                             f"1..{len(self.dims)}, got {self.dims}")
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)

    def call(self, inputs):
        return _S.transpose(inputs, (0,) + self.dims)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        cfg = super().get_config()
        cfg["dims"] = list(self.dims)
        return cfg


class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features)."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = int(n)
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs):
        x = _S.expand_dims(inputs, 1)
        return _S.broadcast_to(x, (inputs.shape[0], self.n, inputs.shape[1]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        cfg = super().get_config()
        cfg["n"] = self.n
        return cfg


class Identity(Layer):
    """Returns its input unchanged (passes masks on)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


class Lambda(Layer):
    """Wraps a function ``function(inputs, **arguments)`` as a layer.  Its config holds
    the function's name only: loading resolves it through ``custom_objects`` or the
    registry (code is never deserialized)."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(function, (str, dict)):
            function = _resolve_function(function)
        if not callable(function):
            raise TypeError(f"Lambda '{self.name}': function must be callable, got "
                            f"{type(function).__name__}")
        self.function = function
        self._output_shape = output_shape
        self.mask = mask
        self.arguments = dict(arguments or {})
        self.supports_masking = mask is not None

    def call(self, inputs):
        return self.function(inputs, **self.arguments)

    def compute_mask(self, inputs, previous_mask=None):
        if callable(self.mask):
            return self.mask(inputs, previous_mask)
        return self.mask

    def get_config(self):
        cfg = super().get_config()
        name = getattr(self.function, "__name__", None)
        if name is None or name == "<lambda>":
            from ..serialization import get_registered_name
            name = get_registered_name(self.function)
        if name == "<lambda>":
            raise ValueError(f"Lambda '{self.name}': a lambda expression cannot be saved (lamina "
                             "never stores code); use a named function and pass it in "
                             "custom_objects when loading")
        from ..serialization import get_registered_name
        cfg.update({"function": {"class_name": "function", "config": get_registered_name(
            self.function) if get_registered_name(self.function) != name else name},
                    "output_shape": self._output_shape if not callable(self._output_shape)
                    else None, "arguments": self.arguments})
        return cfg


def _resolve_function(spec):
    from ..serialization import get_registered_object
    name = spec["config"] if isinstance(spec, dict) else spec
    fn = get_registered_object(name)
    if fn is None:
        from .. import activations
        try:
            fn = activations.get(name)
        except (ValueError, TypeError):
            fn = None
    if fn is None:
        raise ValueError(f"Lambda: unknown function '{name}': pass it in custom_objects="
                         f"{{'{name}': {name}}} or register it with @register_serializable()")
    return fn


class Masking(Layer):
    """Masks timesteps whose features all equal ``mask_value``: zeroes them and attaches
    a (batch, time) boolean mask for downstream layers."""

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)
        self.supports_masking = True

    def compute_mask(self, inputs, previous_mask=None):
        d = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        return _wrap((d != self.mask_value).any(axis=-1))

    def call(self, inputs):
        keep = (inputs.data != self.mask_value).any(axis=-1, keepdims=True)
        return inputs * _wrap(keep.astype(inputs.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        cfg = super().get_config()
        cfg["mask_value"] = self.mask_value
        return cfg


class Embedding(Layer):
    """Integer ids (batch, ...) -> vectors (batch, ..., output_dim) from a table
    (input_dim, output_dim).  ``mask_zero=True`` masks id 0 for later layers."""

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 weights=None, lora_rank=None, input_length=None, activity_regularizer=None,
                 **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        if self.input_dim <= 0 or self.output_dim <= 0:
            raise ValueError(f"Embedding '{self.name}': input_dim and output_dim must be "
                             f"positive, got {input_dim} and {output_dim}")
        _weight_args(self, "embeddings", embeddings_initializer, embeddings_regularizer,
                     embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.input_length = input_length
        if weights is not None:
            self.build(None)
            if isinstance(weights, np.ndarray) or isinstance(weights, Tensor):
                weights = [weights]
            self.set_weights(weights)

    def build(self, input_shape=None):
        if self.built:
            return
        self.embeddings = _add_weight_of(self, "embeddings", (self.input_dim, self.output_dim))
        self.built = True

    def call(self, inputs):
        return _embedding(inputs, self.embeddings)

    def compute_mask(self, inputs, previous_mask=None):
        if not self.mask_zero:
            return None
        d = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        return _wrap(d != 0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"input_dim": self.input_dim, "output_dim": self.output_dim})
        cfg.update(_weight_config(self, ("embeddings",)))
        cfg.update({"mask_zero": self.mask_zero,
                    "activity_regularizer": _ser("regularizers", self.activity_regularizer)})
        return cfg


# ----------------------------------------------------- op layers for symbolic arithmetic
class _SymbolicFn(Layer):
    """Any lamina function applied to symbolic tensors (``keras.ops.mean(x, axis=1)`` in a
    functional model): ``inputs`` is ``[args, kwargs]``.  Saved by the function's name,
    looked up at load time in lamina's op table, the registry or ``custom_objects``."""

    _convert_inputs = False

    def __init__(self, function, **kwargs):
        super().__init__(**kwargs)
        if isinstance(function, (str, dict)):
            function = _resolve_op(function)
        self.function = function

    def call(self, inputs):
        args, kw = inputs
        return self.function(*args, **kw)

    def get_config(self):
        cfg = super().get_config()
        from ..serialization import get_registered_name
        cfg["function"] = get_registered_name(self.function)
        return cfg


def _resolve_op(name):
    from ...ops import OPS
    if isinstance(name, str) and name in OPS:
        return OPS[name]
    return _resolve_function(name)


def symbolic_call(fn, args, kwargs=None):
    """``fn(*args, **kwargs)`` recorded as a graph node when an argument is a symbolic
    tensor (from ``Input``), so op functions can be used while building a functional model."""
    from .base import unique_name
    name = getattr(fn, "__name__", "op")
    return _SymbolicFn(fn, name=unique_name(name))([list(args), dict(kwargs or {})])


def symbolic_aware(fn):
    """Decorator: ``fn`` records a graph node when called on symbolic tensors, and runs
    unchanged otherwise (one cheap check on the arguments)."""
    import functools
    from .symbolic import any_symbolic

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if any_symbolic(args) or (kwargs and any_symbolic(kwargs)):
            return symbolic_call(fn, args, kwargs)
        return fn(*args, **kwargs)
    return wrapper


_OPS = {"add": _E.add, "subtract": _E.subtract, "multiply": _E.multiply,
        "divide": _E.divide, "power": _E.power}


class _SymbolicOp(Layer):
    """``a <op> b`` recorded in a functional graph (from KerasTensor arithmetic)."""

    def __init__(self, op, **kwargs):
        super().__init__(**kwargs)
        self.op = op

    def call(self, inputs):
        a, b = inputs
        if self.op == "matmul":
            from ...ops.linalg import matmul
            return matmul(a, b)
        return _OPS[self.op](a, b)

    def get_config(self):
        cfg = super().get_config()
        cfg["op"] = self.op
        return cfg


class _SymbolicGetItem(Layer):
    """``x[index]`` recorded in a functional graph (index of ints, slices, None, ...)."""

    def __init__(self, index, **kwargs):
        super().__init__(**kwargs)
        self.index = index

    def call(self, inputs):
        return inputs[self.index]

    def get_config(self):
        cfg = super().get_config()

        def enc(i):
            if isinstance(i, slice):
                return {"slice": [i.start, i.stop, i.step]}
            if i is None:
                return {"newaxis": True}
            if i is Ellipsis:
                return {"ellipsis": True}
            return i
        idx = self.index if isinstance(self.index, tuple) else (self.index,)
        cfg["index"] = [enc(i) for i in idx]
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)

        def dec(i):
            if isinstance(i, dict):
                if "slice" in i:
                    return slice(*i["slice"])
                if "newaxis" in i:
                    return None
                return Ellipsis
            return i
        config["index"] = tuple(dec(i) for i in config["index"])
        return cls(**config)


__all__ = ["Dense", "Activation", "Dropout", "Flatten", "Reshape", "Permute", "RepeatVector",
           "Identity", "Lambda", "Masking", "Embedding"]
