"""Image files: ``image_dataset_from_directory`` (class subfolders -> batches of
(images, labels)), ``load_img``, ``img_to_array``, ``array_to_img`` and ``save_img``, as in
``keras.utils``.

Binary netpbm files (.pgm, .ppm, .pnm) and NumPy ``.npy`` arrays are decoded here; every
other format (PNG, JPEG, BMP, GIF) goes through Pillow, an optional dependency imported
only when such a file is met.  ``.npy`` files are read with ``allow_pickle=False``.
"""
from __future__ import annotations

import os

import numpy as np

from .directory import FileDataset, check_arguments, list_and_split

__all__ = ["image_dataset_from_directory", "load_img", "img_to_array", "read_image",
           "array_to_img", "save_img", "ImageDirectoryDataset"]

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


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A PIL image (needs Pillow) from an array (H, W, C) ('channels_first': (C, H, W))
    with 1 (mode 'L', or 'I' past 255), 3 ('RGB') or 4 ('RGBA') channels, as
    ``keras.utils.array_to_img``: with ``scale`` the values are shifted to start at 0 and
    stretched to end at 255; without it they are cast to uint8 as they are."""
    Image = _pillow("array_to_img")
    if data_format not in (None, "channels_last", "channels_first"):
        raise ValueError(f"array_to_img: data_format must be 'channels_last' or "
                         f"'channels_first', got {data_format!r}")
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    x = np.asarray(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(f"array_to_img: expected one image of rank 3 (H, W, C), got shape "
                         f"{x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x /= top
        x *= 255
    c = x.shape[2]
    if c in (3, 4):
        return Image.fromarray(x.astype("uint8"), "RGBA" if c == 4 else "RGB")
    if c == 1:
        if np.max(x) > 255:     # Keras keeps such data as a 32-bit integer image
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"array_to_img: expected 1, 3 or 4 channels, got {c} (shape {x.shape}, "
                     f"data_format={data_format or 'channels_last'!r})")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Write the array ``x`` (see :func:`array_to_img`) as an image file (needs Pillow);
    the format comes from ``file_format`` or the path's extension, and an RGBA image
    saved as JPEG loses its alpha channel (with a warning), as in Keras.  ``kwargs`` go to
    ``PIL.Image.save``."""
    img = array_to_img(x, data_format=data_format, scale=scale)
    if file_format is None and isinstance(path, (str, os.PathLike)):
        file_format = os.path.splitext(os.fspath(path))[1][1:].lower() or None
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    if img.mode == "RGBA" and file_format == "jpeg":
        import warnings
        warnings.warn("save_img: JPEG has no alpha channel; converting the RGBA image to RGB",
                      stacklevel=2)
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


class ImageDirectoryDataset(FileDataset):
    """Batches ``(images, labels)`` (or images alone) decoded on demand from a list of
    files; ``class_names`` and ``file_paths`` as Keras's dataset attributes.  With
    ``shuffle`` the order is redrawn after every epoch."""

    def __init__(self, paths, labels, class_names, batch_size, image_size, color_mode,
                 label_mode, shuffle, seed, interpolation, crop_to_aspect_ratio):
        super().__init__(paths, labels, class_names, batch_size, label_mode, shuffle, seed)
        self.image_size = tuple(image_size)
        self.color_mode = color_mode
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio

    def _load_batch(self, paths):
        return np.stack([_resize(read_image(p, self.color_mode), self.image_size,
                                 self.interpolation, self.crop_to_aspect_ratio)
                         for p in paths])


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, crop_to_aspect_ratio=False, verbose=True):
    """Images in ``directory/<class name>/...`` as batches (images float32 (b, h, w, c),
    labels), like ``keras.utils.image_dataset_from_directory``: classes sorted by name,
    files shuffled with ``numpy.random.RandomState(seed)`` as Keras does (so a split holds
    the same files as Keras's) then split by ``validation_split`` into the 'training'
    part (first) and the 'validation' part (last); ``subset='both'`` returns both.
    ``batch_size=None`` gives one batch holding every image.  Returns an
    :class:`ImageDirectoryDataset` (a PyDataset, so ``model.fit`` takes it)."""
    who = "image_dataset_from_directory"
    check_arguments(who, labels, label_mode, class_names, validation_split, subset, shuffle,
                    seed)
    if color_mode not in _CHANNELS:
        raise ValueError(f"{who}: color_mode must be 'grayscale', 'rgb' or 'rgba', got "
                         f"{color_mode!r}")
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"{who}: interpolation must be 'bilinear' or 'nearest', got "
                         f"{interpolation!r}")
    size = _normalize_size(image_size, who)
    if labels is None:
        label_mode = None
    pairs, names = list_and_split(who, directory, labels, IMAGE_EXTENSIONS, class_names,
                                  follow_links, label_mode, shuffle, seed, validation_split,
                                  subset, verbose)
    parts = [ImageDirectoryDataset(p, lab, names, batch_size, size, color_mode, label_mode,
                                   shuffle, seed, interpolation, crop_to_aspect_ratio)
             for p, lab in pairs]
    return parts[0] if len(parts) == 1 else tuple(parts)


def _normalize_size(image_size, who):
    try:
        h, w = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: image_size must be (height, width), got "
                         f"{image_size!r}") from None
    return h, w
