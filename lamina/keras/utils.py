"""keras.utils: datasets from arrays and directories, array helpers, seeds, PyDataset,
Progbar, serialization and image helpers (re-exported from lamina.data, lamina.random and
lamina.nn)."""
from ..data.utils import to_categorical, normalize, split_dataset  # noqa: F401
from ..data.plotting import plot_history, plot_model  # noqa: F401
from ..random import seed as set_random_seed  # noqa: F401
from ..nn.data_adapter import (PyDataset, Sequence, pack_x_y_sample_weight,  # noqa: F401
                               unpack_x_y_sample_weight)
from ..nn.progbar import (Progbar, enable_interactive_logging,  # noqa: F401
                          disable_interactive_logging, is_interactive_logging_enabled)
from ..nn.serialization import (register_serializable as register_keras_serializable,  # noqa: F401
                                get_registered_object, get_registered_name,
                                custom_object_scope)
from ..nn.object_serialization import (serialize_keras_object,  # noqa: F401
                                       deserialize_keras_object)
from ..nn.keras_tensors import get_source_inputs, is_keras_tensor  # noqa: F401
from ..data.datasets import get_file  # noqa: F401
from ..text import pad_sequences  # noqa: F401,E402
from ..data.images import (image_dataset_from_directory, load_img, img_to_array,  # noqa: F401
                           array_to_img, save_img)
from ..data.text_files import text_dataset_from_directory  # noqa: F401
from ..data.timeseries import timeseries_dataset_from_array  # noqa: F401
from .backend import clear_session, standardize_dtype  # noqa: F401

CustomObjectScope = custom_object_scope


def get_custom_objects():
    """The global dict of custom objects (name -> class or function) that loading looks
    names up in, as ``keras.utils.get_custom_objects``: classes registered with
    ``register_keras_serializable`` are in it (as ``'package>Name'``), and entries added
    to it by hand are found when loading."""
    from ..nn import serialization
    return serialization._GLOBAL_CUSTOM
