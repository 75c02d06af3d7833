"""Keras 3's public names over lamina's own layers, models and training (re-exports only).

``from lamina import keras`` then ``keras.layers.Dense``, ``keras.Sequential``,
``keras.optimizers.Adam``, ... as in Keras 3.  Submodules load on first use.
"""
from __future__ import annotations

import importlib

from .. import __version__  # noqa: F401

_SUBMODULES = ("layers", "models", "optimizers", "losses", "metrics", "callbacks", "utils",
               "ops", "initializers", "regularizers", "constraints", "activations", "datasets",
               "saving", "backend", "random", "config", "applications", "preprocessing",
               "mixed_precision", "dtype_policies")
_TOP = {"Input": ("..nn.model", "Input"), "Sequential": ("..nn.model", "Sequential"),
        "Model": ("..nn.model", "Model"), "Layer": ("..nn.layers.base", "Layer"),
        "Variable": ("..nn.variable", "Variable"), "KerasTensor": ("..nn.layers.symbolic",
                                                                   "KerasTensor"),
        "InputSpec": ("..nn.layers.base", "InputSpec"),
        "DTypePolicy": ("..nn.mixed_precision", "DTypePolicy"),
        "Optimizer": ("..nn.optimizers", "Optimizer"), "Loss": ("..nn.losses", "Loss"),
        "Metric": ("..nn.metrics", "Metric"), "Initializer": ("..nn.initializers",
                                                              "Initializer"),
        "Regularizer": ("..nn.regularizers", "Regularizer"),
        "register_keras_serializable": ("..nn.serialization", "register_serializable")}

__all__ = list(_SUBMODULES) + list(_TOP)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _TOP:
        mod, attr = _TOP[name]
        return getattr(importlib.import_module(mod, __name__), attr)
    raise AttributeError(f"module 'lamina.keras' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
