"""keras.ops: Keras 3's op names (from lamina.nn.keras_ops), and the namespaces
``keras.ops.image``, ``keras.ops.nn``, ``keras.ops.numpy`` and ``keras.ops.linalg`` with
exactly Keras's names there.  Any other name falls through to ``lamina``'s own op of
that name.  ``sum``, ``max``, ``min``, ``abs``, ``round`` and ``slice`` shadow the builtins
on purpose (Keras's names)."""
import importlib as _importlib

import lamina as _lm
from ...nn.keras_ops import *  # noqa: F401,F403

# the namespaces, bound here so that they win over the fall-through (``nn`` would
# otherwise be lamina.nn)
image, linalg, nn, numpy = (_importlib.import_module(f".{m}", __name__)
                            for m in ("image", "linalg", "nn", "numpy"))


def __getattr__(name):
    return getattr(_lm, name)
