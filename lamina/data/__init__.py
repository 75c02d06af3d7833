"""Datasets shipped with lamina or read from local files (no network access)."""
from .datasets import load_digits, train_test_split, standardize  # noqa: F401

from .vision import synthetic_digits  # noqa: F401,E402  (generated MNIST stand-in)
from .text_datasets import (imdb, movielens_100k, synthetic_movielens, topic_corpus,  # noqa: F401,E402,E501
                            french_number, french_number_pairs)

__all__ = ["load_digits", "train_test_split", "standardize", "synthetic_digits"]
