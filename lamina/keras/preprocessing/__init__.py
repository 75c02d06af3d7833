"""keras.preprocessing: the ``text``, ``sequence`` and ``image`` submodules of the legacy
Keras preprocessing API and ``image_dataset_from_directory`` (re-exports of lamina.text and
lamina.data.images)."""
from . import image, sequence, text  # noqa: F401
from ...data.images import image_dataset_from_directory  # noqa: F401

__all__ = ["image", "sequence", "text", "image_dataset_from_directory"]
