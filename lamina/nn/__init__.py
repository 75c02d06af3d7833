"""Neural networks: layers, models, losses, metrics, optimizers and training."""
from . import functional  # noqa: E402,F401
