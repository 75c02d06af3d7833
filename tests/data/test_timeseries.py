"""timeseries_dataset_from_array: windows and targets checked by hand, start/end indices,
sampling rate and stride, unbatched windows, seeded shuffling, argument errors, and a
model trained on it."""
import numpy as np
import pytest

from lamina.data.timeseries import timeseries_dataset_from_array as tsd


def test_windows_and_targets_by_hand():
    data = np.arange(10)
    ds = tsd(data, data * 10, sequence_length=3, batch_size=4)
    # 10 - (3 - 1) = 8 windows starting at 0..7, in batches of 4
    assert len(ds) == 2 and ds.num_windows == 8
    x, y = ds[0]
    np.testing.assert_array_equal(x, [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]])
    np.testing.assert_array_equal(y, [0, 10, 20, 30])
    x, y = ds[1]
    np.testing.assert_array_equal(x[-1], [7, 8, 9])
    np.testing.assert_array_equal(y, [40, 50, 60, 70])


def test_stride_rate_start_end_and_features():
    data = np.arange(40, dtype=np.float32).reshape(20, 2)
    ds = tsd(data, None, sequence_length=3, sequence_stride=2, sampling_rate=2,
             batch_size=10, start_index=2, end_index=15)
    x = ds[0]                       # no targets: x alone
    assert isinstance(x, np.ndarray) and x.dtype == np.float32
    # window starts 2, 4, ..., 10 (each spans start..start+4 and must end before 15)
    assert x.shape == (5, 3, 2)
    np.testing.assert_array_equal(x[0], data[[2, 4, 6]])
    np.testing.assert_array_equal(x[4], data[[10, 12, 14]])


def test_targets_are_offset_by_start_index():
    data = np.arange(12)
    ds = tsd(data, data + 100, sequence_length=2, batch_size=None, start_index=3)
    x, y = ds[0]                    # batch_size=None: one window, no batch axis
    np.testing.assert_array_equal(x, [3, 4])
    assert y == 103
    assert len(ds) == 12 - 3 - 1
    x, y = ds[len(ds) - 1]
    np.testing.assert_array_equal(x, [10, 11])
    assert y == 110


def test_short_targets_limit_the_windows():
    ds = tsd(np.arange(10), np.arange(4), sequence_length=2, batch_size=100)
    x, y = ds[0]
    assert len(x) == 4
    np.testing.assert_array_equal(y, [0, 1, 2, 3])


def test_too_short_data_gives_no_windows():
    ds = tsd(np.arange(5), None, sequence_length=8, batch_size=2)
    assert len(ds) == 0 and list(ds) == []


def test_shuffle_is_seeded_and_a_permutation():
    data = np.arange(30)
    a = tsd(data, data, sequence_length=4, batch_size=5, shuffle=True, seed=3)
    b = tsd(data, data, sequence_length=4, batch_size=5, shuffle=True, seed=3)
    ya = np.concatenate([y for _, y in a])
    np.testing.assert_array_equal(ya, np.concatenate([y for _, y in b]))
    assert sorted(ya.tolist()) == list(range(27)) and ya.tolist() != list(range(27))
    # Keras's first permutation of the window starts
    want = np.arange(27)
    np.random.RandomState(3).shuffle(want)
    np.testing.assert_array_equal(ya, want)
    for x, y in a:                  # each window still matches its target
        np.testing.assert_array_equal(x[:, 0], y)
    a.on_epoch_end()
    assert np.concatenate([y for _, y in a]).tolist() != ya.tolist()


@pytest.mark.parametrize("kw,err,match", [
    (dict(sequence_length=0), ValueError, "sequence_length"),
    (dict(sequence_length=2.5), TypeError, "sequence_length"),
    (dict(sampling_rate=0), ValueError, "sampling_rate"),
    (dict(sampling_rate=10), ValueError, "sampling_rate must be lower"),
    (dict(sequence_stride=10), ValueError, "sequence_stride must be lower"),
    (dict(start_index=-1), ValueError, "start_index"),
    (dict(start_index=10), ValueError, "start_index must be lower"),
    (dict(start_index=5, end_index=4), ValueError, "end_index must be higher"),
    (dict(end_index=10), ValueError, "end_index must be lower"),
    (dict(batch_size=0), ValueError, "batch_size"),
])
def test_argument_errors(kw, err, match):
    args = dict(sequence_length=3)
    args.update(kw)
    with pytest.raises(err, match=match) as e:
        tsd(np.arange(10), None, **args)
    assert "timeseries_dataset_from_array" in str(e.value)


def test_index_out_of_range():
    ds = tsd(np.arange(10), None, sequence_length=3, batch_size=4)
    with pytest.raises(IndexError):
        ds[2]


def test_model_fits_and_predicts_on_it():
    from lamina import keras
    keras.utils.set_random_seed(0)
    t = np.arange(200, dtype=np.float32)
    series = np.sin(t / 5)[:, None]
    ds = tsd(series[:-5], series[5:, 0], sequence_length=5, batch_size=32)
    model = keras.Sequential([keras.Input((5, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(1)])
    model.compile("adam", "mse")
    hist = model.fit(ds, epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2
    pred = model.predict(tsd(series, None, sequence_length=5, batch_size=64), verbose=0)
    assert pred.shape == (196, 1)


def test_dtypes_kept_for_arrays_and_tf_like_for_lists():
    x64 = np.arange(6, dtype=np.float64)
    assert tsd(x64, None, sequence_length=2)[0].dtype == np.float64
    assert tsd([0.5, 1.5, 2.5, 3.5], None, sequence_length=2)[0].dtype == np.float32
    x, y = tsd([1, 2, 3, 4], [5, 6, 7, 8], sequence_length=2)[0]
    assert x.dtype == np.int32 and y.dtype == np.int32
    np.testing.assert_array_equal(x, [[1, 2], [2, 3], [3, 4]])
