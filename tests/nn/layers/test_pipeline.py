"""Pipeline: layers applied in turn, training on by default (as Keras), configs and sublayer
weights."""
import numpy as np
import pytest

from lamina import keras
from lamina.nn import serialization as S


def test_applies_layers_in_turn_with_training_on_by_default():
    x = np.full((2, 4, 4, 3), 255.0, np.float32)
    p = keras.layers.Pipeline([keras.layers.Rescaling(1 / 255.0),
                               keras.layers.RandomBrightness((0.5, 0.5), value_range=(0, 1))])
    np.testing.assert_allclose(p(x).numpy(), 1.0)                     # clipped at the top
    np.testing.assert_allclose(p(x * 0, training=False).numpy(), 0.0)  # no augmentation
    assert [type(la).__name__ for la in p.layers] == ["Rescaling", "RandomBrightness"]
    assert p.compute_output_shape((None, 4, 4, 3)) == (None, 4, 4, 3)
    with pytest.raises(TypeError, match="layers must be a list of layers"):
        keras.layers.Pipeline(["rescaling"])


def test_config_round_trip_and_weights_of_its_layers():
    norm = keras.layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0])
    p = keras.layers.Pipeline([norm, keras.layers.Dense(3)], name="prep")
    y = p(np.ones((5, 2), np.float32))
    assert y.shape == (5, 3) and len(p.trainable_weights) == 2
    cfg = S.serialize_layer(p)
    assert set(cfg["config"]) == {"layers", "name"}
    back = S.deserialize_layer(cfg)
    assert back.name == "prep" and [type(la).__name__ for la in back.layers] == \
        ["Normalization", "Dense"]
