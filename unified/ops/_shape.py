"""Changing shape and arrangement: reshape, transpose, join, split, pad."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from unified._dispatch import axis_arg, ops_of, ops_of_all, shape_arg
from unified._errors import ShapeError
from unified._protocols import Array


def _axes(axis: Any, ndim: int, fn: str) -> tuple[int, ...]:
    axis = axis_arg(axis, fn)
    if axis is None:
        return tuple(range(ndim))
    return (axis,) if isinstance(axis, int) else axis


def reshape(x: Array, /, shape: Any) -> Array:
    """``x`` with a new shape of the same size (one entry may be -1).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.reshape(u.ops.arange(6), (2, -1))).tolist()
        [[0, 1, 2], [3, 4, 5]]
    """
    return ops_of(x).reshape(x, shape_arg(shape, "reshape"))


def permute_dims(x: Array, /, axes: Sequence[int]) -> Array:
    """``x`` with its axes reordered: output axis ``i`` is input axis ``axes[i]``.

    Example:
        >>> import unified as u
        >>> tuple(u.ops.permute_dims(u.ops.zeros((2, 3, 4)), (2, 0, 1)).shape)
        (4, 2, 3)
    """
    return ops_of(x).permute_dims(x, tuple(axes))


def transpose(x: Array, /, axes: Sequence[int] | None = None) -> Array:
    """As :func:`permute_dims`, reversing the axes when ``axes`` is None (numpy's rule).

    Example:
        >>> import unified as u
        >>> tuple(u.ops.transpose(u.ops.zeros((2, 3, 4))).shape)
        (4, 3, 2)
    """
    axes = tuple(range(len(x.shape)))[::-1] if axes is None else tuple(axes)
    return ops_of(x).permute_dims(x, axes)


def swapaxes(x: Array, /, axis1: int, axis2: int) -> Array:
    """``x`` with two axes exchanged.

    Example:
        >>> import unified as u
        >>> tuple(u.ops.swapaxes(u.ops.zeros((2, 3, 4)), 0, -1).shape)
        (4, 3, 2)
    """
    return ops_of(x).swapaxes(x, axis1, axis2)


def moveaxis(x: Array, /, source: Any, destination: Any) -> Array:
    """``x`` with axes moved from ``source`` to ``destination`` (ints or tuples).

    Example:
        >>> import unified as u
        >>> tuple(u.ops.moveaxis(u.ops.zeros((2, 3, 4)), 0, -1).shape)
        (3, 4, 2)
    """
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(src) != len(dst):
        raise ShapeError(f"moveaxis: source {src} and destination {dst} must have the same length.")
    return ops_of(x).moveaxis(x, src, dst)


def expand_dims(x: Array, /, axis: Any) -> Array:
    """``x`` with new axes of size 1 inserted at ``axis`` (an int or a tuple).

    Example:
        >>> import unified as u
        >>> tuple(u.ops.expand_dims(u.ops.zeros((2, 3)), (0, -1)).shape)
        (1, 2, 3, 1)
    """
    axis = axis_arg(axis, "expand_dims")
    if axis is None:
        raise ShapeError("expand_dims: axis is required, e.g. expand_dims(x, 0).")
    return ops_of(x).expand_dims(x, (axis,) if isinstance(axis, int) else axis)


def squeeze(x: Array, /, axis: Any = None) -> Array:
    """``x`` without the axes of size 1 given by ``axis`` (all of them if None).

    Raises:
        ShapeError: an axis in ``axis`` does not have size 1.

    Example:
        >>> import unified as u
        >>> tuple(u.ops.squeeze(u.ops.zeros((1, 2, 1)), 0).shape)
        (2, 1)
    """
    shape = tuple(x.shape)
    if axis is None:
        axes = tuple(i for i, s in enumerate(shape) if s == 1)
    else:
        axes = _axes(axis, len(shape), "squeeze")
        bad = [a for a in axes if not -len(shape) <= a < len(shape) or shape[a] != 1]
        if bad:
            raise ShapeError(
                f"squeeze: axis {bad[0]} of an array of shape {shape} does not have size 1; "
                "only axes of size 1 can be squeezed."
            )
    return ops_of(x).squeeze(x, axes)


def broadcast_to(x: Array, /, shape: Any) -> Array:
    """``x`` broadcast to ``shape`` (numpy's broadcasting rules).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.broadcast_to(u.asarray([1, 2]), (2, 2))).tolist()
        [[1, 2], [1, 2]]
    """
    return ops_of(x).broadcast_to(x, shape_arg(shape, "broadcast_to"))


def concat(arrays: Sequence[Array], /, axis: int = 0) -> Array:
    """Arrays joined along an existing axis.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.concat([u.asarray([1, 2]), u.asarray([3])])).tolist()
        [1, 2, 3]
    """
    arrays = list(arrays)
    if not arrays:
        raise ShapeError("concat needs at least one array, got an empty sequence.")
    return ops_of_all("concat", arrays).concat(arrays, axis)


def stack(arrays: Sequence[Array], /, axis: int = 0) -> Array:
    """Arrays of one shape joined along a new axis.

    Example:
        >>> import unified as u
        >>> tuple(u.ops.stack([u.ops.zeros(3), u.ops.ones(3)], axis=1).shape)
        (3, 2)
    """
    arrays = list(arrays)
    if not arrays:
        raise ShapeError("stack needs at least one array, got an empty sequence.")
    return ops_of_all("stack", arrays).stack(arrays, axis)


def split(x: Array, /, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Array]:
    """``x`` split along ``axis``: into N equal parts (an int) or at the given indices.

    Raises:
        ShapeError: an int that does not divide the axis evenly.

    Example:
        >>> import unified as u
        >>> [u.to_numpy(p).tolist() for p in u.ops.split(u.ops.arange(5), [2, 3])]
        [[0, 1], [2], [3, 4]]
    """
    n = x.shape[axis]
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        if k <= 0 or n % k:
            raise ShapeError(
                f"split: axis {axis} has size {n}, which {k} sections do not divide evenly. "
                "Pass split indices instead, e.g. split(x, [2, 5])."
            )
        indices = [n // k * i for i in range(1, k)]
    else:
        indices = [int(i) for i in indices_or_sections]
    return ops_of(x).split(x, indices, axis)


def tile(x: Array, /, reps: Any) -> Array:
    """``x`` repeated ``reps`` times along each axis (numpy's ``tile``).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.tile(u.asarray([1, 2]), 2)).tolist()
        [1, 2, 1, 2]
    """
    return ops_of(x).tile(x, shape_arg(reps, "tile"))


def repeat(x: Array, /, repeats: int, axis: int | None = None) -> Array:
    """Each element repeated ``repeats`` times along ``axis`` (flattened if None).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.repeat(u.asarray([1, 2]), 2)).tolist()
        [1, 1, 2, 2]
    """
    ops = ops_of(x)
    if axis is None:
        return ops.repeat(ops.reshape(x, (-1,)), repeats, 0)
    return ops.repeat(x, repeats, axis)


def flip(x: Array, /, axis: Any = None) -> Array:
    """``x`` with the order of elements reversed along ``axis`` (all axes if None).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.flip(u.asarray([[1, 2], [3, 4]]), axis=1)).tolist()
        [[2, 1], [4, 3]]
    """
    return ops_of(x).flip(x, _axes(axis, len(x.shape), "flip"))


def roll(x: Array, /, shift: Any, axis: Any = None) -> Array:
    """``x`` with elements shifted cyclically by ``shift`` along ``axis`` (flattened if None).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.roll(u.asarray([1, 2, 3]), 1)).tolist()
        [3, 1, 2]
    """
    ops = ops_of(x)
    shifts = (shift,) if isinstance(shift, int) else tuple(shift)
    if axis is None:
        return ops.reshape(ops.roll(ops.reshape(x, (-1,)), shifts[:1], (0,)), tuple(x.shape))
    axes = _axes(axis, len(x.shape), "roll")
    if len(shifts) == 1 and len(axes) > 1:
        shifts = shifts * len(axes)
    if len(shifts) != len(axes):
        raise ShapeError(f"roll: {len(shifts)} shifts for {len(axes)} axes; give one shift per axis.")
    return ops.roll(x, shifts, axes)


def pad(x: Array, /, pad_width: Any, *, constant_values: float = 0) -> Array:
    """``x`` padded with a constant: ``pad_width`` as in ``numpy.pad``.

    ``pad_width`` is an int (the same before and after every axis), a pair
    ``(before, after)`` for every axis, or one pair per axis.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.pad(u.asarray([1, 2]), (1, 2))).tolist()
        [0, 1, 2, 0, 0]
    """
    ndim = len(x.shape)
    if isinstance(pad_width, int):
        widths = ((pad_width, pad_width),) * ndim
    elif len(pad_width) == 2 and all(isinstance(p, int) for p in pad_width):
        widths = (tuple(pad_width),) * ndim
    else:
        widths = tuple((int(a), int(b)) for a, b in pad_width)
    if len(widths) != ndim:
        raise ShapeError(f"pad: {len(widths)} (before, after) pairs for an array of {ndim} axes.")
    return ops_of(x).pad(x, widths, constant_values)


def tril(x: Array, /, k: int = 0) -> Array:
    """``x`` with the elements above diagonal ``k`` of its last two axes set to zero.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.tril(u.ops.ones((3, 3), dtype="int32"))).tolist()
        [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    """
    return ops_of(x).tril(x, k)


def triu(x: Array, /, k: int = 0) -> Array:
    """``x`` with the elements below diagonal ``k`` of its last two axes set to zero.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.triu(u.ops.ones((2, 2), dtype="int32"), k=1)).tolist()
        [[0, 1], [0, 0]]
    """
    return ops_of(x).triu(x, k)
