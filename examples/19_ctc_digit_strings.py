"""Lab 19: reading strings of digits with CTC (connectionist temporal classification).

A model reads a strip of handwritten digits of unknown length, and nobody tells it where
each digit sits.  A 1-D convolution looks at a few neighbouring columns at a time, a
bidirectional GRU runs across the strip's columns and, at every column, the model scores 11
classes: the 10 digits and a "blank".  The CTC loss sums the probability of every
way of spreading the label sequence over the columns (repeats of a digit merge, blanks
separate), so the model learns the alignment by itself; at test time greedy decoding takes
the best class per column, merges repeats and drops blanks.  This is how speech and
handwriting recognizers (and Keras's captcha-OCR example) are trained.

Data: the shipped 8x8 digits pasted side by side with random gaps, 1 to 4 per strip; the
test strips are built from digit images the model never saw.

    python examples/19_ctc_digit_strings.py            # about half a minute
    python examples/19_ctc_digit_strings.py --quick    # a few seconds

Writes ``ctc_strips.png`` (test strips, top to bottom in the order of the printed readings).
"""
import numpy as np

from _common import is_quick, out_path, result, write_png

import lamina as lm
from lamina import keras
from lamina.data import load_digits

QUICK = is_quick()
N_TRAIN, N_TEST, EPOCHS = (3000, 300, 8) if QUICK else (6000, 1000, 20)
MAX_DIGITS, WIDTH = 4, 40           # at most 4 digits of 8 columns, gaps of 0-1 column


def make_strips(images, labels, n, rng):
    """``n`` strips: X (n, WIDTH, 8) with time along the columns and the 8 pixels of a
    column as features; Y (n, MAX_DIGITS) with digit + 1 per position (0 pads: CTC's blank)."""
    X = np.zeros((n, WIDTH, 8), np.float32)
    Y = np.zeros((n, MAX_DIGITS), np.int64)
    for i in range(n):
        pos = int(rng.integers(0, 2))
        for j in range(int(rng.integers(1, MAX_DIGITS + 1))):
            k = int(rng.integers(len(images)))
            X[i, pos:pos + 8] = images[k].reshape(8, 8).T / 16.0
            Y[i, j] = labels[k] + 1
            pos += 8 + int(rng.integers(0, 2))
    return X, Y


def read(model, X):
    """Greedy CTC decoding of the model's per-column scores: lists of digits."""
    decoded, _ = keras.ops.ctc_decode(model.predict(X, verbose=0), np.full(len(X), WIDTH))
    return [[int(c) - 1 for c in row if c > 0] for row in decoded.numpy()[0]]


def main():
    lm.random.seed(0)
    rng = np.random.default_rng(0)
    images, labels = load_digits()
    # the test strips use digit images kept out of training
    Xtr, Ytr = make_strips(images[:1400], labels[:1400], N_TRAIN, rng)
    Xte, Yte = make_strips(images[1400:], labels[1400:], N_TEST, rng)

    model = keras.Sequential([
        keras.Input((WIDTH, 8)),
        keras.layers.Conv1D(48, 3, padding="same", activation="relu"),
        keras.layers.Bidirectional(keras.layers.GRU(48, return_sequences=True)),
        keras.layers.Dense(11),                 # per-column logits: blank + 10 digits
    ])
    model.compile(optimizer=keras.optimizers.Adam(5e-3), loss="ctc")
    history = model.fit(Xtr, Ytr, epochs=EPOCHS, batch_size=64, verbose=0)
    print(f"CTC loss: epoch 1 {history.history['loss'][0]:.3f}, "
          f"epoch {EPOCHS} {history.history['loss'][-1]:.3f}")

    truth = [[int(c) - 1 for c in row if c > 0] for row in Yte]
    guess = read(model, Xte)
    exact = np.mean([g == t for g, t in zip(guess, truth)])
    digits_right = sum(sum(a == b for a, b in zip(g, t)) for g, t in zip(guess, truth))
    n_digits = sum(len(t) for t in truth)
    for g, t in list(zip(guess, truth))[:6]:
        print(f"  true {''.join(map(str, t)):>4}   read {''.join(map(str, g)):>4}")
    print(f"test strips read exactly: {exact:.3f}; digits in place: "
          f"{digits_right / n_digits:.3f} (chance for a whole strip: below 0.001)")
    strips = np.concatenate([np.pad(x.T, ((1, 1), (0, 0))) for x in Xte[:6]], axis=0)
    write_png(out_path("ctc_strips.png"), np.kron(strips, np.ones((4, 4))))   # 4x larger
    result("sequence_accuracy", exact)
    result("final_loss", history.history["loss"][-1])


if __name__ == "__main__":
    main()
