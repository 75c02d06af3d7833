"""Sequence datasets: IMDB from lamina's pickle-free cache with Keras's load_data semantics,
MovieLens-100k from small files in the real formats (TSV, latin-1 pipe-separated, the
zip with its checksum), and the generated stand-ins (ratings, topic corpus, French
numbers)."""
from __future__ import annotations

import hashlib
import json
import zipfile

import numpy as np
import pytest

from lamina.data import text_datasets as T


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path))

    def offline(url, dest, timeout=30):
        raise OSError("network unreachable (test)")
    monkeypatch.setattr(T, "_download", offline)
    return tmp_path


# ------------------------------------------------------------------ IMDB
RAW_TRAIN = [[5, 1, 9], [2, 2, 2, 2, 7], [3], [8, 4]]
RAW_TEST = [[1, 6], [9, 9, 9, 9, 9, 9], [4, 5, 6]]
Y_TRAIN, Y_TEST = [1, 0, 1, 0], [0, 1, 1]


def keras_reference(num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1,
                    oov_char=2, index_from=3):
    """Keras 3's imdb.load_data algorithm, written out on the raw lists."""
    rng = np.random.RandomState(seed)
    out = []
    for x, y in ((RAW_TRAIN, Y_TRAIN), (RAW_TEST, Y_TEST)):
        idx = np.arange(len(x))
        rng.shuffle(idx)
        x = [list(x[i]) for i in idx]
        y = np.asarray(y)[idx]
        if start_char is not None:
            x = [[start_char] + [w + index_from for w in s] for s in x]
        elif index_from:
            x = [[w + index_from for w in s] for s in x]
        if maxlen:
            keep = [i for i, s in enumerate(x) if len(s) < maxlen]
            x, y = [x[i] for i in keep], y[keep]
        out.append((x, y))
    xs = out[0][0] + out[1][0]
    nw = num_words or max(max(s) for s in xs)
    if oov_char is not None:
        xs = [[w if skip_top <= w < nw else oov_char for w in s] for s in xs]
    else:
        xs = [[w for w in s if skip_top <= w < nw] for s in xs]
    n = len(out[0][0])
    return (xs[:n], out[0][1]), (xs[n:], out[1][1])


@pytest.fixture
def imdb_file(home):
    path = home / "datasets" / "imdb" / "imdb_tokens.npz"
    T.save_imdb_tokens(str(path), (RAW_TRAIN, Y_TRAIN), (RAW_TEST, Y_TEST))
    return path


@pytest.mark.parametrize("kwargs", [
    {}, {"num_words": 10}, {"num_words": 11, "skip_top": 5}, {"maxlen": 5},
    {"seed": 7, "start_char": None, "index_from": 0}, {"num_words": 9, "oov_char": None},
])
def test_imdb_matches_keras_semantics(imdb_file, kwargs):
    (xtr, ytr), (xte, yte) = T.imdb.load_data(**kwargs)
    (rxtr, rytr), (rxte, ryte) = keras_reference(**kwargs)
    assert xtr.dtype == object and ytr.dtype == np.int64
    assert [list(s) for s in xtr] == rxtr and [list(s) for s in xte] == rxte
    np.testing.assert_array_equal(ytr, rytr)
    np.testing.assert_array_equal(yte, ryte)


def test_imdb_file_is_plain_arrays_and_checksummed(imdb_file):
    with np.load(imdb_file, allow_pickle=False) as f:     # readable without pickle
        assert f["x_train_tokens"].dtype == np.int32
        np.testing.assert_array_equal(f["x_train_offsets"], [0, 3, 8, 9, 11])
    data = bytearray(imdb_file.read_bytes())
    data[-30] ^= 0xFF
    imdb_file.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        T.imdb.load_data()


def test_imdb_rejects_bad_offsets_and_object_arrays(home):
    folder = home / "datasets" / "imdb"
    folder.mkdir(parents=True)
    good = dict(x_train_tokens=np.arange(5, dtype=np.int32), x_train_offsets=np.array([0, 2, 5]),
                y_train=np.array([0, 1]), x_test_tokens=np.arange(2, dtype=np.int32),
                x_test_offsets=np.array([0, 2]), y_test=np.array([1]))
    np.savez(folder / "imdb_tokens.npz", **dict(good, x_train_offsets=np.array([0, 3, 4])))
    with pytest.raises(ValueError, match="offsets"):
        T.imdb.load_data()
    # a Keras-style object array needs pickle: refused instead of unpickled
    obj = np.empty(2, dtype=object)
    obj[:] = [[1, 2], [3]]
    np.savez(folder / "imdb_tokens.npz", **dict(good, x_train_tokens=obj))
    with pytest.raises(ValueError, match="pickle"):
        T.imdb.load_data()


def test_imdb_missing_file_and_too_small_maxlen(home, imdb_file):
    with pytest.raises(ValueError, match="maxlen=2"):
        T.imdb.load_data(maxlen=2)
    imdb_file.unlink()
    with pytest.raises(FileNotFoundError, match="save_imdb_tokens"):
        T.imdb.load_data()


def test_imdb_word_index_from_json(home):
    folder = home / "datasets" / "imdb"
    folder.mkdir(parents=True)
    (folder / "imdb_word_index.json").write_text(json.dumps({"the": 1, "film": 19}))
    from lamina import keras
    assert keras.datasets.imdb.get_word_index() == {"the": 1, "film": 19}
    (folder / "imdb_word_index.json").write_text(json.dumps(["the", "film"]))
    with pytest.raises(ValueError, match="word -> int"):
        T.imdb.get_word_index()


# ------------------------------------------------------------------ MovieLens
U_DATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n" \
         "196\t377\t5\t881251000\n"
UA_BASE = "22\t377\t1\t878887116\n196\t242\t3\t881250949\n"
UA_TEST = "186\t302\t3\t891717742\n196\t377\t5\t881251000\n"
FLAGS = "|".join(["0"] * 5 + ["1"] + ["0"] * 13)
U_ITEM = (f"242|Kolya (1996)|24-Jan-1997||http://us.imdb.com/M/title-exact?Kolya%20(1996)|"
          f"{FLAGS}\n"
          f"302|L.A. Confidential (1997)|01-Jan-1997||http://us.imdb.com/x|{FLAGS}\n"
          f"377|Heavyweights (1994)|01-Jan-1994||http://us.imdb.com/y|{FLAGS}\n"
          f"1|Misérables, Les (1995)|01-Jan-1995||http://us.imdb.com/z|{FLAGS}\n")


def _ml_files():
    return {"u.data": U_DATA.encode(), "ua.base": UA_BASE.encode(),
            "ua.test": UA_TEST.encode(), "u.item": U_ITEM.encode("latin-1")}


def _check_small(ml):
    assert ml.n_users == 196 and ml.n_items == 377
    np.testing.assert_array_equal(ml.ratings["user_id"], [196, 186, 22, 196])
    assert ml.ratings["rating"].dtype == np.float32 and ml.ratings["timestamp"][2] == 878887116
    np.testing.assert_array_equal(ml.test["item_id"], [302, 377])
    assert ml.items["title"][3] == "Misérables, Les (1995)"       # latin-1 decoded
    assert ml.items["genres"].shape == (4, 19) and ml.items["genres"][0, 5] == 1
    assert T.GENRES[5] == "Comedy"


def test_movielens_zip_with_checksum(home, monkeypatch):
    folder = home / "datasets" / "movielens"
    folder.mkdir(parents=True)
    zpath = folder / "ml-100k.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for name, data in _ml_files().items():
            z.writestr("ml-100k/" + name, data)
    with pytest.raises(ValueError, match="SHA-256"):
        T.movielens_100k.load_data()
    monkeypatch.setattr(T, "ML_SHA256", hashlib.sha256(zpath.read_bytes()).hexdigest())
    _check_small(T.movielens_100k.load_data())


def test_movielens_extracted_folder_and_errors(home):
    with pytest.raises(FileNotFoundError, match="ml-100k.zip"):
        T.movielens_100k.load_data()
    folder = home / "datasets" / "movielens" / "ml-100k"
    folder.mkdir(parents=True)
    for name, data in _ml_files().items():
        (folder / name).write_bytes(data)
    _check_small(T.movielens_100k.load_data())
    with pytest.raises(ValueError, match="line 2 has 3"):
        T.parse_ratings("1\t2\t3\t4\n1\t2\t3\n")
    with pytest.raises(ValueError, match="u.item: line 1"):
        T.parse_items("1|x|y\n")


def test_synthetic_movielens_format_and_structure(tmp_path):
    ml = T.synthetic_movielens(n_users=120, n_items=300, n_ratings=6000, seed=1,
                               folder=str(tmp_path))
    # the written files parse back to the same data with the real-format readers
    back = T.MovieLens.from_files(lambda n: (tmp_path / n).read_bytes())
    for split in ("ratings", "train", "test"):
        for k in ("user_id", "item_id", "rating", "timestamp"):
            np.testing.assert_array_equal(getattr(ml, split)[k], getattr(back, split)[k])
    r = ml.ratings
    assert len(r["rating"]) == 6000 and set(np.unique(r["rating"])) <= {1, 2, 3, 4, 5}
    pairs = set(zip(r["user_id"].tolist(), r["item_id"].tolist()))
    assert len(pairs) == 6000                                      # no repeated rating
    assert np.all(np.bincount(ml.test["user_id"])[1:] == 10)       # ua: ten per user
    assert len(ml.train["rating"]) + len(ml.test["rating"]) == 6000
    counts = np.bincount(r["item_id"], minlength=301)[1:]
    assert np.sort(counts)[-30:].sum() > np.sort(counts)[:150].sum()  # uniform: 1/5 of it
    # low rank: a user's mean train rating predicts their test ratings better than the
    # global mean does
    tr, te = ml.train, ml.test
    umean = np.bincount(tr["user_id"], tr["rating"]) / np.maximum(np.bincount(tr["user_id"]), 1)
    mae_user = np.abs(umean[te["user_id"]] - te["rating"]).mean()
    mae_global = np.abs(tr["rating"].mean() - te["rating"]).mean()
    assert mae_user < mae_global - 0.03
    with pytest.raises(ValueError, match="n_ratings"):
        T.synthetic_movielens(n_users=10, n_items=20, n_ratings=150)


# ------------------------------------------------------------------ topic corpus
def test_topic_corpus_words_carry_the_topic():
    texts, labels, names = T.topic_corpus(n_docs=400, seed=3)
    assert len(texts) == 400 and labels.shape == (400,) and names == list(T.TOPICS)
    assert set(np.unique(labels)) == set(range(len(names)))
    # counting keywords recovers the topic for most documents, but not every single word
    kw = [set(T.TOPICS[n].split()) for n in names]
    guess = np.array([np.argmax([sum(w in k for w in t.split()) for k in kw]) for t in texts])
    assert (guess == labels).mean() > 0.85
    assert T.topic_corpus(n_docs=50, seed=3)[0] == T.topic_corpus(n_docs=50, seed=3)[0]


# ------------------------------------------------------------------ French numbers
KNOWN = {
    1: "un", 16: "seize", 17: "dix-sept", 21: "vingt et un", 22: "vingt-deux",
    31: "trente et un", 61: "soixante et un", 70: "soixante-dix", 71: "soixante et onze",
    77: "soixante-dix-sept", 80: "quatre-vingts", 81: "quatre-vingt-un",
    90: "quatre-vingt-dix", 91: "quatre-vingt-onze", 99: "quatre-vingt-dix-neuf",
    100: "cent", 101: "cent un", 200: "deux cents", 201: "deux cent un",
    280: "deux cent quatre-vingts", 1000: "mille", 1001: "mille un", 2000: "deux mille",
    1984: "mille neuf cent quatre-vingt-quatre", 21000: "vingt et un mille",
    80000: "quatre-vingt mille", 200000: "deux cent mille",
    300500: "trois cent mille cinq cents",
    999999: "neuf cent quatre-vingt-dix-neuf mille neuf cent quatre-vingt-dix-neuf",
}
KNOWN_1990 = {21: "vingt-et-un", 71: "soixante-et-onze", 200: "deux-cents",
              2000: "deux-mille", 201: "deux-cent-un", 80000: "quatre-vingt-mille",
              1001: "mille-un"}


@pytest.mark.parametrize("n,text", sorted(KNOWN.items()))
def test_french_spellings(n, text):
    assert T.french_number(n) == text


@pytest.mark.parametrize("n,text", sorted(KNOWN_1990.items()))
def test_french_spellings_1990_reform(n, text):
    assert T.french_number(n, style="1990") == text


def test_french_numbers_are_distinct_and_errors():
    sample = range(1, 100_000, 7)
    phrases = [T.french_number(k) for k in sample]
    assert len(set(phrases)) == len(phrases)
    assert not any("un mille" == p[:9] for p in phrases)
    with pytest.raises(ValueError, match="1..999999"):
        T.french_number(0)
    with pytest.raises(TypeError, match="int"):
        T.french_number(3.0)


def test_french_number_pairs_split():
    (trp, trd), (tep, ted) = T.french_number_pairs(n_train=300, n_test=100, seed=2)
    assert len(trp) == 300 and len(tep) == 100
    assert not set(trd) & set(ted)
    assert all(T.french_number(int(d)) == p for p, d in zip(trp + tep, trd + ted))
    train_words = {w for p in trp for w in p.replace("-", " ").split()}
    test_words = {w for p in tep for w in p.replace("-", " ").split()}
    assert test_words <= train_words
    with pytest.raises(ValueError, match="n_train=5"):
        T.french_number_pairs(n_train=5, n_test=5)
    with pytest.raises(ValueError, match="do not fit"):
        T.french_number_pairs(n_train=60, n_test=50, max_value=100)
