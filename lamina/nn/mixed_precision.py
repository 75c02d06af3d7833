"""Mixed precision as in Keras 3 (``keras.mixed_precision``): dtype policies, the global
policy, and the autocast that ``Layer.__call__`` runs for layers under a mixed policy.

A policy names two dtypes: ``variable_dtype`` (the weights) and ``compute_dtype`` (the
layer's arithmetic).  Under ``"mixed_float16"`` weights stay float32 (the master copy the
optimizer updates) while a layer's ``call`` sees its floating inputs and its own trainable
float weights cast to float16.  The weight casts are recorded ops, so the gradient of
each weight flows back through the cast and arrives in float32.

Layers created while a mixed global policy is set take it; ``Layer(dtype=...)`` overrides
it (``Dense(10, dtype="float32")`` for a numerically sensitive output layer).  Losses
compute half-precision predictions in float32; ``LossScaleOptimizer`` (defined in
:mod:`.optimizers`, re-exported here) keeps float16 gradients from underflowing, and
``Model.compile`` wraps the optimizer in one under ``"mixed_float16"``.

"mixed_bfloat16" needs a bfloat16 array dtype, which NumPy lacks; the optional
``ml_dtypes`` package provides one (nothing is installed for it).
"""
from __future__ import annotations

import numpy as np

from ..backend import default_dtype as _floatx
from ..ops.elementwise import cast as _cast
from ..tensor import Tensor
from .optimizers import LossScaleOptimizer
from .variable import Variable

__all__ = ["DTypePolicy", "Policy", "FloatDTypePolicy", "set_global_policy",
           "global_policy", "set_dtype_policy", "dtype_policy", "LossScaleOptimizer",
           "get", "serialize", "deserialize"]

# mixed policy name -> compute dtype (the variables are float32)
_MIXED = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}


def _bfloat16(who):
    """NumPy's bfloat16 dtype from ml_dtypes; ValueError naming what is missing."""
    try:
        import ml_dtypes
    except ImportError:
        raise ValueError(f"{who}: bfloat16 needs the optional package 'ml_dtypes' (NumPy has "
                         "no bfloat16 dtype); install ml_dtypes or use 'mixed_float16'"
                         ) from None
    return np.dtype(ml_dtypes.bfloat16)


def np_dtype(name, who="DTypePolicy"):
    """The NumPy dtype of a dtype name ('float16', 'bfloat16', 'int32', ...)."""
    if name == "bfloat16":
        return _bfloat16(who)
    return np.dtype(name)


class DTypePolicy:
    """A dtype policy: ``DTypePolicy("mixed_float16")`` computes in float16 with float32
    variables; a plain dtype name ("float32", "float16", "float64", "int32", ...) uses that
    dtype for both.  ``None`` is the default float dtype (``keras.config.floatx()``)."""

    __slots__ = ("_name", "_compute_dtype", "_variable_dtype")

    def __init__(self, name=None):
        if name is None:
            name = _floatx().name
        if not isinstance(name, str):
            raise TypeError(f"DTypePolicy: `name` must be a string such as 'mixed_float16' or "
                            f"'float32', got {name!r} (of type {type(name).__name__})")
        if name in _MIXED:
            compute, variable = _MIXED[name], "float32"
        else:
            try:
                dt = np_dtype(name, f"DTypePolicy({name!r})")
            except TypeError:
                raise ValueError(f"DTypePolicy: cannot interpret {name!r} as a policy name; "
                                 "expected 'float32', 'float16', 'float64', 'mixed_float16', "
                                 "'mixed_bfloat16' or another dtype name") from None
            compute = variable = "bfloat16" if name == "bfloat16" else dt.name
        if compute == "bfloat16":
            _bfloat16(f"DTypePolicy({name!r})")
        self._name = name
        self._compute_dtype = compute
        self._variable_dtype = variable

    @property
    def name(self):
        """The policy's name, e.g. 'mixed_float16'."""
        return self._name

    @property
    def compute_dtype(self):
        """dtype of the layers' computations (e.g. 'float16')."""
        return self._compute_dtype

    @property
    def variable_dtype(self):
        """dtype of the layers' weights (e.g. 'float32')."""
        return self._variable_dtype

    @property
    def quantization_mode(self):
        """Always None: lamina has no quantized policies."""
        return None

    @property
    def is_mixed(self):
        """Whether compute and variable dtypes differ (lamina's own helper)."""
        return self._compute_dtype != self._variable_dtype

    def convert_input(self, x, autocast, dtype):
        """``x`` cast to ``dtype`` when it is a floating Tensor and ``autocast`` is on."""
        if autocast and isinstance(x, Tensor) and x.dtype.kind == "f" and \
                x.dtype != np_dtype(dtype):
            return _cast(x, np_dtype(dtype))
        return x

    def get_config(self):
        return {"name": self._name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, DTypePolicy) and other._name == self._name

    def __hash__(self):
        return hash(("DTypePolicy", self._name))

    def __repr__(self):
        return f'<DTypePolicy "{self._name}">'


Policy = DTypePolicy
FloatDTypePolicy = DTypePolicy

# the policy set with set_global_policy (None: the default, floatx())
_GLOBAL = None
# set once any mixed policy has been used: layers created after that cast half-precision
# inputs up to their own compute dtype (a float32 output layer after float16 layers);
# until then no layer pays for the check
_SEEN_MIXED = False


def get(identifier):
    """A DTypePolicy from a name, a config dict or a policy (None: the global policy)."""
    if identifier is None:
        return global_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        return DTypePolicy(**identifier.get("config", identifier))
    if isinstance(identifier, str):
        return DTypePolicy(identifier)
    name = getattr(identifier, "name", None)        # a NumPy dtype or scalar type
    if name is None and isinstance(identifier, type):
        name = np.dtype(identifier).name
    if isinstance(name, str):
        return DTypePolicy(name)
    raise ValueError(f"Cannot interpret dtype policy {identifier!r} (of type "
                     f"{type(identifier).__name__}); expected a name such as 'mixed_float16' "
                     "or a DTypePolicy")


def serialize(policy):
    """Keras's config dict of a policy."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": policy.get_config(),
            "registered_name": None}


def deserialize(config, custom_objects=None):
    """A DTypePolicy from :func:`serialize`'s dict."""
    return get(config)


def set_global_policy(policy):
    """Set the policy that layers created from now on take when no ``dtype`` is given:
    a name ('mixed_float16', 'float32', ...) or a DTypePolicy."""
    global _GLOBAL, _SEEN_MIXED
    if not isinstance(policy, DTypePolicy):
        if not isinstance(policy, str):
            raise ValueError("Invalid `policy` argument. Expected the string name of a policy "
                             "(such as 'mixed_float16') or a `DTypePolicy` instance. Received: "
                             f"policy={policy!r} (of type {type(policy).__name__})")
        policy = DTypePolicy(policy)
    if policy.is_mixed:
        _SEEN_MIXED = True
    _GLOBAL = policy


def global_policy():
    """The global policy (``DTypePolicy(floatx())`` when none was set)."""
    return _GLOBAL if _GLOBAL is not None else DTypePolicy()


set_dtype_policy = set_global_policy
dtype_policy = global_policy


def _reset():
    """Back to the default global policy (for tests)."""
    global _GLOBAL
    _GLOBAL = None


# ------------------------------------------------------------------ layers
def layer_policy(dtype):
    """(policy or None, variable np.dtype, compute np.dtype, autocast) for a layer's
    ``dtype`` argument.  ``policy`` None means a plain dtype (the common case)."""
    global _SEEN_MIXED
    if dtype is None:
        pol = _GLOBAL
        if pol is None:
            return None, np.dtype("float32"), None, _SEEN_MIXED
    elif isinstance(dtype, DTypePolicy):
        pol = dtype
    elif isinstance(dtype, str) and (dtype in _MIXED or dtype == "bfloat16"):
        pol = DTypePolicy(dtype)
    else:
        return None, np.dtype(dtype), None, _SEEN_MIXED
    vdt = np_dtype(pol.variable_dtype)
    if not pol.is_mixed:
        return pol, vdt, None, _SEEN_MIXED
    _SEEN_MIXED = True
    return pol, vdt, np_dtype(pol.compute_dtype), True


def _cast_input(x, cdt, mixed):
    """A floating Tensor cast to ``cdt``: any float dtype for a mixed layer, only half
    precision (up) for a plain layer, so plain layers keep lamina's behaviour otherwise."""
    t = type(x)
    if t is Tensor or isinstance(x, Tensor):
        dt = x.data.dtype
        if dt != cdt and dt.kind in "fV" and (mixed or dt.itemsize < 4):
            return _cast(x, cdt)
        return x
    if t is list or t is tuple:
        return t(_cast_input(v, cdt, mixed) for v in x)
    if t is dict:
        return {k: _cast_input(v, cdt, mixed) for k, v in x.items()}
    return x


def _autocast_names(layer):
    """Names of ``layer``'s attributes holding its trainable float weights (a Variable, or
    a list/tuple of them): what ``call`` sees in the compute dtype.  Non-trainable weights
    (moving statistics, counters) are assigned to in ``call`` and stay Variables."""
    from .layers.base import _Ctx
    d = layer.__dict__
    c = d.get("_autocast_cache")
    if c is not None and c[0] == _Ctx.version:
        return c[1]
    vdt = layer._dtype
    trainable = {id(v) for v in layer._own_trainable}
    registered = trainable | {id(v) for v in layer._own_non_trainable}

    def castable(v):
        return (isinstance(v, Variable) and v.data.dtype == vdt and v.autocast and
                (id(v) in trainable or (id(v) not in registered and v._trainable)))
    names = []
    no_track = layer._NO_TRACK
    for k, v in d.items():
        if k in no_track or k.startswith("_autocast"):
            continue
        if castable(v) or (type(v) in (list, tuple) or type(v).__name__ == "TrackedList") \
                and v and all(castable(x) for x in v):
            names.append(k)
    d["_autocast_cache"] = (_Ctx.version, names)
    return names


def autocast_call(layer, args, kwargs):
    """``layer.call(*args, **kwargs)`` with floating inputs in the layer's compute dtype
    and, under a mixed policy, its trainable float weights cast (recorded) to it too."""
    cdt = layer._compute_dt
    mixed = cdt is not None
    if not mixed:                   # a plain layer: half-precision inputs come up
        if len(args) == 1 and type(args[0]) is Tensor and args[0].data.dtype.itemsize >= 4 \
                and (not kwargs or (len(kwargs) == 1 and "training" in kwargs)):
            return layer.call(*args, **kwargs)      # the usual case: nothing to cast
        cdt = layer._dtype
    if cdt.kind in "fV":
        args = tuple(_cast_input(a, cdt, mixed) for a in args)
        if kwargs:
            kwargs = {k: (v if k in ("training", "mask") else _cast_input(v, cdt, mixed))
                      for k, v in kwargs.items()}
    if not mixed:
        return layer.call(*args, **kwargs)
    d = layer.__dict__
    saved = []
    try:
        for k in _autocast_names(layer):
            v = d[k]
            saved.append((k, v))
            # the same name now holds the cast weight; __dict__ directly, so no tracking
            # version bump invalidates cached weight lists
            d[k] = _cast(v, cdt) if isinstance(v, Variable) else [_cast(x, cdt) for x in v]
        return layer.call(*args, **kwargs)
    finally:
        for k, v in saved:
            d[k] = v
