"""Image datasets: MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 with Keras's ``load_data()``
shapes and dtypes, read from a local cache and checked against the digests recorded here
(SHA-256; MD5 where only that is published); and
``synthetic_digits()``, a generated MNIST stand-in that needs no download.

Cache: ``$LAMINA_HOME/datasets`` when ``LAMINA_HOME`` is set, else ``~/.lamina/datasets``;
one folder per dataset (``mnist/``, ``fashion_mnist/``, ``cifar10/``, ``cifar100/``).  A
missing file is fetched from its official URL when the network allows; otherwise the error
names the file to download and the path to put it at.  Files are parsed as raw bytes (IDX
for the MNISTs, the *binary* CIFAR-10/100 releases read straight from their tar.gz): nothing
is unpickled and loading never runs code.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tarfile

import numpy as np

__all__ = ["cache_dir", "read_idx", "mnist", "fashion_mnist", "cifar10", "cifar100",
           "synthetic_digits", "CHECKSUMS"]

# file name -> (official URL, digest of the file as published: 64 hex digits are a SHA-256,
# 32 an MD5)
CHECKSUMS = {
    "mnist": {
        "train-images-idx3-ubyte.gz": (
            "https://storage.googleapis.com/cvdf-datasets/mnist/train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        "train-labels-idx1-ubyte.gz": (
            "https://storage.googleapis.com/cvdf-datasets/mnist/train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        "t10k-images-idx3-ubyte.gz": (
            "https://storage.googleapis.com/cvdf-datasets/mnist/t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        "t10k-labels-idx1-ubyte.gz": (
            "https://storage.googleapis.com/cvdf-datasets/mnist/t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
            "train-images-idx3-ubyte.gz",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        "train-labels-idx1-ubyte.gz": (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
            "train-labels-idx1-ubyte.gz",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        "t10k-images-idx3-ubyte.gz": (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
            "t10k-images-idx3-ubyte.gz",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        "t10k-labels-idx1-ubyte.gz": (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
            "t10k-labels-idx1-ubyte.gz",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    },
    "cifar10": {
        "cifar-10-binary.tar.gz": (
            "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
            "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
    },
    "cifar100": {
        # the MD5 published on https://www.cs.toronto.edu/~kriz/cifar.html (168,513,733 bytes)
        "cifar-100-binary.tar.gz": (
            "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
            "03b5dce01913d631647c71ecec9e9cb8"),
    },
}


def cache_dir():
    """The dataset cache: ``$LAMINA_HOME/datasets`` or ``~/.lamina/datasets``."""
    home = os.environ.get("LAMINA_HOME") or os.path.join(os.path.expanduser("~"), ".lamina")
    return os.path.join(home, "datasets")


def cache_path(dataset, path):
    """``path`` as given when absolute, else in ``dataset``'s folder of the cache."""
    return path if os.path.isabs(path) else os.path.join(cache_dir(), dataset, path)


# where Keras's own dataset files are published (the origin its get_file calls use)
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def _sha256(path, algorithm="sha256"):
    """Hex digest of the file at ``path`` (``algorithm``: any hashlib name)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(url, dest, timeout=30):
    """Fetch ``url`` to ``dest`` (through a temporary name, so a broken transfer leaves
    nothing behind).  Raises OSError when the network is unavailable."""
    import urllib.request
    tmp = dest + ".part"
    with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            f.write(chunk)
    os.replace(tmp, dest)


def _fetch_verified(url, sha, path, who, download=True,
                    hint="set LAMINA_HOME to move the cache", fetch=None):
    """``path`` once its digest is ``sha`` (SHA-256, or MD5 when ``sha`` has 32 hex digits),
    downloading it from ``url`` first (with ``fetch(url, dest)``, default :func:`_download`)
    when it is missing and ``download`` allows; errors name ``who`` and, when the file is
    missing, ``hint``."""
    if not os.path.exists(path):
        err = None
        if download:
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                (fetch or _download)(url, path)
            except OSError as e:      # URLError and timeouts are OSErrors
                err = e
        if not os.path.exists(path):
            why = f" (download failed: {err})" if err is not None else ""
            raise FileNotFoundError(
                f"{who}: {os.path.basename(path)} is not in the cache{why}. Download {url} and "
                f"put it at {path} ({hint}).")
    algo, label = ("md5", "MD5") if len(sha) == 32 else ("sha256", "SHA-256")
    got = _sha256(path, algo)
    if got != sha.lower():
        raise ValueError(f"{who}: {path} has {label} {got}, expected {sha}; the file is "
                         "corrupt or not the official release. Delete it and fetch it again.")
    return path


def _fetch(dataset, fname, download=True):
    """Path of a verified cached file, downloading it first when missing and allowed."""
    url, sha = CHECKSUMS[dataset][fname]
    return _fetch_verified(url, sha, os.path.join(cache_dir(), dataset, fname),
                           f"{dataset}.load_data", download)


_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """An IDX file (optionally gzipped) as a NumPy array of its recorded shape and type."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"read_idx: {path} is not an IDX file (bad magic number "
                         f"{raw[:4].hex()})")
    dt = np.dtype(_IDX_TYPES[raw[2]])
    nd = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=nd, offset=4))
    start = 4 + 4 * nd
    need = int(np.prod(dims)) * dt.itemsize if dims else dt.itemsize
    if len(raw) - start != need:
        raise ValueError(f"read_idx: {path} declares shape {dims} ({need} bytes of data) but "
                         f"holds {len(raw) - start} bytes")
    arr = np.frombuffer(raw, dt, offset=start).reshape(dims)
    return arr.astype(dt.newbyteorder("="))


class _IDXDataset:
    """MNIST-format dataset: four IDX files (train/test images and labels)."""

    def __init__(self, name):
        self.name = name

    def load_data(self, download=True):
        """``((x_train, y_train), (x_test, y_test))``: images (n, 28, 28) uint8, labels (n,)
        uint8, as Keras returns them."""
        parts = []
        for split in ("train", "t10k"):
            x = read_idx(_fetch(self.name, f"{split}-images-idx3-ubyte.gz", download))
            y = read_idx(_fetch(self.name, f"{split}-labels-idx1-ubyte.gz", download))
            if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
                raise ValueError(f"{self.name}.load_data: {split} images {x.shape} and labels "
                                 f"{y.shape} do not match")
            parts.append((x.astype(np.uint8), y.astype(np.uint8)))
        return tuple(parts)

    def __repr__(self):
        return f"<lamina dataset {self.name}>"


_PIXELS = 32 * 32 * 3


def _cifar_records(raw, label_bytes, who, member):
    """Records of the binary CIFAR releases (``label_bytes`` label bytes, then 1024 red,
    1024 green and 1024 blue pixels, row-major) as images (n, 32, 32, 3) uint8 and labels
    (n, label_bytes) uint8."""
    size = label_bytes + _PIXELS
    raw = np.frombuffer(raw, np.uint8)
    if raw.size % size:
        raise ValueError(f"{who}: {member} has {raw.size} bytes, not a multiple of the "
                         f"{size}-byte record")
    rec = raw.reshape(-1, size)
    x = rec[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), rec[:, :label_bytes].copy()


def _cifar_members(path, wanted, label_bytes, who):
    """``{name: (images, labels)}`` for each file name in ``wanted``, read from the binary
    CIFAR tar.gz at ``path`` (members matched by base name, wherever they sit)."""
    with tarfile.open(path, "r:gz") as tar:
        members = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
        missing = [n for n in wanted if n not in members]
        if missing:
            raise ValueError(f"{who}: {path} lacks {', '.join(missing)}; is it the binary "
                             "release?")
        return {n: _cifar_records(tar.extractfile(members[n]).read(), label_bytes, who, n)
                for n in wanted}


class _Cifar10:
    """CIFAR-10 from the binary release (``cifar-10-binary.tar.gz``)."""

    name = "cifar10"

    def load_data(self, download=True):
        """``((x_train, y_train), (x_test, y_test))``: images (n, 32, 32, 3) uint8 and labels
        (n, 1) uint8, as Keras returns them."""
        path = _fetch(self.name, "cifar-10-binary.tar.gz", download)
        train = [f"data_batch_{i}.bin" for i in range(1, 6)]
        parts = _cifar_members(path, train + ["test_batch.bin"], 1, "cifar10.load_data")
        xtr = np.concatenate([parts[n][0] for n in train])
        ytr = np.concatenate([parts[n][1] for n in train])
        return (xtr, ytr), parts["test_batch.bin"]

    def __repr__(self):
        return "<lamina dataset cifar10>"


class _Cifar100:
    """CIFAR-100 from the binary release (``cifar-100-binary.tar.gz``: ``train.bin`` and
    ``test.bin``, records of a coarse label byte, a fine label byte and 3072 pixels).  Keras
    reads the pickled release; lamina never unpickles, so it reads this one instead."""

    name = "cifar100"

    def load_data(self, label_mode="fine", download=True):
        """``((x_train, y_train), (x_test, y_test))``: images (n, 32, 32, 3) uint8 and labels
        (n, 1) int64 (Keras builds them from Python lists, hence int64), the 100 ``'fine'``
        classes or the 20 ``'coarse'`` superclasses."""
        if label_mode not in ("fine", "coarse"):
            raise ValueError('cifar100.load_data: label_mode must be one of "fine", '
                             f'"coarse"; got {label_mode!r}')
        path = _fetch(self.name, "cifar-100-binary.tar.gz", download)
        parts = _cifar_members(path, ["train.bin", "test.bin"], 2, "cifar100.load_data")
        col = 0 if label_mode == "coarse" else 1
        return tuple((x, y[:, col:col + 1].astype(np.int64))
                     for x, y in (parts["train.bin"], parts["test.bin"]))

    def __repr__(self):
        return "<lamina dataset cifar100>"


mnist = _IDXDataset("mnist")
fashion_mnist = _IDXDataset("fashion_mnist")
cifar10 = _Cifar10()
cifar100 = _Cifar100()


# ------------------------------------------------------------ synthetic stand-in
def _render(src, sizes, offsets, noise, rng):
    """Scale 8x8 images ``src`` (n, 8, 8) in [0, 1] to ``sizes`` pixels (bilinear) and paste
    them at ``offsets`` in 28x28 canvases, then add Gaussian noise: uint8 (n, 28, 28)."""
    from ..ops.image import interpolation_matrix
    out = np.zeros((len(src), 28, 28), np.float32)
    for s in np.unique(sizes):
        idx = np.nonzero(sizes == s)[0]
        m = interpolation_matrix(8, int(s), "bilinear", np.float32)
        big = np.einsum("ih,nhw,jw->nij", m, src[idx], m)
        for j, k in enumerate(idx):
            r, c = offsets[k]
            out[k, r:r + s, c:c + s] = big[j]
    out += rng.normal(0.0, noise, out.shape).astype(np.float32)
    return (np.clip(out, 0.0, 1.0) * 255).round().astype(np.uint8)


def synthetic_digits(n_train=6000, n_test=1000, seed=0, noise=0.05):
    """A generated MNIST stand-in (no download): ``((x_train, y_train), (x_test, y_test))``
    with images (n, 28, 28) uint8 and labels (n,) uint8, like ``mnist.load_data()``.

    Each image renders one of the 1,797 shipped 8x8 digits (``lamina.data.load_digits``)
    scaled (bilinear) to 16-20 pixels, centred in the 28x28 frame as MNIST's digits are and
    shifted by up to 3 pixels each way, plus Gaussian noise of std ``noise`` (in [0, 1]
    units).  Train and test render disjoint source digits
    (a fixed 80/20 split), so the test split measures generalisation to unseen writers'
    digits, not only to new shifts.  This is synthetic data, not MNIST.
    """
    from .datasets import load_digits
    X, y = load_digits(source="package")
    imgs = (X.reshape(-1, 8, 8) / 16.0).astype(np.float32)
    rng = np.random.default_rng(seed)
    order = np.random.default_rng(1234).permutation(len(imgs))
    cut = int(0.8 * len(imgs))
    out = []
    for pool, n in ((order[:cut], n_train), (order[cut:], n_test)):
        pick = rng.choice(pool, size=n, replace=True)
        sizes = rng.integers(16, 21, size=n)
        # centred like MNIST's digits, then shifted by up to 3 pixels each way
        centre = (28 - sizes) // 2
        offsets = np.stack([centre + rng.integers(-3, 4, size=n),
                            centre + rng.integers(-3, 4, size=n)], axis=1)
        offsets = np.clip(offsets, 0, (28 - sizes)[:, None])
        x = _render(imgs[pick], sizes, offsets, noise, rng)
        out.append((x, y[pick].astype(np.uint8)))
    return tuple(out)
