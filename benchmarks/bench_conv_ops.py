"""Per-op timings on the MNIST CNN's shapes: conv2d, conv2d_relu (conv + bias + relu as one
node, against PyTorch's conv2d then relu) and max_pool2d, forward + backward, in lamina
(channels-last) and PyTorch eager (NCHW), alternating, medians and ratios.  The "+relu"
cases are the CNN's own: bias, and no input gradient for the first layer.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_conv_ops.py
        [--threads N] [--clock wall|cpu]
"""
from __future__ import annotations

import os
import sys

if "--threads" in sys.argv:     # must act before NumPy starts OpenBLAS's threads
    _n = sys.argv[sys.argv.index("--threads") + 1]
    for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
               "LAMINA_NUM_THREADS"):
        os.environ[_v] = _n

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import compare, emit, ratio  # noqa: E402

import lamina as lm  # noqa: E402
from lamina.ops.conv import conv2d, conv2d_relu  # noqa: E402
from lamina.ops.pooling import max_pool2d  # noqa: E402

# (name, input NHWC, kernel HWIO or pool size)
CASES = [("conv1 28x28x1->32", (64, 28, 28, 1), (3, 3, 1, 32)),
         ("conv2 13x13x32->64", (64, 13, 13, 32), (3, 3, 32, 64)),
         ("conv1+relu 28x28x1->32", (64, 28, 28, 1), (3, 3, 1, 32)),
         ("conv2+relu 13x13x32->64", (64, 13, 13, 32), (3, 3, 32, 64)),
         ("pool1 26x26x32", (64, 26, 26, 32), 2),
         ("pool2 11x11x64", (64, 11, 11, 64), 2)]


def main():
    clock = sys.argv[sys.argv.index("--clock") + 1] if "--clock" in sys.argv else "wall"
    torch = None
    try:
        import torch
        if "--threads" in sys.argv:
            torch.set_num_threads(int(sys.argv[sys.argv.index("--threads") + 1]))
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    for name, xs, k in CASES:
        x = rng.standard_normal(xs).astype(np.float32)
        relu = "+relu" in name
        xgrad = not (relu and xs[-1] == 1)      # the first layer's input needs no gradient
        lx = lm.tensor(x, requires_grad=xgrad)
        if isinstance(k, tuple):
            w = (rng.standard_normal(k) * 0.1).astype(np.float32)
            lw = lm.tensor(w, requires_grad=True)
            lb = lm.tensor(np.zeros(k[-1], np.float32), requires_grad=True)

            def lam():
                if relu:
                    conv2d_relu(lx, lw, lb).sum().backward()
                else:
                    conv2d(lx, lw).sum().backward()
        else:
            def lam():
                max_pool2d(lx, k).sum().backward()
        cases = {"lamina": lam}
        if torch is not None:
            tx = torch.tensor(x).permute(0, 3, 1, 2).contiguous().requires_grad_(xgrad)
            if isinstance(k, tuple):
                tw = torch.tensor(w).permute(3, 2, 0, 1).contiguous().requires_grad_(True)
                tb = torch.zeros(k[-1], requires_grad=True)

                def tor():
                    if relu:
                        torch.relu(torch.nn.functional.conv2d(tx, tw, tb)).sum().backward()
                    else:
                        torch.nn.functional.conv2d(tx, tw).sum().backward()
            else:
                def tor():
                    torch.nn.functional.max_pool2d(tx, k).sum().backward()
            cases["torch"] = tor
        res = compare(cases, rounds=11, number=5, clock=clock)
        rec = {"bench": "conv_op_fwd_bwd", "case": name, "clock": clock,
               "lamina_ms": round(res["lamina"] * 1e3, 3)}
        if "torch" in res:
            rec.update({"torch_ms": round(res["torch"] * 1e3, 3),
                        "lamina_over_torch_time": ratio(res["lamina"], res["torch"])})
        emit(rec)


if __name__ == "__main__":
    main()
