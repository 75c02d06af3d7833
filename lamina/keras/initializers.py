"""keras.initializers: weight initializers (re-exported from lamina.nn.initializers)."""
import importlib as _importlib

from ..nn.initializers import *  # noqa: F401,F403

_src = _importlib.import_module("lamina.nn.initializers")


def __getattr__(name):
    return getattr(_src, name)


def __dir__():
    return sorted(set(globals()) | set(dir(_src)))
