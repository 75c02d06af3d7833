"""Lab 7: a character-level language model with an LSTM.

The model reads a window of characters and predicts, at every position, the next one
(``Embedding -> LSTM(return_sequences=True) -> Dense(softmax)``, a cross-entropy per
character).  It is judged by its *perplexity* on held-out text, ``exp(mean cross-entropy)``:
the number of characters it hesitates between on average; a model that only knows the
character frequencies (unigram) is the baseline.  Then it writes text by sampling one
character at a time with a *temperature* (low: safe and repetitive, high: inventive and
noisy).

Text: the Python license shipped with the standard library (``LICENSE.txt`` next to the
stdlib modules), or, where a distribution strips it, the docstrings of a few stdlib modules.

    python examples/07_char_language_model.py            # a few minutes
    python examples/07_char_language_model.py --quick    # a few seconds
"""
import os
import sysconfig

import numpy as np

from _common import is_quick, result

from lamina import keras
from lamina.text import sample_with_temperature

QUICK = is_quick()
SEQ, HIDDEN = 40, 128
EPOCHS = 2 if QUICK else 10
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
L = keras.layers


def load_text():
    """The Python license text, or stdlib docstrings when it is not installed."""
    path = os.path.join(sysconfig.get_paths()["stdlib"], "LICENSE.txt")
    if os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            return path, f.read()
    import argparse, collections, json, logging, os as os_, textwrap  # noqa: E401
    docs = [m.__doc__ or "" for m in (argparse, collections, json, logging, os_, textwrap)]
    return "stdlib docstrings", "\n".join(docs)


source, text = load_text()
text = " ".join(text.split())             # one space between words: fewer wasted symbols
chars = sorted(set(text))
index = {c: i for i, c in enumerate(chars)}
ids = np.array([index[c] for c in text], np.int32)
# every tenth block of 1,000 characters is held out, so that both parts mix the license's
# prose and its upper-case disclaimers
block = np.arange(len(ids)) // 1000
train_ids, valid_ids = ids[block % 10 != 5], ids[block % 10 == 5]
print(f"{source}: {len(text)} characters, {len(chars)} distinct")


def windows(seq, step):
    """Inputs seq[s:s+SEQ] and targets seq[s+1:s+SEQ+1] for s = 0, step, 2*step, ..."""
    starts = np.arange(0, len(seq) - SEQ - 1, step)
    x = np.stack([seq[s:s + SEQ] for s in starts])
    y = np.stack([seq[s + 1:s + SEQ + 1] for s in starts])
    return x, y


x_train, y_train = windows(train_ids, step=6 if QUICK else 2)
x_valid, y_valid = windows(valid_ids, step=SEQ)

freq = np.bincount(train_ids, minlength=len(chars)) + 1.0
freq /= freq.sum()
unigram_ppl = float(np.exp(-np.log(freq[y_valid]).mean()))
print(f"unigram perplexity (character frequencies only): {unigram_ppl:.2f}")
result("unigram_perplexity", unigram_ppl)

model = keras.Sequential([
    keras.Input(shape=(None,), dtype="int32"),
    L.Embedding(len(chars), 32),
    L.LSTM(HIDDEN, return_sequences=True),
    L.Dense(len(chars), activation="softmax"),
])
model.compile(optimizer=keras.optimizers.Adam(0.005), loss="sparse_categorical_crossentropy")
model.fit(x_train, y_train, batch_size=32, epochs=EPOCHS, validation_data=(x_valid, y_valid),
          verbose=2)
valid_loss = model.evaluate(x_valid, y_valid, verbose=0)
valid_loss = valid_loss[0] if isinstance(valid_loss, (list, tuple)) else valid_loss
ppl = float(np.exp(valid_loss))
print(f"LSTM validation perplexity: {ppl:.2f}")
result("lstm_perplexity", ppl)


def generate(seed_text, n, temperature):
    """Extend ``seed_text`` by ``n`` sampled characters (the model sees the last SEQ)."""
    out = [index[c] for c in seed_text if c in index]
    for _ in range(n):
        window = np.array([out[-SEQ:]], np.int32)
        probs = model.predict_on_batch(window)[0, -1]
        out.append(sample_with_temperature(probs, temperature, rng))
    return "".join(chars[i] for i in out)


seed = text[5000:5000 + SEQ]
for t in (0.2, 0.5, 1.0):
    print(f"--- temperature {t}:\n{generate(seed, 100 if QUICK else 300, t)}")
