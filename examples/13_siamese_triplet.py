"""Lab 13: metric learning: a siamese network (contrastive loss) and a triplet network
(margin loss with semi-hard negative mining) on generated identities.

Each *identity* is one handwritten 8x8 digit image (one writer's glyph); its photos are
that glyph enlarged to 16x16 and pasted at a random place in a 20x20 frame, with random
contrast and noise.  Identities used for training and for testing are disjoint, so the
test measures whether the learned embedding generalizes to people never seen.

* a shared convolutional tower maps an image to a 32-d unit vector,
* siamese: two images through the same tower, cosine similarity (``Dot(normalize=True)``),
  trained with ``fit`` and a contrastive loss on similar/dissimilar pairs,
* triplet: a custom ``GradientTape`` loop over batches of P identities x K photos; for
  each (anchor, positive) pair the loop picks a *semi-hard* negative: farther than the
  positive but within the margin, the most useful one to learn from,
* both are evaluated on test identities: verification accuracy on balanced pairs (the
  similarity threshold chosen on training identities) and recall@10 (is a photo of the
  same identity among a query's 10 nearest neighbours?).

    python examples/13_siamese_triplet.py            # about 20 s
    python examples/13_siamese_triplet.py --quick    # a few seconds
"""
import numpy as np

from _common import is_quick, result, save_grid

import lamina as lm
from lamina import keras
from lamina.data import load_digits

QUICK = is_quick()
N_TRAIN_IDS, N_TEST_IDS, PHOTOS = (120, 60, 4) if QUICK else (400, 100, 6)
SIAMESE_EPOCHS, PAIRS_PER_IMAGE, TRIPLET_STEPS = (2, 3, 40) if QUICK else (5, 3, 400)
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
L = keras.layers

# ---------------------------------------------------------------- identities and photos
X, _ = load_digits(source="package")  # the shipped copy: no scikit-learn import
glyphs = (X / 16.0).reshape(-1, 8, 8).astype(np.float32)
ids = rng.permutation(len(glyphs))
train_glyphs = glyphs[ids[:N_TRAIN_IDS]]
test_glyphs = glyphs[ids[N_TRAIN_IDS:N_TRAIN_IDS + N_TEST_IDS]]


def photos(glyphs, per_id):
    """``per_id`` random photos of every glyph: images (n * per_id, 20, 20, 1), labels."""
    n = len(glyphs)
    big = glyphs.repeat(2, axis=1).repeat(2, axis=2)                 # (n, 16, 16)
    label = np.repeat(np.arange(n), per_id)
    out = np.zeros((len(label), 20, 20), np.float32)
    dr, dc = rng.integers(0, 5, (2, len(label)))
    contrast = rng.uniform(0.6, 1.2, len(label)).astype(np.float32)
    for i, k in enumerate(label):
        out[i, dr[i]:dr[i] + 16, dc[i]:dc[i] + 16] = big[k] * contrast[i]
    out += rng.normal(0, 0.1, out.shape).astype(np.float32)
    return out[..., None], label


x_train, id_train = photos(train_glyphs, PHOTOS)
x_test, id_test = photos(test_glyphs, PHOTOS)
print(f"{N_TRAIN_IDS} training identities, {N_TEST_IDS} test identities, {PHOTOS} photos "
      f"each: {len(x_train)} + {len(x_test)} images of 20x20")
save_grid("identities.png", x_test[:8 * PHOTOS], ncols=PHOTOS * 2, scale=3)


# ---------------------------------------------------------------- the shared tower
def build_tower(dim=32):
    """(20, 20, 1) image -> (dim,) unit-length embedding."""
    return keras.Sequential([
        keras.Input(shape=(20, 20, 1)),
        L.Conv2D(16, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Conv2D(32, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dense(64, activation="relu"),
        L.Dense(dim),
        L.Lambda(lambda e: keras.ops.normalize(e, axis=-1), name="l2_normalize"),
    ], name="tower")


def embed(tower, x):
    """The tower's unit embeddings (n, dim) of images ``x`` as a NumPy array."""
    return tower.predict(x, batch_size=256, verbose=0)


# ---------------------------------------------------------------- evaluation
def make_pairs(labels, n_pairs):
    """Balanced index pairs (i, j) and 1 (same identity) / 0 (different) targets."""
    by_id = {k: np.nonzero(labels == k)[0] for k in np.unique(labels)}
    keys = np.array(list(by_id))
    left, right, same = [], [], []
    for t in range(n_pairs):
        a = rng.choice(keys)
        i = rng.choice(by_id[a])
        if t % 2 == 0:
            j = rng.choice(by_id[a][by_id[a] != i])
        else:
            j = rng.choice(by_id[rng.choice(keys[keys != a])])
        left.append(i)
        right.append(j)
        same.append(1 - t % 2)
    return np.array(left), np.array(right), np.array(same, np.float32)


def evaluate(tower, name):
    """(verification accuracy, recall@10) on the test identities."""
    # the threshold on cosine similarity is chosen on training identities
    li, ri, same = make_pairs(id_train, 2000)
    e = embed(tower, x_train)
    sims = np.sum(e[li] * e[ri], axis=1)
    cands = np.linspace(-1, 1, 201)
    thr = cands[np.argmax([np.mean((sims > c) == same) for c in cands])]

    e = embed(tower, x_test)
    li, ri, same = make_pairs(id_test, 2000)
    verif = float(np.mean((np.sum(e[li] * e[ri], axis=1) > thr) == same))
    sim = e @ e.T
    np.fill_diagonal(sim, -np.inf)                       # a query is not its own neighbour
    top10 = np.argsort(-sim, axis=1)[:, :10]
    recall = float(np.mean(np.any(id_test[top10] == id_test[:, None], axis=1)))
    print(f"{name}: verification accuracy {verif:.3f} (threshold {thr:.2f}), "
          f"recall@10 {recall:.3f}")
    return verif, recall


tower0 = build_tower()
chance_verif, chance_recall = evaluate(tower0, "untrained tower")

# ---------------------------------------------------------------- siamese + contrastive
MARGIN_C = 0.3


def contrastive_loss(y_true, sim):
    """Pull similar pairs to cosine 1; push dissimilar pairs below MARGIN_C:
    y (1 - s)^2 + (1 - y) max(0, s - m)^2, averaged."""
    y_true = keras.ops.reshape(y_true, (-1,))
    sim = keras.ops.reshape(sim, (-1,))
    pos = y_true * keras.ops.square(1.0 - sim)
    neg = (1.0 - y_true) * keras.ops.square(keras.ops.relu(sim - MARGIN_C))
    return keras.ops.mean(pos + neg)


tower = build_tower()
in_a = keras.Input(shape=(20, 20, 1), name="left")
in_b = keras.Input(shape=(20, 20, 1), name="right")
similarity = L.Dot(axes=1, normalize=True, name="cosine")([tower(in_a), tower(in_b)])
siamese = keras.Model([in_a, in_b], similarity, name="siamese")
siamese.summary()
siamese.compile(optimizer=keras.optimizers.Adam(1e-3), loss=contrastive_loss)
for epoch in range(SIAMESE_EPOCHS):
    li, ri, same = make_pairs(id_train, PAIRS_PER_IMAGE * len(x_train))  # new pairs
    siamese.fit([x_train[li], x_train[ri]], same, batch_size=64, epochs=1, verbose=0)
    print(f"siamese epoch {epoch + 1}: contrastive loss "
          f"{siamese.evaluate([x_train[li], x_train[ri]], same, verbose=0):.4f}")
siamese_verif, siamese_recall = evaluate(tower, "siamese (contrastive)")

# ---------------------------------------------------------------- triplet + semi-hard
MARGIN_T = 0.2
P, K = 16, min(4, PHOTOS)                                # identities x photos per batch
tower_t = build_tower()
opt = keras.optimizers.Adam(1e-3)
by_id = [np.nonzero(id_train == k)[0] for k in range(N_TRAIN_IDS)]


def semi_hard_triplets(d, labels):
    """For each (anchor, positive) pair of a batch with squared distances ``d`` (B, B):
    the negative n with d[a, p] < d[a, n] < d[a, p] + margin closest to the anchor, else
    the hardest negative.  Chosen on plain numbers: the choice is not differentiated."""
    same = labels[:, None] == labels[None, :]
    anchors, positives, negatives = [], [], []
    for a in range(len(labels)):
        neg_d = np.where(same[a], np.inf, d[a])
        for p in np.nonzero(same[a])[0]:
            if p == a:
                continue
            semi = (neg_d > d[a, p]) & (neg_d < d[a, p] + MARGIN_T)
            n = np.argmin(np.where(semi, neg_d, np.inf)) if semi.any() else np.argmin(neg_d)
            anchors.append(a)
            positives.append(p)
            negatives.append(n)
    return np.array(anchors), np.array(positives), np.array(negatives)


for step in range(TRIPLET_STEPS):
    chosen = rng.choice(N_TRAIN_IDS, P, replace=False)
    idx = np.concatenate([rng.choice(by_id[k], K, replace=False) for k in chosen])
    labels = id_train[idx]
    with lm.GradientTape() as tape:
        e = tower_t(x_train[idx], training=True)                 # (P*K, 32), unit rows
        d = 2.0 - 2.0 * (e @ lm.transpose(e))                    # squared distances
        a, p, n = semi_hard_triplets(d.numpy(), labels)
        d_ap = d[a, p]
        d_an = d[a, n]
        loss = lm.mean(lm.relu(d_ap - d_an + MARGIN_T))
    grads = tape.gradient(loss, tower_t.trainable_variables)
    opt.apply_gradients(zip(grads, tower_t.trainable_variables))
    if step % max(1, TRIPLET_STEPS // 5) == 0 or step == TRIPLET_STEPS - 1:
        active = float(np.mean((d_ap - d_an + MARGIN_T).numpy() > 0))
        print(f"triplet step {step:4d}: loss {loss.item():.4f}, {len(a)} triplets, "
              f"{active:.0%} violate the margin")
triplet_verif, triplet_recall = evaluate(tower_t, "triplet (semi-hard)")

result("chance_recall_at_10", chance_recall)
result("siamese_verification_accuracy", siamese_verif)
result("siamese_recall_at_10", siamese_recall)
result("triplet_verification_accuracy", triplet_verif)
result("triplet_recall_at_10", triplet_recall)
