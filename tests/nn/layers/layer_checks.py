"""Helpers shared by the layer tests: gradient checks of a layer's input and weights,
and config round trips."""
import json

import numpy as np

import lamina as lm
from lamina.testing import gradcheck


def _owners(layer, weights):
    out = []
    for w in weights:
        found = None
        for sub in layer._flatten_layers():
            for k, v in sub.__dict__.items():
                if v is w:
                    found = (sub, k)
                    break
            if found:
                break
        assert found is not None, f"weight {w.path} is not an attribute of a layer"
        out.append(found)
    return out


def gradcheck_layer(layer, inputs, training=False, atol=1e-5, rtol=1e-3):
    """gradcheck d(layer(x))/dx and d/d(weights), in float64 (the layer must be float64)."""
    xs = inputs if isinstance(inputs, list) else [inputs]
    layer([lm.tensor(x) for x in xs] if isinstance(inputs, list) else lm.tensor(xs[0]),
          training=training)
    ws = list(layer.trainable_weights)
    owners = _owners(layer, ws)
    n = len(xs)

    def f(*args):
        ins, wts = args[:n], args[n:]
        saved = [(o, k, o.__dict__[k]) for o, k in owners]
        for (o, k), t in zip(owners, wts):
            o.__dict__[k] = t
        try:
            return layer(list(ins) if isinstance(inputs, list) else ins[0], training=training)
        finally:
            for o, k, v in saved:
                o.__dict__[k] = v
    return gradcheck(f, list(xs) + [w.numpy() for w in ws], atol=atol, rtol=rtol,
                     name=type(layer).__name__)


def roundtrip(layer, inputs, custom_objects=None):
    """Rebuild ``layer`` from its JSON config, copy the weights, compare outputs."""
    from lamina.nn.serialization import serialize_layer, deserialize_layer
    y = layer(inputs, training=False)
    cfg = json.loads(json.dumps(serialize_layer(layer)))
    clone = deserialize_layer(cfg, custom_objects)
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config() | {"name": clone.name}
    clone(inputs, training=False)
    clone.set_weights(layer.get_weights())
    y2 = clone(inputs, training=False)
    for a, b in zip(_leaves(y), _leaves(y2)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    return clone


def _leaves(y):
    if isinstance(y, (list, tuple)):
        return list(y)
    if isinstance(y, dict):
        return list(y.values())
    return [y]
