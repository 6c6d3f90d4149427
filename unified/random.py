"""Random numbers from explicit keys, bit-identical on every backend.

Keys are ``uint32[2]`` arrays with JAX's threefry semantics: ``key(seed)``,
``split``, ``fold_in`` and the bits behind ``uniform`` and ``bernoulli`` give
the same values under torch as ``jax.random`` gives under JAX, so a dropout
mask drawn from a key is the same on both backends. (``normal`` goes through
``erfinv``, whose last bit may differ between the frameworks' implementations.)

Functions are pure: the same key gives the same numbers, under ``jit`` too.
Split a key (or ``fold_in`` a step number) to get fresh randomness.
"""

from __future__ import annotations

from typing import Any

from unified import _backend
from unified._dispatch import FLOAT_DTYPES, dtype_name, shape_arg
from unified._errors import DTypeError, ShapeError
from unified._protocols import Array, DType

__all__ = ["bernoulli", "bits", "categorical", "fold_in", "key", "normal", "split", "uniform"]


def _random_of(key: Any) -> Any:
    b = _backend.owner(key)
    if b is None:
        raise ShapeError(
            f"Expected a random key (a uint32[2] array from u.random.key(seed)), got a "
            f"{type(key).__name__}. Make one with key = u.random.key(0)."
        )
    return b.random


def _float_dtype(dtype: DType, fn: str) -> str:
    name = dtype_name(dtype)
    if name not in FLOAT_DTYPES:
        raise DTypeError(f"random.{fn} draws floats; dtype {name!r} is not one. Use 'float32'.")
    return name


def key(seed: int) -> Array:
    """A random key from an integer seed (``jax.random.PRNGKey(seed)``'s bits).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.random.key(42)).tolist()
        [0, 42]
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**64:
        raise ShapeError(f"random.key needs an int seed in [0, 2**64), got {seed!r}.")
    return _backend.get_backend().random.key(seed)


def split(key: Array, num: int = 2) -> Array:
    """``num`` new independent keys from ``key``, as an array of shape ``(num, 2)``.

    Example:
        >>> import unified as u
        >>> k1, k2 = u.random.split(u.random.key(0))
        >>> u.to_numpy(k1).tolist() != u.to_numpy(k2).tolist()
        True
    """
    return _random_of(key).split(key, int(num))


def fold_in(key: Array, data: int | Array) -> Array:
    """A new key from ``key`` and an integer (a step number, a layer index).

    Example:
        >>> import unified as u
        >>> k = u.random.key(0)
        >>> u.to_numpy(u.random.fold_in(k, 1)).tolist() != u.to_numpy(u.random.fold_in(k, 2)).tolist()
        True
    """
    return _random_of(key).fold_in(key, data)


def bits(key: Array, shape: Any = ()) -> Array:
    """Uniform random 32-bit words, as ``jax.random.bits`` (uint32 on both backends).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.random.bits(u.random.key(0), (2,))).tolist()
        [4070199207, 4202968722]
    """
    return _random_of(key).bits(key, shape_arg(shape, "bits"))


def uniform(key: Array, shape: Any = (), dtype: DType = "float32", minval: float = 0.0,
            maxval: float = 1.0) -> Array:
    """Uniform floats in ``[minval, maxval)``, bit-identical on every backend.

    Example:
        >>> import unified as u
        >>> x = u.random.uniform(u.random.key(0), (1000,))
        >>> 0.45 < float(u.ops.mean(x)) < 0.55
        True
    """
    return _random_of(key).uniform(key, shape_arg(shape, "uniform"), _float_dtype(dtype, "uniform"),
                                   minval, maxval)


def normal(key: Array, shape: Any = (), dtype: DType = "float32") -> Array:
    """Standard normal floats (mean 0, variance 1).

    Example:
        >>> import unified as u
        >>> x = u.random.normal(u.random.key(0), (10000,))
        >>> abs(float(u.ops.mean(x))) < 0.05 and abs(float(u.ops.std(x)) - 1) < 0.05
        True
    """
    return _random_of(key).normal(key, shape_arg(shape, "normal"), _float_dtype(dtype, "normal"))


def bernoulli(key: Array, p: float | Array = 0.5, shape: Any = None) -> Array:
    """Booleans that are true with probability ``p`` (``uniform < p``), bit-identical everywhere.

    Args:
        key: a random key.
        p: the probability, a float or an array broadcastable to ``shape``.
        shape: the output shape; by default the shape of ``p``.

    Example:
        >>> import unified as u
        >>> mask = u.random.bernoulli(u.random.key(0), 0.9, (4,))
        >>> u.dtype(mask)
        'bool'
    """
    if shape is None:
        shape = tuple(getattr(p, "shape", ()))
    return _random_of(key).bernoulli(key, p, shape_arg(shape, "bernoulli"))


def categorical(key: Array, logits: Array, axis: int = -1) -> Array:
    """Samples of class indices from unnormalised log-probabilities ``logits`` (Gumbel-max).

    Args:
        key: a random key.
        logits: shape ``(..., num_classes)`` (with the classes on ``axis``).

    Returns:
        Integer indices with ``logits``' shape minus ``axis``.

    Example:
        >>> import unified as u
        >>> logits = u.asarray([[0.0, 100.0, 0.0]])
        >>> u.to_numpy(u.random.categorical(u.random.key(0), logits)).tolist()
        [1]
    """
    return _random_of(key).categorical(key, logits, axis)
