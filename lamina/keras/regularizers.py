"""keras.regularizers: weight regularizers (re-exported from lamina.nn.regularizers)."""
import importlib as _importlib

from ..nn.regularizers import *  # noqa: F401,F403

_src = _importlib.import_module("lamina.nn.regularizers")


def __getattr__(name):
    return getattr(_src, name)


def __dir__():
    return sorted(set(globals()) | set(dir(_src)))
