"""Lab 2: convolution, strides, padding and pooling on an image.

Uses scikit-image's ``camera`` photograph when scikit-image is installed, else a generated
64x64 scene (a disc, a square, a bar and a smooth gradient).  Everything is channels-last
(N, H, W, C) with HWIO kernels, as in Keras:

* a box blur and a Gaussian blur (the image gets smoother: its variance drops),
* Sobel edge detection (the strongest responses lie on the shapes' outlines),
* output shapes for 'valid' / 'same' padding and strides 1-3 (Keras's formulas),
* checks that average pooling equals a strided convolution with a constant kernel and
  that max pooling equals the maximum over the strided window offsets.

    python examples/02_convolutions.py
"""
import numpy as np

import lamina as lm
from lamina.nn import functional as F


def load_image(size=64):
    """A grayscale image (1, H, W, 1) float32 in [0, 1] and its name."""
    try:
        from skimage import data
        img = data.camera().astype(np.float32) / 255.0
        step = max(1, img.shape[0] // 128)
        return img[::step, ::step][None, :, :, None], "skimage camera (downsampled)"
    except ImportError:
        pass
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    img = 0.25 * xx / size                                        # smooth background ramp
    img[(yy - 20) ** 2 + (xx - 20) ** 2 < 12 ** 2] = 1.0          # disc
    img[36:56, 34:54] = 0.6                                       # square
    img[8:14, 38:60] = 0.85                                       # bar
    return img[None, :, :, None], "generated scene (disc, square, bar, ramp)"


def ascii_art(img, width=32):
    """A coarse text rendering of a 2-D array (darker characters for larger values)."""
    chars = " .:-=+*#%@"
    step = max(1, img.shape[1] // width)
    small = img[::step, ::step]
    lo, hi = small.min(), small.max()
    q = ((small - lo) / (hi - lo + 1e-12) * (len(chars) - 1)).round().astype(int)
    return "\n".join("".join(chars[v] for v in row) for row in q)


def kernel(k2d):
    """A (KH, KW) filter as an HWIO kernel (KH, KW, 1, 1)."""
    return lm.tensor(np.asarray(k2d, np.float32)[:, :, None, None])


def main():
    x_np, name = load_image()
    x = lm.tensor(x_np)
    print(f"image: {name}, shape {x.shape} (N, H, W, C)")

    # --- blur
    box = kernel(np.full((5, 5), 1 / 25))
    g1 = np.exp(-0.5 * (np.arange(-3, 4) / 1.5) ** 2)
    gauss = kernel(np.outer(g1, g1) / np.outer(g1, g1).sum())
    for label, k in (("box 5x5", box), ("gaussian 7x7, sigma 1.5", gauss)):
        y = F.conv2d(x, k, padding="same")
        print(f"{label:>24}: output {y.shape}, variance {x_np.var():.4f} -> "
              f"{y.numpy().var():.4f}")

    # --- edges (Sobel)
    sx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
    gx = F.conv2d(x, kernel(sx), padding="same")
    gy = F.conv2d(x, kernel(sx.T), padding="same")
    mag = lm.sqrt(gx * gx + gy * gy).numpy()[0, :, :, 0]
    inner = mag[2:-2, 2:-2]               # away from the zero padding at the border
    strong = inner >= np.quantile(inner, 0.95)
    print(f"sobel magnitude: median {np.median(inner):.3f}, mean of the strongest 5% "
          f"{inner[strong].mean():.3f} (edges are sparse and strong)")
    print("edges (sobel magnitude):")
    print(ascii_art(mag))

    # --- strides and padding: output sizes follow Keras's formulas
    print("\noutput height for a 3x3 kernel on height", x.shape[1])
    h = x.shape[1]
    for padding in ("valid", "same"):
        for s in (1, 2, 3):
            y = F.conv2d(x, kernel(np.ones((3, 3)) / 9), strides=s, padding=padding)
            expect = (h - 3) // s + 1 if padding == "valid" else -(-h // s)
            assert y.shape[1] == expect
            print(f"  padding={padding:<5} strides={s}: {y.shape[1]:>3} "
                  f"(formula {'floor((H-3)/s)+1' if padding == 'valid' else 'ceil(H/s)'})")

    # --- pooling as convolution
    for p in (2, 3):
        avg = F.avg_pool2d(x, p)
        conv = F.conv2d(x, kernel(np.full((p, p), 1 / p ** 2)), strides=p)
        err = np.abs(avg.numpy() - conv.numpy()).max()
        assert err < 1e-6, err
        print(f"avg_pool2d({p}) == conv2d(constant {p}x{p} kernel, strides={p}): "
              f"max difference {err:.2e}")
    mp = F.max_pool2d(x, 2).numpy()
    ho, wo = mp.shape[1:3]
    offsets = [x_np[:, i:i + 2 * ho:2, j:j + 2 * wo:2] for i in range(2) for j in range(2)]
    assert np.array_equal(mp, np.max(offsets, axis=0))
    print("max_pool2d(2) == max over the four strided offsets: exact")
    print("all checks passed")


if __name__ == "__main__":
    main()
