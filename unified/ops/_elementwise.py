"""Elementwise operations, with Array API names and broadcasting.

Arguments are arrays of one backend; Python scalars are accepted as the other
operand of the two-argument functions and keep the array's dtype.
"""

from __future__ import annotations

from typing import Any

from unified._dispatch import ops_of, ops_of_all
from unified._protocols import Array


def abs(x: Array, /) -> Array:
    """The absolute value.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.abs(u.asarray([-1.5, 2.0]))).tolist()
        [1.5, 2.0]
    """
    return ops_of(x).abs(x)


def negative(x: Array, /) -> Array:
    """The negation, ``-x``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.negative(u.asarray([1.0, -2.0]))).tolist()
        [-1.0, 2.0]
    """
    return ops_of(x).negative(x)


def sign(x: Array, /) -> Array:
    """-1, 0 or 1 by the sign of ``x``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.sign(u.asarray([-3.0, 0.0, 2.0]))).tolist()
        [-1.0, 0.0, 1.0]
    """
    return ops_of(x).sign(x)


def sqrt(x: Array, /) -> Array:
    """The square root.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.sqrt(u.asarray([4.0, 9.0]))).tolist()
        [2.0, 3.0]
    """
    return ops_of(x).sqrt(x)


def rsqrt(x: Array, /) -> Array:
    """The reciprocal square root, ``1 / sqrt(x)``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.rsqrt(u.asarray([4.0, 0.25]))).tolist()
        [0.5, 2.0]
    """
    return ops_of(x).rsqrt(x)


def square(x: Array, /) -> Array:
    """The square, ``x * x``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.square(u.asarray([-3.0, 0.5]))).tolist()
        [9.0, 0.25]
    """
    return ops_of(x).square(x)


def reciprocal(x: Array, /) -> Array:
    """The reciprocal, ``1 / x``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.reciprocal(u.asarray([2.0, -0.25]))).tolist()
        [0.5, -4.0]
    """
    return ops_of(x).reciprocal(x)


def exp(x: Array, /) -> Array:
    """The exponential, ``e ** x``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.exp(u.asarray([0.0]))).tolist()
        [1.0]
    """
    return ops_of(x).exp(x)


def expm1(x: Array, /) -> Array:
    """``exp(x) - 1``, accurate near zero.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.expm1(u.asarray([0.0]))).tolist()
        [0.0]
    """
    return ops_of(x).expm1(x)


def log(x: Array, /) -> Array:
    """The natural logarithm.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.log(u.asarray([1.0]))).tolist()
        [0.0]
    """
    return ops_of(x).log(x)


def log1p(x: Array, /) -> Array:
    """``log(1 + x)``, accurate near zero.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.log1p(u.asarray([0.0]))).tolist()
        [0.0]
    """
    return ops_of(x).log1p(x)


def sin(x: Array, /) -> Array:
    """The sine (radians).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.sin(u.asarray([0.0]))).tolist()
        [0.0]
    """
    return ops_of(x).sin(x)


def cos(x: Array, /) -> Array:
    """The cosine (radians).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.cos(u.asarray([0.0]))).tolist()
        [1.0]
    """
    return ops_of(x).cos(x)


def tan(x: Array, /) -> Array:
    """The tangent (radians).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.tan(u.asarray([0.0]))).tolist()
        [0.0]
    """
    return ops_of(x).tan(x)


def tanh(x: Array, /) -> Array:
    """The hyperbolic tangent.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.tanh(u.asarray([0.0]))).tolist()
        [0.0]
    """
    return ops_of(x).tanh(x)


def arctan(x: Array, /) -> Array:
    """The inverse tangent, in radians.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.arctan(u.asarray([0.0]))).tolist()
        [0.0]
    """
    return ops_of(x).arctan(x)


def sigmoid(x: Array, /) -> Array:
    """The logistic sigmoid, ``1 / (1 + exp(-x))``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.sigmoid(u.asarray([0.0]))).tolist()
        [0.5]
    """
    return ops_of(x).sigmoid(x)


def erf(x: Array, /) -> Array:
    """The Gauss error function.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.erf(u.asarray([0.0]))).tolist()
        [0.0]
    """
    return ops_of(x).erf(x)


def floor(x: Array, /) -> Array:
    """The largest integer-valued float not above ``x``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.floor(u.asarray([1.5, -1.5]))).tolist()
        [1.0, -2.0]
    """
    return ops_of(x).floor(x)


def ceil(x: Array, /) -> Array:
    """The smallest integer-valued float not below ``x``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.ceil(u.asarray([1.5, -1.5]))).tolist()
        [2.0, -1.0]
    """
    return ops_of(x).ceil(x)


def round(x: Array, /) -> Array:
    """Rounds to the nearest integer-valued float, halves to even (as numpy).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.round(u.asarray([0.5, 1.5, 2.4]))).tolist()
        [0.0, 2.0, 2.0]
    """
    return ops_of(x).round(x)


def isnan(x: Array, /) -> Array:
    """Whether each element is NaN.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.isnan(u.asarray([1.0, float('nan')]))).tolist()
        [False, True]
    """
    return ops_of(x).isnan(x)


def isinf(x: Array, /) -> Array:
    """Whether each element is positive or negative infinity.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.isinf(u.asarray([1.0, float('inf')]))).tolist()
        [False, True]
    """
    return ops_of(x).isinf(x)


def isfinite(x: Array, /) -> Array:
    """Whether each element is neither infinite nor NaN.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.isfinite(u.asarray([1.0, float('inf')]))).tolist()
        [True, False]
    """
    return ops_of(x).isfinite(x)


def logical_not(x: Array, /) -> Array:
    """Elementwise NOT of a boolean array.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.logical_not(u.asarray([True, False]))).tolist()
        [False, True]
    """
    return ops_of(x).logical_not(x)


def add(x1: Any, x2: Any, /) -> Array:
    """``x1 + x2``, broadcasting.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.add(u.asarray([1.0, 2.0]), 10.0)).tolist()
        [11.0, 12.0]
    """
    return ops_of_all("add", (x1, x2)).add(x1, x2)


def subtract(x1: Any, x2: Any, /) -> Array:
    """``x1 - x2``, broadcasting.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.subtract(u.asarray([1.0, 2.0]), 0.5)).tolist()
        [0.5, 1.5]
    """
    return ops_of_all("subtract", (x1, x2)).subtract(x1, x2)


def multiply(x1: Any, x2: Any, /) -> Array:
    """``x1 * x2``, broadcasting.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.multiply(u.asarray([1.0, 2.0]), 3.0)).tolist()
        [3.0, 6.0]
    """
    return ops_of_all("multiply", (x1, x2)).multiply(x1, x2)


def divide(x1: Any, x2: Any, /) -> Array:
    """True division ``x1 / x2`` (integers give floats).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.divide(u.asarray([1.0, 3.0]), 2.0)).tolist()
        [0.5, 1.5]
    """
    return ops_of_all("divide", (x1, x2)).divide(x1, x2)


def floor_divide(x1: Any, x2: Any, /) -> Array:
    """Floor division ``x1 // x2``, rounding toward minus infinity.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.floor_divide(u.asarray([7, -7]), 2)).tolist()
        [3, -4]
    """
    return ops_of_all("floor_divide", (x1, x2)).floor_divide(x1, x2)


def remainder(x1: Any, x2: Any, /) -> Array:
    """``x1 % x2`` with the sign of ``x2``, as Python's ``%``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.remainder(u.asarray([7, -7]), 3)).tolist()
        [1, 2]
    """
    return ops_of_all("remainder", (x1, x2)).remainder(x1, x2)


def power(x1: Any, x2: Any, /) -> Array:
    """``x1 ** x2``.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.power(u.asarray([2.0, 3.0]), 2.0)).tolist()
        [4.0, 9.0]
    """
    return ops_of_all("power", (x1, x2)).power(x1, x2)


def maximum(x1: Any, x2: Any, /) -> Array:
    """The larger of ``x1`` and ``x2``, elementwise (NaN propagates).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.maximum(u.asarray([1.0, 5.0]), 3.0)).tolist()
        [3.0, 5.0]
    """
    return ops_of_all("maximum", (x1, x2)).maximum(x1, x2)


def minimum(x1: Any, x2: Any, /) -> Array:
    """The smaller of ``x1`` and ``x2``, elementwise (NaN propagates).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.minimum(u.asarray([1.0, 5.0]), 3.0)).tolist()
        [1.0, 3.0]
    """
    return ops_of_all("minimum", (x1, x2)).minimum(x1, x2)


def arctan2(x1: Any, x2: Any, /) -> Array:
    """The angle of the point ``(x2, x1)``, in radians.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.arctan2(u.asarray([0.0]), 1.0)).tolist()
        [0.0]
    """
    return ops_of_all("arctan2", (x1, x2)).arctan2(x1, x2)


def equal(x1: Any, x2: Any, /) -> Array:
    """``x1 == x2``, elementwise.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.equal(u.asarray([1, 2]), 2)).tolist()
        [False, True]
    """
    return ops_of_all("equal", (x1, x2)).equal(x1, x2)


def not_equal(x1: Any, x2: Any, /) -> Array:
    """``x1 != x2``, elementwise.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.not_equal(u.asarray([1, 2]), 2)).tolist()
        [True, False]
    """
    return ops_of_all("not_equal", (x1, x2)).not_equal(x1, x2)


def less(x1: Any, x2: Any, /) -> Array:
    """``x1 < x2``, elementwise.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.less(u.asarray([1, 2]), 2)).tolist()
        [True, False]
    """
    return ops_of_all("less", (x1, x2)).less(x1, x2)


def less_equal(x1: Any, x2: Any, /) -> Array:
    """``x1 <= x2``, elementwise.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.less_equal(u.asarray([1, 2]), 2)).tolist()
        [True, True]
    """
    return ops_of_all("less_equal", (x1, x2)).less_equal(x1, x2)


def greater(x1: Any, x2: Any, /) -> Array:
    """``x1 > x2``, elementwise.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.greater(u.asarray([1, 2]), 1)).tolist()
        [False, True]
    """
    return ops_of_all("greater", (x1, x2)).greater(x1, x2)


def greater_equal(x1: Any, x2: Any, /) -> Array:
    """``x1 >= x2``, elementwise.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.greater_equal(u.asarray([1, 2]), 2)).tolist()
        [False, True]
    """
    return ops_of_all("greater_equal", (x1, x2)).greater_equal(x1, x2)


def logical_and(x1: Any, x2: Any, /) -> Array:
    """Elementwise AND of boolean arrays.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.logical_and(u.asarray([True, False]), True)).tolist()
        [True, False]
    """
    return ops_of_all("logical_and", (x1, x2)).logical_and(x1, x2)


def logical_or(x1: Any, x2: Any, /) -> Array:
    """Elementwise OR of boolean arrays.

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.logical_or(u.asarray([True, False]), False)).tolist()
        [True, False]
    """
    return ops_of_all("logical_or", (x1, x2)).logical_or(x1, x2)


def where(condition: Array, x1: Any, x2: Any, /) -> Array:
    """Elements of ``x1`` where ``condition`` is true, of ``x2`` elsewhere (broadcasting).

    Example:
        >>> import unified as u
        >>> c = u.asarray([True, False, True])
        >>> u.to_numpy(u.ops.where(c, u.asarray([1.0, 2.0, 3.0]), 0.0)).tolist()
        [1.0, 0.0, 3.0]
    """
    return ops_of_all("where", (condition, x1, x2)).where(condition, x1, x2)


def clip(x: Array, /, min: Any = None, max: Any = None) -> Array:
    """``x`` limited to ``[min, max]`` (either bound may be None; bounds broadcast).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.clip(u.asarray([-2.0, 0.5, 3.0]), -1.0, 1.0)).tolist()
        [-1.0, 0.5, 1.0]
    """
    return ops_of_all("clip", (x, min, max)).clip(x, min, max)
