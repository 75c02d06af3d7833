"""Layer and model (de)serialization: a registry of classes by name, JSON-able configs.

``serialize_layer(layer)`` gives ``{"module", "class_name", "config", "registered_name",
"build_config"}``; functional models add their graph (each layer's ``inbound_nodes``
and the ``input_layers``/``output_layers``).  ``deserialize_layer`` looks classes up in
``custom_objects``, then the registry; it never imports modules or runs code named by
the file.
"""
from __future__ import annotations

import numpy as np

from .layers.symbolic import KerasTensor, flatten, map_structure

_REGISTRY: dict = {}
_CUSTOM_STACK: list = []
# keras.utils.get_custom_objects(): registered classes plus whatever the user adds by hand
_GLOBAL_CUSTOM: dict = {}


def register_class(cls, name=None):
    """Add ``cls`` to the registry under ``name`` (default: its class name)."""
    _REGISTRY[name or cls.__name__] = cls
    return cls


def register_serializable(package="Custom", name=None):
    """Class decorator: make a custom layer/model/object loadable by name
    (``package>name``, and the bare class name), like
    ``keras.saving.register_keras_serializable``."""
    def deco(cls):
        n = name or cls.__name__
        key = f"{package}>{n}"
        _REGISTRY[key] = cls
        _REGISTRY.setdefault(n, cls)
        _GLOBAL_CUSTOM[key] = cls
        try:
            cls._registered_name = key
        except (AttributeError, TypeError):
            pass
        return cls
    return deco


register_keras_serializable = register_serializable


def get_registered_object(name, custom_objects=None):
    """The class registered (or given in ``custom_objects``) under ``name``, or None."""
    for scope in ([custom_objects] if custom_objects else []) + _CUSTOM_STACK[::-1] + \
            [_GLOBAL_CUSTOM]:
        if scope and name in scope:
            return scope[name]
    if name in _REGISTRY:
        return _REGISTRY[name]
    return None


def get_registered_name(cls):
    """The name a class is registered under (its class name by default)."""
    d = getattr(cls, "__dict__", None) or {}
    return d.get("_registered_name") or getattr(cls, "__name__", type(cls).__name__)


class custom_object_scope:
    """``with custom_object_scope({'MyLayer': MyLayer}):`` makes names resolvable while
    loading."""

    def __init__(self, *scopes):
        self.objects = {}
        for s in scopes:
            self.objects.update(s or {})

    def __enter__(self):
        _CUSTOM_STACK.append(self.objects)
        return self

    def __exit__(self, *exc):
        _CUSTOM_STACK.pop()
        return False


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.dtype):
        return v.name
    return v


# lamina's built-in layers that Keras 3 does not have (keras_hub has similar ones): their
# configs name lamina's module, so that Keras says plainly that it does not know them
_LAMINA_ONLY = frozenset(("PositionEmbedding", "SinePositionEncoding",
                          "TokenAndPositionEmbedding", "TransformerDecoder", "TransformerEncoder"))


def _module_of(cls, class_name, builtin):
    """The ``module`` Keras 3 writes for a built-in class (so Keras can rebuild lamina's
    configs), lamina's for its own extras, None for user classes (found by registered name)."""
    if not builtin:
        return None
    if class_name == "Functional":
        return "keras.src.models.functional"
    if class_name in ("Sequential", "Model"):
        return "keras"
    return "lamina.nn.layers" if class_name in _LAMINA_ONLY else "keras.layers"


def serialize_layer(layer):
    """``{"module", "class_name", "config", "registered_name", "build_config"}`` for a layer,
    in Keras 3's format: Keras rebuilds a config of its built-in layers (and lamina those of
    Keras)."""
    from .model import Functional
    cls = type(layer)
    class_name = "Functional" if cls is Functional else cls.__name__
    reg = get_registered_name(cls)
    builtin = reg == cls.__name__ and cls.__module__.startswith("lamina.")
    out = {"module": _module_of(cls, class_name, builtin),
           "class_name": class_name, "config": _jsonable(layer.get_config()),
           "registered_name": "Functional" if class_name == "Functional" else
           (reg if reg != cls.__name__ else None)}
    bc = layer.get_build_config() if hasattr(layer, "get_build_config") else None
    if bc is not None and class_name not in ("Functional", "Sequential", "InputLayer"):
        out["build_config"] = _jsonable(bc)
    return out


serialize = serialize_layer


def _lookup_class(config, custom_objects):
    names = [n for n in (config.get("registered_name"), config.get("class_name")) if n]
    for n in names:
        cls = get_registered_object(n, custom_objects)
        if cls is not None:
            return cls
    raise ValueError(f"Unknown layer class '{config.get('class_name')}': register it with "
                     "@register_serializable() or pass it in custom_objects="
                     f"{{'{config.get('class_name')}': {config.get('class_name')}}}")


def deserialize_layer(config, custom_objects=None):
    """A new layer (or model) from ``serialize_layer``'s dict; class names are looked up
    in ``custom_objects`` then the registry."""
    if isinstance(config, str):
        config = {"class_name": config, "config": {}}
    if not isinstance(config, dict) or "class_name" not in config:
        raise TypeError(f"deserialize_layer: expected a dict with 'class_name' and 'config', "
                        f"got {type(config).__name__}")
    cls = _lookup_class(config, custom_objects)
    cfg = dict(config.get("config") or {})
    with custom_object_scope(custom_objects or {}):
        from .model import Model
        if isinstance(cls, type) and issubclass(cls, Model) or \
                "custom_objects" in _params(cls.from_config):
            obj = cls.from_config(cfg, custom_objects=custom_objects)
        else:
            obj = cls.from_config(cfg)
        bc = config.get("build_config")
        if bc and not getattr(obj, "built", True) and hasattr(obj, "build_from_config"):
            obj.build_from_config(bc)
    return obj


deserialize = deserialize_layer


def deserialize_model(config, custom_objects=None):
    """A model from a saved model config (``model.to_json()``'s or a ``.keras`` archive's
    ``config.json``): deserialized, built from its ``build_config`` when it was not built
    by that; returns ``(model, compile_config or None)`` (compiling is the caller's
    choice).  ``config`` itself is left unchanged."""
    config = dict(config)
    compile_cfg = config.pop("compile_config", None)
    model = deserialize_layer(config, custom_objects=custom_objects)
    build_cfg = config.get("build_config")
    if build_cfg and not getattr(model, "built", False) and hasattr(model, "build_from_config"):
        model.build_from_config(build_cfg)
    return model, compile_cfg


def _params(fn):
    import inspect
    try:
        return inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}


# ------------------------------------------------------------------ functional graphs
def _model_nodes(model):
    ids = {id(n) for n in model._nodes}
    for t in model._flat_inputs:
        ids.add(id(t._history[0]._inbound_nodes[t._history[1]]))
    return ids


def _local_index(layer, node_index, node_ids):
    k = 0
    for i, n in enumerate(layer._inbound_nodes):
        if i == node_index:
            return k
        if id(n) in node_ids:
            k += 1
    raise ValueError(f"layer '{layer.name}' has no node {node_index}")


def functional_config(model):
    """Config of a functional model: every layer's config and inbound nodes, and where
    the inputs and outputs come from."""
    node_ids = _model_nodes(model)

    def enc(v):
        if isinstance(v, KerasTensor):
            layer, ni, ti = v._history
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": list(v.shape), "dtype": v.dtype.name,
                               "keras_history": [layer.name, _local_index(layer, ni, node_ids),
                                                 ti]}}
        return _jsonable(v)

    layers = []
    for layer in model._layers:
        entry = serialize_layer(layer)
        entry["name"] = layer.name
        nodes = []
        from .model import InputLayer
        if not isinstance(layer, InputLayer):
            for n in layer._inbound_nodes:
                if id(n) in node_ids:
                    nodes.append({"args": [map_structure(enc, a) for a in n.args],
                                  "kwargs": {k: map_structure(enc, v)
                                             for k, v in n.kwargs.items()}})
        entry["inbound_nodes"] = nodes
        layers.append(entry)

    def where(t):
        layer, ni, ti = t._history
        return [layer.name, _local_index(layer, ni, node_ids), ti]

    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": map_structure(where, model._inputs_struct),
            "output_layers": map_structure(where, model._outputs_struct)}


def _is_triple(v):
    return isinstance(v, list) and len(v) == 3 and isinstance(v[0], str)


def functional_from_config(config, custom_objects=None, cls=None):
    """Rebuild a functional model from :func:`functional_config`'s dict."""
    from .model import Functional, InputLayer
    created, entries = {}, []
    for lc in config["layers"]:
        layer = deserialize_layer(lc, custom_objects)
        name = lc.get("name") or layer.name
        created[name] = layer
        entries.append((name, layer, list(lc.get("inbound_nodes") or [])))
    produced = {}
    for name, layer, _ in entries:
        if isinstance(layer, InputLayer):
            produced[(name, 0)] = layer._inbound_nodes[0].outputs

    def is_kt(v):
        return isinstance(v, dict) and v.get("class_name") == "__keras_tensor__"

    def dec_struct(v):
        if is_kt(v):
            lname, ni, ti = v["config"]["keras_history"]
            return flatten(produced[(lname, ni)])[ti]
        if isinstance(v, list):
            return [dec_struct(x) for x in v]
        if isinstance(v, dict):
            return {k: dec_struct(x) for k, x in v.items()}
        return v

    def ready(v):
        if is_kt(v):
            lname, ni, _ = v["config"]["keras_history"]
            return (lname, ni) in produced
        if isinstance(v, list):
            return all(ready(x) for x in v)
        if isinstance(v, dict):
            return all(ready(x) for x in v.values())
        return True

    done = {name: 0 for name, _, _ in entries}
    remaining = sum(len(n) for _, _, n in entries)
    while remaining:
        progress = False
        for name, layer, nodes in entries:
            while done[name] < len(nodes):
                nd = nodes[done[name]]
                if not (ready(nd.get("args", [])) and ready(nd.get("kwargs", {}))):
                    break
                args = dec_struct(nd.get("args", []))
                kwargs = dec_struct(nd.get("kwargs", {}))
                out = layer(*args, **kwargs)
                produced[(name, done[name])] = out
                done[name] += 1
                remaining -= 1
                progress = True
        if not progress:
            raise ValueError("functional model config: the layer graph cannot be rebuilt (a "
                             "layer's inputs are never produced)")

    def where(v):
        if _is_triple(v):
            lname, ni, ti = v
            if (lname, ni) not in produced:
                raise ValueError(f"functional model config: unknown layer '{lname}'")
            return flatten(produced[(lname, ni)])[ti]
        if isinstance(v, list):
            return [where(x) for x in v]
        if isinstance(v, dict):
            return {k: where(x) for k, x in v.items()}
        raise ValueError(f"functional model config: bad input/output spec {v!r}")

    inputs = where(config["input_layers"])
    outputs = where(config["output_layers"])
    if cls is None or cls.__init__ is Functional.__init__ or cls.__name__ == "Model":
        model = Functional(inputs, outputs, name=config.get("name"))
    else:
        model = cls(inputs=inputs, outputs=outputs, name=config.get("name"))
    if config.get("trainable") is False:
        model.trainable = False
    return model


__all__ = ["register_serializable", "register_keras_serializable", "register_class",
           "deserialize_model",
           "serialize_layer", "deserialize_layer", "serialize", "deserialize",
           "custom_object_scope", "get_registered_object", "get_registered_name",
           "functional_config", "functional_from_config"]
