"""keras.datasets: ``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100`` (lamina.data.vision:
a local, checksummed cache), ``boston_housing``, ``california_housing``
(lamina.data.housing), ``imdb``, ``reuters`` (lamina.data.text_datasets: pickle-free caches)
and ``digits`` (the 8x8 digits shipped with lamina), each with ``load_data()``."""
from ...data.vision import mnist, fashion_mnist, cifar10, cifar100  # noqa: F401
from . import digits  # noqa: F401
from ...data.text_datasets import imdb, movielens_100k, reuters  # noqa: F401
from ...data.housing import boston_housing, california_housing  # noqa: F401
