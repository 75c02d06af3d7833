"""The autodiff engine and the transforms built on it (lamina/autograd.py)."""
import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import lamina as lm
from lamina.nn import functional as F


def _x(*shape, seed=0):
    return lm.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


# ------------------------------------------------------------------ the engine
def test_backward_accumulates_into_leaves():
    x = _x(3)
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + 3)


def test_shared_subexpression_gradients_add_up():
    x = _x(4)
    y = lm.exp(x)
    (y * y + y).sum().backward()
    e = np.exp(x.numpy())
    np.testing.assert_allclose(x.grad.numpy(), 2 * e * e + e)


def test_freed_graph_raises_and_retain_graph_allows_second_walk():
    x = _x(3)
    y = (lm.exp(x) * 2).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)
    with pytest.raises(RuntimeError, match="already freed.*retain_graph=True"):
        y.backward()


def test_non_scalar_backward_needs_grad():
    x = _x(2, 3)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"shape \(2, 3\).*scalar"):
        y.backward()
    y.backward(lm.ones(2, 3, dtype="float64"))
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 3), 2.0))
    with pytest.raises(ValueError, match="does not match"):
        (x * 2).backward(lm.ones(3, 2, dtype="float64"))


def test_backward_on_tensor_without_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        lm.tensor([1.0, 2.0]).sum().backward()


def test_create_graph_gives_grad_of_grad():
    x = lm.tensor([0.3, -1.2, 2.0], dtype="float64", requires_grad=True)
    y = (lm.sin(x) * x ** 3).sum()
    (g,) = lm.autograd.gradients(y, [x], create_graph=True)
    assert g.requires_grad
    g.sum().backward()
    xv = x.numpy()
    d2 = -np.sin(xv) * xv ** 3 + 6 * np.cos(xv) * xv ** 2 + 6 * xv * np.sin(xv)
    np.testing.assert_allclose(x.grad.numpy(), d2, rtol=1e-12)


def test_backward_create_graph_keeps_leaf_grad_differentiable():
    x = lm.tensor(1.5, dtype="float64", requires_grad=True)
    (x ** 4).backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    x.grad = None
    g.backward()
    np.testing.assert_allclose(x.grad.item(), 12 * 1.5 ** 2)


def test_third_derivative_through_grad():
    d3 = lm.grad(lm.grad(lm.grad(lambda x: x ** 5 + lm.exp(x))))
    x = lm.tensor(0.7, dtype="float64")
    np.testing.assert_allclose(d3(x).item(), 60 * 0.7 ** 2 + np.exp(0.7), rtol=1e-12)


def test_retain_grad_on_intermediate():
    x = _x(3)
    h = (x * 2).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())


def test_gradients_allow_unused():
    x, y = _x(2), _x(2, seed=1)
    out = (x * 2).sum()
    gx, gy = lm.autograd.gradients(out, [x, y])
    assert gy is None and x.grad is None
    np.testing.assert_allclose(gx.numpy(), [2, 2])
    with pytest.raises(RuntimeError, match="input 1.*not used"):
        lm.autograd.gradients((x * 2).sum(), [x, y], allow_unused=False)


# --------------------------------------------------------------- grad modes
def test_no_graph_recorded_without_requires_grad():
    a = lm.tensor([1.0, 2.0])
    y = lm.exp(a) * 3 + a
    assert not y.requires_grad and y.is_leaf and y._parents == ()


def test_no_grad_enable_grad_set_grad_enabled_context_managers():
    x = _x(2)
    with lm.no_grad():
        assert not lm.is_grad_enabled()
        assert not (x * 2).requires_grad
        with lm.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    assert lm.is_grad_enabled()
    with lm.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    with lm.set_grad_enabled(True):
        assert (x * 2).requires_grad


def test_grad_modes_as_decorators_and_restored_after_errors():
    x = _x(2)

    @lm.no_grad()
    def f(t):
        return t * 2

    @lm.set_grad_enabled(False)
    def g(t):
        return t * 2

    @lm.no_grad()
    def boom():
        raise KeyError("x")

    @lm.no_grad
    def bare(t):
        return t * 2

    assert not f(x).requires_grad and not g(x).requires_grad and not bare(x).requires_grad
    assert bare.__name__ == "bare"
    with pytest.raises(KeyError):
        boom()
    assert lm.is_grad_enabled()

    with lm.no_grad():
        @lm.enable_grad()
        def h(t):
            return t * 2
        assert h(x).requires_grad


# ------------------------------------------------------- functional transforms
def test_grad_value_and_grad_with_argnums_tuple():
    def f(a, b, c):
        return (a * b).sum() + c

    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    ga, gb = lm.grad(f, argnums=(0, 1))(a, b, 5.0)
    np.testing.assert_allclose(ga.numpy(), b)
    np.testing.assert_allclose(gb.numpy(), a)
    v, gc_ = lm.value_and_grad(f, argnums=2)(a, b, 5.0)
    assert v.item() == pytest.approx(16.0)
    assert gc_.item() == pytest.approx(1.0)
    assert not v.requires_grad


def test_grad_has_aux():
    def f(x):
        return (x ** 2).sum(), {"double": x * 2}

    g, aux = lm.grad(f, has_aux=True)(np.array([1.0, -3.0]))
    np.testing.assert_allclose(g.numpy(), [2.0, -6.0])
    np.testing.assert_allclose(aux["double"].numpy(), [2.0, -6.0])
    (v, aux2), g2 = lm.value_and_grad(f, has_aux=True)(np.array([2.0]))
    assert v.item() == pytest.approx(4.0) and g2.item() == pytest.approx(4.0)
    with pytest.raises(TypeError, match="has_aux"):
        lm.grad(lambda x: x.sum(), has_aux=True)(np.ones(2))


def test_grad_nested_dict_and_list_inputs():
    def loss(params, x):
        h = x @ params["w"] + params["b"][0]
        return (h * params["b"][1]).sum()

    params = {"w": np.ones((3, 2)), "b": [np.zeros(2), np.array([1.0, 2.0])]}
    x = np.arange(6.0).reshape(2, 3)
    g = lm.grad(loss)(params, x)
    assert set(g) == {"w", "b"} and isinstance(g["b"], list) and len(g["b"]) == 2
    np.testing.assert_allclose(g["w"].numpy(), x.T @ np.array([[1.0, 2.0]] * 2))
    np.testing.assert_allclose(g["b"][0].numpy(), [2.0, 4.0])
    np.testing.assert_allclose(g["b"][1].numpy(), (x @ np.ones((3, 2))).sum(0))


def test_grad_rejects_non_scalar_output():
    with pytest.raises(ValueError, match="scalar"):
        lm.grad(lambda x: x * 2)(np.ones(3))


def test_grad_of_unused_argument_is_zeros():
    g = lm.grad(lambda a, b: (a * 2).sum(), argnums=1)(lm.ones(2), np.ones(3))
    np.testing.assert_array_equal(g.numpy(), np.zeros(3))


def test_vjp_with_tuple_output():
    out, fn = lm.vjp(lambda a, b: (a * b, a + b), np.array([1.0, 2.0]), np.array([3.0, 5.0]))
    np.testing.assert_allclose(out[0].numpy(), [3.0, 10.0])
    ga, gb = fn((np.array([1.0, 1.0]), np.array([0.0, 2.0])))
    np.testing.assert_allclose(ga.numpy(), [3.0, 7.0])
    np.testing.assert_allclose(gb.numpy(), [1.0, 4.0])
    with pytest.raises(ValueError, match="cotangent"):
        fn(np.ones(2))


def test_jacobian_and_hessian():
    A = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])

    def f(x):
        return lm.tensor(A) @ x

    x = np.array([0.5, -1.0, 2.0])
    J = lm.jacobian(f)(x)
    np.testing.assert_allclose(J.numpy(), A)
    Ja, Jb = lm.jacobian(lambda a, b: a * b, argnums=(0, 1))(np.array([1.0, 2.0]),
                                                           np.array([3.0, 4.0]))
    np.testing.assert_allclose(Ja.numpy(), np.diag([3.0, 4.0]))
    np.testing.assert_allclose(Jb.numpy(), np.diag([1.0, 2.0]))
    H = lm.hessian(lambda x: (x ** 3).sum() + x[0] * x[1])(np.array([1.0, 2.0]))
    np.testing.assert_allclose(H.numpy(), [[6.0, 1.0], [1.0, 12.0]])


def test_jacobian_of_nested_outputs():
    def f(x):
        return {"sq": x * x, "pair": (x.sum(), x * 3.0)}

    x = np.array([1.0, 2.0])
    J = lm.jacobian(f)(x)
    np.testing.assert_allclose(J["sq"].numpy(), np.diag(2 * x))
    np.testing.assert_allclose(J["pair"][0].numpy(), [1.0, 1.0])
    np.testing.assert_allclose(J["pair"][1].numpy(), 3 * np.eye(2))


def test_hessian_with_argnums_tuple():
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    H = lm.hessian(lambda a, b: (a * a * b).sum(), argnums=(0, 1))(a, b)
    np.testing.assert_allclose(H[0][0].numpy(), np.diag(2 * b))
    np.testing.assert_allclose(H[0][1].numpy(), np.diag(2 * a))
    np.testing.assert_allclose(H[1][0].numpy(), np.diag(2 * a))
    np.testing.assert_allclose(H[1][1].numpy(), np.zeros((2, 2)))


# ---------------------------------------------------------- hooks and custom ops
def test_register_hook_inspects_and_replaces():
    x = _x(3)
    seen = []
    h = x * 2
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    h.register_hook(lambda g: g * 10)
    handle = x.register_hook(lambda g: g + 1)
    h.sum().backward()
    np.testing.assert_allclose(seen[0], np.ones(3))
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 21.0))
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 2.0))
    with pytest.raises(RuntimeError, match="does not require grad"):
        lm.tensor([1.0]).register_hook(print)


class GradReverse(lm.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        return -ctx.scale * g, None


def test_function_gradient_reversal():
    x = _x(3)
    y = GradReverse.apply(x, 0.5)
    np.testing.assert_allclose(y.numpy(), x.numpy())
    (y * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, -1.0))
    assert not GradReverse.apply(lm.tensor([1.0]), 1.0).requires_grad


def test_function_save_for_backward_and_wrong_count():
    class Cube(lm.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2

    x = _x(2)
    Cube.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * x.numpy() ** 2)

    class Bad(lm.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g, g

    with pytest.raises(RuntimeError, match="Bad.backward returned 2 gradients for 1"):
        Bad.apply(x).sum().backward()


def test_user_gradients_of_the_wrong_shape_are_named():
    class Squash(lm.Function):      # returns a gradient of shape (1,) for a (2,) input
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g.sum(keepdims=True)

    x = _x(2)
    with pytest.raises(RuntimeError, match=r"backward of 'Squash' returned a gradient of shape "
                                           r"\(1,\) for an input of shape \(2,\)"):
        (Squash.apply(x) * 3.0).sum().backward()   # Squash's output is an inner node

    @lm.custom_gradient
    def halve(v):
        return v * 0.5, lambda dy: dy[:1]
    with pytest.raises(RuntimeError, match=r"backward of 'halve' returned a gradient of shape"):
        halve(_x(3)).sum().backward()


def test_custom_gradient_reversal():
    @lm.custom_gradient
    def reverse(x):
        return x * 1.0, lambda g: -g

    x = _x(4)
    (reverse(x) * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(4, -3.0))


def test_gradient_tape():
    w = _x(3)
    c = lm.tensor([1.0, 2.0, 3.0], dtype="float64")
    with lm.GradientTape() as tape:
        tape.watch(c)
        loss = (w * c).sum()
    gw, gc_ = tape.gradient(loss, [w, c])
    np.testing.assert_allclose(gw.numpy(), c.numpy())
    np.testing.assert_allclose(gc_.numpy(), w.numpy())
    with lm.GradientTape(persistent=True) as tape:
        y = (w * w).sum()
    g1 = tape.gradient(y, w)
    g2 = tape.gradient(y, w)
    np.testing.assert_allclose(g1.numpy(), g2.numpy())
    with lm.no_grad():
        with lm.GradientTape() as tape:
            z = (w * 3).sum()
        np.testing.assert_allclose(tape.gradient(z, w).numpy(), np.full(3, 3.0))


def test_nested_gradient_tapes_give_second_derivative():
    x = lm.tensor(1.5, dtype="float64", requires_grad=True)
    with lm.GradientTape() as outer:
        with lm.GradientTape() as inner:
            y = x ** 3
        dy = inner.gradient(y, x)
    d2y = outer.gradient(dy, x)
    assert dy.item() == pytest.approx(3 * 1.5 ** 2)
    assert d2y.item() == pytest.approx(6 * 1.5)


# ----------------------------------------------------------------- in place
def test_inplace_on_tensor_requiring_grad_raises():
    x = _x(3)
    with pytest.raises(RuntimeError, match=r"in-place \+= .*requires grad"):
        x += 1
    with lm.no_grad():
        x += 1     # allowed: an optimizer update


def test_inplace_on_plain_tensor_works_and_checks_shape():
    a = lm.tensor([1.0, 2.0])
    a += 1
    a *= 2
    a -= 1
    a /= 2
    np.testing.assert_allclose(a.numpy(), [1.5, 2.5])
    with pytest.raises(ValueError, match="cannot be broadcast"):
        a += np.ones(3)


def test_modifying_saved_input_in_place_is_detected():
    w = _x(3)
    c = lm.tensor([1.0, 2.0, 3.0], dtype="float64")
    y = (w * c).sum()
    c += 1
    with pytest.raises(RuntimeError, match="multiply.*modified in place"):
        y.backward()


# ----------------------------------------------------------------- memory
def _mlp_setup(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((16, 8)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    W1 = lm.tensor(rng.standard_normal((8, 16)).astype(np.float32) * 0.3, requires_grad=True)
    b1 = lm.zeros(16, requires_grad=True)
    W2 = lm.tensor(rng.standard_normal((16, 3)).astype(np.float32) * 0.3, requires_grad=True)
    b2 = lm.zeros(3, requires_grad=True)
    return X, y, [W1, b1, W2, b2]


def _step(X, y, params, lr=0.05):
    W1, b1, W2, b2 = params
    loss = F.cross_entropy(F.linear(F.relu(F.linear(X, W1, b1)), W2, b2), y)
    loss.backward()
    with lm.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None
    return loss


def test_training_loop_does_not_grow_memory():
    """5,000 steps: no tensor of a past step survives (weakrefs), the number of live
    Python objects stays flat, and tracemalloc sees no growth over the last 1,000 steps
    (traced only there: tracing every step would make the test slow)."""
    X, y, params = _mlp_setup()
    total = 0.0
    refs = []
    for _ in range(100):                      # warm up caches
        total += _step(X, y, params).item()
    first = _step(X, y, params).item()
    gc.collect()
    objects_before = len(gc.get_objects())
    for i in range(4000):
        loss = _step(X, y, params)
        total += loss.item()                  # .item(): a float, not a graph
        if i % 500 == 0:
            refs.append(weakref.ref(loss))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1000):
            total += _step(X, y, params).item()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del loss
    gc.collect()
    assert all(r() is None for r in refs), "losses of past steps are still alive"
    assert len(gc.get_objects()) - objects_before < 200
    assert grown < 100_000, f"memory grew by {grown} bytes over 1000 steps"
    assert _step(X, y, params).item() < first


def test_total_plus_loss_trap_keeps_graphs_and_item_avoids_it():
    X, y, params = _mlp_setup()
    hidden = []

    def step_with_probe():
        W1, b1, W2, b2 = params
        h = F.linear(X, W1, b1)
        hidden.append(weakref.ref(h))
        loss = F.cross_entropy(F.linear(F.relu(h), W2, b2), y)
        loss.backward(retain_graph=True)
        for p in params:
            p.grad = None
        return loss

    total = 0
    for _ in range(5):
        total = total + step_with_probe()     # the trap: a tensor sum keeps every graph
    gc.collect()
    assert all(r() is not None for r in hidden)
    del total
    gc.collect()
    assert all(r() is None for r in hidden)
    hidden.clear()
    total = 0.0
    for _ in range(5):
        total += step_with_probe().item()
    gc.collect()
    assert all(r() is None for r in hidden)


def test_intermediates_released_after_backward():
    x = _x(100)
    h = lm.exp(x)
    ref = weakref.ref(h)
    y = (h * 2).sum()
    del h
    assert ref() is not None          # the graph holds it until backward
    y.backward()
    gc.collect()
    assert ref() is None


def _dag_loss(x, w):
    """A graph with every shape of fan-in and fan-out the walk must handle: a chain, a node
    used twice by one op (h * h), a diamond (h feeds a and b), a leaf used by many nodes."""
    h = lm.tanh(x * w)
    a = lm.exp(h * 0.5) * w
    b = h * h + x
    c = lm.sin(a) * b
    return (c * c + a).sum()


def test_loss_backward_matches_the_general_walk_on_a_dag():
    rng = np.random.default_rng(0)
    xa, wa = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    x = lm.tensor(xa, requires_grad=True)
    w = lm.tensor(wa, requires_grad=True)
    _dag_loss(x, w).backward()             # the first-order path of loss.backward()
    gx, gw = lm.autograd.gradients(_dag_loss(x, w), [x, w])     # the general walk
    np.testing.assert_allclose(x.grad.numpy(), gx.numpy(), rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), gw.numpy(), rtol=1e-12)
    assert lm.testing.gradcheck(_dag_loss, [xa, wa])


def test_loss_backward_runs_hooks_retains_and_checks_versions_on_a_chain():
    x = lm.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    seen = []
    h = x * 2.0
    h.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 10)
    h2 = (h * h).retain_grad()
    loss = h2.sum()
    loss.backward(retain_graph=True)
    np.testing.assert_array_equal(h2.grad.numpy(), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(seen[0], 2 * h.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), 10 * 2 * 2 * h.numpy())
    with lm.no_grad():
        x += 1.0
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_leaf_gradients_own_their_memory_and_sum_over_uses():
    # loss.backward() writes a hook-free leaf's gradient as each part arrives: a broadcast
    # view must still be copied, several uses must add up, and an earlier .grad must be
    # added to, never aliased or overwritten
    b = lm.tensor(np.array([1.0, 2.0]), requires_grad=True)
    x = lm.tensor(np.ones((3, 2)), requires_grad=True)
    (x + b).sum().backward()            # b's gradient comes from a reduction, x's is g itself
    assert x.grad.numpy().flags.writeable and b.grad.numpy().flags.writeable
    x.grad.data[0, 0] = 99.0            # .grad owns its memory: nothing else changes
    np.testing.assert_array_equal(b.grad.numpy(), [3.0, 3.0])
    w = lm.tensor(np.array([2.0, 3.0]), requires_grad=True)
    w.grad = lm.tensor(np.array([1.0, 1.0]))
    before = w.grad
    ((w * w).sum() + (w * 5.0).sum()).backward()
    np.testing.assert_array_equal(w.grad.numpy(), 1.0 + 2 * w.numpy() + 5.0)
    np.testing.assert_array_equal(before.numpy(), [1.0, 1.0])

    class Spread(lm.Function):      # a backward that returns a read-only broadcast view
        @staticmethod
        def forward(ctx, v):
            return v.sum()

        @staticmethod
        def backward(ctx, g):
            return lm.from_numpy(np.broadcast_to(g.numpy(), (4,)))

    v = lm.tensor(np.zeros(4), requires_grad=True)
    Spread.apply(v).backward()
    assert v.grad.numpy().flags.writeable
    np.testing.assert_array_equal(v.grad.numpy(), np.ones(4))
