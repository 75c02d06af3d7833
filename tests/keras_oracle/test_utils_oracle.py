"""lamina's keras.utils against real Keras 3 (torch backend): the same windows and batches
from timeseries_dataset_from_array, the same texts, labels and splits from
text_dataset_from_directory, the same split_dataset parts, names after clear_session,
serialized objects each library reads from the other, standardize_dtype, array_to_img
pixels and get_source_inputs.

Keras builds its timeseries/text datasets (and its tf-path split_dataset) on tf.data:
those comparisons run only where TensorFlow is installed and skip cleanly elsewhere."""
import codecs
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from lamina import keras as lk  # noqa: E402


def _tf():
    return pytest.importorskip("tensorflow")


def _np(t):
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


# ---------------------------------------------------------------- timeseries
TS_CASES = [dict(sequence_length=4, batch_size=3),
            dict(sequence_length=5, sequence_stride=3, sampling_rate=2, batch_size=4),
            dict(sequence_length=3, start_index=4, end_index=27, batch_size=5),
            dict(sequence_length=2, sampling_rate=3, start_index=2, batch_size=128),
            dict(sequence_length=6, batch_size=None)]


@pytest.mark.parametrize("kw", TS_CASES)
@pytest.mark.parametrize("with_targets", [True, False])
def test_timeseries_same_batches_as_keras(kw, with_targets):
    _tf()
    data = np.arange(60, dtype=np.float32).reshape(30, 2) ** 1.5
    targets = np.arange(30) * 7 if with_targets else None
    want = list(keras.utils.timeseries_dataset_from_array(data, targets, **kw))
    got = list(lk.utils.timeseries_dataset_from_array(data, targets, **kw))
    assert len(got) == len(want) > 0
    for g, w in zip(got, want):
        if with_targets:
            np.testing.assert_array_equal(g[0], _np(w[0]))
            np.testing.assert_array_equal(g[1], _np(w[1]))
        else:
            np.testing.assert_array_equal(g, _np(w))


def test_timeseries_shuffled_windows_are_keras_windows():
    _tf()
    data = np.arange(40)
    kw = dict(sequence_length=5, batch_size=8, shuffle=True, seed=2)
    want = sorted(map(tuple, np.concatenate(
        [_np(x) for x, _ in keras.utils.timeseries_dataset_from_array(data, data, **kw)])))
    got = sorted(map(tuple, np.concatenate(
        [x for x, _ in lk.utils.timeseries_dataset_from_array(data, data, **kw)])))
    assert got == want


# ---------------------------------------------------------------- text files
@pytest.fixture
def text_tree(tmp_path):
    rng = np.random.default_rng(0)
    for cls, n in (("alpha", 5), ("beta", 4), ("gamma", 3)):
        os.makedirs(tmp_path / cls / "sub")
        for i in range(n):
            where = tmp_path / cls / ("sub" if i % 4 == 3 else "")
            words = " ".join(rng.choice(["a", "b", "ccc", "dé"], 5 + i))
            (where / f"f{i}.txt").write_bytes(f"{cls} {i} {words}\n".encode("utf-8"))
    return tmp_path


def _keras_texts(ds):
    xs, ys = [], []
    for x, y in ds:
        # tf keeps the bytes cut at max_length; lamina gives the string of the whole
        # characters among them
        xs += [codecs.getincrementaldecoder("utf-8")().decode(s, final=False)
               for s in _np(x).tolist()]
        ys += _np(y).tolist()
    return xs, ys


def _our_texts(ds):
    xs, ys = [], []
    for x, y in ds:
        xs += x.tolist()
        ys += np.asarray(y).tolist()
    return xs, ys


@pytest.mark.parametrize("label_mode", ["int", "categorical"])
def test_text_same_batches_as_keras_unshuffled(text_tree, label_mode):
    _tf()
    kw = dict(batch_size=5, shuffle=False, label_mode=label_mode, max_length=9, verbose=False)
    want = keras.utils.text_dataset_from_directory(str(text_tree), **kw)
    got = lk.utils.text_dataset_from_directory(str(text_tree), **kw)
    assert got.class_names == want.class_names
    assert _our_texts(got) == _keras_texts(want)


def test_text_same_validation_files_as_keras(text_tree):
    _tf()
    kw = dict(batch_size=4, seed=123, validation_split=0.25, subset="both", verbose=False)
    kt, kv = keras.utils.text_dataset_from_directory(str(text_tree), **kw)
    lt, lv = lk.utils.text_dataset_from_directory(str(text_tree), **kw)
    # the validation part is not reshuffled in either library: same order
    assert _our_texts(lv) == _keras_texts(kv)
    assert sorted(zip(*_our_texts(lt))) == sorted(zip(*_keras_texts(kt)))


# ---------------------------------------------------------------- split_dataset
# (Keras's torch path shuffles even with shuffle=False and needs the sizes to cover the
# whole dataset, so only sizes are compared there)
@pytest.mark.parametrize("left,right", [(0.3, None), (None, 4), (5, 10), (0.4, 0.6)])
def test_split_dataset_same_sizes_as_keras(left, right):
    x = np.arange(30, dtype=np.float32).reshape(15, 2)
    y = np.arange(15)
    kl, kr = keras.utils.split_dataset((x, y), left_size=left, right_size=right)
    (xl, yl), (xr, yr) = lk.utils.split_dataset((x, y), left_size=left, right_size=right)
    assert (len(xl), len(xr)) == (len(kl), len(kr))


@pytest.mark.parametrize("shuffle", [False, True])
def test_split_dataset_same_parts_as_keras_tf_path(shuffle):
    _tf()
    x = np.arange(24, dtype=np.float32).reshape(12, 2)
    y = np.arange(12)
    kw = dict(left_size=0.5, right_size=3, shuffle=shuffle, seed=9)
    kl, kr = keras.utils.split_dataset((x, y), preferred_backend="tensorflow", **kw)
    (xl, yl), (xr, yr) = lk.utils.split_dataset((x, y), **kw)
    np.testing.assert_array_equal(yl, [int(_np(b)) for _, b in kl])
    np.testing.assert_array_equal(yr, [int(_np(b)) for _, b in kr])
    np.testing.assert_array_equal(xr, np.stack([_np(a) for a, _ in kr]))


def test_split_dataset_same_errors_as_keras():
    for kw in (dict(), dict(left_size=0), dict(left_size=15), dict(left_size=0.7,
                                                                      right_size=0.7)):
        with pytest.raises((ValueError, TypeError)) as k:
            keras.utils.split_dataset(np.arange(15), **kw)
        with pytest.raises(type(k.value)):
            lk.utils.split_dataset(np.arange(15), **kw)


# ---------------------------------------------------------------- small ones
def test_same_auto_names_after_clear_session():
    def names(K):
        K.utils.clear_session()
        made = [K.layers.Dense(1), K.layers.Dense(1), K.layers.Conv2D(1, 3),
                K.layers.BatchNormalization(), K.Sequential(), K.Sequential()]
        return [m.name for m in made]
    assert names(lk) == names(keras)


@pytest.mark.parametrize("dtype", ["float32", "int8", "bool", "string", "uint16", None,
                                   np.float64, np.int32, np.dtype("complex64"), int, float,
                                   bool, str, "bfloat16"])
def test_standardize_dtype_as_keras(dtype):
    assert lk.utils.standardize_dtype(dtype) == keras.utils.standardize_dtype(dtype)


def test_standardize_dtype_torch_dtypes_and_errors():
    torch = pytest.importorskip("torch")
    for d in (torch.float16, torch.int64, torch.bool):
        assert lk.utils.standardize_dtype(d) == keras.utils.standardize_dtype(d)
    for bad in ("float", "int128"):
        with pytest.raises(ValueError):
            keras.utils.standardize_dtype(bad)
        with pytest.raises(ValueError):
            lk.utils.standardize_dtype(bad)


def test_serialized_objects_cross_over():
    pairs = [(lk.optimizers.Adam(0.002), keras.optimizers.Adam(0.002)),
             (lk.losses.Huber(delta=1.5), keras.losses.Huber(delta=1.5)),
             (lk.initializers.HeNormal(seed=4), keras.initializers.HeNormal(seed=4)),
             (lk.regularizers.L2(0.01), keras.regularizers.L2(0.01)),
             (lk.metrics.AUC(num_thresholds=50), keras.metrics.AUC(num_thresholds=50)),
             (lk.layers.Dense(3, activation="tanh"), keras.layers.Dense(3, activation="tanh"))]
    for ours, theirs in pairs:
        a = lk.utils.serialize_keras_object(ours)
        b = keras.utils.serialize_keras_object(theirs)
        # Keras's torch backend names its private optimizer module; the others match
        keys = ("class_name",) if isinstance(ours, lk.optimizers.Optimizer) else (
            "module", "class_name", "registered_name")
        for key in keys:
            assert a[key] == b[key], (key, a, b)
        k_back = keras.utils.deserialize_keras_object(a)
        assert type(k_back).__name__ == type(theirs).__name__
        l_back = lk.utils.deserialize_keras_object(b)
        assert type(l_back).__name__ == type(ours).__name__
    for ours, theirs in ((lk.activations.relu, keras.activations.relu),
                         (lk.losses.mean_squared_error, keras.losses.mean_squared_error)):
        assert lk.utils.serialize_keras_object(ours) == keras.utils.serialize_keras_object(theirs)
        assert lk.utils.deserialize_keras_object(
            keras.utils.serialize_keras_object(theirs)) is ours
    arr = np.arange(4.0).reshape(2, 2)
    assert lk.utils.serialize_keras_object(arr) == keras.utils.serialize_keras_object(arr)
    plain = {"a": [1, "b", None], "c": 2.5}
    assert lk.utils.serialize_keras_object(plain) == keras.utils.serialize_keras_object(plain)


def test_custom_objects_keys_as_keras(clean_custom_objects):
    ksaved = dict(keras.utils.get_custom_objects())
    try:
        lk.saving.register_keras_serializable(package="oracle")(
            type("Probe", (lk.layers.Layer,), {}))
        keras.saving.register_keras_serializable(package="oracle")(
            type("Probe", (keras.layers.Layer,), {}))
        assert ("oracle>Probe" in lk.utils.get_custom_objects()) and \
            ("oracle>Probe" in keras.utils.get_custom_objects())
    finally:
        keras.utils.get_custom_objects().clear()
        keras.utils.get_custom_objects().update(ksaved)


@pytest.mark.parametrize("shape,kw", [((5, 4, 3), {}), ((5, 4, 1), {}), ((4, 5, 3), dict(
    data_format="channels_first")), ((6, 2, 4), dict(scale=False)), ((3, 3, 1), dict(
        scale=False, dtype="float64"))])
def test_array_to_img_same_pixels_as_keras(shape, kw):
    pytest.importorskip("PIL")
    x = np.random.default_rng(5).uniform(-3, 300, shape)
    ours = lk.utils.array_to_img(x, **kw)
    theirs = keras.utils.array_to_img(x, **kw)
    assert ours.mode == theirs.mode and ours.size == theirs.size
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_save_img_same_file_as_keras(tmp_path):
    pytest.importorskip("PIL")
    x = np.random.default_rng(6).uniform(0, 1, (6, 7, 3))
    lk.utils.save_img(str(tmp_path / "ours.png"), x)
    keras.utils.save_img(str(tmp_path / "theirs.png"), x)
    np.testing.assert_array_equal(
        keras.utils.img_to_array(keras.utils.load_img(str(tmp_path / "ours.png"))),
        keras.utils.img_to_array(keras.utils.load_img(str(tmp_path / "theirs.png"))))


def test_get_source_inputs_as_keras():
    def graph(K):
        a, b = K.Input((3,)), K.Input((2,))
        h = K.layers.Dense(2)(a)
        out = K.layers.Dense(1)(K.layers.Concatenate()([b, h, a]))
        src = K.utils.get_source_inputs(out)
        return [s.shape for s in src], K.utils.is_keras_tensor(out), \
            K.utils.is_keras_tensor(np.ones(2))
    assert graph(lk) == graph(keras)


def test_image_split_same_validation_images_as_keras(tmp_path):
    """image_dataset_from_directory shares the file index and split with the text one."""
    _tf()
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(1)
    for cls, n in (("x", 4), ("y", 5)):
        os.makedirs(tmp_path / cls)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (4, 3, 3)).astype(np.uint8)).save(
                tmp_path / cls / f"{i}.png")
    kw = dict(image_size=(4, 3), batch_size=3, seed=77, validation_split=0.34,
              subset="both", verbose=False)
    _, kv = keras.utils.image_dataset_from_directory(str(tmp_path), **kw)
    _, lv = lk.utils.image_dataset_from_directory(str(tmp_path), **kw)
    want = [(_np(a), int(b)) for x, y in kv for a, b in zip(x, _np(y))]
    got = [(a, int(b)) for x, y in lv for a, b in zip(x, y)]
    assert [b for _, b in got] == [b for _, b in want] and len(got) == 3
    for (a, _), (w, _) in zip(got, want):
        np.testing.assert_array_equal(a, w)


def test_timeseries_dtypes_as_keras():
    _tf()
    for data in (np.arange(8, dtype=np.float64), [0.5, 1.5, 2.5, 3.5, 4.5], [1, 2, 3, 4, 5]):
        (kx, ky), = list(keras.utils.timeseries_dataset_from_array(data, data, 3,
                                                                  batch_size=10))
        lx, ly = lk.utils.timeseries_dataset_from_array(data, data, 3, batch_size=10)[0]
        assert lx.dtype == _np(kx).dtype and ly.dtype == _np(ky).dtype
