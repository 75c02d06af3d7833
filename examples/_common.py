"""Small helpers shared by the course labs: quick mode, output folder, result lines, a
dependency-free PNG writer for image grids, and optional matplotlib line plots.

Importing this module also puts the repository root on ``sys.path`` so that the labs run
from a checkout without installing lamina.
"""
import os
import struct
import sys
import zlib

import numpy as np

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def is_quick(argv=None):
    """True when ``--quick`` is on the command line or ``LAMINA_QUICK=1`` is set: the labs
    then cut epochs and data to run in a few seconds (a smoke test)."""
    argv = sys.argv[1:] if argv is None else argv
    return "--quick" in argv or os.environ.get("LAMINA_QUICK", "") not in ("", "0")


def out_dir():
    """The folder the labs write their images to: ``$LAMINA_EXAMPLES_OUT`` or
    ``examples/out`` (created if missing)."""
    path = os.environ.get("LAMINA_EXAMPLES_OUT") or os.path.join(_ROOT, "examples", "out")
    os.makedirs(path, exist_ok=True)
    return path


def out_path(name):
    """``out_dir()/name``."""
    return os.path.join(out_dir(), name)


def result(name, value):
    """Print the machine-readable line ``RESULT name=value`` (the tests parse these)."""
    print(f"RESULT {name}={float(value):.6g}", flush=True)


# ------------------------------------------------------------------ PNG
def _png_chunk(tag, data):
    # length, tag, data, CRC over tag+data: the PNG chunk layout
    return (struct.pack(">I", len(data)) + tag + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))


def write_png(path, image):
    """Write ``image`` to ``path`` as an 8-bit PNG (no dependency beyond zlib).

    ``image``: (H, W) grayscale or (H, W, 3) RGB, either uint8 or floats in [0, 1]
    (clipped).  Returns ``path``.
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise ValueError(f"write_png: expected an (H, W) or (H, W, 3) image, got shape "
                         f"{a.shape}")
    if a.dtype != np.uint8:
        a = (np.clip(np.nan_to_num(a.astype(np.float64)), 0, 1) * 255).round().astype(np.uint8)
    h, w = a.shape[:2]
    color_type = 0 if a.ndim == 2 else 2
    rows = a.reshape(h, -1)
    # each scanline starts with filter byte 0 ("None")
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()
    png = (b"\x89PNG\r\n\x1a\n"
           + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0))
           + _png_chunk(b"IDAT", zlib.compress(raw, 6))
           + _png_chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)
    return path


def image_grid(images, ncols=8, pad=1, normalize=True):
    """Tile ``images`` (N, H, W) or (N, H, W, C) into one (rows*(H+pad)+pad, ...) array.

    With ``normalize`` each image is rescaled to [0, 1] by the batch's min and max, so
    standardized or generated images show with full contrast; the padding is white.
    """
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 4 and x.shape[3] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4):
        raise ValueError(f"image_grid: expected images (N, H, W) or (N, H, W, C), got shape "
                         f"{x.shape}")
    if normalize:
        lo, hi = float(x.min()), float(x.max())
        x = (x - lo) / (hi - lo + 1e-12)
    n, h, w = x.shape[:3]
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    shape = (nrows * (h + pad) + pad, ncols * (w + pad) + pad) + x.shape[3:]
    grid = np.ones(shape, np.float32)
    for i in range(n):
        r, c = divmod(i, ncols)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h,
             pad + c * (w + pad):pad + c * (w + pad) + w] = x[i]
    return grid


def save_grid(name, images, ncols=8, pad=1, normalize=True, scale=1):
    """Write ``image_grid(images)`` (each pixel repeated ``scale`` times) to
    ``out_dir()/name``; prints and returns the path."""
    g = image_grid(images, ncols, pad, normalize)
    if scale > 1:
        g = g.repeat(scale, axis=0).repeat(scale, axis=1)
    path = write_png(out_path(name), g)
    print(f"wrote {path}")
    return path


# ------------------------------------------------------------------ plots
def pyplot():
    """matplotlib.pyplot with a file-only backend, or None (with a printed note) when
    matplotlib is not installed: the labs then skip their curve plots."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib is not installed, skipping the plot (pip install matplotlib)")
        return None
    return plt


def savefig(fig, name):
    """Save a matplotlib figure to ``out_dir()/name``, close it, print and return the path."""
    path = out_path(name)
    fig.savefig(path, dpi=80)
    import matplotlib.pyplot as plt
    plt.close(fig)
    print(f"wrote {path}")
    return path
