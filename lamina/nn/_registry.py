"""Keras object identifiers -> objects: the one resolver behind the ``get`` /
``serialize`` / ``deserialize`` of lamina.nn's activations, initializers, regularizers,
schedules, losses, metrics and optimizers.

An identifier is a built-in name or alias, a config dict ``{"class_name", "config"}``
(Keras 3 adds ``"module"`` and ``"registered_name"``), a class, an instance, a function
or None.  A :class:`Kind` holds what differs between those modules (their tables of
built-in names, what None means, which classes are instantiated, how other callables
are wrapped); its ``get``/``serialize``/``deserialize`` are the modules' functions.

Names that are not built in are looked up in ``custom_objects``, then in
``lamina.nn.serialization``'s registry (``register_serializable`` and any active
``custom_object_scope``).  The ``module`` key is accepted and never imported: loading a
config never runs code that the config names.
"""
from __future__ import annotations

import inspect

# "None is not an accepted identifier" (None itself is a valid answer for some kinds)
_REJECT = object()


def registered_object(name, custom_objects=None):
    """The class or function known as ``name`` in ``custom_objects``, an active
    ``custom_object_scope`` or the ``register_serializable`` registry; None if unknown."""
    from . import serialization
    try:
        return serialization.get_registered_object(name, custom_objects)
    except TypeError:       # an unhashable "name" (a malformed config) is in no registry
        return None


def registered_name(obj):
    """The name ``obj`` is registered under with ``register_serializable``, or None."""
    from . import serialization
    name = serialization.get_registered_name(obj)
    if name and registered_object(name) is obj:
        return name
    for key, value in serialization._REGISTRY.items():
        if value is obj:
            return key
    return None


def function_name(fn):
    """The name a function is saved under: its registered name, else its ``__name__``."""
    return registered_name(fn) or getattr(fn, "__name__", None)


def bind_options(who, defaults, args, kwargs):
    """``defaults`` (an ordered dict of option -> default) updated from positional ``args``
    (in that order) and keyword ``kwargs``; TypeError naming ``who`` for an extra
    positional or an unknown keyword."""
    opts = dict(defaults)
    if len(args) > len(opts):
        raise TypeError(f"{who}: too many positional arguments")
    opts.update(zip(defaults, args))
    for k, v in kwargs.items():
        if k not in opts:
            raise TypeError(f"{who}: unexpected argument {k!r}")
        opts[k] = v
    return opts


def _accepts_custom_objects(fn):
    try:
        return "custom_objects" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class ConfigObject:
    """Base of objects rebuilt from their constructor arguments: ``get_config()`` gives
    them (JSON-able), ``from_config(config)`` builds a new object from them."""

    def get_config(self):
        """The constructor arguments."""
        return {}

    @classmethod
    def from_config(cls, config):
        """A new object from ``get_config()``'s dict."""
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class FunctionWrapperConfig:
    """Config of a Loss or Metric wrapping a function (held in the attribute named by
    ``_fn_attr``) with keyword options (``_fn_kwargs``): ``get_config`` adds the options
    and, for the generic wrapper class itself (not the subclasses that fix their function),
    the function's saved name as ``fn``; ``from_config`` finds it again with ``_kind``."""

    _kind = None          # the Kind whose ``function`` resolves a saved "fn"
    _fn_attr = "fn"
    # "the generic wrapper" below is the class that lists this mixin as a direct base
    # (LossFunctionWrapper, MeanMetricWrapper): its subclasses fix their function

    def get_config(self):
        """The options, plus the function's name ``fn`` for the generic wrapper."""
        cfg = super().get_config()
        if FunctionWrapperConfig in type(self).__bases__:
            cfg["fn"] = function_name(getattr(self, self._fn_attr))
        cfg.update(self._fn_kwargs)
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new wrapper from ``get_config()``'s dict; a function saved by name is looked up
        in ``custom_objects``, the built-ins, then the registry."""
        config = dict(config)
        if FunctionWrapperConfig in cls.__bases__:
            fn = config.pop("fn")
            if isinstance(fn, str):
                fn = cls._kind.function(fn, custom_objects)
            return cls(fn, **config)
        return cls(**config)


def _instance_of_class(obj):
    return obj() if isinstance(obj, type) else obj


class Kind:
    """How one module (``module``, naming its objects ``what`` in messages) resolves
    identifiers; ``get``, ``serialize`` and ``deserialize`` are that module's functions.

    * ``names``: built-in name -> class or function, for string identifiers (a class is
      instantiated with no arguments); ``key`` normalizes a name first (e.g. str.lower);
      ``named(name)`` replaces both when strings need more (returns None if not built in).
      Without ``names`` and ``named``, strings are rejected.
    * ``class_names``: built-in ``class_name`` -> class for config dicts (default ``names``).
    * ``functions``: built-in functions, serialized as their name and found by name in
      saved wrapper configs.
    * ``none``: what None resolves to (default: None is rejected).
    * ``instances``: instances of this type are returned as they are; ``subclasses``:
      classes deriving from it are instantiated with no arguments (``object``: any class).
    * ``wrap(fn)``: what another callable becomes (default: itself; None: rejected);
      ``other(identifier)``: a last conversion (None: rejected).
    * ``keras_module``: the ``module`` written by ``serialize`` (None: a dict of only
      ``class_name`` and ``config``); ``expected``, ``known``: for the error messages."""

    def __init__(self, module, what, *, expected, names=None, key=None, named=None,
                 class_names=None, functions=None, known=None, none=_REJECT, instances=None,
                 subclasses=None, wrap=lambda fn: fn, other=None, keras_module=None):
        self.module, self.what, self.expected = module, what, expected
        self.names, self.key, self.named = names, key or (lambda name: name), named
        self.class_names = names if class_names is None else class_names
        self.functions = functions or {}
        self.known = sorted(names or ()) if known is None else list(known)
        self.none, self.instances, self.subclasses = none, instances, subclasses
        self.wrap, self.other, self.keras_module = wrap, other, keras_module

    # ------------------------------------------------------------------ lookup
    @property
    def accepts_names(self):
        """Whether strings are identifiers of this kind."""
        return self.names is not None or self.named is not None

    def lookup(self, name, custom_objects=None):
        """The class (or function) a config's ``class_name`` names: ``custom_objects``,
        then the built-ins, then the registry; None if unknown."""
        obj = (custom_objects or {}).get(name)
        if obj is None and self.class_names is not None:
            obj = self.class_names.get(self.key(name))
        return registered_object(name) if obj is None else obj

    def function(self, name, custom_objects=None):
        """The function saved as ``name`` (a wrapper's ``fn``): ``custom_objects``, the
        built-in functions, then the registry; ValueError saying how to provide it."""
        fn = (custom_objects or {}).get(name) or self.functions.get(name) or \
            registered_object(name)
        if fn is None:
            raise ValueError(f"cannot find the {self.what} function {name!r}: pass it in "
                             f"custom_objects={{{name!r}: {name}}} or register it with "
                             "register_serializable")
        return fn

    # ------------------------------------------------------------------ get
    def _from_name(self, name):
        if self.named is not None:
            obj = self.named(name)
        else:
            obj = self.names.get(self.key(name))
            obj = None if obj is None else _instance_of_class(obj)
        if obj is not None:
            return obj
        found = registered_object(name)
        if found is None or isinstance(found, str):
            raise ValueError(f"{self.module}.get: unknown {self.what} {name!r}; known: "
                             f"{', '.join(self.known)}")
        return self.get(found)

    def get(self, identifier):
        """The object for any accepted identifier (see the class doc); ValueError for an
        unknown name, TypeError for an identifier of a type this kind does not take."""
        if identifier is None and self.none is not _REJECT:
            return self.none
        if self.instances is not None and isinstance(identifier, self.instances):
            return identifier
        if isinstance(identifier, str) and self.accepts_names:
            return self._from_name(identifier)
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        if isinstance(identifier, type) and self.subclasses is not None and \
                issubclass(identifier, self.subclasses):
            return identifier()
        if callable(identifier) and self.wrap is not None:
            return self.wrap(identifier)
        obj = None if self.other is None else self.other(identifier)
        if obj is None:
            raise TypeError(f"{self.module}.get: expected {self.expected}, got "
                            f"{type(identifier).__name__}")
        return obj

    # ------------------------------------------------------------ serialization
    def serialize(self, obj):
        """What ``get`` accepts back: a built-in function's name; ``{"module",
        "class_name", "config", "registered_name"}`` for an object with ``get_config``;
        a registered object's name.  ValueError for anything else."""
        if obj is None:
            obj = None if self.none is _REJECT else self.none
            if obj is None:
                return None
        name = getattr(obj, "__name__", None)
        if name is not None and self.functions.get(name) is obj:
            return name
        if hasattr(obj, "get_config") and not isinstance(obj, type):
            config = {"class_name": type(obj).__name__, "config": obj.get_config()}
            if self.keras_module is None:
                return config
            return {"module": self.keras_module, **config,
                    "registered_name": registered_name(type(obj))}
        reg = registered_name(obj)
        if reg is not None:
            return reg
        raise ValueError(f"{self.module}.serialize: cannot serialize {obj!r}: it is not a "
                         f"built-in {self.what} and has no get_config; register it with "
                         "register_serializable (and pass custom_objects when loading)")

    def deserialize(self, config, custom_objects=None):
        """The object for ``serialize``'s output (a dict or, where names are accepted, a
        name), looking names up in ``custom_objects`` first."""
        if isinstance(config, str) and self.accepts_names:
            if custom_objects and config in custom_objects:
                return self.get(custom_objects[config])
            return self.get(config)
        if isinstance(config, dict) and isinstance(config.get("config"), str) and \
                self.accepts_names:
            # a function: Keras 3 writes {"class_name": "function", "config": its name}
            return self.deserialize(config["config"], custom_objects)
        if not isinstance(config, dict) or "class_name" not in config:
            raise ValueError(f"{self.module}.deserialize: expected a dict with 'class_name', "
                             f"got {config!r}")
        name = config["class_name"]
        # Keras 3 resolves registered_name first (a registered class may share a built-in
        # class_name); built-ins carry none
        reg = config.get("registered_name")
        obj = registered_object(reg, custom_objects) if reg else None
        if obj is None:
            obj = self.lookup(name, custom_objects)
        if obj is None:
            raise ValueError(f"{self.module}.deserialize: unknown {self.what} {name!r}: pass "
                             f"it in custom_objects or register it with register_serializable")
        return self._from_config(obj, config.get("config") or {}, custom_objects)

    def _from_config(self, obj, config, custom_objects):
        if not isinstance(obj, type):
            return self.get(obj)        # a registered function (or instance)
        from_config = getattr(obj, "from_config", None)
        if from_config is None:
            return obj(**config)
        if _accepts_custom_objects(from_config):
            return from_config(config, custom_objects=custom_objects)
        return from_config(config)


__all__ = ["Kind", "ConfigObject", "FunctionWrapperConfig", "registered_object", "registered_name", "function_name",
           "bind_options"]
