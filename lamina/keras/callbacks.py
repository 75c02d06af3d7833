"""keras.callbacks: training callbacks (re-exported from lamina.nn.callbacks)."""
import importlib as _importlib

from ..nn.callbacks import *  # noqa: F401,F403

_src = _importlib.import_module("lamina.nn.callbacks")


def __getattr__(name):
    return getattr(_src, name)


def __dir__():
    return sorted(set(globals()) | set(dir(_src)))
