"""TextVectorization (lamina/nn/layers/text.py): standardize, split, adapt (vocabulary order,
max_tokens), int / multi_hot / count outputs, output_sequence_length."""
import numpy as np
import pytest

from lamina.nn.layers.text import TextVectorization

TEXTS = ["The cat sat.", "the Dog sat!", "a dog, a cat; a bird"]


def test_adapt_vocabulary_order_and_int_output():
    tv = TextVectorization()
    tv.adapt(TEXTS)
    # counts: a 3; cat, dog, sat, the 2; bird 1 -> ties by token, descending (as Keras)
    assert tv.get_vocabulary() == ["", "[UNK]", "a", "the", "sat", "dog", "cat", "bird"]
    assert tv.vocabulary_size() == 8
    out = tv(["the cat flew", "a"]).numpy()
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [[3, 6, 1], [2, 0, 0]])
    tv2 = TextVectorization(max_tokens=5, output_sequence_length=4)
    tv2.adapt(np.array(TEXTS)[:, None])
    assert tv2.get_vocabulary(include_special_tokens=False) == ["a", "the", "sat"]
    np.testing.assert_array_equal(tv2(np.array(["The dog sat a a a"])).numpy(), [[3, 1, 4, 2]])


def test_standardize_and_split_options():
    tv = TextVectorization(standardize=None, split="character")
    tv.adapt(["abA"])
    assert set(tv.get_vocabulary()[2:]) == {"a", "b", "A"}
    lower = TextVectorization(standardize="lower", split=None)
    lower.adapt(["Hello, World", "hello, world"])
    assert lower.get_vocabulary()[2:] == ["hello, world"]
    custom = TextVectorization(standardize=lambda s: s.replace("-", " "),
                               split=lambda s: s.split(" "))
    custom.adapt(["x-y y"])
    assert custom.get_vocabulary()[2:] == ["y", "x"]
    with pytest.raises(ValueError, match="standardize"):
        TextVectorization(standardize="upper")
    with pytest.raises(ValueError, match="output_mode"):
        TextVectorization(output_mode="tf_idf_x")


def test_multi_hot_count_and_set_vocabulary():
    tv = TextVectorization(output_mode="count", vocabulary=["a", "b", "c"])
    out = tv(["a a c z"]).numpy()
    np.testing.assert_array_equal(out, [[0, 1, 2, 0, 1]])
    mh = TextVectorization(output_mode="multi_hot", max_tokens=8, pad_to_max_tokens=True)
    mh.set_vocabulary(["", "[UNK]", "x", "y"])
    np.testing.assert_array_equal(mh(["y y q"]).numpy(), [[0, 1, 0, 1, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match="repeated"):
        mh.set_vocabulary(["x", "x"])
    cfg = tv.get_config()
    again = TextVectorization.from_config(cfg)
    assert again.get_vocabulary() == tv.get_vocabulary()


def test_adapt_from_batches_of_pairs():
    tv = TextVectorization(max_tokens=4)
    tv.adapt([(np.array(["b b a"]), np.array([1])), (np.array(["c b"]), np.array([0]))])
    assert tv.get_vocabulary() == ["", "[UNK]", "b", "c"]


def test_ngrams_and_tf_idf():
    tv = TextVectorization(ngrams=2)
    tv.adapt(["a b c", "a b"])
    # unigrams then bigrams; counts a 2, b 2, a b 2, c 1, b c 1
    assert tv.get_vocabulary()[2:] == ["b", "a b", "a", "c", "b c"]
    np.testing.assert_array_equal(tv(["a b"]).numpy(), [[4, 2, 3]])
    docs = ["x y", "x", "x z z"]
    ti = TextVectorization(output_mode="tf_idf")
    ti.adapt(docs)
    vocab = ti.get_vocabulary()
    assert vocab[2] == "x"
    out = ti(["z z x q"]).numpy()
    idf = {t: np.log(1 + 3 / (1 + df)) for t, df in (("x", 3), ("y", 1), ("z", 1))}
    assert out[0, vocab.index("z")] == pytest.approx(2 * idf["z"], rel=1e-6)
    assert out[0, vocab.index("x")] == pytest.approx(idf["x"], rel=1e-6)
    assert out[0, 1] == pytest.approx(np.mean([idf[t] for t in vocab[2:]]), rel=1e-6)
    again = TextVectorization.from_config(ti.get_config())
    np.testing.assert_allclose(again(["z z x q"]).numpy(), out)
    with pytest.raises(ValueError, match="idf"):
        TextVectorization(output_mode="tf_idf", vocabulary=["a"])
    with pytest.raises(ValueError, match="ngrams"):
        TextVectorization(ngrams="2")
