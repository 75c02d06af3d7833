"""lamina.keras.preprocessing: the legacy ``keras.preprocessing.{text,sequence,image}`` names a
Keras script imports, re-exported from lamina.text and lamina.data.images."""
import os
import subprocess
import sys

import numpy as np
import pytest

import lamina
from lamina import keras

TEXTS = ["The cat sat on the mat.", "The dog ate my homework!", "A cat, a dog; the end"]


def test_from_imports_as_in_a_keras_script():
    from lamina.keras.preprocessing.image import (image_dataset_from_directory,
                                                  img_to_array, load_img)
    from lamina.keras.preprocessing.sequence import pad_sequences
    from lamina.keras.preprocessing.text import Tokenizer, text_to_word_sequence
    assert Tokenizer is lamina.text.Tokenizer
    assert text_to_word_sequence is lamina.text.text_to_word_sequence
    assert pad_sequences is lamina.text.pad_sequences
    assert load_img is lamina.data.images.load_img
    assert img_to_array is lamina.data.images.img_to_array
    assert image_dataset_from_directory is lamina.data.images.image_dataset_from_directory


def test_preprocessing_is_an_attribute_of_the_facade():
    assert keras.preprocessing.text.Tokenizer is lamina.text.Tokenizer
    assert keras.preprocessing.sequence.pad_sequences is lamina.text.pad_sequences
    assert keras.preprocessing.image_dataset_from_directory is \
        lamina.data.images.image_dataset_from_directory
    assert "preprocessing" in dir(keras)


def test_attribute_access_in_a_fresh_interpreter():
    # the lazy facade must load the subpackage on first attribute access, with nothing
    # imported beforehand
    code = ("from lamina import keras\n"
            "t = keras.preprocessing.text.Tokenizer(num_words=10)\n"
            "t.fit_on_texts(['a b b', 'b c'])\n"
            "print(keras.preprocessing.sequence.pad_sequences(t.texts_to_sequences(['c b a']),"
            " maxlen=4).tolist())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=os.path.dirname(os.path.dirname(lamina.__file__)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[[0, 3, 1, 2]]"


def test_tokenizer_and_padding_through_the_facade():
    from lamina.keras.preprocessing.sequence import pad_sequences
    from lamina.keras.preprocessing.text import Tokenizer
    tok = Tokenizer(num_words=6, oov_token="<unk>")
    tok.fit_on_texts(TEXTS)
    assert tok.word_index["<unk>"] == 1 and tok.word_index["the"] == 2
    seqs = tok.texts_to_sequences(["the cat ate the fish"])
    assert seqs == [[2, tok.word_index["cat"], 1, 2, 1]]
    x = pad_sequences(seqs, maxlen=7, padding="post")
    assert x.shape == (1, 7) and x.dtype == np.int32
    np.testing.assert_array_equal(x[0, 5:], [0, 0])


def test_tokenizer_matches_keras_legacy_tokenizer():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("keras")
    from keras._tf_keras.keras.preprocessing import sequence as ks
    from keras._tf_keras.keras.preprocessing import text as kt

    from lamina.keras.preprocessing import sequence, text
    for kw in ({}, {"num_words": 5}, {"oov_token": "?", "num_words": 4}, {"char_level": True}):
        mine, theirs = text.Tokenizer(**kw), kt.Tokenizer(**kw)
        mine.fit_on_texts(TEXTS)
        theirs.fit_on_texts(TEXTS)
        assert mine.word_index == theirs.word_index, kw
        probe = TEXTS + ["an unseen dog sat"]
        assert mine.texts_to_sequences(probe) == theirs.texts_to_sequences(probe), kw
        np.testing.assert_allclose(mine.texts_to_matrix(probe, mode="tfidf"),
                                   theirs.texts_to_matrix(probe, mode="tfidf"))
        seqs = mine.texts_to_sequences(probe)
        np.testing.assert_array_equal(
            sequence.pad_sequences(seqs, maxlen=4, truncating="post"),
            ks.pad_sequences(seqs, maxlen=4, truncating="post"))


def _write_pgm(path, img):
    h, w = img.shape
    with open(path, "wb") as f:
        f.write(f"P5\n{w} {h}\n255\n".encode() + img.astype(np.uint8).tobytes())


def test_image_functions_through_the_facade(tmp_path):
    from lamina.keras.preprocessing import image
    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            _write_pgm(tmp_path / cls / f"{i}.pgm", rng.integers(0, 256, (6, 5)))
    ds = keras.preprocessing.image_dataset_from_directory(
        str(tmp_path), image_size=(6, 5), color_mode="grayscale", batch_size=4, shuffle=False)
    xs, ys = zip(*[ds[i] for i in range(len(ds))])
    assert np.concatenate(ys).tolist() == [0, 0, 0, 1, 1, 1]
    assert np.concatenate(xs).shape == (6, 6, 5, 1)


def test_load_img_through_the_facade(tmp_path):
    pytest.importorskip("PIL")      # load_img returns a PIL image, as Keras's does
    from lamina.keras.preprocessing import image
    raw = np.random.default_rng(1).integers(0, 256, (6, 5))
    _write_pgm(tmp_path / "one.pgm", raw)
    arr = image.img_to_array(image.load_img(str(tmp_path / "one.pgm"),
                                            color_mode="grayscale"))
    assert arr.shape == (6, 5, 1) and arr.dtype == np.float32
    np.testing.assert_array_equal(arr[..., 0], raw)
