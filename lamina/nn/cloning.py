"""``clone_model``, ``model_to_json`` and ``model_from_json`` as in Keras 3.

Cloning rebuilds a Sequential or functional model from fresh layers (each layer's
``from_config(get_config())`` by default, so new weights) on new inputs; a subclassed
model is rebuilt from its own config.  JSON is Keras's serialized form of the model
(``module``/``class_name``/``config``, plus build and compile configs), readable by Keras.
"""
from __future__ import annotations

import inspect
import json

from .layers.symbolic import KerasTensor, flatten, map_structure

__all__ = ["clone_model", "model_to_json", "model_from_json"]


def _default_clone(layer):
    return layer.__class__.from_config(layer.get_config())


def _cloner(clone_function, call_function, recursive, cache):
    """``clone_function`` made to clone each layer once (shared layers stay shared) and,
    with ``recursive``, to clone nested Sequential/functional models layer by layer."""
    from .model import Sequential
    fn = clone_function if clone_function is not None else _default_clone
    if not callable(fn):
        raise ValueError(f"clone_model: `clone_function` must be a callable, got {fn!r}")

    def clone(layer):
        key = id(layer)
        if key not in cache:
            if recursive and isinstance(layer, Sequential):
                cache[key] = clone_model(layer, clone_function=fn, recursive=True, cache=cache)
            elif recursive and _is_functional(layer):
                cache[key] = clone_model(layer, clone_function=fn, call_function=call_function,
                                         recursive=True, cache=cache)
            else:
                cache[key] = fn(layer)
        return cache[key]
    return clone


def _is_functional(model):
    return "_plan" in getattr(model, "__dict__", {})


def _recompile(source, clone):
    if getattr(source, "compiled", False):
        clone.compile_from_config(source.get_compile_config())
    return clone


def _clone_sequential(model, clone, input_tensors):
    from .model import Input, Sequential
    layers = [clone(layer) for layer in model.layers]
    ref = model._input_layer
    if input_tensors is not None:
        if isinstance(input_tensors, (list, tuple)):
            if len(input_tensors) != 1:
                raise ValueError("clone_model: `input_tensors` must hold a single tensor for a "
                                 f"Sequential model, got {len(input_tensors)}")
            input_tensors = input_tensors[0]
        if not isinstance(input_tensors, KerasTensor):
            raise ValueError("clone_model: `input_tensors` must be a KerasTensor (from "
                             f"keras.Input), got {type(input_tensors).__name__}")
        layers.insert(0, Input(tensor=input_tensors, name=ref.name if ref else None,
                               optional=ref.optional if ref else False))
    elif ref is not None:
        layers.insert(0, Input(batch_shape=ref.batch_shape, dtype=ref.dtype, name=ref.name,
                               optional=ref.optional))
    return _recompile(model, Sequential(layers, name=model.name, trainable=model.trainable))


def _functional_like(cls):
    """True when ``cls(inputs, outputs, name=...)`` builds it (as Keras checks)."""
    from .model import Functional
    try:
        spec = inspect.getfullargspec(cls.__init__)
    except TypeError:
        return False
    return spec.args[1:] == inspect.getfullargspec(Functional.__init__).args[1:] or (
        spec.varargs is not None and spec.varkw is not None)


def _clone_functional(model, clone, input_tensors, call_function):
    from .model import Input, Functional, InputLayer
    if input_tensors is not None:
        if not all(isinstance(t, KerasTensor) for t in flatten(input_tensors)):
            raise ValueError("clone_model: every entry of `input_tensors` must be a KerasTensor "
                             f"(from keras.Input), got {input_tensors!r}")
        new_in = input_tensors
        if type(model._inputs_struct) is dict and type(new_in) is not dict or \
                len(flatten(new_in)) != len(model._flat_inputs):
            raise ValueError("clone_model: `input_tensors` must have the same structure as "
                             f"model.input ({model._inputs_struct}), got {input_tensors}")
    else:
        new_in = map_structure(lambda t: Input(batch_shape=t.shape, dtype=_kt_dtype(t),
                                               name=t.name), model._inputs_struct)
    seen = {id(old): new for old, new in zip(model._flat_inputs, flatten(new_in))}

    def swap(v):
        return seen[id(v)] if type(v) is KerasTensor else v
    for node in model._nodes:
        if isinstance(node.layer, InputLayer):
            continue
        layer = clone(node.layer)
        args, kwargs = map_structure(swap, node.args), map_structure(swap, node.kwargs)
        out = call_function(layer, *args, **kwargs) if call_function is not None else \
            layer(*args, **kwargs)
        for old, new in zip(flatten(node.outputs), flatten(out)):
            seen[id(old)] = new
    new_out = map_structure(lambda t: seen[id(t)], model._outputs_struct)
    cls = type(model)
    maker = cls if cls is not Functional and _functional_like(cls) else Functional
    return _recompile(model, maker(new_in, new_out, name=model.name))


def _kt_dtype(t):
    return "string" if t.dtype == object else t.dtype.name


def clone_model(model, input_tensors=None, clone_function=None, call_function=None,
                recursive=False, **kwargs):
    """A copy of ``model`` with new layers (and so new weights), as Keras's
    ``clone_model``: Sequential and functional models are rebuilt layer by layer
    (``clone_function(layer)``, default ``layer.__class__.from_config(layer.get_config())``;
    ``call_function(layer, *args, **kwargs)`` calls each functional layer; ``recursive``
    clones nested models the same way); a subclassed model is rebuilt from its config.
    A compiled model's clone is compiled with the same configuration."""
    from .model import Sequential
    cache = kwargs.pop("cache", None)
    if kwargs:
        raise ValueError(f"clone_model: unexpected keyword argument(s) {tuple(kwargs)}")
    cache = {} if cache is None else cache
    if isinstance(model, Sequential):
        if call_function is not None:
            raise ValueError("clone_model: `call_function` is not supported with Sequential "
                             "models (their layers are listed, not called, at construction); "
                             f"use it with functional models. Received model '{model.name}'")
        return _clone_sequential(model, _cloner(clone_function, None, recursive, cache),
                                 input_tensors)
    if _is_functional(model):
        return _clone_functional(model, _cloner(clone_function, call_function, recursive, cache),
                                 input_tensors, call_function)
    from .layers.base import Layer
    if not isinstance(model, Layer):
        raise ValueError(f"clone_model: expected a keras Model, got {type(model).__name__}")
    if clone_function is not None or input_tensors is not None:
        raise ValueError("clone_model: `clone_function` and `input_tensors` are only supported "
                         f"for Sequential and functional models; '{model.name}' is a "
                         f"subclassed {type(model).__name__}")
    if call_function is not None:
        raise ValueError("clone_model: `call_function` is only supported for functional "
                         f"models; '{model.name}' is a {type(model).__name__}")
    from .serialization import serialize_layer, deserialize_layer
    cls = type(model)
    try:
        return deserialize_layer(serialize_layer(model), custom_objects={cls.__name__: cls})
    except TypeError as e:
        raise TypeError(f"clone_model: the subclassed model '{model.name}' ({cls.__name__}) "
                        f"could not be rebuilt from its config ({e}); give {cls.__name__} a "
                        "get_config() returning its constructor arguments (and from_config() "
                        "if they are not plain values)") from e


def model_config(model):
    """Keras's serialized form of ``model``: the layer config plus ``build_config`` and
    ``compile_config`` (``{}`` before ``compile``, as Keras writes)."""
    from .serialization import serialize_layer, _jsonable
    config = serialize_layer(model)
    if "build_config" not in config and getattr(model, "get_build_config", None):
        bc = model.get_build_config()
        if bc is not None:
            config["build_config"] = _jsonable(bc)
    get_cc = getattr(model, "get_compile_config", None)
    cc = get_cc() if get_cc is not None else None
    if cc is not None:
        config["compile_config"] = _jsonable(cc)
    return config


def model_to_json(model, **kwargs):
    """``model.to_json()``: the model's architecture as a JSON string (``kwargs`` go to
    ``json.dumps``)."""
    from ..io import _json_default
    return json.dumps(model_config(model), default=_json_default, **kwargs)


def model_from_json(json_string, custom_objects=None):
    """A new model (fresh weights) from ``model.to_json()``'s string, Keras's or lamina's;
    compiled again when the JSON holds a compile config.  Never runs code from the text:
    classes come from ``custom_objects`` and the registry."""
    from .serialization import deserialize_model
    try:
        config = json.loads(json_string)
    except (TypeError, ValueError) as e:
        raise ValueError(f"model_from_json: not a JSON model description ({e})") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("model_from_json: expected a JSON object with 'class_name' and "
                         "'config' (the output of model.to_json())")
    model, compile_cfg = deserialize_model(config, custom_objects)
    if compile_cfg and hasattr(model, "compile_from_config"):
        model.compile_from_config(compile_cfg, custom_objects=custom_objects)
    return model
