"""Reductions and scans. ``axis=None`` reduces over every axis."""

from __future__ import annotations

from typing import Any

from unified._dispatch import axis_arg, ops_of
from unified._errors import ShapeError
from unified._protocols import Array


def sum(x: Array, /, axis: Any = None, *, keepdims: bool = False) -> Array:
    """The sum over ``axis``. Integer inputs keep their dtype (as JAX; torch would widen to int64).

    Example:
        >>> import unified as u
        >>> x = u.asarray([[1.0, 2.0], [3.0, 4.0]])
        >>> u.to_numpy(u.ops.sum(x, axis=0)).tolist()
        [4.0, 6.0]
    """
    return ops_of(x).sum(x, axis_arg(axis, "sum"), keepdims)


def prod(x: Array, /, axis: Any = None, *, keepdims: bool = False) -> Array:
    """The product over ``axis``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.prod(u.asarray([[1.0, 2.0], [3.0, 4.0]]), axis=1)).tolist()
        [2.0, 12.0]
    """
    return ops_of(x).prod(x, axis_arg(axis, "prod"), keepdims)


def mean(x: Array, /, axis: Any = None, *, keepdims: bool = False) -> Array:
    """The arithmetic mean over ``axis`` (integer inputs give float32).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.mean(u.asarray([1.0, 2.0, 6.0]))).item()
        3.0
    """
    return ops_of(x).mean(x, axis_arg(axis, "mean"), keepdims)


def var(x: Array, /, axis: Any = None, *, correction: float = 0.0, keepdims: bool = False) -> Array:
    """The variance over ``axis``, dividing by ``N - correction`` (0 by default, as numpy).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.var(u.asarray([1.0, 3.0]))).item()
        1.0
        >>> u.to_numpy(u.ops.var(u.asarray([1.0, 3.0]), correction=1)).item()
        2.0
    """
    return ops_of(x).var(x, axis_arg(axis, "var"), correction, keepdims)


def std(x: Array, /, axis: Any = None, *, correction: float = 0.0, keepdims: bool = False) -> Array:
    """The standard deviation over ``axis``, dividing by ``N - correction``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.std(u.asarray([1.0, 3.0]))).item()
        1.0
    """
    return ops_of(x).std(x, axis_arg(axis, "std"), correction, keepdims)


def max(x: Array, /, axis: Any = None, *, keepdims: bool = False) -> Array:
    """The largest element over ``axis`` (NaN propagates).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.max(u.asarray([[1, 5], [7, 2]]), axis=1)).tolist()
        [5, 7]
    """
    return ops_of(x).max(x, axis_arg(axis, "max"), keepdims)


def min(x: Array, /, axis: Any = None, *, keepdims: bool = False) -> Array:
    """The smallest element over ``axis`` (NaN propagates).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.min(u.asarray([[1, 5], [7, 2]]), axis=1)).tolist()
        [1, 2]
    """
    return ops_of(x).min(x, axis_arg(axis, "min"), keepdims)


def all(x: Array, /, axis: Any = None, *, keepdims: bool = False) -> Array:
    """Whether every element over ``axis`` is true (nonzero).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.all(u.asarray([[True, False], [True, True]]), axis=1)).tolist()
        [False, True]
    """
    return ops_of(x).all(x, axis_arg(axis, "all"), keepdims)


def any(x: Array, /, axis: Any = None, *, keepdims: bool = False) -> Array:
    """Whether any element over ``axis`` is true (nonzero).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.any(u.asarray([[True, False], [False, False]]), axis=1)).tolist()
        [True, False]
    """
    return ops_of(x).any(x, axis_arg(axis, "any"), keepdims)


def _single_axis(axis: Any, fn: str) -> int | None:
    axis = axis_arg(axis, fn)
    if isinstance(axis, tuple):
        raise ShapeError(f"{fn}: axis must be an int or None, got the tuple {axis}.")
    return axis


def argmax(x: Array, /, axis: int | None = None, *, keepdims: bool = False) -> Array:
    """Index of the largest element along ``axis`` (the first one on ties); flat index if None.

    Returns the framework's index dtype (int64 under torch, int32 under JAX).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.argmax(u.asarray([[1.0, 9.0, 9.0], [4.0, 0.0, 1.0]]), axis=1)).tolist()
        [1, 0]
    """
    return ops_of(x).argmax(x, _single_axis(axis, "argmax"), keepdims)


def argmin(x: Array, /, axis: int | None = None, *, keepdims: bool = False) -> Array:
    """Index of the smallest element along ``axis`` (the first one on ties); flat index if None.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.argmin(u.asarray([3.0, 1.0, 1.0]))).item()
        1
    """
    return ops_of(x).argmin(x, _single_axis(axis, "argmin"), keepdims)


def logsumexp(x: Array, /, axis: Any = None, *, keepdims: bool = False) -> Array:
    """``log(sum(exp(x)))`` over ``axis``, computed without overflow (exp(100) alone overflows float32).

    Example:
        >>> import unified as u
        >>> round(float(u.to_numpy(u.ops.logsumexp(u.asarray([100.0, 100.0])))), 4)
        100.6931
    """
    return ops_of(x).logsumexp(x, axis_arg(axis, "logsumexp"), keepdims)


def cumsum(x: Array, /, axis: int | None = None) -> Array:
    """The cumulative sum along ``axis`` (over the flattened array if None).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.cumsum(u.asarray([[1, 2], [3, 4]]), axis=1)).tolist()
        [[1, 3], [3, 7]]
    """
    ops = ops_of(x)
    axis = _single_axis(axis, "cumsum")
    if axis is None:
        return ops.cumsum(ops.reshape(x, (-1,)), 0)
    return ops.cumsum(x, axis)


def vector_norm(x: Array, /, axis: Any = None, *, keepdims: bool = False, ord: float = 2) -> Array:
    """The vector ``ord``-norm over ``axis`` (all elements if None): 2, 1, ``inf`` ...

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.vector_norm(u.asarray([3.0, 4.0]))).item()
        5.0
    """
    return ops_of(x).vector_norm(x, axis_arg(axis, "vector_norm"), keepdims, ord)
