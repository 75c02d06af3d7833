"""keras.ops.linalg: Keras 3's linear algebra ops, the same functions as the flat
``keras.ops`` names.
Re-exports only."""
from ...nn.keras_ops import (  # noqa: F401
    cholesky, cholesky_inverse, det, eig, eigh, inv, jvp, lstsq, lu_factor, matrix_rank,
    norm, pinv, qr, solve, solve_triangular, svd)

__all__ = ["cholesky", "cholesky_inverse", "det", "eig", "eigh", "inv", "jvp", "lstsq",
           "lu_factor", "matrix_rank", "norm", "pinv", "qr", "solve",
           "solve_triangular", "svd"]
