"""Neural networks: layers, models, losses, metrics, optimizers and training."""
from . import functional  # noqa: E402,F401
from .variable import Variable  # noqa: F401
from . import layers  # noqa: F401
from .layers import Layer, InputSpec  # noqa: F401
from .model import Model, Sequential, Functional, Input, InputLayer  # noqa: F401
from .serialization import (register_serializable, serialize_layer,  # noqa: F401
                            deserialize_layer)
