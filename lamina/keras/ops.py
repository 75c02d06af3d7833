"""keras.ops: Keras 3's op names (from lamina.nn.keras_ops); any other name falls through
to ``lamina``'s own op of that name.  ``sum``, ``max``, ``min``, ``abs``, ``round`` and
``slice`` shadow the builtins on purpose (Keras's names)."""
import lamina as _lm
from ..nn.keras_ops import *  # noqa: F401,F403


def __getattr__(name):
    return getattr(_lm, name)
