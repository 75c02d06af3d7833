"""Text utilities (lamina/text.py): pad_sequences, the legacy Tokenizer, sampling and
decoding helpers; against Keras's own implementations when Keras is installed."""
import os

import numpy as np
import pytest

from lamina.text import (Tokenizer, beam_search_decode, greedy_decode, pad_sequences,
                         sample_with_temperature, text_to_word_sequence)

SEQS = [[1], [2, 3], [4, 5, 6], []]


def test_pad_sequences_pre_post_truncate_value_dtype():
    np.testing.assert_array_equal(pad_sequences(SEQS),
                                  [[0, 0, 1], [0, 2, 3], [4, 5, 6], [0, 0, 0]])
    np.testing.assert_array_equal(pad_sequences(SEQS, padding="post"),
                                  [[1, 0, 0], [2, 3, 0], [4, 5, 6], [0, 0, 0]])
    np.testing.assert_array_equal(pad_sequences(SEQS, maxlen=2), [[0, 1], [2, 3], [5, 6],
                                                                  [0, 0]])
    np.testing.assert_array_equal(pad_sequences(SEQS, maxlen=2, truncating="post"),
                                  [[0, 1], [2, 3], [4, 5], [0, 0]])
    out = pad_sequences(SEQS, value=-1.5, dtype="float32", maxlen=4)
    assert out.dtype == np.float32 and out[0, 0] == -1.5 and out.shape == (4, 4)
    assert pad_sequences(SEQS).dtype == np.int32
    with pytest.raises(ValueError, match="padding"):
        pad_sequences(SEQS, padding="middle")
    with pytest.raises(ValueError, match="dtype"):
        pad_sequences(SEQS, value="x")
    seq2 = [np.ones((2, 3)), np.ones((1, 3))]
    assert pad_sequences(seq2, dtype="float32").shape == (2, 2, 3)


def test_tokenizer_index_sequences_oov_num_words():
    texts = ["The cat sat. The dog!", "a cat, a dog; the end"]
    tok = Tokenizer()
    tok.fit_on_texts(texts)
    assert tok.word_index == {"the": 1, "cat": 2, "dog": 3, "a": 4, "sat": 5, "end": 6}
    assert tok.texts_to_sequences(["the bird sat"]) == [[1, 5]]
    assert tok.document_count == 2 and tok.word_counts["the"] == 3
    tok2 = Tokenizer(num_words=4, oov_token="<oov>")
    tok2.fit_on_texts(texts)
    assert tok2.word_index["<oov>"] == 1 and tok2.word_index["the"] == 2
    assert tok2.texts_to_sequences(["the cat and the bird"]) == [[2, 3, 1, 2, 1]]
    assert tok2.sequences_to_texts([[2, 3, 1]]) == ["the cat <oov>"]
    m = tok.texts_to_matrix(["the the cat"], mode="count")
    assert m.shape == (1, 7) and m[0, 1] == 2 and m[0, 2] == 1
    chars = Tokenizer(char_level=True)
    chars.fit_on_texts(["abbb", "Ab"])
    assert chars.word_index == {"b": 1, "a": 2}
    assert chars.texts_to_sequences(["bac"]) == [[1, 2]]
    assert text_to_word_sequence("Hi, there!\nYou") == ["hi", "there", "you"]


def test_against_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    text_mod = pytest.importorskip("keras.src.legacy.preprocessing.text")
    rng = np.random.default_rng(0)
    seqs = [list(rng.integers(1, 9, size=rng.integers(0, 7))) for _ in range(12)]
    for kw in ({}, {"maxlen": 4}, {"padding": "post", "truncating": "post", "maxlen": 3},
               {"value": 7, "maxlen": 8}, {"dtype": "float32"}):
        np.testing.assert_array_equal(pad_sequences(seqs, **kw),
                                      keras.utils.pad_sequences(seqs, **kw))
    texts = ["One fish, two fish.", "Red fish; blue fish!", "One two three", "the END?"]
    for kw in ({}, {"num_words": 4}, {"num_words": 3, "oov_token": "?"},
               {"char_level": True}, {"lower": False}):
        a, b = Tokenizer(**kw), text_mod.Tokenizer(**kw)
        a.fit_on_texts(texts)
        b.fit_on_texts(texts)
        assert a.word_index == b.word_index
        probe = texts + ["blue whale and one fish"]
        assert a.texts_to_sequences(probe) == b.texts_to_sequences(probe)
        for mode in ("binary", "count", "freq", "tfidf"):
            if kw.get("num_words") or mode:
                np.testing.assert_allclose(a.texts_to_matrix(probe, mode),
                                           b.texts_to_matrix(probe, mode))


def test_sample_with_temperature():
    p = np.array([0.1, 0.6, 0.3])
    assert sample_with_temperature(p, 0) == 1
    rng = np.random.default_rng(0)
    draws = np.array([sample_with_temperature(p, 1.0, rng) for _ in range(4000)])
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 4000, p, atol=0.03)
    cold = np.array([sample_with_temperature(p, 0.2, rng) for _ in range(1000)])
    assert (cold == 1).mean() > 0.95                   # low temperature: nearly greedy
    hot = np.array([sample_with_temperature(p, 50.0, rng) for _ in range(3000)])
    np.testing.assert_allclose(np.bincount(hot, minlength=3) / 3000, 1 / 3, atol=0.04)
    batch = sample_with_temperature(np.log(np.tile(p, (5, 1))), 0, from_logits=True)
    np.testing.assert_array_equal(batch, [1] * 5)
    with pytest.raises(ValueError, match="temperature"):
        sample_with_temperature(p, -1)


def test_greedy_and_beam_search():
    # a tiny bigram model where greedy is not optimal: from 0, token 1 (0.5) leads to a
    # flat distribution, token 2 (0.4) leads to the end token with certainty
    table = {0: [0.0, 0.5, 0.4, 0.1], 1: [0.0, 0.3, 0.3, 0.4], 2: [0.0, 0.0, 0.0, 1.0]}

    def step(prefix):
        return np.log(np.asarray(table.get(prefix[-1], [0, 0, 0, 1.0])) + 1e-12)
    assert greedy_decode(step, [0], max_length=5, end_token=3) == [0, 1, 3]
    best = beam_search_decode(step, [0], max_length=5, beam_width=3, end_token=3)
    assert best[0][0] == [0, 2, 3]
    np.testing.assert_allclose(best[0][1], np.log(0.4), atol=1e-6)
    assert beam_search_decode(step, [0], 5, beam_width=1, end_token=3)[0][0] == [0, 1, 3]
