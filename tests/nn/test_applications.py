"""keras.applications constructors: Keras's parameter counts and layer names (against real
Keras when installed), include_top / pooling / classes, loading a weights file the test
writes, preprocess_input and decode_predictions."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from lamina.nn import applications as A


@pytest.mark.slow
def test_resnet50_counts_match_keras():
    m = A.ResNet50()
    assert m.count_params() == 25_636_712
    assert sum(int(w.size) for w in m.non_trainable_weights) == 53_120
    assert m.output_shape == (None, 1000)
    f = A.ResNet50(include_top=False, input_shape=(64, 64, 3), pooling="avg")
    assert f.count_params() == 25_636_712 - 2048 * 1000 - 1000
    assert f.output_shape == (None, 2048)


@pytest.mark.slow
def test_vgg16_count_matches_keras():
    assert A.VGG16().count_params() == 138_357_544


@pytest.mark.slow
def test_layer_names_and_weight_shapes_match_real_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    for make_l, make_k in ((lambda: A.ResNet50(include_top=False, input_shape=(64, 64, 3)),
                            lambda: keras.applications.ResNet50(
                                weights=None, include_top=False, input_shape=(64, 64, 3))),
                           (lambda: A.VGG16(include_top=False, input_shape=(32, 32, 3)),
                            lambda: keras.applications.VGG16(
                                weights=None, include_top=False, input_shape=(32, 32, 3)))):
        lm_model, k_model = make_l(), make_k()
        # the same layers, with the same weight shapes (list order may differ: each
        # framework sorts a functional graph's layers its own way)
        # input layers are left out: their auto-names count the session's earlier inputs
        ours = {la.name: [tuple(w.shape) for w in la.weights] for la in lm_model.layers
                if type(la).__name__ != "InputLayer"}
        theirs = {la.name: [tuple(w.shape) for w in la.weights] for la in k_model.layers
                  if type(la).__name__ != "InputLayer"}
        assert ours == theirs
        # the same function: Keras's layers given lamina's weights compute the same output
        for la in lm_model.layers:
            if la.weights:
                k_model.get_layer(la.name).set_weights(la.get_weights())
        x = np.random.default_rng(1).uniform(0, 255, (1,) + k_model.input_shape[1:])
        x = A.preprocess_input(x.astype(np.float32))
        np.testing.assert_allclose(lm_model.predict(x, verbose=0),
                                   keras.ops.convert_to_numpy(k_model(x)), rtol=2e-3,
                                   atol=2e-3)


@pytest.mark.slow
def test_vgg16_features_weights_file_and_heads(tmp_path):
    m = A.VGG16(include_top=False, input_shape=(32, 32, 3), pooling="max")
    assert m.count_params() == 14_714_688 and m.output_shape == (None, 512)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    y = m.predict(A.preprocess_input(x), verbose=0)
    path = str(tmp_path / "vgg16_notop.weights.h5")
    m.save_weights(path)
    again = A.VGG16(include_top=False, input_shape=(32, 32, 3), pooling="max", weights=path)
    np.testing.assert_allclose(again.predict(A.preprocess_input(x), verbose=0), y, rtol=1e-5)
    with pytest.raises(ValueError, match="download"):
        A.VGG16(weights="imagenet")
    with pytest.raises(ValueError, match="pooling must be"):
        A.VGG16(include_top=False, input_shape=(32, 32, 3), pooling="sum")


def test_preprocess_and_decode(tmp_path):
    x = np.zeros((1, 2, 2, 3), np.float32)
    x[..., 0] = 255.0                                   # pure red
    p = A.preprocess_input(x)
    np.testing.assert_allclose(p[0, 0, 0], [-103.939, -116.779, 255.0 - 123.68], rtol=1e-6)
    idx = {str(i): [f"n{i:08d}", f"class{i}"] for i in range(4)}
    path = tmp_path / "imagenet_class_index.json"
    path.write_text(json.dumps(idx))
    out = A.decode_predictions(np.array([[0.1, 0.6, 0.05, 0.25]]), top=2,
                               class_index_path=str(path))
    assert [(c, n) for c, n, _ in out[0]] == [("n00000001", "class1"), ("n00000003", "class3")]
    assert out[0][0][2] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="class_index_path"):
        A.decode_predictions(np.zeros((1, 4)))


def test_argument_errors_before_building():
    with pytest.raises(ValueError, match="does not exist"):
        A.ResNet50(weights="/nonexistent/resnet50.weights.h5")
    with pytest.raises(ValueError, match=r"input_shape must be \(height, width, 3\)"):
        A.ResNet50(input_shape=(64, 64))
    with pytest.raises(ValueError, match="fixed input_shape"):
        A.VGG16(input_shape=(None, None, 3))


def test_mobilenet_v2_counts_names_and_widths():
    m = A.MobileNetV2()
    assert m.count_params() == 3_538_984 and m.name == "mobilenetv2_1.00_224"
    assert m.output_shape == (None, 1000)
    assert [l.name for l in m.layers[1:4]] == ["Conv1", "bn_Conv1", "Conv1_relu"]
    small = A.MobileNetV2(alpha=0.5, include_top=False, input_shape=(96, 96, 3),
                          pooling="avg")
    assert small.count_params() == 706_224 and small.output_shape == (None, 1280)
    assert A._divisible(32 * 0.35) == 16 and A._divisible(20) == 24 and A._divisible(4) == 8
    np.testing.assert_allclose(A.preprocess_input_tf(np.array([0.0, 127.5, 255.0])),
                               [-1.0, 0.0, 1.0])


def test_mobilenet_v2_matches_real_keras():
    """Same layers, weight shapes and outputs as keras.applications.MobileNetV2 with its
    weights copied in (odd input size: the stride-2 padding rule), and its .weights.h5."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    kw = dict(alpha=0.35, input_shape=(33, 33, 3), classes=7)
    theirs, ours = keras.applications.MobileNetV2(weights=None, **kw), A.MobileNetV2(**kw)
    # input layers left out and the unnamed pooling layer's name not compared: auto-names
    # count the session's earlier layers
    def names(m):
        return [("global" if l.name.startswith("global_") else l.name, type(l).__name__)
                for l in m.layers[1:]]
    assert names(ours) == names(theirs)
    ours.set_weights([keras.ops.convert_to_numpy(w) for w in theirs.weights])
    x = np.random.default_rng(0).uniform(0, 255, (2, 33, 33, 3)).astype(np.float32)
    x = A.preprocess_input_tf(x)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)
