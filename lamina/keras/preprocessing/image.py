"""keras.preprocessing.image: ``load_img``, ``img_to_array`` and
``image_dataset_from_directory`` (re-exported from lamina.data.images)."""
from ...data.images import image_dataset_from_directory, img_to_array, load_img  # noqa: F401

__all__ = ["load_img", "img_to_array", "image_dataset_from_directory"]
