"""keras.activations: activation functions (re-exported from lamina.nn.activations)."""
import importlib as _importlib

from ..nn.activations import *  # noqa: F401,F403

_src = _importlib.import_module("lamina.nn.activations")


def __getattr__(name):
    return getattr(_src, name)


def __dir__():
    return sorted(set(globals()) | set(dir(_src)))
