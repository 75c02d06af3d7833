"""Training throughput of sequence models, lamina vs PyTorch eager, in one process.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_sequence.py \
        [--quick] [--threads N] [--clock cpu] [--only NAME ...]

Workloads (one training step = forward, backward, plain SGD update):
  (a) LSTM text classifier: vocab 10,000, embedding 64, LSTM 128 over length 80, batch 32
  (b) dot-product recommender: 10,000 users, 5,000 items, dim 32, batch 1,024, MSE
  (c) Transformer encoder: seq 64, d_model 128, 4 heads, 2 post-norm layers, FFN 512,
      ReLU, batch 32, mean-pooled classifier
lamina runs its functional ops (the fused lstm, the packed multi-head qkv_attention and
layer-norm (normalize_affine) ops) with lamina's SGD optimizer (and (a) once more through
lamina.keras: Sequential, train_on_batch);
PyTorch runs the same model with torch.nn modules and torch.optim.SGD.  The cases
alternate (A B A B), medians are reported with the ratio lamina / torch (< 1: lamina is
faster).  One JSON line per workload.

``--threads N`` gives both libraries N threads (torch.set_num_threads and, through
threadpoolctl, NumPy's BLAS; lamina's own workers, which split its large MKL products).  On a machine shared with other jobs, OpenBLAS's
multithreaded small GEMMs (the RNN's per-step products) can be 10-100x slower than
single-threaded ones, so compare at --threads 1 as well.  ``--clock cpu`` times this
process's CPU time instead of wall time (steadier on a busy machine, with one thread);
``--only`` runs only the workloads named (full names, or a, a_keras, b, c).

Both libraries share one process, so they share its allocator: lamina's fused LSTM keeps
its large arrays in a pool between steps (lamina.ops.workspace), memory that PyTorch's
allocations then cannot reuse, while lamina in turn runs on a heap that PyTorch keeps
large.  Either can shift page-fault costs by ~1 ms per (a) step, so compare lamina's own
times across versions too, and a lamina-only process where that matters.
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lamina as lm  # noqa: E402
from lamina import keras  # noqa: E402
from lamina.nn import functional as F  # noqa: E402
from lamina.ops.attention import qkv_attention  # noqa: E402
from lamina.ops.recurrent import lstm  # noqa: E402
from lamina.nn.layers.normalization import normalize_affine  # noqa: E402
from common import compare, emit, ratio, same_threads  # noqa: E402

LR = 0.01


def _param(rng, shape, scale=0.05):
    return lm.tensor((rng.standard_normal(shape) * scale).astype(np.float32), requires_grad=True)


def _sgd(params):
    """A plain SGD step (p -= LR * grad) through lamina's own optimizer, as the PyTorch side
    runs torch.optim.SGD: the library's update against the library's update (lamina's works
    through large weights in cache-sized blocks, in place)."""
    opt = keras.optimizers.SGD(LR)

    def step():
        opt.apply([p.grad for p in params], params)
        for p in params:
            p.grad = None
    return step


# ------------------------------------------------------------- (a) LSTM text
def lstm_case(torch, rng):
    V, E, H, T, B = 10_000, 64, 128, 80, 32
    ids = rng.integers(1, V, size=(B, T))
    y = rng.integers(0, 2, size=(B, 1)).astype(np.float32)
    emb, k, u = _param(rng, (V, E)), _param(rng, (E, 4 * H)), _param(rng, (H, 4 * H))
    b, w, wb = _param(rng, (4 * H,)), _param(rng, (H, 1)), _param(rng, (1,))
    params = [emb, k, u, b, w, wb]
    update = _sgd(params)

    def lamina_step():
        x = lm.embedding(ids, emb)
        _, h, _ = lstm(x, None, None, k, u, b, return_sequences=False)
        loss = F.binary_cross_entropy_with_logits(F.linear(h, w, wb), y)
        loss.backward()
        update()

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(V, E)
            self.lstm = torch.nn.LSTM(E, H, batch_first=True)
            self.out = torch.nn.Linear(H, 1)

        def forward(self, x):
            _, (h, _) = self.lstm(self.emb(x))
            return self.out(h[0])
    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    tids, ty = torch.tensor(ids), torch.tensor(y)
    bce = torch.nn.BCEWithLogitsLoss()

    def torch_step():
        opt.zero_grad(set_to_none=True)
        bce(net(tids), ty).backward()
        opt.step()
    return lamina_step, torch_step


def lstm_keras_case(torch, rng):
    """(a) again, through lamina's Keras API (Sequential + train_on_batch, SGD)."""
    from lamina import keras
    V, E, H, T, B = 10_000, 64, 128, 80, 32
    ids = rng.integers(1, V, size=(B, T))
    y = rng.integers(0, 2, size=(B, 1)).astype(np.float32)
    model = keras.Sequential([keras.layers.Embedding(V, E), keras.layers.LSTM(H),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(LR),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))

    def lamina_step():
        model.train_on_batch(ids, y)
    _, torch_step = lstm_case(torch, np.random.default_rng(0))
    return lamina_step, torch_step


# ------------------------------------------------------- (b) recommender
def recsys_case(torch, rng):
    U, I, D, B = 10_000, 5_000, 32, 1024
    users = rng.integers(0, U, size=B)
    items = rng.integers(0, I, size=B)
    r = rng.uniform(1, 5, size=B).astype(np.float32)
    ue, ie = _param(rng, (U, D)), _param(rng, (I, D))
    params = [ue, ie]
    update = _sgd(params)
    rt = lm.tensor(r)

    def lamina_step():
        pred = (lm.embedding(users, ue) * lm.embedding(items, ie)).sum(axis=-1)
        loss = ((pred - rt) ** 2).mean()
        loss.backward()
        update()

    tue, tie = torch.nn.Embedding(U, D), torch.nn.Embedding(I, D)
    opt = torch.optim.SGD(list(tue.parameters()) + list(tie.parameters()), lr=LR)
    tu, ti, tr = torch.tensor(users), torch.tensor(items), torch.tensor(r)

    def torch_step():
        opt.zero_grad(set_to_none=True)
        pred = (tue(tu) * tie(ti)).sum(-1)
        ((pred - tr) ** 2).mean().backward()
        opt.step()
    return lamina_step, torch_step


# ------------------------------------------------------- (c) Transformer
def _layer_norm(x, g, b, eps=1e-5):
    """Layer norm over the last axis with lamina's fused op (what keras.layers.
    LayerNormalization runs), as PyTorch's encoder layer uses its fused LayerNorm."""
    return normalize_affine(x, g, b, (x.ndim - 1,), eps)[0]


def transformer_case(torch, rng):
    V, T, D, NH, L, FF, B, C = 10_000, 64, 128, 4, 2, 512, 32, 4
    ids = rng.integers(0, V, size=(B, T))
    y = rng.integers(0, C, size=B)
    emb, pos = _param(rng, (V, D)), _param(rng, (T, D))
    layers = []
    for _ in range(L):
        layers.append(dict(wqkv=_param(rng, (D, 3 * D)), bqkv=_param(rng, (3 * D,)),
                           wo=_param(rng, (D, D)), bo=_param(rng, (D,)),
                           w1=_param(rng, (D, FF)), b1=_param(rng, (FF,)),
                           w2=_param(rng, (FF, D)), b2=_param(rng, (D,)),
                           g1=lm.tensor(np.ones(D, np.float32), requires_grad=True),
                           n1=_param(rng, (D,)),
                           g2=lm.tensor(np.ones(D, np.float32), requires_grad=True),
                           n2=_param(rng, (D,))))
    wc, bc = _param(rng, (D, C)), _param(rng, (C,))
    params = [emb, pos, wc, bc] + [p for lay in layers for p in lay.values()]
    update = _sgd(params)

    def block(x, p):
        # one packed projection to (B, T, 3D), as PyTorch's in_proj; the fused op splits the
        # heads with views and merges them back (scaled_dot_product_attention on split,
        # permuted q, k, v computes the same)
        a = qkv_attention(F.linear(x, p["wqkv"], p["bqkv"]), NH)
        x = _layer_norm(x + F.linear(a, p["wo"], p["bo"]), p["g1"], p["n1"])
        # the ReLU fused into the first linear (one node, as Keras's Dense(activation="relu"))
        f = F.linear(F.linear(x, p["w1"], p["b1"], activation="relu"), p["w2"], p["b2"])
        return _layer_norm(x + f, p["g2"], p["n2"])

    def lamina_step():
        x = lm.embedding(ids, emb) + pos
        for p in layers:
            x = block(x, p)
        loss = F.cross_entropy(F.linear(x.mean(axis=1), wc, bc), y)
        loss.backward()
        update()

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(V, D)
            self.pos = torch.nn.Parameter(torch.zeros(T, D))
            layer = torch.nn.TransformerEncoderLayer(D, NH, FF, dropout=0.0, batch_first=True)
            self.enc = torch.nn.TransformerEncoder(layer, L, enable_nested_tensor=False)
            self.out = torch.nn.Linear(D, C)

        def forward(self, x):
            return self.out(self.enc(self.emb(x) + self.pos).mean(1))
    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    tids, ty = torch.tensor(ids), torch.tensor(y)
    ce = torch.nn.CrossEntropyLoss()

    def torch_step():
        opt.zero_grad(set_to_none=True)
        ce(net(tids), ty).backward()
        opt.step()
    return lamina_step, torch_step


def main():
    import torch
    quick = "--quick" in sys.argv
    rounds = 3 if quick else 9
    if "--threads" in sys.argv:
        same_threads(int(sys.argv[sys.argv.index("--threads") + 1]), torch)
    clock = sys.argv[sys.argv.index("--clock") + 1] if "--clock" in sys.argv else "wall"
    only = []
    if "--only" in sys.argv:
        only = [a for a in sys.argv[sys.argv.index("--only") + 1:] if not a.startswith("--")]
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, numpy "
          f"{np.__version__}; rounds={rounds}, clock={clock}", flush=True)
    for short, name, make in (("a", "lstm_text_classifier", lstm_case),
                              ("a_keras", "lstm_text_classifier_keras_api", lstm_keras_case),
                              ("b", "embedding_recommender", recsys_case),
                              ("c", "transformer_encoder", transformer_case)):
        if only and short not in only and name not in only:
            continue
        rng = np.random.default_rng(0)
        torch.manual_seed(0)
        la, to = make(torch, rng)
        t = compare({"lamina": la, "torch": to}, rounds=rounds, number=None, warmup=2,
                    clock=clock)
        emit({"workload": name, "clock": clock, "lamina_ms": round(t["lamina"] * 1e3, 3),
              "torch_ms": round(t["torch"] * 1e3, 3), "ratio": ratio(t["lamina"], t["torch"])})


if __name__ == "__main__":
    main()
