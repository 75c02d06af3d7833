"""Batching of arrays, nested structures, generators and PyDatasets."""
import numpy as np
import pytest

import lamina as lm
from lamina.nn import data_adapter as da


def test_unpack_and_pack():
    x, y, w = np.zeros(1), np.ones(1), np.full(1, 2.0)
    assert da.unpack_x_y_sample_weight(x) == (x, None, None)
    assert da.unpack_x_y_sample_weight((x,)) == (x, None, None)
    assert da.unpack_x_y_sample_weight([x, y])[1] is y
    assert da.unpack_x_y_sample_weight((x, y, w))[2] is w
    assert da.pack_x_y_sample_weight(x) == (x,)
    assert len(da.pack_x_y_sample_weight(x, y, w)) == 3
    with pytest.raises(ValueError, match="4 elements"):
        da.unpack_x_y_sample_weight((x, x, x, x))


def test_array_batches_cover_every_sample_once_per_epoch():
    x = np.arange(10, dtype=np.float32)[:, None]
    y = np.arange(10)
    ad = da.ArrayAdapter(x, y, batch_size=4)
    assert ad.steps == 3
    lm.random.seed(0)
    seen = []
    for bx, by, bsw in ad.batches(shuffle=True):
        assert bsw is None
        np.testing.assert_array_equal(bx[:, 0], by)        # rows stay aligned
        seen += by.tolist()
    assert sorted(seen) == list(range(10)) and seen != list(range(10))
    sizes = [len(b[0]) for b in ad.batches(shuffle=False)]
    assert sizes == [4, 4, 2]
    assert [len(b[0]) for b in ad.batches(shuffle=False, steps=2)] == [4, 4]


def test_nested_structures_and_float64_cast():
    x = {"a": np.zeros((6, 2)), "b": [np.ones((6, 1), np.float32), np.arange(6)]}
    y = [np.zeros(6), np.ones((6, 3))]
    ad = da.ArrayAdapter(x, y, sample_weight=np.ones(6), batch_size=4)
    bx, by, bsw = next(ad.batches())
    assert set(bx) == {"a", "b"} and isinstance(bx["b"], list)
    assert bx["a"].dtype == np.float32 and bx["a"].shape == (4, 2)
    assert bx["b"][1].shape == (4, 1)               # 1-D input -> a column
    assert isinstance(by, list) and by[1].shape == (4, 3) and by[0].shape == (4,)
    assert bsw.shape == (4,)


def test_sample_count_mismatch_names_sizes():
    with pytest.raises(ValueError, match=r"\[3, 5\]"):
        da.ArrayAdapter(np.zeros((5, 2)), np.zeros(3))


def test_class_weight_to_sample_weight():
    cw = {0: 1.0, 1: 3.0}
    np.testing.assert_array_equal(da.class_weight_to_sample_weight(np.array([0, 1, 1]), cw),
                                  [1, 3, 3])
    np.testing.assert_array_equal(
        da.class_weight_to_sample_weight(np.array([[1.0, 0.0], [0.0, 1.0]]), cw), [1, 3])
    np.testing.assert_array_equal(
        da.class_weight_to_sample_weight(np.array([[0.0], [1.0]]), cw), [1, 3])
    with pytest.raises(ValueError, match=r"classes \[2\]"):
        da.class_weight_to_sample_weight(np.array([2]), cw)


def test_train_validation_split():
    a = np.arange(10)
    tr, va = da.train_validation_split([a, None], 0.3)
    assert tr[0].tolist() == list(range(7)) and va[0].tolist() == [7, 8, 9]
    assert tr[1] is None
    with pytest.raises(ValueError):
        da.train_validation_split([a], 0.0)


def test_generator_adapter():
    def gen():
        for i in range(3):
            yield np.full((2, 1), i, np.float32), np.full(2, i)
    ad = da.get_adapter(gen())
    assert isinstance(ad, da.GeneratorAdapter)
    got = [int(b[1][0]) for b in ad.batches()]
    assert got == [0, 1, 2]
    with pytest.raises(ValueError, match="exhausted"):
        list(ad.batches())
    with pytest.raises(ValueError, match="y and sample_weight"):
        da.get_adapter(gen(), y=np.zeros(2))


def test_pydataset_adapter_calls_epoch_hooks():
    class DS(da.PyDataset):
        def __init__(self):
            super().__init__(workers=2)
            self.ends = 0

        def __len__(self):
            return 3

        def __getitem__(self, i):
            return np.full((2, 1), i, np.float32), np.full(2, i), np.ones(2)

        def on_epoch_end(self):
            self.ends += 1
    ds = DS()
    ad = da.get_adapter(ds)
    batches = list(ad.batches())
    assert [int(b[1][0]) for b in batches] == [0, 1, 2] and batches[0][2].shape == (2,)
    assert ds.ends == 1 and ad.steps == 3
    assert da.Sequence is da.PyDataset
    assert len(list(da.get_adapter(ds, steps=2).batches())) == 2


def test_flatten_round_trip():
    s = {"a": [np.zeros(1), (np.ones(1), np.ones(2))], "b": np.zeros(3)}
    leaves, un = da.flatten(s)
    assert len(leaves) == 4
    back = un(leaves)
    assert isinstance(back["a"][1], tuple) and back["b"] is s["b"]


def test_python_lists_of_numbers_are_one_array():
    ad = da.ArrayAdapter([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [[1.0], [2.0]], batch_size=8)
    bx, by, _ = next(ad.batches())
    assert bx.shape == (2, 3) and bx.dtype == np.float32 and by.shape == (2, 1)
    ad = da.ArrayAdapter([np.zeros((2, 3)), np.ones((2, 1))], batch_size=8)
    bx, _, _ = next(ad.batches())
    assert isinstance(bx, list) and len(bx) == 2         # a list of arrays: two inputs
