"""keras.optimizers.schedules: learning-rate schedules (re-exported from lamina.nn.schedules)."""
import importlib as _importlib

from ...nn.schedules import *  # noqa: F401,F403

_src = _importlib.import_module("lamina.nn.schedules")


def __getattr__(name):
    return getattr(_src, name)


def __dir__():
    return sorted(set(globals()) | set(dir(_src)))
