"""keras.applications: ResNet50 and VGG16 (re-exported from lamina.nn.applications), also
under their Keras submodule names ``resnet50`` and ``vgg16``."""
from types import SimpleNamespace as _NS

from ..nn.applications import ResNet50, VGG16, preprocess_input, decode_predictions  # noqa: F401

resnet50 = _NS(ResNet50=ResNet50, preprocess_input=preprocess_input,
               decode_predictions=decode_predictions)
vgg16 = _NS(VGG16=VGG16, preprocess_input=preprocess_input,
            decode_predictions=decode_predictions)
resnet = resnet50
