"""Lab 17: the digits classifier written in the PyTorch style, with lamina tensors.

No Keras here: tensors with ``requires_grad``, a forward pass that records the graph,
``loss.backward()`` filling ``.grad``, updates under ``no_grad()``, and everything a
framework usually provides written out in a few lines each:

* ``Module``: a base class that finds its parameters (and those of sub-modules) by looking
  at its attributes, with ``train()`` / ``eval()`` modes,
* ``Linear`` and an ``MLP`` with dropout built from it,
* ``SGDMomentum``: the heavy-ball update ``v = mu * v + g; w -= lr * v``,
* a cosine learning-rate schedule with linear warm-up,
* a minibatch loader and the usual train / evaluate loops.

    python examples/17_pytorch_style.py            # 30 epochs (a few seconds)
    python examples/17_pytorch_style.py --quick    # 5 epochs
"""
import math

import numpy as np

from _common import is_quick, result

import lamina as lm
import lamina.nn.functional as F
from lamina.data import load_digits, standardize, train_test_split

QUICK = is_quick()
EPOCHS = 5 if QUICK else 30
lm.random.seed(0)                     # weights and dropout masks
shuffle_rng = np.random.default_rng(0)  # the order of the minibatches


# ---------------------------------------------------------------- modules
class Parameter(lm.Tensor):
    """A tensor that a Module registers as trainable (requires_grad is set)."""

    def __init__(self, data):
        super().__init__(data, requires_grad=True)


class Module:
    """Base class: ``parameters()`` walks the attributes for Parameters and sub-Modules;
    ``__call__`` runs ``forward``."""

    training = True

    def parameters(self):
        """Every Parameter of this module and its sub-modules."""
        for value in vars(self).values():
            if isinstance(value, Parameter):
                yield value
            elif isinstance(value, Module):
                yield from value.parameters()

    def modules(self):
        """This module and all its sub-modules."""
        yield self
        for value in vars(self).values():
            if isinstance(value, Module):
                yield from value.modules()

    def train(self, mode=True):
        """Switch training behaviour (dropout) on or off, recursively."""
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, *args):
        return self.forward(*args)


class Linear(Module):
    """y = x W + b with W (in, out) initialized uniformly in +-sqrt(1/in) (PyTorch's default
    scale): (N, in) -> (N, out)."""

    def __init__(self, n_in, n_out):
        bound = 1 / math.sqrt(n_in)
        self.weight = Parameter(lm.rand(n_in, n_out) * (2 * bound) - bound)
        self.bias = Parameter(lm.zeros(n_out))

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class MLP(Module):
    """64 -> 128 relu -> dropout -> 64 relu -> 10 logits."""

    def __init__(self, n_in=64, hidden=(128, 64), n_out=10, p_drop=0.2):
        self.fc1 = Linear(n_in, hidden[0])
        self.fc2 = Linear(hidden[0], hidden[1])
        self.out = Linear(hidden[1], n_out)
        self.p_drop = p_drop

    def forward(self, x):
        h = F.relu(self.fc1(x))
        h = F.dropout(h, self.p_drop, training=self.training)   # only active in train()
        h = F.relu(self.fc2(h))
        return self.out(h)


# ---------------------------------------------------------------- optimizer and schedule
class SGDMomentum:
    """Heavy-ball SGD, as torch.optim.SGD(momentum=mu): v <- mu v + g;  w <- w - lr v."""

    def __init__(self, params, lr=0.1, momentum=0.9, weight_decay=0.0):
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.velocity = [lm.zeros_like(p) for p in self.params]

    def zero_grad(self):
        """Forget the gradients of the previous step."""
        for p in self.params:
            p.grad = None

    def step(self):
        """One update of every parameter that has a gradient."""
        with lm.no_grad():                     # updates must not be recorded in any graph
            for p, v in zip(self.params, self.velocity):
                if p.grad is None:
                    continue
                g = p.grad + self.weight_decay * p if self.weight_decay else p.grad
                v *= self.momentum
                v += g
                p -= self.lr * v


def cosine_lr(step, total, base_lr, warmup=0, min_lr=0.0):
    """Linear warm-up for ``warmup`` steps, then a half cosine from base_lr to min_lr."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * min(t, 1.0)))


def batches(X, y, batch_size, shuffle=True):
    """Yield (x, y) minibatches as tensors, in a new random order each call."""
    idx = shuffle_rng.permutation(len(X)) if shuffle else np.arange(len(X))
    for s in range(0, len(X), batch_size):
        j = idx[s:s + batch_size]
        yield lm.tensor(X[j]), lm.tensor(y[j])


# ---------------------------------------------------------------- data
X, y = load_digits(source="package")  # the shipped copy: no scikit-learn import
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.15, seed=0)
X_train, X_test = standardize(X_train, X_test)
print(f"digits: {len(X_train)} training and {len(X_test)} test images")

# ---------------------------------------------------------------- training
model = MLP()
n_params = sum(p.size for p in model.parameters())
print(f"MLP with {n_params:,} parameters in {len(list(model.parameters()))} tensors")
opt = SGDMomentum(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
batch_size = 32
steps_per_epoch = math.ceil(len(X_train) / batch_size)
total_steps = EPOCHS * steps_per_epoch


def evaluate(model, X, y):
    """(mean loss, accuracy) in eval mode without recording a graph."""
    model.eval()
    with lm.no_grad():
        logits = model(lm.tensor(X))
        loss = F.cross_entropy(logits, lm.tensor(y)).item()
        acc = (lm.argmax(logits, axis=1).numpy() == y).mean()
    return loss, float(acc)


step = 0
for epoch in range(EPOCHS):
    model.train()
    running = 0.0
    for xb, yb in batches(X_train, y_train, batch_size):
        opt.lr = cosine_lr(step, total_steps, base_lr=0.05, warmup=steps_per_epoch)
        loss = F.cross_entropy(model(xb), yb)          # records the graph
        opt.zero_grad()
        loss.backward()                                # fills p.grad for every parameter
        opt.step()
        running += loss.item() * len(yb)               # .item(): keep a float, not the graph
        step += 1
    if epoch % max(1, EPOCHS // 6) == 0 or epoch == EPOCHS - 1:
        test_loss, test_acc = evaluate(model, X_test, y_test)
        print(f"epoch {epoch + 1:3d}  lr {opt.lr:.4f}  train loss {running / len(X_train):.4f}"
              f"  test loss {test_loss:.4f}  test accuracy {test_acc:.3f}")

train_loss, train_acc = evaluate(model, X_train, y_train)
test_loss, test_acc = evaluate(model, X_test, y_test)
print(f"final: train accuracy {train_acc:.3f}, test accuracy {test_acc:.3f}")

# ---------------------------------------------------------------- a look at the gradients
# One backward pass on a batch, then the gradient norm of each parameter tensor.
model.train()
opt.zero_grad()
xb, yb = next(batches(X_train, y_train, 128))
F.cross_entropy(model(xb), yb).backward()
for name, p in (("fc1.weight", model.fc1.weight), ("fc2.weight", model.fc2.weight),
                ("out.weight", model.out.weight)):
    print(f"  |grad {name}| = {lm.norm(p.grad).item():.4f}")

result("test_accuracy", test_acc)
result("train_accuracy", train_acc)
