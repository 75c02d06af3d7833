"""keras.metrics: metric functions and stateful metric classes (re-exported from
lamina.nn.metrics)."""
import importlib as _importlib

from ..nn.metrics import *  # noqa: F401,F403

_src = _importlib.import_module("lamina.nn.metrics")


def __getattr__(name):
    return getattr(_src, name)


def __dir__():
    return sorted(set(globals()) | set(dir(_src)))
