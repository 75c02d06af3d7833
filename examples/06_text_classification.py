"""Lab 6: text classification with word embeddings.

Three classifiers read the same padded sequences of word ids:

* averaged embeddings (fastText-like): ``Embedding -> GlobalAveragePooling1D -> Dense``,
* a 1-d convolution over word windows: ``Embedding -> Conv1D -> GlobalMaxPooling1D -> Dense``,
* a recurrent reader: ``Embedding(mask_zero=True) -> LSTM -> Dense`` (the padding is masked).

Data: the generated topic corpus (``lamina.data.topic_corpus``: four topics, documents mixing
common words with topic keywords and a few misleading ones), tokenized with the legacy
Keras ``Tokenizer`` (``lamina.text.Tokenizer``) and ``pad_sequences``.  When the IMDB
reviews are cached (``keras.datasets.imdb``) the averaged-embedding model is also trained
on them.

    python examples/06_text_classification.py            # about a minute
    python examples/06_text_classification.py --quick    # a few seconds
"""

from _common import is_quick, result

from lamina import keras
from lamina.data import topic_corpus
from lamina.text import Tokenizer

QUICK = is_quick()
N_DOCS, EPOCHS = (1200, 4) if QUICK else (5000, 8)
MAXLEN = 40
keras.utils.set_random_seed(0)
L = keras.layers

# ---------------------------------------------------------------- data
texts, labels, topics = topic_corpus(n_docs=N_DOCS, seed=0)
n_test = N_DOCS // 5
tokenizer = Tokenizer(num_words=2000)        # the legacy Keras tokenizer
tokenizer.fit_on_texts(texts[n_test:])                  # the vocabulary of the train part
seqs = tokenizer.texts_to_sequences(texts)
x = keras.utils.pad_sequences(seqs, maxlen=MAXLEN)      # (N, 40) ids, 0 = padding
x_train, y_train, x_test, y_test = x[n_test:], labels[n_test:], x[:n_test], labels[:n_test]
vocab = min(2000, len(tokenizer.word_index) + 1)
print(f"{N_DOCS} documents, topics {topics}, vocabulary {vocab}, e.g. {texts[0][:70]!r}")


def averaged(vocab, n_out, dim=32):
    """fastText-like: the mean of the word vectors, then a linear classifier."""
    return keras.Sequential([keras.Input(shape=(None,), dtype="int32"),
                             L.Embedding(vocab, dim), L.GlobalAveragePooling1D(),
                             L.Dense(n_out, activation="softmax")])


def convolutional(vocab, n_out, dim=32):
    """Filters over 3-word windows, max-pooled over the document."""
    return keras.Sequential([keras.Input(shape=(None,), dtype="int32"),
                             L.Embedding(vocab, dim), L.Conv1D(64, 3, activation="relu"),
                             L.GlobalMaxPooling1D(), L.Dense(n_out, activation="softmax")])


def recurrent(vocab, n_out, dim=32):
    """An LSTM reads the words in order (padding masked); its last state classifies."""
    return keras.Sequential([keras.Input(shape=(None,), dtype="int32"),
                             L.Embedding(vocab, dim, mask_zero=True), L.LSTM(32),
                             L.Dense(n_out, activation="softmax")])


def train(name, model, data, epochs, lr=0.01):
    (xtr, ytr), (xte, yte) = data
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(xtr, ytr, batch_size=32, epochs=epochs, verbose=0 if QUICK else 2)
    _, acc = model.evaluate(xte, yte, verbose=0)
    print(f"{name}: test accuracy {acc:.3f}")
    result(f"{name}_accuracy", acc)
    return model


data = ((x_train, y_train), (x_test, y_test))
print(f"chance: {1 / len(topics):.2f}")
train("averaged_embedding", averaged(vocab, len(topics)), data, EPOCHS)
train("conv1d", convolutional(vocab, len(topics)), data, EPOCHS)
train("lstm", recurrent(vocab, len(topics)), data, EPOCHS)

# ---------------------------------------------------------------- IMDB, when cached
try:
    (xi, yi), (xti, yti) = keras.datasets.imdb.load_data(num_words=10_000)
except (FileNotFoundError, ValueError) as e:
    print(f"IMDB skipped: {str(e).splitlines()[0][:100]}...")
else:
    n = 2000 if QUICK else len(xi)
    imdb = ((keras.utils.pad_sequences(xi[:n], maxlen=200), yi[:n]),
            (keras.utils.pad_sequences(xti[:n], maxlen=200), yti[:n]))
    model = keras.Sequential([keras.Input(shape=(None,), dtype="int32"),
                              L.Embedding(10_000, 32), L.GlobalAveragePooling1D(),
                              L.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(imdb[0][0], imdb[0][1], batch_size=64, epochs=3 if QUICK else 5, verbose=0)
    acc = model.evaluate(imdb[1][0], imdb[1][1], verbose=0)[1]
    print(f"IMDB averaged embedding: test accuracy {acc:.3f}")
    result("imdb_accuracy", acc)
