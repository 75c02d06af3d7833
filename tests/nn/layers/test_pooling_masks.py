"""Masks reaching the 1D global pooling layers: GlobalAveragePooling1D averages over the
unmasked steps only and drops the mask; GlobalMaxPooling1D ignores it (both as Keras 3)."""
from __future__ import annotations

import os

import numpy as np
import pytest

import lamina as lm
from lamina.nn import Input, Model, Sequential
from lamina.nn import layers as L
from lamina.nn.layers.base import get_mask
from lamina.testing import gradcheck

# 0 is the padding token: rows end with 0, 2 and 3 masked steps
TOKENS = np.array([[4, 1, 3, 2, 5], [2, 2, 7, 0, 0], [6, 0, 0, 0, 0]], dtype=np.int64)


@pytest.fixture
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _weights(seed=0):
    return np.random.default_rng(seed).standard_normal((8, 4)).astype(np.float32)


def _masked_mean(x, keep):
    """Reference: mean over the steps where keep is true, (N, L, C), (N, L) -> (N, C)."""
    k = keep[:, :, None].astype(x.dtype)
    return (x * k).sum(axis=1) / k.sum(axis=1)


def _embedding_model(pool, w, **kw):
    inp = Input((TOKENS.shape[1],), dtype="int64")
    emb = L.Embedding(8, 4, mask_zero=True)
    out = pool(**kw)(emb(inp))
    model = Model(inp, out)
    emb.set_weights([w])
    return model


def test_average_uses_unmasked_steps_only():
    w = _weights()
    y = _embedding_model(L.GlobalAveragePooling1D, w).predict(TOKENS, verbose=0)
    np.testing.assert_allclose(y, _masked_mean(w[TOKENS], TOKENS != 0), rtol=1e-6, atol=1e-7)
    # the plain mean over all steps differs on the padded rows
    assert not np.allclose(y[1:], w[TOKENS].mean(axis=1)[1:])


def test_average_eager_sequential_and_explicit_mask():
    w = _weights(1)
    emb = L.Embedding(8, 4, mask_zero=True)
    pool = L.GlobalAveragePooling1D()
    model = Sequential([emb, pool])
    model(TOKENS)
    emb.set_weights([w])
    want = _masked_mean(w[TOKENS], TOKENS != 0)
    np.testing.assert_allclose(model(TOKENS).numpy(), want, rtol=1e-6, atol=1e-7)
    x = lm.tensor(w[TOKENS])
    np.testing.assert_allclose(pool(x, mask=TOKENS != 0).numpy(), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(pool(x, mask=lm.tensor(TOKENS != 0)).numpy(), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(pool(x).numpy(), w[TOKENS].mean(axis=1), rtol=1e-6, atol=1e-7)


def test_average_mask_stops_at_the_layer():
    emb = L.Embedding(8, 4, mask_zero=True)
    h = emb(TOKENS)
    assert get_mask(h) is not None
    y = L.GlobalAveragePooling1D()(h)
    assert get_mask(y) is None
    inp = Input((5,), dtype="int64")
    assert not L.GlobalAveragePooling1D()(L.Embedding(8, 4, mask_zero=True)(inp))._has_mask


def test_average_channels_first_and_keepdims():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)       # (N, C, L)
    keep = TOKENS != 0
    want = _masked_mean(np.transpose(x, (0, 2, 1)), keep)
    pool = L.GlobalAveragePooling1D(data_format="channels_first", keepdims=True)
    y = pool(lm.tensor(x), mask=keep)
    assert y.shape == (3, 4, 1)
    np.testing.assert_allclose(y.numpy()[:, :, 0], want, rtol=1e-6, atol=1e-7)
    y = L.GlobalAveragePooling1D(keepdims=True)(lm.tensor(np.transpose(x, (0, 2, 1))),
                                                mask=keep)
    assert y.shape == (3, 1, 4)
    np.testing.assert_allclose(y.numpy()[:, 0], want, rtol=1e-6, atol=1e-7)


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_average_masked_nan_does_not_leak_and_all_masked_row_is_nan():
    x = np.ones((2, 3, 2), np.float32)
    x[0, 2] = np.nan
    keep = np.array([[1, 1, 0], [0, 0, 0]], bool)
    y = L.GlobalAveragePooling1D()(lm.tensor(x), mask=keep).numpy()
    np.testing.assert_array_equal(y[0], [1.0, 1.0])
    assert np.isnan(y[1]).all()


def test_average_bad_mask_shape():
    with pytest.raises(ValueError, match=r"GlobalAveragePooling1D.*\(3, 4\).*\(3, 5\)"):
        L.GlobalAveragePooling1D()(lm.tensor(np.ones((3, 5, 2), np.float32)),
                                   mask=np.ones((3, 4), bool))


def test_average_masked_gradients():
    keep = TOKENS != 0
    pool = L.GlobalAveragePooling1D(dtype="float64")
    x = np.random.default_rng(3).standard_normal((3, 5, 2))
    assert gradcheck(lambda t: pool(t, mask=keep), [x])
    t = lm.tensor(x, requires_grad=True)
    lm.sum(pool(t, mask=keep)).backward()
    g = t.grad.numpy()
    assert np.all(g[~keep] == 0)
    np.testing.assert_allclose(g[keep], np.repeat(1 / keep.sum(1), keep.sum(1))[:, None]
                               * np.ones((1, 2)))


def test_max_ignores_the_mask_like_keras3():
    w = -np.abs(_weights(4))
    w[0] = 1.0            # padding embedding larger than every real one
    y = _embedding_model(L.GlobalMaxPooling1D, w).predict(TOKENS, verbose=0)
    np.testing.assert_allclose(y, w[TOKENS].max(axis=1))
    assert np.all(y[1:] == 1.0)


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("name,kw", [("GlobalAveragePooling1D", {}),
                                     ("GlobalAveragePooling1D", {"keepdims": True}),
                                     ("GlobalMaxPooling1D", {})])
def test_against_keras(keras, name, kw):
    import warnings
    w = _weights(5)
    w[0] = 3.0
    tokens = np.concatenate([TOKENS, np.zeros((1, 5), np.int64)])   # one all-masked row
    mine = _embedding_model(getattr(L, name), w, **kw).predict(tokens, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # Keras warns that GlobalMaxPooling1D drops masks
        inp = keras.Input((5,), dtype="int64")
        emb = keras.layers.Embedding(8, 4, mask_zero=True)
        theirs = keras.Model(inp, getattr(keras.layers, name)(**kw)(emb(inp)))
        emb.set_weights([w])
        want = theirs.predict(tokens, verbose=0)
    assert mine.shape == want.shape
    np.testing.assert_allclose(mine, want, rtol=1e-6, atol=1e-6)


def test_average_with_mask_on_every_device(device):
    w = _weights(6)
    emb = L.Embedding(8, 4, mask_zero=True)
    model = Sequential([Input((5,), dtype="int64"), emb, L.GlobalAveragePooling1D(),
                        L.Dense(1)])
    emb.set_weights([w])
    model.to(device)
    x = lm.tensor(TOKENS, device=device)
    y = model(x)
    assert str(y.device).startswith(device)
    dense = [a.numpy() for a in model.layers[-1].weights]
    want = _masked_mean(w[TOKENS], TOKENS != 0) @ dense[0] + dense[1]
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-6)
    lm.sum(y).backward()
    g = emb.embeddings.grad.numpy()
    assert np.all(g[0] == 0)                  # the padding row gets no gradient
    assert np.all(g[1:] != 0)                 # every id 1-7 occurs in TOKENS
