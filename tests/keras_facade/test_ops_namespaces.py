"""keras.ops.image / nn / numpy / linalg: lamina's namespaces hold every name real Keras
3 lists there (and nothing else public), each the same function as the flat
``keras.ops.<name>`` where Keras has one; ``keras.ops.nn`` is the Keras namespace, not
lamina's internal ``lamina.nn``."""
import os

import pytest

from lamina import keras as lk

NAMESPACES = ("image", "nn", "numpy", "linalg")
# Names of real Keras's namespaces that cannot exist in lamina: none.
EXCLUDED = {ns: set() for ns in NAMESPACES}


def _public(module):
    return {n for n in dir(module) if not n.startswith("_")}


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


@pytest.mark.parametrize("ns", NAMESPACES)
def test_namespace_matches_keras(keras, ns):
    theirs = _public(getattr(keras.ops, ns)) - EXCLUDED[ns]
    ours = _public(getattr(lk.ops, ns))
    assert not theirs - ours, f"keras.ops.{ns} lacks {sorted(theirs - ours)}"
    assert not ours - theirs, f"keras.ops.{ns} has extra names {sorted(ours - theirs)}"


@pytest.mark.parametrize("ns", NAMESPACES)
def test_namespace_names_are_the_flat_functions(keras, ns):
    mod = getattr(lk.ops, ns)
    for name in sorted(_public(mod)):
        fn = getattr(mod, name)
        assert callable(fn), f"keras.ops.{ns}.{name}"
        if hasattr(keras.ops, name):
            assert getattr(lk.ops, name) is fn, f"keras.ops.{ns}.{name} is not keras.ops.{name}"


def test_flat_ops_cover_keras(keras):
    missing = {n for n in _public(keras.ops) if not hasattr(lk.ops, n)}
    assert not missing, sorted(missing)


def test_namespaces_are_importable_modules():
    import importlib
    import lamina.nn
    from lamina.keras import ops
    assert ops.nn is not lamina.nn and ops.nn.__name__ == "lamina.keras.ops.nn"
    for ns in NAMESPACES:
        assert importlib.import_module(f"lamina.keras.ops.{ns}") is getattr(ops, ns)
    assert ops.image.resize.__module__ == "lamina.nn.keras_ops_image"


def test_layer_normalization_uses_the_fused_op_on_the_last_axis():
    """keras.ops.layer_normalization over the last axis is LayerNormalization's own op
    (one graph node); other axes are composed.  Both differentiate (float64 gradcheck)."""
    import numpy as np
    import lamina as lm
    from lamina.keras import ops
    from lamina.testing import gradcheck
    rng = np.random.default_rng(0)
    x, g, b = rng.standard_normal((3, 4, 5)), rng.standard_normal(5), rng.standard_normal(5)
    xt = lm.tensor(x, requires_grad=True)
    y = ops.layer_normalization(xt, g, b)
    assert any(p is xt for p in y._parents)     # one node straight from the input
    want = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-7) * g + b
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-6)
    assert gradcheck(lambda a, gg, bb: ops.layer_normalization(a, gg, bb), [x, g, b])
    assert gradcheck(lambda a: ops.layer_normalization(a, axis=1), [x])
