"""Every course lab in examples/ runs in quick mode and reports a figure that a broken model
could not reach; the PNG images the labs write are real, non-blank images.

Each lab runs in a subprocess (``LAMINA_QUICK=1``, plus ``--quick`` where the script takes
it) with a timeout, writing its images to a temporary folder.  Labs that print
``RESULT name=value`` lines are judged on those; the older labs on their own printed lines.
A lab present in examples/ but unknown to ``SPECS`` still runs (as a slow smoke test).
"""
import importlib.util
import math
import os
import pathlib
import re
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))
import _common  # noqa: E402


class Spec:
    """How to judge one lab: ``figures`` maps a name to a regex with one number group (the
    last match counts; RESULT lines are parsed too), ``checks`` are (description,
    predicate on the figures dict), ``pngs`` the image files it must write (only when the
    optional package ``needs`` is installed, if given), ``slow`` marks labs that take over
    ~10 s in quick mode."""

    def __init__(self, checks, figures=None, pngs=(), slow=False, timeout=300, needs=None):
        self.checks, self.figures, self.pngs = checks, figures or {}, pngs
        self.slow, self.timeout, self.needs = slow, timeout, needs


SPECS = {
    "00_autodiff_basics.py": Spec(
        figures={"final_loss": r"final loss ([0-9.]+)",
                 "slope": r"fitted slope at x=0: (-?[0-9.]+)"},
        checks=[("fits down to the noise floor", lambda f: f["final_loss"] < 0.02),
                ("derivative of the fit near 3", lambda f: abs(f["slope"] - 3.0) < 0.5)]),
    "01_digits_mlp.py": Spec(
        figures={"sgd": r"SGD\(0\.1\):\s+test accuracy ([0-9.]+)",
                 "adam": r"Adam\(1e-3\): test accuracy ([0-9.]+)"},
        checks=[("SGD accuracy far above chance (0.1)", lambda f: f["sgd"] > 0.9),
                ("Adam accuracy far above chance", lambda f: f["adam"] > 0.8)]),
    "02_convolutions.py": Spec(
        figures={"passed": r"all checks (passed)"},
        checks=[("its own assertions passed", lambda f: "passed" in f)]),
    "03_lenet.py": Spec(
        figures={"acc": r"test accuracy ([0-9.]+)"},
        checks=[("above chance (0.1) after one quick epoch", lambda f: f["acc"] > 0.2)]),
    # quick mode: 8 epochs on 800 14x14 images (~6 s); both reach ~0.8-0.9
    "04_mini_resnet.py": Spec(
        figures={"inception_acc": r"mini-Inception \(functional\): test loss [0-9.]+, "
                                  r"test accuracy ([0-9.]+)",
                 "resnet_acc": r"mini-ResNet \(subclassed\): test loss [0-9.]+, "
                               r"test accuracy ([0-9.]+)"},
        checks=[("functional mini-Inception far above chance (0.1)",
                 lambda f: f["inception_acc"] > 0.5),
                ("subclassed mini-ResNet far above chance (0.1)",
                 lambda f: f["resnet_acc"] > 0.5)]),
    # 05-09 are also run, with more checks, by tests/examples/test_sequence_examples.py in
    # the default selection: here they join the slow run only, to keep the suite short
    "05_embeddings_recsys.py": Spec(
        checks=[("dot model beats the mean rating",
                 lambda f: f["dot_test_mae"] < f["mean_baseline_mae"] - 0.1),
                ("triplet ranking above chance (0.5)", lambda f: f["triplet_auc"] > 0.7)],
        slow=True),
    "06_text_classification.py": Spec(
        checks=[("all three classifiers far above chance (0.25)", lambda f: min(
            f[k + "_accuracy"] for k in ("averaged_embedding", "conv1d", "lstm")) > 0.8)],
        slow=True),
    "07_char_language_model.py": Spec(
        checks=[("LSTM perplexity far below the unigram's",
                 lambda f: f["lstm_perplexity"] < 0.6 * f["unigram_perplexity"])],
        slow=True),
    "08_seq2seq_numbers.py": Spec(
        checks=[("unseen numbers written exactly",
                 lambda f: f["greedy_phrase_accuracy"] > 0.7)],
        slow=True),
    "09_transformer.py": Spec(
        checks=[("encoder classifier far above chance", lambda f: f["encoder_accuracy"] > 0.8),
                ("causal LM beats the unigram",
                 lambda f: f["lm_perplexity"] < 0.6 * f["unigram_perplexity"]),
                ("the causal mask does not leak", lambda f: f["causal_leak"] < 1e-5)],
        slow=True),
    "10_backprop_numpy.py": Spec(
        checks=[("hand-written logistic regression", lambda f: f["logreg_test_accuracy"] > 0.9),
                ("hand-written one-hidden-layer net", lambda f: f["mlp_test_accuracy"] > 0.93),
                ("autograd gradients equal the hand-written ones",
                 lambda f: f["max_grad_difference"] < 1e-10)]),
    "11_optimizers.py": Spec(
        checks=[("every optimizer learns", lambda f: min(
                    f[k + "_val_accuracy"] for k in
                    ("sgd", "momentum", "adam", "adamw", "cosine", "plateau")) > 0.85),
                ("zero initialization does not train",
                 lambda f: f["init_zeros_val_accuracy"] < 0.3),
                ("Glorot initialization trains", lambda f: f["init_glorot_val_accuracy"] > 0.85)],
        pngs=("optimizers.png", "initializations.png"), needs="matplotlib"),
    "12_loss_landscape.py": Spec(
        checks=[("SGD reaches the noise floor (0.01)", lambda f: f["final_loss"] < 0.03),
                ("from far above it", lambda f: f["initial_loss"] > 10 * f["final_loss"]),
                ("the dead-ReLU start stays stuck", lambda f: f["dead_relu_final_loss"] > 1.0)],
        pngs=("loss_landscape.png",)),
    "13_siamese_triplet.py": Spec(
        checks=[("siamese verification above chance (0.5)",
                 lambda f: f["siamese_verification_accuracy"] > 0.65),
                ("triplet verification above chance",
                 lambda f: f["triplet_verification_accuracy"] > 0.65),
                ("triplet recall@10 beats the untrained tower",
                 lambda f: f["triplet_recall_at_10"] > f["chance_recall_at_10"] + 0.1)],
        pngs=("identities.png",)),
    "14_vae.py": Spec(
        checks=[("MLP VAE reconstructs better than the mean image",
                 lambda f: f["mlp_reconstruction"] < f["baseline_reconstruction"]
                 - 0.1 * (f["baseline_reconstruction"] - f["perfect_reconstruction"])),
                ("conv VAE reconstructs better than the mean image",
                 lambda f: f["conv_reconstruction"] < f["baseline_reconstruction"]
                 - 0.1 * (f["baseline_reconstruction"] - f["perfect_reconstruction"])),
                ("the latent code is used (KL > 0.5 nats)", lambda f: f["mlp_kl"] > 0.5)],
        pngs=("vae_latent.png", "vae_manifold.png", "vae_conv_samples.png")),
    "15_dcgan.py": Spec(
        checks=[("samples look like digits to a classifier",
                 lambda f: f["inception_score"] > 2.0),
                ("far better than the untrained generator",
                 lambda f: f["inception_score"] > f["untrained_inception_score"] + 1.0),
                ("both losses finite", lambda f: math.isfinite(f["d_loss"] + f["g_loss"]))],
        pngs=("gan_epoch_01.png",)),
    "16_domain_adaptation.py": Spec(
        checks=[("the source is learned", lambda f: f["source_acc_before"] > 0.95),
                ("adaptation beats source-only training of the same length",
                 lambda f: f["target_acc_after"] > f["target_acc_control"] + 0.02),
                ("target accuracy after adaptation", lambda f: f["target_acc_after"] > 0.85)],
        pngs=("domain_adaptation.png",)),
    "17_pytorch_style.py": Spec(
        checks=[("test accuracy far above chance (0.1)", lambda f: f["test_accuracy"] > 0.9)]),
    "18_data_parallel.py": Spec(
        figures={"acc": r"test accuracy ([0-9.]+) after"},
        checks=[("test accuracy (a world of one) far above chance", lambda f: f["acc"] > 0.8)]),
    # quick mode: 3,000 strips, 8 epochs (~7 s); reads ~0.75 of the unseen strips exactly
    "19_ctc_digit_strings.py": Spec(
        checks=[("whole strips read exactly far above chance (< 0.001)",
                 lambda f: f["sequence_accuracy"] > 0.4),
                ("the CTC loss came down", lambda f: f["final_loss"] < 2.0)],
        pngs=["ctc_strips.png"]),
}

_RESULT = re.compile(r"^RESULT ([A-Za-z0-9_]+)=(\S+)$", re.M)


def parse_figures(out, spec):
    """The RESULT lines as floats, plus ``spec.figures`` (last match of each regex)."""
    figs = {k: float(v) for k, v in _RESULT.findall(out)}
    for name, pattern in spec.figures.items():
        hits = re.findall(pattern, out)
        if hits:
            hit = hits[-1][0] if isinstance(hits[-1], tuple) else hits[-1]
            try:
                figs[name] = float(hit)
            except ValueError:
                figs[name] = hit
    return figs


# ------------------------------------------------------------------ PNG reading
def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def read_png(path):
    """Decode an 8-bit, non-interlaced PNG (what our writer and matplotlib produce) to a
    uint8 array (H, W, channels), checking the signature and every chunk's CRC."""
    data = pathlib.Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG signature"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        tag = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF, f"{path}: bad CRC in {tag!r}"
        if tag == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat += body
        elif tag == b"IEND":
            break
        pos += 12 + length
    assert ihdr is not None, f"{path}: no IHDR chunk"
    w, h, depth, color, _, _, interlace = ihdr
    assert depth == 8 and interlace == 0, f"{path}: unsupported PNG {ihdr}"
    ch = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    raw = np.frombuffer(zlib.decompress(idat), np.uint8)
    stride = w * ch
    assert raw.size == h * (stride + 1), f"{path}: {raw.size} bytes for {w}x{h}x{ch}"
    rows = raw.reshape(h, stride + 1)
    out = np.zeros((h, stride), np.uint8)
    prev = [0] * stride
    for r in range(h):
        ftype, line = int(rows[r, 0]), rows[r, 1:]
        if ftype == 0:
            cur = line.tolist()
        elif ftype == 1:            # Sub: a running sum along each channel
            cur = (np.cumsum(line.reshape(w, ch), axis=0, dtype=np.int64) % 256).ravel().tolist()
        elif ftype == 2:            # Up
            cur = ((line.astype(np.int64) + prev) % 256).tolist()
        else:                       # Average and Paeth: sequential, on Python ints for speed
            cur = line.tolist()
            for i in range(stride):
                left = cur[i - ch] if i >= ch else 0
                up = prev[i]
                if ftype == 3:
                    pred = (left + up) >> 1
                else:
                    ul = prev[i - ch] if i >= ch else 0
                    p = left + up - ul
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                    pred = left if pa <= pb and pa <= pc else (up if pb <= pc else ul)
                cur[i] = (cur[i] + pred) & 255
        out[r] = cur
        prev = cur
    return out.reshape(h, w, ch)


def assert_real_image(path, min_size=16):
    img = read_png(path)
    h, w = img.shape[:2]
    assert h >= min_size and w >= min_size, f"{path}: tiny image {w}x{h}"
    rgb = img[..., :3] if img.shape[2] >= 3 else img[..., :1]
    assert rgb.std() > 5 and len(np.unique(rgb)) > 4, f"{path}: blank image"
    return img


# ------------------------------------------------------------------ the helpers themselves
def test_png_writer_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (13, 21), dtype=np.uint8)
    rgb = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    assert np.array_equal(read_png(_common.write_png(tmp_path / "g.png", gray))[..., 0], gray)
    assert np.array_equal(read_png(_common.write_png(tmp_path / "c.png", rgb)), rgb)
    floats = np.linspace(0, 1, 12).reshape(3, 4)
    back = read_png(_common.write_png(tmp_path / "f.png", floats))[..., 0]
    assert np.array_equal(back, (floats * 255).round().astype(np.uint8))
    with pytest.raises(ValueError, match="write_png"):
        _common.write_png(tmp_path / "bad.png", np.zeros((2, 2, 2)))


def test_png_reader_unfilters_what_other_writers_use(tmp_path):
    # a PNG whose rows use the Sub, Up, Average and Paeth filters, built by hand
    img = np.arange(4 * 3 * 3, dtype=np.int32).reshape(4, 3, 3) * 7 % 256
    flat = img.reshape(4, 9)
    rows, prev = [], np.zeros(9, np.int32)
    for r, ftype in enumerate((1, 2, 3, 4)):
        cur, enc = flat[r], np.zeros(9, np.int32)
        for i in range(9):
            left = cur[i - 3] if i >= 3 else 0
            ul = prev[i - 3] if i >= 3 else 0
            pred = {1: left, 2: prev[i], 3: (left + prev[i]) // 2,
                    4: int(_paeth(np.int32(left), prev[i], np.int32(ul)))}[ftype]
            enc[i] = (cur[i] - pred) & 255
        rows.append(bytes([ftype]) + enc.astype(np.uint8).tobytes())
        prev = cur
    png = (b"\x89PNG\r\n\x1a\n"
           + _common._png_chunk(b"IHDR", struct.pack(">IIBBBBB", 3, 4, 8, 2, 0, 0, 0))
           + _common._png_chunk(b"IDAT", zlib.compress(b"".join(rows)))
           + _common._png_chunk(b"IEND", b""))
    (tmp_path / "f.png").write_bytes(png)
    assert np.array_equal(read_png(tmp_path / "f.png"), img.astype(np.uint8))


def test_png_reader_agrees_with_pillow_on_a_matplotlib_figure(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    image = pytest.importorskip("PIL.Image")
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1, 2], [2, 0, 1])
    fig.savefig(tmp_path / "m.png", dpi=50)
    plt.close(fig)
    mine = assert_real_image(tmp_path / "m.png")
    assert np.array_equal(mine, np.asarray(image.open(tmp_path / "m.png")))


def test_image_grid_layout():
    imgs = np.stack([np.full((4, 5), k, np.float32) for k in range(5)])
    g = _common.image_grid(imgs, ncols=3, pad=1, normalize=False)
    assert g.shape == (2 * 5 + 1, 3 * 6 + 1)
    assert g[1, 1] == 0 and g[1, 7] == 1 and g[6, 1] == 3 and g[6, 7] == 4
    assert g[0, 0] == 1 and g[6, 13] == 1             # padding and the empty sixth cell
    with pytest.raises(ValueError, match="image_grid"):
        _common.image_grid(np.zeros(5))


def test_quick_flag(monkeypatch):
    monkeypatch.delenv("LAMINA_QUICK", raising=False)
    assert _common.is_quick(["--quick"]) and not _common.is_quick([])
    monkeypatch.setenv("LAMINA_QUICK", "1")
    assert _common.is_quick([])
    monkeypatch.setenv("LAMINA_QUICK", "0")
    assert not _common.is_quick([])


def test_parse_figures_reads_result_lines_and_patterns():
    out = "epoch 1\nRESULT acc=0.5\nnoise RESULT x=1\nRESULT acc=0.75\nfinal loss 0.01\n"
    f = parse_figures(out, Spec([], figures={"loss": r"final loss ([0-9.]+)"}))
    assert f == {"acc": 0.75, "loss": 0.01}


# ------------------------------------------------------------------ every lab
def _labs():
    params = []
    for path in sorted(EXAMPLES.glob("[0-9][0-9]_*.py")):
        spec = SPECS.get(path.name, Spec([], slow=True))
        marks = [pytest.mark.slow] if spec.slow else []
        params.append(pytest.param(path, spec, id=path.stem, marks=marks))
    return params


def test_every_listed_lab_exists_in_the_readme():
    readme = (EXAMPLES / "README.md").read_text()
    for path in EXAMPLES.glob("[0-9][0-9]_*.py"):
        assert path.name in readme, f"examples/README.md does not list {path.name}"


@pytest.mark.parametrize("path,spec", _labs())
def test_lab_runs_in_quick_mode(path, spec, tmp_path):
    env = dict(os.environ, LAMINA_QUICK="1", LAMINA_EXAMPLES_OUT=str(tmp_path),
               MPLBACKEND="Agg", PYTHONPATH=os.pathsep.join(
                   [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    # small GEMMs under a multi-threaded BLAS on a busy machine run up to 10x slower
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    args = [sys.executable, str(path)]
    if "--quick" in path.read_text():
        args.append("--quick")
    try:
        proc = subprocess.run(args, cwd=str(tmp_path), env=env, capture_output=True,
                              text=True, timeout=spec.timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{path.name} did not finish within {spec.timeout} s in quick mode")
    out = proc.stdout
    assert proc.returncode == 0, (f"{path.name} failed (exit {proc.returncode}):\n"
                                  f"{out[-3000:]}\n{proc.stderr[-3000:]}")
    figures = parse_figures(out, spec)
    for value in figures.values():
        if isinstance(value, float):
            assert math.isfinite(value), f"{path.name}: non-finite figure in {figures}"
    for description, check in spec.checks:
        try:
            ok = check(figures)
        except KeyError as e:
            pytest.fail(f"{path.name}: figure {e} not printed; got {figures}\n{out[-2000:]}")
        assert ok, f"{path.name}: {description}: failed with {figures}"
    # images drawn with an optional package (``needs``) are only expected when it is there
    if not spec.needs or importlib.util.find_spec(spec.needs) is not None:
        for name in spec.pngs:
            assert (tmp_path / name).exists(), f"{path.name} did not write {name}"
    for png in tmp_path.glob("*.png"):
        assert_real_image(png)
