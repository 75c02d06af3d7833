"""The sequence labs (05-09) run in quick mode in a subprocess and print ``RESULT`` figures
that an untrained or broken model could not reach: recommender MAE well below the
mean-rating baseline and a ranking AUC above popularity's, text classifiers far above
chance, language models far below the character-frequency perplexity, exact translation
of unseen French numbers, and a causal mask that does not leak."""
import math
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
_RESULT = re.compile(r"^RESULT ([A-Za-z0-9_]+)=(\S+)$", re.M)


def run_lab(name, tmp_path, timeout=240):
    """Run ``examples/<name>`` with LAMINA_QUICK=1; returns (stdout, {figure: float})."""
    env = dict(os.environ, LAMINA_QUICK="1", LAMINA_EXAMPLES_OUT=str(tmp_path),
               LAMINA_HOME=str(tmp_path / "home"), MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in
                                                          [os.environ.get("PYTHONPATH")] if p]))
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        proc = subprocess.run([sys.executable, str(EXAMPLES / name)], cwd=str(tmp_path),
                              env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} did not finish within {timeout} s in quick mode")
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    figs = {k: float(v) for k, v in _RESULT.findall(proc.stdout)}
    assert figs and all(math.isfinite(v) for v in figs.values()), figs
    return proc.stdout, figs


def test_05_recommenders(tmp_path):
    out, f = run_lab("05_embeddings_recsys.py", tmp_path)
    assert "synthetic" in out                          # the empty LAMINA_HOME has no MovieLens
    assert f["dot_test_mae"] < f["mean_baseline_mae"] - 0.15, f
    assert f["deep_test_mae"] < f["mean_baseline_mae"] - 0.1, f
    assert f["triplet_auc"] > max(0.7, f["popularity_auc"] + 0.03), f


def _fake_imdb(home, n=1000, seed=0):
    """An IMDB cache in lamina's format whose positive reviews use words 5-9 more often."""
    import numpy as np
    from lamina.data.text_datasets import save_imdb_tokens
    rng = np.random.default_rng(seed)
    splits = []
    for _ in range(2):
        y = rng.integers(0, 2, n)
        seqs = []
        for label in y:
            s = rng.integers(1, 3000, rng.integers(20, 60))
            cue = rng.random(len(s)) < 0.15
            s[cue] = rng.integers(5, 10, cue.sum()) + (20 if label == 0 else 0)
            seqs.append(s.tolist())
        splits.append((seqs, y))
    save_imdb_tokens(str(home / "datasets" / "imdb" / "imdb_tokens.npz"), *splits)


def test_06_text_classification(tmp_path):
    _fake_imdb(tmp_path / "home")
    out, f = run_lab("06_text_classification.py", tmp_path)
    for name in ("averaged_embedding", "conv1d", "lstm"):
        assert f[f"{name}_accuracy"] > 0.85, f        # chance is 0.25
    assert f["imdb_accuracy"] > 0.75, f               # the cached-IMDB branch ran


def test_07_char_language_model(tmp_path):
    out, f = run_lab("07_char_language_model.py", tmp_path)
    assert f["lstm_perplexity"] < 0.5 * f["unigram_perplexity"], f
    assert out.count("--- temperature") == 3


def test_08_seq2seq_numbers(tmp_path):
    out, f = run_lab("08_seq2seq_numbers.py", tmp_path)
    assert f["greedy_phrase_accuracy"] > 0.8, f       # exact digits of unseen numbers
    assert f["beam_phrase_accuracy"] > 0.8, f
    assert f["beam_phrase_accuracy"] >= f["greedy_subset_accuracy"] - 0.05, f


def test_09_transformer(tmp_path):
    out, f = run_lab("09_transformer.py", tmp_path)
    assert f["encoder_accuracy"] > 0.85, f
    assert f["lm_perplexity"] < 0.5 * f["unigram_perplexity"], f
    assert f["causal_leak"] < 1e-5, f
