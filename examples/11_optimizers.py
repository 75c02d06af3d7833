"""Lab 11: optimizers, learning-rate schedules and weight initialization, compared.

One small network on the 8x8 digits (64 -> 64 tanh -> 64 tanh -> 10 softmax), trained from
the same initial weights with each optimizer of the course: plain SGD, SGD with momentum,
Nesterov momentum, Adagrad, RMSprop, Adam and AdamW; then SGD with a cosine learning-rate
schedule and SGD with ReduceLROnPlateau.  The training-loss and validation-accuracy curves
go into one PNG.  Then an initialization study on a deeper tanh network: all zeros, tiny
random weights, Glorot, and large random weights, to see which ones train.

    python examples/11_optimizers.py            # 15 epochs per run (about half a minute)
    python examples/11_optimizers.py --quick    # 4 epochs, fewer runs of the init study

Writes ``optimizers.png`` and ``initializations.png`` when matplotlib is installed.
"""
import numpy as np

from _common import is_quick, pyplot, result, savefig

from lamina import keras
from lamina.data import load_digits, standardize, train_test_split

QUICK = is_quick()
EPOCHS = 4 if QUICK else 15
BATCH = 32

# ---------------------------------------------------------------- data
X, y = load_digits(source="package")  # the shipped copy: no scikit-learn import
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.2, seed=0)
X_train, X_val = standardize(X_train, X_val)
steps_per_epoch = -(-len(X_train) // BATCH)
print(f"digits: {len(X_train)} training and {len(X_val)} validation images")


def build(hidden=(64, 64), init="glorot_uniform"):
    """A tanh MLP; every run calls this after re-seeding, so all start from equal weights."""
    layers = [keras.Input(shape=(64,))]
    layers += [keras.layers.Dense(h, activation="tanh", kernel_initializer=init)
               for h in hidden]
    layers.append(keras.layers.Dense(10, activation="softmax", kernel_initializer=init))
    return keras.Sequential(layers)


def run(optimizer, callbacks=(), epochs=EPOCHS, **build_kwargs):
    """Train a freshly seeded model; returns the History's dict."""
    keras.utils.set_random_seed(0)
    model = build(**build_kwargs)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    hist = model.fit(X_train, y_train, batch_size=BATCH, epochs=epochs, verbose=0,
                     validation_data=(X_val, y_val), callbacks=list(callbacks))
    return hist.history


# ---------------------------------------------------------------- 1. optimizers
opt = keras.optimizers
runs = {
    "SGD 0.05": lambda: opt.SGD(0.05),
    "momentum 0.9": lambda: opt.SGD(0.05, momentum=0.9),
    "Nesterov 0.9": lambda: opt.SGD(0.05, momentum=0.9, nesterov=True),
    "Adagrad": lambda: opt.Adagrad(0.05),
    "RMSprop": lambda: opt.RMSprop(0.001),
    "Adam": lambda: opt.Adam(0.001),
    "AdamW": lambda: opt.AdamW(0.001, weight_decay=0.01),
    # the schedule is evaluated at every step: from 0.2 down to 0 over the whole run
    "SGD + cosine": lambda: opt.SGD(opt.schedules.CosineDecay(0.2, EPOCHS * steps_per_epoch)),
}
histories = {}
print(f"\n{'optimizer':<22}{'train loss':>11}{'val acc':>9}   (after {EPOCHS} epochs)")
for name, make in runs.items():
    h = histories[name] = run(make())
    print(f"{name:<22}{h['loss'][-1]:11.4f}{h['val_accuracy'][-1]:9.3f}")

# ReduceLROnPlateau divides the learning rate when the validation loss stops improving;
# a deliberately large rate makes the effect visible.
plateau = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=1,
                                            min_lr=1e-4)
h = histories["SGD 0.5 + plateau"] = run(opt.SGD(0.5), callbacks=[plateau])
lrs = h.get("learning_rate", [])
print(f"{'SGD 0.5 + plateau':<22}{h['loss'][-1]:11.4f}{h['val_accuracy'][-1]:9.3f}"
      + (f"   lr {lrs[0]:.3g} -> {lrs[-1]:.3g}" if lrs else ""))

plt = pyplot()
if plt is not None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, h in histories.items():
        epochs = np.arange(1, len(h["loss"]) + 1)
        ax1.semilogy(epochs, h["loss"], label=name)
        ax2.plot(epochs, h["val_accuracy"], label=name)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation accuracy")
    ax2.set_ylim(0.5, 1.0)
    ax2.legend(fontsize=7, loc="lower right")
    fig.suptitle("digits MLP: one model, nine optimizers")
    fig.tight_layout()
    savefig(fig, "optimizers.png")

# ---------------------------------------------------------------- 2. initialization
# A deeper tanh network (4 hidden layers) trained with plain SGD.  Zeros: every unit of a
# layer computes the same thing and gets the same gradient, and with zero weights the
# hidden layers get none at all: only the output bias learns.  Tiny weights: the signal
# and the gradients shrink layer after layer.  Large weights: the tanh units saturate.
inits = {
    "zeros": keras.initializers.Zeros(),
    "tiny (std 1e-3)": keras.initializers.RandomNormal(stddev=1e-3),
    "Glorot uniform": keras.initializers.GlorotUniform(),
    "large (std 3)": keras.initializers.RandomNormal(stddev=3.0),
}
init_hist = {}
print(f"\n{'initializer':<22}{'train loss':>11}{'val acc':>9}   (4 hidden tanh layers, SGD 0.05)")
for name, init in inits.items():
    h = init_hist[name] = run(opt.SGD(0.05), hidden=(64,) * 4, init=init)
    print(f"{name:<22}{h['loss'][-1]:11.4f}{h['val_accuracy'][-1]:9.3f}")

if plt is not None:
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, h in init_hist.items():
        ax.plot(np.arange(1, len(h["loss"]) + 1), h["val_accuracy"], label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.set_title("initialization of a 4-hidden-layer tanh MLP")
    ax.legend(fontsize=8)
    fig.tight_layout()
    savefig(fig, "initializations.png")

final = {k: v["val_accuracy"][-1] for k, v in histories.items()}
best = max(final, key=final.get)
print(f"\nbest optimizer here: {best} ({final[best]:.3f})")
for key, name in (("sgd", "SGD 0.05"), ("momentum", "momentum 0.9"), ("adam", "Adam"),
                  ("adamw", "AdamW"), ("cosine", "SGD + cosine"),
                  ("plateau", "SGD 0.5 + plateau")):
    result(f"{key}_val_accuracy", final[name])
result("best_val_accuracy", final[best])
result("init_zeros_val_accuracy", init_hist["zeros"]["val_accuracy"][-1])
result("init_glorot_val_accuracy", init_hist["Glorot uniform"]["val_accuracy"][-1])
result("init_large_val_accuracy", init_hist["large (std 3)"]["val_accuracy"][-1])
result("init_tiny_val_accuracy", init_hist["tiny (std 1e-3)"]["val_accuracy"][-1])
