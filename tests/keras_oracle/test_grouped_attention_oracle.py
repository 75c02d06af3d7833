"""GroupQueryAttention against real Keras 3 (torch backend): weights, outputs, attention
scores and configs with Keras's weights copied in; and the .weights.h5 layout."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import lamina as lm  # noqa: E402
from lamina import keras as lk  # noqa: E402


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("kw,call", [
    (dict(), dict()),
    (dict(use_gate=True, sliding_window=2), dict()),
    (dict(use_bias=False, num_key_value_heads=1), dict(mask=True)),
    (dict(), dict(use_causal_mask=True))], ids=["plain", "gate-window", "mqa-mask", "causal"])
def test_matches_keras(kw, call):
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 5, 8)).astype(np.float32)
    v = rng.standard_normal((2, 5 if call.get("use_causal_mask") else 6, 8)).astype(np.float32)
    if call.pop("mask", False):
        call["attention_mask"] = rng.random((2, 5, 6)) > 0.3
    args = dict(head_dim=3, num_query_heads=4, num_key_value_heads=2)
    args.update(kw)
    kl = keras.layers.GroupQueryAttention(**args)
    ko, ks = kl(q, v, return_attention_scores=True, **call)
    ll = lk.layers.GroupQueryAttention(**args)
    ll(q, v)
    assert [tuple(w.shape) for w in ll.weights] == [tuple(w.shape) for w in kl.weights]
    ll.set_weights([_np(w) for w in kl.weights])
    lo, ls = ll(q, v, return_attention_scores=True, **call)
    np.testing.assert_allclose(lo.numpy(), _np(ko), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ls.numpy(), _np(ks), rtol=1e-4, atol=1e-6)
    assert list(ll.get_config()) == list(kl.get_config())


def test_weights_h5_layout_matches_keras(tmp_path):
    h5py = pytest.importorskip("h5py")

    def build(k):
        i = k.Input((6, 8))
        return k.Model(i, k.layers.GroupQueryAttention(3, 4, 2, use_gate=True)(i, i))
    lm.random.seed(1)
    ours, theirs = build(lk), build(keras)
    paths = []
    for m, name in ((ours, "l"), (theirs, "k")):
        p = tmp_path / f"{name}.weights.h5"
        m.save_weights(p)
        with h5py.File(p, "r") as f:
            found = []
            f.visititems(lambda n, o: found.append((n, o.shape))
                         if isinstance(o, h5py.Dataset) else None)
            paths.append(sorted(found))
    assert paths[0] == paths[1]
    theirs.load_weights(tmp_path / "l.weights.h5")
    x = np.random.default_rng(2).standard_normal((2, 6, 8)).astype(np.float32)
    np.testing.assert_allclose(_np(theirs(x)), ours(x).numpy(), rtol=1e-4, atol=1e-5)
