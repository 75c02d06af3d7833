"""Lab 14: variational autoencoders, an MLP one and a convolutional one (Conv2DTranspose).

A VAE encodes an image x into a Gaussian q(z|x) = N(mean, exp(log_var)) over a latent
space (2-d for the MLP, so it can be drawn; 8-d for the convolutional one), samples z from
it with the *reparameterization trick* (z = mean + sigma * eps, so the sample is a
differentiable function of mean and sigma), and decodes z back to pixel probabilities.
The loss is the reconstruction error (binary cross-entropy summed over the pixels) plus
the KL divergence of q(z|x) from the prior N(0, I); the sampling layer adds the KL term
with ``add_loss``, so ``fit(x, x)`` trains the whole thing.

Data: Fashion-MNIST when its files are in lamina's cache (full mode only; no download is
attempted), else generated 28x28 images: the shipped 8x8 digits enlarged to 24x24 at a
random place in the frame, with random contrast.

    python examples/14_vae.py            # about a minute
    python examples/14_vae.py --quick    # a few seconds

Writes ``vae_latent.png`` (test images' latent means, coloured by class), ``vae_manifold.png``
(images decoded from a grid of latent points) and ``vae_conv_samples.png`` (the
convolutional VAE's decodings of random latent draws).
"""
import numpy as np

from _common import is_quick, out_path, result, save_grid, write_png

from lamina import keras
from lamina.data import load_digits

QUICK = is_quick()
N_TRAIN, N_TEST = (1600, 400) if QUICK else (8000, 1000)
MLP_EPOCHS, CONV_EPOCHS = (5, 4) if QUICK else (20, 10)
LATENT, CONV_LATENT = 2, 8        # 2-d for the MLP VAE, so its latent space can be drawn
keras.utils.set_random_seed(0)
L, ops = keras.layers, keras.ops

# ---------------------------------------------------------------- data
def generated_digits(n, seed):
    """28x28 images in [0, 1]: the shipped 8x8 digits enlarged to 24x24 (bilinear) at a
    random offset of 1-3 pixels, with random contrast.  Returns (n, 28, 28), labels."""
    X, y = load_digits(source="package")
    r = np.random.default_rng(seed)
    pick = r.integers(0, len(X), n)
    # a (24, 8) linear-interpolation matrix m: big = m @ small @ m.T
    pos = (np.arange(24) + 0.5) / 3 - 0.5
    lo = np.clip(np.floor(pos).astype(int), 0, 7)
    hi = np.minimum(lo + 1, 7)
    f = np.clip(pos - lo, 0, 1)
    m = np.zeros((24, 8), np.float32)
    m[np.arange(24), lo] += 1 - f
    m[np.arange(24), hi] += f
    big = np.einsum("ih,nhw,jw->nij", m, X[pick].reshape(-1, 8, 8) / 16.0, m)
    out = np.zeros((n, 28, 28), np.float32)
    dr, dc = r.integers(1, 4, (2, n))
    contrast = r.uniform(0.8, 1.0, n)
    for k in range(n):
        out[k, dr[k]:dr[k] + 24, dc[k]:dc[k] + 24] = np.clip(big[k], 0, 1) * contrast[k]
    return out, y[pick]


name = "generated digits"
if not QUICK:
    try:
        from lamina.data.vision import fashion_mnist
        (xtr, ytr), (xte, yte) = fashion_mnist.load_data(download=False)
        xtr, xte = xtr / 255.0, xte / 255.0
        name = "Fashion-MNIST"
    except (FileNotFoundError, OSError, ValueError):
        pass
if name == "generated digits":
    xtr, ytr = generated_digits(N_TRAIN, seed=0)
    xte, yte = generated_digits(N_TEST, seed=1)
x_train = xtr[:N_TRAIN, :, :, None].astype(np.float32)                 # (n, 28, 28, 1)
x_test = xte[:N_TEST, :, :, None].astype(np.float32)
y_test = yte[:N_TEST]
print(f"data: {name}, {len(x_train)} training and {len(x_test)} test images")
save_grid("vae_data.png", x_test[:16], ncols=16, normalize=False)


# ---------------------------------------------------------------- the sampling layer
class Sampling(keras.layers.Layer):
    """(mean, log_var) -> z = mean + exp(log_var / 2) * eps, eps ~ N(0, I); adds the KL
    divergence KL(N(mean, var) || N(0, I)), averaged over the batch, with ``add_loss``."""

    def call(self, inputs):
        mean, log_var = inputs
        kl = -0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1)
        self.add_loss(ops.mean(kl))
        eps = keras.random.normal(ops.shape(mean))
        return mean + ops.exp(0.5 * log_var) * eps


def reconstruction_loss(x, x_hat):
    """Binary cross-entropy summed over the 784 pixels, averaged over the images: the
    negative log-likelihood of x under independent Bernoulli pixels."""
    x_hat = ops.clip(x_hat, 1e-6, 1.0 - 1e-6)
    bce = -(x * ops.log(x_hat) + (1.0 - x) * ops.log(1.0 - x_hat))
    return ops.mean(ops.sum(ops.reshape(bce, (-1, 784)), axis=-1))


def build_vae(encoder_body, decoder, latent):
    """Wire encoder body -> (mean, log_var) -> Sampling -> decoder into three models."""
    inp = keras.Input(shape=(28, 28, 1))
    h = encoder_body(inp)
    mean = L.Dense(latent, name="z_mean")(h)
    log_var = L.Dense(latent, name="z_log_var")(h)
    z = Sampling(name="sampling")([mean, log_var])
    encoder = keras.Model(inp, [mean, log_var, z], name="encoder")
    vae = keras.Model(inp, decoder(z), name="vae")
    vae.compile(optimizer=keras.optimizers.Adam(2e-3), loss=reconstruction_loss)
    return vae, encoder


def mlp_body(inp):
    """Encoder body of the MLP VAE: (28, 28, 1) -> 256 features."""
    h = L.Flatten()(inp)
    return L.Dense(256, activation="relu")(h)


mlp_decoder = keras.Sequential([
    keras.Input(shape=(LATENT,)),
    L.Dense(256, activation="relu"),
    L.Dense(784, activation="sigmoid"),
    L.Reshape((28, 28, 1)),
], name="mlp_decoder")


def conv_body(inp):
    """Encoder body of the conv VAE: two stride-2 convolutions -> 32 features."""
    h = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inp)     # 14x14
    h = L.Conv2D(32, 3, strides=2, padding="same", activation="relu")(h)       # 7x7
    h = L.Flatten()(h)
    return L.Dense(32, activation="relu")(h)


conv_decoder = keras.Sequential([
    keras.Input(shape=(CONV_LATENT,)),
    L.Dense(7 * 7 * 32, activation="relu"),
    L.Reshape((7, 7, 32)),
    L.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),   # 14x14
    L.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu"),   # 28x28
    L.Conv2DTranspose(1, 3, padding="same", activation="sigmoid"),
], name="conv_decoder")


def test_losses(vae, encoder, decoder):
    """(reconstruction, KL) per test image, decoding the latent means (no sampling)."""
    mean, log_var, _ = encoder.predict(x_test, batch_size=250, verbose=0)
    x_hat = decoder.predict(mean, batch_size=250, verbose=0)
    recon = float(reconstruction_loss(x_test, x_hat))
    kl = float(np.mean(-0.5 * np.sum(1 + log_var - mean ** 2 - np.exp(log_var), axis=-1)))
    return recon, kl


# A model that ignores its input can do no better than the mean training image:
baseline = float(reconstruction_loss(x_test, np.broadcast_to(x_train.mean(0), x_test.shape)))
# and none can do better than the pixels' own entropy (gray pixels are not 0/1 outcomes):
xc = np.clip(x_test, 1e-6, 1 - 1e-6)
floor = float(np.mean(np.sum(-(xc * np.log(xc) + (1 - xc) * np.log(1 - xc)), axis=(1, 2, 3))))
print(f"reconstruction loss of the mean image (a model that learned nothing): {baseline:.1f}; "
      f"of a perfect copy: {floor:.1f}")

# ---------------------------------------------------------------- MLP VAE
mlp_vae, mlp_encoder = build_vae(mlp_body, mlp_decoder, LATENT)
mlp_vae.summary()
mlp_vae.fit(x_train, x_train, epochs=MLP_EPOCHS, batch_size=32, verbose=2)
mlp_recon, mlp_kl = test_losses(mlp_vae, mlp_encoder, mlp_decoder)
print(f"MLP VAE: test reconstruction {mlp_recon:.1f}, KL {mlp_kl:.2f} (nats per image); "
      f"it removes {1 - (mlp_recon - floor) / (baseline - floor):.0%} of the mean image's "
      "excess over a perfect copy")

# the latent plot: test images' means, one colour per class
means = mlp_encoder.predict(x_test, batch_size=250, verbose=0)[0]
palette = np.array([[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40],
                    [148, 103, 189], [140, 86, 75], [227, 119, 194], [127, 127, 127],
                    [188, 189, 34], [23, 190, 207]], np.uint8)
S = 300
lim = max(3.0, float(np.percentile(np.abs(means), 99)) * 1.1)    # the plot's half-width
canvas = np.full((S, S, 3), 255, np.uint8)
canvas[S // 2, :] = canvas[:, S // 2] = 200                            # the axes z1=0, z2=0
cols = np.clip(((means[:, 0] + lim) / (2 * lim) * S).astype(int), 1, S - 3)
rows = np.clip(((lim - means[:, 1]) / (2 * lim) * S).astype(int), 1, S - 3)
for r, c, k in zip(rows, cols, y_test):
    canvas[r - 1:r + 2, c - 1:c + 2] = palette[int(k) % 10]
write_png(out_path("vae_latent.png"), canvas)
print(f"wrote {out_path('vae_latent.png')} (latent means of test images, z1 across, z2 up)")

# the manifold: decode a 12x12 grid of latent points; the prior's quantiles in each axis
g = np.linspace(-2.0, 2.0, 12, dtype=np.float32)
zz = np.array([[a, b] for b in g[::-1] for a in g], np.float32)
save_grid("vae_manifold.png", mlp_decoder.predict(zz, verbose=0), ncols=12, pad=0,
          normalize=False, scale=2)

# ---------------------------------------------------------------- convolutional VAE
conv_vae, conv_encoder = build_vae(conv_body, conv_decoder, CONV_LATENT)
conv_vae.summary()
conv_vae.fit(x_train, x_train, epochs=CONV_EPOCHS, batch_size=32, verbose=2)
conv_recon, conv_kl = test_losses(conv_vae, conv_encoder, conv_decoder)
print(f"conv VAE: test reconstruction {conv_recon:.1f}, KL {conv_kl:.2f} (nats per image); "
      f"it removes {1 - (conv_recon - floor) / (baseline - floor):.0%} of the mean image's "
      "excess over a perfect copy")
z = keras.random.normal((32, CONV_LATENT)).numpy()
save_grid("vae_conv_samples.png", conv_decoder.predict(z, verbose=0), ncols=8,
          normalize=False, scale=2)

result("baseline_reconstruction", baseline)
result("perfect_reconstruction", floor)
result("mlp_reconstruction", mlp_recon)
result("mlp_kl", mlp_kl)
result("conv_reconstruction", conv_recon)
result("conv_kl", conv_kl)
