"""ctc_loss (forward-backward in log space, one fused node) and greedy decoding: finite
differences, PyTorch's values and gradients, hand-countable cases and errors."""
import math

import numpy as np
import pytest

import lamina as lm
from lamina.ops.ctc import ctc_greedy_decode, ctc_loss
from lamina.testing import gradcheck


def _case(seed=0, N=4, T=9, C=5, L=4):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((N, T, C))
    tgt = rng.integers(1, C, (N, L))
    tgt[1, 1] = tgt[1, 0]                   # a repeated label needs a blank between
    tl = np.array([4, 3, 0, 2])[:N]
    ll = np.array([T, T - 3, 5, 3])[:N]
    return z, tgt, tl, ll


def test_two_steps_one_label_by_hand():
    """T=2, target [1]: alignments (1,1), (1,b), (b,1): p = y1a y1b + y1a bb + ba y1b."""
    z = np.log(np.array([[[0.2, 0.8], [0.6, 0.4]]]))      # already normalized
    loss = ctc_loss(np.array([[1]]), lm.tensor(z), np.array([1]), np.array([2])).numpy()
    p = 0.8 * 0.4 + 0.8 * 0.6 + 0.2 * 0.4
    np.testing.assert_allclose(loss, [-math.log(p)], rtol=1e-12)


def test_gradcheck_float64():
    z, tgt, tl, ll = _case()
    gradcheck(lambda x: ctc_loss(tgt, x, tl, ll), [z])


def test_impossible_alignment_is_inf_with_zero_gradient():
    z = lm.tensor(np.zeros((1, 2, 3)), requires_grad=True)
    loss = ctc_loss(np.array([[1, 1]]), z, np.array([2]), np.array([2]))   # needs 3 steps
    assert np.isinf(loss.numpy()[0])
    loss.sum().backward()
    assert np.all(z.grad.numpy() == 0)


def test_matches_torch_values_and_gradients():
    torch = pytest.importorskip("torch")
    for dtype, tol in ((np.float64, 1e-10), (np.float32, 2e-5)):
        z, tgt, tl, ll = _case(seed=3)
        z = z.astype(dtype)
        x = lm.tensor(z, requires_grad=True)
        w = np.arange(1, 5, dtype=dtype)
        (ctc_loss(tgt, x, tl, ll) * lm.tensor(w)).sum().backward()
        tz = torch.tensor(z, requires_grad=True)
        tloss = torch.nn.functional.ctc_loss(
            torch.log_softmax(tz, -1).transpose(0, 1), torch.tensor(tgt), torch.tensor(ll),
            torch.tensor(tl), blank=0, reduction="none")
        (tloss * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(ctc_loss(tgt, x, tl, ll).numpy(), tloss.detach().numpy(),
                                   rtol=tol, atol=tol)
        np.testing.assert_allclose(x.grad.numpy(), tz.grad.numpy(), rtol=tol, atol=tol)


def test_shape_errors_name_the_op():
    z = np.zeros((2, 5, 3))
    with pytest.raises(ValueError, match="ctc_loss: logits must have shape"):
        ctc_loss(np.ones((2, 2), int), z[0], np.array([2, 2]), np.array([5, 5]))
    with pytest.raises(ValueError, match="logit_length must be in"):
        ctc_loss(np.ones((2, 2), int), z, np.array([2, 2]), np.array([6, 5]))


def test_greedy_decode_merges_repeats_and_drops_blanks():
    # best path per step: 1 1 0 1 2 2 | 0 3 3 (second sample has 3 valid steps)
    best = np.array([[1, 1, 0, 1, 2, 2], [0, 3, 3, 1, 1, 1]])
    logits = np.full((2, 6, 4), -5.0)
    for n in range(2):
        logits[n, np.arange(6), best[n]] = 1.0
    out, scores = ctc_greedy_decode(logits, np.array([6, 3]))
    assert out.tolist() == [[1, 1, 2, -1, -1, -1], [3, -1, -1, -1, -1, -1]]
    np.testing.assert_allclose(scores, [-6.0, -3.0])
