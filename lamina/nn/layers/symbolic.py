"""Symbolic tensors and graph nodes: what ``Input()`` returns and layers record.

Calling a layer on a :class:`KerasTensor` computes no numbers: it records a
:class:`Node` (layer, the symbolic arguments, the symbolic outputs).  A functional
``Model(inputs, outputs)`` walks these nodes back from its outputs.
"""
from __future__ import annotations

import numpy as np


class KerasTensor:
    """A placeholder with a ``shape`` (None for unknown dims, batch first) and ``dtype``.

    ``_history`` is ``(layer, node_index, tensor_index)``: the node that made it.
    ``_has_mask`` says whether a mask flows with it (e.g. after Embedding(mask_zero=True)).
    """

    __slots__ = ("shape", "dtype", "name", "_history", "_has_mask", "__weakref__")

    def __init__(self, shape, dtype="float32", name=None, history=None, has_mask=False):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.name = name
        self._history = history
        self._has_mask = has_mask

    @property
    def ndim(self):
        """Number of dimensions, batch included."""
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype.name}, name={self.name}>"

    def __hash__(self):
        return id(self)

    def __len__(self):
        raise TypeError("len() of a symbolic KerasTensor is not defined; use .shape")

    def __bool__(self):
        raise TypeError("a symbolic KerasTensor has no truth value (it holds no data yet)")

    def __array__(self, *a, **k):
        raise TypeError("a symbolic KerasTensor (from keras.Input) holds no data: call the "
                        "model on arrays instead of converting the symbolic tensor")

    # arithmetic on symbolic tensors records a small op layer in the graph
    def _op(self, other, fn, name, reverse=False):
        from .core import _SymbolicOp
        from .base import unique_name
        args = [other, self] if reverse else [self, other]
        return _SymbolicOp(fn, name=unique_name(name))(args)

    def __add__(self, o):
        return self._op(o, "add", "add")

    def __radd__(self, o):
        return self._op(o, "add", "add", True)

    def __sub__(self, o):
        return self._op(o, "subtract", "subtract")

    def __rsub__(self, o):
        return self._op(o, "subtract", "subtract", True)

    def __mul__(self, o):
        return self._op(o, "multiply", "multiply")

    def __rmul__(self, o):
        return self._op(o, "multiply", "multiply", True)

    def __truediv__(self, o):
        return self._op(o, "divide", "divide")

    def __rtruediv__(self, o):
        return self._op(o, "divide", "divide", True)

    def __matmul__(self, o):
        return self._op(o, "matmul", "matmul")

    def __pow__(self, o):
        return self._op(o, "power", "power")

    def __neg__(self):
        return self._op(-1.0, "multiply", "multiply")

    def __getitem__(self, idx):
        from .core import _SymbolicGetItem
        return _SymbolicGetItem(idx)(self)


class Node:
    """One call of ``layer`` on symbolic arguments: ``args``/``kwargs`` (with KerasTensors
    inside), ``outputs`` (a KerasTensor or a list/dict of them)."""

    __slots__ = ("layer", "args", "kwargs", "outputs", "in_tensors", "out_tensors")

    def __init__(self, layer, args, kwargs, outputs):
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.outputs = outputs
        self.in_tensors = [t for t in flatten((args, kwargs)) if isinstance(t, KerasTensor)]
        self.out_tensors = [t for t in flatten(outputs) if isinstance(t, KerasTensor)]

    @property
    def parent_nodes(self):
        """The nodes that produced this node's symbolic inputs."""
        out = []
        for t in self.in_tensors:
            layer, ni, _ = t._history
            out.append(layer._inbound_nodes[ni])
        return out


def flatten(struct):
    """Leaves of nested lists/tuples/dicts (dicts in key-insertion order)."""
    out = []
    _flatten_into(struct, out)
    return out


def _flatten_into(s, out):
    t = type(s)
    if t is list or t is tuple:
        for v in s:
            _flatten_into(v, out)
    elif t is dict:
        for v in s.values():
            _flatten_into(v, out)
    else:
        out.append(s)


def map_structure(fn, struct):
    """Apply ``fn`` to each leaf of nested lists/tuples/dicts, keeping the structure."""
    t = type(struct)
    if t is list:
        return [map_structure(fn, v) for v in struct]
    if t is tuple:
        return tuple(map_structure(fn, v) for v in struct)
    if t is dict:
        return {k: map_structure(fn, v) for k, v in struct.items()}
    return fn(struct)


def any_symbolic(struct):
    """True when a KerasTensor appears among the leaves."""
    t = type(struct)
    if t is KerasTensor:
        return True
    if t is list or t is tuple:
        for v in struct:
            if any_symbolic(v):
                return True
    elif t is dict:
        for v in struct.values():
            if any_symbolic(v):
                return True
    return False


__all__ = ["KerasTensor", "Node", "flatten", "map_structure", "any_symbolic"]
