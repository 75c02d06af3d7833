"""lamina.cuda: importable and truthful without CuPy; real checks on a GPU machine."""
import numpy as np
import pytest

import lamina as lm


def test_cuda_queries_do_not_fail():
    avail = lm.cuda.is_available()
    assert isinstance(avail, bool)
    assert (lm.cuda.device_count() > 0) == avail
    lm.cuda.synchronize()           # a no-op without CUDA


@pytest.mark.gpu
def test_ops_run_on_the_gpu_and_match_the_cpu():
    if not lm.cuda.is_available():
        pytest.skip("no CUDA device")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((3, 2))
    ta = lm.tensor(a, device="cuda", requires_grad=True)
    tb = lm.tensor(b.astype(np.float32), device="cuda", requires_grad=True)
    loss = lm.nn.functional.cross_entropy(ta @ tb, np.array([0, 1, 1, 0]))
    loss.backward()
    assert ta.grad.device == lm.device("cuda:0")
    ca = lm.tensor(a, requires_grad=True)
    cb = lm.tensor(b.astype(np.float32), requires_grad=True)
    lm.nn.functional.cross_entropy(ca @ cb, np.array([0, 1, 1, 0])).backward()
    np.testing.assert_allclose(ta.grad.numpy(), ca.grad.numpy(), rtol=1e-5, atol=1e-6)
