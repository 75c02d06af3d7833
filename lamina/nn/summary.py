"""``model.summary()``: one row per layer (name and type, output shape, parameter count;
for functional models, what it is connected to), then totals counted as Keras does
(each weight once, even when layers are shared)."""
from __future__ import annotations

import numpy as np


def _fmt_shape(s):
    if s is None:
        return "?"
    if isinstance(s, list):
        return "[" + ", ".join(_fmt_shape(x) for x in s) + "]"
    if isinstance(s, dict):
        return "{" + ", ".join(f"{k}: {_fmt_shape(v)}" for k, v in s.items()) + "}"
    return "(" + ", ".join("None" if d is None else str(d) for d in s) + \
        ("," if len(s) == 1 else "") + ")"


def _size_str(n_bytes):
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024.0


def _out_shape(layer, model_nodes):
    from .layers.symbolic import map_structure
    nodes = [n for n in layer._inbound_nodes if id(n) in model_nodes] if model_nodes else \
        layer._inbound_nodes[:1]
    try:
        if nodes:
            shapes = [map_structure(lambda t: t.shape, n.outputs) for n in nodes]
            return shapes[0] if len(shapes) == 1 else shapes
        return layer.output_shape
    except Exception:
        return None


def _n_params(layer):
    return int(sum(int(np.prod(v.shape)) for v in layer.weights))


def _bytes(weights):
    return int(sum(int(np.prod(v.shape)) * v.dtype.itemsize for v in weights))


def _graph_nodes(model):
    """ids of the nodes that belong to ``model``'s own graph (None: take each layer's first)."""
    from .model import Functional, Sequential
    if isinstance(model, Functional):
        return {id(n) for n in model._nodes}
    if isinstance(model, Sequential) and model._graph is not None:
        # only the nodes of the model's own graph: the last node each layer got
        return {id(l._inbound_nodes[-1]) for l in model._layers if l._inbound_nodes}
    return None


def _rows(model, functional, show_trainable, expand_nested, depth=0):
    """The table rows of ``model``'s layers; with ``expand_nested`` each nested model's layers
    follow its row, indented with "└" as Keras does (their "Connected to" cell is empty)."""
    from .model import InputLayer
    model_nodes = _graph_nodes(model)
    rows = []
    for layer in model.layers:
        name = f"{layer.name} ({type(layer).__name__})"
        if depth:
            name = "   " * depth + "└ " + name
        shape = _fmt_shape(_out_shape(layer, model_nodes)) if (layer.built or
                                                              layer._inbound_nodes) else "?"
        params = f"{_n_params(layer):,}" if layer.built else "0 (unbuilt)"
        row = [name, shape, params]
        if functional:
            conns = []
            if not isinstance(layer, InputLayer) and not depth:
                for n in layer._inbound_nodes:
                    if id(n) not in model_nodes:
                        continue
                    for t in n.in_tensors:
                        src, ni, ti = t._history
                        conns.append(f"{src.name}[{ni}][{ti}]")
            row.append(", ".join(conns) if conns else ("" if depth else "-"))
        if show_trainable:
            row.append("-" if isinstance(layer, InputLayer) else
                       ("Y" if layer.trainable else "N"))
        rows.append(row)
        if expand_nested and hasattr(layer, "layers") and not isinstance(layer, InputLayer):
            rows.extend(_rows(layer, functional, show_trainable, True, depth + 1))
    return rows


def print_summary(model, line_length=None, print_fn=None, show_trainable=False,
                  expand_nested=False):
    """Print (or pass to ``print_fn`` line by line) the summary table of ``model``; with
    ``expand_nested`` the layers of nested models are listed under them, indented."""
    from .model import Functional
    print_fn = print_fn or print
    functional = isinstance(model, Functional)
    rows = _rows(model, functional, show_trainable, expand_nested)
    headers = ["Layer (type)", "Output Shape", "Param #"]
    if functional:
        headers.append("Connected to")
    if show_trainable:
        headers.append("Trainable")
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    widths = [w + 2 for w in widths]
    total_w = sum(widths) + len(widths) + 1
    if line_length and line_length > total_w:
        widths[0] += line_length - total_w
        total_w = line_length

    def line(cells):
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(" " + (c.rjust(w - 2) if i == 2 else c.ljust(w - 2)) + " ")
        return "|" + "|".join(out) + "|"

    sep = "+" + "+".join("-" * w for w in widths) + "+"
    print_fn(f'Model: "{model.name}"')
    print_fn(sep)
    print_fn(line(headers))
    print_fn(sep.replace("-", "="))
    for r in rows:
        print_fn(line(r))
    print_fn(sep)
    weights = model.weights
    trainable = model.trainable_weights
    tids = {id(v) for v in trainable}
    non_trainable = [v for v in weights if id(v) not in tids]
    n_total = int(sum(int(np.prod(v.shape)) for v in weights))
    n_tr = int(sum(int(np.prod(v.shape)) for v in trainable))
    n_nt = n_total - n_tr
    print_fn(f" Total params: {n_total:,} ({_size_str(_bytes(weights))})")
    print_fn(f" Trainable params: {n_tr:,} ({_size_str(_bytes(trainable))})")
    print_fn(f" Non-trainable params: {n_nt:,} ({_size_str(_bytes(non_trainable))})")
    opt = getattr(model, "optimizer", None)
    opt_vars = getattr(opt, "variables", None) if opt is not None else None
    if opt_vars and not callable(opt_vars):
        try:
            n_opt = int(sum(int(np.prod(v.shape)) for v in opt_vars))
            print_fn(f" Optimizer params: {n_opt:,} ({_size_str(_bytes(opt_vars))})")
        except Exception:
            pass


__all__ = ["print_summary"]
