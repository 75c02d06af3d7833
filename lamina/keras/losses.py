"""keras.losses: losses as functions and classes (re-exported from lamina.nn.losses)."""
import importlib as _importlib

from ..nn.losses import *  # noqa: F401,F403

_src = _importlib.import_module("lamina.nn.losses")


def __getattr__(name):
    return getattr(_src, name)


def __dir__():
    return sorted(set(globals()) | set(dir(_src)))
