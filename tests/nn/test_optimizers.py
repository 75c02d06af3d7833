"""Optimizers (lamina/nn/optimizers.py): update formulas on hand-checked cases, clipping and
weight-decay semantics, state save/restore, convergence, lookup and errors."""
import math

import numpy as np
import pytest

import lamina as lm
from lamina.nn import optimizers as O
from lamina.nn import schedules as S

ALL = ["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "lion",
       "ftrl", "adafactor"]


def _var(values):
    return lm.tensor(np.asarray(values, dtype=np.float32), requires_grad=True)


def test_sgd_and_momentum_by_hand():
    w = _var([1.0, -2.0])
    O.SGD(0.1).apply([np.array([1.0, 2.0], np.float32)], [w])
    np.testing.assert_allclose(w.numpy(), [0.9, -2.2], rtol=1e-6)
    w = _var([1.0])
    opt = O.SGD(0.1, momentum=0.5)
    g = np.array([1.0], np.float32)
    opt.apply([g], [w])        # m = -0.1; w = 0.9
    opt.apply([g], [w])        # m = -0.05 - 0.1 = -0.15; w = 0.75
    np.testing.assert_allclose(w.numpy(), [0.75], rtol=1e-6)
    w = _var([1.0])
    opt = O.SGD(0.1, momentum=0.5, nesterov=True)
    opt.apply([g], [w])        # m = -0.1; w += 0.5 * -0.1 - 0.1 = 0.85
    np.testing.assert_allclose(w.numpy(), [0.85], rtol=1e-6)


def test_adam_first_step_is_lr_times_sign():
    # after one step m_hat / sqrt(v_hat) = g / |g|, so every entry moves by ~lr
    w = _var([1.0, 1.0, 1.0])
    O.Adam(0.01).apply([np.array([3.0, -0.5, 1e-3], np.float32)], [w])
    np.testing.assert_allclose(w.numpy(), [0.99, 1.01, 0.99], rtol=1e-4)


def test_adagrad_initial_accumulator_and_epsilon():
    w = _var([0.0])
    O.Adagrad(learning_rate=1.0, initial_accumulator_value=0.1, epsilon=1e-7).apply(
        [np.array([2.0], np.float32)], [w])
    np.testing.assert_allclose(w.numpy(), [-2.0 / math.sqrt(4.1 + 1e-7)], rtol=1e-6)


def test_clipnorm_clips_each_gradient_separately():
    a, b = _var([0.0, 0.0]), _var([0.0])
    O.SGD(1.0, clipnorm=1.0).apply([np.array([3.0, 4.0], np.float32),
                                    np.array([0.5], np.float32)], [a, b])
    np.testing.assert_allclose(a.numpy(), [-0.6, -0.8], rtol=1e-6)
    np.testing.assert_allclose(b.numpy(), [-0.5], rtol=1e-6)   # under the norm: unchanged


def test_global_clipnorm_scales_all_gradients_together():
    a, b = _var([0.0, 0.0]), _var([0.0])
    O.SGD(1.0, global_clipnorm=2.5).apply([np.array([3.0, 0.0], np.float32),
                                           np.array([4.0], np.float32)], [a, b])
    np.testing.assert_allclose(a.numpy(), [-1.5, 0.0], rtol=1e-6)
    np.testing.assert_allclose(b.numpy(), [-2.0], rtol=1e-6)


def test_clipvalue_clips_entries():
    a = _var([0.0, 0.0, 0.0])
    O.SGD(1.0, clipvalue=0.5).apply([np.array([3.0, -0.2, -9.0], np.float32)], [a])
    np.testing.assert_allclose(a.numpy(), [-0.5, 0.2, 0.5], rtol=1e-6)


def test_only_one_clipping_option():
    with pytest.raises(ValueError, match="only one of clipnorm"):
        O.Adam(clipnorm=1.0, clipvalue=1.0)


def test_weight_decay_is_decoupled_and_uses_lr():
    w = _var([2.0])
    O.SGD(0.1, weight_decay=0.5).apply([np.array([0.0], np.float32)], [w])
    np.testing.assert_allclose(w.numpy(), [2.0 * (1 - 0.5 * 0.1)], rtol=1e-6)
    w, b = _var([2.0]), _var([2.0])
    opt = O.AdamW(0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_list=[b])
    opt.apply([np.zeros(1, np.float32)] * 2, [w, b])
    np.testing.assert_allclose(w.numpy(), [1.9], rtol=1e-6)
    np.testing.assert_allclose(b.numpy(), [2.0], rtol=1e-6)
    with pytest.raises(ValueError, match="weight_decay"):
        O.AdamW(weight_decay=None)


@pytest.mark.parametrize("name", ALL)
def test_gradients_are_never_modified_in_place(name, rng):
    w = _var(rng.standard_normal(4))
    g = rng.standard_normal(4).astype(np.float32)
    keep = g.copy()
    opt = O.get({"class_name": name, "config": {"clipnorm": 0.1}})
    for _ in range(3):
        opt.apply([g], [w])
    np.testing.assert_array_equal(g, keep)


def test_none_gradients_are_skipped_and_all_none_is_an_error():
    a, b = _var([1.0]), _var([1.0])
    opt = O.Adam(0.1)
    opt.apply_gradients([(None, a), (np.array([1.0], np.float32), b)])
    assert a.numpy()[0] == 1.0 and b.numpy()[0] < 1.0
    assert int(opt.iterations) == 1
    with pytest.raises(ValueError, match="no gradients"):
        opt.apply([None], [a])


def test_errors_name_optimizer_and_shapes():
    with pytest.raises(ValueError, match=r"Adam.apply: gradient of shape \(3,\).*\(2,\)"):
        O.Adam().apply([np.zeros(3, np.float32)], [_var([1.0, 2.0])])
    with pytest.raises(ValueError, match="2 gradients for 1 variables"):
        O.SGD().apply([np.zeros(1), np.zeros(1)], [_var([1.0])])
    with pytest.raises(ValueError, match="momentum"):
        O.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="not recognized"):
        O.Adam(betta_1=0.5)
    with pytest.raises(ValueError, match="unknown optimizer"):
        O.get("adamm")


@pytest.mark.parametrize("name", ALL)
def test_state_roundtrip_resumes_exactly(name, rng):
    """Training 6 steps equals training 3, saving the state, and 3 more in a fresh optimizer
    (whose slots do not exist yet when the state is loaded)."""
    w0 = rng.standard_normal((3, 2)).astype(np.float32)
    grads = [rng.standard_normal((3, 2)).astype(np.float32) for _ in range(6)]
    ref = _var(w0)
    opt = O.get(name)
    for g in grads:
        opt.apply([g], [ref])
    w = _var(w0)
    first = O.get(name)
    for g in grads[:3]:
        first.apply([g], [w])
    state = {k: np.array(v) for k, v in first.get_state().items()}
    assert all(isinstance(v, np.ndarray) for v in state.values())
    second = O.get(name)
    second.set_state(state)
    for g in grads[3:]:
        second.apply([g], [w])
    np.testing.assert_array_equal(w.numpy(), ref.numpy())
    assert int(second.iterations) == 6


def test_state_names_use_variable_paths_and_shapes_are_checked():
    w = _var([1.0, 2.0])
    w.name = "dense/kernel"
    opt = O.Adam()
    opt.apply([np.ones(2, np.float32)], [w])
    keys = set(opt.get_state())
    assert {"iterations", "learning_rate", "dense/kernel/momentum",
            "dense/kernel/velocity"} <= keys
    assert {t.name for t in opt.variables} >= {"iterations", "dense/kernel/momentum"}
    with pytest.raises(ValueError, match="dense/kernel/momentum.*shape"):
        opt.set_state({"dense/kernel/momentum": np.zeros(3)})


def test_learning_rate_settable_legacy_lr_and_schedules():
    opt = O.SGD(lr=0.5)
    assert opt.learning_rate == 0.5
    opt.learning_rate.assign(0.3)                 # Keras's variable-style setter
    assert opt.learning_rate.numpy() == np.float32(0.3)
    opt.learning_rate = 0.25
    w = _var([1.0])
    opt.apply([np.ones(1, np.float32)], [w])
    np.testing.assert_allclose(w.numpy(), [0.75])
    sched = S.PiecewiseConstantDecay([1], [1.0, 0.1])
    opt = O.SGD(learning_rate=sched)
    w = _var([0.0])
    for _ in range(3):          # steps 0, 1 use 1.0; step 2 uses 0.1
        opt.apply([np.ones(1, np.float32)], [w])
    np.testing.assert_allclose(w.numpy(), [-2.1], rtol=1e-6)
    assert opt.learning_rate == pytest.approx(0.1)
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.3
    cfg = O.serialize(opt)
    back = O.deserialize(cfg)
    assert isinstance(back._learning_rate, S.PiecewiseConstantDecay)


@pytest.mark.parametrize("name", ALL)
def test_config_roundtrip(name):
    opt = O.get(name)
    back = type(opt).from_config(opt.get_config())
    assert back.get_config() == opt.get_config()
    assert O.get(O.serialize(opt)).get_config() == opt.get_config()


@pytest.mark.parametrize("name,lr", [("sgd", 0.1), ("adam", 0.05), ("adamw", 0.05),
                                     ("rmsprop", 0.01), ("adagrad", 0.5), ("adadelta", 20.0),
                                     ("adamax", 0.05), ("nadam", 0.05), ("lion", 0.02),
                                     ("ftrl", 0.5), ("adafactor", 0.05)])
def test_converges_on_linear_regression(name, lr, rng):
    x = rng.standard_normal((64, 3)).astype(np.float32)
    true_w = np.array([[1.5], [-2.0], [0.5]], np.float32)
    y = x @ true_w + 0.3
    w = lm.tensor(np.zeros((3, 1), np.float32), requires_grad=True)
    b = lm.tensor(np.zeros(1, np.float32), requires_grad=True)
    opt = O.get({"class_name": name, "config": {"learning_rate": lr}})
    for _ in range(300):
        loss = lm.mean((lm.matmul(lm.tensor(x), w) + b - lm.tensor(y)) ** 2)
        w.grad = b.grad = None
        loss.backward()
        opt.apply([w.grad, b.grad], [w, b])
    assert float(loss) < 0.01, float(loss)


def test_gradient_accumulation_updates_every_n_steps():
    w = _var([0.0])
    opt = O.SGD(1.0, gradient_accumulation_steps=2)
    opt.apply([np.array([1.0], np.float32)], [w])
    assert w.numpy()[0] == 0.0
    opt.apply([np.array([3.0], np.float32)], [w])
    np.testing.assert_allclose(w.numpy(), [-2.0])
    assert int(opt.iterations) == 1          # update steps, as Keras counts them
    # a half-accumulated step survives a state round trip
    opt.apply([np.array([5.0], np.float32)], [w])
    fresh = O.SGD(1.0, gradient_accumulation_steps=2)
    fresh.set_state(opt.get_state())
    fresh.apply([np.array([1.0], np.float32)], [w])
    np.testing.assert_allclose(w.numpy(), [-5.0])


def test_update_bumps_version_and_keeps_dtype():
    w = _var([1.0, 2.0])
    v0 = w._version
    O.Adam().apply([np.ones(2, np.float64)], [w])
    assert w.dtype == np.float32 and w._version == v0 + 1


def test_ema_average_overwrite_and_finalize():
    w = _var([0.0])
    opt = O.SGD(1.0, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=3)
    g = np.array([-1.0], np.float32)
    opt.apply([g], [w])               # w = 1, average = 1 (first step copies)
    opt.apply([g], [w])               # w = 2, average = 0.5 * 1 + 0.5 * 2 = 1.5
    np.testing.assert_allclose(w.numpy(), [2.0])
    opt.apply([g], [w])               # w = 3, average = 2.25, then overwritten: w = 2.25
    np.testing.assert_allclose(w.numpy(), [2.25])
    opt.apply([g], [w])               # w = 3.25, average = 2.75
    opt.finalize_variable_values([w])
    np.testing.assert_allclose(w.numpy(), [2.75])
    assert "var_0/average" in opt.get_state()
    with pytest.raises(ValueError, match="ema_momentum"):
        O.Adam(use_ema=True, ema_momentum=2.0)


def test_default_names_follow_keras_snake_case():
    assert [O.SGD().name, O.RMSprop().name, O.AdamW().name, O.Adam().name] == \
        ["sgd", "rm_sprop", "adam_w", "adam"]
    assert O.Adam(name="mine").name == "mine"


@pytest.mark.parametrize("name", ALL + ["amsgrad", "centered"])
def test_blocked_update_of_large_arrays_equals_whole_array_update(name, rng):
    """Large C-contiguous CPU weights are updated block by block; a Fortran-ordered copy
    takes the whole-array path.  Both give the same numbers."""
    cfg = {"amsgrad": ("adam", {"amsgrad": True}),
           "centered": ("rmsprop", {"centered": True, "momentum": 0.5})}.get(name, (name, {}))
    w0 = rng.standard_normal((400, 400)).astype(np.float32)
    grads = [rng.standard_normal((400, 400)).astype(np.float32) for _ in range(3)]
    # on the CPU whatever the default device: the blocks are a CPU path
    blocked = lm.tensor(w0, device="cpu", requires_grad=True)
    whole = lm.tensor(w0, device="cpu", requires_grad=True)
    whole.data = np.asfortranarray(w0)
    assert blocked.data.flags.c_contiguous and not whole.data.flags.c_contiguous
    o1 = O.get({"class_name": cfg[0], "config": cfg[1]})
    o2 = O.get({"class_name": cfg[0], "config": cfg[1]})
    for g in grads:
        o1.apply([g], [blocked])
        o2.apply([g], [whole])
    np.testing.assert_allclose(blocked.numpy(), whole.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ALL)
def test_gradients_from_another_device_update_the_variable_where_it_lives(name, device, rng):
    """Keras accepts NumPy gradients for any variable: host gradients for a variable on
    ``device``, and gradients on ``device`` for a host variable, give the host numbers; the
    state saved on one device resumes on the other."""
    w0 = rng.standard_normal((3, 2)).astype(np.float32)
    grads = [rng.standard_normal((3, 2)).astype(np.float32) for _ in range(4)]
    ref = lm.tensor(w0, device="cpu", requires_grad=True)
    on_dev = lm.tensor(w0, device=device, requires_grad=True)
    host = lm.tensor(w0, device="cpu", requires_grad=True)
    o_ref, o_dev, o_host = O.get(name), O.get(name), O.get(name)
    for g in grads[:2]:
        o_ref.apply([g], [ref])
        o_dev.apply([g], [on_dev])                              # NumPy gradient
        o_host.apply([lm.tensor(g, device=device)], [host])     # gradient on the device
    assert on_dev.device == lm.device(device) and host.device == lm.device("cpu")
    resumed = lm.tensor(on_dev.numpy(), device="cpu", requires_grad=True)
    o_res = O.get(name)
    o_res.set_state(o_dev.get_state())
    for g in grads[2:]:
        o_ref.apply([g], [ref])
        o_res.apply([lm.tensor(g, device=device)], [resumed])
    np.testing.assert_allclose(on_dev.numpy(), host.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(resumed.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
