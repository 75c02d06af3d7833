"""ReversibleEmbedding: the forward lookup is Embedding's, the reverse projection is
``h @ E.T`` (tied) or ``h @ reverse_embeddings``, optionally soft-capped; float64
gradients of the reverse path; masks (forward only); shapes, symbolic calls, configs,
.keras save and load of a tied encoder/decoder model, and errors."""
from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import keras
from lamina.nn.layers import ReversibleEmbedding, Embedding, get_mask
from lamina.testing import gradcheck

from layer_checks import roundtrip

rng = np.random.default_rng(3)
IDS = np.array([[1, 4, 0, 2], [3, 0, 0, 5]])
H = rng.standard_normal((2, 4, 6)).astype(np.float32)


def test_is_an_embedding_whose_forward_is_the_lookup():
    layer = ReversibleEmbedding(7, 6)
    assert isinstance(layer, Embedding)
    y = layer(IDS).numpy()
    np.testing.assert_array_equal(y, layer.embeddings.numpy()[IDS])
    assert [w.path for w in layer.weights] == [f"{layer.name}/embeddings"]


@pytest.mark.parametrize("tie", [True, False])
@pytest.mark.parametrize("cap", [None, 2.0])
def test_reverse_projection(tie, cap):
    layer = ReversibleEmbedding(7, 6, tie_weights=tie, logit_soft_cap=cap)
    layer(IDS)
    assert [w.name for w in layer.weights] == (["embeddings"] if tie else
                                              ["embeddings", "reverse_embeddings"])
    kernel = layer.embeddings.numpy().T if tie else layer.reverse_embeddings.numpy()
    if not tie:
        assert kernel.shape == (6, 7)
        assert not np.allclose(kernel, layer.embeddings.numpy().T)
    # scale up so that the cap bends the logits visibly
    h = H * 20
    want = h @ kernel
    if cap is not None:
        want = cap * np.tanh(want / cap)
        assert np.abs(want).max() < cap
    got = layer(h, reverse=True)
    assert got.shape == (2, 4, 7) and got.dtype == np.float32
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("tie,cap", [(True, None), (False, None), (True, 0.7)])
def test_reverse_gradients_float64(tie, cap):
    layer = ReversibleEmbedding(5, 3, tie_weights=tie, logit_soft_cap=cap, dtype="float64",
                                embeddings_initializer="random_normal")
    layer.build()
    h = rng.standard_normal((2, 3, 3))
    names = ["embeddings"] if tie else ["embeddings", "reverse_embeddings"]
    weights = [layer.__dict__[n].numpy() for n in names]

    def f(x, *ws):
        saved = {n: layer.__dict__[n] for n in names}
        layer.__dict__.update(dict(zip(names, ws)))
        try:
            return layer(x, reverse=True)
        finally:
            layer.__dict__.update(saved)
    assert gradcheck(f, [h] + weights, name="ReversibleEmbedding(reverse)")


def test_tied_weights_get_gradient_from_both_directions():
    layer = ReversibleEmbedding(6, 4)
    logits = layer(layer(IDS[:, :3] % 6), reverse=True)
    lm.sum(logits * logits).backward()
    g = layer.embeddings.grad.numpy()
    # rows never looked up still get gradient through the reverse projection
    assert np.abs(g[5]).sum() > 0


def test_reverse_dtype_casts_the_projection():
    layer = ReversibleEmbedding(7, 6, reverse_dtype="float64")
    layer(IDS)
    y = layer(H, reverse=True)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), H.astype(np.float64) @
                               layer.embeddings.numpy().astype(np.float64).T, rtol=1e-12)


def test_mask_on_forward_output_only():
    layer = ReversibleEmbedding(7, 6, mask_zero=True)
    h = layer(IDS)
    np.testing.assert_array_equal(get_mask(h).numpy(), IDS != 0)
    assert layer.compute_mask(IDS) is None          # as Keras: masking happens in call
    assert get_mask(layer(h, reverse=True)) is None
    assert get_mask(ReversibleEmbedding(7, 6)(IDS)) is None


def test_symbolic_shapes_masks_and_compute_output_shape():
    layer = ReversibleEmbedding(9, 5, mask_zero=True, reverse_dtype="float64")
    inp = keras.Input((4,), dtype="int32")
    h = layer(inp)
    assert h.shape == (None, 4, 5) and h._has_mask and h.dtype == np.float32
    y = layer(h, reverse=True)
    assert y.shape == (None, 4, 9) and not y._has_mask and y.dtype == np.float64
    assert layer.compute_output_shape((None, 4)) == (None, 4, 5)
    assert layer.compute_output_shape((None, 4, 5), reverse=True) == (None, 4, 9)


def test_masked_sequence_model_saves_and_loads(tmp_path):
    inp = keras.Input((4,), dtype="int32")
    emb = ReversibleEmbedding(8, 5, mask_zero=True, logit_soft_cap=4.0)
    h = keras.layers.LSTM(5, return_sequences=True)(emb(inp))
    model = keras.Model(inp, emb(h, reverse=True))
    assert model.count_params() == 8 * 5 + 4 * (5 * 5 + 5 * 5 + 5)   # the table once
    x = IDS % 8
    y = model.predict(x, verbose=0)
    # masked steps repeat the LSTM's last valid output, hence the same logits
    np.testing.assert_allclose(y[1, 2], y[1, 0], rtol=1e-6)
    model.save(tmp_path / "tied.keras")
    again = keras.models.load_model(tmp_path / "tied.keras")
    np.testing.assert_array_equal(again.predict(x, verbose=0), y)
    assert again.layers[1].get_config() == emb.get_config()


def test_config_round_trip_and_weights_argument():
    layer = ReversibleEmbedding(7, 6, tie_weights=False, logit_soft_cap=3.0, mask_zero=True,
                                embeddings_regularizer="l2", activity_regularizer="l1")
    cfg = layer.get_config()
    assert list(cfg)[3:] == ["input_dim", "output_dim", "embeddings_initializer",
                             "embeddings_regularizer", "activity_regularizer",
                             "embeddings_constraint", "mask_zero", "tie_weights",
                             "reverse_dtype", "logit_soft_cap"]
    clone = roundtrip(layer, IDS)
    np.testing.assert_array_equal(clone(H, reverse=True).numpy(),
                                  layer(H, reverse=True).numpy())
    e, r = rng.standard_normal((7, 6)), rng.standard_normal((6, 7))
    given = ReversibleEmbedding(7, 6, tie_weights=False, weights=[e, r])
    np.testing.assert_allclose(given.reverse_embeddings.numpy(), r.astype(np.float32))


def test_errors_name_the_layer_and_shapes():
    layer = ReversibleEmbedding(7, 6, name="tok")
    with pytest.raises(ValueError, match=r"'tok'.*output_dim=6.*\(2, 4, 5\)"):
        layer(np.zeros((2, 4, 5), np.float32), reverse=True)
    with pytest.raises(ValueError, match="'tok'.*output_dim=6"):
        layer(keras.Input((4, 3)), reverse=True)
    with pytest.raises(ValueError, match="logit_soft_cap"):
        ReversibleEmbedding(7, 6, logit_soft_cap=0)
    with pytest.raises(ValueError, match="reverse_dtype"):
        ReversibleEmbedding(7, 6, reverse_dtype="int32")
