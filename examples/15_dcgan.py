"""Lab 15: a DCGAN written as a custom training loop with two optimizers.

A generator turns 32 Gaussian numbers into an 8x8 digit image (Dense -> BatchNormalization
-> LeakyReLU -> Conv2DTranspose -> ... -> tanh); a discriminator (strided Conv2D ->
LeakyReLU -> ... -> one logit) tells real digits from generated ones.  Each step:

1. the discriminator's optimizer lowers its loss on a real batch (label 1) and a
   generated batch (label 0),
2. the generator's optimizer lowers the *non-saturating* generator loss: the
   discriminator's cross-entropy on generated images labelled as real.

The gradients come from ``GradientTape``; each optimizer updates only its own model's
variables.  Both losses are printed, a grid of samples from a fixed noise batch is saved
after every epoch (``gan_epoch_XX.png``), and the samples are scored with a digit
classifier trained on the real data: the *inception score* exp(E KL(p(y|x) || p(y))),
high when each sample is clearly one digit and all ten digits appear (1 = useless,
10 = perfect).

    python examples/15_dcgan.py            # 30 epochs (about a minute)
    python examples/15_dcgan.py --quick    # 4 epochs
"""
import numpy as np

from _common import is_quick, result, save_grid

import lamina as lm
from lamina import keras
from lamina.data import load_digits

QUICK = is_quick()
EPOCHS = 4 if QUICK else 30
NOISE, BATCH = 32, 64
keras.utils.set_random_seed(0)
L = keras.layers

# ---------------------------------------------------------------- data
X, y = load_digits(source="package")                       # the shipped 8x8 digits
x_real = (X.reshape(-1, 8, 8, 1) / 8.0 - 1.0).astype(np.float32)   # [0, 16] -> [-1, 1]
print(f"{len(x_real)} real 8x8 digits scaled to [-1, 1] (the generator ends in tanh)")

# ---------------------------------------------------------------- the two networks
generator = keras.Sequential([
    keras.Input(shape=(NOISE,)),
    L.Dense(4 * 4 * 64, use_bias=False),
    L.BatchNormalization(),
    L.LeakyReLU(0.2),
    L.Reshape((4, 4, 64)),
    L.Conv2DTranspose(32, 3, strides=2, padding="same", use_bias=False),   # 8x8
    L.BatchNormalization(),
    L.LeakyReLU(0.2),
    L.Conv2D(1, 3, padding="same", activation="tanh"),
], name="generator")

discriminator = keras.Sequential([
    keras.Input(shape=(8, 8, 1)),
    L.Conv2D(32, 3, strides=2, padding="same"),                           # 4x4
    L.LeakyReLU(0.2),
    L.Conv2D(64, 3, strides=2, padding="same"),                           # 2x2
    L.BatchNormalization(),
    L.LeakyReLU(0.2),
    L.Flatten(),
    L.Dense(1),                                                           # a logit
], name="discriminator")
generator.summary()
discriminator.summary()

bce = keras.losses.BinaryCrossentropy(from_logits=True)
# beta_1 = 0.5, as in the DCGAN paper: less momentum suits the moving target of a GAN
g_opt = keras.optimizers.Adam(1e-3, beta_1=0.5)
d_opt = keras.optimizers.Adam(1e-3, beta_1=0.5)

# ---------------------------------------------------------------- a judge: a digit classifier
judge = keras.Sequential([keras.Input(shape=(8, 8, 1)), L.Flatten(),
                          L.Dense(64, activation="relu"), L.Dense(10, activation="softmax")])
judge.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
judge.fit(x_real, y, epochs=15, batch_size=64, verbose=0)


def inception_score(images):
    """exp(mean KL(p(y|x) || p(y))) under the judge; also the judge's mean confidence."""
    p = judge.predict(images, batch_size=500, verbose=0).astype(np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    kl = np.sum(p * (np.log(p + 1e-12) - np.log(marginal + 1e-12)), axis=1)
    return float(np.exp(kl.mean())), float(p.max(axis=1).mean())


real_is, real_conf = inception_score(x_real)
print(f"judge on real digits: inception score {real_is:.2f}, mean confidence {real_conf:.3f}")


def sample(n, seed=None):
    """``n`` generated images (n, 8, 8, 1) from fresh Gaussian noise."""
    z = keras.random.normal((n, NOISE), seed=seed)
    return generator.predict(z, batch_size=500, verbose=0)


untrained_is, _ = inception_score(sample(1000))
print(f"untrained generator: inception score {untrained_is:.2f}")

# ---------------------------------------------------------------- the training loop
fixed_z = keras.random.normal((32, NOISE), seed=1)          # the same noise every epoch
ones = np.ones((BATCH, 1), np.float32)
zeros = np.zeros((BATCH, 1), np.float32)
rng = np.random.default_rng(0)
steps = len(x_real) // BATCH
for epoch in range(EPOCHS):
    perm = rng.permutation(len(x_real))
    d_sum = g_sum = 0.0
    for s in range(steps):
        real = x_real[perm[s * BATCH:(s + 1) * BATCH]]
        # 1. discriminator step: real -> 1, generated -> 0.  The generated batch is made
        #    outside the tape's reach of the generator's variables: only D is updated.
        z = keras.random.normal((BATCH, NOISE))
        fake = generator(z, training=True).detach()
        with lm.GradientTape() as tape:
            d_loss = (bce(ones, discriminator(real, training=True))
                      + bce(zeros, discriminator(fake, training=True)))
        grads = tape.gradient(d_loss, discriminator.trainable_variables)
        d_opt.apply_gradients(zip(grads, discriminator.trainable_variables))
        # 2. generator step: make D call the generated batch real
        z = keras.random.normal((BATCH, NOISE))
        with lm.GradientTape() as tape:
            g_loss = bce(ones, discriminator(generator(z, training=True), training=True))
        grads = tape.gradient(g_loss, generator.trainable_variables)
        g_opt.apply_gradients(zip(grads, generator.trainable_variables))
        d_sum += d_loss.item()
        g_sum += g_loss.item()
    save_grid(f"gan_epoch_{epoch + 1:02d}.png", generator.predict(fixed_z, verbose=0),
              ncols=8, scale=4)
    if epoch % max(1, EPOCHS // 6) == 0 or epoch == EPOCHS - 1:
        score, conf = inception_score(sample(1000))
        print(f"epoch {epoch + 1:3d}: D loss {d_sum / steps:.3f}  G loss {g_sum / steps:.3f}  "
              f"inception score {score:.2f}  judge confidence {conf:.3f}")

final_is, final_conf = inception_score(sample(2000))
print(f"inception score: untrained {untrained_is:.2f}, trained {final_is:.2f}, "
      f"real digits {real_is:.2f}")
result("d_loss", d_sum / steps)
result("g_loss", g_sum / steps)
result("untrained_inception_score", untrained_is)
result("inception_score", final_is)
result("judge_confidence", final_conf)
result("real_inception_score", real_is)
