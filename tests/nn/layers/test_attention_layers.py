"""Attention layers (lamina/nn/layers/attention.py): Attention, AdditiveAttention,
MultiHeadAttention, positional embeddings, Transformer blocks."""
import numpy as np
import pytest

import lamina as lm
from layer_checks import gradcheck_layer, roundtrip
from lamina.nn.layers.attention import (AdditiveAttention, Attention, MultiHeadAttention,
                                        PositionEmbedding, SinePositionEncoding,
                                        TokenAndPositionEmbedding, TransformerDecoder,
                                        TransformerEncoder, sinusoidal_positions)


def _softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture
def qv():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((2, 3, 4)).astype(np.float32),
            rng.standard_normal((2, 5, 4)).astype(np.float32))


def test_attention_dot_matches_numpy_with_masks(qv):
    q, v = qv
    vm = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    qm = np.array([[1, 1, 0], [1, 1, 1]], bool)
    out, w = Attention()([q, v], mask=[qm, vm], return_attention_scores=True)
    s = q @ v.transpose(0, 2, 1)
    s = np.where(vm[:, None], s, s - 1e9)
    ref_w = _softmax(s)
    ref = ref_w @ v * qm[..., None]
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-6)


def test_attention_scale_concat_causal(qv):
    q, v = qv
    layer = Attention(use_scale=True, score_mode="concat")
    out, w = layer([q, v, v], use_causal_mask=True, return_attention_scores=True)
    assert [x.name for x in layer.weights] == ["scale", "concat_score_weight"]
    s = np.tanh(q[:, :, None] + v[:, None]).sum(-1)
    s = np.where(np.tril(np.ones((3, 5), bool)), s, s - 1e9)
    np.testing.assert_allclose(w.numpy(), _softmax(s), rtol=1e-5, atol=1e-7)
    g = lm.autograd.gradients(out.sum(), layer.trainable_weights)
    assert all(np.isfinite(x.numpy()).all() for x in g)
    with pytest.raises(ValueError, match="list"):
        layer(q)


def test_additive_attention(qv):
    q, v = qv
    layer = AdditiveAttention()
    out = layer([q, v])
    sc = layer.scale.numpy()
    s = (sc * np.tanh(q[:, :, None] + v[:, None])).sum(-1)
    np.testing.assert_allclose(out.numpy(), _softmax(s) @ v, rtol=1e-5, atol=1e-6)


def test_mha_matches_numpy_reference(qv):
    q, v = qv
    mha = MultiHeadAttention(num_heads=2, key_dim=3, value_dim=2, output_shape=7)
    am = np.ones((2, 3, 5), bool)
    am[0, :, 4] = False
    out, scores = mha(q, v, attention_mask=am, return_attention_scores=True)
    assert out.shape == (2, 3, 7) and scores.shape == (2, 2, 3, 5)
    W = {w.path.split("/", 1)[1]: w.numpy() for w in mha.weights}
    qh = np.einsum("btd,dhk->bhtk", q, W["query/kernel"]) + W["query/bias"][None, :, None]
    kh = np.einsum("btd,dhk->bhtk", v, W["key/kernel"]) + W["key/bias"][None, :, None]
    vh = np.einsum("btd,dhk->bhtk", v, W["value/kernel"]) + W["value/bias"][None, :, None]
    s = qh @ kh.transpose(0, 1, 3, 2) / np.sqrt(3)
    s = np.where(am[:, None], s, -1e9)
    p = _softmax(s)
    o = np.einsum("bhtk,hko->bto", p @ vh, W["attention_output/kernel"]) + \
        W["attention_output/bias"]
    np.testing.assert_allclose(scores.numpy(), p, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out.numpy(), o, rtol=1e-4, atol=1e-5)


def test_mha_param_count_causal_and_masks(qv):
    q, _ = qv
    mha = MultiHeadAttention(num_heads=4, key_dim=8)
    mha(q, q)
    # Keras: 3 * (4*4*8 + 4*8) + (4*8*4 + 4)
    assert mha.count_params() == 3 * (4 * 4 * 8 + 4 * 8) + (4 * 8 * 4 + 4)
    _, w = mha(q, q, use_causal_mask=True, return_attention_scores=True)
    assert np.all(np.triu(w.numpy(), 1) < 1e-20)
    # a mask from Embedding(mask_zero=True) on the value hides padded keys
    from lamina.nn.layers.core import Embedding
    emb = Embedding(10, 4, mask_zero=True)
    e = emb(np.array([[1, 2, 0], [3, 0, 0]]))
    _, w = mha(e, e, return_attention_scores=True)
    assert np.all(w.numpy()[1, :, :1, 1:] < 1e-20)
    with pytest.raises(ValueError, match="batch, length, features"):
        mha(q[0], q[0])


def test_mha_gradients_and_dropout(qv):
    q, v = qv
    lm.random.seed(0)
    mha = MultiHeadAttention(2, 3, dropout=0.5)
    a = mha(q, v, training=True)
    b = mha(q, v)
    c = mha(q, v, training=False)
    np.testing.assert_allclose(b.numpy(), c.numpy())
    assert not np.allclose(a.numpy(), b.numpy())
    g = lm.autograd.gradients(a.sum(), mha.trainable_weights)
    assert len(g) == 8 and all(x is not None for x in g)


def test_positional_embeddings(qv):
    q, _ = qv
    pe = PositionEmbedding(sequence_length=10)
    y = pe(q)
    assert y.shape == q.shape
    np.testing.assert_allclose(y.numpy()[1], pe.position_embeddings.numpy()[:3])
    with pytest.raises(ValueError, match="positions"):
        pe(np.zeros((1, 11, 4), np.float32))
    s = SinePositionEncoding()(q).numpy()
    ref = sinusoidal_positions(3, 4)
    np.testing.assert_allclose(s[0], ref)
    # position 1, feature 0: sin(1); feature 1: cos(1); feature 2: sin(1 / 10000 ** 0.5)
    np.testing.assert_allclose(ref[1, :3], [np.sin(1), np.cos(1), np.sin(1e-2)], rtol=1e-6)
    tpe = TokenAndPositionEmbedding(20, 6, 4, mask_zero=True)
    ids = np.array([[5, 6, 0]])
    out = tpe(ids)
    np.testing.assert_allclose(out.numpy()[0],
                               tpe.token_embeddings.numpy()[[5, 6, 0]] +
                               tpe.position_embeddings.numpy()[:3], rtol=1e-6)
    np.testing.assert_array_equal(tpe.compute_mask(ids).numpy(), [[True, True, False]])


@pytest.mark.parametrize("normalize_first", [False, True])
def test_transformer_blocks(normalize_first):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    enc = TransformerEncoder(16, 2, normalize_first=normalize_first)
    y = enc(x)
    assert y.shape == x.shape
    # mha (4 * (8*8 + 8)) + 2 layer norms (2 * 16) + ffn (8*16 + 16 + 16*8 + 8)
    assert enc.count_params() == 4 * 72 + 32 + 280
    pad = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    y1 = enc(x, padding_mask=pad).numpy()
    x2 = x.copy()
    x2[0, 3:] = 100                                   # padded steps do not matter
    y2 = enc(x2, padding_mask=pad).numpy()
    np.testing.assert_allclose(y1[0, :3], y2[0, :3], rtol=1e-4, atol=1e-5)
    dec = TransformerDecoder(16, 2, normalize_first=normalize_first)
    z = dec(x, y).numpy()
    x3 = x.copy()
    x3[:, 4] += 1.0                                   # the future does not leak (causal)
    z3 = dec(x3, y).numpy()
    np.testing.assert_allclose(z[:, :4], z3[:, :4], rtol=1e-4, atol=1e-5)
    assert not np.allclose(z[:, 4], z3[:, 4])
    g = lm.autograd.gradients(dec(x, y).sum(), dec.trainable_weights)
    assert all(gi is not None for gi in g)


def test_model_save_and_load_round_trip(tmp_path):
    from lamina import keras
    ids = np.random.default_rng(6).integers(1, 30, (3, 6))
    inp = keras.Input((6,), dtype="int64")
    x = keras.layers.TokenAndPositionEmbedding(30, 6, 8)(inp)
    x = keras.layers.TransformerEncoder(16, 2)(x)
    x = keras.layers.MultiHeadAttention(2, 4, value_dim=3)(x, x)
    out = keras.layers.TransformerDecoder(16, 2)(x)
    model = keras.Model(inp, out)
    y = model(ids).numpy()
    model.save(tmp_path / "t.keras")
    again = keras.models.load_model(tmp_path / "t.keras")
    np.testing.assert_allclose(again(ids).numpy(), y, rtol=1e-5, atol=1e-6)


def test_mha_matches_torch_values_and_gradients(torch):
    rng = np.random.default_rng(7)
    E, H, Tq, Tk = 6, 2, 4, 5
    q = rng.standard_normal((2, Tq, E))
    kv = rng.standard_normal((2, Tk, E))
    mask = rng.random((Tq, Tk)) > 0.3
    mask[:, 0] = True
    lm.set_default_dtype("float64")
    mha = MultiHeadAttention(H, E // H, dtype="float64")
    lq, lkv = lm.tensor(q, requires_grad=True), lm.tensor(kv, requires_grad=True)
    out = mha(lq, lkv, attention_mask=mask[None])
    W = {w.path.split("/", 1)[1]: w.numpy() for w in mha.weights}
    tm = torch.nn.MultiheadAttention(E, H, batch_first=True).double()
    with torch.no_grad():
        # Keras (E, heads, head_dim) kernels -> torch (out, in) rows ordered head-major
        tm.in_proj_weight.copy_(torch.tensor(np.concatenate(
            [W[f"{n}/kernel"].reshape(E, E).T for n in ("query", "key", "value")])))
        tm.in_proj_bias.copy_(torch.tensor(np.concatenate(
            [W[f"{n}/bias"].reshape(E) for n in ("query", "key", "value")])))
        tm.out_proj.weight.copy_(torch.tensor(W["attention_output/kernel"].reshape(E, E).T))
        tm.out_proj.bias.copy_(torch.tensor(W["attention_output/bias"]))
    tq, tkv = torch.tensor(q, requires_grad=True), torch.tensor(kv, requires_grad=True)
    to, _ = tm(tq, tkv, tkv, attn_mask=torch.tensor(~mask))     # torch: True = blocked
    np.testing.assert_allclose(out.numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = rng.standard_normal(out.shape)
    (out * lm.tensor(w)).sum().backward()
    (to * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(lq.grad.numpy(), tq.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(lkv.grad.numpy(), tkv.grad.numpy(), rtol=1e-9, atol=1e-11)
    gk = mha.weights[0].grad.numpy().reshape(E, E).T           # query kernel
    np.testing.assert_allclose(gk, tm.in_proj_weight.grad.numpy()[:E], rtol=1e-9, atol=1e-11)
    go = mha.weights[6].grad.numpy().reshape(E, E).T           # output kernel
    np.testing.assert_allclose(go, tm.out_proj.weight.grad.numpy(), rtol=1e-9, atol=1e-11)


_CHECKED = {
    "Attention": (lambda d: Attention(use_scale=True, dtype=d), True),
    "Attention_concat": (lambda d: Attention(score_mode="concat", dtype=d), True),
    "AdditiveAttention": (lambda d: AdditiveAttention(dtype=d), True),
    "TransformerEncoder": (lambda d: TransformerEncoder(8, 2, dtype=d), False),
    "PositionEmbedding": (lambda d: PositionEmbedding(5, dtype=d), False),
    "SinePositionEncoding": (lambda d: SinePositionEncoding(dtype=d), False),
}


@pytest.mark.parametrize("name", sorted(_CHECKED))
def test_gradcheck_and_config_roundtrip(name):
    make, pair = _CHECKED[name]
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 4))
    inputs = [x, rng.standard_normal((2, 5, 4))] if pair else x
    gradcheck_layer(make("float64"), inputs)
    f32 = [a.astype(np.float32) for a in inputs] if pair else x.astype(np.float32)
    roundtrip(make("float32"), f32)


def test_mha_sliding_window_gate_and_build_config():
    """sliding_window bands the attention (a query never sees keys >= w steps away), the gate
    adds a (D, heads, value_dim) projection, and the build config restores the heads."""
    from lamina.nn.layers.attention import MultiHeadAttention
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 6)).astype(np.float32)
    mha = MultiHeadAttention(2, 3, sliding_window=2, use_gate=True)
    out, scores = mha(x, x, return_attention_scores=True)
    s = scores.numpy()
    far = np.abs(np.arange(7)[:, None] - np.arange(7)[None]) >= 2
    assert np.all(s[:, :, far] == 0) and np.allclose(s.sum(-1), 1, atol=1e-6)
    assert len(mha.weights) == 10 and mha.count_params() == 4 * (6 * 6 + 6) + 6 * 6 + 6
    cfg = mha.get_config()
    assert cfg["sliding_window"] == 2 and cfg["use_gate"] is True
    clone = MultiHeadAttention.from_config(cfg)
    clone.build_from_config(mha.get_build_config())
    assert [w.shape for w in clone.weights] == [w.shape for w in mha.weights]
    clone.set_weights(mha.get_weights())
    np.testing.assert_allclose(clone(x, x).numpy(), out.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="sliding_window must be None or a positive integer"):
        MultiHeadAttention(2, 3, sliding_window=0)
