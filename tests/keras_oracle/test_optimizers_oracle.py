"""lamina's optimizers and schedules against real Keras 3 (PyTorch backend): the same
gradients applied to the same variables for several steps give the same values."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import lamina as lm  # noqa: E402
from lamina.nn import optimizers as O  # noqa: E402
from lamina.nn import schedules as S  # noqa: E402

CASES = [
    ("SGD", dict(learning_rate=0.1)),
    ("SGD", dict(learning_rate=0.1, momentum=0.9)),
    ("SGD", dict(learning_rate=0.1, momentum=0.9, nesterov=True)),
    ("Adam", dict(learning_rate=0.01)),
    ("Adam", dict(learning_rate=0.01, amsgrad=True)),
    ("AdamW", dict(learning_rate=0.01)),
    ("AdamW", dict(learning_rate=0.01, weight_decay=0.1, amsgrad=True)),
    ("RMSprop", dict(learning_rate=0.01)),
    ("RMSprop", dict(learning_rate=0.01, momentum=0.5, centered=True)),
    ("Adagrad", dict(learning_rate=0.1)),
    ("Adadelta", dict(learning_rate=1.0)),
    ("Adamax", dict(learning_rate=0.01)),
    ("Nadam", dict(learning_rate=0.01)),
    ("Lion", dict(learning_rate=0.01, weight_decay=0.05)),
    ("Ftrl", dict(learning_rate=0.1)),
    ("Ftrl", dict(learning_rate=0.1, l1_regularization_strength=0.01,
                  l2_regularization_strength=0.02, l2_shrinkage_regularization_strength=0.03,
                  beta=0.1, learning_rate_power=-0.3)),
    ("Adafactor", dict(learning_rate=0.1)),
    ("Adafactor", dict(learning_rate=0.01, relative_step=False, clip_threshold=0.5)),
    ("Lamb", dict(learning_rate=0.01)),
    ("Lamb", dict(learning_rate=0.05, beta_1=0.8, epsilon=1e-5, weight_decay=0.01)),
    ("Muon", dict(learning_rate=0.02)),
    ("Muon", dict(learning_rate=0.02, nesterov=False, ns_steps=3, rms_rate=None,
                  weight_decay=0.1, adam_weight_decay=0.05, adam_lr_ratio=0.5)),
    ("SGD", dict(learning_rate=0.05, momentum=0.5, weight_decay=0.1)),
    ("Adam", dict(learning_rate=0.01, clipnorm=0.5)),
    ("Adam", dict(learning_rate=0.01, global_clipnorm=0.7)),
    ("RMSprop", dict(learning_rate=0.01, clipvalue=0.3)),
    ("Adam", dict(learning_rate=0.01, use_ema=True, ema_momentum=0.9,
                  ema_overwrite_frequency=4)),
    ("SGD", dict(learning_rate=0.1, momentum=0.5, gradient_accumulation_steps=2)),
    ("Adam", dict(learning_rate=0.01, gradient_accumulation_steps=3, clipnorm=1.0)),
    ("Nadam", dict(learning_rate=0.01, gradient_accumulation_steps=2)),
    ("Adam", dict(learning_rate=0.01, loss_scale_factor=4.0)),
]


def _run_keras(name, kwargs, w0s, grads_per_step):
    opt = getattr(keras.optimizers, name)(**kwargs)
    vs = [keras.Variable(w.copy()) for w in w0s]
    for grads in grads_per_step:
        opt.apply_gradients([(keras.ops.convert_to_tensor(g), v) for g, v in zip(grads, vs)])
    return [keras.ops.convert_to_numpy(v.value) for v in vs], opt


def _run_lamina(name, kwargs, w0s, grads_per_step):
    opt = getattr(O, name)(**kwargs)
    vs = [lm.tensor(w.copy(), requires_grad=True) for w in w0s]
    for grads in grads_per_step:
        opt.apply_gradients(zip([lm.tensor(g) for g in grads], vs))
    return [v.numpy() for v in vs], opt


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{'-'.join(k)}" for n, k in CASES])
def test_optimizer_matches_keras_on_a_quadratic(name, kwargs, rng):
    # both optimizers get the same sequence of (random) gradients
    w0s = [rng.standard_normal((3, 4)).astype(np.float32),
           rng.standard_normal((4,)).astype(np.float32)]
    steps = [[rng.standard_normal(w.shape).astype(np.float32) * 2 for w in w0s]
             for _ in range(6)]
    ours, opt = _run_lamina(name, kwargs, w0s, steps)
    theirs, kopt = _run_keras(name, kwargs, w0s, steps)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    assert int(opt.iterations) == int(keras.ops.convert_to_numpy(kopt.iterations))


@pytest.mark.parametrize("name", ["Adam", "RMSprop", "SGD", "Adagrad", "Adadelta", "Adamax",
                                  "Nadam", "AdamW", "Lion", "Ftrl", "Adafactor", "Lamb",
                                  "Muon"])
def test_config_keys_match_keras(name):
    ours = set(getattr(O, name)().get_config())
    theirs = set(getattr(keras.optimizers, name)().get_config())
    assert ours == theirs


SCHEDULES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5)),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5,
                              staircase=True)),
    ("PiecewiseConstantDecay", dict(boundaries=[3, 10], values=[1.0, 0.5, 0.1])),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=10, power=0.5)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=10, cycle=True)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=4, decay_rate=0.5)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=4, decay_rate=0.5,
                              staircase=True)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=20, alpha=0.1)),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=20, warmup_target=0.2,
                         warmup_steps=5)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=5)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=5, t_mul=1.0,
                                 m_mul=0.5, alpha=0.1)),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=[n for n, _ in SCHEDULES])
def test_schedule_values_match_keras(name, kwargs):
    ours = getattr(S, name)(**kwargs)
    theirs = getattr(keras.optimizers.schedules, name)(**kwargs)
    for step in [0, 1, 2, 3, 4, 5, 7, 10, 11, 14, 19, 25, 40]:
        want = float(keras.ops.convert_to_numpy(theirs(step)))
        assert ours(step) == pytest.approx(want, rel=1e-5, abs=1e-7), step
    assert set(ours.get_config()) == set(theirs.get_config())


def test_adam_with_schedule_matches_keras(rng):
    sched = dict(initial_learning_rate=0.05, decay_steps=2, decay_rate=0.5)
    w0 = [rng.standard_normal((5,)).astype(np.float32)]
    steps = [[rng.standard_normal((5,)).astype(np.float32)] for _ in range(5)]
    ours = O.Adam(learning_rate=S.ExponentialDecay(**sched))
    v = lm.tensor(w0[0].copy(), requires_grad=True)
    for g in steps:
        ours.apply([lm.tensor(g[0])], [v])
    kopt = keras.optimizers.Adam(
        learning_rate=keras.optimizers.schedules.ExponentialDecay(**sched))
    kv = keras.Variable(w0[0].copy())
    for g in steps:
        kopt.apply([keras.ops.convert_to_tensor(g[0])], [kv])
    np.testing.assert_allclose(v.numpy(), keras.ops.convert_to_numpy(kv.value), rtol=2e-5,
                               atol=2e-6)


def test_ema_finalize_matches_keras(rng):
    w0 = [rng.standard_normal((4,)).astype(np.float32)]
    steps = [[rng.standard_normal((4,)).astype(np.float32)] for _ in range(5)]
    kw = dict(learning_rate=0.1, momentum=0.5, use_ema=True, ema_momentum=0.8)
    ours, opt = _run_lamina("SGD", kw, w0, steps)
    v = lm.tensor(ours[0])
    kopt = keras.optimizers.SGD(**kw)
    kv = keras.Variable(w0[0].copy())
    for g in steps:
        kopt.apply([keras.ops.convert_to_tensor(g[0])], [kv])
    np.testing.assert_allclose(ours[0], keras.ops.convert_to_numpy(kv.value), rtol=2e-5)
    # finalize copies the moving average into the variables
    vs = list(opt._vars.values())
    opt.finalize_variable_values(vs)
    kopt.finalize_variable_values([kv])
    np.testing.assert_allclose(vs[0].numpy(), keras.ops.convert_to_numpy(kv.value), rtol=2e-5)
    assert not np.allclose(vs[0].numpy(), v.numpy())


@pytest.mark.parametrize("name,kwargs", CASES[:14], ids=[f"{n}-{'-'.join(k)}" for n, k in
                                                        CASES[:14]])
def test_optimizer_follows_keras_on_a_quadratic(name, kwargs, rng):
    """Each library minimizes f(w) = 0.5 sum(a w^2) + b.w with its own gradients (lamina's
    from autograd) for 5 steps; the trajectories agree."""
    a = rng.uniform(0.5, 3.0, (3, 2)).astype(np.float32)
    b = rng.standard_normal((3, 2)).astype(np.float32)
    w0 = rng.standard_normal((3, 2)).astype(np.float32)
    w = lm.tensor(w0.copy(), requires_grad=True)
    opt = getattr(O, name)(**kwargs)
    for _ in range(5):
        w.grad = None
        f = lm.sum(lm.tensor(a) * w * w) * 0.5 + lm.sum(lm.tensor(b) * w)
        f.backward()
        opt.apply([w.grad], [w])
    kv = keras.Variable(w0.copy())
    kopt = getattr(keras.optimizers, name)(**kwargs)
    for _ in range(5):
        cur = keras.ops.convert_to_numpy(kv.value)
        kopt.apply([keras.ops.convert_to_tensor(a * cur + b)], [kv])
    np.testing.assert_allclose(w.numpy(), keras.ops.convert_to_numpy(kv.value), rtol=2e-5,
                               atol=2e-6)
