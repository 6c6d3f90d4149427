"""Products of arrays."""

from __future__ import annotations

from typing import Any

from unified._autocast import cast_in
from unified._dispatch import ops_of_all
from unified._errors import ShapeError
from unified._protocols import Array


def matmul(x1: Array, x2: Array, /) -> Array:
    """The matrix product, batched over leading axes (``x1 @ x2``).

    Args:
        x1: shape ``(..., n, k)`` (or ``(k,)``).
        x2: shape ``(..., k, m)`` (or ``(k,)``).

    Returns:
        Shape ``(..., n, m)``, broadcasting the leading axes.

    Example:
        >>> import unified as u
        >>> a = u.asarray([[1.0, 2.0], [3.0, 4.0]])
        >>> u.to_numpy(u.ops.matmul(a, u.asarray([1.0, 1.0]))).tolist()
        [3.0, 7.0]
    """
    x1, x2 = cast_in(x1, x2)
    return ops_of_all("matmul", (x1, x2)).matmul(x1, x2)


def einsum(subscripts: str, /, *operands: Array) -> Array:
    """Einstein summation, as ``numpy.einsum`` (explicit ``->`` recommended).

    Example:
        >>> import unified as u
        >>> a = u.asarray([[1.0, 2.0], [3.0, 4.0]])
        >>> u.to_numpy(u.ops.einsum("ij,ij->i", a, a)).tolist()
        [5.0, 25.0]
    """
    if not isinstance(subscripts, str):
        raise ShapeError(
            f"einsum takes the subscripts string first, then the arrays; got {type(subscripts).__name__} "
            "first. Write u.ops.einsum('ij,jk->ik', a, b)."
        )
    operands = cast_in(*operands)
    return ops_of_all("einsum", operands).einsum(subscripts, operands)


def tensordot(x1: Array, x2: Array, /, *, axes: Any = 2) -> Array:
    """Sum of products over the last ``axes`` axes of ``x1`` and the first of ``x2``.

    ``axes`` may also be a pair of sequences of axes to contract.

    Example:
        >>> import unified as u
        >>> a = u.ops.ones((2, 3))
        >>> tuple(u.ops.tensordot(a, u.ops.ones((3, 4)), axes=1).shape)
        (2, 4)
    """
    if not isinstance(axes, int):
        axes = (tuple(axes[0]), tuple(axes[1]))
    return ops_of_all("tensordot", (x1, x2)).tensordot(x1, x2, axes)


def outer(x1: Array, x2: Array, /) -> Array:
    """The outer product of two 1-D arrays, shape ``(len(x1), len(x2))``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.outer(u.asarray([1.0, 2.0]), u.asarray([1.0, 10.0]))).tolist()
        [[1.0, 10.0], [2.0, 20.0]]
    """
    return ops_of_all("outer", (x1, x2)).outer(x1, x2)
