"""keras.optimizers: SGD, Adam, AdamW, RMSprop, ... and ``schedules`` (re-exported from
lamina.nn.optimizers and lamina.nn.schedules)."""
import importlib as _importlib

from ...nn.optimizers import *  # noqa: F401,F403
from . import schedules  # noqa: F401

_src = _importlib.import_module("lamina.nn.optimizers")


def __getattr__(name):
    return getattr(_src, name)


def __dir__():
    return sorted(set(globals()) | set(dir(_src)))
