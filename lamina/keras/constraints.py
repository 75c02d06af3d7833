"""keras.constraints: weight constraints (re-exported from lamina.nn.constraints)."""
import importlib as _importlib

from ..nn.constraints import *  # noqa: F401,F403

_src = _importlib.import_module("lamina.nn.constraints")


def __getattr__(name):
    return getattr(_src, name)


def __dir__():
    return sorted(set(globals()) | set(dir(_src)))
