"""text_dataset_from_directory on small .txt trees written here: class inference, the
strings and labels of each batch, max_length, label modes, explicit labels, seeded
disjoint splits (Keras's file order), unbatched samples, errors, and TextVectorization
adapting to it."""
import os

import numpy as np
import pytest

from lamina.data.text_files import text_dataset_from_directory as tdd


@pytest.fixture
def tree(tmp_path):
    """neg/ (3 files) and pos/ (4 files, one in a nested folder); other files ignored."""
    texts = {}
    for cls, n in (("neg", 3), ("pos", 4)):
        os.makedirs(tmp_path / cls / "more")
        for i in range(n):
            p = tmp_path / cls / ("more" if i == 3 else "") / f"{i}.txt"
            body = f"{cls} review number {i}\r\nsecond line é"
            p.write_bytes(body.encode("utf-8"))
            texts[str(p)] = (cls, body)
    (tmp_path / "neg" / "skip.md").write_text("not a .txt")
    os.makedirs(tmp_path / ".hidden")
    (tmp_path / ".hidden" / "x.txt").write_text("hidden class")
    return tmp_path, texts


def test_strings_and_labels(tree, capsys):
    root, texts = tree
    ds = tdd(str(root), batch_size=3, seed=1)
    assert "Found 7 files belonging to 2 classes." in capsys.readouterr().out
    assert ds.class_names == ["neg", "pos"] and len(ds) == 3
    seen = []
    for x, y in ds:
        assert x.dtype == object and y.dtype == np.int32 and x.shape == y.shape
        seen += list(zip(x.tolist(), y.tolist()))
    assert sorted(seen) == sorted((body, ["neg", "pos"].index(cls))
                                  for cls, body in texts.values())
    assert sorted(ds.file_paths) == sorted(texts)


def test_unshuffled_order_and_max_length(tree):
    root, texts = tree
    ds = tdd(str(root), batch_size=None, shuffle=False, max_length=7, verbose=False)
    assert len(ds) == 7
    x, y = ds[0]                    # batch_size=None: one (text, label) sample
    assert x == "neg rev" and y == 0
    # classes in order, files of a folder before its subfolders, each sorted
    names = [os.path.relpath(p, root) for p in ds.file_paths]
    assert names == ["neg/0.txt", "neg/1.txt", "neg/2.txt", "pos/0.txt", "pos/1.txt",
                     "pos/2.txt", os.path.join("pos", "more", "3.txt")]
    assert ds[6] == ("pos rev", 1)


def test_label_modes(tree):
    root, _ = tree
    kw = dict(batch_size=10, shuffle=False, verbose=False)
    x, y = tdd(str(root), label_mode="binary", **kw)[0]
    assert y.shape == (7, 1) and y.dtype == np.float32
    np.testing.assert_array_equal(y[:, 0], [0, 0, 0, 1, 1, 1, 1])
    x, y = tdd(str(root), label_mode="categorical", **kw)[0]
    np.testing.assert_array_equal(y, np.eye(2, dtype=np.float32)[[0, 0, 0, 1, 1, 1, 1]])
    # without labels every .txt below the directory counts (hidden folders too), as in Keras
    x = tdd(str(root), label_mode=None, **kw)[0]
    assert isinstance(x, np.ndarray) and x.shape == (8,) and "hidden class" in x.tolist()
    only_pos = tdd(str(root), class_names=["pos"], **kw)
    assert only_pos.class_names == ["pos"] and len(only_pos.file_paths) == 4


def test_explicit_labels(tree):
    root, _ = tree
    os.remove(root / ".hidden" / "x.txt")
    labels = [5, 0, 5, 0, 5, 0, 5]
    ds = tdd(str(root), labels=labels, batch_size=7, shuffle=False, verbose=False)
    assert ds.class_names == ["0", "5"]
    np.testing.assert_array_equal(ds[0][1], labels)
    with pytest.raises(ValueError, match="categorical"):
        tdd(str(root), labels=labels, label_mode="categorical", verbose=False)
    with pytest.raises(ValueError, match="2 labels given for 7 files"):
        tdd(str(root), labels=[0, 1], verbose=False)


def test_seeded_split_matches_keras_file_order(tree, capsys):
    root, _ = tree
    tr, va = tdd(str(root), validation_split=0.3, subset="both", seed=11, batch_size=2)
    out = capsys.readouterr().out
    assert "Using 5 files for training." in out and "Using 2 files for validation." in out
    assert len(tr.file_paths) == 5 and len(va.file_paths) == 2
    assert not set(tr.file_paths) & set(va.file_paths)
    # Keras shuffles the sorted file list with RandomState(seed) and cuts the last part off
    listed = tdd(str(root), shuffle=False, verbose=False).file_paths
    order = np.arange(7)
    np.random.RandomState(11).shuffle(order)
    assert tr.file_paths == [listed[i] for i in order[:5]]
    assert va.file_paths == [listed[i] for i in order[5:]]
    alone = tdd(str(root), validation_split=0.3, subset="validation", seed=11, verbose=False)
    assert alone.file_paths == va.file_paths


@pytest.mark.parametrize("kw,match", [
    (dict(label_mode="sparse"), "label_mode"),
    (dict(validation_split=1.5, subset="training", seed=1), "validation_split"),
    (dict(validation_split=0.2, subset="train", seed=1), "subset"),
    (dict(validation_split=0.2, subset="training"), "seed"),
    (dict(subset="training"), "needs validation_split"),
    (dict(labels="folders"), "labels must be"),
    (dict(labels=None, class_names=["neg"]), "class_names"),
    (dict(class_names=["cats"]), "have no subdirectory"),
    (dict(label_mode="binary", class_names=["neg", "pos", "more"]), "no subdirectory"),
    (dict(max_length=-1), "max_length"),
    (dict(batch_size=0), "batch_size"),
])
def test_errors(tree, kw, match):
    root, _ = tree
    with pytest.raises(ValueError, match=match) as e:
        tdd(str(root), verbose=False, **kw)
    assert "text_dataset_from_directory" in str(e.value)


def test_binary_needs_two_classes_and_empty_dirs(tmp_path):
    for c in "abc":
        os.makedirs(tmp_path / c)
        (tmp_path / c / "t.txt").write_text(c)
    with pytest.raises(ValueError, match="exactly 2 classes"):
        tdd(str(tmp_path), label_mode="binary", verbose=False)
    os.makedirs(tmp_path / "empty" / "x")
    with pytest.raises(ValueError, match="no text files"):
        tdd(str(tmp_path / "empty"), verbose=False)
    with pytest.raises(ValueError, match="not a directory"):
        tdd(str(tmp_path / "missing"), verbose=False)


def test_text_vectorization_adapts_and_model_fits(tree):
    from lamina import keras
    root, _ = tree
    ds = tdd(str(root), batch_size=4, seed=0, verbose=False)
    vec = keras.layers.TextVectorization(max_tokens=20, output_mode="multi_hot")
    vec.adapt(ds)
    assert "review" in vec.get_vocabulary()
    x, y = ds[0]
    feats = vec(x).numpy()
    assert feats.shape == (len(x), vec.vocabulary_size())
    np.testing.assert_array_equal(feats[:, vec.get_vocabulary().index("review")], 1)
    model = keras.Sequential([keras.Input((vec.vocabulary_size(),)),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    model.fit(vec(ds[0][0]).numpy(), ds[0][1], epochs=1, verbose=0)


def test_max_length_counts_bytes_as_keras(tmp_path):
    os.makedirs(tmp_path / "c")
    (tmp_path / "c" / "a.txt").write_bytes("né\xff".encode("utf-8") + b"\xffz")

    def get(n):
        return tdd(str(tmp_path), batch_size=None, max_length=n, verbose=False)[0][0]
    assert get(2) == "n"            # "é" is two bytes: the half at the end is dropped
    assert get(3) == "né"
    assert get(None) == "né\xff\ufffdz"     # an invalid byte is replaced, not fatal


def test_zero_validation_split_means_none_and_shuffle_flags(tree):
    root, _ = tree
    whole = tdd(str(root), validation_split=0, shuffle=False, verbose=False)
    assert len(whole.file_paths) == 7
    with pytest.raises(ValueError, match="needs validation_split"):
        tdd(str(root), validation_split=0.0, subset="training", verbose=False)
    tr, va = tdd(str(root), validation_split=0.3, subset="both", seed=2, verbose=False)
    assert tr.shuffle and not va.shuffle          # as Keras: the 'both' validation part is fixed
    alone = tdd(str(root), validation_split=0.3, subset="validation", seed=2, verbose=False)
    assert alone.shuffle
