"""image_dataset_from_directory on small PGM/PPM/.npy (and, with Pillow, PNG/JPEG) files written
here: class inference, shapes, labels, seeded disjoint splits, label modes, resizing, and
training on it."""
from __future__ import annotations

import os

import numpy as np
import pytest

import lamina as lm
from lamina.data import images as IM


def _ppm(path, img):
    h, w, c = img.shape
    head = f"{'P6' if c == 3 else 'P5'}\n# written by a test\n{w} {h}\n255\n".encode()
    with open(path, "wb") as f:
        f.write(head + img.astype(np.uint8).tobytes())


@pytest.fixture
def tree(tmp_path):
    """cats/ (4 RGB images, bright) and dogs/ (3 images, dark), varied sizes and formats."""
    rng = np.random.default_rng(0)
    made = {}
    for cls, n, lo in (("cats", 4, 150), ("dogs", 3, 0)):
        os.makedirs(tmp_path / cls)
        for i in range(n):
            img = rng.integers(lo, lo + 100, (6 + i, 8, 3)).astype(np.uint8)
            if cls == "dogs" and i == 2:
                p = tmp_path / cls / f"{i}.npy"
                np.save(p, img)
            else:
                p = tmp_path / cls / f"{i}.ppm"
                _ppm(p, img)
            made[str(p)] = (cls, img)
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path, made


def test_reads_classes_shapes_and_labels(tree, capsys):
    root, made = tree
    ds = IM.image_dataset_from_directory(str(root), image_size=(5, 4), batch_size=3, seed=1)
    assert "Found 7 files belonging to 2 classes." in capsys.readouterr().out
    assert ds.class_names == ["cats", "dogs"] and len(ds) == 3
    xs, ys = zip(*[ds[i] for i in range(len(ds))])
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert x.shape == (7, 5, 4, 3) and x.dtype == np.float32 and y.dtype == np.int64
    for path, img, lab in zip(ds.file_paths, x, y):
        cls, src = made[path]
        assert ds.class_names[lab] == cls
        ref = lm.ops.image.resize(lm.tensor(src[None].astype(np.float32)), (5, 4)).numpy()[0]
        np.testing.assert_allclose(img, ref, rtol=1e-5, atol=1e-3)


def test_seeded_split_is_disjoint_and_complete(tree):
    root, _ = tree
    kw = dict(image_size=(4, 4), seed=7, validation_split=0.3, verbose=False)
    tr, va = IM.image_dataset_from_directory(str(root), subset="both", **kw)
    assert len(tr.file_paths) == 5 and len(va.file_paths) == 2
    assert not set(tr.file_paths) & set(va.file_paths)
    again = IM.image_dataset_from_directory(str(root), subset="validation", **kw)
    assert again.file_paths == va.file_paths
    with pytest.raises(ValueError, match="pass a seed"):
        IM.image_dataset_from_directory(str(root), validation_split=0.3, subset="training")


def test_label_modes_and_grayscale(tree):
    root, _ = tree
    ds = IM.image_dataset_from_directory(str(root), image_size=(3, 3), label_mode="categorical",
                                         color_mode="grayscale", batch_size=None,
                                         verbose=False)
    x, y = ds[0]
    assert x.shape == (7, 3, 3, 1) and y.shape == (7, 2) and np.all(y.sum(axis=1) == 1)
    xb, yb = IM.image_dataset_from_directory(str(root), image_size=(3, 3), label_mode="binary",
                                             batch_size=None, verbose=False)[0]
    assert yb.shape == (7, 1) and set(np.unique(yb)) == {0.0, 1.0}
    only = IM.image_dataset_from_directory(str(root), image_size=(3, 3), label_mode=None,
                                           batch_size=4, verbose=False)[0]
    assert isinstance(only, np.ndarray) and only.shape == (4, 3, 3, 3)


def test_a_model_trains_on_it(tree):
    from lamina import keras
    root, _ = tree
    ds = IM.image_dataset_from_directory(str(root), image_size=(6, 6), batch_size=4, seed=0,
                                         verbose=False)
    model = keras.Sequential([keras.Input(shape=(6, 6, 3)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Conv2D(2, 3), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    hist = model.fit(ds, epochs=15, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert hist.history["accuracy"][-1] == 1.0      # bright cats vs dark dogs


def test_img_to_array_and_errors(tmp_path):
    a = IM.img_to_array(np.zeros((4, 5), np.uint8))
    assert a.shape == (4, 5, 1) and a.dtype == np.float32
    assert IM.img_to_array(np.zeros((4, 5, 3)), data_format="channels_first").shape == (3, 4, 5)
    with pytest.raises(ValueError, match="is not a directory"):
        IM.image_dataset_from_directory(str(tmp_path / "nope"))
    (tmp_path / "bad.pgm").write_bytes(b"P2\n2 2\n255\n0 0 0 0")
    with pytest.raises(ValueError, match="not a binary PGM/PPM"):
        IM.read_image(str(tmp_path / "bad.pgm"))
    try:
        import PIL  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install pillow"):
            IM.load_img(str(tmp_path / "bad.pgm"))


def test_png_and_jpeg_through_pillow_match_keras(tmp_path):
    """PNG (lossless, RGBA and grayscale) and JPEG files decode through Pillow; the arrays
    equal the written pixels (PNG) and, where Keras is installed, what keras.utils.load_img
    and img_to_array give for the same files and arguments."""
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (7, 9, 3)).astype(np.uint8)
    os.makedirs(tmp_path / "a")
    os.makedirs(tmp_path / "b")
    Image.fromarray(rgb).save(tmp_path / "a" / "rgb.png")
    rgba = np.concatenate([rgb, np.full((7, 9, 1), 200, np.uint8)], axis=-1)
    Image.fromarray(rgba).save(tmp_path / "a" / "rgba.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "b" / "gray.png")
    yy, xx = np.mgrid[0:7, 0:9]
    smooth = np.stack([yy * 30, xx * 25, 100 + yy * 10 + xx * 5], axis=-1).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "b" / "photo.jpg", quality=95)

    arr = IM.img_to_array(IM.load_img(str(tmp_path / "a" / "rgb.png")))
    np.testing.assert_array_equal(arr, rgb.astype(np.float32))
    arr = IM.img_to_array(IM.load_img(str(tmp_path / "a" / "rgba.png"), color_mode="rgba"))
    np.testing.assert_array_equal(arr, rgba.astype(np.float32))
    gray = IM.img_to_array(IM.load_img(str(tmp_path / "b" / "gray.png"), color_mode="grayscale"))
    np.testing.assert_array_equal(gray[..., 0], rgb[..., 0].astype(np.float32))
    jpg = IM.img_to_array(IM.load_img(str(tmp_path / "b" / "photo.jpg")))
    assert jpg.shape == (7, 9, 3) and np.abs(jpg - smooth).mean() < 6     # lossy, but close

    ds = IM.image_dataset_from_directory(str(tmp_path), image_size=(5, 6), batch_size=8,
                                         shuffle=False, verbose=False)
    x, y = ds[0]
    assert x.shape == (4, 5, 6, 3) and sorted(np.asarray(y).tolist()) == [0, 0, 1, 1]

    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        return
    for name, kw in (("a/rgb.png", dict(target_size=(4, 5))),
                     ("a/rgba.png", dict(color_mode="grayscale")),
                     ("b/photo.jpg", dict(target_size=(10, 3), interpolation="bilinear")),
                     ("b/gray.png", dict(color_mode="rgb"))):
        path = str(tmp_path / name)
        want = keras.utils.img_to_array(keras.utils.load_img(path, **kw))
        np.testing.assert_array_equal(IM.img_to_array(IM.load_img(path, **kw)), want)


def test_split_picks_keras_files_and_explicit_labels(tree):
    """The seeded split takes the files Keras's index_directory order gives (the sorted
    list shuffled by RandomState(seed)); explicit labels name classes as Keras does."""
    root, made = tree
    listed = IM.image_dataset_from_directory(str(root), image_size=(4, 4), shuffle=False,
                                             verbose=False).file_paths
    tr = IM.image_dataset_from_directory(str(root), image_size=(4, 4), seed=5,
                                         validation_split=0.3, subset="training",
                                         verbose=False)
    order = np.arange(len(listed))
    np.random.RandomState(5).shuffle(order)
    assert tr.file_paths == [listed[i] for i in order[:5]]
    ds = IM.image_dataset_from_directory(str(root), labels=[0, 3, 3, 0, 3, 0, 0],
                                         image_size=(4, 4), shuffle=False, verbose=False)
    assert ds.class_names == ["0", "3"]
    with pytest.raises(ValueError, match="categorical"):
        IM.image_dataset_from_directory(str(root), labels=[0, 3, 3, 0, 3, 0, 0],
                                        label_mode="categorical", verbose=False)


def test_array_to_img_scales_and_modes():
    Image = pytest.importorskip("PIL.Image")
    x = np.array([[[-1.0], [0.0]], [[1.0], [3.0]]], np.float32)
    img = IM.array_to_img(x)
    assert isinstance(img, Image.Image) and img.mode == "L" and img.size == (2, 2)
    # (x - min) / (max - min) * 255, then cast to uint8: 0, 63.75, 127.5, 255
    np.testing.assert_array_equal(np.asarray(img), [[0, 63], [127, 255]])
    raw = IM.array_to_img(np.full((2, 3, 3), 7.9), scale=False)
    assert raw.mode == "RGB" and raw.size == (3, 2)
    np.testing.assert_array_equal(np.asarray(raw), 7)
    chw = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    rgba = IM.array_to_img(chw, data_format="channels_first", scale=False)
    assert rgba.mode == "RGBA" and rgba.size == (3, 2)
    np.testing.assert_array_equal(np.asarray(rgba), chw.transpose(1, 2, 0))
    big = IM.array_to_img(np.full((2, 2, 1), 1000.0), scale=False)
    assert big.mode == "I" and np.asarray(big).max() == 1000
    with pytest.raises(ValueError, match="rank 3"):
        IM.array_to_img(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="1, 3 or 4 channels"):
        IM.array_to_img(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="data_format"):
        IM.array_to_img(np.zeros((2, 2, 1)), data_format="nchw")


def test_save_img_round_trips(tmp_path):
    pytest.importorskip("PIL.Image")
    rgb = np.random.default_rng(1).integers(0, 256, (5, 4, 3)).astype(np.float32)
    IM.save_img(str(tmp_path / "a.png"), rgb, scale=False)
    np.testing.assert_array_equal(IM.read_image(str(tmp_path / "a.png")), rgb)
    rgba = np.concatenate([rgb, np.full((5, 4, 1), 255.0)], axis=-1)
    with pytest.warns(UserWarning, match="alpha"):
        IM.save_img(str(tmp_path / "b.jpg"), rgba, scale=False)
    assert IM.read_image(str(tmp_path / "b.jpg")).shape == (5, 4, 3)
    IM.save_img(tmp_path / "c.img", rgb, file_format="png", scale=False)
    np.testing.assert_array_equal(IM.read_image(str(tmp_path / "c.img")), rgb)


def test_array_to_img_without_pillow_says_what_to_install(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        IM.array_to_img(np.zeros((2, 2, 1)))
