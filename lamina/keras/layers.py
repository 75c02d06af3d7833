"""keras.layers: every public layer of lamina.nn.layers (re-exported, including layers
other parts of lamina add later), plus Input and InputLayer."""
import importlib as _importlib

from ..nn.layers import *  # noqa: F401,F403
from ..nn.model import Input, InputLayer  # noqa: F401

_src = _importlib.import_module("lamina.nn.layers")


def __getattr__(name):
    return getattr(_src, name)


def __dir__():
    return sorted(set(globals()) | set(dir(_src)))
