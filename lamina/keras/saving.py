"""keras.saving: load_model/save_model (lamina.io) and the serialization registry
(lamina.nn.serialization), get_custom_objects."""
from ..io import load_model, save_model, save_weights, load_weights  # noqa: F401
from ..nn.serialization import (register_serializable as register_keras_serializable,  # noqa: F401
                                get_registered_object, get_registered_name,
                                custom_object_scope)
from ..nn.object_serialization import (serialize_keras_object,  # noqa: F401
                                       deserialize_keras_object)
from .utils import get_custom_objects  # noqa: F401

CustomObjectScope = custom_object_scope
