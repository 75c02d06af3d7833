"""keras.layers.serialize / keras.layers.deserialize: Keras's dict format, JSON round trips
of several kinds of layers (same class, config and outputs), custom objects, and the
error for a config that is not a layer."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lamina import keras
from lamina.nn import layers as L
from lamina.nn.serialization import register_serializable

rng = np.random.default_rng(2)

CASES = {
    "Dense": (lambda: L.Dense(3, activation="relu", kernel_regularizer="l2"),
              rng.standard_normal((2, 4)).astype(np.float32)),
    "Conv2D": (lambda: L.Conv2D(2, 3, strides=2, padding="same"),
               rng.standard_normal((1, 6, 6, 3)).astype(np.float32)),
    "LSTM": (lambda: L.LSTM(3, return_sequences=True, go_backwards=True),
             rng.standard_normal((2, 5, 4)).astype(np.float32)),
    "BatchNormalization": (lambda: L.BatchNormalization(momentum=0.9),
                           rng.standard_normal((3, 4)).astype(np.float32)),
    "ReversibleEmbedding": (lambda: L.ReversibleEmbedding(9, 4, tie_weights=False),
                            rng.integers(0, 9, (2, 3))),
    "HashedCrossing": (lambda: L.HashedCrossing(6, output_mode="one_hot"),
                       (np.array(["a", "b"]), np.array([1, 2]))),
    "RandAugment": (lambda: L.RandAugment(num_ops=3, seed=1),
                    rng.uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)),
}


def test_facade_exports_keras_signatures():
    import inspect
    assert keras.layers.serialize is L.serialize
    assert keras.layers.deserialize is L.deserialize
    assert list(inspect.signature(keras.layers.serialize).parameters) == ["layer"]
    assert list(inspect.signature(keras.layers.deserialize).parameters) == [
        "config", "custom_objects"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip_through_json(name):
    make, x = CASES[name]
    layer = make()
    y = layer(x, training=False)
    cfg = keras.layers.serialize(layer)
    assert set(cfg) >= {"module", "class_name", "config", "registered_name"}
    assert cfg["module"] == "keras.layers" and cfg["class_name"] == name
    assert cfg["registered_name"] is None
    clone = keras.layers.deserialize(json.loads(json.dumps(cfg)))
    assert type(clone) is type(layer) and clone is not layer
    assert clone.get_config() == layer.get_config()
    if layer.weights:
        assert clone.built                       # built from build_config
        clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x, training=False).numpy(), y.numpy())


def test_custom_objects_and_non_layers(clean_custom_objects):
    class Scale(L.Layer):
        def __init__(self, k=2.0, **kw):
            super().__init__(**kw)
            self.k = k

        def call(self, x):
            return x * self.k

        def get_config(self):
            return {**super().get_config(), "k": self.k}

    cfg = json.loads(json.dumps(keras.layers.serialize(Scale(3.0))))
    assert cfg["module"] is None
    with pytest.raises(ValueError, match="Unknown layer class 'Scale'"):
        keras.layers.deserialize(cfg)
    assert keras.layers.deserialize(cfg, custom_objects={"Scale": Scale}).k == 3.0

    @register_serializable(package="tests_serialize")
    class NotALayer:
        def __init__(self, v=0):
            self.v = v

        @classmethod
        def from_config(cls, config):
            return cls(**config)

    with pytest.raises(ValueError, match="not describe a layer.*NotALayer"):
        keras.layers.deserialize({"class_name": "NotALayer", "config": {"v": 1},
                                  "registered_name": "tests_serialize>NotALayer"})
