"""Models: ``Input``/``InputLayer``, functional ``Model(inputs, outputs)``, ``Sequential``
and subclassed ``Model``; ``summary()``.

A functional model is a list of graph nodes in topological order, recorded when
layers were called on symbolic tensors; calling it runs each node's layer on
concrete tensors.  ``Sequential`` keeps such a graph too (for shapes and summary)
but runs its layers in a plain loop.  ``Model`` inherits the training API from
:class:`lamina.nn.training.Trainer`.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .layers.base import Layer, _to_input, _jsonable_shape, _unjson_shape
from .layers.symbolic import KerasTensor, Node, flatten, map_structure
from .training import Trainer


# ------------------------------------------------------------------ inputs
class InputLayer(Layer):
    """The entry of a functional graph: holds one symbolic tensor of ``batch_shape``."""

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None,
                 input_tensor=None, optional=False, name=None, input_shape=None,
                 batch_input_shape=None, ragged=None, **kwargs):
        kwargs.pop("trainable", None)
        super().__init__(name=name, **kwargs)
        if batch_shape is None:
            batch_shape = batch_input_shape
        if batch_shape is None:
            if shape is None:
                shape = input_shape
            if shape is None:
                if input_tensor is not None:
                    batch_shape = input_tensor.shape
                else:
                    raise ValueError(f"InputLayer '{self.name}': give `shape` (without the batch "
                                     "dimension) or `batch_shape`")
            else:
                if isinstance(shape, (int, np.integer)):
                    shape = (int(shape),)
                batch_shape = (batch_size,) + tuple(shape)
        self.batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        self.sparse = bool(sparse)
        self.optional = optional
        # Keras's "string" inputs (text, categorical features) arrive as NumPy str/object
        # arrays and stay raw arrays: only the layers that read them (StringLookup, Hashing,
        # TextVectorization) see them
        self.__dict__["_in_dtype"] = np.dtype(object) if dtype in ("string", "str", str) \
            else np.dtype(dtype or "float32")
        self.built = True
        t = KerasTensor(self.batch_shape, self._in_dtype, name=self.name,
                        history=(self, 0, 0))
        self._inbound_nodes.append(Node(self, (), {}, t))

    @property
    def dtype(self):
        """dtype of the data this input accepts ("string" for text)."""
        return "string" if self._in_dtype == object else self._in_dtype.name

    def call(self, inputs):
        return inputs

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype,
                "sparse": self.sparse, "ragged": False, "name": self.name,
                "optional": self.optional}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None,
          tensor=None, optional=False):
    """A symbolic tensor of shape ``(batch_size,) + shape`` to start a functional model."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                       batch_shape=batch_shape, name=name, input_tensor=tensor, optional=optional)
    return layer._inbound_nodes[0].outputs


# ------------------------------------------------------------------ model
class Model(Trainer, Layer):
    """A layer with training (``compile``/``fit``/...), built one of three ways:
    functional ``Model(inputs, outputs)``, ``Sequential([...])``, or subclassing with
    ``__init__``/``call``."""

    _NO_TRACK = Layer._NO_TRACK | {"_plan", "_nodes", "_flat_inputs", "_flat_outputs",
                                   "_inputs_struct", "_outputs_struct", "_out_names",
                                   "_graph", "_input_layer"}

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            return object.__new__(Functional)
        obj = object.__new__(cls)
        if cls.__init__ is not Model.__init__ and not issubclass(cls, (Functional, Sequential)):
            # a subclassed model: remember simple constructor arguments for get_config
            cfg = _simple_init_args(cls, args, kwargs)
            if cfg is not None:
                obj.__dict__["_auto_config"] = cfg
        return obj

    def __init__(self, *args, **kwargs):
        if args or "inputs" in kwargs:
            # a subclass of Model passing inputs/outputs: functional subclass
            _init_functional(self, *args, **kwargs)
            return
        trainable = kwargs.pop("trainable", True)
        name = kwargs.pop("name", None)
        dtype = kwargs.pop("dtype", None)
        Layer.__init__(self, trainable=trainable, name=name, dtype=dtype, **kwargs)
        self.__dict__["_out_names"] = None
        tinit = getattr(Trainer, "__init__", None)
        if tinit is not None and tinit is not object.__init__:
            tinit(self)

    def call(self, inputs, training=None, mask=None):
        """The forward pass; subclasses override it (functional models run their graph)."""
        if "_plan" in self.__dict__:
            return Functional.call(self, inputs, training=training, mask=mask)
        raise NotImplementedError(f"model '{self.name}' ({type(self).__name__}): subclasses of "
                                  "Model must define call(inputs, training=None)")

    @property
    def inputs(self):
        """The symbolic inputs (models built from a graph only)."""
        if "_flat_inputs" not in self.__dict__:
            raise AttributeError(f"model '{self.name}' is subclassed: it has no symbolic inputs")
        return list(self._flat_inputs)

    @property
    def outputs(self):
        """The symbolic outputs (models built from a graph only)."""
        if "_flat_outputs" not in self.__dict__:
            raise AttributeError(f"model '{self.name}' is subclassed: it has no symbolic "
                                 "outputs")
        return list(self._flat_outputs)

    # -------------------------------------------------------------- structure
    def get_layer(self, name=None, index=None):
        """A layer of this model by ``name`` or position ``index``."""
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: index {index} is out of range: model "
                                 f"'{self.name}' has {len(layers)} layers")
            return layers[index]
        if name is not None:
            for layer in layers:
                if layer.name == name:
                    return layer
            raise ValueError(f"get_layer: no layer named '{name}' in model '{self.name}'; "
                             f"its layers are {[l.name for l in layers]}")
        raise ValueError("get_layer: give a layer `name` or `index`")

    def build(self, input_shape):
        """Create all weights for inputs of ``input_shape`` (runs the model once on zeros)."""
        if self.built:
            return
        shapes = _unjson_shape(_jsonable_shape(input_shape))
        from .layers.base import _shape_struct_to_symbolic
        sym = _shape_struct_to_symbolic(shapes, self._dtype)
        self.__dict__["_build_shapes"] = shapes
        self._output_spec(sym)
        self.built = True

    def _maybe_build(self, args, kwargs):
        if self.built:
            return
        first = args[0]
        shapes = map_structure(lambda t: (None,) + tuple(t.shape[1:]) if hasattr(t, "shape")
                               else t, first)
        self.__dict__["_build_shapes"] = shapes
        if type(self).build is not Model.build:
            self.build(shapes)
        self.built = True

    @property
    def output_names(self):
        """One name per model output (the output layers' names, or the dict keys)."""
        n = self.__dict__.get("_out_names")
        return list(n) if n else ["output"]

    @output_names.setter
    def output_names(self, names):
        self.__dict__["_out_names"] = list(names)

    def __call__(self, *args, **kwargs):
        out = Layer.__call__(self, *args, **kwargs)
        if self.__dict__.get("_out_names") is None and not isinstance(out, KerasTensor):
            if type(out) is dict:
                self.__dict__["_out_names"] = list(out)
            elif type(out) in (list, tuple):
                self.__dict__["_out_names"] = [f"output_{i + 1}" for i in range(len(out))]
            else:
                self.__dict__["_out_names"] = ["output"]
        return out

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print the layers (name, type), output shapes and parameter counts, then the
        total, trainable and non-trainable parameter counts (shared weights once)."""
        from .summary import print_summary
        print_summary(self, line_length=line_length, print_fn=print_fn,
                      show_trainable=show_trainable, expand_nested=expand_nested)

    def get_config(self):
        """Name and trainable flag, plus a subclass's constructor arguments when they are
        plain values (numbers, strings, lists, dicts)."""
        cfg = {"name": self.name, "trainable": self.trainable}
        auto = self.__dict__.get("_auto_config")
        if auto:
            cfg.update({k: v for k, v in auto.items() if k not in cfg})
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if "layers" in config and "input_layers" in config:
            return Functional.from_config(config, custom_objects)
        cfg = dict(config)
        try:
            return cls(**cfg)
        except TypeError:
            cfg.pop("trainable", None)
            cfg.pop("dtype", None)
            name = cfg.pop("name", None)
            obj = cls(**cfg)
            if name:
                obj.__dict__["name"] = name
            return obj


def _plain(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_plain(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _plain(x) for k, x in v.items())
    return False


def _simple_init_args(cls, args, kwargs):
    import inspect
    try:
        bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)
    except (TypeError, ValueError):
        return None
    out = {}
    for i, (k, v) in enumerate(bound.arguments.items()):
        if i == 0:
            continue                            # self
        p = bound.signature.parameters[k]
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            out.update(v)
        elif p.kind is inspect.Parameter.VAR_POSITIONAL:
            if v:
                return None
        else:
            out[k] = v
    return out if _plain(out) else None


# ------------------------------------------------------------------ functional
class Functional(Model):
    """A model defined by a graph of layer calls from ``inputs`` to ``outputs`` (each a
    KerasTensor, or a list or dict of them)."""

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        _init_functional(self, inputs, outputs, name=name, trainable=trainable, **kwargs)

    def call(self, inputs, training=None, mask=None):
        """Run the graph on concrete inputs (matched by position, or by name for dicts)."""
        vals = {}
        flat_in = Functional._match_inputs(self, inputs)
        for sym, x in zip(self._flat_inputs, flat_in):
            vals[id(sym)] = x
        for layer, single, in_id, args, kwargs, out_ids, outs in self._plan:
            if single:
                y = layer(vals[in_id])
            else:
                a = map_structure(lambda t: vals[id(t)] if type(t) is KerasTensor else t, args)
                k = map_structure(lambda t: vals[id(t)] if type(t) is KerasTensor else t, kwargs)
                y = layer(*a, **k)
            if out_ids is None:
                vals[id(outs)] = y
            else:
                for oid, v in zip(out_ids, flatten(y)):
                    vals[oid] = v
        return map_structure(lambda t: vals[id(t)], self._outputs_struct)

    def _match_inputs(self, inputs):
        want = self._flat_inputs
        st = self._inputs_struct
        if type(inputs) is dict:
            if type(st) is dict:
                missing = [k for k in st if k not in inputs]
                if missing:
                    raise ValueError(f"model '{self.name}': missing input(s) {missing}; expected "
                                     f"keys {list(st)}, got {list(inputs)}")
                flat = [inputs[k] for k in st]
            else:
                names = [t.name for t in want]
                missing = [n for n in names if n not in inputs]
                if missing:
                    raise ValueError(f"model '{self.name}': missing input(s) {missing}; expected "
                                     f"keys {names}, got {list(inputs)}")
                flat = [inputs[n] for n in names]
        elif type(inputs) in (list, tuple):
            flat = list(inputs)
            if len(want) == 1 and len(flat) != 1 and \
                    not any(isinstance(v, (Tensor, np.ndarray)) for v in flat):
                flat = [np.asarray(inputs)]      # nested Python lists of numbers
        else:
            flat = [inputs]
        if len(flat) != len(want):
            raise ValueError(f"model '{self.name}' expects {len(want)} input(s) "
                             f"{[t.shape for t in want]}, but it received {len(flat)} input(s)")
        out = []
        for sym, x in zip(want, flat):
            if not isinstance(x, Tensor):
                x = _to_input(x, sym.dtype if sym.dtype.kind == "f" else self._dtype)
            shp = x.shape
            ws = sym.shape
            if len(shp) != len(ws) or any(w is not None and w != s for w, s in zip(ws, shp)):
                if not (len(ws) == 2 and ws[1] == 1 and len(shp) == 1):
                    raise ValueError(f"Input '{sym.name}' of model '{self.name}' is incompatible: "
                                     f"expected shape {ws}, got {tuple(shp)}")
                from ..ops.shape import reshape
                x = reshape(x, (shp[0], 1))
            out.append(x)
        return out

    @property
    def inputs(self):
        """The model's symbolic inputs (a list)."""
        return list(self._flat_inputs)

    @property
    def outputs(self):
        """The model's symbolic outputs (a list)."""
        return list(self._flat_outputs)

    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    @property
    def input_shape(self):
        return map_structure(lambda t: t.shape, self._inputs_struct)

    @property
    def output_shape(self):
        return map_structure(lambda t: t.shape, self._outputs_struct)

    def compute_output_shape(self, input_shape):
        return map_structure(lambda t: t.shape, self._outputs_struct)

    def build(self, input_shape):
        self.built = True

    def get_config(self):
        from .serialization import functional_config
        return functional_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from .serialization import functional_from_config
        return functional_from_config(config, custom_objects, cls=cls)


def _init_functional(self, inputs, outputs, name=None, trainable=True, **kwargs):
    kwargs.pop("dtype", None)
    Layer.__init__(self, trainable=trainable, name=name or _func_name(self))
    for t in flatten(inputs):
        if not isinstance(t, KerasTensor):
            raise TypeError(f"Model: `inputs` must be KerasTensors from keras.Input(), got "
                            f"{type(t).__name__}")
    for t in flatten(outputs):
        if not isinstance(t, KerasTensor):
            raise TypeError(f"Model: `outputs` must be KerasTensors (layer outputs on symbolic "
                            f"inputs), got {type(t).__name__}")
    if type(inputs) is tuple:
        inputs = list(inputs)
    if type(outputs) is tuple:
        outputs = list(outputs)
    # a one-element list of inputs behaves like a single input (as in Keras)
    d = self.__dict__
    d["_inputs_struct"] = inputs[0] if type(inputs) is list and len(inputs) == 1 else inputs
    d["_outputs_struct"] = outputs
    d["_flat_inputs"] = flatten(inputs)
    d["_flat_outputs"] = flatten(outputs)
    nodes = _topological_nodes(self, d["_flat_inputs"], d["_flat_outputs"])
    layers, seen = [], set()
    for t in d["_flat_inputs"]:
        lay = t._history[0]
        if id(lay) not in seen:
            seen.add(id(lay))
            layers.append(lay)
    for n in nodes:
        if id(n.layer) not in seen:
            seen.add(id(n.layer))
            layers.append(n.layer)
    names = {}
    for lay in layers:
        if lay.name in names:
            raise ValueError(f"Model '{self.name}': the name '{lay.name}' is used by two layers "
                             "in the model; all layer names must be unique (their weights are "
                             "saved under them)")
        names[lay.name] = lay
    d["_nodes"] = nodes
    plan = []
    for n in nodes:
        if isinstance(n.layer, InputLayer):
            continue
        single = (len(n.args) == 1 and type(n.args[0]) is KerasTensor and not n.kwargs)
        outs = n.outputs
        out_ids = None if type(outs) is KerasTensor else [id(t) for t in flatten(outs)]
        plan.append((n.layer, single, id(n.args[0]) if single else None, n.args, n.kwargs,
                     out_ids, outs))
    d["_plan"] = plan
    self._layers = layers
    if type(outputs) is dict:
        names = list(outputs)
    else:
        names = [t._history[0].name for t in d["_flat_outputs"]]
    d["_out_names"] = names
    d["_build_shapes"] = map_structure(lambda t: t.shape, d["_inputs_struct"])
    self.built = True
    tinit = getattr(Trainer, "__init__", None)
    if tinit is not None and tinit is not object.__init__:
        tinit(self)


_FUNCTIONAL_NAMES = {"Functional": "functional", "Model": "functional"}


def _func_name(self):
    from .layers.base import unique_name, to_snake_case
    cls = type(self).__name__
    return unique_name(_FUNCTIONAL_NAMES.get(cls, to_snake_case(cls)))


def _topological_nodes(model, inputs, outputs):
    """Nodes from the inputs to ``outputs``, parents before children; errors name a
    disconnected input."""
    input_ids = {id(t) for t in inputs}
    order, state = [], {}

    def visit(t):
        if t._history is None:
            raise ValueError(f"Model '{model.name}': tensor {t} was not produced by a layer call")
        layer, ni, _ = t._history
        node = layer._inbound_nodes[ni]
        k = id(node)
        if state.get(k) == 2:
            return
        if state.get(k) == 1:
            raise ValueError(f"Model '{model.name}': the layer graph has a cycle at layer "
                             f"'{layer.name}'")
        state[k] = 1
        if id(t) not in input_ids:
            if isinstance(layer, InputLayer):
                raise ValueError(f"Model '{model.name}': graph disconnected: output depends on "
                                 f"input '{layer.name}' {t.shape}, which is not among the model's "
                                 f"inputs {[x.name for x in inputs]}")
            for p in node.in_tensors:
                visit(p)
        state[k] = 2
        order.append(node)

    for t in outputs:
        visit(t)
    # input nodes not reached are still the model's inputs (Keras allows unused inputs)
    return order


# ------------------------------------------------------------------ sequential
class Sequential(Model):
    """A stack of layers, each taking the previous one's output: ``Sequential([layers])``
    or ``.add(layer)``; the input shape comes from ``Input`` / ``InputLayer`` or the first
    layer's ``input_shape=`` / ``input_dim=``, or from the first call."""

    def __init__(self, layers=None, trainable=True, name=None, **kwargs):
        Model.__init__(self, trainable=trainable, name=name, **kwargs)
        self.__dict__["_input_layer"] = None
        self.__dict__["_graph"] = None
        self._layers = []
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_graph()

    def add(self, layer, rebuild=True):
        """Append a layer (or an ``Input``) to the stack."""
        if isinstance(layer, KerasTensor):
            layer = layer._history[0]
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError(f"Sequential '{self.name}': an Input can only be the first "
                                 "entry")
            self.__dict__["_input_layer"] = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a Layer, got {type(layer).__name__}")
        if any(l.name == layer.name for l in self._layers):
            raise ValueError(f"Sequential '{self.name}': all layers must have unique names; "
                             f"'{layer.name}' is already in the model")
        self._layers.append(layer)
        if rebuild and self._graph is not None:
            # extend the existing graph instead of rebuilding it
            inp, out = self._graph
            out = layer(out)
            self.__dict__["_graph"] = (inp, out)
            return
        self.__dict__["_graph"] = None
        self.built = False
        if rebuild:
            self._maybe_graph()

    def pop(self):
        """Remove and return the last layer."""
        if not self._layers:
            raise TypeError(f"Sequential '{self.name}': there are no layers to pop")
        layer = self._layers.pop()
        self.__dict__["_graph"] = None
        self.built = False
        self._maybe_graph()
        return layer

    def _maybe_graph(self):
        if self._input_layer is None and self._layers:
            bis = self._layers[0]._batch_input_shape
            if bis is not None:
                self.__dict__["_input_layer"] = InputLayer(batch_shape=bis,
                                                           dtype=self._layers[0].dtype if
                                                           self._layers[0]._dtype.kind == "f"
                                                           else None)
        if self._input_layer is not None and self._layers:
            self._build_graph()

    def _build_graph(self):
        x = self._input_layer._inbound_nodes[0].outputs
        inp = x
        for layer in self._layers:
            x = layer(x)
        self.__dict__["_graph"] = (inp, x)
        if isinstance(x, KerasTensor):
            self.__dict__["_out_names"] = [self._layers[-1].name]
        self.__dict__["_build_shapes"] = inp.shape
        self.built = True

    def build(self, input_shape=None):
        """Build every layer for inputs of ``input_shape`` (batch dim first)."""
        if self._graph is not None:
            return
        if input_shape is None:
            if self._input_layer is None:
                raise ValueError(f"Sequential '{self.name}': give build() an input shape, or "
                                 "start the model with keras.Input(shape)")
        else:
            shape = tuple(input_shape)
            self.__dict__["_input_layer"] = InputLayer(batch_shape=(None,) + shape[1:])
        if self._layers:
            self._build_graph()
        self.built = True

    def _maybe_build(self, args, kwargs):
        if self._graph is None and self._layers:
            first = args[0]
            if isinstance(first, Tensor):
                dt = first.dtype if first.dtype.kind != "f" else None
                self.__dict__["_input_layer"] = InputLayer(
                    batch_shape=(None,) + tuple(first.shape[1:]), dtype=dt)
                self._build_graph()
        self.built = True

    def call(self, inputs, training=None, mask=None):
        """Run the layers in order."""
        x = inputs
        for layer in self._layers:
            x = layer(x)
        return x

    @property
    def layers(self):
        """The stacked layers, in order (the Input is not one of them)."""
        return list(self._layers)

    def _graph_or_error(self, what):
        if self._graph is None:
            raise AttributeError(f"Sequential '{self.name}' has no {what} yet: it is not "
                                 "built (give an Input or input_shape, or call it on data)")
        return self._graph

    @property
    def inputs(self):
        return [self._graph_or_error("inputs")[0]]

    @property
    def outputs(self):
        return [self._graph_or_error("outputs")[1]]

    @property
    def input(self):
        return self._graph_or_error("input")[0]

    @property
    def output(self):
        return self._graph_or_error("output")[1]

    @property
    def input_shape(self):
        return self.input.shape

    @property
    def output_shape(self):
        return self.output.shape

    def compute_output_shape(self, input_shape):
        if self._graph is not None and tuple(input_shape)[1:] == self._graph[0].shape[1:]:
            return self._graph[1].shape
        return Layer.compute_output_shape(self, input_shape)

    @property
    def output_names(self):
        if self._layers:
            return [self._layers[-1].name]
        return ["output"]

    @output_names.setter
    def output_names(self, names):
        self.__dict__["_out_names"] = list(names)

    def get_config(self):
        from .serialization import serialize_layer
        layers = []
        if self._input_layer is not None:
            layers.append(serialize_layer(self._input_layer))
        layers += [serialize_layer(l) for l in self._layers]
        cfg = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype,
               "layers": layers}
        if self._graph is not None:
            cfg["build_input_shape"] = list(self._graph[0].shape)
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from .serialization import deserialize_layer
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for lc in config.get("layers", []):
            model.add(deserialize_layer(lc, custom_objects), rebuild=False)
        if model._input_layer is None and config.get("build_input_shape"):
            model.build(tuple(config["build_input_shape"]))
        else:
            model._maybe_graph()
        return model


__all__ = ["Input", "InputLayer", "Model", "Functional", "Sequential"]
