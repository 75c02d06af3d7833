"""Lab 16: unsupervised domain adaptation with a gradient-reversal layer (DANN).

Source domain: the "two moons", labelled.  Target domain: the same two classes rotated by
25 degrees (the toy problem of Ganin et al., 2016), with no labels used for training.  A
classifier trained on the source alone misclassifies the tips of the rotated moons.
Domain-adversarial training adds a second head that guesses the domain from the shared
features, behind a *gradient-reversal layer*: identity on the way forward, gradient
multiplied by -lambda on the way back.  The domain head learns to tell the domains apart
while the feature extractor learns to make that impossible, i.e. features that look the
same on both domains, and the label head trained on the source then works on the target.

What it shows in lamina:
* a custom gradient: ``lamina.custom_gradient`` defines the reversal in three lines,
  wrapped in a Keras layer,
* a functional model with two heads (label logits, domain logit),
* a custom training loop (``GradientTape``) that updates a subset of the variables picked
  by name: the source-only phase leaves every ``domain_*`` variable alone,
* a control: the same source-only model trained for as long again without the domain loss.

    python examples/16_domain_adaptation.py            # 60 + 120 epochs (a few seconds)
    python examples/16_domain_adaptation.py --quick    # 40 + 80 epochs

Writes ``domain_adaptation.png``: the label head's decision regions over the plane before
(left) and after (right) adaptation, source points in blue/red, target points in
light blue/orange.

(DANN is an adversarial game and its outcome varies with the seed: with seeds 1-6 the
target accuracy went from 0.83-0.90 to 0.95-0.99, while the control stayed within 0.02
of the source-only figure; seed 0, the default, gives 0.87 -> 0.92.)
"""
import numpy as np

from _common import is_quick, out_path, result, write_png

import lamina as lm
from lamina import keras

QUICK = is_quick()
SOURCE_EPOCHS, DANN_EPOCHS = (40, 80) if QUICK else (60, 120)
ANGLE = 25.0
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)


# ---------------------------------------------------------------- the two domains
def moons(n, noise=0.1):
    """Two interleaved half circles with Gaussian noise, centred: x (n, 2), labels (n,)."""
    t = rng.uniform(0, np.pi, n)
    label = rng.integers(0, 2, n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    x = np.where(label[:, None] == 0, upper, lower) + rng.normal(0, noise, (n, 2))
    return (x - [0.5, 0.25]).astype(np.float32), label


def rotate(x, degrees):
    """Points ``x`` (n, 2) rotated counter-clockwise about the origin."""
    a = np.deg2rad(degrees)
    r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
    return x @ r.T


x_src, y_src = moons(600)
x_tgt, _ = moons(600)                        # target training inputs: labels thrown away
x_tgt = rotate(x_tgt, ANGLE)
x_src_test, y_src_test = moons(500)
x_tgt_test, y_tgt_test = moons(500)          # target labels: only to measure accuracy
x_tgt_test = rotate(x_tgt_test, ANGLE)
print(f"source: {len(x_src)} labelled points; target: {len(x_tgt)} unlabelled points "
      f"rotated by {ANGLE:.0f} degrees")


# ---------------------------------------------------------------- gradient reversal
def reverse_gradient(x, lam):
    """Identity forward; multiplies the incoming gradient by -lam backward."""
    @lm.custom_gradient
    def _reverse(x):
        return x, lambda g: -lam * g
    return _reverse(x)


class GradientReversal(keras.layers.Layer):
    """A layer applying :func:`reverse_gradient`; ``lam`` may be changed between steps."""

    def __init__(self, lam=1.0, **kwargs):
        super().__init__(**kwargs)
        self.lam = lam

    def call(self, x):
        return reverse_gradient(x, self.lam)


# sanity check of the custom gradient: d/dx sum(grl(x) * 3) = -lam * 3
probe = lm.tensor(np.ones(4, np.float32), requires_grad=True)
(reverse_gradient(probe, 0.5) * 3.0).sum().backward()
assert np.allclose(probe.grad.numpy(), -1.5), probe.grad
print("gradient reversal: forward identity, backward -0.5 * 3 =", probe.grad.numpy()[0])

# ---------------------------------------------------------------- the two-headed model
L = keras.layers


def build_model():
    """features (2 -> 32 -> 32, relu) shared by a label head (2 logits) and, behind the
    reversal layer, a domain head (32 relu -> 1 logit).  Returns (model, reversal layer)."""
    inp = keras.Input(shape=(2,))
    h = L.Dense(32, activation="relu", name="feat_1")(inp)
    features = L.Dense(32, activation="relu", name="feat_2")(h)
    label_logits = L.Dense(2, name="label_out")(features)
    grl = GradientReversal(name="grl")
    d = L.Dense(32, activation="relu", name="domain_1")(grl(features))
    domain_logit = L.Dense(1, name="domain_out")(d)
    return keras.Model(inp, [label_logits, domain_logit], name="dann"), grl


model, grl = build_model()
model.summary()

ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
bce = keras.losses.BinaryCrossentropy(from_logits=True)


def accuracy(model, x, labels):
    """Fraction of points ``x`` whose label-head prediction equals ``labels``."""
    logits, _ = model.predict(x, batch_size=1000, verbose=0)
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def domain_accuracy(model):
    """How well the domain head tells source (0) from target (1) on the test points."""
    _, ds = model.predict(x_src_test, batch_size=1000, verbose=0)
    _, dt = model.predict(x_tgt_test, batch_size=1000, verbose=0)
    return float(np.mean(np.concatenate([ds[:, 0] < 0, dt[:, 0] > 0])))


def train(model, grl, epochs, variables, adapt, batch=32):
    """Minibatch Adam on ``variables`` only.  With ``adapt`` each step adds the domain loss
    on a source batch and a target batch, whose reversed gradient reaches the features."""
    opt = keras.optimizers.Adam(1e-3)
    steps = len(x_src) // batch
    dom_true = np.concatenate([np.zeros((batch, 1)), np.ones((batch, 1))]).astype(np.float32)
    for epoch in range(epochs):
        perm_s = rng.permutation(len(x_src))
        perm_t = rng.permutation(len(x_tgt))
        if adapt:
            # lambda ramps from 0 to 1 (the DANN paper's schedule) so the domain head is
            # sensible before its reversed gradient starts to shape the features
            p = epoch / max(1, epochs - 1)
            grl.lam = 2.0 / (1.0 + np.exp(-10 * p)) - 1.0
        for s in range(steps):
            sl = slice(s * batch, (s + 1) * batch)
            xs, ys = x_src[perm_s[sl]], y_src[perm_s[sl]]
            with lm.GradientTape() as tape:
                logits, dom_s = model(xs, training=True)
                loss = ce(ys, logits)
                if adapt:
                    _, dom_t = model(x_tgt[perm_t[sl]], training=True)
                    loss = loss + bce(dom_true, lm.concatenate([dom_s, dom_t], axis=0))
            grads = tape.gradient(loss, variables)
            opt.apply_gradients(zip(grads, variables))
        if (epoch + 1) % (epochs // 4) == 0:
            print(f"  epoch {epoch + 1:3d}: loss {loss.item():.3f}  source acc "
                  f"{accuracy(model, x_src_test, y_src_test):.3f}  target acc "
                  f"{accuracy(model, x_tgt_test, y_tgt_test):.3f}"
                  + (f"  lambda {grl.lam:.2f}" if adapt else ""))


def by_name(model, prefix, keep):
    """The trainable variables whose path starts (keep=True) or not with ``prefix``."""
    return [v for v in model.trainable_variables if v.path.startswith(prefix) == keep]


# ---------------------------------------------------------------- 1. source only
# The subset is picked by name: everything except the domain head.
source_vars = by_name(model, "domain_", keep=False)
domain_vars = by_name(model, "domain_", keep=True)
print(f"\nsource-only training of {len(source_vars)} variables "
      f"({', '.join(v.path for v in source_vars[:3])}, ...); the {len(domain_vars)} "
      f"domain_* variables stay frozen")
frozen = [v.numpy().copy() for v in domain_vars]
train(model, grl, SOURCE_EPOCHS, source_vars, adapt=False)
assert all(np.array_equal(a, v.numpy()) for a, v in zip(frozen, domain_vars))
src_before = accuracy(model, x_src_test, y_src_test)
tgt_before = accuracy(model, x_tgt_test, y_tgt_test)
# the control starts from the same weights and trains as long again, without the domain loss
control, control_grl = build_model()
control.set_weights(model.get_weights())
weights_before = model.get_weights()

# ---------------------------------------------------------------- 2. adaptation
print(f"\ndomain-adversarial training of all {len(model.trainable_variables)} variables")
train(model, grl, DANN_EPOCHS, list(model.trainable_variables), adapt=True)
src_after = accuracy(model, x_src_test, y_src_test)
tgt_after = accuracy(model, x_tgt_test, y_tgt_test)
dom_acc = domain_accuracy(model)

print("\ncontrol: source-only training continued for as long")
train(control, control_grl, DANN_EPOCHS, by_name(control, "domain_", keep=False), adapt=False)
tgt_control = accuracy(control, x_tgt_test, y_tgt_test)

print(f"\n{'':24}{'source acc':>12}{'target acc':>12}")
print(f"{'source only':24}{src_before:12.3f}{tgt_before:12.3f}")
print(f"{'source only, continued':24}{accuracy(control, x_src_test, y_src_test):12.3f}"
      f"{tgt_control:12.3f}")
print(f"{'after DANN':24}{src_after:12.3f}{tgt_after:12.3f}")
print(f"domain head accuracy after adaptation: {dom_acc:.3f} (0.5 = domains indistinguishable)")


# ---------------------------------------------------------------- picture
def decision_map(weights, size=200, lim=2.0):
    """An RGB image of the label head's decision regions with the test points on top."""
    model.set_weights(weights)
    g = np.linspace(-lim, lim, size, dtype=np.float32)
    xx, yy = np.meshgrid(g, g[::-1])
    logits, _ = model.predict(np.stack([xx.ravel(), yy.ravel()], 1), batch_size=8192,
                              verbose=0)
    cls = np.argmax(logits, axis=1).reshape(size, size)
    img = np.where(cls[..., None] == 0, [0.85, 0.88, 1.0], [1.0, 0.88, 0.85])
    for pts, labels, colors in ((x_src_test, y_src_test, ([0, 0, 0.8], [0.8, 0, 0])),
                                (x_tgt_test, y_tgt_test, ([0.3, 0.7, 1.0], [1.0, 0.6, 0.0]))):
        cols = np.clip(((pts[:, 0] + lim) / (2 * lim) * (size - 1)).round().astype(int), 0,
                       size - 2)
        rows = np.clip(((lim - pts[:, 1]) / (2 * lim) * (size - 1)).round().astype(int), 0,
                       size - 2)
        for r, c, lab in zip(rows, cols, labels):
            img[r:r + 2, c:c + 2] = colors[lab]
    return img


weights_after = model.get_weights()
panel = np.concatenate([decision_map(weights_before), np.ones((200, 6, 3)),
                        decision_map(weights_after)], axis=1)
model.set_weights(weights_after)
write_png(out_path("domain_adaptation.png"), panel)
print(f"wrote {out_path('domain_adaptation.png')} (left: source only, right: after DANN)")

result("source_acc_before", src_before)
result("target_acc_before", tgt_before)
result("target_acc_control", tgt_control)
result("source_acc_after", src_after)
result("target_acc_after", tgt_after)
result("domain_acc", dom_acc)
