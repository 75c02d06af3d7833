"""Image files: ``image_dataset_from_directory`` (class subfolders -> batches of
(images, labels)), ``load_img`` and ``img_to_array``, as in ``keras.utils``.

Binary netpbm files (.pgm, .ppm, .pnm) and NumPy ``.npy`` arrays are decoded here; every
other format (PNG, JPEG, BMP, GIF) goes through Pillow, an optional dependency imported
only when such a file is met.  ``.npy`` files are read with ``allow_pickle=False``.
"""
from __future__ import annotations

import os

import numpy as np

from ..nn.data_adapter import PyDataset

__all__ = ["image_dataset_from_directory", "load_img", "img_to_array", "read_image",
           "ImageDirectoryDataset"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".pnm", ".npy")
_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}


def _pillow(who):
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"{who} needs Pillow to decode this image format "
                          "(pip install pillow); .pgm/.ppm/.npy files need nothing") from None
    return Image


def _read_netpbm(path):
    with open(path, "rb") as f:
        raw = f.read()
    tokens, pos = [], 0
    while len(tokens) < 4:         # magic, width, height, maxval; '#' starts a comment
        while pos < len(raw) and raw[pos:pos + 1].isspace():
            pos += 1
        if raw[pos:pos + 1] == b"#":
            while pos < len(raw) and raw[pos:pos + 1] not in (b"\n", b"\r"):
                pos += 1
            continue
        start = pos
        while pos < len(raw) and not raw[pos:pos + 1].isspace():
            pos += 1
        tokens.append(raw[start:pos])
    magic = tokens[0]
    if magic not in (b"P5", b"P6"):
        raise ValueError(f"read_image: {path} is not a binary PGM/PPM file (magic {magic!r})")
    w, h, maxval = (int(t) for t in tokens[1:])
    c = 1 if magic == b"P5" else 3
    dt = np.dtype(">u2") if maxval > 255 else np.dtype("u1")
    data = np.frombuffer(raw, dt, count=w * h * c, offset=pos + 1)
    img = data.reshape(h, w, c)
    if maxval != 255:
        img = (img.astype(np.float64) * (255.0 / maxval)).round()
    return img.astype(np.uint8)


def read_image(path, color_mode="rgb"):
    """The image at ``path`` as a uint8 array (H, W, channels) in ``color_mode``
    ('grayscale', 'rgb' or 'rgba')."""
    if color_mode not in _CHANNELS:
        raise ValueError(f"read_image: color_mode must be 'grayscale', 'rgb' or 'rgba', got "
                         f"{color_mode!r}")
    ext = os.path.splitext(path)[1].lower()
    if ext in (".pgm", ".ppm", ".pnm"):
        img = _read_netpbm(path)
    elif ext == ".npy":
        img = np.load(path, allow_pickle=False)
        img = img[:, :, None] if img.ndim == 2 else img
        if img.ndim != 3:
            raise ValueError(f"read_image: {path} holds an array of shape {img.shape}, not an "
                             "image (H, W) or (H, W, C)")
    else:
        Image = _pillow("read_image")
        with Image.open(path) as im:
            mode = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}[color_mode]
            return np.asarray(im.convert(mode), dtype=np.uint8).reshape(
                im.size[1], im.size[0], _CHANNELS[color_mode])
    return _convert(img, color_mode)


def _convert(img, color_mode):
    c = img.shape[2]
    want = _CHANNELS[color_mode]
    if c == want:
        return img
    rgb = img[:, :, :3] if c >= 3 else np.repeat(img[:, :, :1], 3, axis=2)
    if want == 1:               # ITU-R 601 luma, as Pillow's 'L' conversion
        y = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        return y.round().clip(0, 255).astype(img.dtype)[:, :, None]
    if want == 3:
        return rgb
    alpha = img[:, :, 3:4] if c == 4 else np.full(img.shape[:2] + (1,), 255, img.dtype)
    return np.concatenate([rgb, alpha], axis=2)


def _resize(img, size, interpolation, crop_to_aspect_ratio):
    from ..ops.image import interpolation_matrix
    h, w = img.shape[:2]
    th, tw = size
    if crop_to_aspect_ratio:
        target = tw / th
        ch, cw = (h, int(round(h * target))) if w / h > target else (int(round(w / target)), w)
        t, l = (h - ch) // 2, (w - cw) // 2
        img = img[t:t + ch, l:l + cw]
        h, w = ch, cw
    x = img.astype(np.float32)
    if (h, w) == (th, tw):
        return x
    mh = interpolation_matrix(h, th, interpolation, np.float32)
    mw = interpolation_matrix(w, tw, interpolation, np.float32)
    return np.einsum("oh,hwc,pw->opc", mh, x, mw)


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest"):
    """A PIL image from ``path`` (needs Pillow), converted to ``color_mode`` and resized to
    ``target_size`` (height, width) when given, as ``keras.utils.load_img``."""
    Image = _pillow("load_img")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        arr = read_image(path, color_mode)
        img = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    else:
        with Image.open(path) as im:
            img = im.convert({"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}[color_mode])
    if target_size is not None:
        resample = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR,
                    "bicubic": Image.BICUBIC}[interpolation]
        img = img.resize((target_size[1], target_size[0]), resample)
    return img


def img_to_array(img, data_format=None, dtype="float32"):
    """A PIL image (or array) as a NumPy array (H, W, C) of ``dtype``
    ('channels_first' gives (C, H, W))."""
    arr = np.asarray(img, dtype=dtype)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"img_to_array: expected an image of 2 or 3 dimensions, got shape "
                         f"{arr.shape}")
    if data_format == "channels_first":
        arr = arr.transpose(2, 0, 1)
    return arr


class ImageDirectoryDataset(PyDataset):
    """Batches ``(images, labels)`` (or images alone) decoded on demand from a list of
    files; ``class_names`` and ``file_paths`` as Keras's dataset attributes.  With
    ``shuffle`` the order is redrawn after every epoch."""

    def __init__(self, paths, labels, class_names, batch_size, image_size, color_mode,
                 label_mode, shuffle, seed, interpolation, crop_to_aspect_ratio):
        super().__init__()
        self.file_paths = list(paths)
        self._labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.class_names = class_names
        self.batch_size = batch_size
        self.image_size = tuple(image_size)
        self.color_mode = color_mode
        self.label_mode = label_mode
        self.shuffle = shuffle
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(self.file_paths))

    def __len__(self):
        return -(-len(self.file_paths) // self.batch_size) if self.batch_size else 1

    def _labels_out(self, idx):
        lab = self._labels[idx]
        if self.label_mode == "int":
            return lab
        if self.label_mode == "binary":
            return lab.astype(np.float32)[:, None]
        return np.eye(len(self.class_names), dtype=np.float32)[lab]

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range for {len(self)} batches")
        bs = self.batch_size or len(self.file_paths)
        idx = self._order[index * bs:(index + 1) * bs]
        x = np.stack([_resize(read_image(self.file_paths[i], self.color_mode),
                              self.image_size, self.interpolation, self.crop_to_aspect_ratio)
                      for i in idx])
        if self._labels is None or self.label_mode is None:
            return x
        return x, self._labels_out(idx)

    def on_epoch_end(self):
        if self.shuffle:
            self._order = self._rng.permutation(len(self.file_paths))

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, crop_to_aspect_ratio=False, verbose=True):
    """Images in ``directory/<class name>/...`` as batches (images float32 (b, h, w, c),
    labels), like ``keras.utils.image_dataset_from_directory``: classes sorted by name,
    files shuffled with ``seed`` then split by ``validation_split`` into the 'training'
    part (first) and the 'validation' part (last); ``subset='both'`` returns both.
    ``batch_size=None`` gives one batch holding every image.  Returns an
    :class:`ImageDirectoryDataset` (a PyDataset, so ``model.fit`` takes it)."""
    who = "image_dataset_from_directory"
    if not os.path.isdir(directory):
        raise ValueError(f"{who}: {directory!r} is not a directory")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f"{who}: label_mode must be 'int', 'categorical', 'binary' or None, "
                         f"got {label_mode!r}")
    if color_mode not in _CHANNELS:
        raise ValueError(f"{who}: color_mode must be 'grayscale', 'rgb' or 'rgba', got "
                         f"{color_mode!r}")
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"{who}: interpolation must be 'bilinear' or 'nearest', got "
                         f"{interpolation!r}")
    if validation_split is not None:
        if not 0 < validation_split < 1:
            raise ValueError(f"{who}: validation_split must be in (0, 1), got "
                             f"{validation_split}")
        if subset not in ("training", "validation", "both"):
            raise ValueError(f"{who}: with validation_split, subset must be 'training', "
                             f"'validation' or 'both', got {subset!r}")
        if shuffle and seed is None:
            raise ValueError(f"{who}: pass a seed with validation_split and shuffle=True, so "
                             "that the training and validation subsets do not overlap")
    elif subset is not None:
        raise ValueError(f"{who}: subset={subset!r} needs validation_split")
    found = sorted(d for d in os.listdir(directory)
                   if os.path.isdir(os.path.join(directory, d)))
    if labels == "inferred":
        names = list(class_names) if class_names is not None else found
        missing = [c for c in names if c not in found]
        if missing:
            raise ValueError(f"{who}: class_names {missing} have no subdirectory in "
                             f"{directory!r} (found {found})")
        paths, labs = [], []
        for k, c in enumerate(names):
            for root, _, files in sorted(os.walk(os.path.join(directory, c),
                                                 followlinks=follow_links)):
                for f in sorted(files):
                    if f.lower().endswith(IMAGE_EXTENSIONS):
                        paths.append(os.path.join(root, f))
                        labs.append(k)
    else:
        names = None
        paths = sorted(os.path.join(r, f) for r, _, fs in os.walk(directory,
                                                                    followlinks=follow_links)
                       for f in fs if f.lower().endswith(IMAGE_EXTENSIONS))
        labs = None if labels is None else list(labels)
        if labs is not None and len(labs) != len(paths):
            raise ValueError(f"{who}: {len(labs)} labels given for {len(paths)} image files")
        if labs is not None:
            names = [str(i) for i in range(int(max(labs)) + 1)] if labs else []
        else:
            label_mode = None
    if label_mode == "binary" and names is not None and len(names) != 2:
        raise ValueError(f"{who}: label_mode='binary' needs exactly 2 classes, found "
                         f"{len(names)}")
    if verbose:
        print(f"Found {len(paths)} files" + (f" belonging to {len(names)} classes."
                                              if names is not None else "."))
    order = np.arange(len(paths))
    if shuffle:
        order = np.random.default_rng(seed).permutation(len(paths))
    paths = [paths[i] for i in order]
    labs = None if labs is None else [labs[i] for i in order]
    size = _normalize_size(image_size, who)

    def make(sl, sub_seed):
        ds = ImageDirectoryDataset(paths[sl], None if labs is None else labs[sl], names,
                                   batch_size, size, color_mode, label_mode, shuffle,
                                   sub_seed, interpolation, crop_to_aspect_ratio)
        return ds

    if validation_split is None:
        return make(slice(None), seed)
    n_val = int(validation_split * len(paths))
    train, val = slice(0, len(paths) - n_val), slice(len(paths) - n_val, None)
    if verbose:
        if subset in ("training", "both"):
            print(f"Using {len(paths) - n_val} files for training.")
        if subset in ("validation", "both"):
            print(f"Using {n_val} files for validation.")
    if subset == "training":
        return make(train, seed)
    if subset == "validation":
        return make(val, seed)
    return make(train, seed), make(val, seed)


def _normalize_size(image_size, who):
    try:
        h, w = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: image_size must be (height, width), got "
                         f"{image_size!r}") from None
    return h, w
