"""lamina's layers (Keras 3 names); ``lamina.keras.layers`` re-exports them."""
from __future__ import annotations

import importlib as _importlib

from .base import (Layer, InputSpec, reset_uids, clear_session, set_mask,  # noqa: F401
                   get_mask)
from .symbolic import KerasTensor  # noqa: F401
from .core import (Dense, Activation, Dropout, Flatten, Reshape, Permute,  # noqa: F401
                   RepeatVector, Identity, Lambda, Masking, Embedding, _SymbolicOp,
                   _SymbolicGetItem, _SymbolicFn, symbolic_call, symbolic_aware)
from .merge import (Add, Subtract, Multiply, Average, Maximum, Minimum,  # noqa: F401
                    Concatenate, Dot, add, subtract, multiply, average, maximum, minimum,
                    concatenate, dot)
from .normalization import (BatchNormalization, LayerNormalization,  # noqa: F401
                            GroupNormalization, UnitNormalization, RMSNormalization)
from .activation import ReLU, LeakyReLU, ELU, PReLU, Softmax  # noqa: F401
from .noise import (GaussianNoise, GaussianDropout, ActivityRegularization,  # noqa: F401
                    AlphaDropout)
from ..serialization import register_class as _register_class

_register_class(_SymbolicOp, "_SymbolicOp")
_register_class(_SymbolicGetItem, "_SymbolicGetItem")
_register_class(_SymbolicFn, "_SymbolicFn")

__all__ = ["Layer", "InputSpec", "KerasTensor", "Dense", "Activation", "Dropout", "Flatten",
           "Reshape", "Permute", "RepeatVector", "Identity", "Lambda", "Masking", "Embedding",
           "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot",
           "BatchNormalization", "LayerNormalization", "ReLU", "LeakyReLU", "ELU", "PReLU",
           "Softmax", "GaussianNoise", "GaussianDropout", "ActivityRegularization",
           "AlphaDropout", "GroupNormalization", "UnitNormalization", "RMSNormalization",
           "reset_uids", "clear_session"]

# Layers written by other parts of lamina (convolution, recurrent, attention) live in
# sibling modules; each is re-exported here when present.
for _mod in ("conv", "convolutional", "pooling", "recurrent", "conv_recurrent", "attention",
             "preprocessing", "reshaping", "text", "structured", "lookup", "hashing",
             "einsum_dense", "grouped_attention", "pipeline", "augmentation",
             "adaptive_pooling", "wrappers", "reversible_embedding", "crossing",
             "augment_policies", "audio"):
    try:
        _m = _importlib.import_module(f".{_mod}", __name__)
    except ModuleNotFoundError as _e:
        if _e.name != f"{__name__}.{_mod}":
            raise
        continue
    for _n in getattr(_m, "__all__", ()):
        globals()[_n] = getattr(_m, _n)
        if _n not in __all__:
            __all__.append(_n)
from .text import TextVectorization  # noqa: E402,F401
__all__.append("TextVectorization")


def serialize(layer):
    """``keras.layers.serialize``: the layer's dict ``{"module", "class_name", "config",
    "registered_name"[, "build_config"]}`` in Keras 3's format (see
    :func:`lamina.nn.serialization.serialize_layer`)."""
    from ..serialization import serialize_layer
    return serialize_layer(layer)


def deserialize(config, custom_objects=None):
    """``keras.layers.deserialize``: a new layer from :func:`serialize`'s dict (or one
    written by Keras), classes looked up in ``custom_objects`` then the registry; a config
    that does not describe a layer raises ValueError."""
    from ..serialization import deserialize_layer
    obj = deserialize_layer(config, custom_objects=custom_objects)
    if not isinstance(obj, Layer):
        raise ValueError(f"keras.layers.deserialize: the config does not describe a layer "
                         f"(it gives a {type(obj).__name__}): {config!r}")
    return obj


__all__ += ["serialize", "deserialize"]
