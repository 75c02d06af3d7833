"""``keras.applications``-compatible constructors: ResNet50 and VGG16 with Keras's layer
names, weight shapes and parameter counts (ResNet50: 25,636,712 parameters, 53,120 of them
non-trainable; VGG16: 138,357,544), plus ``preprocess_input`` and ``decode_predictions``.

No download is possible: ``weights`` is None or the path of a local weights file (saved by
``model.save_weights``); ``decode_predictions`` reads a local class-index JSON file in
Keras's ``imagenet_class_index.json`` format.
"""
from __future__ import annotations

import json
import os

import numpy as np

__all__ = ["ResNet50", "VGG16", "preprocess_input", "decode_predictions"]

_CAFFE_MEAN = np.array([103.939, 116.779, 123.68], dtype=np.float32)   # BGR


def _input(input_shape, include_top, who):
    from ..keras import Input
    if input_shape is None:
        input_shape = (224, 224, 3) if include_top else (None, None, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"{who}: input_shape must be (height, width, 3), got {input_shape}")
    if include_top and None in input_shape:
        raise ValueError(f"{who}: include_top=True needs a fixed input_shape, got "
                         f"{input_shape}")
    return Input(shape=input_shape)


def _check_weights(weights, who):
    if weights is None:
        return
    if weights == "imagenet":
        raise ValueError(f"{who}: weights='imagenet' needs a download, which lamina does not "
                         "do; convert the weights to a local file and pass its path")
    if not os.path.exists(weights):
        raise ValueError(f"{who}: weights must be None or the path of a weights file; "
                         f"{weights!r} does not exist")


def _head(x, include_top, pooling, classes, classifier_activation, flatten, who):
    from ..keras import layers as L
    if include_top:
        if flatten:
            x = L.Flatten(name="flatten")(x)
            x = L.Dense(4096, activation="relu", name="fc1")(x)
            x = L.Dense(4096, activation="relu", name="fc2")(x)
        else:
            x = L.GlobalAveragePooling2D(name="avg_pool")(x)
        return L.Dense(classes, activation=classifier_activation, name="predictions")(x)
    if pooling == "avg":
        return L.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return L.GlobalMaxPooling2D(name="max_pool")(x)
    if pooling is not None:
        raise ValueError(f"{who}: pooling must be None, 'avg' or 'max', got {pooling!r}")
    return x


def _bottleneck(x, filters, stride, conv_shortcut, name):
    """ResNet v1 bottleneck: 1x1 (strided) -> 3x3 -> 1x1 (4 * filters), plus a shortcut."""
    from ..keras import layers as L

    def bn(n):
        return L.BatchNormalization(axis=3, epsilon=1.001e-5, name=n)
    if conv_shortcut:
        shortcut = L.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = bn(f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = L.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = L.Activation("relu", name=f"{name}_1_relu")(bn(f"{name}_1_bn")(x))
    x = L.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = L.Activation("relu", name=f"{name}_2_relu")(bn(f"{name}_2_bn")(x))
    x = L.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = bn(f"{name}_3_bn")(x)
    x = L.Add(name=f"{name}_add")([shortcut, x])
    return L.Activation("relu", name=f"{name}_out")(x)


def ResNet50(include_top=True, weights=None, input_tensor=None, input_shape=None,
             pooling=None, classes=1000, classifier_activation="softmax", name="resnet50"):
    """ResNet-50 v1 (He et al. 2015) as Keras builds it: (N, H, W, 3) -> (N, classes), or
    feature maps (N, H/32, W/32, 2048) without the top (pooled with ``pooling``)."""
    from ..keras import Model, layers as L
    who = "ResNet50"
    _check_weights(weights, who)
    inp = input_tensor if input_tensor is not None else _input(input_shape, include_top, who)
    x = L.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(inp)
    x = L.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = L.BatchNormalization(axis=3, epsilon=1.001e-5, name="conv1_bn")(x)
    x = L.Activation("relu", name="conv1_relu")(x)
    x = L.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = L.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, filters, blocks, stride in ((2, 64, 3, 1), (3, 128, 4, 2), (4, 256, 6, 2),
                                           (5, 512, 3, 2)):
        x = _bottleneck(x, filters, stride, True, f"conv{stage}_block1")
        for b in range(2, blocks + 1):
            x = _bottleneck(x, filters, 1, False, f"conv{stage}_block{b}")
    x = _head(x, include_top, pooling, classes, classifier_activation, False, who)
    model = Model(inp, x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


def VGG16(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
          classes=1000, classifier_activation="softmax", name="vgg16"):
    """VGG-16 (Simonyan & Zisserman 2014) as Keras builds it: 13 3x3 convolutions in 5
    blocks with max pooling, then fc1/fc2 (4096) and the classifier."""
    from ..keras import Model, layers as L
    who = "VGG16"
    _check_weights(weights, who)
    inp = input_tensor if input_tensor is not None else _input(input_shape, include_top, who)
    x = inp
    for block, (filters, convs) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3),
                                              (512, 3)), start=1):
        for i in range(1, convs + 1):
            x = L.Conv2D(filters, 3, padding="same", activation="relu",
                         name=f"block{block}_conv{i}")(x)
        x = L.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
    x = _head(x, include_top, pooling, classes, classifier_activation, True, who)
    model = Model(inp, x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


def preprocess_input(x, data_format=None):
    """Keras's 'caffe' preprocessing for ResNet50/VGG16: RGB -> BGR, then subtract the
    ImageNet channel means; ``x`` (..., H, W, 3) in [0, 255]."""
    arr = np.asarray(x, dtype=np.float32)
    if data_format == "channels_first":
        return arr[..., ::-1, :, :] - _CAFFE_MEAN[:, None, None]
    if arr.shape[-1] != 3:
        raise ValueError(f"preprocess_input: expected 3 channels last, got shape {arr.shape}")
    return arr[..., ::-1] - _CAFFE_MEAN


def decode_predictions(preds, top=5, class_index_path=None):
    """The ``top`` classes of each row of ``preds`` (N, classes) as lists of
    (class_id, class_name, score), names from a local ``imagenet_class_index.json``
    (``{"0": ["n01440764", "tench"], ...}``) at ``class_index_path``."""
    if class_index_path is None or not os.path.exists(class_index_path):
        raise ValueError("decode_predictions: pass class_index_path=, a local copy of "
                         "Keras's imagenet_class_index.json (lamina does not download it)")
    with open(class_index_path) as f:
        index = json.load(f)
    p = np.asarray(preds)
    if p.ndim != 2 or p.shape[1] != len(index):
        raise ValueError(f"decode_predictions: expected predictions of shape (N, "
                         f"{len(index)}), got {p.shape}")
    out = []
    for row in p:
        best = np.argsort(row)[::-1][:top]
        out.append([(index[str(i)][0], index[str(i)][1], float(row[i])) for i in best])
    return out
