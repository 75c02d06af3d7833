"""Sequence datasets: IMDB reviews and Reuters newswires (Keras's ``imdb``/``reuters``
``load_data`` semantics, from a pickle-free cache; Reuters' format and converter are on
:class:`_Reuters`), MovieLens-100k ratings, and generated stand-ins that need no download: a
ratings table in the MovieLens file format, a topic-labelled text corpus and French number phrases
paired with their digits.

Cache: ``lamina.data.vision.cache_dir()`` (``$LAMINA_HOME/datasets`` or
``~/.lamina/datasets``), one folder per dataset.

IMDB cache format (``imdb/imdb_tokens.npz``, read with ``allow_pickle=False``).  Keras's
``imdb.npz`` stores ragged object arrays, which only pickle can read, so lamina keeps the
same reviews as flat arrays instead::

    x_train_tokens  int32 (total,)   every review's word ranks, one after the other
    x_train_offsets int64 (n + 1,)   review i is tokens[offsets[i]:offsets[i + 1]]
    y_train         int64 (n,)       0 negative, 1 positive
    x_test_tokens, x_test_offsets, y_test   likewise

Converter: on a machine where Keras works, ``(a, b), (c, d) = keras.datasets.imdb.load_data(
start_char=None, index_from=0, seed=<any>)`` gives the raw ranks; pass them to
``save_imdb_tokens(path, (a, b), (c, d))``, which also writes ``<path>.sha256``, checked on
every load.  ``imdb/imdb_word_index.json`` is Keras's word index file, used as is (JSON).

MovieLens-100k: ``movielens/ml-100k.zip`` (the GroupLens release, SHA-256 checked) or an
already extracted ``movielens/ml-100k/`` folder holding ``u.data``, ``u.item``, ``ua.base``
and ``ua.test``.
"""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from .datasets import load_local_npz
from .vision import KERAS_ORIGIN, _download, _fetch_verified, _sha256, cache_dir, cache_path

__all__ = ["imdb", "save_imdb_tokens", "reuters", "save_reuters_tokens", "REUTERS_LABELS",
           "movielens_100k", "MovieLens", "parse_ratings",
           "parse_items", "synthetic_movielens", "topic_corpus", "TOPICS", "french_number",
           "french_number_pairs", "GENRES"]


# ------------------------------------------------------------------ IMDB, Reuters
def _ragged_to_flat(seqs, who):
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    flat = (np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs])
            if len(seqs) and offsets[-1] else np.zeros(0, np.int64))
    if flat.size and (flat.min() < 0 or flat.max() > np.iinfo(np.int32).max):
        raise ValueError(f"{who}: word ranks must lie in [0, 2**31)")
    return flat.astype(np.int32), offsets


def _save_flat(path, who, parts):
    """Write ``parts`` = ``{prefix: (sequences, labels)}`` as ``<prefix>_tokens``,
    ``<prefix>_offsets`` and the labels under ``prefix`` with ``x`` changed to ``y``, plus
    ``path + '.sha256'``."""
    arrays = {}
    for prefix, (seqs, labels) in parts.items():
        labels = np.asarray(labels).astype(np.int64).reshape(-1)
        if len(seqs) != len(labels):
            raise ValueError(f"{who}: {prefix} has {len(seqs)} sequences but {len(labels)} "
                             "labels")
        arrays[f"{prefix}_tokens"], arrays[f"{prefix}_offsets"] = _ragged_to_flat(seqs, who)
        arrays["y" + prefix[1:]] = labels
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    with open(path + ".sha256", "w") as f:
        f.write(_sha256(path) + "\n")
    return path


def save_imdb_tokens(path, train, test):
    """Write IMDB-like data ``train=(sequences, labels)``, ``test=(...)`` (sequences: lists of
    int word ranks) to ``path`` in lamina's pickle-free format, plus ``path + '.sha256'``."""
    return _save_flat(path, "save_imdb_tokens", {"x_train": train, "x_test": test})


def _split_flat(tokens, offsets, who):
    if offsets.ndim != 1 or offsets.size == 0 or offsets[0] != 0 or \
            offsets[-1] != tokens.size or np.any(np.diff(offsets) < 0):
        raise ValueError(f"{who}: offsets must rise from 0 to len(tokens)={tokens.size}")
    return [tokens[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])]


def _read_flat(path, who, prefixes, missing_hint):
    """``[(sequences, labels)]`` for each prefix (``'x'``, ``'x_train'``, ...) of the
    pickle-free token file at ``path``, checked against ``path + '.sha256'`` when present."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{who}: {path} does not exist. {missing_hint}")
    side = path + ".sha256"
    if os.path.exists(side):
        with open(side) as f:
            want = f.read().split()[0]
        got = _sha256(path)
        if got != want:
            raise ValueError(f"{who}: {path} has SHA-256 {got}, expected {want} (from {side}); "
                             "the file is corrupt")
    keys = [k for p in prefixes for k in (f"{p}_tokens", f"{p}_offsets", "y" + p[1:])]
    a = dict(zip(keys, load_local_npz(path, keys, who, missing_hint)))
    out = []
    for p in prefixes:
        seqs = _split_flat(a[f"{p}_tokens"], a[f"{p}_offsets"], f"{who} ({p})")
        y = a["y" + p[1:]]
        if len(y) != len(seqs):
            raise ValueError(f"{who}: {p} has {len(seqs)} sequences but {len(y)} labels")
        out.append((seqs, y))
    return out


def _shuffled(x, y, rng):
    idx = np.arange(len(x))
    rng.shuffle(idx)
    return [x[i] for i in idx], y[idx]


def _index_and_drop(x, y, start_char, index_from, maxlen):
    """Keras's first steps: prefix ``start_char``, shift ranks by ``index_from``, drop
    sequences of ``maxlen`` ids or more."""
    if start_char is not None:
        x = [[start_char] + [w + index_from for w in s] for s in x]
    elif index_from:
        x = [[w + index_from for w in s] for s in x]
    if maxlen:
        keep = [i for i, s in enumerate(x) if len(s) < maxlen]
        x, y = [x[i] for i in keep], y[keep]
    return x, y


def _limit_vocab(xs, num_words, skip_top, oov_char):
    """Keras's vocabulary cut: ids outside ``[skip_top, num_words)`` become ``oov_char``
    (removed when it is None); ``num_words`` None keeps every id."""
    if not num_words:
        num_words = max((max(s) for s in xs if s), default=0)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in s] for s in xs]
    return [[w for w in s if skip_top <= w < num_words] for s in xs]


def _objects(seqs):
    arr = np.empty(len(seqs), dtype=object)
    arr[:] = seqs
    return arr


def _word_index(path, who):
    with open(path, encoding="utf-8") as f:
        index = json.load(f)
    if not isinstance(index, dict) or not all(
            isinstance(k, str) and isinstance(v, int) for k, v in index.items()):
        raise ValueError(f"{who}: {path} is not a JSON object of word -> int")
    return index


class _IMDB:
    """``keras.datasets.imdb``: ``load_data`` and ``get_word_index`` over the local cache."""

    name = "imdb"

    def _path(self, path, default):
        return cache_path("imdb", path or default)

    def _read(self, path):
        return _read_flat(path, "imdb.load_data", ("x_train", "x_test"),
                          "Build it once with lamina.data.text_datasets.save_imdb_tokens from "
                          "the raw word ranks (see that module's docstring for the converter "
                          "note); lamina never unpickles Keras's imdb.npz.")

    def load_data(self, path=None, num_words=None, skip_top=0, maxlen=None, seed=113,
                  start_char=1, oov_char=2, index_from=3):
        """``((x_train, y_train), (x_test, y_test))`` exactly as Keras builds them: reviews
        shuffled with ``seed``, each prefixed with ``start_char`` and its ranks shifted by
        ``index_from``; reviews of ``maxlen`` words or more dropped; ranks outside
        ``[skip_top, num_words)`` replaced by ``oov_char`` (or removed when it is None).
        ``x_*`` are object arrays of lists of ints, ``y_*`` int64 (n,)."""
        (xtr, ytr), (xte, yte) = self._read(self._path(path, "imdb_tokens.npz"))
        rng = np.random.RandomState(seed)     # Keras's shuffle, so the order matches it
        splits = [_index_and_drop(*_shuffled(x, y, rng), start_char, index_from, maxlen)
                  for x, y in ((xtr, ytr), (xte, yte))]
        if maxlen and (not splits[0][0] or not splits[1][0]):
            raise ValueError(f"imdb.load_data: no review is shorter than maxlen={maxlen}; "
                             "increase maxlen")
        xs = _limit_vocab(splits[0][0] + splits[1][0], num_words, skip_top, oov_char)
        n = len(splits[0][0])
        return (_objects(xs[:n]), splits[0][1]), (_objects(xs[n:]), splits[1][1])

    def get_word_index(self, path=None):
        """The word -> rank dict from Keras's ``imdb_word_index.json`` (rank 1 = most
        frequent; add ``index_from`` to match ``load_data``'s ids)."""
        p = self._path(path, "imdb_word_index.json")
        if not os.path.exists(p):
            raise FileNotFoundError(
                f"imdb.get_word_index: {p} does not exist. Download https://storage."
                "googleapis.com/tensorflow/tf-keras-datasets/imdb_word_index.json and put it "
                "there.")
        return _word_index(p, "imdb.get_word_index")

    def __repr__(self):
        return "<lamina dataset imdb>"


imdb = _IMDB()


REUTERS_LABELS = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply",
    "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas",
    "cpi", "money-fx", "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin",
    "strategic-metal", "livestock", "retail", "ipi", "iron-steel", "rubber", "heat", "jobs",
    "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead")
# the MD5 Keras pins for reuters_word_index.json (checked on every read, as Keras does)
REUTERS_WORD_INDEX_MD5 = "4d44cc38712099c9e383dc6e5f11a921"


def save_reuters_tokens(path, sequences, labels):
    """Write Reuters-like data (``sequences``: lists of int word ranks, in the order of
    Keras's ``reuters.npz`` array ``x``; ``labels``: its ``y``) to ``path`` in lamina's
    pickle-free format (arrays ``x_tokens``, ``x_offsets``, ``y``), plus
    ``path + '.sha256'``."""
    return _save_flat(path, "save_reuters_tokens", {"x": (sequences, labels)})


class _Reuters:
    """``keras.datasets.reuters``: ``load_data``, ``get_word_index`` and ``get_label_names``
    over the local cache (folder ``reuters/``).

    Keras's ``reuters.npz`` stores ragged object arrays (pickle).  lamina reads the same
    newswires from a pickle-free file instead (default name ``reuters.npz`` in the cache):
    ``x_tokens`` int32 (total,), ``x_offsets`` int64 (n + 1,), ``y`` int64 (n,), in the file
    order of Keras's arrays.  Converter, on a machine where Keras works::

        from keras.src.datasets.npz_utils import load_npz   # Keras's restricted unpickler
        f = load_npz("reuters.npz")                        # Keras's file, as downloaded
        lamina.data.text_datasets.save_reuters_tokens("reuters.npz", f["x"], f["y"])
    """

    name = "reuters"

    def load_data(self, path="reuters.npz", num_words=None, skip_top=0, maxlen=None,
                  test_split=0.2, seed=113, start_char=1, oov_char=2, index_from=3):
        """``((x_train, y_train), (x_test, y_test))`` exactly as Keras builds them: all
        newswires shuffled with ``seed``, prefixed with ``start_char`` and shifted by
        ``index_from``; those of ``maxlen`` ids or more dropped; ids outside
        ``[skip_top, num_words)`` replaced by ``oov_char`` (removed when None); the first
        ``int(n * (1 - test_split))`` are train.  ``x_*`` object arrays of lists of ints,
        ``y_*`` int64 topic ids (see ``get_label_names``)."""
        if not 0 <= test_split < 1:
            raise ValueError(f"reuters.load_data: test_split must be in [0, 1), got "
                             f"{test_split}")
        p = cache_path(self.name, path)
        hint = (f"Keras's {KERAS_ORIGIN}reuters.npz stores pickled object arrays, which lamina "
                "never loads: convert it once with lamina.data.text_datasets."
                "save_reuters_tokens (see lamina.data.text_datasets._Reuters for the "
                f"three-line converter) and put the result at {p}.")
        [(x, y)] = _read_flat(p, "reuters.load_data", ("x",), hint)
        x, y = _index_and_drop(*_shuffled(x, y, np.random.RandomState(seed)), start_char,
                               index_from, maxlen)
        if not x:
            raise ValueError(f"reuters.load_data: no newswire is shorter than maxlen={maxlen}; "
                             "increase maxlen")
        xs = _limit_vocab(x, num_words, skip_top, oov_char)
        cut = int(len(xs) * (1 - test_split))
        return (_objects(xs[:cut]), np.array(y[:cut])), (_objects(xs[cut:]), np.array(y[cut:]))

    def get_word_index(self, path="reuters_word_index.json"):
        """The word -> rank dict from Keras's ``reuters_word_index.json`` (MD5-checked as
        Keras does; fetched when missing and the network allows)."""
        p = cache_path(self.name, path)
        _fetch_verified(KERAS_ORIGIN + "reuters_word_index.json", REUTERS_WORD_INDEX_MD5, p,
                        "reuters.get_word_index", fetch=_download)
        return _word_index(p, "reuters.get_word_index")

    def get_label_names(self):
        """The 46 topic names, indexed by label id, as Keras gives them (a tuple)."""
        return REUTERS_LABELS

    def __repr__(self):
        return "<lamina dataset reuters>"


reuters = _Reuters()


# ------------------------------------------------------------------ MovieLens
ML_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
# SHA-256 of the GroupLens release (4,924,029 bytes)
ML_SHA256 = "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"
GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western"]


def parse_ratings(raw, who="u.data"):
    """A MovieLens ratings file (``user\\titem\\trating\\ttimestamp`` lines, bytes or str) as
    a dict of arrays: ``user_id`` int32, ``item_id`` int32, ``rating`` float32,
    ``timestamp`` int64, each (n,)."""
    text = raw.decode("ascii") if isinstance(raw, bytes) else raw
    rows = [ln.split("\t") for ln in text.splitlines() if ln.strip()]
    bad = next((i for i, r in enumerate(rows) if len(r) != 4), None)
    if bad is not None:
        raise ValueError(f"{who}: line {bad + 1} has {len(rows[bad])} tab-separated fields, "
                         "expected 4 (user, item, rating, timestamp)")
    a = np.array(rows, dtype=np.int64).reshape(-1, 4)
    return {"user_id": a[:, 0].astype(np.int32), "item_id": a[:, 1].astype(np.int32),
            "rating": a[:, 2].astype(np.float32), "timestamp": a[:, 3]}


def parse_items(raw, who="u.item"):
    """``u.item`` (latin-1, ``|``-separated: id, title, release date, video release date,
    IMDb URL, 19 genre flags) as a dict: ``item_id`` int32 (n,), ``title`` and
    ``release_date`` lists of str, ``genres`` uint8 (n, 19) in the order of ``GENRES``."""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    ids, titles, dates, genres = [], [], [], []
    for i, ln in enumerate(text.splitlines()):
        if not ln.strip():
            continue
        f = ln.split("|")
        if len(f) != 5 + len(GENRES):
            raise ValueError(f"{who}: line {i + 1} has {len(f)} '|'-separated fields, "
                             f"expected {5 + len(GENRES)}")
        ids.append(int(f[0]))
        titles.append(f[1])
        dates.append(f[2])
        genres.append([int(g) for g in f[5:]])
    return {"item_id": np.array(ids, np.int32), "title": titles, "release_date": dates,
            "genres": np.array(genres, np.uint8).reshape(-1, len(GENRES))}


class MovieLens:
    """Ratings in the MovieLens-100k layout: ``ratings`` (all of ``u.data``), ``train`` and
    ``test`` (``ua.base``/``ua.test``: ten ratings of each user held out), ``items`` (from
    ``u.item``), and ``n_users``/``n_items`` (the largest ids; ids start at 1)."""

    def __init__(self, ratings, train, test, items):
        self.ratings, self.train, self.test, self.items = ratings, train, test, items
        self.n_users = int(ratings["user_id"].max())
        self.n_items = int(max(ratings["item_id"].max(), items["item_id"].max()
                               if len(items["item_id"]) else 0))

    @classmethod
    def from_files(cls, read):
        """Build from ``read(name) -> bytes`` for u.data, u.item, ua.base, ua.test."""
        return cls(parse_ratings(read("u.data"), "u.data"),
                   parse_ratings(read("ua.base"), "ua.base"),
                   parse_ratings(read("ua.test"), "ua.test"),
                   parse_items(read("u.item"), "u.item"))

    def __repr__(self):
        return (f"<MovieLens {len(self.ratings['rating'])} ratings, {self.n_users} users, "
                f"{self.n_items} items>")


class _MovieLens100k:
    """``movielens_100k.load_data()``: the GroupLens MovieLens-100k release from the cache."""

    name = "movielens"

    def load_data(self, download=True):
        """A ``MovieLens`` object read from ``movielens/ml-100k/`` (extracted) or
        ``movielens/ml-100k.zip`` (SHA-256 checked; fetched when missing and allowed)."""
        folder = os.path.join(cache_dir(), "movielens")
        extracted = os.path.join(folder, "ml-100k")
        if os.path.exists(os.path.join(extracted, "u.data")):
            def read(name):
                with open(os.path.join(extracted, name), "rb") as f:
                    return f.read()
            return MovieLens.from_files(read)
        # fetch=: this module's _download, looked up now (a seam tests replace)
        path = _fetch_verified(ML_URL, ML_SHA256, os.path.join(folder, "ml-100k.zip"),
                               "movielens_100k.load_data", download,
                               hint=f"or extract it to {extracted}", fetch=_download)
        with zipfile.ZipFile(path) as z:
            names = {os.path.basename(n): n for n in z.namelist()}

            def read(name):
                if name not in names:
                    raise ValueError(f"movielens_100k.load_data: {path} lacks {name}")
                return z.read(names[name])
            return MovieLens.from_files(read)

    def __repr__(self):
        return "<lamina dataset movielens_100k>"


movielens_100k = _MovieLens100k()


# ------------------------------------------------------------------ synthetic ratings
def _ratings_text(u, i, r, t):
    return "".join(f"{a}\t{b}\t{c}\t{d}\n" for a, b, c, d in zip(u, i, r, t)).encode("ascii")


def synthetic_movielens(n_users=943, n_items=1682, n_ratings=100_000, rank=5, noise=0.5,
                        seed=0, folder=None):
    """A generated ratings table shaped like MovieLens-100k, as a ``MovieLens`` object.

    Ratings follow a low-rank model, ``round(c + b_user + b_item + <p_user, q_item> +
    noise)`` clipped to 1..5 (``c`` puts the mean near MovieLens's 3.5), with
    ``rank``-dimensional factors.  Items are chosen with a popularity bias (Zipf-like
    weights; popular items are also rated higher on average) and a taste bias (a user
    picks items whose factors match theirs more often).  Each user rates at least 20 items; ten ratings per user are held out as ``ua.test``.  With
    ``folder`` the files ``u.data``, ``u.item``, ``ua.base``, ``ua.test`` are written there
    in the MovieLens format (and the returned object is parsed from those bytes).
    """
    if n_ratings < 20 * n_users or n_ratings > n_users * n_items // 2:
        raise ValueError(f"synthetic_movielens: n_ratings={n_ratings} must lie in "
                         f"[20 * n_users, n_users * n_items / 2] = "
                         f"[{20 * n_users}, {n_users * n_items // 2}]")
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.9
    pop = pop[rng.permutation(n_items)]
    p = rng.normal(0, 1 / np.sqrt(rank), (n_users, rank))
    q = rng.normal(0, 1 / np.sqrt(rank), (n_items, rank))
    b_user = rng.normal(0, 0.35, n_users)
    b_item = rng.normal(0, 0.3, n_items) + 0.5 * (np.log(pop) - np.log(pop).mean()) / \
        np.log(pop).std()
    activity = rng.pareto(1.5, n_users) + 1
    counts = 20 + np.floor((n_ratings - 20 * n_users) * activity / activity.sum()).astype(int)
    counts = np.minimum(counts, n_items // 2)
    while counts.sum() < n_ratings:              # hand what the cap cut to users with room
        room = np.nonzero(counts < n_items // 2)[0]
        give = rng.choice(room, size=min(len(room), n_ratings - counts.sum()), replace=False)
        counts[give] += 1
    users, items = [], []
    for u in range(n_users):
        # people mostly watch what they like: taste tilts the popularity weights
        w = pop * np.exp(1.5 * (q @ p[u]) * np.sqrt(rank))
        chosen = rng.choice(n_items, size=counts[u], replace=False, p=w / w.sum())
        users.append(np.full(counts[u], u))
        items.append(chosen)
    uu, ii = np.concatenate(users), np.concatenate(items)
    score = 3.5 + b_user[uu] + b_item[ii] + 0.75 * np.sum(p[uu] * q[ii], axis=1) * \
        np.sqrt(rank) + rng.normal(0, noise, len(uu))
    score += 3.55 - score.mean()              # the popular items' bias would lift the mean
    rating = np.clip(np.round(score), 1, 5).astype(int)
    ts = 874_724_710 + np.sort(rng.integers(0, 20_000_000, len(uu)))[rng.permutation(len(uu))]
    order = rng.permutation(len(uu))
    uu, ii, rating, ts = uu[order] + 1, ii[order] + 1, rating[order], ts[order]
    # ua split: each user's ten ratings held out
    test = np.zeros(len(uu), bool)
    for u in range(1, n_users + 1):
        test[rng.permutation(np.nonzero(uu == u)[0])[:10]] = True
    # ua.base/ua.test are sorted by user then item, as in the release
    srt = np.lexsort((ii, uu))
    files = {
        "u.data": _ratings_text(uu, ii, rating, ts),
        "ua.base": _ratings_text(*(a[srt][~test[srt]] for a in (uu, ii, rating, ts))),
        "ua.test": _ratings_text(*(a[srt][test[srt]] for a in (uu, ii, rating, ts))),
    }
    lines = []
    for k in range(n_items):
        g = np.zeros(len(GENRES), int)
        g[1 + rng.integers(0, len(GENRES) - 1, 1 + rng.integers(0, 3))] = 1
        lines.append(f"{k + 1}|Synthetic movie {k + 1} (199{k % 8})|01-Jan-199{k % 8}||"
                     f"http://example.invalid/{k + 1}|" + "|".join(map(str, g)))
    files["u.item"] = ("\n".join(lines) + "\n").encode("latin-1")
    if folder is not None:
        os.makedirs(folder, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
    return MovieLens.from_files(files.__getitem__)


# ------------------------------------------------------------------ topic corpus
TOPICS = {
    "sports": "match team goal player coach season score league win referee stadium ball "
              "championship tournament defender striker race medal",
    "science": "experiment theory data physics cell energy molecule laboratory research "
               "hypothesis telescope planet gene measurement particle chemistry",
    "cooking": "recipe oven flour butter sauce garlic onion bake dish spices pan salt pepper "
               "chef dessert taste",
    "music": "song album guitar concert band melody rhythm singer piano chorus drums lyrics "
             "orchestra tune stage jazz",
}
_COMMON = ("the a of and to in is it that was for on with as at by this from they we "
           "said there about very new good great some people time year day week really "
           "just also more many first last often never not")


def topic_corpus(n_docs=2000, min_len=12, max_len=40, topic_rate=0.25, seed=0):
    """A generated topic-labelled corpus: ``(texts, labels, topic_names)``, ``texts`` a
    list of ``n_docs`` lowercase strings, ``labels`` int64 (n_docs,) indices into
    ``topic_names`` (the keys of ``TOPICS``).

    Each document mixes common words with its topic's keywords (each word is a keyword of
    its topic with probability ``topic_rate``, and one of another topic's with probability
    ``topic_rate / 4``, so single words mislead and the classifier must pool evidence).
    """
    rng = np.random.default_rng(seed)
    names = list(TOPICS)
    vocab = [TOPICS[n].split() for n in names]
    common = _COMMON.split()
    labels = rng.integers(0, len(names), n_docs)
    texts = []
    for lab in labels:
        n = int(rng.integers(min_len, max_len + 1))
        u = rng.random(n)
        words = []
        for k in range(n):
            if u[k] < topic_rate:
                words.append(vocab[lab][rng.integers(len(vocab[lab]))])
            elif u[k] < topic_rate * 1.25:
                other = (lab + 1 + rng.integers(len(names) - 1)) % len(names)
                words.append(vocab[other][rng.integers(len(vocab[other]))])
            else:
                words.append(common[rng.integers(len(common))])
        texts.append(" ".join(words))
    return texts, labels.astype(np.int64), names


# ------------------------------------------------------------------ French numbers
_UNITS = ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf",
          "dix", "onze", "douze", "treize", "quatorze", "quinze", "seize"]
_TENS = {2: "vingt", 3: "trente", 4: "quarante", 5: "cinquante", 6: "soixante"}


def _below_100(n, final):
    if n < 17:
        return _UNITS[n]
    if n < 20:
        return "dix-" + _UNITS[n - 10]
    tens, unit = divmod(n, 10)
    if tens == 7:                                   # 70-79: soixante + 10..19
        return "soixante et onze" if n == 71 else "soixante-" + _below_100(n - 60, final)
    if tens == 8:                                   # quatre-vingts takes its s only last
        if unit == 0:
            return "quatre-vingts" if final else "quatre-vingt"
        return "quatre-vingt-" + _UNITS[unit]
    if tens == 9:                                   # 90-99: quatre-vingt + 10..19
        return "quatre-vingt-" + _below_100(n - 80, final)
    if unit == 0:
        return _TENS[tens]
    return _TENS[tens] + (" et un" if unit == 1 else "-" + _UNITS[unit])


def _below_1000(n, final):
    hundreds, rest = divmod(n, 100)
    words = []
    if hundreds:
        # "cents" is plural only when it ends the number (deux cents, deux cent un,
        # deux cent mille)
        words.append("cent" if hundreds == 1 else
                     _UNITS[hundreds] + (" cents" if rest == 0 and final else " cent"))
    if rest:
        words.append(_below_100(rest, final))
    return " ".join(words)


def french_number(n, style="traditional"):
    """``n`` (1 to 999,999) written in French words.

    ``style='traditional'``: hyphens inside the tens (dix-sept, quatre-vingt-dix), spaces
    elsewhere (vingt et un, deux cents, trois mille); ``'1990'``: the 1990 spelling reform,
    every word joined by hyphens (vingt-et-un, deux-cents, trois-mille).  Both: "et un" in
    21..61 and 71 (soixante et onze) but not 81/91; quatre-vingts and cents take an s only
    at the end of the number; mille is invariable and never preceded by "un".
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"french_number: expected an int, got {type(n).__name__}")
    if not 1 <= n <= 999_999:
        raise ValueError(f"french_number: n must lie in 1..999999, got {n}")
    if style not in ("traditional", "1990"):
        raise ValueError(f"french_number: style must be 'traditional' or '1990', got {style!r}")
    thousands, rest = divmod(int(n), 1000)
    words = []
    if thousands:
        words.append("mille" if thousands == 1 else _below_1000(thousands, False) + " mille")
    if rest:
        words.append(_below_1000(rest, True))
    text = " ".join(words)
    return text.replace(" ", "-") if style == "1990" else text


def french_number_pairs(n_train=20_000, n_test=2_000, seed=0, style="traditional",
                        max_value=999_999):
    """French number phrases and their digits for translation: ``((train_phrases,
    train_digits), (test_phrases, test_digits))``, lists of str; the numbers are distinct,
    drawn from 1..``max_value``, and train and test never share one.  The train split
    always contains 1..20 and the round numbers 30..100, so every word appears in it."""
    if n_train + n_test > max_value:
        raise ValueError(f"french_number_pairs: {n_train}+{n_test} distinct numbers do not "
                         f"fit in 1..{max_value}")
    rng = np.random.default_rng(seed)
    must = [k for k in list(range(1, 21)) + list(range(30, 101, 10)) + [1000, 200, 80_000]
            if k <= max_value]
    if n_train < len(must):
        raise ValueError(f"french_number_pairs: n_train={n_train} is below the "
                         f"{len(must)} numbers every train split holds")
    rest = np.setdiff1d(np.arange(1, max_value + 1), must)
    extra = rng.choice(rest, size=n_train + n_test - len(must), replace=False)
    train = list(must) + [int(k) for k in extra[:n_train - len(must)]]
    test = [int(k) for k in extra[n_train - len(must):]]
    rng.shuffle(train)
    return tuple(([french_number(k, style) for k in ks], [str(k) for k in ks])
                 for ks in (train, test))
