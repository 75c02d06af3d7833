"""``Hashing``: strings or integers into ``num_bins`` bins as Keras 3 does, with TensorFlow's
FarmHash64 (or SipHash-2-4 keyed by ``salt``) written here in pure Python, so the bins and
the lookups' out-of-vocabulary slots land where Keras's do."""
from __future__ import annotations

import numpy as np

from ...tensor import _wrap
from .base import Layer
from .structured import _host, _encode, _encoded_shape
from .symbolic import KerasTensor

__all__ = ["Hashing", "farmhash64", "siphash64"]


def _hash_bytes(b, salt):
    """TensorFlow's string hash: FarmHash64, or SipHash-2-4 keyed by ``salt``."""
    return siphash64(salt, b) if salt is not None else farmhash64(b)


_M64 = (1 << 64) - 1
_K0, _K1, _K2 = 0xc3a5c85c97cb3127, 0xb492b66fbe98f273, 0x9ae16a3b2f90404f


def _rot(v, s):
    return v if s == 0 else ((v >> s) | (v << (64 - s))) & _M64


def _u64(b, i):
    return int.from_bytes(b[i:i + 8], "little")


def _u32(b, i):
    return int.from_bytes(b[i:i + 4], "little")


def _mix16(u, v, mul):
    a = ((u ^ v) * mul) & _M64
    a ^= a >> 47
    b = ((v ^ a) * mul) & _M64
    b ^= b >> 47
    return (b * mul) & _M64


def _weak32(b, i, a, c):
    """FarmHash's WeakHashLen32WithSeeds over the 32 bytes at b[i:]."""
    w, x, y, z = _u64(b, i), _u64(b, i + 8), _u64(b, i + 16), _u64(b, i + 24)
    a = (a + w) & _M64
    c = _rot((c + a + z) & _M64, 21)
    first = a
    a = (a + x + y) & _M64
    c = (c + _rot(a, 44)) & _M64
    return (a + z) & _M64, (c + first) & _M64


def farmhash64(data):
    """FarmHash's Fingerprint64 (farmhashna::Hash64) of ``data`` (bytes): the hash of
    TensorFlow's ``to_hash_bucket_fast``, which Keras's Hashing layer uses."""
    b, n = data, len(data)
    if n <= 16:
        if n >= 8:
            mul = _K2 + 2 * n
            a = (_u64(b, 0) + _K2) & _M64
            c = _u64(b, n - 8)
            return _mix16((_rot(c, 37) * mul + a) & _M64, ((_rot(a, 25) + c) * mul) & _M64,
                          mul)
        if n >= 4:
            mul = _K2 + 2 * n
            return _mix16((n + (_u32(b, 0) << 3)) & _M64, _u32(b, n - 4), mul)
        if n > 0:
            y = b[0] + (b[n >> 1] << 8)
            z = n + (b[n - 1] << 2)
            h = ((y * _K2) ^ (z * _K0)) & _M64
            return ((h ^ (h >> 47)) * _K2) & _M64
        return _K2
    mul = _K2 + 2 * n
    if n <= 32:
        a = (_u64(b, 0) * _K1) & _M64
        c0 = _u64(b, 8)
        c = (_u64(b, n - 8) * mul) & _M64
        d = (_u64(b, n - 16) * _K2) & _M64
        return _mix16((_rot((a + c0) & _M64, 43) + _rot(c, 30) + d) & _M64,
                      (a + _rot((c0 + _K2) & _M64, 18) + c) & _M64, mul)
    if n <= 64:
        a = (_u64(b, 0) * _K2) & _M64
        c0 = _u64(b, 8)
        c = (_u64(b, n - 8) * mul) & _M64
        d = (_u64(b, n - 16) * _K2) & _M64
        y = (_rot((a + c0) & _M64, 43) + _rot(c, 30) + d) & _M64
        z = _mix16(y, (a + _rot((c0 + _K2) & _M64, 18) + c) & _M64, mul)
        e = (_u64(b, 16) * mul) & _M64
        f = _u64(b, 24)
        g = ((y + _u64(b, n - 32)) * mul) & _M64
        h = ((z + _u64(b, n - 24)) * mul) & _M64
        return _mix16((_rot((e + f) & _M64, 43) + _rot(g, 30) + h) & _M64,
                      (e + _rot((f + a) & _M64, 18) + g) & _M64, mul)
    # over 64 bytes: 64-byte blocks through a 56-byte state, then the last 64 bytes
    seed = 81
    x = seed
    y = (seed * _K1 + 113) & _M64
    z = ((((y * _K2 + 113) & _M64) ^ (((y * _K2 + 113) & _M64) >> 47)) * _K2) & _M64
    v = (0, 0)
    w = (0, 0)
    x = (x * _K2 + _u64(b, 0)) & _M64
    end = ((n - 1) // 64) * 64
    last = n - 64
    i = 0
    while True:
        x = (_rot((x + y + v[0] + _u64(b, i + 8)) & _M64, 37) * _K1) & _M64
        y = (_rot((y + v[1] + _u64(b, i + 48)) & _M64, 42) * _K1) & _M64
        x ^= w[1]
        y = (y + v[0] + _u64(b, i + 40)) & _M64
        z = (_rot((z + w[0]) & _M64, 33) * _K1) & _M64
        v = _weak32(b, i, (v[1] * _K1) & _M64, (x + w[0]) & _M64)
        w = _weak32(b, i + 32, (z + w[1]) & _M64, (y + _u64(b, i + 16)) & _M64)
        z, x = x, z
        i += 64
        if i == end:
            break
    mul = _K1 + ((z & 0xff) << 1)
    w0 = (w[0] + ((n - 1) & 63)) & _M64
    v0 = (v[0] + w0) & _M64
    w0 = (w0 + v0) & _M64
    v, w = (v0, v[1]), (w0, w[1])
    x = (_rot((x + y + v[0] + _u64(b, last + 8)) & _M64, 37) * mul) & _M64
    y = (_rot((y + v[1] + _u64(b, last + 48)) & _M64, 42) * mul) & _M64
    x ^= (w[1] * 9) & _M64
    y = (y + v[0] * 9 + _u64(b, last + 40)) & _M64
    z = (_rot((z + w[0]) & _M64, 33) * mul) & _M64
    v = _weak32(b, last, (v[1] * mul) & _M64, (x + w[0]) & _M64)
    w = _weak32(b, last + 32, (z + w[1]) & _M64, (y + _u64(b, last + 16)) & _M64)
    z, x = x, z
    return _mix16((_mix16(v[0], w[0], mul) + (y ^ (y >> 47)) * _K0 + z) & _M64,
                  (_mix16(v[1], w[1], mul) + x) & _M64, mul)


def siphash64(key, data):
    """SipHash-2-4 of ``data`` (bytes) under the 128-bit key ``(k0, k1)``: the hash of
    TensorFlow's ``to_hash_bucket_strong`` (Keras's Hashing with a ``salt``)."""
    k0, k1 = key[0] & _M64, key[1] & _M64
    v0, v1 = k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d
    v2, v3 = k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573

    def rounds(v0, v1, v2, v3, n):
        for _ in range(n):
            v0 = (v0 + v1) & _M64
            v1 = _rot(v1, 64 - 13) ^ v0
            v0 = _rot(v0, 64 - 32)
            v2 = (v2 + v3) & _M64
            v3 = _rot(v3, 64 - 16) ^ v2
            v0 = (v0 + v3) & _M64
            v3 = _rot(v3, 64 - 21) ^ v0
            v2 = (v2 + v1) & _M64
            v1 = _rot(v1, 64 - 17) ^ v2
            v2 = _rot(v2, 64 - 32)
        return v0, v1, v2, v3
    n = len(data)
    tail = data[n - n % 8:] + bytes(7 - n % 8) + bytes([n & 0xff])
    for i in range(0, n - n % 8, 8):
        m = _u64(data, i)
        v3 ^= m
        v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
        v0 ^= m
    m = int.from_bytes(tail, "little")
    v3 ^= m
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
    v0 ^= m
    v2 ^= 0xff
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3


class Hashing(Layer):
    """Hashes strings or integers into ``num_bins`` bins, as Keras (TensorFlow's
    FarmHash64 of the value's text, integers in decimal; SipHash-2-4 keyed by ``salt``
    when given), so the bins match Keras's.  ``mask_value`` reserves bin 0 for itself
    (the others hash into 1 .. num_bins - 1).  'int' keeps the input shape (int64);
    'one_hot' / 'multi_hot' / 'count' encode the bins as :class:`CategoryEncoding`."""

    _convert_inputs = False

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False,
                 **kwargs):
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "int64" if output_mode == "int" else "float32"
        super().__init__(**kwargs)
        who = f"Hashing '{self.name}'"
        if num_bins is None or num_bins <= 0:
            raise ValueError(f"{who}: num_bins must be a positive int, got {num_bins!r}")
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise ValueError(f"{who}: output_mode must be 'int', 'one_hot', 'multi_hot' or "
                             f"'count', got {output_mode!r}")
        if output_mode == "int" and self._dtype.kind != "i":
            raise ValueError(f"{who}: output_mode='int' needs an integer dtype, got "
                             f"{self._dtype}")
        if sparse:
            raise ValueError(f"{who}: sparse=True is not supported")
        if salt is not None:
            if isinstance(salt, (tuple, list)) and len(salt) == 2:
                salt = [int(s) for s in salt]
            elif isinstance(salt, (int, np.integer)):
                salt = [int(salt), int(salt)]
            else:
                raise ValueError(f"{who}: salt must be an int or a pair of ints, got "
                                 f"{salt!r}")
        self.num_bins = int(num_bins)
        self.mask_value = mask_value
        self.salt = salt
        self.output_mode = output_mode
        self.sparse = False
        self.built = True

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, KerasTensor):
            return super().__call__(inputs, *args, **kwargs)
        return self.call(inputs)

    def _bins(self, arr):
        """The bin of each value of ``arr`` (a NumPy array), as an int64 array."""
        bins = self.num_bins
        masked = self.mask_value is not None and bins > 1
        if masked:
            bins -= 1
        if arr.dtype.kind == "f":
            arr = arr.astype(np.int64)       # as Keras: floats hash as their integer part
        salt = self.salt
        out = np.empty(arr.size, dtype=np.int64)
        for i, v in enumerate(arr.reshape(-1).tolist()):
            if masked and v == self.mask_value:
                out[i] = 0
                continue
            if isinstance(v, str):
                b = v.encode("utf-8")
            elif isinstance(v, bytes):
                b = v
            elif isinstance(v, int) and not isinstance(v, bool):
                b = str(v).encode()
            else:
                raise TypeError(f"Hashing '{self.name}': expected strings or integers, got "
                                f"{type(v).__name__} ({v!r})")
            out[i] = _hash_bytes(b, salt) % bins + (1 if masked else 0)
        return out.reshape(arr.shape)

    def call(self, inputs):
        arr = _host(inputs)
        if isinstance(inputs, (list, tuple)) or arr.dtype.kind in "USO":
            arr = np.asarray(inputs, dtype=object) if arr.dtype.kind in "USO" else arr
        if arr.dtype.kind == "b":
            raise TypeError(f"Hashing '{self.name}': expected strings or integers, got "
                            f"booleans")
        ids = self._bins(arr)
        if self.output_mode == "int":
            return _wrap(ids.astype(self._dtype))
        if ids.ndim > 2 or (ids.ndim == 2 and self.output_mode == "one_hot" and
                            ids.shape[-1] != 1):
            raise ValueError(f"Hashing '{self.name}': output_mode={self.output_mode!r} takes "
                             f"inputs of rank <= 2 ((N, 1) for 'one_hot'), got shape "
                             f"{arr.shape}")
        return _wrap(_encode(ids, self.output_mode, self.num_bins, self._dtype,
                             f"Hashing '{self.name}'"))

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        return _encoded_shape(input_shape, self.output_mode, self.num_bins)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"num_bins": self.num_bins, "salt": self.salt,
                    "mask_value": self.mask_value, "output_mode": self.output_mode,
                    "sparse": self.sparse})
        return cfg
