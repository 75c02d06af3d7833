"""keras.preprocessing: the ``text``, ``sequence`` and ``image`` submodules of the legacy
Keras preprocessing API, and ``image_dataset_from_directory``,
``text_dataset_from_directory`` and ``timeseries_dataset_from_array`` (the same functions as
in keras.utils, as Keras exposes them here too)."""
from . import image, sequence, text  # noqa: F401
from ...data.images import image_dataset_from_directory  # noqa: F401
from ...data.text_files import text_dataset_from_directory  # noqa: F401
from ...data.timeseries import timeseries_dataset_from_array  # noqa: F401

__all__ = ["image", "sequence", "text", "image_dataset_from_directory",
           "text_dataset_from_directory", "timeseries_dataset_from_array"]
