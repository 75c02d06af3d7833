"""map and take on lamina's datasets: values by hand, laziness, attributes passed through,
epoch hooks forwarded, errors, and the Keras idioms they serve (adapt on texts only,
fit on a mapped dataset)."""
import os

import numpy as np
import pytest

from lamina.data.timeseries import timeseries_dataset_from_array as tsd
from lamina.data.text_files import text_dataset_from_directory as tdd


def test_map_unpacks_tuples_and_is_lazy():
    ds = tsd(np.arange(10), np.arange(10) * 10, sequence_length=2, batch_size=4)
    calls = []

    def fn(x, y):
        calls.append(1)
        return x.sum(axis=1), y + 1
    m = ds.map(fn)
    assert calls == [] and len(m) == len(ds) == 3
    x, y = m[1]
    np.testing.assert_array_equal(x, [9, 11, 13, 15])     # windows [4,5] ... [7,8]
    np.testing.assert_array_equal(y, [41, 51, 61, 71])
    assert len(calls) == 1
    only_x = tsd(np.arange(6), None, sequence_length=3, batch_size=10).map(lambda x: x - 1)
    np.testing.assert_array_equal(only_x[0][0], [-1, 0, 1])
    assert m.batch_size == 4 and m.num_windows == 9          # attributes of the source


def test_take_and_chaining():
    ds = tsd(np.arange(30), None, sequence_length=1, batch_size=4)
    assert len(ds) == 8
    t = ds.take(3)
    assert len(t) == 3 and [b[0, 0] for b in t] == [0, 4, 8]
    assert len(ds.take(100)) == 8 and len(ds.take(-1)) == 8 and len(ds.take(0)) == 0
    both = ds.take(2).map(lambda x: x * 10)
    assert [b[0, 0] for b in both] == [0, 40]
    with pytest.raises(IndexError):
        t[3]
    with pytest.raises(ValueError, match="take"):
        ds.take(-2)
    with pytest.raises(TypeError, match="map"):
        ds.map(3)


def test_views_forward_epoch_hooks():
    ds = tsd(np.arange(50), np.arange(50), sequence_length=2, batch_size=7, shuffle=True,
             seed=0)
    m = ds.map(lambda x, y: y)
    first = np.concatenate(list(m))
    m.on_epoch_end()                                        # reshuffles the source
    assert np.concatenate(list(m)).tolist() != first.tolist()
    assert sorted(np.concatenate(list(m)).tolist()) == sorted(first.tolist())


def test_keras_text_idioms(tmp_path):
    from lamina import keras
    for cls in ("a", "b"):
        os.makedirs(tmp_path / cls)
        for i in range(3):
            (tmp_path / cls / f"{i}.txt").write_text(f"word{cls} common {i}")
    raw = tdd(str(tmp_path), batch_size=2, seed=1, verbose=False)
    vec = keras.layers.TextVectorization(output_mode="count")
    vec.adapt(raw.map(lambda x, y: x))
    vocab = vec.get_vocabulary()
    assert "worda" in vocab and "common" in vocab
    train = raw.map(lambda x, y: (vec(x).numpy(), y))
    assert train.class_names == ["a", "b"]
    model = keras.Sequential([keras.Input((len(vocab),)),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    hist = model.fit(train, epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2
