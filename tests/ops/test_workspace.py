"""The scratch-array pool: reuse only of arrays nobody references, and fused ops that
keep pooled arrays for their backward staying correct while several graphs are alive."""
import mmap

import numpy as np
import pytest

import lamina as lm
from lamina.ops import workspace as W
from lamina.ops.recurrent import gru, lstm, simple_rnn

BIG = (256, 256)        # 256 KiB of float32: above the pooling threshold


@pytest.fixture(autouse=True)
def _fresh_pool():
    W.clear()
    yield
    W.clear()


def test_shape_dtype_and_reuse_of_a_dropped_array():
    a = W.scratch(np, BIG, np.float32)
    assert a.shape == BIG and a.dtype == np.float32
    addr = a.__array_interface__["data"][0]
    del a
    b = W.scratch(np, BIG, np.float32)
    assert b.__array_interface__["data"][0] == addr
    assert W.pooled_bytes() == 256 * 256 * 4


def test_an_array_in_use_is_never_handed_out_again():
    a = W.scratch(np, BIG, np.float32)
    b = W.scratch(np, BIG, np.float32)
    assert not np.shares_memory(a, b)
    view = a[1:]            # a view keeps its base busy
    del a
    c = W.scratch(np, BIG, np.float32)
    assert not np.shares_memory(c, view) and not np.shares_memory(c, b)


def test_keys_differ_by_shape_and_dtype():
    a = W.scratch(np, BIG, np.float32)
    del a
    b = W.scratch(np, BIG, np.float64)
    c = W.scratch(np, (128, 512), np.float32)
    assert b.dtype == np.float64 and c.shape == (128, 512)
    assert not np.shares_memory(b, c)


def test_small_arrays_are_not_pooled():
    a = W.scratch(np, (4, 4), np.float32)
    assert a.shape == (4, 4)
    assert W.pooled_bytes() == 0


def test_other_array_modules_pass_through():
    class FakeXp:
        def empty(self, shape, dtype):
            return ("empty", shape, dtype)
    assert W.scratch(FakeXp(), BIG, np.float32) == ("empty", BIG, np.float32)
    assert W.pooled_bytes() == 0


def test_clear_drops_the_pool_but_not_arrays_in_use():
    a = W.scratch(np, BIG, np.float32)
    a[:] = 3
    W.clear()
    assert W.pooled_bytes() == 0
    assert (a == 3).all()


def _rnn_grads(kind, x, k, u, b, w):
    ts = [lm.tensor(v, requires_grad=True) for v in (x, k, u, b)]
    if kind == "lstm":
        seq, h, c = lstm(ts[0], None, None, ts[1], ts[2], ts[3])
        extra = c.sum()
    elif kind == "gru":
        seq, h = gru(ts[0], None, ts[1], ts[2], ts[3])
        extra = 0
    else:
        seq, h = simple_rnn(ts[0], None, ts[1], ts[2], ts[3])
        extra = 0
    return (seq * lm.tensor(w)).sum() + (h * h).sum() + extra, ts


@pytest.mark.parametrize("kind,gates,bias", [("lstm", 4, lambda h: (4 * h,)),
                                             ("gru", 3, lambda h: (2, 3 * h)),
                                             ("simple_rnn", 1, lambda h: (h,))])
def test_rnn_graphs_alive_together_keep_their_own_saved_arrays(kind, gates, bias):
    # The fused RNNs save pooled arrays for their backward: a second forward of the same
    # shapes while the first graph is alive must not overwrite them.
    rng = np.random.default_rng(0)
    N, T, D, H = 4, 80, 8, 128 if kind == "simple_rnn" else 64   # big enough to be pooled
    args = []
    for _ in range(2):
        a = [rng.standard_normal(s).astype(np.float32) * 0.5
             for s in ((N, T, D), (D, gates * H), (H, gates * H), bias(H), (N, T, H))]
        a[2] /= np.sqrt(H)      # a contracting recurrence: gradients of moderate size
        args.append(a)
    alone = []
    for a in args:
        loss, ts = _rnn_grads(kind, *a)
        loss.backward()
        alone.append([t.grad.numpy().copy() for t in ts])
    live = [_rnn_grads(kind, *a) for a in args]     # both graphs alive at once
    for (loss, ts), ref in zip(reversed(live), reversed(alone)):
        loss.backward()
        for t, r in zip(ts, ref):
            np.testing.assert_allclose(t.grad.numpy(), r, rtol=1e-5, atol=1e-6)


def test_least_recently_used_shapes_make_room_under_the_cap(monkeypatch):
    size = 256 * 256 * 4
    monkeypatch.setattr(W, "_MAX_BYTES", 2 * size)
    a = W.scratch(np, BIG, np.float32)
    b = W.scratch(np, BIG, np.float64)          # twice the bytes: a is forgotten for it
    assert W.pooled_bytes() == 2 * size
    a[:] = 1                                    # an array in use stays valid
    assert (a == 1).all()
    del b
    c = W.scratch(np, BIG, np.float64)          # still pooled: reused
    assert W.pooled_bytes() == 2 * size
    d = W.scratch(np, (512, 128), np.float32)   # makes room by forgetting float64
    assert W.pooled_bytes() == size
    assert not np.shares_memory(c, d)


def test_the_cap_holds_when_one_shape_alone_fills_it(monkeypatch):
    size = 256 * 256 * 4
    monkeypatch.setattr(W, "_MAX_BYTES", 2 * size)
    held = [W.scratch(np, BIG, np.float32) for _ in range(3)]   # all in use
    assert W.pooled_bytes() == 2 * size
    assert not np.shares_memory(held[2], held[0]) and not np.shares_memory(held[2], held[1])


@pytest.mark.parametrize("shape,dtype", [((4, 33, 7), np.float32), ((5,), np.float64),
                                         ((0, 3), np.float32)])
def test_aligned_empty_is_64_byte_aligned_and_writable(shape, dtype):
    from lamina.ops.workspace import aligned_empty
    for _ in range(8):          # several allocations: the offset differs between them
        a = aligned_empty(np, shape, dtype)
        assert a.shape == shape and a.dtype == dtype
        assert a.size == 0 or a.ctypes.data % 64 == 0     # (an empty array has no data)
        assert a.flags.c_contiguous and a.flags.writeable
        a[...] = 3
        assert np.all(a == 3)



HUGE = (1024, 512)      # 2 MiB of float32: large enough for huge pages


def _mapping_of(a):
    """The object at the end of ``a``'s base chain (an mmap for huge-page memory)."""
    b = a
    while isinstance(b, np.ndarray):
        b = b.base
    return b.obj if isinstance(b, memoryview) else b


@pytest.mark.skipif(W._HUGE_ADVICE is None, reason="no transparent huge pages here")
def test_large_pooled_arrays_sit_on_huge_page_aligned_mappings():
    a = W.scratch(np, HUGE, np.float32)
    assert isinstance(_mapping_of(a), mmap.mmap)
    assert a.__array_interface__["data"][0] % W._HUGE_PAGE == 0
    assert a.flags.c_contiguous and a.flags.writeable and a.shape == HUGE
    a[...] = 1.5
    assert float(a.sum()) == 1.5 * a.size
    addr = a.__array_interface__["data"][0]
    del a
    again = W.scratch(np, HUGE, np.float32)     # reused like any pooled array
    assert again.__array_interface__["data"][0] == addr
    # the mapping outlives the pool while a view of it is alive
    view = again[:2]
    del again
    W.clear()
    assert float(view.sum()) == 1.5 * 2 * HUGE[1]


def test_large_arrays_are_plain_numpy_without_huge_page_advice(monkeypatch):
    monkeypatch.setattr(W, "_HUGE_ADVICE", None)
    a = W.scratch(np, HUGE, np.float32)
    assert _mapping_of(a) is None and a.shape == HUGE and a.flags.writeable
    assert W.pooled_bytes() == a.nbytes         # pooled all the same


def test_arrays_under_a_megabyte_stay_on_plain_pages():
    a = W.scratch(np, BIG, np.float32)          # 256 KiB: pooled, below the huge-page size
    assert _mapping_of(a) is None


def test_a_view_keeps_a_huge_page_array_busy():
    """A view of a pooled array of 1 MB or more (the huge-page mappings) keeps it out of the
    pool, as views of small arrays do: the next request gets other memory."""
    from lamina.ops import workspace as W
    shape = (512, 1024)                               # 2 MiB of float32
    a = W.scratch(np, shape, np.float32)
    a[...] = 1
    v = a[:, 1:]
    addr = a.ctypes.data
    del a
    b = W.scratch(np, shape, np.float32)
    assert b.ctypes.data != addr
    b[...] = 0
    assert (v == 1).all()
