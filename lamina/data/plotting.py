"""Plot a training History (loss and metrics per epoch) to an image file."""
from __future__ import annotations

__all__ = ["plot_history", "plot_model"]


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plot_history needs the optional dependency 'matplotlib' "
                          "(pip install matplotlib, or pip install lamina[plot])") from None
    return plt


def plot_history(history, path, metrics=None, dpi=100):
    """Draw each metric of ``history`` (a History or its ``.history`` dict) with its
    ``val_`` counterpart, one panel per metric, and save the figure to ``path`` (PNG)."""
    h = getattr(history, "history", history)
    if not isinstance(h, dict) or not h:
        raise ValueError("plot_history: expected a History (or its .history dict) with at "
                         "least one metric")
    names = metrics or [k for k in h if not k.startswith("val_")]
    missing = [k for k in names if k not in h]
    if missing:
        raise ValueError(f"plot_history: metrics {missing} are not in the history "
                         f"(available: {sorted(h)})")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, k in zip(axes[0], names):
        epochs = range(1, len(h[k]) + 1)
        ax.plot(epochs, h[k], label=k)
        if "val_" + k in h:
            ax.plot(range(1, len(h["val_" + k]) + 1), h["val_" + k], label="val_" + k)
        ax.set_xlabel("epoch")
        ax.set_title(k)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_model(model, to_file="model.png", **kwargs):
    """Not available: drawing the layer graph needs pydot and graphviz, which lamina does not
    use.  ``model.summary()`` prints the same structure as text."""
    raise ImportError("plot_model needs 'pydot' and the graphviz binaries, which lamina does "
                      "not support; use model.summary() to see the layers and shapes")
