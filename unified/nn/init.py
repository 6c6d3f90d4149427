"""Initial parameter values, drawn on the host: bit-identical on every backend.

Module constructors draw from one host-side stream, a numpy ``Generator``
over the counter-based Philox bit generator. The same seed and the same model
code give the same draws in the same order, so a model built under torch and
one built under JAX start from bit-identical parameters (the arrays are made
in float32 on the host and then converted on the device, where both
frameworks round to bfloat16 or float16 the same way: to nearest, ties to even).

``manual_seed(seed)`` resets the stream; used in a ``with`` block it restores
the previous stream afterwards. The stream starts from seed 0, so a model
built without any seeding is reproducible too.
"""

from __future__ import annotations

import math
from types import TracebackType
from typing import Any

import numpy as np

from unified import _backend
from unified._dispatch import dtype_name
from unified._protocols import Array, DType

__all__ = ["generator", "manual_seed", "normal", "ones", "salt", "trunc_normal", "uniform", "zeros"]


def _new(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.Philox(seed))


_stream = _new(0)


class manual_seed:
    """Reset the initialisation stream to ``seed``; in a ``with`` block, restore it afterwards.

    Example:
        >>> import unified as u
        >>> from unified import nn
        >>> with u.manual_seed(0):
        ...     a = nn.Linear(2, 2).weight
        >>> with u.manual_seed(0):
        ...     b = nn.Linear(2, 2).weight
        >>> bool((u.to_numpy(a) == u.to_numpy(b)).all())
        True
    """

    def __init__(self, seed: int) -> None:
        global _stream
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"manual_seed needs a non-negative int, got {seed!r}.")
        self._previous = _stream
        _stream = _new(seed)

    def __enter__(self) -> manual_seed:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        global _stream
        _stream = self._previous


def generator() -> np.random.Generator:
    """The current host-side initialisation stream (a numpy ``Generator`` over Philox)."""
    return _stream


def _put(host: np.ndarray, dtype: DType) -> Array:
    return _backend.get_backend().core.asarray(host, dtype_name(dtype))


def _shape(shape: Any) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)


def normal(shape: Any, std: float = 1.0, mean: float = 0.0, *, dtype: DType = "float32") -> Array:
    """Normal draws, ``mean + std * N(0, 1)``, on the active backend.

    Example:
        >>> from unified import nn
        >>> import unified as u
        >>> tuple(nn.init.normal((2, 3), std=0.02).shape)
        (2, 3)
    """
    host = _stream.standard_normal(_shape(shape), dtype=np.float32)
    if std != 1.0 or mean != 0.0:
        host = (host * np.float32(std) + np.float32(mean)).astype(np.float32)
    return _put(host, dtype)


def uniform(shape: Any, low: float = 0.0, high: float = 1.0, *, dtype: DType = "float32") -> Array:
    """Uniform draws in ``[low, high)``, on the active backend.

    Example:
        >>> from unified import nn
        >>> import unified as u
        >>> x = u.to_numpy(nn.init.uniform((1000,), -0.5, 0.5))
        >>> bool(x.min() >= -0.5 and x.max() < 0.5)
        True
    """
    host = _stream.random(_shape(shape), dtype=np.float32)
    host = (host * np.float32(high - low) + np.float32(low)).astype(np.float32)
    return _put(host, dtype)


def trunc_normal(shape: Any, std: float = 1.0, a: float = -2.0, b: float = 2.0, *,
                 dtype: DType = "float32") -> Array:
    """Normal draws with std ``std``, redrawn until inside ``[a * std, b * std]``.

    Example:
        >>> from unified import nn
        >>> import unified as u
        >>> float(abs(u.to_numpy(nn.init.trunc_normal((500,), std=0.1))).max()) <= 0.2
        True
    """
    size = math.prod(_shape(shape))
    out = _stream.standard_normal(size, dtype=np.float32)
    bad = (out < a) | (out > b)
    while bad.any():
        out[bad] = _stream.standard_normal(int(bad.sum()), dtype=np.float32)
        bad = (out < a) | (out > b)
    return _put((out * np.float32(std)).reshape(_shape(shape)), dtype)


def zeros(shape: Any, *, dtype: DType = "float32") -> Array:
    """Zeros on the active backend (draws nothing from the stream)."""
    return _put(np.zeros(_shape(shape), np.float32), dtype)


def ones(shape: Any, *, dtype: DType = "float32") -> Array:
    """Ones on the active backend (draws nothing from the stream)."""
    return _put(np.ones(_shape(shape), np.float32), dtype)


def salt() -> int:
    """A 31-bit integer from the stream: what a stochastic layer folds into the key it is given."""
    return int(_stream.integers(0, 2**31 - 1))
