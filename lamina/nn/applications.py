"""``keras.applications``-compatible constructors: ResNet50, VGG16 and MobileNetV2 with
Keras's layer names, weight shapes and parameter counts (ResNet50: 25,636,712 parameters,
53,120 of them non-trainable; VGG16: 138,357,544; MobileNetV2: 3,538,984), plus
``preprocess_input`` and ``decode_predictions``.

No download is possible: ``weights`` is None or the path of a local weights file (saved by
``model.save_weights``); ``decode_predictions`` reads a local class-index JSON file in
Keras's ``imagenet_class_index.json`` format.
"""
from __future__ import annotations

import json
import os

import numpy as np

__all__ = ["ResNet50", "VGG16", "MobileNetV2", "preprocess_input", "preprocess_input_tf",
           "decode_predictions"]

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


def _divisible(v, divisor=8):
    """``v`` rounded to the nearest multiple of ``divisor`` (at least ``divisor``), moved
    up a step when rounding lost more than 10% (MobileNet's channel rule)."""
    out = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * v else out


def _stride2_pad(x):
    """Keras's ``correct_pad`` for a 3x3 stride-2 window: one pixel on the bottom/right,
    and on the top/left too where the size is odd (or unknown)."""
    h, w = x.shape[1], x.shape[2]
    top = 0 if h is not None and h % 2 == 0 else 1
    left = 0 if w is not None and w % 2 == 0 else 1
    return ((top, 1), (left, 1))


# MobileNetV2's inverted residual blocks: (output filters, stride, expansion), blocks 0-16
_MOBILENET_V2_BLOCKS = ([(16, 1, 1)] + [(24, 2, 6), (24, 1, 6)] + [(32, 2, 6)] +
                        [(32, 1, 6)] * 2 + [(64, 2, 6)] + [(64, 1, 6)] * 3 +
                        [(96, 1, 6)] * 3 + [(160, 2, 6)] + [(160, 1, 6)] * 2 + [(320, 1, 6)])


def _inverted_residual(x, filters, stride, expansion, alpha, block_id):
    """Expand (1x1, ReLU6) -> depthwise 3x3 (ReLU6) -> project (1x1, linear), plus the input
    when shapes allow; Keras's layer names (block_<i>_..., expanded_conv_... for block 0)."""
    from ..keras import layers as L

    def bn(n):
        return L.BatchNormalization(epsilon=1e-3, momentum=0.999, name=n)
    inputs, in_ch = x, x.shape[-1]
    out_ch = _divisible(int(filters * alpha))
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    if block_id:
        x = L.Conv2D(expansion * in_ch, 1, padding="same", use_bias=False,
                     name=f"{prefix}expand")(x)
        x = L.ReLU(6.0, name=f"{prefix}expand_relu")(bn(f"{prefix}expand_BN")(x))
    if stride == 2:
        x = L.ZeroPadding2D(padding=_stride2_pad(x), name=f"{prefix}pad")(x)
    x = L.DepthwiseConv2D(3, strides=stride, use_bias=False,
                          padding="same" if stride == 1 else "valid",
                          name=f"{prefix}depthwise")(x)
    x = L.ReLU(6.0, name=f"{prefix}depthwise_relu")(bn(f"{prefix}depthwise_BN")(x))
    x = L.Conv2D(out_ch, 1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = bn(f"{prefix}project_BN")(x)
    if in_ch == out_ch and stride == 1:
        return L.Add(name=f"{prefix}add")([inputs, x])
    return x


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights=None,
                input_tensor=None, pooling=None, classes=1000, classifier_activation="softmax",
                name=None):
    """MobileNetV2 (Sandler et al. 2018) as Keras builds it: a 3x3 stride-2 stem, 17
    inverted residual blocks with ReLU6 and linear bottlenecks, a 1x1 conv to 1280 channels;
    (N, H, W, 3) -> (N, classes), or (N, H/32, W/32, 1280) features without the top.
    ``alpha`` scales every width (1.0: 3,538,984 parameters with the top)."""
    from ..keras import Model, layers as L
    who = "MobileNetV2"
    _check_weights(weights, who)
    inp = input_tensor if input_tensor is not None else _input(input_shape, include_top, who)
    rows = inp.shape[1]
    x = L.Conv2D(_divisible(32 * alpha), 3, strides=2, padding="same", use_bias=False,
                 name="Conv1")(inp)
    x = L.BatchNormalization(epsilon=1e-3, momentum=0.999, name="bn_Conv1")(x)
    x = L.ReLU(6.0, name="Conv1_relu")(x)
    for i, (filters, stride, expansion) in enumerate(_MOBILENET_V2_BLOCKS):
        x = _inverted_residual(x, filters, stride, expansion, alpha, i)
    # the last conv is widened for alpha > 1 but never narrowed (as in the paper)
    x = L.Conv2D(_divisible(1280 * alpha) if alpha > 1.0 else 1280, 1, use_bias=False,
                 name="Conv_1")(x)
    x = L.BatchNormalization(epsilon=1e-3, momentum=0.999, name="Conv_1_bn")(x)
    x = L.ReLU(6.0, name="out_relu")(x)
    if include_top:
        x = L.GlobalAveragePooling2D()(x)
        x = L.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = L.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = L.GlobalMaxPooling2D()(x)
    elif pooling is not None:
        raise ValueError(f"{who}: pooling must be None, 'avg' or 'max', got {pooling!r}")
    model = Model(inp, x, name=name or f"mobilenetv2_{alpha:0.2f}_{rows}")
    if weights is not None:
        model.load_weights(weights)
    return model


def preprocess_input_tf(x, data_format=None):
    """Pixels in [0, 255] -> [-1, 1] (the "tf" mode that MobileNetV2 uses): x / 127.5 - 1."""
    return np.asarray(x, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)


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
