"""The shared check of the oracle tests: a lamina layer given Keras's weights computes what
the Keras layer computes, with the same weight shapes, parameter count and output shape."""
import numpy as np

import lamina as lm


def assert_layer_matches_keras(keras, lamina_cls, name, kwargs, x, rtol=1e-4, atol=1e-5):
    """Build ``keras.layers.<name>(**kwargs)`` and ``lamina_cls(**kwargs)`` on ``x``, copy
    Keras's weights over and compare outputs; returns both layers (for config checks)."""
    kl = getattr(keras.layers, name)(**kwargs)
    ky = keras.ops.convert_to_numpy(kl(x))
    ll = lamina_cls(**kwargs)
    ll(lm.tensor(x))
    kw = kl.get_weights()
    assert [w.shape for w in ll.get_weights()] == [w.shape for w in kw]
    assert ll.count_params() == kl.count_params()
    if kw:
        ll.set_weights(kw)
    ly = ll(lm.tensor(x)).numpy()
    assert ly.shape == ky.shape
    np.testing.assert_allclose(ly, ky, rtol=rtol, atol=atol)
    assert tuple(ll.compute_output_shape((None,) + x.shape[1:])) == \
        tuple(kl.compute_output_shape((None,) + x.shape[1:]))
    return kl, ll
