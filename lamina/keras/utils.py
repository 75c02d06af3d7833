"""keras.utils: to_categorical, normalize, set_random_seed, PyDataset/Sequence, Progbar and
plot_history (re-exported from lamina.data, lamina.random and lamina.nn)."""
from ..data.utils import to_categorical, normalize  # noqa: F401
from ..data.plotting import plot_history, plot_model  # noqa: F401
from ..random import seed as set_random_seed  # noqa: F401
from ..nn.data_adapter import (PyDataset, Sequence, pack_x_y_sample_weight,  # noqa: F401
                               unpack_x_y_sample_weight)
from ..nn.progbar import Progbar  # noqa: F401
from ..nn.serialization import (register_serializable as register_keras_serializable,  # noqa: F401
                                get_registered_object, get_registered_name,
                                custom_object_scope)
from ..data.datasets import get_file  # noqa: F401
from ..text import pad_sequences  # noqa: F401,E402
from ..data.images import image_dataset_from_directory, load_img, img_to_array  # noqa: F401,E402
