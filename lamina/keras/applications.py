"""keras.applications: ResNet50, VGG16 and MobileNetV2 (re-exported from
lamina.nn.applications), also under their Keras submodule names ``resnet50``, ``vgg16`` and
``mobilenet_v2``."""
from types import SimpleNamespace as _NS

from ..nn.applications import (ResNet50, VGG16, MobileNetV2, preprocess_input,  # noqa: F401
                               preprocess_input_tf, decode_predictions)

resnet50 = _NS(ResNet50=ResNet50, preprocess_input=preprocess_input,
               decode_predictions=decode_predictions)
vgg16 = _NS(VGG16=VGG16, preprocess_input=preprocess_input,
            decode_predictions=decode_predictions)
resnet = resnet50
mobilenet_v2 = _NS(MobileNetV2=MobileNetV2, preprocess_input=preprocess_input_tf,
                   decode_predictions=decode_predictions)
