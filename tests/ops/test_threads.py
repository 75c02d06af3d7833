"""lamina.ops.threads and the split MKL products: a product split over lamina's workers
gives the unsplit product, in every layout, and the worker pool behaves (no nested
splitting, errors re-raised, a fresh pool after fork), with spinning workers
(lamina.ops.handoff, where numba is installed) and with blocking ones."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from lamina.ops import blas, handoff, threads

mkl = pytest.mark.skipif(not blas.mkl_available(), reason="MKL (pip install lamina[mkl]) absent")


@pytest.fixture(params=["spinning", "blocking"])
def two_threads(request):
    """Two threads, with each kind of worker in turn."""
    spin = request.param == "spinning"
    if spin and handoff.load() is None:
        pytest.skip("spinning workers need numba")
    prev_spin = threads._set_spinning(spin)
    prev = threads.set_num_threads(2)
    assert threads.spinning() == spin
    yield spin
    threads.set_num_threads(prev)
    threads._set_spinning(prev_spin)


def _operand(rng, shape, layout):
    if layout == "f":
        return rng.standard_normal(shape[::-1]).astype(np.float32).T
    return rng.standard_normal(shape).astype(np.float32)


def _recording(monkeypatch):
    """Record, for each run_parallel call, the names of the threads its tasks ran on."""
    calls = []
    real = threads.run_parallel

    def run(tasks):
        names = []
        calls.append(names)
        real([lambda t=t: (names.append(threading.current_thread().name), t())
              for t in tasks])
    monkeypatch.setattr(threads, "run_parallel", run)
    return calls


@mkl
@pytest.mark.parametrize("shape", [(600, 400, 300),      # more rows: split by rows
                                   (80, 1700, 500)])     # more columns: by columns
@pytest.mark.parametrize("la,lb", [("c", "c"), ("f", "c"), ("c", "f")])
def test_split_product_equals_the_unsplit_one(two_threads, shape, la, lb, monkeypatch):
    m, k, n = shape
    assert m * k * n >= blas.PARALLEL_MIN_WORK
    rng = np.random.default_rng(0)
    a, b = _operand(rng, (m, k), la), _operand(rng, (k, n), lb)
    calls = _recording(monkeypatch)
    got = blas.matmul(a, b)
    assert len(calls) == 1 and len(set(calls[0])) == 2      # two blocks, two threads
    want = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    out = np.full((m, n), 2.0, np.float32)
    blas.matmul(a, b, out=out, accumulate=True)              # out += a @ b, block by block
    np.testing.assert_allclose(out, want + 2, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    big = np.full((m + 3, n + 5), 7.0, np.float32)           # out rows of a wider array
    blas.matmul(a, b, out=big[1:m + 1, 2:n + 2])
    np.testing.assert_allclose(big[1:m + 1, 2:n + 2], want, rtol=1e-4,
                               atol=1e-4 * np.abs(want).max())
    assert (big[0] == 7).all() and (big[m + 1:] == 7).all()
    assert (big[:, :2] == 7).all() and (big[:, n + 2:] == 7).all()


@mkl
def test_small_or_single_threaded_products_are_not_split(two_threads, monkeypatch):
    monkeypatch.setattr(threads, "run_parallel", lambda t: pytest.fail("split"))
    rng = np.random.default_rng(1)
    a = rng.standard_normal((128, 256)).astype(np.float32)   # above MKL's, below the split's
    b = rng.standard_normal((256, 128)).astype(np.float32)
    np.testing.assert_allclose(blas.matmul(a, b), a @ b, rtol=1e-4, atol=1e-3)
    threads.set_num_threads(1)
    big = rng.standard_normal((512, 512)).astype(np.float32)
    np.testing.assert_allclose(blas.matmul(big, big), big @ big, rtol=1e-3, atol=1e-2)


def test_run_parallel_runs_every_task_and_reraises(two_threads):
    seen = []
    threads.run_parallel([lambda: seen.append(threads.in_worker()),
                          lambda: seen.append(threads.in_worker())])
    assert sorted(seen) == [False, True]        # one on a worker, the last on the caller

    def boom():
        raise KeyError("worker failed")
    with pytest.raises(KeyError, match="worker failed"):
        threads.run_parallel([boom, lambda: None])


@mkl
def test_products_inside_a_worker_are_not_split_again(two_threads, monkeypatch):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((600, 400)).astype(np.float32)
    b = rng.standard_normal((400, 300)).astype(np.float32)
    assert a.shape[0] * a.shape[1] * b.shape[1] >= blas.PARALLEL_MIN_WORK
    outer = threads.run_parallel
    calls = _recording(monkeypatch)
    res = {}
    outer([lambda: res.setdefault("w", blas.matmul(a, b)), lambda: None])
    assert calls == []                          # the worker multiplied in one call
    np.testing.assert_allclose(res["w"], a @ b, rtol=1e-4, atol=1e-3)


def test_set_num_threads_checks_its_argument():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="set_num_threads"):
            threads.set_num_threads(bad)


def _run(code, **env):
    e = dict(os.environ)
    e.pop("MKL_THREADING_LAYER", None)
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True,
                          timeout=120)


def test_environment_sets_the_thread_count():
    code = "from lamina.ops import threads; print(threads.num_threads())"
    assert _run(code, LAMINA_NUM_THREADS="3").stdout.strip() == "3"
    assert _run(code, MKL_THREADING_LAYER="GNU").stdout.strip() == "1"   # MKL threads itself
    bad = _run(code, LAMINA_NUM_THREADS="many")
    assert bad.returncode != 0 and "LAMINA_NUM_THREADS" in bad.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_a_fresh_pool():
    code = (
        "import os, sys\n"
        "from lamina.ops import threads\n"
        "threads.set_num_threads(2)\n"
        "threads.run_parallel([lambda: None, lambda: None])   # the parent's pool starts\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    out = []\n"
        "    threads.run_parallel([lambda: out.append(1), lambda: out.append(2)])\n"
        "    os._exit(0 if sorted(out) == [1, 2] else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(os.waitstatus_to_exitcode(status))\n")
    assert _run(code).stdout.strip() == "0"


def _with_threads(n, fn):
    prev = threads.set_num_threads(n)
    try:
        return fn()
    finally:
        threads.set_num_threads(prev)


def test_row_parts_cover_the_rows_once():
    prev = threads.set_num_threads(3)
    try:
        parts = threads.row_parts(10, threads.MIN_PART_ELEMENTS)
        assert parts == [(0, 3), (3, 6), (6, 10)]
        assert threads.row_parts(10, 1) == [(0, 10)]                  # too little work
        assert threads.row_parts(2, threads.MIN_PART_ELEMENTS) == [(0, 1), (1, 2)]
    finally:
        threads.set_num_threads(prev)
    assert threads.row_parts(10, threads.MIN_PART_ELEMENTS) == [(0, 10)] or \
        threads.num_threads() > 1


def test_elementwise_passes_on_threads_give_the_one_thread_results(monkeypatch):
    """linear's bias and relu, relu's gradient and an optimizer's blocks, split over two
    threads, compute exactly what one thread computes (elementwise: no reordering)."""
    import lamina as lm
    from lamina import keras
    from lamina.nn import functional as F
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1100, 64)).astype(np.float32)
    w = (rng.standard_normal((64, 1000)) * 0.1).astype(np.float32)
    b = rng.standard_normal(1000).astype(np.float32)
    g = rng.standard_normal((1100, 1000)).astype(np.float32)
    assert g.size >= 2 * threads.MIN_PART_ELEMENTS
    calls = []
    real = threads.run_parallel
    monkeypatch.setattr(threads, "run_parallel", lambda t: (calls.append(len(t)), real(t))[1])

    def step():
        ws = lm.tensor(w, requires_grad=True)
        bs = lm.tensor(b, requires_grad=True)
        y = F.linear(lm.tensor(x), ws, bs, activation="relu")
        (y * lm.tensor(g)).sum().backward()
        opt = keras.optimizers.Adam(0.01)
        big = keras.Variable(g.copy())
        opt.apply([lm.tensor(g * 0.5)], [big])
        opt.apply([lm.tensor(g * 0.25)], [big])
        return y.numpy(), ws.grad.numpy(), bs.grad.numpy(), big.numpy()
    two = _with_threads(2, step)
    assert 2 in calls                       # something was split
    # ... and what is split is right: NumPy's formulas on the whole arrays
    from lamina.ops.elementwise import relu_grad_array
    y = np.maximum(x @ w + b, 0)
    np.testing.assert_allclose(two[0], y, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(_with_threads(2, lambda: relu_grad_array(g, y)),
                                  g * (y > 0))
    calls.clear()
    one = _with_threads(1, step)
    assert set(calls) <= {1}
    for a, c in zip(two, one):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_large_weights_update_in_blocks_on_threads_as_on_small_ones(name):
    """A weight large enough is updated block by block on two threads; every element gets
    what the same optimizer gives a small weight holding the same values."""
    from lamina import keras
    rng = np.random.default_rng(4)
    n = 2 * threads.MIN_PART_ELEMENTS + 12345
    w0 = rng.standard_normal(n).astype(np.float32)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(3)]
    kw = {"momentum": 0.9} if name == "SGD" else {}
    big_opt = getattr(keras.optimizers, name)(0.01, **kw)
    big = keras.Variable(w0.copy())
    _with_threads(2, lambda: [big_opt.apply([g], [big]) for g in grads])
    # the same values as 1000-element weights (below the block and thread sizes)
    idx = np.r_[0:500, n - 500:n, threads.MIN_PART_ELEMENTS - 250:threads.MIN_PART_ELEMENTS + 250]
    small_opt = getattr(keras.optimizers, name)(0.01, **kw)
    small = keras.Variable(w0[idx].copy())
    for g in grads:
        small_opt.apply([g[idx]], [small])
    np.testing.assert_array_equal(big.numpy()[idx], small.numpy())


@mkl
def test_matmul_pair_runs_the_two_products_on_two_threads(two_threads, monkeypatch):
    rng = np.random.default_rng(5)
    a1 = rng.standard_normal((700, 600)).astype(np.float32)
    b1 = rng.standard_normal((600, 400)).astype(np.float32)
    a2 = rng.standard_normal((600, 700)).astype(np.float32).T      # a transposed view
    b2 = rng.standard_normal((600, 400)).astype(np.float32)
    assert 2 * 700 * 600 * 400 >= blas.PAIR_MIN_WORK
    calls = _recording(monkeypatch)
    then = []
    p1, p2 = blas.matmul_pair(a1, b1, a2, b2, then=lambda: then.append(
        threading.current_thread() is threading.main_thread()))
    assert len(calls) == 1 and len(set(calls[0])) == 2     # one hand-off, two threads
    assert then == [True]                                  # on the caller, once
    np.testing.assert_allclose(p1, a1 @ b1, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(p2, a2 @ b2, rtol=1e-4, atol=1e-3)
    # small products, or one thread: one after the other, the same values
    calls.clear()
    small = blas.matmul_pair(a1[:8], b1, a2[:8], b2, then=lambda: then.append(None))
    assert then == [True, None]
    threads.set_num_threads(1)
    one = blas.matmul_pair(a1, b1, a2, b2)
    assert calls == []
    np.testing.assert_allclose(small[0], a1[:8] @ b1, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(one[0], p1)
    np.testing.assert_array_equal(one[1], p2)


def _jobs_done():
    """How many jobs the first spinning worker has finished."""
    return int(threads._state["rows"][0, handoff.DONE])


@mkl
def test_a_spinning_worker_runs_a_split_products_block_itself(two_threads):
    """On a spinning worker a block is a GEMM job in its mailbox, run without Python."""
    if not two_threads:
        pytest.skip("spinning workers only")
    rng = np.random.default_rng(6)
    for dt in (np.float32, np.float64):
        a = rng.standard_normal((1000, 300)).astype(dt)
        b = rng.standard_normal((300, 200)).astype(dt)
        assert 1000 * 300 * 200 >= blas.parallel_min_work()
        before = _jobs_done()
        got = blas.matmul(a, b)
        assert _jobs_done() == before + 1
        want = a.astype(np.float64) @ b.astype(np.float64)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
        p1, p2 = blas.matmul_pair(a, b, a.T, a)            # the pair: the second on the worker
        assert _jobs_done() == before + 2
        np.testing.assert_allclose(p1, got, rtol=1e-4, atol=1e-4 * np.abs(want).max())
        np.testing.assert_allclose(p2, a.T.astype(np.float64) @ a, rtol=1e-4,
                                   atol=1e-4 * np.abs(p2).max())


def test_more_tasks_than_threads_all_run_once(two_threads):
    seen = []
    threads.run_parallel([lambda i=i: seen.append(i) for i in range(7)])
    assert sorted(seen) == list(range(7))
    # after a larger thread count, no more threads than the current one are used
    threads.set_num_threads(3)
    threads.run_parallel([lambda: None] * 3)
    threads.set_num_threads(2)
    names = []
    threads.run_parallel([lambda: names.append(threading.current_thread().name)] * 5)
    assert len(names) == 5 and len(set(names)) == 2


def test_two_callers_at_once_each_get_their_own_results(two_threads):
    """Two threads of the user's splitting work at the same time: one has the workers,
    the other runs its parts itself; nothing is lost or mixed up."""
    rng = np.random.default_rng(7)
    a = rng.standard_normal((800, 400)).astype(np.float32)
    b = rng.standard_normal((400, 300)).astype(np.float32)
    want = a @ b
    errors = []

    def user(scale):
        try:
            for _ in range(30):
                out = []
                threads.run_parallel([lambda: out.append(scale), lambda: out.append(-scale)])
                assert sorted(out) == [-scale, scale]
                np.testing.assert_allclose(blas.matmul(a * scale, b), want * scale,
                                           rtol=1e-4, atol=1e-3 * scale)
        except BaseException as e:
            errors.append(e)
    ts = [threading.Thread(target=user, args=(s,)) for s in (1.0, 2.0)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []


def test_workers_that_park_at_once_still_take_every_job():
    """With no spinning at all (LAMINA_SPIN_US=0) a worker parks after each job and each
    post must wake it."""
    code = (
        "import numpy as np\n"
        "from lamina.ops import blas, threads\n"
        "threads.set_num_threads(2)\n"
        "rng = np.random.default_rng(0)\n"
        "a = rng.standard_normal((600, 400)).astype(np.float32)\n"
        "b = rng.standard_normal((400, 300)).astype(np.float32)\n"
        "ok = True\n"
        "for i in range(200):\n"
        "    out = []\n"
        "    threads.run_parallel([lambda: out.append(1), lambda: out.append(2)])\n"
        "    ok &= sorted(out) == [1, 2]\n"
        "    ok &= bool(np.allclose(blas.matmul(a, b), a @ b, rtol=1e-4, atol=1e-3))\n"
        "print(ok, threads.spinning())\n")
    out = _run(code, LAMINA_SPIN_US="0").stdout.split()
    assert out[0] == "True"


def test_compiled_mailbox_loops_follow_the_protocol():
    """serve and wait on one thread: a posted GEMM job runs and is marked done, a Python
    job is handed back, an idle serve returns after its spin, a finished job is marked."""
    k = handoff.load()
    if k is None:
        pytest.skip("needs numba")
    row, fargs, ts = np.zeros(handoff.ROW, np.int64), np.zeros(2), np.zeros(2, np.int64)
    assert k.serve(row, fargs, 1000, -1, ts) == -1          # nothing posted: back at once
    if k.kinds:
        gemm, kind = k.kinds[0]                            # float32
        rng = np.random.default_rng(8)
        a = rng.standard_normal((5, 4)).astype(np.float32)
        b = rng.standard_normal((4, 3)).astype(np.float32)
        out, fn, args = blas._bound_gemm(a, b, None, 0.0)
        assert fn is gemm
        row[handoff.ARGS:handoff.ARGS + 12] = args[:6] + args[7:11] + args[12:14]
        fargs[:] = args[6], args[11]
        row[handoff.KIND] = kind
        row[handoff.POSTED] = 1
        assert k.serve(row, fargs, 1000, -1, ts) == -1
        assert row[handoff.TAKEN] == row[handoff.DONE] == 1
        np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)
    n = row[handoff.POSTED]
    row[handoff.KIND] = handoff.PYTHON
    row[handoff.POSTED] = n + 1
    assert k.serve(row, fargs, 1000, -1, ts) == n + 1       # Python's turn
    assert row[handoff.TAKEN] == n + 1 and row[handoff.DONE] == n
    assert k.serve(row, fargs, 1000, n + 1, ts) == -1       # marks it done, then idles
    assert row[handoff.DONE] == n + 1
    rows = row.reshape(1, -1)
    k.wait(rows, 1, np.array([n + 1]), 0, ts)               # done already: returns


def test_without_numba_workers_block_and_split_alike():
    code = (
        "from lamina.ops import blas, handoff, threads\n"
        "threads.set_num_threads(2)\n"
        "out = []\n"
        "threads.run_parallel([lambda: out.append(1), lambda: out.append(2)])\n"
        "print(handoff.load() is None, threads.spinning(), sorted(out) == [1, 2],\n"
        "      blas.parallel_min_work() == blas.PARALLEL_MIN_WORK)\n")
    assert _run(code, LAMINA_JIT="0").stdout.split() == ["True", "False", "True", "True"]


def test_spin_time_from_the_environment():
    assert _run("from lamina.ops import handoff; print(handoff.spin_nanoseconds())",
                LAMINA_SPIN_US="7").stdout.strip() == "7000"
    bad = _run("from lamina.ops import handoff; handoff.spin_nanoseconds()",
               LAMINA_SPIN_US="soon")
    assert bad.returncode != 0 and "LAMINA_SPIN_US" in bad.stderr


def test_spinning_workers_leave_their_compiled_loop_at_exit():
    code = (
        "import numpy as np\n"
        "from lamina.ops import threads\n"
        "threads.set_num_threads(3)\n"
        "threads.run_parallel([lambda: None] * 3)\n"
        "ws = list(threads._state['workers'])\n"
        "threads._stop_spinning()\n"
        "print(threads.spinning(), len(ws), any(w.thread.is_alive() for w in ws))\n")
    res = _run(code)
    assert res.returncode == 0 and res.stderr == ""
    spinning, n, alive = res.stdout.split()
    assert n == "2" and alive == "False" or spinning == "False"


@mkl
def test_spinning_workers_keep_mid_size_products_off_numpys_threads(two_threads, monkeypatch):
    """Where lamina's workers spin, products OpenBLAS would thread go to MKL instead (its
    threads would spin on the cores lamina's use); blocking workers leave them to NumPy."""
    rng = np.random.default_rng(9)
    a = rng.standard_normal((128, 512)).astype(np.float32)      # 128 x 512 x 10: 655 k
    b = rng.standard_normal((512, 10)).astype(np.float32)
    sent = []
    real = blas._mkl_gemm
    monkeypatch.setattr(blas, "_mkl_gemm", lambda *args, **kw: (sent.append(1),
                                                                 real(*args, **kw))[1])
    np.testing.assert_allclose(blas.matmul(a, b), a @ b, rtol=1e-4, atol=1e-4)
    assert sent == ([1] if two_threads else [])
    assert blas.mkl_min_work() == (blas.SPINNING_MKL_WORK if two_threads else
                                   blas.MIN_MKL_WORK)


@mkl
def test_numpys_openblas_goes_to_one_thread_while_lamina_splits():
    """With lamina's threads on MKL's products, NumPy's OpenBLAS is set to one thread
    (its threads would spin on the same cores), unless the environment sets its count."""
    code = (
        "import numpy as np\n"
        "from lamina.ops import blas, threads\n"
        "threads.set_num_threads(2)\n"
        "fns = blas._numpy_openblas()\n"
        "before = fns[1]() if fns else -1\n"
        "a, b = np.ones((600, 400), np.float32), np.ones((400, 300), np.float32)\n"
        "blas.matmul(a, b)          # 72 M multiply-adds: split over the threads\n"
        "print(before, fns[1]() if fns else -1, blas._numpy_blas['threads'])\n")
    env = {k: "" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS")}
    before, after, saved = _run(code, **env).stdout.split()
    if before == "-1":
        pytest.skip("no OpenBLAS in this NumPy")
    assert after == "1" and saved == before
    before, after, saved = _run(code, **dict(env, OPENBLAS_NUM_THREADS="2")).stdout.split()
    assert before == after == "2" and saved == "None"
