"""Lab 12: the loss landscape of a two-parameter ReLU network and the path SGD takes on it.

The network is as small as it gets, ``f(x) = w2 * relu(w1 * x)``, fitted to noisy points of
``y = 1.5 * relu(x)``.  With only two parameters we can evaluate the mean squared error on a
whole grid of (w1, w2), draw it, and lay the SGD iterates over it.  The picture shows what
the formula hides: for w1 > 0 only the product w1 * w2 matters, so the minimum is not a
point but a valley along the hyperbola w1 * w2 = 1.5; for w1 < 0 the unit sees only x < 0
and the loss is a different bowl; the axis w1 = 0 is a ridge where the ReLU is dead.

    python examples/12_loss_landscape.py            # 300 SGD steps
    python examples/12_loss_landscape.py --quick    # 100 steps

Writes ``loss_landscape.png`` (heat map + path, always) and ``loss_landscape_contour.png``
(matplotlib contour plot, when matplotlib is installed) to examples/out/.
"""
import numpy as np

from _common import is_quick, out_path, pyplot, result, savefig, write_png

import lamina as lm

QUICK = is_quick()
STEPS = 100 if QUICK else 300
NOISE = 0.1

# ---------------------------------------------------------------- data and model
lm.random.seed(0)
x = lm.rand(200) * 4 - 2                                   # (200,) uniform in [-2, 2]
y = 1.5 * lm.relu(x) + NOISE * lm.randn(200)               # (200,)


def loss_fn(w1, w2, xb, yb):
    """Mean squared error of f(x) = w2 * relu(w1 * x); w1, w2 broadcast against the data,
    so a grid of parameters gives a grid of losses."""
    return lm.mean((w2 * lm.relu(w1 * xb) - yb) ** 2, axis=-1)


# ---------------------------------------------------------------- the surface on a grid
G = 121
w1_axis = np.linspace(-2.5, 2.5, G, dtype=np.float32)
w2_axis = np.linspace(-2.5, 2.5, G, dtype=np.float32)
W1, W2 = np.meshgrid(w1_axis, w2_axis)                     # (G, G): rows follow w2
with lm.no_grad():                                         # a plain evaluation, no graph
    surface = loss_fn(lm.tensor(W1[..., None]), lm.tensor(W2[..., None]), x, y).numpy()
i, j = np.unravel_index(np.argmin(surface), surface.shape)
print(f"grid {G}x{G}: loss from {surface.min():.4f} (at w1={W1[i, j]:.2f}, "
      f"w2={W2[i, j]:.2f}) to {surface.max():.2f}")
print(f"loss on the dead-ReLU ridge w1=0: {loss_fn(0.0, 1.0, x, y).item():.4f}")

# ---------------------------------------------------------------- SGD, step by step
def sgd(start, lr=0.05, batch=20):
    """Minibatch SGD from ``start`` = (w1, w2); returns the iterates (STEPS+1, 2) and the
    full-data loss after each step."""
    w1 = lm.tensor(start[0], requires_grad=True)
    w2 = lm.tensor(start[1], requires_grad=True)
    path = [(w1.item(), w2.item())]
    losses = [loss_fn(w1, w2, x, y).item()]
    for step in range(STEPS):
        idx = lm.randint(0, 200, (batch,))                 # a random minibatch
        loss = loss_fn(w1, w2, x[idx], y[idx])
        loss.backward()
        with lm.no_grad():                                 # the update is not part of the model
            w1 -= lr * w1.grad
            w2 -= lr * w2.grad
        w1.grad = None
        w2.grad = None
        path.append((w1.item(), w2.item()))
        losses.append(loss_fn(w1, w2, x, y).item())
        if step % 50 == 0 or step == STEPS - 1:
            print(f"  step {step:4d}: w1={w1.item():+.3f} w2={w2.item():+.3f} "
                  f"full-data loss {losses[-1]:.4f}")
    print(f"  w1 * w2 = {w1.item() * w2.item():.3f} (the valley: 1.5)")
    return np.array(path), losses


# Two starts: from (2, -1) SGD turns w2 positive before w1 reaches 0 and slides into the
# valley; from (0.3, -1.8) it pushes w1 through 0 first and the ReLU dies (zero gradient).
print("SGD from (2.0, -1.0):")
path, losses = sgd((2.0, -1.0))
print("SGD from (0.3, -1.8):")
dead_path, dead_losses = sgd((0.3, -1.8))


# ---------------------------------------------------------------- pictures
def colormap(v):
    """Map values in [0, 1] to RGB along dark blue -> teal -> yellow (a viridis-like ramp)."""
    anchors = np.array([[0.27, 0.00, 0.33], [0.23, 0.32, 0.55], [0.13, 0.57, 0.55],
                        [0.37, 0.79, 0.38], [0.99, 0.91, 0.14]])
    t = np.clip(v, 0, 1) * (len(anchors) - 1)
    k = np.minimum(t.astype(int), len(anchors) - 2)
    f = (t - k)[..., None]
    return anchors[k] * (1 - f) + anchors[k + 1] * f


# heat map of log-loss, w2 increasing upwards, with the SGD path in white/red
S = 4                                                      # pixels per grid cell
logl = np.log(surface)
img = colormap((logl - logl.min()) / (logl.max() - logl.min()))[::-1]
img = img.repeat(S, axis=0).repeat(S, axis=1)


def to_pixel(a, b):
    """(row, column) of the heat-map pixel at parameters w1=a, w2=b."""
    col = (a - w1_axis[0]) / (w1_axis[-1] - w1_axis[0]) * (G * S - 1)
    row = (1 - (b - w2_axis[0]) / (w2_axis[-1] - w2_axis[0])) * (G * S - 1)
    return int(round(row)), int(round(col))


for pts, line in ((path, (1.0, 1.0, 1.0)), (dead_path, (0.6, 0.6, 0.6))):
    for (a0, b0), (a1, b1) in zip(pts[:-1], pts[1:]):
        for t in np.linspace(0, 1, 8):                     # a dotted line between iterates
            r, c = to_pixel(a0 + t * (a1 - a0), b0 + t * (b1 - b0))
            img[max(r - 1, 0):r + 1, max(c - 1, 0):c + 1] = line
    for (a, b), color in ((pts[0], (1.0, 0.1, 0.1)), (pts[-1], (1.0, 0.5, 0.0))):
        r, c = to_pixel(a, b)
        img[max(r - 4, 0):r + 4, max(c - 4, 0):c + 4] = color  # start red, end orange
write_png(out_path("loss_landscape.png"), img)
print(f"wrote {out_path('loss_landscape.png')} (log-loss heat map; w1 across, w2 up)")

plt = pyplot()
if plt is not None:
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
    cs = ax.contourf(W1, W2, logl, levels=30, cmap="viridis")
    fig.colorbar(cs, ax=ax, label="log MSE")
    ax.plot(path[:, 0], path[:, 1], "w.-", ms=3, lw=0.8, label="SGD from (2, -1)")
    ax.plot(dead_path[:, 0], dead_path[:, 1], ".-", color="0.6", ms=3, lw=0.8,
            label="SGD from (0.3, -1.8): dead ReLU")
    ax.plot([path[0, 0], dead_path[0, 0]], [path[0, 1], dead_path[0, 1]], "ro", label="starts")
    h1 = np.linspace(0.6, 2.5, 50)
    ax.plot(h1, 1.5 / h1, "r--", lw=0.8, label="w1*w2 = 1.5")
    ax.set_xlabel("w1")
    ax.set_ylabel("w2")
    ax.set_ylim(-2.5, 2.5)
    ax.legend(loc="upper left", fontsize=7, framealpha=0.6)
    ax.set_title("loss landscape of w2 * relu(w1 x)")
    ax2.semilogy(losses, label="from (2, -1)")
    ax2.semilogy(dead_losses, label="from (0.3, -1.8)")
    ax2.set_xlabel("SGD step")
    ax2.set_ylabel("full-data MSE")
    ax2.axhline(NOISE ** 2, color="gray", ls=":", label="noise floor")
    ax2.legend()
    fig.tight_layout()
    savefig(fig, "loss_landscape_contour.png")

result("initial_loss", losses[0])
result("final_loss", losses[-1])
result("grid_min_loss", surface.min())
result("dead_relu_final_loss", dead_losses[-1])
