"""keras.datasets: ``mnist``, ``fashion_mnist``, ``cifar10`` (lamina.data.vision: a local,
checksummed cache) and ``digits`` (the 8x8 digits shipped with lamina), each with
``load_data()``."""
from ...data.vision import mnist, fashion_mnist, cifar10  # noqa: F401
from . import digits  # noqa: F401
from ...data.text_datasets import imdb, movielens_100k  # noqa: F401
