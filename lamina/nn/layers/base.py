"""The Layer base class: lazy build, weights, tracking, call context, masks, losses.

One layer system for lamina (``lamina.keras.layers`` re-exports it).  The hot path
is ``Layer.__call__`` on concrete tensors: it converts NumPy inputs, builds once,
checks the input against ``input_spec`` cheaply, sets the training call-context so
nested Dropout/BatchNormalization see ``training`` even when a user's ``call`` does
not pass it on, and returns ``call``'s result.  Called on symbolic tensors (from
``Input``) it records a graph node instead (see :mod:`.symbolic`).
"""
from __future__ import annotations

import inspect
import re
import weakref

import numpy as np

from ... import backend as _backend
from ...autograd import no_grad
from ...tensor import Tensor, _wrap
from ..variable import Variable
from .symbolic import KerasTensor, Node, any_symbolic, flatten, map_structure


# ------------------------------------------------------------------ naming
_UIDS: dict = {}


def to_snake_case(name):
    """``BatchNormalization`` -> ``batch_normalization``, ``ReLU`` -> ``re_lu`` (as Keras)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    """``base`` the first time, then ``base_1``, ``base_2``, ..."""
    n = _UIDS.get(base, 0)
    _UIDS[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def reset_uids():
    """Forget the auto-naming counters (``keras.backend.clear_session`` calls this)."""
    _UIDS.clear()


clear_session = reset_uids


# ------------------------------------------------------------------ call context
class _Ctx:
    """Global call state: the ``training`` flag inherited by nested calls, the nesting
    depth, the id of the current outermost call (add_loss resets per outer call), and a
    counter bumped whenever a layer's structure changes (caches of weight lists)."""
    training = None
    depth = 0
    call_id = 0
    version = 0


def _bump():
    _Ctx.version += 1


# Masks attached to concrete tensors: id -> (weakref, mask).  Tensor is slotted, so the
# mask cannot live on the tensor itself as in Keras.
_MASKS: dict = {}


def set_mask(t, mask):
    """Attach ``mask`` to tensor ``t`` (read back by the next layer's ``__call__``)."""
    k = id(t)

    def _gone(r, k=k):
        e = _MASKS.get(k)
        if e is not None and e[0] is r:
            del _MASKS[k]
    _MASKS[k] = (weakref.ref(t, _gone), mask)


def get_mask(t):
    """The mask attached to ``t`` by a masking layer, or None."""
    e = _MASKS.get(id(t))
    if e is not None and e[0]() is t:
        return e[1]
    return None


# ------------------------------------------------------------------ tracking
def _bumping(base, name):
    """``base.<name>`` followed by a bump of the structure version, so that cached weight
    lists are rebuilt after the container changes."""
    method = getattr(base, name)

    def mutate(self, *args, **kwargs):
        result = method(self, *args, **kwargs)
        _bump()
        return result
    mutate.__name__ = mutate.__qualname__ = name
    mutate.__doc__ = method.__doc__
    return mutate


class TrackedList(list):
    """A list attribute of a layer: mutations invalidate cached weight lists."""


class TrackedDict(dict):
    """A dict attribute of a layer: mutations invalidate cached weight lists."""


for _name in ("append", "extend", "insert", "pop", "remove", "__setitem__", "__delitem__",
              "__iadd__"):
    setattr(TrackedList, _name, _bumping(list, _name))
for _name in ("__setitem__", "__delitem__", "update", "pop", "setdefault"):
    setattr(TrackedDict, _name, _bumping(dict, _name))
del _name


def _collect(value, layers, variables, seen):
    t = type(value)
    if isinstance(value, Layer):
        if id(value) not in seen:
            seen.add(id(value))
            layers.append(value)
    elif isinstance(value, Variable):
        variables.append(value)
    elif t is list or t is tuple or t is TrackedList:
        for v in value:
            _collect(v, layers, variables, seen)
    elif t is dict or t is TrackedDict:
        for v in value.values():
            _collect(v, layers, variables, seen)


class InputSpec:
    """What a layer accepts: ``ndim``, ``min_ndim``, and fixed sizes ``axes`` {axis: size}."""

    __slots__ = ("ndim", "min_ndim", "axes", "dtype")

    def __init__(self, ndim=None, min_ndim=None, axes=None, dtype=None, **_):
        self.ndim = ndim
        self.min_ndim = min_ndim
        self.axes = dict(axes or {})
        self.dtype = dtype


def _check_spec(layer, spec, x):
    shape = x.shape
    nd = len(shape)
    if spec.ndim is not None and nd != spec.ndim:
        raise ValueError(f"Input 0 of layer '{layer.name}' ({type(layer).__name__}) is "
                         f"incompatible with the layer: expected ndim={spec.ndim}, found "
                         f"ndim={nd}. Full shape received: {tuple(shape)}")
    if spec.min_ndim is not None and nd < spec.min_ndim:
        raise ValueError(f"Input 0 of layer '{layer.name}' ({type(layer).__name__}) is "
                         f"incompatible with the layer: expected min_ndim={spec.min_ndim}, found "
                         f"ndim={nd}. Full shape received: {tuple(shape)}")
    for ax, size in spec.axes.items():
        if size is None or nd == 0:
            continue
        got = shape[ax] if -nd <= ax < nd else None
        if got is not None and got != size:
            raise ValueError(f"Input 0 of layer '{layer.name}' ({type(layer).__name__}) is "
                             f"incompatible with the layer: expected axis {ax} of the input "
                             f"shape to have value {size}, but received input with shape "
                             f"{tuple(shape)}")


def _to_input(x, dtype, dev=None):
    """NumPy data to a Tensor: floats in the layer's dtype, integers kept; on the GPU device
    ``dev`` when given.  Tensors are returned as they are (never moved silently)."""
    t = type(x)
    if t is Tensor or isinstance(x, Tensor):
        return x
    if t is np.ndarray or isinstance(x, (np.ndarray, np.generic, float, int, bool)) or \
            hasattr(x, "__cuda_array_interface__"):
        arr = x if hasattr(x, "dtype") else np.asarray(x)
        if arr.dtype.kind == "f" and arr.dtype != dtype:
            arr = arr.astype(dtype)
        elif arr.dtype.kind in "US" or (arr.dtype.kind == "O" and (
                arr.size == 0 or isinstance(arr.flat[0], (str, bytes)))):
            return arr      # text stays a raw array: the layers that read it take arrays
        elif arr.dtype.kind not in "fiub":
            raise TypeError(f"cannot feed data of dtype {arr.dtype} to a layer")
        if type(arr) is not np.ndarray:
            return Tensor(arr)
        if dev is not None and dev.type != "cpu":
            arr = _backend.to_device(arr, dev)
        return _wrap(arr)
    if t is list or t is tuple:
        if x and _all_numbers(x):          # nested Python lists of numbers: one array
            return _to_input(np.asarray(x), dtype, dev)
        return t(_to_input(v, dtype, dev) for v in x)
    if t is dict:
        return {k: _to_input(v, dtype, dev) for k, v in x.items()}
    return x


def _all_numbers(x):
    for v in x:
        if isinstance(v, (list, tuple)):
            if not _all_numbers(v):
                return False
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
    return True


def _shape_of(x):
    return map_structure(lambda t: tuple(t.shape) if hasattr(t, "shape") else t, x)


# ------------------------------------------------------------------ the layer
class Layer:
    """Base class of all layers: ``y = layer(x)`` builds weights on the first call.

    Subclasses define ``build(input_shape)`` (creating weights with ``add_weight``) and
    ``call(inputs, training=None, mask=None)``.  Weights of layers (and Variables) held in
    attributes, lists and dicts are tracked.  ``trainable=False`` freezes all weights.
    """

    _autocast = False           # set per instance by __init__ (see mixed_precision)

    _NO_TRACK = frozenset(("_inbound_nodes", "_losses", "_own_trainable", "_own_non_trainable",
                           "_wcache", "_fcache", "input_spec", "_build_shapes",
                           "_device"))

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # lamina's own layers are loadable by class name; user classes need
        # register_serializable or custom_objects, as in Keras
        if cls.__module__.startswith("lamina.") and not cls.__name__.startswith("_"):
            from ..serialization import register_class
            register_class(cls)

    def __init__(self, trainable=True, name=None, dtype=None, input_shape=None, input_dim=None,
                 batch_input_shape=None, batch_size=None, activity_regularizer=None, **kwargs):
        for k in ("autocast", "weights", "input_length", "quantization_config", "lora_alpha"):
            kwargs.pop(k, None)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) "
                            f"{sorted(kwargs)}")
        d = self.__dict__
        d["_own_trainable"] = []
        d["_own_non_trainable"] = []
        d["_inbound_nodes"] = []
        d["_losses"] = []
        d["_loss_call_id"] = -1
        d["_wcache"] = None
        d["_trainable"] = bool(trainable)
        d["built"] = False
        d["input_spec"] = None
        d["_build_shapes"] = None
        d["_device"] = None
        d["supports_masking"] = getattr(self, "supports_masking", False)
        if isinstance(dtype, dict):           # a Keras DTypePolicy config
            dtype = dtype.get("config", {}).get("name", "float32")
        if dtype is not None and hasattr(dtype, "name") and not isinstance(dtype, np.dtype) \
                and not hasattr(dtype, "compute_dtype"):
            dtype = dtype.name
        from .. import mixed_precision as _mp
        # policy: None for a plain dtype; _compute_dt: None unless the policy is mixed;
        # _autocast: whether __call__ runs mixed_precision.autocast_call
        pol, d["_dtype"], d["_compute_dt"], d["_autocast"] = _mp.layer_policy(dtype)
        d["_policy"] = pol
        d["name"] = name if name else unique_name(to_snake_case(type(self).__name__))
        if batch_input_shape is None:
            if input_shape is not None:
                batch_input_shape = (batch_size,) + tuple(input_shape)
            elif input_dim is not None:
                batch_input_shape = (batch_size, int(input_dim))
        d["_batch_input_shape"] = tuple(batch_input_shape) if batch_input_shape else None
        ar = activity_regularizer
        if ar is not None:
            from .. import regularizers
            ar = regularizers.get(ar)
        d["activity_regularizer"] = ar
        cls = type(self)
        d["_call_has_training"], d["_call_has_mask"], d["_call_training_default"] = \
            _call_flags(cls)
        d["_overrides_mask"] = cls.compute_mask is not Layer.compute_mask
        _bump()

    def __getattr__(self, name):
        # only reached for missing attributes: explain the usual cause
        if name.startswith("_") and "_own_trainable" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: the layer was not initialized; call "
                                 "super().__init__(**kwargs) at the start of __init__")
        prop = getattr(type(self), name, None)
        if isinstance(prop, property):
            return prop.fget(self)      # re-raise the property's own, clearer error
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    # -------------------------------------------------------------- tracking
    def __setattr__(self, name, value):
        t = type(value)
        if name not in self._NO_TRACK:
            if t is list:
                value = TrackedList(value)
                _bump()
            elif t is dict:
                value = TrackedDict(value)
                _bump()
            elif isinstance(value, (Layer, Variable)) or t is tuple:
                _bump()
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        object.__delattr__(self, name)
        _bump()

    def _tracked(self):
        """The layers and the Variables held in attributes (and in their lists and dicts),
        in attribute order."""
        layers, variables, seen = [], [], {id(self)}
        no_track = self._NO_TRACK
        for k, v in self.__dict__.items():
            if k in no_track:
                continue
            _collect(v, layers, variables, seen)
        return layers, variables

    def _sublayers(self):
        """Directly held sublayers, in attribute order (functional models override this)."""
        return self._tracked()[0]

    def _tracked_variables(self):
        return self._tracked()[1]

    def _flatten_layers(self, include_self=True, recursive=True):
        """This layer and all sublayers (depth-first, each once)."""
        if recursive:
            c = self.__dict__.get("_fcache")
            if c is None or c[0] != _Ctx.version:
                c = (_Ctx.version, self._walk_layers(True))
                self.__dict__["_fcache"] = c
            return list(c[1]) if include_self else c[1][1:]
        out = self._walk_layers(False)
        return out if include_self else out[1:]

    def _walk_layers(self, recursive):
        out, seen = [], set()

        def walk(layer):
            if id(layer) in seen:
                return
            seen.add(id(layer))
            out.append(layer)
            if recursive or layer is self:
                for s in layer._sublayers():
                    walk(s)
        walk(self)
        return out

    @property
    def layers(self):
        """Sublayers held directly by this layer."""
        return list(self._sublayers())

    # -------------------------------------------------------------- weights
    _convert_inputs = True      # NumPy inputs become Tensors in __call__

    _K3_ORDER = ("shape", "initializer", "dtype", "trainable", "autocast", "regularizer",
                 "constraint", "aggregation", "name")
    _K2_ORDER = ("name", "shape", "dtype", "initializer", "regularizer", "trainable",
                 "constraint")

    def add_weight(self, *args, **kwargs):
        """Create a Variable ``<layer name>/<name>`` of ``shape`` initialized by
        ``initializer`` (default glorot_uniform for floats, zeros otherwise).  Arguments as
        in Keras 3 ``(shape, initializer, dtype, trainable, ..., regularizer, constraint,
        name)``; Keras 2's order with the name first is also accepted."""
        order = self._K2_ORDER if args and isinstance(args[0], str) else self._K3_ORDER
        if len(args) > len(order):
            raise TypeError(f"add_weight of layer '{self.name}': too many positional arguments")
        for k, v in zip(order, args):
            if k in kwargs:
                raise TypeError(f"add_weight of layer '{self.name}': got multiple values for "
                                f"'{k}'")
            kwargs[k] = v
        return self._add_weight(**kwargs)

    def _add_weight(self, shape=None, initializer=None, dtype=None, trainable=True,
                    regularizer=None, constraint=None, name=None, **kwargs):
        kwargs.pop("aggregation", None)
        kwargs.pop("synchronization", None)
        autocast = kwargs.pop("autocast", True)
        kwargs.pop("use_resource", None)
        if kwargs:
            raise TypeError(f"add_weight of layer '{self.name}': unexpected keyword argument(s) "
                            f"{sorted(kwargs)}")
        shape = () if shape is None else tuple(int(s) for s in shape)
        dt = np.dtype(dtype) if dtype is not None else self._dtype
        if name is None:
            name = f"variable_{len(self._own_trainable) + len(self._own_non_trainable)}"
        from .. import initializers
        if initializer is None:
            initializer = "glorot_uniform" if dt.kind == "f" else "zeros"
        init = initializers.get(initializer)
        if callable(init):
            value = init(shape, dtype=dt)
            if isinstance(value, Tensor):
                value = value.data
        else:
            value = init
        arr = np.asarray(value) if not hasattr(value, "shape") else value
        if tuple(arr.shape) != shape:
            try:
                arr = np.broadcast_to(arr, shape)
            except ValueError:
                raise ValueError(f"add_weight of layer '{self.name}': the initializer gave shape "
                                 f"{tuple(arr.shape)}, expected {shape}") from None
        arr = np.array(arr, dtype=dt, copy=True) if isinstance(arr, np.ndarray) else arr.astype(dt)
        dev = self._device or _backend._default_device
        if dev is not None:
            arr = _backend.to_device(arr, dev)
        v = Variable(arr, name=name, path=f"{self.name}/{name}", trainable=trainable)
        if regularizer is not None:
            from .. import regularizers
            v.regularizer = regularizers.get(regularizer)
        if constraint is not None:
            from .. import constraints
            v.constraint = constraints.get(constraint)
        v.autocast = autocast
        if trainable:
            self._own_trainable.append(v)
            if not self._trainable:
                v.trainable = False
        else:
            self._own_non_trainable.append(v)
        _bump()
        return v

    def _own_weights(self):
        own = self._own_trainable + self._own_non_trainable
        extra = self._tracked_variables()
        if extra:
            ids = {id(v) for v in own}
            own = own + [v for v in extra if id(v) not in ids]
        return own

    @property
    def weights(self):
        """All weights (own first, then sublayers'), each once."""
        c = self._wcache
        if c is not None and c[0] == _Ctx.version:
            return list(c[1])
        out, seen = [], set()
        for layer in self._flatten_layers():
            for v in layer._own_weights():
                if id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)
        self.__dict__["_wcache"] = (_Ctx.version, out)
        return list(out)

    variables = weights

    @property
    def trainable_weights(self):
        """Weights updated by training: empty when the layer is frozen."""
        if not self._trainable:
            return []
        return [v for v in self.weights if v._trainable]

    trainable_variables = trainable_weights

    @property
    def non_trainable_weights(self):
        """Weights not updated by training (all of them when the layer is frozen)."""
        if not self._trainable:
            return self.weights
        return [v for v in self.weights if not v._trainable]

    non_trainable_variables = non_trainable_weights

    @property
    def trainable(self):
        """Whether this layer's weights are trained; setting it (un)freezes every sublayer."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        value = bool(value)
        for layer in self._flatten_layers():
            layer.__dict__["_trainable"] = value
            for v in layer._own_trainable:
                v.trainable = value
        _bump()

    def to(self, device):
        """Move every weight (and weights created later) to ``device`` ('cpu', 'cuda',
        'cuda:N'), in place; returns self.  NumPy inputs are then moved there on call."""
        from ...backend import Device, to_device
        dev = Device(device)
        for layer in self._flatten_layers():
            # the CPU is named, not None: None follows lamina's default device
            layer.__dict__["_device"] = dev
            for v in layer._own_weights():
                v.data = to_device(v.data, dev)
        _bump()
        return self

    def get_weights(self):
        """The weights as a list of NumPy arrays (copies), in ``weights`` order."""
        return [v.numpy() for v in self.weights]

    def set_weights(self, weights):
        """Set the weights from a list of arrays, in ``weights`` order (shapes checked)."""
        own = self.weights
        weights = list(weights)
        if len(weights) != len(own):
            raise ValueError(f"set_weights of layer '{self.name}': expected {len(own)} arrays "
                             f"({[v.path for v in own]}), got {len(weights)}")
        for v, w in zip(own, weights):
            w = w.numpy() if isinstance(w, Tensor) else np.asarray(w)
            if tuple(w.shape) != v.shape:
                raise ValueError(f"set_weights of layer '{self.name}': weight '{v.path}' has shape "
                                 f"{v.shape}, the array given has shape {tuple(w.shape)}")
        for v, w in zip(own, weights):
            v.assign(w.data if isinstance(w, Tensor) else np.asarray(w))

    def count_params(self):
        """Number of scalars in all weights (shared weights counted once)."""
        if not self.built and not self.weights:
            raise ValueError(f"count_params: layer '{self.name}' is not built yet; call it on "
                             "data or call build(input_shape) first")
        return int(sum(int(np.prod(v.shape)) for v in self.weights))

    @property
    def dtype(self):
        """The dtype of the weights (``variable_dtype``; float32 by default)."""
        return self._dtype.name

    @property
    def dtype_policy(self):
        """The layer's DTypePolicy (``keras.mixed_precision``)."""
        pol = self.__dict__.get("_policy")
        if pol is None:
            from ..mixed_precision import DTypePolicy
            pol = DTypePolicy(self.dtype)
        return pol

    @dtype_policy.setter
    def dtype_policy(self, value):
        from .. import mixed_precision as _mp
        pol, vdt, cdt, auto = _mp.layer_policy(_mp.get(value))
        d = self.__dict__
        d["_policy"], d["_dtype"], d["_compute_dt"], d["_autocast"] = pol, vdt, cdt, auto

    @property
    def compute_dtype(self):
        """dtype of the computations: ``dtype_policy.compute_dtype`` (float16 under
        'mixed_float16'), else ``dtype``."""
        pol = self.__dict__.get("_policy")
        return pol.compute_dtype if pol is not None else self.dtype

    @property
    def variable_dtype(self):
        """dtype of the weights."""
        return self.dtype

    # -------------------------------------------------------------- losses
    def add_loss(self, loss):
        """Add a scalar loss Tensor for this call (summed into the training loss by fit)."""
        if self._loss_call_id != _Ctx.call_id:
            self.__dict__["_losses"] = []
            self.__dict__["_loss_call_id"] = _Ctx.call_id
        if not isinstance(loss, Tensor):
            loss = Tensor(loss)
        self._losses.append(loss)

    @property
    def losses(self):
        """Losses from ``add_loss`` in the last call (this layer and sublayers), then
        regularization penalties of the trainable weights (recomputed on each read)."""
        out = []
        for layer in self._flatten_layers():
            if layer._losses:
                out.extend(layer._losses)
        for v in self.trainable_weights:
            r = v.regularizer
            if r is not None:
                out.append(r(v))
        return out

    # -------------------------------------------------------------- build / call
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape``; the default creates none."""
        self.built = True

    def call(self, inputs, *args, **kwargs):
        """The computation; subclasses override it."""
        return inputs

    def _maybe_build(self, args, kwargs):
        if self.built:
            return
        first = args[0] if args else next(iter(kwargs.values()))
        self._build_for(_shape_of(first))

    def _build_for(self, shapes):
        """Build for input ``shapes`` (a tuple, or several as a list), remembered for
        ``get_build_config``; a build error names the layer and the shapes."""
        if type(shapes) is tuple and shapes and type(shapes[0]) is tuple:
            shapes = list(shapes)
        self.__dict__["_build_shapes"] = shapes
        try:
            if type(self).build is not Layer.build:
                self.build(shapes)
        except (ValueError, TypeError) as e:
            if f"'{self.name}'" in str(e):
                raise
            raise type(e)(f"layer '{self.name}' ({type(self).__name__}) could not be built for "
                          f"input shape {shapes}: {e}") from e
        self.built = True

    def __call__(self, *args, **kwargs):
        if args:
            first = args[0]
        elif "inputs" in kwargs:
            args = (kwargs.pop("inputs"),)
            first = args[0]
        else:
            raise TypeError(f"layer '{self.name}' was called without inputs")
        tf = type(first)
        if tf is KerasTensor or ((tf is list or tf is tuple or tf is dict) and
                                 any_symbolic(first)):
            return self._symbolic_call(args, kwargs)
        dev = self._device or _backend._default_device
        if tf is not Tensor and not isinstance(first, Tensor) and self._convert_inputs:
            first = _to_input(first, self._dtype, dev)
            args = (first,) + args[1:]
        if len(args) > 1:
            args = (first,) + tuple(_to_input(a, self._dtype, dev) if type(a) is np.ndarray
                                    else a for a in args[1:])
        if not self.built:
            self._maybe_build(args, kwargs)
        spec = self.input_spec
        if spec is not None and type(first) is not list:
            if isinstance(spec, InputSpec):
                _check_spec(self, spec, first)
        prev = _Ctx.training
        tr = kwargs.get("training")
        if tr is None:
            # explicit argument, else the enclosing call's flag, else call()'s default
            tr = prev if prev is not None else self._call_training_default
        if self._call_has_training:
            kwargs["training"] = tr
        elif "training" in kwargs:
            del kwargs["training"]
        in_mask = kwargs.get("mask")
        if in_mask is not None and not self._call_has_mask:
            del kwargs["mask"]
        if in_mask is None and _MASKS and (self._call_has_mask or self.supports_masking or
                                           self._overrides_mask):
            in_mask = get_mask(first) if type(first) is not list else \
                [get_mask(v) for v in first]
            if type(in_mask) is list and all(m is None for m in in_mask):
                in_mask = None
            if in_mask is not None and self._call_has_mask:
                kwargs["mask"] = in_mask
        if _Ctx.depth == 0:
            _Ctx.call_id += 1
        _Ctx.depth += 1
        _Ctx.training = tr
        try:
            if self._autocast:          # only once a mixed policy was used
                out = _autocast_call(self, args, kwargs)
            else:
                out = self.call(*args, **kwargs)
        finally:
            _Ctx.depth -= 1
            _Ctx.training = prev
        if self.activity_regularizer is not None:
            for o in flatten(out):
                if isinstance(o, Tensor):
                    loss = self.activity_regularizer(o)
                    if o.ndim > 0 and o.shape[0] > 0:
                        loss = loss / o.shape[0]
                    self.add_loss(loss)
        if self._overrides_mask or (in_mask is not None and self.supports_masking):
            m = self.compute_mask(first, in_mask)
            if m is not None and isinstance(out, Tensor):
                set_mask(out, m)
        return out

    def compute_mask(self, inputs, previous_mask=None):
        """The mask of the output: passed through when ``supports_masking``, else None."""
        if not self.supports_masking:
            return None
        return previous_mask

    def compute_output_shape(self, input_shape):
        """Output shape for ``input_shape`` (None for unknown dims); the default runs the
        layer on placeholder data."""
        specs = map_structure(lambda s: s, input_shape)
        sym = _shape_struct_to_symbolic(specs, self._dtype)
        out = self._output_spec(sym)
        return map_structure(lambda t: t.shape, out)

    # -------------------------------------------------------------- symbolic calls
    def _placeholder_device(self):
        """Where placeholder data for a symbolic call goes: the layer's own device, else
        its weights', else lamina's default device."""
        if self._device is not None:
            return self._device
        for v in self._own_weights():
            return _backend.device_of(v.data)
        return _backend.default_device()

    def _output_spec(self, sym_first, args=(), kwargs=None):
        """Output KerasTensors (without history) for symbolic ``sym_first``: the shape from
        ``compute_output_shape`` when the layer defines it, else a run on placeholder data."""
        kwargs = dict(kwargs or {})
        # placeholder data: batch dim 2, other unknown dims 8 (then 9, to find which
        # output dims follow them)
        inner_unknown = any(d is None for t in flatten(sym_first) if isinstance(t, KerasTensor)
                            for d in t.shape[1:])
        has_cos = type(self).compute_output_shape is not Layer.compute_output_shape

        xp = self._placeholder_device().xp

        def run(fill, batch):
            def mk(t):
                if isinstance(t, KerasTensor):
                    shp = tuple((batch if i == 0 else fill) if d is None else d
                                for i, d in enumerate(t.shape))
                    if np.dtype(t.dtype) == object:     # a "string" input: raw text
                        return np.full(shp, "", dtype=object)
                    return _wrap(xp.zeros(shp, dtype=t.dtype))
                return t
            a = map_structure(mk, (sym_first,) + tuple(args))
            kw = map_structure(mk, kwargs)
            kw.pop("training", None)
            mask_in = None
            if isinstance(sym_first, KerasTensor) and sym_first._has_mask:
                mask_in = _wrap(xp.ones(a[0].shape[:2] if a[0].ndim >= 2 else a[0].shape,
                                        dtype=bool))
            if self._call_has_training:
                kw["training"] = False
            if self._call_has_mask and mask_in is not None and "mask" not in kw:
                kw["mask"] = mask_in
            prev_t, prev_id = _Ctx.training, _Ctx.call_id
            saved_losses = {}
            for layer in self._flatten_layers():
                saved_losses[id(layer)] = (layer, layer._losses, layer._loss_call_id)
            _Ctx.depth += 1
            _Ctx.training = False
            try:
                with no_grad():
                    if self._autocast:
                        out = _autocast_call(self, a, kw)
                    else:
                        out = self.call(*a, **kw)
            finally:
                _Ctx.depth -= 1
                _Ctx.training = prev_t
                _Ctx.call_id = prev_id
                for layer, ls, cid in saved_losses.values():
                    layer.__dict__["_losses"] = ls
                    layer.__dict__["_loss_call_id"] = cid
            return out
        try:
            out1 = run(8, 2)
            out2 = run(9, 3) if (inner_unknown and not has_cos) else None
        except Exception as e:
            raise type(e)(f"layer '{self.name}' ({type(self).__name__}) failed on symbolic input "
                          f"of shape {_shape_of(sym_first)}: {e}") from e
        if has_cos:
            shp_in = map_structure(lambda t: t.shape if isinstance(t, KerasTensor) else t,
                                   sym_first)
            shapes = self.compute_output_shape(shp_in)
            flat_o = flatten(out1)
            flat_s = _flatten_shapes(shapes, len(flat_o))
            res = [KerasTensor(s, o.dtype) for o, s in zip(flat_o, flat_s)]
            return _restructure(out1, res)
        flat1 = flatten(out1)
        flat2 = flatten(out2) if out2 is not None else None
        res = []
        for i, o in enumerate(flat1):
            shp = list(o.shape)
            if shp:
                shp[0] = None
            if flat2 is not None:
                for j, (a, b) in enumerate(zip(o.shape, flat2[i].shape)):
                    if a != b:
                        shp[j] = None
            res.append(KerasTensor(tuple(shp), o.dtype))
        return _restructure(out1, res)

    def _symbolic_call(self, args, kwargs):
        first = args[0]
        kwargs = dict(kwargs)
        if not self.built:
            self._build_for(map_structure(
                lambda t: t.shape if isinstance(t, KerasTensor) else t, first))
        spec = self.input_spec
        if isinstance(spec, InputSpec) and isinstance(first, KerasTensor):
            _check_spec(self, spec, first)
        outputs = self._output_spec(first, args[1:], kwargs)
        in_mask = isinstance(first, KerasTensor) and first._has_mask or \
            (type(first) in (list, tuple) and any(isinstance(t, KerasTensor) and t._has_mask
                                                   for t in first))
        out_mask = self._overrides_mask and self._symbolic_mask(first) or \
            (in_mask and self.supports_masking)
        node_index = len(self._inbound_nodes)
        for i, t in enumerate(flatten(outputs)):
            t._history = (self, node_index, i)
            t.name = self.name if i == 0 else f"{self.name}_{i}"
            t._has_mask = bool(out_mask)
        node = Node(self, args, kwargs, outputs)
        self._inbound_nodes.append(node)
        return outputs

    def _symbolic_mask(self, first):
        """Whether ``compute_mask`` yields a mask for this input (tried on placeholder data)."""
        try:
            x = map_structure(lambda t: _wrap(np.zeros(tuple(2 if d is None else d
                                                                for d in t.shape), t.dtype))
                              if isinstance(t, KerasTensor) else t, first)
            return self.compute_mask(x, None) is not None
        except Exception:
            return False

    # -------------------------------------------------------------- graph attributes
    def _node_attr(self, attr, what):
        if not self._inbound_nodes:
            raise AttributeError(f"layer '{self.name}' has never been called on a symbolic "
                                 f"input, so it has no defined {what}")
        v = getattr(self._inbound_nodes[0], attr)
        return v

    @property
    def input(self):
        """The symbolic input of the layer's first graph node."""
        if type(self).__name__ == "InputLayer":
            return self._inbound_nodes[0].outputs
        n = self._node_attr("args", "input")
        return n[0] if len(n) == 1 else list(n)

    @property
    def output(self):
        """The symbolic output of the layer's first graph node."""
        return self._node_attr("outputs", "output")

    @property
    def input_shape(self):
        """Shape of the input (batch dim None), from the first graph node or the build."""
        if self._inbound_nodes:
            return map_structure(lambda t: t.shape, self.input)
        if self._build_shapes is not None:
            return _batch_none(self._build_shapes)
        if self._batch_input_shape is not None:
            return self._batch_input_shape
        raise AttributeError(f"layer '{self.name}' has no defined input shape yet")

    @property
    def output_shape(self):
        """Shape of the output (batch dim None)."""
        if self._inbound_nodes:
            return map_structure(lambda t: t.shape, self.output)
        return _batch_none(self.compute_output_shape(self.input_shape))

    # -------------------------------------------------------------- config
    def get_config(self):
        """The constructor arguments as a JSON-able dict (``from_config`` inverts it)."""
        pol = self.__dict__.get("_policy")
        cfg = {"name": self.name, "trainable": self.trainable,
               "dtype": self.dtype if pol is None else pol.name}
        if self._batch_input_shape is not None:
            cfg["batch_input_shape"] = list(self._batch_input_shape)
        if self.activity_regularizer is not None:
            from .. import regularizers
            cfg["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return cfg

    @classmethod
    def from_config(cls, config):
        """A new layer from ``get_config()``'s dict."""
        return cls(**config)

    def get_build_config(self):
        """The input shape the layer was built with (restores weights' shapes on load)."""
        if self._build_shapes is None:
            return None
        return {"input_shape": _jsonable_shape(_batch_none(self._build_shapes))}

    def build_from_config(self, config):
        """Build from ``get_build_config()``'s dict."""
        if config and config.get("input_shape") is not None and not self.built:
            shp = _unjson_shape(config["input_shape"])
            self.__dict__["_build_shapes"] = shp
            self.build(shp)
            self.built = True

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


# ------------------------------------------------------------------ helpers
def _autocast_call(layer, args, kwargs):
    """mixed_precision.autocast_call, imported on first use (it imports this module)."""
    global _autocast_call
    from ..mixed_precision import autocast_call
    _autocast_call = autocast_call
    return autocast_call(layer, args, kwargs)


_FLAGS: dict = {}


def _call_flags(cls):
    f = _FLAGS.get(cls)
    if f is None:
        try:
            params = inspect.signature(cls.call).parameters
        except (TypeError, ValueError):
            params = {}
        tr = params.get("training")
        default = None
        if tr is not None and tr.default is not inspect.Parameter.empty and \
                isinstance(tr.default, bool):
            default = tr.default
        f = ("training" in params, "mask" in params, default)
        _FLAGS[cls] = f
    return f


def _batch_none(shapes):
    def fix(s):
        if type(s) is tuple and s and (s[0] is None or isinstance(s[0], (int, np.integer))):
            return (None,) + tuple(s[1:])
        return s
    if type(shapes) is list:
        return [fix(s) for s in shapes]
    if type(shapes) is dict:
        return {k: fix(v) for k, v in shapes.items()}
    return fix(shapes)


def _jsonable_shape(s):
    if type(s) is tuple:
        return list(s)
    if type(s) is list:
        return [_jsonable_shape(v) for v in s]
    if type(s) is dict:
        return {k: _jsonable_shape(v) for k, v in s.items()}
    return s


def _unjson_shape(s):
    if type(s) is list:
        if all(v is None or isinstance(v, int) for v in s):
            return tuple(s)
        return [_unjson_shape(v) for v in s]
    if type(s) is dict:
        return {k: _unjson_shape(v) for k, v in s.items()}
    return s


def _shape_struct_to_symbolic(shapes, dtype):
    if type(shapes) is tuple and (not shapes or not isinstance(shapes[0], (tuple, list))):
        return KerasTensor(shapes, dtype)
    if type(shapes) in (list, tuple):
        if all(v is None or isinstance(v, (int, np.integer)) for v in shapes):
            return KerasTensor(tuple(shapes), dtype)
        return [_shape_struct_to_symbolic(tuple(s) if type(s) is list else s, dtype)
                for s in shapes]
    if type(shapes) is dict:
        return {k: _shape_struct_to_symbolic(v, dtype) for k, v in shapes.items()}
    return shapes


def _flatten_shapes(shapes, n):
    if n == 1 and type(shapes) is tuple and all(d is None or isinstance(d, (int, np.integer))
                                                 for d in shapes):
        return [shapes]
    if type(shapes) is dict:
        return [tuple(v) for v in shapes.values()]
    return [tuple(s) for s in shapes]


def _restructure(template, leaves):
    it = iter(leaves)
    return map_structure(lambda _: next(it), template)


__all__ = ["Layer", "InputSpec", "KerasTensor", "Node", "reset_uids", "clear_session",
           "unique_name", "to_snake_case", "set_mask", "get_mask", "TrackedList", "TrackedDict"]
