"""Property tests: for every op, on random shapes, dtypes and values, torch == JAX == numpy.

numpy computes the reference in float64 on the same (rounded) inputs; the
tolerances are those of :mod:`unified.testing` for the output dtype.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import unified as u
from helpers import arrays, check_all, float_dtypes, shapes

# op -> (numpy reference, lower bound, upper bound of the inputs)
UNARY = {
    "abs": (np.abs, -3, 3),
    "negative": (np.negative, -3, 3),
    "sign": (np.sign, -3, 3),
    "sqrt": (np.sqrt, 0.01, 9),
    "rsqrt": (lambda x: 1 / np.sqrt(x), 0.1, 9),
    "square": (np.square, -3, 3),
    "reciprocal": (lambda x: 1 / x, 0.25, 4),
    "exp": (np.exp, -8, 8),
    "expm1": (np.expm1, -3, 3),
    "log": (np.log, 0.01, 100),
    "log1p": (np.log1p, -0.5, 10),
    "sin": (np.sin, -6, 6),
    "cos": (np.cos, -6, 6),
    "tan": (np.tan, -1.2, 1.2),
    "tanh": (np.tanh, -5, 5),
    "arctan": (np.arctan, -5, 5),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), -8, 8),
    "erf": (np.vectorize(math.erf, otypes=[np.float64]), -3, 3),
    "floor": (np.floor, -5, 5),
    "ceil": (np.ceil, -5, 5),
    "round": (np.round, -5, 5),
}


@given(op=st.sampled_from(sorted(UNARY)), dtype=float_dtypes, data=st.data())
def test_unary(op, dtype, data):
    ref, lo, hi = UNARY[op]
    x = data.draw(arrays(dtype, shapes, lo, hi))
    # Compare in the output dtype: the reference is rounded to it first, as the backends do.
    rounded = lambda *a: ref(*a).astype(x.dtype)  # noqa: E731
    # sin/cos/tan: argument reduction loses |x| * eps absolutely.
    scale = float(np.max(np.abs(x.astype(np.float64)))) if x.size else 1.0
    check_all(getattr(u.ops, op), rounded, x, dtype=dtype, terms=2 if op in ("sin", "cos", "tan") else 1,
              scale=scale)


BINARY = {
    "add": (np.add, (-3, 3), (-3, 3)),
    "subtract": (np.subtract, (-3, 3), (-3, 3)),
    "multiply": (np.multiply, (-3, 3), (-3, 3)),
    "divide": (np.divide, (-3, 3), (0.5, 3)),
    "power": (np.power, (0.5, 3), (-2, 2)),
    "maximum": (np.maximum, (-3, 3), (-3, 3)),
    "minimum": (np.minimum, (-3, 3), (-3, 3)),
    "arctan2": (np.arctan2, (-3, 3), (0.5, 3)),
}


@given(op=st.sampled_from(sorted(BINARY)), dtype=float_dtypes,
       shape_pair=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4), data=st.data())
def test_binary_broadcasting(op, dtype, shape_pair, data):
    ref, (alo, ahi), (blo, bhi) = BINARY[op]
    a = data.draw(arrays(dtype, shape_pair.input_shapes[0], alo, ahi))
    b = data.draw(arrays(dtype, shape_pair.input_shapes[1], blo, bhi))
    rounded = lambda x, y: ref(x, y).astype(a.dtype)  # noqa: E731
    # power: a relative input error e becomes |b| * e in the output, and XLA's
    # pow goes through exp(b log a).
    check_all(getattr(u.ops, op), rounded, a, b, dtype=dtype, terms=3 if op == "power" else 1,
              scale=float(np.max(np.abs(rounded(a, b).astype(np.float64)), initial=1.0)) if op == "power" else 1.0)


@given(op=st.sampled_from(["equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
                           "floor_divide", "remainder", "maximum", "minimum", "add", "multiply"]),
       shape_pair=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=4), data=st.data())
def test_integer_binary_is_exact(op, shape_pair, data):
    a = data.draw(arrays("int32", shape_pair.input_shapes[0], -20, 20))
    b = data.draw(arrays("int32", shape_pair.input_shapes[1], -20, 20))
    if op in ("floor_divide", "remainder"):
        b = np.where(b == 0, 7, b).astype(np.int32)
    ref = {"equal": np.equal, "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
           "greater": np.greater, "greater_equal": np.greater_equal, "floor_divide": np.floor_divide,
           "remainder": np.remainder, "maximum": np.maximum, "minimum": np.minimum, "add": np.add,
           "multiply": np.multiply}[op]
    check_all(getattr(u.ops, op), ref, a, b, exact=True)


@given(x=arrays("float32", shapes, -3, 3), python_scalar=st.floats(-2, 2, width=32),
       op=st.sampled_from(["add", "subtract", "multiply", "maximum", "minimum", "less", "greater_equal"]))
def test_python_scalar_operand_keeps_array_dtype(x, python_scalar, op):
    ref = getattr(np, op)
    results = check_all(lambda a: getattr(u.ops, op)(a, python_scalar),
                        lambda a: ref(a, np.float32(python_scalar)), x, dtype="float32")
    for r in results.values():
        assert r.dtype in (np.float32, np.bool_)


AXES = st.one_of(st.none(), st.integers(-3, 2), st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True))


def _axis_ok(axis, ndim):
    if axis is None:
        return True
    axes = [axis] if isinstance(axis, int) else axis
    return all(-ndim <= a < ndim for a in axes) and len({a % ndim for a in axes}) == len(axes)


REDUCTIONS = {
    "sum": lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
    "mean": lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims),
    "prod": lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims),
    "max": lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
    "min": lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims),
    "var": lambda x, axis, keepdims: np.var(x, axis=axis, keepdims=keepdims),
    "std": lambda x, axis, keepdims: np.std(x, axis=axis, keepdims=keepdims),
    "logsumexp": lambda x, axis, keepdims: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims)),
    "vector_norm": lambda x, axis, keepdims: np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims)),
}


@given(op=st.sampled_from(sorted(REDUCTIONS)), dtype=st.sampled_from(["float32", "bfloat16"]),
       x=st.data(), axis=AXES, keepdims=st.booleans())
def test_reductions(op, dtype, x, axis, keepdims):
    shape = x.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=5))
    assume(_axis_ok(axis, len(shape)))
    lo, hi = (0.5, 1.5) if op == "prod" else (-3, 3)
    arr = x.draw(arrays(dtype, shape, lo, hi))
    axis_t = tuple(axis) if isinstance(axis, list) else axis
    n = arr.size if axis is None else math.prod(shape[a] for a in ([axis_t] if isinstance(axis_t, int) else axis_t))
    scale = 9.0 if op in ("var", "std", "vector_norm") else (4.5 if op == "prod" else 3.0)
    ref = lambda a: REDUCTIONS[op](a, axis_t, keepdims).astype(arr.dtype)  # noqa: E731
    fn = lambda a: getattr(u.ops, op)(a, axis=axis_t, keepdims=keepdims)  # noqa: E731
    check_all(fn, ref, arr, dtype=dtype, terms=n + 1, scale=scale)


@given(x=st.data(), axis=st.integers(-2, 1), keepdims=st.booleans(), op=st.sampled_from(["argmax", "argmin"]))
def test_arg_reductions_pick_the_first_extremum(x, axis, keepdims, op):
    # Small integers as floats: ties are common, and the first one must win everywhere.
    arr = x.draw(arrays("int32", hnp.array_shapes(min_dims=2, max_dims=2, max_side=5), -2, 2)).astype(np.float32)
    ref = lambda a: getattr(np, op)(a, axis=axis, keepdims=keepdims)  # noqa: E731
    check_all(lambda a: getattr(u.ops, op)(a, axis=axis, keepdims=keepdims), ref, arr, exact=True)


@given(x=arrays("float32", hnp.array_shapes(min_dims=1, max_dims=3, max_side=5)), data=st.data())
def test_cumsum_softmax_log_softmax(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[axis]
    check_all(lambda a: u.ops.cumsum(a, axis=axis), lambda a: np.cumsum(a, axis=axis), x, terms=n, scale=3)

    def softmax(a):
        e = np.exp(a - a.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    check_all(lambda a: u.ops.softmax(a, axis=axis), softmax, x, terms=n)
    check_all(lambda a: u.ops.log_softmax(a, axis=axis), lambda a: np.log(softmax(a)), x, terms=n, scale=6)


@given(dims=st.tuples(st.integers(1, 4), st.integers(1, 6), st.integers(1, 4)),
       batch=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3),
       dtype=st.sampled_from(["float32", "bfloat16"]), data=st.data())
def test_matmul_batched(dims, batch, dtype, data):
    n, k, m = dims
    a = data.draw(arrays(dtype, (*batch.input_shapes[0], n, k), -2, 2))
    b = data.draw(arrays(dtype, (*batch.input_shapes[1], k, m), -2, 2))
    check_all(u.ops.matmul, lambda x, y: np.matmul(x, y).astype(a.dtype), a, b, dtype=dtype, terms=k, scale=4)


EINSUMS = {
    "ij,jk->ik": ((3, 4), (4, 5)),
    "bij,bjk->bik": ((2, 3, 4), (2, 4, 2)),
    "bhqd,bhkd->bhqk": ((2, 2, 3, 4), (2, 2, 5, 4)),
    "i,i->": ((6,), (6,)),
    "ij->ji": ((3, 4),),
    "bij->bj": ((2, 3, 4),),
}


@given(spec=st.sampled_from(sorted(EINSUMS)), data=st.data())
def test_einsum(spec, data):
    operands = [data.draw(arrays("float32", s, -2, 2)) for s in EINSUMS[spec]]
    terms = max(operands[0].shape)
    check_all(lambda *a: u.ops.einsum(spec, *a), lambda *a: np.einsum(spec, *a), *operands, terms=terms, scale=4)


@given(x=arrays("float32", hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)), data=st.data())
def test_shape_ops_are_exact(x, data):
    perm = tuple(data.draw(st.permutations(range(x.ndim))))
    check_all(lambda a: u.ops.permute_dims(a, perm), lambda a: np.transpose(a, perm), x, exact=True)
    check_all(lambda a: u.ops.reshape(a, (-1,)), lambda a: a.reshape(-1), x, exact=True)
    check_all(lambda a: u.ops.flip(a), lambda a: np.flip(a), x, exact=True)
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    shift = data.draw(st.integers(-5, 5))
    check_all(lambda a: u.ops.roll(a, shift, axis=axis), lambda a: np.roll(a, shift, axis=axis), x, exact=True)
    check_all(lambda a: u.ops.expand_dims(a, axis), lambda a: np.expand_dims(a, axis), x, exact=True)
    check_all(lambda a: u.ops.concat([a, a], axis=axis), lambda a: np.concatenate([a, a], axis), x, exact=True)
    check_all(lambda a: u.ops.stack([a, a], axis=axis), lambda a: np.stack([a, a], axis), x, exact=True)
    reps = data.draw(st.integers(1, 3))
    check_all(lambda a: u.ops.repeat(a, reps, axis=axis), lambda a: np.repeat(a, reps, axis), x, exact=True)
    check_all(lambda a: u.ops.tile(a, (reps,) * x.ndim), lambda a: np.tile(a, (reps,) * x.ndim), x, exact=True)
    cuts = sorted(data.draw(st.lists(st.integers(0, x.shape[axis]), max_size=3)))
    check_all(lambda a: u.ops.split(a, cuts, axis=axis), lambda a: np.split(a, cuts, axis=axis), x, exact=True)
    if x.ndim >= 2:
        k = data.draw(st.integers(-3, 3))
        check_all(lambda a: u.ops.tril(a, k), lambda a: np.tril(a, k), x, exact=True)
        check_all(lambda a: u.ops.triu(a, k), lambda a: np.triu(a, k), x, exact=True)
    widths = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in range(x.ndim))
    check_all(lambda a: u.ops.pad(a, widths, constant_values=1.5),
              lambda a: np.pad(a, widths, constant_values=1.5), x, exact=True)


@given(x=arrays("float32", hnp.array_shapes(min_dims=1, max_dims=3, max_side=5)), data=st.data())
def test_take_and_take_along_axis(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[axis]
    idx = data.draw(hnp.arrays(np.int32, hnp.array_shapes(min_dims=0, max_dims=2, max_side=4),
                               elements=st.integers(-n, n - 1)))
    check_all(lambda a, i: u.ops.take(a, i, axis=axis), lambda a, i: np.take(a, i, axis=axis), x, idx, exact=True)
    along_shape = list(x.shape)
    along_shape[axis] = data.draw(st.integers(1, 4))
    along = data.draw(hnp.arrays(np.int32, tuple(along_shape), elements=st.integers(-n, n - 1)))
    check_all(lambda a, i: u.ops.take_along_axis(a, i, axis=axis),
              lambda a, i: np.take_along_axis(a, i, axis=axis), x, along, exact=True)


@given(x=st.data(), descending=st.booleans())
def test_sort_and_argsort_are_stable(x, descending):
    # Few distinct values, so ties are everywhere and stability shows.
    arr = x.draw(arrays("int32", hnp.array_shapes(min_dims=1, max_dims=2, max_side=6), -2, 2)).astype(np.float32)
    key = -arr if descending else arr
    check_all(lambda a: u.ops.argsort(a, axis=-1, descending=descending),
              lambda a: np.argsort(key, axis=-1, kind="stable"), arr, exact=True)
    check_all(lambda a: u.ops.sort(a, axis=0, descending=descending),
              lambda a: np.take_along_axis(a, np.argsort(-a if descending else a, axis=0, kind="stable"), 0),
              arr, exact=True)


@given(values=st.lists(st.integers(-1000, 1000), min_size=1, max_size=12, unique=True), data=st.data())
def test_top_k_distinct_values(values, data):
    x = np.array(values, np.float32) / 8
    k = data.draw(st.integers(0, len(values)))
    order = np.argsort(-x, kind="stable")[:k]
    check_all(lambda a: u.ops.top_k(a, k), lambda a: (a[order], order), x, exact=True)


@given(x=arrays("float32", hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), -3, 3),
       lo=st.floats(-2, 0, width=32, allow_subnormal=False), hi=st.floats(0, 2, width=32, allow_subnormal=False))
def test_where_and_clip(x, lo, hi):
    # No subnormal bounds: XLA on CPU flushes them to zero (see docs/differences.md).
    check_all(lambda a: u.ops.clip(a, lo, hi), lambda a: np.clip(a, np.float32(lo), np.float32(hi)), x, exact=True)
    check_all(lambda a: u.ops.where(a > 0, a, -a), lambda a: np.where(a > 0, a, -a), x, exact=True)


@given(labels=arrays("int32", hnp.array_shapes(min_dims=0, max_dims=2, max_side=5), 0, 6),
       classes=st.integers(7, 9))
def test_one_hot(labels, classes):
    check_all(lambda a: u.ops.one_hot(a, classes), lambda a: np.eye(classes, dtype=np.float32)[a], labels,
              exact=True)


@given(x=arrays("float32", hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=6)), data=st.data())
def test_dynamic_slices_clamp_like_jax(x, data):
    sizes = [data.draw(st.integers(1, s)) for s in x.shape]
    starts = [data.draw(st.integers(-2, s + 2)) for s in x.shape]
    clamp = [min(max(st_ + s if st_ < 0 else st_, 0), s - n) for st_, n, s in zip(starts, sizes, x.shape)]
    window = tuple(slice(c, c + n) for c, n in zip(clamp, sizes))
    check_all(lambda a: u.ops.dynamic_slice(a, starts, sizes), lambda a: a[window], x, exact=True)
    update = np.full(sizes, 7.0, np.float32)

    def ref(a, v):
        out = a.copy()
        out[window] = v
        return out

    check_all(lambda a, v: u.ops.dynamic_update_slice(a, v, starts), ref, x, update, exact=True)


@given(shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=5), dtype=st.sampled_from(
    ["float32", "int32", "bfloat16", "bool"]))
def test_creation_dtypes_and_values(shape, dtype):
    check_all(lambda: u.ops.zeros(shape, dtype), lambda: np.zeros(shape), exact=True)
    check_all(lambda: u.ops.ones(shape, dtype), lambda: np.ones(shape), exact=True)
    results = check_all(lambda: u.dtype(u.ops.full(shape, 1, dtype=dtype)), lambda: dtype, exact=True)
    assert set(results.values()) == {dtype}
