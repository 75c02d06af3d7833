"""Any Keras object <-> a JSON-able config: ``serialize_keras_object`` and
``deserialize_keras_object``, as in ``keras.saving`` / ``keras.utils``.

Each kind of object goes to its own module's ``serialize``/``deserialize`` (layers and
models to :mod:`.serialization`, optimizers, losses, metrics, initializers, regularizers,
constraints, schedules and activations to theirs), so the dicts are those Keras 3 writes
(``module``, ``class_name``, ``config``, ``registered_name``).  Plain values pass through;
NumPy arrays, tensors and bytes use Keras's ``__numpy__`` / ``__tensor__`` / ``__bytes__``
records.  Nothing named by a config is imported, and lambdas are never loaded.
"""
from __future__ import annotations

import inspect
import types

import numpy as np

__all__ = ["serialize_keras_object", "deserialize_keras_object"]

_PLAIN = (str, int, float, bool)


def _kinds():
    """(base class, module) pairs, most specific first; imported late (import cycles)."""
    from . import (constraints, initializers, losses, metrics, optimizers, regularizers,
                   schedules)
    return ((optimizers.Optimizer, optimizers), (losses.Loss, losses),
            (metrics.Metric, metrics), (initializers.Initializer, initializers),
            (regularizers.Regularizer, regularizers), (constraints.Constraint, constraints),
            (schedules.LearningRateSchedule, schedules))


def _modules_by_name():
    from . import (activations, constraints, initializers, losses, metrics, optimizers,
                   regularizers, schedules)
    return {"keras.optimizers": optimizers, "keras.losses": losses, "keras.metrics": metrics,
            "keras.initializers": initializers, "keras.regularizers": regularizers,
            "keras.constraints": constraints, "keras.optimizers.schedules": schedules,
            "keras.activations": activations}


_LAYER_MODULES = ("keras", "keras.layers", "keras.models", "keras.src.models.functional",
                  "lamina.nn.layers")


def _kind_of_private_module(module):
    """The public module a Keras-internal module name belongs to (Keras's torch backend
    writes e.g. 'keras.src.backend.torch.optimizers.torch_adam' for Adam); only the name
    is read, nothing is imported."""
    if not isinstance(module, str) or not module.startswith("keras."):
        return None
    parts = module.split(".")
    for word, kind in (("schedules", "keras.optimizers.schedules"),
                       ("optimizers", "keras.optimizers"), ("losses", "keras.losses"),
                       ("metrics", "keras.metrics"), ("initializers", "keras.initializers"),
                       ("regularizers", "keras.regularizers"),
                       ("constraints", "keras.constraints"),
                       ("activations", "keras.activations"), ("layers", "layers"),
                       ("models", "layers")):
        if word in parts:
            return kind
    return None


def serialize_keras_object(obj):
    """A JSON-able config for ``obj``: a layer/model, optimizer, loss, metric,
    initializer, regularizer, constraint, schedule, function, NumPy array, tensor, any
    object with ``get_config``, or nested lists/tuples/dicts of these; None, str, int,
    float and bool are returned as they are."""
    from ..tensor import Tensor
    from .layers.base import Layer
    from .serialization import _jsonable, get_registered_name, serialize_layer
    if obj is None or isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.dtype):
        return obj.name
    if isinstance(obj, np.ndarray):
        return {"class_name": "__numpy__",
                "config": {"value": obj.tolist(), "dtype": obj.dtype.name}}
    if isinstance(obj, Tensor):
        a = obj.numpy()
        return {"class_name": "__tensor__", "config": {"value": a.tolist(),
                                                         "dtype": a.dtype.name}}
    if isinstance(obj, (list, tuple)):
        return type(obj)(serialize_keras_object(v) for v in obj)
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, Layer):
        return serialize_layer(obj)
    for base, module in _kinds():
        if isinstance(obj, base):
            return module.serialize(obj)
    if isinstance(obj, types.LambdaType) and obj.__name__ == "<lambda>":
        raise ValueError("serialize_keras_object: lambdas cannot be serialized by lamina (a "
                         "config never holds code); use a named, registered function")
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)):
        from ._registry import function_name
        # the record Keras 3 (torch backend) writes for a function
        return {"module": "builtins", "class_name": "function",
                "config": function_name(obj), "registered_name": "function"}
    if hasattr(obj, "get_config"):
        cls = type(obj)
        return {"module": None, "class_name": cls.__name__,
                "config": _jsonable(obj.get_config()),
                "registered_name": get_registered_name(cls)}
    raise TypeError(f"serialize_keras_object: cannot serialize {type(obj).__name__} "
                    f"{obj!r}: it has no get_config")


def _function(name, module, custom_objects):
    from ._registry import registered_object
    found = registered_object(name, custom_objects)
    if found is not None:
        return found
    from . import activations, losses, metrics
    tables = {"keras.losses": (losses,), "keras.metrics": (metrics,),
              "keras.activations": (activations,)}.get(module, (activations, losses, metrics))
    for mod in tables:
        fn = getattr(mod, name, None) if isinstance(name, str) else None
        if isinstance(fn, types.FunctionType) and not name.startswith("_"):
            return fn
    raise ValueError(f"deserialize_keras_object: unknown function {name!r}: register it with "
                     f"@register_keras_serializable() or pass custom_objects={{{name!r}: fn}}")


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """The object described by ``config`` (what :func:`serialize_keras_object` gives, or
    Keras 3 writes).  Names are looked up in ``custom_objects``, an active
    ``custom_object_scope`` and the ``register_keras_serializable`` registry, then among
    lamina's built-ins; plain values and dicts without ``class_name`` come back as they are
    (their values deserialized).  ``safe_mode`` is accepted for Keras compatibility:
    lamina never loads lambdas, whatever its value."""
    from .serialization import deserialize_layer, get_registered_object
    if config is None:
        return None
    if isinstance(config, str):
        found = get_registered_object(config, custom_objects) if custom_objects else None
        return config if found is None else found
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(v, custom_objects, safe_mode) for v in config]
    if isinstance(config, _PLAIN):
        return config
    if not isinstance(config, dict):
        raise TypeError(f"deserialize_keras_object: cannot parse a config of type "
                        f"{type(config).__name__}: {config!r}")
    if "class_name" not in config or "config" not in config:
        return {k: deserialize_keras_object(v, custom_objects, safe_mode)
                for k, v in config.items()}
    name = config["class_name"]
    inner = config["config"] if config["config"] is not None else {}
    module = config.get("module")
    if name == "__numpy__":
        return np.array(inner["value"], dtype=inner["dtype"])
    if name == "__tensor__":
        from ..creation import tensor
        return tensor(np.array(inner["value"], dtype=inner["dtype"]))
    if name == "__bytes__":
        return inner["value"].encode("utf-8")
    if name == "__lambda__":
        raise ValueError("deserialize_keras_object: the config holds a Python lambda; lamina "
                         "never loads code from a config (rewrite it as a registered "
                         "function)")
    if name == "function":
        fname = inner if isinstance(inner, str) else config.get("registered_name")
        return _function(fname, module, custom_objects)
    if module in _LAYER_MODULES:
        return deserialize_layer(config, custom_objects)
    table = _modules_by_name()
    if module in table:
        return table[module].deserialize(config, custom_objects)
    kind = _kind_of_private_module(module)
    if kind == "layers":
        return deserialize_layer(config, custom_objects)
    if kind is not None:
        return table[kind].deserialize(config, custom_objects)
    cls = None
    for n in (config.get("registered_name"), name):
        if n:
            cls = get_registered_object(n, custom_objects)
            if cls is not None:
                break
    if cls is None:
        raise ValueError(f"deserialize_keras_object: unknown class {name!r} (module "
                         f"{module!r}): register it with @register_keras_serializable() or "
                         f"pass custom_objects={{{name!r}: {name}}}")
    from .layers.base import Layer
    if inspect.isclass(cls) and issubclass(cls, Layer):
        return deserialize_layer(config, custom_objects)
    if hasattr(cls, "from_config"):
        return cls.from_config(inner)
    return cls(**inner)
