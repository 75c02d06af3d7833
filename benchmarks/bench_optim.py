"""Optimizer steps and loss forward+backward: lamina vs PyTorch eager, same work,
alternated A B A B (benchmarks/common.compare), medians and ratios.

Run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_optim.py"""
import sys
import numpy as np
import torch
import os  # noqa: E402
os.environ.setdefault("LAMINA_NUM_THREADS", "1")    # one thread each, as torch below
_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _here)
sys.path.insert(0, os.path.dirname(_here))
from common import compare  # noqa: E402
import lamina as lm  # noqa: E402
from lamina.nn import losses as L, optimizers as O  # noqa: E402

torch.set_num_threads(1)
rng = np.random.default_rng(0)


def opt_cases(shapes, lname, lkw, tname, tkw):
    ws = [rng.standard_normal(s).astype("f4") for s in shapes]
    gs = [rng.standard_normal(s).astype("f4") for s in shapes]
    lv = [lm.tensor(w.copy(), requires_grad=True) for w in ws]
    lg = [lm.tensor(g) for g in gs]
    lo = getattr(O, lname)(**lkw)
    tv = [torch.tensor(w.copy(), requires_grad=True) for w in ws]
    for v, g in zip(tv, gs):
        v.grad = torch.tensor(g)
    to = getattr(torch.optim, tname)(tv, **tkw)
    return {"lamina": lambda: lo.apply(lg, lv), "torch": to.step}


def report(title, res):
    print(f"{title:44s} lamina {res['lamina']*1e6:9.1f} us  torch {res['torch']*1e6:9.1f} us"
          f"  ratio {res['lamina']/res['torch']:.2f}")


small = [(64, 100), (100,), (100, 10), (10,)]
big = [(784, 512), (512,), (512, 512), (512,), (512, 10), (10,)]
for shapes, tag in ((small, "64-100-10"), (big, "784-512-512-10")):
    for lname, lkw, tname, tkw in (
            ("SGD", dict(learning_rate=0.1), "SGD", dict(lr=0.1)),
            ("SGD", dict(learning_rate=0.1, momentum=0.9), "SGD", dict(lr=0.1, momentum=0.9)),
            ("Adam", {}, "Adam", dict(eps=1e-7)),
            ("RMSprop", {}, "RMSprop", dict(lr=1e-3, alpha=0.9, eps=1e-7))):
        report(f"{lname}{'+mom' if lkw.get('momentum') else ''} step {tag}",
               compare(opt_cases(shapes, lname, lkw, tname, tkw)))

z = rng.standard_normal((128, 10)).astype("f4")
lab = rng.integers(0, 10, 128)
oh = np.eye(10, dtype="f4")[lab]
tl, toh = torch.tensor(lab), torch.tensor(oh)
scce = L.SparseCategoricalCrossentropy(from_logits=True)
cce = L.CategoricalCrossentropy()
mse = L.MeanSquaredError()


def lam(fn, yt, softmax=False):
    def run():
        x = lm.tensor(z, requires_grad=True)
        fn(yt, lm.softmax(x) if softmax else x).backward()
    return run


def tor(kind):
    def run():
        x = torch.tensor(z, requires_grad=True)
        if kind == "scce":
            loss = torch.nn.functional.cross_entropy(x, tl)
        elif kind == "cce":
            p = torch.softmax(x, -1)
            p = p / p.sum(-1, keepdim=True)
            loss = -(toh * torch.log(p.clamp(1e-7, 1 - 1e-7))).sum(-1).mean()
        else:
            loss = ((toh - x) ** 2).mean(-1).mean()
        loss.backward()
    return run


report("sparse CE from logits (128x10) fwd+bwd", compare({"lamina": lam(scce, lab),
                                                            "torch": tor("scce")}))
report("softmax + CE on probs (128x10) fwd+bwd", compare({"lamina": lam(cce, oh, True),
                                                            "torch": tor("cce")}))
report("MSE (128x10) fwd+bwd", compare({"lamina": lam(mse, oh), "torch": tor("mse")}))
