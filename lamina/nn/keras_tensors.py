"""Questions about symbolic tensors: ``is_keras_tensor`` and ``get_source_inputs``, as in
``keras.utils``."""
from __future__ import annotations

from .layers.symbolic import KerasTensor

__all__ = ["is_keras_tensor", "get_source_inputs"]


def is_keras_tensor(x):
    """True when ``x`` is a symbolic tensor of a functional graph (from ``keras.Input`` or
    a layer called on one), False for concrete tensors, arrays and anything else."""
    return isinstance(x, KerasTensor)


def get_source_inputs(tensor):
    """The list of ``Input`` tensors that ``tensor`` is computed from (each once, in the
    order first met walking the graph back); a non-symbolic ``tensor`` is returned as it
    is, as Keras does."""
    if not isinstance(tensor, KerasTensor):
        return tensor
    history = tensor._history
    if history is None or history[0] is None or not history[0]._inbound_nodes:
        return [tensor]
    layer, node_index, _ = history
    node = layer._inbound_nodes[node_index]
    if not node.in_tensors:              # an InputLayer's node: the graph starts here
        return list(node.out_tensors)
    sources = []
    for t in node.in_tensors:
        for s in get_source_inputs(t):
            if all(s is not u for u in sources):
                sources.append(s)
    return sources
