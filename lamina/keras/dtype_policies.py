"""keras.dtype_policies: DTypePolicy, FloatDTypePolicy, get, serialize, deserialize
(re-exported from lamina.nn.mixed_precision)."""
from ..nn.mixed_precision import (DTypePolicy, FloatDTypePolicy, get,  # noqa: F401
                                  serialize, deserialize)

__all__ = ["DTypePolicy", "FloatDTypePolicy", "get", "serialize", "deserialize"]
