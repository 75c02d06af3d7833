"""lamina.io: the safetensors codec, atomic writes, weights and whole-model files."""
import io
import json
import os
import struct
import zipfile

import numpy as np
import pytest

from lamina import io as lio


# ------------------------------------------------------------------ safetensors codec
def test_safetensors_layout_by_hand(tmp_path):
    p = tmp_path / "a.safetensors"
    lio.save_safetensors(p, {"w": np.arange(6, dtype=np.float32).reshape(2, 3),
                             "i": np.array([1, -2], dtype=np.int64)}, {"k": "v"})
    raw = p.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["__metadata__"] == {"k": "v"}
    assert header["w"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}
    assert header["i"] == {"dtype": "I64", "shape": [2], "data_offsets": [24, 40]}
    body = raw[8 + n:]
    assert np.frombuffer(body[:24], "<f4").tolist() == [0, 1, 2, 3, 4, 5]
    assert np.frombuffer(body[24:40], "<i8").tolist() == [1, -2]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int32, np.int8,
                                   np.uint8, np.bool_])
def test_safetensors_round_trip(tmp_path, dtype):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((3, 4)) * 5).astype(dtype)
    b = np.array(7, dtype=dtype)                 # 0-d
    c = np.zeros((0, 2), dtype=dtype)            # empty
    p = tmp_path / "x.safetensors"
    lio.save_safetensors(p, {"a": a, "b": b, "c": c})
    out, meta = lio.load_safetensors(p, with_metadata=True)
    assert meta == {}
    for k, v in {"a": a, "b": b, "c": c}.items():
        assert out[k].dtype == v.dtype and out[k].shape == v.shape
        np.testing.assert_array_equal(out[k], v)
        assert out[k].flags.writeable


def test_interoperates_with_reference_safetensors(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    a = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    p1 = tmp_path / "ours.safetensors"
    lio.save_safetensors(p1, {"dense/kernel": a}, {"format": "np"})
    np.testing.assert_array_equal(st.load_file(str(p1))["dense/kernel"], a)
    p2 = tmp_path / "theirs.safetensors"
    st.save_file({"x": a, "y": np.arange(3, dtype=np.int32)}, str(p2))
    out = lio.load_safetensors(p2)
    np.testing.assert_array_equal(out["x"], a)
    assert out["y"].tolist() == [0, 1, 2]


def test_corrupt_files_raise_clear_errors(tmp_path):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(b"\x01\x02")
    with pytest.raises(ValueError, match="too short"):
        lio.load_safetensors(p)
    p.write_bytes(struct.pack("<Q", 10 ** 9) + b"{}")
    with pytest.raises(ValueError, match="header length"):
        lio.load_safetensors(p)
    hdr = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}).encode()
    p.write_bytes(struct.pack("<Q", len(hdr)) + hdr + b"\0" * 8)
    with pytest.raises(ValueError, match="offsets"):
        lio.load_safetensors(p)
    hdr = json.dumps({"w": {"dtype": "PICKLE", "shape": [1], "data_offsets": [0, 1]}}).encode()
    p.write_bytes(struct.pack("<Q", len(hdr)) + hdr + b"\0")
    with pytest.raises(ValueError, match="bad header entry"):
        lio.load_safetensors(p)


def test_unsupported_dtype_and_names():
    with pytest.raises(TypeError, match="dtype"):
        lio.safetensors_bytes({"o": np.array(["a"], dtype=object)})
    with pytest.raises(TypeError, match="names"):
        lio.safetensors_bytes({1: np.zeros(1)})


# ------------------------------------------------------------------ atomic writes
def test_atomic_write_keeps_old_file_on_crash(tmp_path):
    p = tmp_path / "w.safetensors"
    lio.save_safetensors(p, {"a": np.ones(3, np.float32)})
    before = p.read_bytes()
    with pytest.raises(RuntimeError, match="crash"):
        with lio.atomic_write(p) as f:
            f.write(b"partial garbage")
            raise RuntimeError("crash mid-write")
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.safetensors"]          # temp file cleaned up


def test_save_crash_inside_encoder_leaves_old_file(tmp_path, monkeypatch):
    p = tmp_path / "w.safetensors"
    lio.save_safetensors(p, {"a": np.ones(3, np.float32)})
    before = p.read_bytes()
    real_replace = os.replace

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        lio.save_safetensors(p, {"a": np.zeros(1000, np.float32)})
    monkeypatch.setattr(os, "replace", real_replace)
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.safetensors"]


# ------------------------------------------------------------------ models
import lamina as lm  # noqa: E402
from lamina import keras  # noqa: E402


def _mlp(seed=0, hidden=5):
    lm.random.seed(seed)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(hidden, activation="relu"),
                             keras.layers.BatchNormalization(),
                             keras.layers.Dense(3, activation="softmax")])


def _xy(n=40):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 3, n)


def test_save_and_load_weights_round_trip(tmp_path):
    x, _ = _xy()
    a, b = _mlp(0), _mlp(1)
    assert not np.allclose(a.predict(x, verbose=0), b.predict(x, verbose=0))
    p = tmp_path / "m.weights.safetensors"
    a.save_weights(p)
    names = set(lio.load_safetensors(p))
    assert names == {v.path for v in a.weights}
    # same architecture, other auto names (dense_2...): matched by position like Keras
    assert {v.path for v in b.weights} != names
    b.load_weights(p)
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))


def test_strict_weight_loading_names_the_problem(tmp_path):
    m = _mlp()
    p = tmp_path / "w.safetensors"
    good = lio.weights_dict(m)
    k0 = next(iter(good))
    lio.save_safetensors(p, {k: v for k, v in good.items() if k != k0})
    with pytest.raises(ValueError, match=f"missing in the file: \\['{k0}'\\]"):
        m.load_weights(p)
    lio.save_safetensors(p, dict(good, extra=np.zeros(2, np.float32)))
    with pytest.raises(ValueError, match="unexpected in the file: \\['extra'\\]"):
        m.load_weights(p)
    bad = dict(good)
    bad[k0] = np.zeros((7, 7), np.float32)
    lio.save_safetensors(p, bad)
    with pytest.raises(ValueError, match=f"wrong shape: \\['{k0}: file \\(7, 7\\)"):
        m.load_weights(p)
    before = m.get_weights()
    m.load_weights(p, skip_mismatch=True)           # loads the rest, skips the bad one
    np.testing.assert_array_equal(m.get_weights()[0], before[0])


def test_weights_h5_round_trip_and_layout(tmp_path):
    h5py = pytest.importorskip("h5py")
    m = _mlp()
    p = tmp_path / "m.weights.h5"
    m.save_weights(p)
    with h5py.File(p, "r") as f:
        assert sorted(f["layers"].keys()) == ["batch_normalization", "dense", "dense_1"]
        assert f["layers/dense/vars/0"].shape == (4, 5)
        assert f["layers/batch_normalization/vars"].attrs["name"] == m.layers[1].name
    m2 = _mlp(seed=3)
    m2.load_weights(p)
    for a, b in zip(m.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_weights_h5_without_h5py_names_it(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match="h5py.*safetensors"):
        _mlp().save_weights(tmp_path / "m.weights.h5")


@pytest.mark.parametrize("with_h5py", [True, False])
def test_model_save_load_identical_predictions(tmp_path, monkeypatch, with_h5py):
    """With h5py the archive is Keras 3's (model.weights.h5); without, the weights go to
    safetensors and metadata.json says only lamina reads it.  Both load back exactly."""
    import sys
    if with_h5py:
        pytest.importorskip("h5py")
    else:
        monkeypatch.setitem(sys.modules, "h5py", None)
    x, y = _xy()
    m = _mlp()
    m.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
              metrics=["accuracy"])
    m.fit(x, y, epochs=2, verbose=0)
    p = tmp_path / "model.keras"
    m.save(p)
    with zipfile.ZipFile(p) as z:
        names = set(z.namelist())
        meta = json.loads(z.read("metadata.json"))
        if with_h5py:       # Keras's archive: the optimizer's state in model.weights.h5 too
            import h5py
            assert {"config.json", "metadata.json", "model.weights.h5"} == names
            assert meta["keras_version"].startswith("3.")
            with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
                assert len(f["optimizer/vars"]) == 2 + 2 * len(m.trainable_weights)
        else:
            assert {"config.json", "metadata.json", "model.weights.safetensors",
                    "optimizer.safetensors"} == names
            assert "only lamina reads" in meta["note"]
    m2 = keras.models.load_model(p)
    assert type(m2) is type(m) and [l.name for l in m2.layers] == [l.name for l in m.layers]
    np.testing.assert_array_equal(m.predict(x, verbose=0), m2.predict(x, verbose=0))
    assert m2.compiled and type(m2.optimizer) is type(m.optimizer)
    assert m2.evaluate(x, y, verbose=0) == pytest.approx(m.evaluate(x, y, verbose=0))
    m3 = keras.models.load_model(p, compile=False)
    assert not m3.compiled


def test_training_resumes_exactly_after_save_and_load(tmp_path):
    x, y = _xy()

    def fresh():
        m = _mlp(seed=7)
        m.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
        return m
    cont = fresh()
    lm.random.seed(11)
    cont.fit(x, y, epochs=2, batch_size=8, verbose=0)
    lm.random.seed(12)
    cont.fit(x, y, epochs=2, batch_size=8, verbose=0)

    part = fresh()
    lm.random.seed(11)
    part.fit(x, y, epochs=2, batch_size=8, verbose=0)
    p = tmp_path / "ckpt.keras"
    part.save(p)
    resumed = keras.models.load_model(p)
    assert resumed.optimizer.iterations == part.optimizer.iterations
    lm.random.seed(12)
    resumed.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for a, b in zip(cont.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_custom_layers_need_registration_or_custom_objects(tmp_path):
    class Scale(keras.layers.Layer):
        def __init__(self, factor=2.0, **kw):
            super().__init__(**kw)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return dict(super().get_config(), factor=self.factor)

    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2), Scale(3.0)])
    p = tmp_path / "c.keras"
    m.save(p)
    with pytest.raises(ValueError, match="Scale"):
        keras.models.load_model(p)
    m2 = keras.models.load_model(p, custom_objects={"Scale": Scale})
    x, _ = _xy(5)
    np.testing.assert_allclose(m2.predict(x, verbose=0), m.predict(x, verbose=0))
    assert m2.layers[-1].factor == 3.0


def test_model_save_is_atomic(tmp_path, monkeypatch):
    m = _mlp()
    p = tmp_path / "m.keras"
    m.save(p)
    before = p.read_bytes()
    m.layers[0].kernel.assign(np.zeros((4, 5), np.float32))
    calls = []

    def crashing(real):
        def crash(*a, **k):         # the first weights serialization dies mid-save
            calls.append(1)
            if len(calls) == 1:
                raise KeyboardInterrupt("power cut")
            return real(*a, **k)
        return crash
    monkeypatch.setattr(lio, "safetensors_bytes", crashing(lio.safetensors_bytes))
    monkeypatch.setattr(lio, "_h5_bytes", crashing(lio._h5_bytes))
    with pytest.raises(KeyboardInterrupt):
        m.save(p)
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.keras"]


def test_loading_never_unpickles(tmp_path, monkeypatch):
    import pickle
    m = _mlp()
    m.compile("adam", "mse")
    p = tmp_path / "m.keras"
    m.save(p)

    def forbidden(*a, **k):
        raise AssertionError("pickle used while loading")
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    real_load = np.load
    monkeypatch.setattr(np, "load", lambda *a, **k: (
        (_ for _ in ()).throw(AssertionError("allow_pickle")) if k.get("allow_pickle")
        else real_load(*a, **k)))
    keras.models.load_model(p)
    m.load_weights(p)


def test_not_a_model_archive(tmp_path):
    p = tmp_path / "x.keras"
    p.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a lamina model archive"):
        keras.models.load_model(p)
    with pytest.raises(ValueError, match="legacy HDF5"):
        _mlp().save(tmp_path / "m.h5")


def test_compile_config_round_trip_with_objects_and_custom_functions(tmp_path):
    def my_metric(y_true, y_pred):          # mean confidence
        return keras.ops.max(y_pred, axis=-1)

    x, y = _xy(16)
    m = _mlp()
    sched = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    m.compile(keras.optimizers.Adam(sched, clipnorm=1.0),
              keras.losses.SparseCategoricalCrossentropy(),
              metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc"), my_metric])
    m.fit(x, y, epochs=1, verbose=0)
    p = tmp_path / "m.keras"
    m.save(p)
    with pytest.raises(ValueError, match="my_metric"):
        keras.models.load_model(p).evaluate(x, y, verbose=0)
    m2 = keras.models.load_model(p, custom_objects={"my_metric": my_metric})
    assert m2.get_compile_config() == m.get_compile_config()
    assert m2.optimizer.clipnorm == 1.0
    assert m2.optimizer.learning_rate == pytest.approx(m.optimizer.learning_rate)
    assert m2.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(
        m.evaluate(x, y, verbose=0, return_dict=True))


def test_archive_config_is_the_to_json_config(tmp_path):
    """save() and to_json() write one config: compile_config {} before compile (as Keras
    3 writes it in both), the compile arguments after."""
    import json
    import zipfile

    def archived(m):
        p = tmp_path / "m.keras"
        m.save(p)
        return json.loads(zipfile.ZipFile(p).read("config.json"))
    m = _mlp()
    assert archived(m)["compile_config"] == {} == json.loads(m.to_json())["compile_config"]
    m.compile("adam", "mse")
    cfg = archived(m)
    assert cfg == json.loads(m.to_json())
    assert cfg["compile_config"]["loss"] == "mse"


def _lstm_model(seed):
    from lamina import keras
    lm.random.seed(seed)
    return keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(2)])


def test_weights_h5_written_before_the_keras_sublayer_layout_still_load(tmp_path):
    """Files from before lamina followed Keras into sublayers (an LSTM's weights in
    layers/lstm/vars instead of layers/lstm/cell/vars) load unchanged."""
    h5py = pytest.importorskip("h5py")
    from lamina import io
    src = _lstm_model(1)
    p = tmp_path / "old.weights.h5"
    with h5py.File(p, "w") as f:
        f.create_group("vars")
        for gpath, layer, ws in io._legacy_h5_entries(src):
            g = f.require_group(gpath + "/vars")
            for i, v in enumerate(ws):
                g.create_dataset(str(i), data=v.numpy())
        assert "layers/lstm/vars/2" in f and "layers/lstm/cell" not in f
    dst = _lstm_model(2)
    dst.load_weights(p)
    for a, b in zip(src.get_weights(), dst.get_weights()):
        np.testing.assert_array_equal(a, b)
    new = tmp_path / "new.weights.h5"
    src.save_weights(new)
    with h5py.File(new, "r") as f:
        assert f["layers/lstm/cell/vars/1"].shape == (4, 16)


def test_weights_h5_that_does_not_fit_changes_nothing(tmp_path):
    pytest.importorskip("h5py")
    from lamina import keras
    p = tmp_path / "m.weights.h5"
    _lstm_model(1).save_weights(p)
    other = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(3)])
    before = other.get_weights()
    with pytest.raises(ValueError, match="has shape"):
        other.load_weights(p)
    for a, b in zip(before, other.get_weights()):       # the LSTM's weights were not written
        np.testing.assert_array_equal(a, b)
