"""Lab 3: LeNet-5 trained with SGD (momentum) on MNIST, or on generated digits offline.

Conv 6@5x5 tanh ('same') -> MaxPool 2 -> Conv 16@5x5 tanh -> AvgPool 2 -> Conv 120@5x5 tanh
-> Flatten -> Dense 84 tanh -> Dense 10 softmax (61,706 parameters).

Data: MNIST when its four IDX files are in lamina's cache (see ``lamina.data.vision``; no
download is attempted here), else ``lamina.data.synthetic_digits`` (28x28 renders of the
shipped 8x8 digits with random scale, shift and noise; its test split renders digits never
used for training).  The script prints the test accuracy; on the generated digits it
should reach at least 0.97.

    python examples/03_lenet.py              # 12 epochs (about a minute on a laptop CPU)
    python examples/03_lenet.py --quick      # 1 epoch on 2,000 images (a smoke test)
"""
import argparse
import time

from lamina import keras
from lamina.data import synthetic_digits
from lamina.data.vision import mnist


def load(quick):
    """((x_train, y_train), (x_test, y_test), name): images (n, 28, 28, 1) standardized."""
    try:
        (xtr, ytr), (xte, yte) = mnist.load_data(download=False)
        name = "MNIST"
    except FileNotFoundError:
        n_train, n_test = (2000, 500) if quick else (12000, 2000)
        (xtr, ytr), (xte, yte) = synthetic_digits(n_train, n_test, seed=0)
        name = "synthetic digits (MNIST not cached)"
    if quick:
        xtr, ytr = xtr[:2000], ytr[:2000]
    xtr = xtr[..., None].astype("float32") / 255.0
    xte = xte[..., None].astype("float32") / 255.0
    mu, sd = xtr.mean(), xtr.std()
    return ((xtr - mu) / sd, ytr.astype("int64")), ((xte - mu) / sd, yte.astype("int64")), name


def lenet5():
    """LeNet-5 as a Keras Sequential model."""
    L = keras.layers
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        L.Conv2D(6, 5, padding="same", activation="tanh"),
        L.MaxPooling2D(2),
        L.Conv2D(16, 5, activation="tanh"),
        L.AveragePooling2D(2),
        L.Conv2D(120, 5, activation="tanh"),
        L.Flatten(),
        L.Dense(84, activation="tanh"),
        L.Dense(10, activation="softmax"),
    ], name="lenet5")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 epoch on 2,000 images")
    ap.add_argument("--epochs", type=int, default=12)
    args = ap.parse_args(argv)
    keras.utils.set_random_seed(0)
    (xtr, ytr), (xte, yte), name = load(args.quick)
    print(f"data: {name}: {len(xtr)} training and {len(xte)} test images")
    model = lenet5()
    model.summary()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    epochs = 1 if args.quick else args.epochs
    t0 = time.perf_counter()
    model.fit(xtr, ytr, epochs=epochs, batch_size=64, verbose=2)
    secs = time.perf_counter() - t0
    loss, acc = model.evaluate(xte, yte, verbose=0)
    print(f"trained {epochs} epoch(s) in {secs:.1f} s; test loss {loss:.4f}, "
          f"test accuracy {acc:.4f} on {name}")
    return acc


if __name__ == "__main__":
    main()
