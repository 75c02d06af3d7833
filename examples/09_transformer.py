"""Lab 9: Transformers from scratch.

1. An encoder classifier: token + learned position embeddings
   (``TokenAndPositionEmbedding``), a ``TransformerEncoder`` block (multi-head
   self-attention and a feed-forward network, each with a residual connection and layer
   norm), average pooling over the words and a softmax.  Data: the generated topic corpus.
2. A causal language model over characters: the same embeddings, ``TransformerDecoder``
   blocks without an encoder (self-attention with a causal mask, so position t only sees
   positions <= t), and a softmax over the next character at every position, like GPT.
   Judged by its held-out perplexity against the character-frequency baseline, then
   sampled with a temperature.  Text: the Python license (as in lab 7).

    python examples/09_transformer.py            # a few minutes
    python examples/09_transformer.py --quick    # a few seconds
"""
import os
import sysconfig

import numpy as np

from _common import is_quick, result

from lamina import keras
from lamina.data import topic_corpus
from lamina.text import Tokenizer, sample_with_temperature

QUICK = is_quick()
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
L = keras.layers

# ---------------------------------------------------------------- 1. encoder classifier
N_DOCS, EPOCHS = (1200, 3) if QUICK else (5000, 6)
MAXLEN = 40
texts, labels, topics = topic_corpus(n_docs=N_DOCS, seed=1)
n_test = N_DOCS // 5
tok = Tokenizer(num_words=2000)
tok.fit_on_texts(texts[n_test:])
x = keras.utils.pad_sequences(tok.texts_to_sequences(texts), maxlen=MAXLEN, padding="post")
vocab = min(2000, len(tok.word_index) + 1)

inp = keras.Input(shape=(MAXLEN,), dtype="int32")
h = L.TokenAndPositionEmbedding(vocab, MAXLEN, 64, mask_zero=True)(inp)
h = L.TransformerEncoder(intermediate_dim=128, num_heads=4, dropout=0.1)(h)
h = L.GlobalAveragePooling1D()(h)
classifier = keras.Model(inp, L.Dense(len(topics), activation="softmax")(h))
classifier.compile(optimizer=keras.optimizers.Adam(0.002),
                   loss="sparse_categorical_crossentropy", metrics=["accuracy"])
classifier.fit(x[n_test:], labels[n_test:], batch_size=32, epochs=EPOCHS, verbose=2)
acc = classifier.evaluate(x[:n_test], labels[:n_test], verbose=0)[1]
print(f"Transformer encoder classifier: test accuracy {acc:.3f} (chance {1 / len(topics):.2f})")
result("encoder_accuracy", acc)

# ---------------------------------------------------------------- 2. causal language model
SEQ, D_MODEL, LAYERS = 64, 64, (1 if QUICK else 2)
LM_EPOCHS = 3 if QUICK else 6
path = os.path.join(sysconfig.get_paths()["stdlib"], "LICENSE.txt")
if os.path.exists(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
else:                                   # a distribution without the license file
    import argparse, json, logging  # noqa: E401
    text = "\n".join(m.__doc__ or "" for m in (argparse, json, logging))
text = " ".join(text.split())
chars = sorted(set(text))
ids = np.array([chars.index(c) + 1 for c in text], np.int32)    # 0 stays free (padding)
block = np.arange(len(ids)) // 1000                 # every tenth 1,000-char block held out
train_ids, valid_ids = ids[block % 10 != 5], ids[block % 10 == 5]


def windows(seq, step):
    starts = np.arange(0, len(seq) - SEQ - 1, step)
    return (np.stack([seq[s:s + SEQ] for s in starts]),
            np.stack([seq[s + 1:s + SEQ + 1] for s in starts]))


x_lm, y_lm = windows(train_ids, 8 if QUICK else 2)
x_val, y_val = windows(valid_ids, SEQ)
V = len(chars) + 1
freq = np.bincount(train_ids, minlength=V) + 1.0
freq /= freq.sum()
unigram_ppl = float(np.exp(-np.log(freq[y_val]).mean()))

inp = keras.Input(shape=(None,), dtype="int32")
h = L.TokenAndPositionEmbedding(V, SEQ, D_MODEL)(inp)
for _ in range(LAYERS):
    h = L.TransformerDecoder(intermediate_dim=4 * D_MODEL, num_heads=4)(h)
lm_model = keras.Model(inp, L.Dense(V, activation="softmax")(h))
lm_model.compile(optimizer=keras.optimizers.Adam(0.002), loss="sparse_categorical_crossentropy")
lm_model.fit(x_lm, y_lm, batch_size=32, epochs=LM_EPOCHS, validation_data=(x_val, y_val),
             verbose=2)
val_loss = lm_model.evaluate(x_val, y_val, verbose=0)
val_loss = val_loss[0] if isinstance(val_loss, (list, tuple)) else val_loss
ppl = float(np.exp(val_loss))
print(f"causal Transformer LM: validation perplexity {ppl:.2f} "
      f"(character frequencies: {unigram_ppl:.2f})")
result("lm_perplexity", ppl)
result("unigram_perplexity", unigram_ppl)

# causality: changing a later character must not change earlier predictions
probe = x_val[:1].copy()
before = lm_model.predict_on_batch(probe)[0, :SEQ // 2]
probe[0, SEQ // 2:] = rng.integers(1, V, SEQ - SEQ // 2)
after = lm_model.predict_on_batch(probe)[0, :SEQ // 2]
leak = float(np.abs(before - after).max())
print(f"largest change of an earlier prediction when later characters change: {leak:.2e}")
result("causal_leak", leak)

out = list(ids[5000:5000 + SEQ // 2])
for t in (0.3, 0.8):
    seq = list(out)
    for _ in range(80 if QUICK else 240):
        p = lm_model.predict_on_batch(np.array([seq[-SEQ:]], np.int32))[0, -1]
        p[0] = 0.0                                  # never the padding id
        seq.append(sample_with_temperature(p / p.sum(), t, rng))
    print(f"--- temperature {t}:\n" + "".join(chars[i - 1] for i in seq))
