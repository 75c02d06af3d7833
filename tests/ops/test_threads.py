"""lamina.ops.threads and the split MKL products: a product split over lamina's workers
gives the unsplit product, in every layout, and the worker pool behaves (no nested
splitting, errors re-raised, a fresh pool after fork)."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from lamina.ops import blas, threads

mkl = pytest.mark.skipif(not blas.mkl_available(), reason="MKL (pip install lamina[mkl]) absent")


@pytest.fixture
def two_threads():
    prev = threads.set_num_threads(2)
    yield
    threads.set_num_threads(prev)


def _operand(rng, shape, layout):
    if layout == "f":
        return rng.standard_normal(shape[::-1]).astype(np.float32).T
    return rng.standard_normal(shape).astype(np.float32)


@mkl
@pytest.mark.parametrize("shape", [(600, 400, 300),      # more rows: split by rows
                                   (80, 1700, 500)])     # more columns: by columns
@pytest.mark.parametrize("la,lb", [("c", "c"), ("f", "c"), ("c", "f")])
def test_split_product_equals_the_unsplit_one(two_threads, shape, la, lb, monkeypatch):
    m, k, n = shape
    assert m * k * n >= blas.PARALLEL_MIN_WORK
    rng = np.random.default_rng(0)
    a, b = _operand(rng, (m, k), la), _operand(rng, (k, n), lb)
    calls = []
    real = blas._mkl_gemm_block
    monkeypatch.setattr(blas, "_mkl_gemm_block", lambda *args: (
        calls.append(threading.current_thread().name), real(*args)))
    got = blas.matmul(a, b)
    assert len(calls) == 2 and len(set(calls)) == 2          # two blocks, two threads
    want = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    out = np.full((m, n), 2.0, np.float32)
    blas.matmul(a, b, out=out, accumulate=True)              # out += a @ b, block by block
    np.testing.assert_allclose(out, want + 2, rtol=1e-4, atol=1e-4 * np.abs(want).max())


@mkl
def test_small_or_single_threaded_products_are_not_split(two_threads, monkeypatch):
    monkeypatch.setattr(blas, "_mkl_gemm_block", lambda *a: pytest.fail("split"))
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
    blocks = []
    real = blas._mkl_gemm_block
    monkeypatch.setattr(blas, "_mkl_gemm_block", lambda *args: (blocks.append(1), real(*args)))
    res = {}
    threads.run_parallel([lambda: res.setdefault("w", blas.matmul(a, b)), lambda: None])
    assert blocks == []                         # the worker multiplied in one call
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
