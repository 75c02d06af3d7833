"""keras.models: Model, Sequential, load_model, clone_model, model_from_json (re-exported
from lamina.nn.model, lamina.nn.cloning and lamina.io)."""
import importlib as _importlib

from ..nn.model import Model, Sequential, Functional, Input  # noqa: F401
from ..nn.cloning import clone_model, model_from_json  # noqa: F401
from ..io import load_model, save_model  # noqa: F401

_src = _importlib.import_module("lamina.nn.model")


def __getattr__(name):
    return getattr(_src, name)
