"""keras.utils names a Keras 3 course script may use: clear_session, custom objects,
serialize/deserialize_keras_object, get_source_inputs, is_keras_tensor, standardize_dtype
and the dataset builders, through ``from lamina import keras``."""
import json

import numpy as np
import pytest

from lamina import keras


UTILS_NAMES = ["timeseries_dataset_from_array", "text_dataset_from_directory",
               "image_dataset_from_directory", "split_dataset", "clear_session",
               "get_custom_objects", "CustomObjectScope", "custom_object_scope",
               "serialize_keras_object", "deserialize_keras_object", "get_source_inputs",
               "is_keras_tensor", "array_to_img", "save_img", "load_img", "img_to_array",
               "standardize_dtype", "to_categorical", "PyDataset"]


def test_names_exist():
    missing = [n for n in UTILS_NAMES if not hasattr(keras.utils, n)]
    assert not missing, missing
    assert keras.utils.CustomObjectScope is keras.utils.custom_object_scope
    assert keras.utils.clear_session is keras.backend.clear_session
    assert keras.backend.standardize_dtype is keras.utils.standardize_dtype


def test_clear_session_restarts_auto_names():
    keras.utils.clear_session()
    a, b = keras.layers.Dense(1), keras.layers.Dense(1)
    assert (a.name, b.name) == ("dense", "dense_1")
    assert keras.Sequential().name == "sequential"
    keras.utils.clear_session(free_memory=True)
    assert keras.layers.Dense(1).name == "dense"
    assert keras.Sequential().name == "sequential"
    keras.utils.clear_session(free_memory=False)
    assert keras.layers.Dense(1).name == "dense"


def test_get_custom_objects_is_the_lookup_table(clean_custom_objects):
    @keras.saving.register_keras_serializable(package="course")
    class Twice(keras.layers.Layer):
        def call(self, x):
            return x * 2

    assert clean_custom_objects["course>Twice"] is Twice

    class Thrice(keras.layers.Layer):
        def call(self, x):
            return x * 3

    cfg = keras.utils.serialize_keras_object(Thrice(name="t"))
    with pytest.raises(ValueError, match="Thrice"):
        keras.utils.deserialize_keras_object(cfg)
    keras.utils.get_custom_objects()["Thrice"] = Thrice
    back = keras.utils.deserialize_keras_object(cfg)
    assert type(back) is Thrice and back.name == "t"


def test_custom_object_scope_alias(clean_custom_objects):
    class Halve(keras.layers.Layer):
        def call(self, x):
            return x / 2

    cfg = keras.utils.serialize_keras_object(Halve())
    with keras.utils.CustomObjectScope({"Halve": Halve}):
        assert type(keras.utils.deserialize_keras_object(cfg)) is Halve
    with pytest.raises(ValueError):
        keras.utils.deserialize_keras_object(cfg)


@pytest.mark.parametrize("make", [
    lambda: keras.layers.Dense(4, activation="relu", name="d"),
    lambda: keras.optimizers.Adam(learning_rate=0.003),
    lambda: keras.losses.Huber(delta=2.0),
    lambda: keras.metrics.Precision(thresholds=0.3),
    lambda: keras.initializers.HeNormal(seed=3),
    lambda: keras.regularizers.L1L2(l1=0.1, l2=0.2),
    lambda: keras.constraints.MaxNorm(1.5),
    lambda: keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5),
])
def test_objects_round_trip_through_json(make):
    obj = make()
    cfg = keras.utils.serialize_keras_object(obj)
    assert set(cfg) >= {"module", "class_name", "config"}
    cfg = json.loads(json.dumps(cfg))
    back = keras.utils.deserialize_keras_object(cfg)
    assert type(back) is type(obj) and back is not obj
    assert back.get_config() == obj.get_config()


def test_models_functions_and_plain_values():
    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(2)(inp))
    back = keras.utils.deserialize_keras_object(
        json.loads(json.dumps(keras.utils.serialize_keras_object(model))))
    assert [type(l) for l in back.layers] == [type(l) for l in model.layers]
    relu = keras.utils.serialize_keras_object(keras.activations.relu)
    assert relu == {"module": "builtins", "class_name": "function", "config": "relu",
                    "registered_name": "function"}
    assert keras.utils.deserialize_keras_object(relu) is keras.activations.relu
    mse = keras.utils.deserialize_keras_object(
        keras.utils.serialize_keras_object(keras.losses.mean_squared_error))
    assert mse is keras.losses.mean_squared_error
    arr = np.arange(6, dtype=np.int16).reshape(2, 3)
    back = keras.utils.deserialize_keras_object(keras.utils.serialize_keras_object(arr))
    assert back.dtype == np.int16
    np.testing.assert_array_equal(back, arr)
    t = keras.utils.deserialize_keras_object(
        keras.utils.serialize_keras_object(keras.ops.convert_to_tensor(np.ones(2, "f4"))))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(t), [1, 1])
    plain = {"a": [1, 2.5, "x", None, True], "b": b"raw"}
    assert keras.utils.deserialize_keras_object(
        keras.utils.serialize_keras_object(plain)) == plain
    assert keras.utils.deserialize_keras_object("relu") == "relu"


def test_serialize_errors():
    with pytest.raises(ValueError, match="lambda"):
        keras.utils.serialize_keras_object(lambda x: x)
    with pytest.raises(TypeError, match="no get_config"):
        keras.utils.serialize_keras_object(object())
    with pytest.raises(ValueError, match="lambda"):
        keras.utils.deserialize_keras_object({"class_name": "__lambda__",
                                              "config": {"value": "..."}})
    with pytest.raises(ValueError, match="unknown function"):
        keras.utils.deserialize_keras_object({"module": "builtins", "class_name": "function",
                                              "config": "os_system", "registered_name": None})
    with pytest.raises(TypeError, match="cannot parse"):
        keras.utils.deserialize_keras_object(object())


def test_source_inputs_and_keras_tensors():
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    h = keras.layers.Dense(2)(a)
    out = keras.layers.Dense(1)(keras.layers.Concatenate()([h, b, a]))
    src = keras.utils.get_source_inputs(out)
    assert len(src) == 2 and src[0] is a and src[1] is b
    assert keras.utils.get_source_inputs(a) == [a]
    assert keras.utils.is_keras_tensor(out) and keras.utils.is_keras_tensor(a)
    concrete = keras.layers.Dense(1)(np.ones((1, 3), "f4"))
    assert not keras.utils.is_keras_tensor(concrete)
    assert not keras.utils.is_keras_tensor(np.ones(3))
    assert keras.utils.get_source_inputs(concrete) is concrete


def test_standardize_dtype():
    s = keras.utils.standardize_dtype
    assert s(None) == "float32" and s("float64") == "float64"
    assert s(np.float16) == "float16" and s(np.dtype("uint8")) == "uint8"
    assert (s(int), s(float), s(bool), s(str)) == ("int32", "float32", "bool", "string")
    with pytest.raises(ValueError, match="invalid dtype"):
        s("float")
    with pytest.raises(ValueError, match="standardize_dtype"):
        s([1])


def test_custom_function_by_name(clean_custom_objects):
    def plus_seven(x):
        return x * 0 + 7
    clean_custom_objects["plus_seven"] = plus_seven
    out = keras.layers.Dense(2, activation="plus_seven")(np.ones((1, 3), "f4"))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), [[7, 7]])
    cfg = keras.utils.serialize_keras_object(plus_seven)
    assert cfg["config"] == "plus_seven"
    assert keras.utils.deserialize_keras_object(cfg) is plus_seven
