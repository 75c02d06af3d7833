"""Lab 5: recommender systems with embeddings.

* explicit feedback: predict a user's 1-5 star rating of a movie.  Users and items each get
  a learned vector (``Embedding -> Flatten``) and the prediction is their dot product
  (``Dot``), trained on the mean absolute error, like matrix factorization;
* a deeper variant: the two vectors concatenated, then ``Dropout -> Dense -> Dense``;
* implicit feedback: only "this user rated this item" is kept.  A triplet model scores a
  (user, positive item, negative item) triple with *shared* item embeddings and learns with
  a margin loss ``max(0, margin - s(u, pos) + s(u, neg))``; it is judged by the ranking AUC
  (how often a held-out item the user rated outranks a random item).

Data: MovieLens-100k when cached (``lamina.data.movielens_100k``; the course reaches a test
MAE of about 0.73 there), else the generated stand-in in the same file format
(``lamina.data.synthetic_movielens``: low-rank ratings with a popularity bias).  Both use
the ``ua.base``/``ua.test`` split (ten ratings per user held out).

    python examples/05_embeddings_recsys.py            # about a minute
    python examples/05_embeddings_recsys.py --quick    # a few seconds
"""
import numpy as np

from _common import is_quick, result

import lamina as lm
from lamina import keras
from lamina.data import movielens_100k, synthetic_movielens

QUICK = is_quick()
EPOCHS = 4 if QUICK else 10
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
L = keras.layers

# ---------------------------------------------------------------- data
try:
    ml = movielens_100k.load_data(download=False)
    source = "MovieLens-100k"
except (FileNotFoundError, ValueError) as e:
    print(f"note: {str(e).splitlines()[0][:120]}...\n      using the generated stand-in")
    ml = (synthetic_movielens(n_users=400, n_items=800, n_ratings=30_000) if QUICK
          else synthetic_movielens())
    source = "synthetic"
print(f"{source}: {ml}")
train, test = ml.train, ml.test
u_tr, i_tr, r_tr = train["user_id"], train["item_id"], train["rating"]
u_te, i_te, r_te = test["user_id"], test["item_id"], test["rating"]
n_users, n_items = ml.n_users + 1, ml.n_items + 1          # ids start at 1; 0 unused

baseline = np.abs(r_te - r_tr.mean()).mean()
print(f"predicting the mean rating: test MAE {baseline:.3f}")
result("mean_baseline_mae", baseline)


# ---------------------------------------------------------------- explicit: dot product
def dot_model(dim=32):
    """user id (N, 1), item id (N, 1) -> rating (N, 1) = <user vector, item vector>
    + user offset + item offset + mean rating."""
    user = keras.Input(shape=(1,), dtype="int32", name="user")
    item = keras.Input(shape=(1,), dtype="int32", name="item")
    u = L.Flatten()(L.Embedding(n_users, dim, name="user_embedding")(user))
    v = L.Flatten()(L.Embedding(n_items, dim, name="item_embedding")(item))
    # per-user and per-item offsets (generous or harsh raters, liked movies) around the
    # mean: without them the small initial vectors would have to grow up to ~3.5 first
    ub = L.Flatten()(L.Embedding(n_users, 1, embeddings_initializer="zeros")(user))
    ib = L.Flatten()(L.Embedding(n_items, 1, embeddings_initializer="zeros")(item))
    out = L.Add()([L.Dot(axes=1)([u, v]), ub, ib])
    return keras.Model([user, item], L.Lambda(lambda t: t + float(r_tr.mean()))(out))


def deep_model(dim=32, hidden=64, dropout=0.3):
    """Concatenated user and item vectors -> Dropout -> Dense(relu) -> Dense(1)."""
    user = keras.Input(shape=(1,), dtype="int32", name="user")
    item = keras.Input(shape=(1,), dtype="int32", name="item")
    u = L.Flatten()(L.Embedding(n_users, dim)(user))
    v = L.Flatten()(L.Embedding(n_items, dim)(item))
    h = L.Dropout(dropout)(L.Concatenate()([u, v]))
    h = L.Dense(hidden, activation="relu")(h)
    out = L.Dense(1)(L.Dropout(dropout)(h))
    # the network only has to learn deviations from the average rating
    return keras.Model([user, item], L.Lambda(lambda t: t + float(r_tr.mean()))(out))


def fit_explicit(model, name, lr):
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="mae")
    # embeddings overfit quickly: keep the weights of the best validation epoch
    stop = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    model.fit([u_tr[:, None], i_tr[:, None]], r_tr, batch_size=64, epochs=EPOCHS,
              validation_split=0.1, callbacks=[stop], verbose=0 if QUICK else 2)
    pred = model.predict([u_te[:, None], i_te[:, None]], batch_size=1024, verbose=0)[:, 0]
    mae = np.abs(pred - r_te).mean()
    print(f"{name}: test MAE {mae:.3f}")
    result(f"{name}_test_mae", mae)
    return model


fit_explicit(dot_model(), "dot", 0.01)
fit_explicit(deep_model(), "deep", 0.003)


# ---------------------------------------------------------------- implicit: triplets
class TripletRecommender(keras.Model):
    """Scores s(u, i) = <user vector, item vector>; called on (user, pos, neg) ids it
    returns the per-triplet margin loss (N,); ``score(user, items)`` ranks items."""

    def __init__(self, dim=32, margin=1.0, l2=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.margin = margin
        reg = keras.regularizers.L2(l2)
        self.user_emb = L.Embedding(n_users, dim, embeddings_regularizer=reg)
        self.item_emb = L.Embedding(n_items, dim, embeddings_regularizer=reg)   # shared

    def score(self, user, item):
        return lm.sum(self.user_emb(user) * self.item_emb(item), axis=-1)

    def call(self, inputs):
        user, pos, neg = inputs
        return lm.relu(self.margin - self.score(user, pos) + self.score(user, neg))


def identity_loss(y_true, y_pred):
    """The model already outputs the loss; Keras's usual trick for triplet training."""
    return y_pred


seen = np.zeros((n_users, n_items), bool)          # what each user rated in training
seen[u_tr, i_tr] = True
triplet = TripletRecommender()
triplet.compile(optimizer=keras.optimizers.Adam(0.003), loss=identity_loss)
for epoch in range(EPOCHS):
    # fresh random negatives each epoch (an item the user did not rate)
    neg = rng.integers(1, n_items, len(u_tr))
    bad = seen[u_tr, neg]
    while bad.any():
        neg[bad] = rng.integers(1, n_items, int(bad.sum()))
        bad = seen[u_tr, neg]
    hist = triplet.fit([u_tr, i_tr, neg], np.zeros(len(u_tr), np.float32), batch_size=64,
                       epochs=1, shuffle=True, verbose=0)
    print(f"triplet epoch {epoch + 1}: margin loss {hist.history['loss'][-1]:.4f}")


def ranking_auc(score_fn, n_neg=50):
    """Mean over test ratings of P(score(user, held-out item) > score(user, random unseen
    item)), ties counting one half."""
    negs = rng.integers(1, n_items, (len(u_te), n_neg))
    with lm.no_grad():
        pos_s = np.asarray(score_fn(u_te, i_te)).reshape(-1, 1)
        neg_s = np.asarray(score_fn(np.repeat(u_te, n_neg), negs.reshape(-1))).reshape(
            len(u_te), n_neg)
    valid = ~seen[u_te[:, None], negs]
    wins = (pos_s > neg_s) + 0.5 * (pos_s == neg_s)
    return float((wins * valid).sum() / valid.sum())


auc = ranking_auc(lambda u, i: triplet.score(lm.tensor(u), lm.tensor(i)).numpy())
popularity = np.bincount(i_tr, minlength=n_items).astype(np.float32)
auc_pop = ranking_auc(lambda u, i: popularity[i])
print(f"implicit triplet model: ranking AUC {auc:.3f} (popularity ranking {auc_pop:.3f}, "
      "chance 0.5)")
result("triplet_auc", auc)
result("popularity_auc", auc_pop)
