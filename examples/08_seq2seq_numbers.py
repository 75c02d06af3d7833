"""Lab 8: sequence to sequence: French number phrases to digits.

"quatre-vingt-dix-sept mille trois cent deux" -> "97302".  An encoder GRU reads the words;
its final state starts a decoder GRU that writes the digits one at a time, each step fed
the previous digit (teacher forcing while training: the true previous digit).

To translate a new phrase the decoder starts from the ``_GO`` symbol and extends the
prefix until it writes ``_EOS``: *greedy* decoding takes the most likely digit at each
step; *beam search* keeps the few best prefixes by total log-probability, which can
recover when the best first digit is not part of the best whole number.  The figure of
merit is the phrase accuracy: the fraction of test numbers written exactly right.

Data: ``lamina.data.french_number_pairs`` (the spelling rules of French numbers from 1 to
999,999: vingt et un, soixante-dix, quatre-vingts, deux cents / deux cent un, mille);
train and test numbers are disjoint.

    python examples/08_seq2seq_numbers.py            # a few minutes
    python examples/08_seq2seq_numbers.py --quick    # a few seconds
"""
import numpy as np

from _common import is_quick, result

from lamina import keras
from lamina.data import french_number_pairs
from lamina.text import beam_search_decode, greedy_decode

QUICK = is_quick()
N_TRAIN, N_TEST, EPOCHS, N_BEAM = (4000, 300, 5, 60) if QUICK else (20000, 1000, 12, 300)
MAX_VALUE = 9_999 if QUICK else 999_999          # quick mode: numbers below ten thousand
keras.utils.set_random_seed(0)
L = keras.layers

# ---------------------------------------------------------------- tokens
(train_phrases, train_digits), (test_phrases, test_digits) = french_number_pairs(
    N_TRAIN, N_TEST, seed=0, max_value=MAX_VALUE)


def words(phrase):
    return phrase.replace("-", " ").split()


src_vocab = ["_PAD"] + sorted({w for p in train_phrases for w in words(p)})
src_index = {w: i for i, w in enumerate(src_vocab)}
tgt_vocab = ["_PAD", "_GO", "_EOS"] + list("0123456789")
tgt_index = {c: i for i, c in enumerate(tgt_vocab)}
GO, EOS = tgt_index["_GO"], tgt_index["_EOS"]
max_src = max(len(words(p)) for p in train_phrases + test_phrases)
max_tgt = len(str(MAX_VALUE)) + 1


def encode_src(phrases):
    return keras.utils.pad_sequences([[src_index[w] for w in words(p)] for p in phrases],
                                     maxlen=max_src, padding="post")


def encode_tgt(digits):
    """Decoder inputs ``_GO d1 .. dn`` and outputs ``d1 .. dn _EOS`` (padded with 0)."""
    seqs = [[tgt_index[c] for c in d] for d in digits]
    dec_in = keras.utils.pad_sequences([[GO] + s for s in seqs], maxlen=max_tgt,
                                       padding="post")
    dec_out = keras.utils.pad_sequences([s + [EOS] for s in seqs], maxlen=max_tgt,
                                        padding="post")
    return dec_in, dec_out


x_train, x_test = encode_src(train_phrases), encode_src(test_phrases)
dec_in, dec_out = encode_tgt(train_digits)
print(f"{len(src_vocab)} source words, e.g. {test_phrases[0]!r} -> {test_digits[0]}")

# ---------------------------------------------------------------- model
HIDDEN = 128 if QUICK else 256
enc_in = keras.Input(shape=(None,), dtype="int32", name="phrase")
h = L.Embedding(len(src_vocab), 64, mask_zero=True)(enc_in)
_, state = L.GRU(HIDDEN, return_state=True, name="encoder")(h)
dec_inp = keras.Input(shape=(None,), dtype="int32", name="digits_so_far")
d = L.Embedding(len(tgt_vocab), 32)(dec_inp)
d = L.GRU(HIDDEN, return_sequences=True, name="decoder")(d, initial_state=state)
probs = L.Dense(len(tgt_vocab), activation="softmax")(d)
model = keras.Model([enc_in, dec_inp], probs)
model.compile(optimizer=keras.optimizers.Adam(0.005), loss="sparse_categorical_crossentropy")
# padding positions after _EOS carry no loss
weights = (dec_out != 0).astype(np.float32)
model.fit([x_train, dec_in], dec_out, sample_weight=weights, batch_size=64, epochs=EPOCHS,
          verbose=2)


# ---------------------------------------------------------------- decoding
def to_text(tokens):
    return "".join(tgt_vocab[t] for t in tokens if t > EOS)


def greedy_batch(x):
    """Greedy decoding of many phrases at once: (N, max_src) ids -> list of digit strings."""
    prefix = np.full((len(x), 1), GO, np.int32)
    for _ in range(max_tgt):
        p = model.predict_on_batch([x, prefix])[:, -1]
        prefix = np.concatenate([prefix, p.argmax(-1)[:, None].astype(np.int32)], axis=1)
    out = []
    for row in prefix[:, 1:]:
        row = list(row)
        out.append(to_text(row[:row.index(EOS)] if EOS in row else row))
    return out


def step_fn(src_ids):
    """The decoder's next-digit log-probabilities for one phrase, given a prefix."""
    def step(prefix):
        p = model.predict_on_batch([src_ids[None], np.array([prefix], np.int32)])[0, -1]
        return np.log(np.maximum(p, 1e-12))
    return step


greedy = greedy_batch(x_test)
acc = np.mean([g == t for g, t in zip(greedy, test_digits)])
print(f"greedy decoding: phrase accuracy {acc:.3f} on {N_TEST} test numbers")
result("greedy_phrase_accuracy", acc)

# beam search on the first N_BEAM test phrases, with greedy (one prefix at a time, through
# lamina.text.greedy_decode) on the same phrases for comparison
hits_beam = hits_greedy = 0
for i in range(N_BEAM):
    step = step_fn(x_test[i])
    g = to_text(greedy_decode(step, [GO], max_tgt + 1, end_token=EOS))
    beams = beam_search_decode(step, [GO], max_tgt + 1, beam_width=3, end_token=EOS)
    b = to_text(beams[0][0])
    hits_greedy += g == test_digits[i]
    hits_beam += b == test_digits[i]
    if i < 5:
        print(f"{test_phrases[i]!r}: greedy {g}, beam {b}, truth {test_digits[i]}")
print(f"on {N_BEAM} phrases: greedy {hits_greedy / N_BEAM:.3f}, beam search (width 3) "
      f"{hits_beam / N_BEAM:.3f}")
result("beam_phrase_accuracy", hits_beam / N_BEAM)
result("greedy_subset_accuracy", hits_greedy / N_BEAM)
