"""CUDA helpers (CuPy is imported only when asked for)."""
from .backend import cuda_is_available


def is_available() -> bool:
    """True when CuPy is installed and a CUDA device is visible."""
    return cuda_is_available()


def device_count() -> int:
    """Number of visible CUDA devices (0 without CuPy)."""
    if not cuda_is_available():
        return 0
    from .backend import cupy_module
    return cupy_module().cuda.runtime.getDeviceCount()


def synchronize() -> None:
    """Wait for queued GPU work (a no-op without CUDA); use before reading timings."""
    if cuda_is_available():
        from .backend import cupy_module
        cupy_module().cuda.Device().synchronize()
