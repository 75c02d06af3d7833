"""Lab 1: a multilayer perceptron on the 8x8 handwritten digits, written as a Keras user would.

The digits (1,797 images of 8x8 pixels) ship with lamina, so this runs offline:

    python examples/01_digits_mlp.py            # 15 epochs with SGD, then with Adam
    python examples/01_digits_mlp.py --quick    # 3 epochs each (or LAMINA_QUICK=1)
"""
import argparse
import os
import sys

import numpy as np

try:
    from lamina import keras
except ImportError:          # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from lamina import keras
from lamina.data import load_digits, train_test_split, standardize

SEED = 0


def load_data(seed=SEED):
    """Standardized digits split 1527/270 with a fixed seed, targets one-hot encoded."""
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=270, seed=seed)
    X_train, X_test = standardize(X_train, X_test)
    Y_train = keras.utils.to_categorical(y_train, 10)
    Y_test = keras.utils.to_categorical(y_test, 10)
    return (X_train, Y_train), (X_test, Y_test)


def build_model():
    """Dense(100, tanh) -> Dense(10, softmax): 64*100+100 + 100*10+10 = 7,510 parameters."""
    return keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(100, activation="tanh"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def train(optimizer, epochs=15, batch_size=32, verbose=1, seed=SEED):
    """Train a fresh model with ``optimizer``; returns (model, history, test accuracy)."""
    keras.utils.set_random_seed(seed)
    (X_train, Y_train), (X_test, Y_test) = load_data(seed)
    model = build_model()
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(X_train, Y_train, epochs=epochs, batch_size=batch_size,
                        verbose=verbose)
    test_loss, test_acc = model.evaluate(X_test, Y_test, verbose=0)
    return model, history, test_acc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs instead of 15")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("LAMINA_QUICK", "") not in ("", "0")
    epochs = 3 if quick else 15

    model, _, acc_sgd = train(keras.optimizers.SGD(learning_rate=0.1), epochs=epochs)
    model.summary()
    print(f"SGD(0.1):   test accuracy {acc_sgd:.4f}")

    _, _, acc_adam = train(keras.optimizers.Adam(learning_rate=0.001), epochs=epochs)
    print(f"Adam(1e-3): test accuracy {acc_adam:.4f}")

    pred = np.argmax(model.predict(load_data()[1][0][:10], verbose=0), axis=1)
    print("first test predictions (SGD model):", pred.tolist())
    return acc_sgd, acc_adam


if __name__ == "__main__":
    main()
