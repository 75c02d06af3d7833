"""lamina.keras exposes the names Keras 3 scripts use, as re-exports of lamina's own objects."""
import contextlib
import io

import numpy as np
import pytest

import lamina
from lamina import keras


def test_submodules_and_top_level_names():
    for name in ("layers", "models", "optimizers", "losses", "metrics", "callbacks", "utils",
                 "ops", "initializers", "regularizers", "activations", "datasets", "saving",
                 "backend", "random"):
        assert getattr(keras, name) is not None
    assert keras.Sequential is lamina.nn.model.Sequential
    assert keras.Model is lamina.nn.model.Model
    assert keras.Input is lamina.nn.model.Input
    assert keras.layers.Dense is lamina.nn.layers.Dense
    assert keras.optimizers.Adam is lamina.nn.optimizers.Adam
    assert keras.optimizers.schedules.ExponentialDecay is lamina.nn.schedules.ExponentialDecay
    assert keras.callbacks.EarlyStopping is lamina.nn.callbacks.EarlyStopping
    assert keras.models.load_model is lamina.io.load_model
    assert keras.saving.load_model is lamina.io.load_model
    assert keras.utils.PyDataset is lamina.nn.data_adapter.PyDataset
    assert keras.datasets.mnist is lamina.data.vision.mnist
    assert callable(keras.datasets.cifar10.load_data)
    with pytest.raises(AttributeError):
        keras.not_a_thing


def test_layers_reexport_every_public_layer():
    import lamina.nn.layers as L
    public = [n for n in dir(L) if not n.startswith("_") and isinstance(getattr(L, n), type)]
    assert len(public) > 20
    for n in public:
        assert getattr(keras.layers, n) is getattr(L, n), n
    from lamina.keras.layers import Dense, Dropout, InputLayer  # noqa: F401


def test_layers_follow_names_added_later(monkeypatch):
    import lamina.nn.layers as L

    class Brand(L.Layer):
        pass
    monkeypatch.setattr(L, "BrandNewLayer", Brand, raising=False)
    assert keras.layers.BrandNewLayer is Brand


KERAS_NAMES = {
    "layers": ["Dense", "Activation", "Dropout", "Flatten", "Reshape", "Permute", "RepeatVector",
               "Lambda", "BatchNormalization", "LayerNormalization", "Embedding", "Concatenate",
               "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Dot",
               "LeakyReLU", "ReLU", "Softmax", "GaussianNoise", "ActivityRegularization",
               "Identity", "Input", "InputLayer", "Layer"],
    "optimizers": ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam",
                   "get", "Optimizer"],
    "losses": ["MeanSquaredError", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
               "BinaryCrossentropy", "Huber", "mean_squared_error", "get", "Loss"],
    "metrics": ["Mean", "Accuracy", "SparseCategoricalAccuracy", "AUC", "Precision", "Recall",
                "get", "Metric"],
    "callbacks": ["Callback", "History", "EarlyStopping", "ModelCheckpoint",
                  "ReduceLROnPlateau", "LearningRateScheduler", "TerminateOnNaN", "CSVLogger",
                  "LambdaCallback", "ProgbarLogger", "BackupAndRestore"],
    "utils": ["to_categorical", "normalize", "set_random_seed", "PyDataset", "Sequence",
              "plot_history", "Progbar", "register_keras_serializable"],
    "ops": ["matmul", "mean", "sum", "exp", "concatenate", "stack", "expand_dims", "reshape",
            "transpose", "where", "softmax", "relu", "sigmoid", "one_hot", "convert_to_tensor",
            "convert_to_numpy", "shape", "cast", "sqrt", "square", "abs", "maximum", "minimum",
            "clip", "argmax", "log", "tanh", "max", "min", "zeros", "ones"],
    "initializers": ["GlorotUniform", "HeNormal", "Zeros", "Constant", "get"],
    "regularizers": ["L1", "L2", "L1L2", "l2", "get"],
    "activations": ["relu", "sigmoid", "softmax", "tanh", "gelu", "get"],
    "saving": ["register_keras_serializable", "load_model", "save_model"],
    "backend": ["floatx", "epsilon", "clear_session"],
    "config": ["floatx", "set_floatx", "enable_unsafe_deserialization"],
    "models": ["Model", "Sequential", "load_model"],
    "optimizers.schedules": ["ExponentialDecay", "PiecewiseConstantDecay", "CosineDecay",
                             "InverseTimeDecay", "LearningRateSchedule"],
}


@pytest.mark.parametrize("module", sorted(KERAS_NAMES))
def test_keras_names_exist(module):
    mod = keras
    for part in module.split("."):
        mod = getattr(mod, part)
    missing = [n for n in KERAS_NAMES[module] if not hasattr(mod, n)]
    assert not missing, f"keras.{module} lacks {missing}"


def test_ops_adapters():
    ops = keras.ops
    x = ops.convert_to_tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert ops.shape(ops.reshape(x, (3, 2))) == (3, 2)
    assert ops.shape(ops.transpose(x)) == (3, 2)
    np.testing.assert_array_equal(ops.convert_to_numpy(ops.clip(x, 1, 4)), [[1, 1, 2], [3, 4, 4]])
    np.testing.assert_array_equal(ops.convert_to_numpy(ops.where(x > 2, x, 0.0)),
                                  [[0, 0, 0], [3, 4, 5]])
    oh = ops.convert_to_numpy(ops.one_hot(np.array([2, 0]), 3))
    np.testing.assert_array_equal(oh, [[0, 0, 1], [1, 0, 0]])
    assert ops.convert_to_numpy(ops.mean(x, axis=0)).tolist() == [1.5, 2.5, 3.5]
    assert ops.convert_to_numpy(ops.sum(x)) == 15
    (i, j) = ops.where(x > 3)
    assert ops.convert_to_numpy(j).tolist() == [1, 2]


def test_backend_and_random():
    assert keras.backend.floatx() == "float32" and keras.backend.epsilon() == 1e-7
    keras.utils.set_random_seed(5)
    a = keras.random.normal((3,)).numpy()
    keras.utils.set_random_seed(5)
    np.testing.assert_array_equal(a, keras.random.normal((3,)).numpy())
    keras.backend.clear_session()
    assert keras.layers.Dense(1).name == "dense"


SCRIPT = '''
import numpy as np
from lamina import keras
from lamina.keras import layers, models, optimizers, losses, metrics, callbacks, utils, ops

keras.utils.set_random_seed(42)
(x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
x_train = x_train.reshape(-1, 64).astype("float32") / 16.0
x_test = x_test.reshape(-1, 64).astype("float32") / 16.0
y_train_cat = utils.to_categorical(y_train, 10)

inputs = keras.Input(shape=(64,), name="pixels")
x = layers.Dense(64, activation="relu", kernel_regularizer=keras.regularizers.l2(1e-4))(inputs)
x = layers.Dropout(0.1)(x)
x = layers.BatchNormalization()(x)
outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
model = keras.Model(inputs=inputs, outputs=outputs, name="digits")
model.summary()

schedule = optimizers.schedules.ExponentialDecay(1e-2, decay_steps=100, decay_rate=0.9)
model.compile(optimizer=optimizers.Adam(learning_rate=schedule),
              loss=losses.CategoricalCrossentropy(),
              metrics=[metrics.CategoricalAccuracy(name="acc"), "mae"])
history = model.fit(x_train, y_train_cat, batch_size=64, epochs=4, validation_split=0.1,
                    callbacks=[callbacks.EarlyStopping(monitor="val_loss", patience=2,
                                                       restore_best_weights=True)],
                    verbose=2)
test_scores = model.evaluate(x_test, utils.to_categorical(y_test, 10), verbose=0)
print("Test loss:", test_scores[0])
print("Test accuracy:", test_scores[1])
probs = model.predict(x_test[:5])
print(ops.convert_to_numpy(ops.argmax(probs, axis=-1)))
'''


def test_keras_style_script_runs_verbatim():
    ns = {}
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(SCRIPT, "keras_script.py", "exec"), ns)
    out = buf.getvalue()
    assert "Test accuracy:" in out and "\r" not in out
    assert ns["test_scores"][1] > 0.85
    assert set(ns["history"].history) == {"loss", "acc", "mae", "val_loss", "val_acc",
                                          "val_mae"}
