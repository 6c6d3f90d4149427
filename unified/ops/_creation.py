"""Creating arrays: on the active backend, float32 and int32 by default."""

from __future__ import annotations

from typing import Any

from unified import _backend
from unified._dispatch import dtype_name, ops_of, shape_arg
from unified._protocols import Array, DType


def _ops() -> Any:
    return _backend.get_backend().ops


def zeros(shape: int | tuple[int, ...], dtype: DType = "float32") -> Array:
    """An array of zeros.

    Args:
        shape: the shape, an int for 1-D.
        dtype: a dtype name, ``"float32"`` by default.

    Returns:
        An array of ``shape`` on the active backend's default device.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.zeros((2, 3))).tolist()
        [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    return _ops().zeros(shape_arg(shape, "zeros"), dtype_name(dtype))


def ones(shape: int | tuple[int, ...], dtype: DType = "float32") -> Array:
    """An array of ones.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.ones(3, dtype="int32")).tolist()
        [1, 1, 1]
    """
    return _ops().ones(shape_arg(shape, "ones"), dtype_name(dtype))


def full(shape: int | tuple[int, ...], fill_value: Any, dtype: DType = None) -> Array:
    """An array filled with ``fill_value``.

    Args:
        shape: the shape.
        fill_value: a Python scalar.
        dtype: the dtype; by default int32 for an int or bool fill, float32 otherwise.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.full((2,), 7)).tolist()
        [7, 7]
    """
    if dtype is None:
        dtype = "bool" if isinstance(fill_value, bool) else (
            "int32" if _is_int(fill_value) else "float32")
    return _ops().full(shape_arg(shape, "full"), fill_value, dtype_name(dtype))


def _is_int(v: Any) -> bool:
    """An int, or a symbolic size while tracing (``torch.SymInt``, a ``jax.export`` dimension).

    Symbolic sizes fail ``isinstance(v, int)`` but convert to int and not to float, so
    ``arange(T)`` of a dynamic length ``T`` is an int32 range, as for an int ``T``.
    """
    return isinstance(v, int) or (hasattr(v, "__int__") and not hasattr(v, "__float__"))


def arange(start: Any, stop: Any = None, step: Any = 1, *, dtype: DType = None) -> Array:
    """Evenly spaced values in ``[start, stop)``, like ``numpy.arange``.

    Args:
        start: the first value, or the end if ``stop`` is None.
        stop: the end (exclusive).
        step: the spacing.
        dtype: int32 by default when all of start, stop and step are ints,
            float32 otherwise.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.arange(5)).tolist()
        [0, 1, 2, 3, 4]
        >>> u.to_numpy(u.ops.arange(1, 2, 0.25)).tolist()
        [1.0, 1.25, 1.5, 1.75]
    """
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        dtype = "int32" if all(_is_int(v) for v in (start, stop, step)) else "float32"
    return _ops().arange(start, stop, step, dtype_name(dtype))


def linspace(
    start: float, stop: float, num: int, *, endpoint: bool = True, dtype: DType = "float32"
) -> Array:
    """``num`` evenly spaced values from ``start`` to ``stop``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.linspace(0, 1, 5)).tolist()
        [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    return _ops().linspace(start, stop, num, endpoint, dtype_name(dtype))


def eye(n: int, m: int | None = None, *, k: int = 0, dtype: DType = "float32") -> Array:
    """A 2-D array with ones on diagonal ``k`` and zeros elsewhere, shape ``(n, m)``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.eye(2, 3, k=1)).tolist()
        [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    return _ops().eye(n, n if m is None else m, k, dtype_name(dtype))


def zeros_like(x: Array, *, dtype: DType = None) -> Array:
    """Zeros with the shape (and by default the dtype and device) of ``x``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.zeros_like(u.asarray([1.5, 2.5]))).tolist()
        [0.0, 0.0]
    """
    return ops_of(x).zeros_like(x, dtype_name(dtype))


def ones_like(x: Array, *, dtype: DType = None) -> Array:
    """Ones with the shape (and by default the dtype and device) of ``x``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.ones_like(u.asarray([1, 2]))).tolist()
        [1, 1]
    """
    return ops_of(x).ones_like(x, dtype_name(dtype))


def full_like(x: Array, fill_value: Any, *, dtype: DType = None) -> Array:
    """``fill_value`` with the shape (and by default the dtype and device) of ``x``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.full_like(u.asarray([1.0, 2.0]), 0.5)).tolist()
        [0.5, 0.5]
    """
    return ops_of(x).full_like(x, fill_value, dtype_name(dtype))


def astype(x: Array, dtype: DType) -> Array:
    """``x`` converted to ``dtype`` (a copy; floats to ints truncate toward zero).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.astype(u.asarray([1.7, -1.7]), "int32")).tolist()
        [1, -1]
    """
    return ops_of(x).astype(x, dtype_name(dtype))
