"""Gathering and updating by index, and sorting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from unified._dispatch import dtype_name, ops_of, ops_of_all
from unified._errors import ShapeError
from unified._protocols import Array, DType


def take(x: Array, indices: Array, /, axis: int | None = None) -> Array:
    """Elements of ``x`` at ``indices`` along ``axis`` (of the flattened array if None).

    Negative indices count from the end. Out-of-range indices are an error on
    torch and are clamped by JAX: do not rely on either.

    Args:
        x: any shape ``(..., n, ...)`` with ``n`` at ``axis``.
        indices: integer array of any shape ``I``.

    Returns:
        Shape ``x.shape[:axis] + I + x.shape[axis + 1:]``.

    Example:
        >>> import unified as u
        >>> table = u.asarray([[0.0, 0.5], [1.0, 1.5], [2.0, 2.5]])
        >>> u.to_numpy(u.ops.take(table, u.asarray([2, 0]), axis=0)).tolist()
        [[2.0, 2.5], [0.0, 0.5]]
    """
    ops = ops_of_all("take", (x, indices))
    if axis is None:
        return ops.take(ops.reshape(x, (-1,)), indices, 0)
    return ops.take(x, indices, axis)


def take_along_axis(x: Array, indices: Array, /, axis: int) -> Array:
    """Elements of ``x`` picked along ``axis`` by ``indices`` of the same rank.

    Example:
        >>> import unified as u
        >>> x = u.asarray([[10, 20, 30], [40, 50, 60]])
        >>> u.to_numpy(u.ops.take_along_axis(x, u.asarray([[2], [0]]), axis=1)).tolist()
        [[30], [40]]
    """
    if len(indices.shape) != len(x.shape):
        raise ShapeError(
            f"take_along_axis: indices of rank {len(indices.shape)} for an array of rank "
            f"{len(x.shape)}; they must have the same rank (use expand_dims)."
        )
    return ops_of_all("take_along_axis", (x, indices)).take_along_axis(x, indices, axis)


def dynamic_slice(x: Array, /, start_indices: Sequence[Any], slice_sizes: Sequence[int]) -> Array:
    """A slice of static size at a start that may be a traced value (``lax.dynamic_slice``).

    As in JAX, a negative start counts from the end, and starts are then
    clamped so that the slice fits.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.dynamic_slice(u.ops.arange(6), [4], [3])).tolist()
        [3, 4, 5]
    """
    if len(start_indices) != len(x.shape) or len(slice_sizes) != len(x.shape):
        raise ShapeError(
            f"dynamic_slice: an array of rank {len(x.shape)} needs {len(x.shape)} start indices "
            f"and sizes, got {len(start_indices)} and {len(slice_sizes)}."
        )
    return ops_of(x).dynamic_slice(x, list(start_indices), tuple(int(s) for s in slice_sizes))


def dynamic_update_slice(x: Array, update: Array, /, start_indices: Sequence[Any]) -> Array:
    """``x`` with ``update`` written at ``start_indices`` (functional; starts as in :func:`dynamic_slice`).

    Example:
        >>> import unified as u
        >>> y = u.ops.dynamic_update_slice(u.ops.zeros(4), u.ops.ones(2), [1])
        >>> u.to_numpy(y).tolist()
        [0.0, 1.0, 1.0, 0.0]
    """
    if len(start_indices) != len(x.shape) or len(update.shape) != len(x.shape):
        raise ShapeError(
            f"dynamic_update_slice: an array of rank {len(x.shape)} needs an update of the same "
            f"rank and {len(x.shape)} start indices; got rank {len(update.shape)} and "
            f"{len(start_indices)} indices."
        )
    ops = ops_of_all("dynamic_update_slice", (x, update))
    return ops.dynamic_update_slice(x, update, list(start_indices))


def sort(x: Array, /, axis: int = -1, *, descending: bool = False) -> Array:
    """``x`` sorted along ``axis`` (stable).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.sort(u.asarray([3, 1, 2]), descending=True)).tolist()
        [3, 2, 1]
    """
    return ops_of(x).sort(x, axis, descending)


def argsort(x: Array, /, axis: int = -1, *, descending: bool = False) -> Array:
    """Indices that sort ``x`` along ``axis`` (stable: equal elements keep their order).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.argsort(u.asarray([3.0, 1.0, 2.0]))).tolist()
        [1, 2, 0]
    """
    return ops_of(x).argsort(x, axis, descending)


def top_k(x: Array, /, k: int) -> tuple[Array, Array]:
    """The ``k`` largest elements along the last axis, largest first, and their indices.

    Ties: values agree on every backend; which of two equal elements' indices
    comes first may differ.

    Returns:
        ``(values, indices)``, each of shape ``x.shape[:-1] + (k,)``.

    Example:
        >>> import unified as u
        >>> values, indices = u.ops.top_k(u.asarray([1.0, 4.0, 2.0, 3.0]), 2)
        >>> u.to_numpy(values).tolist(), u.to_numpy(indices).tolist()
        ([4.0, 3.0], [1, 3])
    """
    if not 0 <= k <= x.shape[-1]:
        raise ShapeError(f"top_k: k={k} for a last axis of size {x.shape[-1]}; need 0 <= k <= size.")
    return ops_of(x).top_k(x, k)


def softmax(x: Array, /, axis: int = -1) -> Array:
    """``exp(x) / sum(exp(x))`` along ``axis``, computed stably.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.softmax(u.asarray([0.0, 0.0]))).tolist()
        [0.5, 0.5]
    """
    return ops_of(x).softmax(x, axis)


def log_softmax(x: Array, /, axis: int = -1) -> Array:
    """``x - logsumexp(x)`` along ``axis``.

    Example:
        >>> import unified as u
        >>> round(float(u.to_numpy(u.ops.log_softmax(u.asarray([0.0, 0.0])))[0]), 4)
        -0.6931
    """
    return ops_of(x).log_softmax(x, axis)


def one_hot(x: Array, /, num_classes: int, *, dtype: DType = "float32") -> Array:
    """One-hot encoding of integer ``x``: a new last axis of size ``num_classes``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.one_hot(u.asarray([2, 0]), 3)).tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    return ops_of(x).one_hot(x, num_classes, dtype_name(dtype))
