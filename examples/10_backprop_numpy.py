"""Lab 10: backpropagation by hand in NumPy, then the same gradients from lamina's autograd.

On the 8x8 digits shipped with lamina (1,797 images, 64 pixels, 10 classes) we write out:

1. softmax and the negative log-likelihood (NLL) of the true class,
2. multinomial logistic regression: forward, the gradient of the NLL w.r.t. W and b by hand,
   trained by per-sample stochastic gradient descent,
3. a network with one hidden layer (64 -> 64 tanh -> 10): forward and backward by hand,
   trained the same way,
4. lamina computing the same gradients with ``backward()``: checked equal to ours.

    python examples/10_backprop_numpy.py            # 10 epochs per model (a few seconds)
    python examples/10_backprop_numpy.py --quick    # 2 epochs
"""
import numpy as np

from _common import is_quick, result  # also puts the repository root on sys.path

import lamina as lm
from lamina.data import load_digits, standardize, train_test_split

QUICK = is_quick()
EPOCHS = 2 if QUICK else 10
rng = np.random.default_rng(0)

# ---------------------------------------------------------------- data
X, y = load_digits(source="package")     # X (1797, 64) in [0, 16], y (1797,): the shipped copy
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.15, seed=0)
X_train, X_test = standardize(X_train, X_test)          # zero mean, unit variance per pixel
X_train, X_test = X_train.astype(np.float64), X_test.astype(np.float64)
n_classes = 10
print(f"digits: {len(X_train)} training and {len(X_test)} test images of {X.shape[1]} pixels")


def one_hot(n, c):
    """The vector of length c with a 1 at position n."""
    v = np.zeros(c)
    v[n] = 1.0
    return v


# ---------------------------------------------------------------- 1. softmax and NLL
def softmax(z):
    """softmax over the last axis; subtracting the max changes nothing mathematically but
    keeps exp() from overflowing."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def nll(y_true, p, eps=1e-12):
    """Mean negative log-probability of the true classes: ``y_true`` (n,) ints, ``p`` (n, c)."""
    p = np.atleast_2d(p)
    y_true = np.atleast_1d(y_true)
    return -np.mean(np.log(p[np.arange(len(y_true)), y_true] + eps))


print("softmax([10, 2, -1]) =", np.round(softmax(np.array([10.0, 2.0, -1.0])), 4),
      "| NLL of a confident right answer", round(nll(0, softmax(np.array([10., 2., -1.]))), 4))


def accuracy(predict, Xs, ys):
    """Fraction of ``Xs`` whose most probable class under ``predict`` is ``ys``."""
    return float(np.mean(np.argmax(predict(Xs), axis=1) == ys))


# ---------------------------------------------------------------- 2. logistic regression
class LogisticRegression:
    """p = softmax(x W + b); W (64, 10), b (10,)."""

    def __init__(self, d, c):
        self.W = rng.uniform(-0.1, 0.1, size=(d, c))
        self.b = np.zeros(c)

    def forward(self, X):
        return softmax(X @ self.W + self.b)

    def grad(self, x, t):
        """d NLL / d W and d NLL / d b for one sample ``x`` (64,) of class ``t``.

        With z = xW + b and p = softmax(z), the derivative of -log p_t w.r.t. z is the
        famous (p - onehot(t)); the chain rule through z = xW + b gives the rest."""
        dz = self.forward(x) - one_hot(t, self.W.shape[1])      # (10,)
        return {"W": np.outer(x, dz), "b": dz}

    def train(self, X, Y, lr):
        """One epoch of per-sample SGD."""
        for i in rng.permutation(len(X)):
            g = self.grad(X[i], Y[i])
            self.W -= lr * g["W"]
            self.b -= lr * g["b"]


# ---------------------------------------------------------------- 3. one hidden layer
class NeuralNet:
    """h = tanh(x W_h + b_h); p = softmax(h W_o + b_o)."""

    def __init__(self, d, hidden, c):
        # Glorot-style scale keeps tanh away from saturation at the start
        self.W_h = rng.uniform(-1, 1, size=(d, hidden)) * np.sqrt(6 / (d + hidden))
        self.b_h = np.zeros(hidden)
        self.W_o = rng.uniform(-1, 1, size=(hidden, c)) * np.sqrt(6 / (hidden + c))
        self.b_o = np.zeros(c)

    def forward_keep(self, X):
        """Forward pass keeping the intermediate values backward needs."""
        z_h = X @ self.W_h + self.b_h
        h = np.tanh(z_h)
        p = softmax(h @ self.W_o + self.b_o)
        return h, p

    def forward(self, X):
        return self.forward_keep(X)[1]

    def grad(self, x, t):
        """Backpropagation for one sample: the output error, then through W_o and tanh."""
        h, p = self.forward_keep(x)
        dz_o = p - one_hot(t, p.shape[-1])                       # d loss / d output logits
        dh = self.W_o @ dz_o                                     # back through h W_o
        dz_h = dh * (1 - h ** 2)                                 # tanh'(z) = 1 - tanh(z)^2
        return {"W_o": np.outer(h, dz_o), "b_o": dz_o,
                "W_h": np.outer(x, dz_h), "b_h": dz_h}

    def train(self, X, Y, lr):
        """One epoch of per-sample SGD."""
        for i in rng.permutation(len(X)):
            g = self.grad(X[i], Y[i])
            for k, v in g.items():
                setattr(self, k, getattr(self, k) - lr * v)


logreg = LogisticRegression(X.shape[1], n_classes)
print(f"\nlogistic regression, before training: test accuracy "
      f"{accuracy(logreg.forward, X_test, y_test):.3f}")
for epoch in range(EPOCHS):
    logreg.train(X_train, y_train, lr=0.005)
    print(f"  epoch {epoch + 1}: train NLL {nll(y_train, logreg.forward(X_train)):.4f}, "
          f"test accuracy {accuracy(logreg.forward, X_test, y_test):.3f}")
acc_logreg = accuracy(logreg.forward, X_test, y_test)

net = NeuralNet(X.shape[1], 64, n_classes)
print("\none-hidden-layer network (64 tanh units)")
for epoch in range(EPOCHS):
    net.train(X_train, y_train, lr=0.01)
    print(f"  epoch {epoch + 1}: train NLL {nll(y_train, net.forward(X_train)):.4f}, "
          f"test accuracy {accuracy(net.forward, X_test, y_test):.3f}")
acc_net = accuracy(net.forward, X_test, y_test)


# ---------------------------------------------------------------- 4. the same with autograd
def lamina_grads(params, x, t):
    """Gradients of the NLL of one sample through lamina: the forward pass is written with
    lamina ops on tensors that require grad, and ``backward()`` fills their ``.grad``."""
    p = {k: lm.tensor(v, requires_grad=True) for k, v in params.items()}   # float64 kept
    xt = lm.tensor(x[None, :])
    if "W" in p:                                                 # logistic regression
        logits = xt @ p["W"] + p["b"]
    else:
        h = lm.tanh(xt @ p["W_h"] + p["b_h"])
        logits = h @ p["W_o"] + p["b_o"]
    loss = -lm.log_softmax(logits, axis=-1)[0, int(t)]
    loss.backward()
    return {k: v.grad.numpy() for k, v in p.items()}


print("\nhand-written gradients vs lamina autograd (max absolute difference over 5 samples)")
worst = 0.0
for model, names in ((logreg, ("W", "b")), (net, ("W_h", "b_h", "W_o", "b_o"))):
    params = {k: getattr(model, k) for k in names}
    for i in range(5):
        mine = model.grad(X_test[i], y_test[i])
        auto = lamina_grads(params, X_test[i], y_test[i])
        for k in names:
            assert auto[k].dtype == np.float64 and auto[k].shape == mine[k].shape
            worst = max(worst, float(np.max(np.abs(auto[k] - mine[k]))))
    print(f"  {type(model).__name__:>18}: gradients of {', '.join(names)} agree")
print(f"  largest difference {worst:.2e}")
assert worst < 1e-10, f"hand-written and autograd gradients differ by {worst}"

print(f"\ntest accuracy: logistic regression {acc_logreg:.3f}, one-hidden-layer net "
      f"{acc_net:.3f}")
result("logreg_test_accuracy", acc_logreg)
result("mlp_test_accuracy", acc_net)
result("max_grad_difference", worst)
