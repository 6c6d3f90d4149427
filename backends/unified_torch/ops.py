"""Array operations for torch: one-line translations, plus the few places where
torch's semantics differ from the Array API / JAX ones (noted inline)."""

from __future__ import annotations

import builtins
from typing import Any

import torch
import torch.nn.functional as F

from unified_torch.core import _DTYPES, default_device

_INT_SUM = (torch.int8, torch.int16, torch.int32, torch.uint8, torch.bool)


def _dt(name: str | None) -> torch.dtype | None:
    return None if name is None else _DTYPES[name]


def _t(x: Any, like: torch.Tensor) -> torch.Tensor:
    # A Python scalar as a 0-d tensor of `like`'s dtype (torch.maximum & co. take no scalars).
    return x if isinstance(x, torch.Tensor) else torch.tensor(x, dtype=like.dtype, device=like.device)


# creation ------------------------------------------------------------------
def zeros(shape, dtype):
    return torch.zeros(shape, dtype=_DTYPES[dtype], device=default_device())


def ones(shape, dtype):
    return torch.ones(shape, dtype=_DTYPES[dtype], device=default_device())


def full(shape, fill_value, dtype):
    return torch.full(shape, fill_value, dtype=_DTYPES[dtype], device=default_device())


def arange(start, stop, step, dtype):
    return torch.arange(start, stop, step, dtype=_DTYPES[dtype], device=default_device())


def linspace(start, stop, num, endpoint, dtype):
    if endpoint:
        return torch.linspace(start, stop, num, dtype=_DTYPES[dtype], device=default_device())
    return torch.linspace(start, stop, num + 1, dtype=_DTYPES[dtype], device=default_device())[:-1]


def eye(n, m, k, dtype):
    if k == 0:
        return torch.eye(n, m, dtype=_DTYPES[dtype], device=default_device())
    return torch.ones((n, m), dtype=_DTYPES[dtype], device=default_device()).triu(k).tril(k)


def zeros_like(x, dtype):
    return torch.zeros_like(x, dtype=_dt(dtype))


def ones_like(x, dtype):
    return torch.ones_like(x, dtype=_dt(dtype))


def full_like(x, fill_value, dtype):
    return torch.full_like(x, fill_value, dtype=_dt(dtype))


def astype(x, dtype):
    return x.to(_DTYPES[dtype])


# elementwise ---------------------------------------------------------------
abs = torch.abs
negative = torch.negative
sign = torch.sign
sqrt = torch.sqrt
rsqrt = torch.rsqrt
square = torch.square
reciprocal = torch.reciprocal
exp = torch.exp
expm1 = torch.expm1
log = torch.log
log1p = torch.log1p
sin = torch.sin
cos = torch.cos
tan = torch.tan
tanh = torch.tanh
arctan = torch.arctan
sigmoid = torch.sigmoid
erf = torch.erf
floor = torch.floor
ceil = torch.ceil
round = torch.round
isnan = torch.isnan
isinf = torch.isinf
isfinite = torch.isfinite
logical_not = torch.logical_not


def _binary(fn):
    def op(x1, x2):
        if not isinstance(x1, torch.Tensor):
            x1 = _t(x1, x2)
        return fn(x1, x2)
    op.__name__ = fn.__name__
    return op


add = _binary(torch.add)
subtract = _binary(torch.subtract)
multiply = _binary(torch.multiply)
floor_divide = _binary(torch.floor_divide)
remainder = _binary(torch.remainder)
power = _binary(torch.pow)
equal = _binary(torch.eq)
not_equal = _binary(torch.ne)
less = _binary(torch.lt)
less_equal = _binary(torch.le)
greater = _binary(torch.gt)
greater_equal = _binary(torch.ge)


def divide(x1, x2):
    return torch.true_divide(x1 if isinstance(x1, torch.Tensor) else _t(x1, x2), x2)


def maximum(x1, x2):
    if not isinstance(x1, torch.Tensor):
        x1, x2 = x2, x1
    return torch.maximum(x1, _t(x2, x1))


def minimum(x1, x2):
    if not isinstance(x1, torch.Tensor):
        x1, x2 = x2, x1
    return torch.minimum(x1, _t(x2, x1))


def arctan2(x1, x2):
    if not isinstance(x1, torch.Tensor):
        x1 = _t(x1, x2)
    return torch.atan2(x1, _t(x2, x1))


def logical_and(x1, x2):
    if not isinstance(x1, torch.Tensor):
        x1, x2 = x2, x1
    return torch.logical_and(x1, _t(x2, x1))


def logical_or(x1, x2):
    if not isinstance(x1, torch.Tensor):
        x1, x2 = x2, x1
    return torch.logical_or(x1, _t(x2, x1))


def where(condition, x1, x2):
    return torch.where(condition, x1, x2)


def clip(x, min, max):
    return torch.clamp(x, min, max)


# reductions ----------------------------------------------------------------
def _dim(axis):
    return () if axis is None else axis


def sum(x, axis, keepdims):
    # torch widens small ints and bools to int64; JAX and the Array API keep int32.
    dtype = torch.int32 if x.dtype in _INT_SUM else None
    if axis is None and not keepdims:
        return torch.sum(x, dtype=dtype)
    return torch.sum(x, dim=_dim(axis), keepdim=keepdims, dtype=dtype)


def prod(x, axis, keepdims):
    dtype = torch.int32 if x.dtype in _INT_SUM else None
    if axis is None:
        out = torch.prod(x, dtype=dtype)
        return out.reshape((1,) * x.ndim) if keepdims else out
    if isinstance(axis, int):
        return torch.prod(x, dim=axis, keepdim=keepdims, dtype=dtype)
    for a in sorted((a % x.ndim for a in axis), reverse=True):
        x = torch.prod(x, dim=a, keepdim=keepdims, dtype=dtype)
    return x


def _floating(x):
    return x if x.is_floating_point() or x.is_complex() else x.to(torch.float32)


def mean(x, axis, keepdims):
    return torch.mean(_floating(x), dim=_dim(axis), keepdim=keepdims)


def var(x, axis, correction, keepdims):
    return torch.var(_floating(x), dim=axis, correction=correction, keepdim=keepdims)


def std(x, axis, correction, keepdims):
    return torch.std(_floating(x), dim=axis, correction=correction, keepdim=keepdims)


def max(x, axis, keepdims):
    return torch.amax(x, dim=_dim(axis), keepdim=keepdims)


def min(x, axis, keepdims):
    return torch.amin(x, dim=_dim(axis), keepdim=keepdims)


def all(x, axis, keepdims):
    if axis is None and not keepdims:
        return torch.all(x)
    return torch.all(x, dim=tuple(range(x.ndim)) if axis is None else axis, keepdim=keepdims)


def any(x, axis, keepdims):
    if axis is None and not keepdims:
        return torch.any(x)
    return torch.any(x, dim=tuple(range(x.ndim)) if axis is None else axis, keepdim=keepdims)


def argmax(x, axis, keepdims):
    return torch.argmax(x, dim=axis, keepdim=keepdims)


def argmin(x, axis, keepdims):
    return torch.argmin(x, dim=axis, keepdim=keepdims)


def logsumexp(x, axis, keepdims):
    return torch.logsumexp(x, dim=tuple(range(x.ndim)) if axis is None else axis, keepdim=keepdims)


def cumsum(x, axis):
    return torch.cumsum(x, dim=axis, dtype=torch.int32 if x.dtype in _INT_SUM else None)


def vector_norm(x, axis, keepdims, ord):
    return torch.linalg.vector_norm(x, ord=ord, dim=axis, keepdim=keepdims)


# linear algebra ------------------------------------------------------------
matmul = torch.matmul


def einsum(subscripts, operands):
    return torch.einsum(subscripts, *operands)


def tensordot(x1, x2, axes):
    return torch.tensordot(x1, x2, dims=axes if isinstance(axes, int) else [list(axes[0]), list(axes[1])])


def outer(x1, x2):
    return torch.outer(x1, x2)


# shape ---------------------------------------------------------------------
def reshape(x, shape):
    return torch.reshape(x, shape)


def permute_dims(x, axes):
    return torch.permute(x, axes)


def swapaxes(x, axis1, axis2):
    return torch.swapaxes(x, axis1, axis2)


def moveaxis(x, source, destination):
    return torch.movedim(x, source, destination)


def expand_dims(x, axis):
    ndim = x.ndim + len(axis)
    for a in sorted(a % ndim for a in axis):
        x = torch.unsqueeze(x, a)
    return x


def squeeze(x, axis):
    return torch.squeeze(x, axis) if axis else x


def broadcast_to(x, shape):
    return torch.broadcast_to(x, shape)


def concat(arrays, axis):
    return torch.cat(arrays, dim=axis)


def stack(arrays, axis):
    return torch.stack(arrays, dim=axis)


def split(x, indices, axis):
    return list(torch.tensor_split(x, indices, dim=axis))


def tile(x, reps):
    return torch.tile(x, reps)


def repeat(x, repeats, axis):
    return torch.repeat_interleave(x, repeats, dim=axis)


def flip(x, axis):
    return torch.flip(x, axis)


def roll(x, shift, axis):
    return torch.roll(x, shift, axis)


def pad(x, pad_width, value):
    # F.pad lists (before, after) pairs from the last axis backwards.
    flat = [p for pair in reversed(pad_width) for p in pair]
    return F.pad(x, flat, value=value)


def tril(x, k):
    return torch.tril(x, k)


def triu(x, k):
    return torch.triu(x, k)


# indexing ------------------------------------------------------------------
def take(x, indices, axis):
    # Advanced indexing (unlike index_select) accepts negative indices, as numpy.
    return x[(slice(None),) * (axis % x.ndim) + (indices,)]


def take_along_axis(x, indices, axis):
    # gather needs int64 indices; numpy/JAX allow negative ones.
    indices = indices.long()
    indices = torch.where(indices < 0, indices + x.shape[axis], indices)
    return torch.take_along_dim(x, indices, dim=axis)


def _clamped_start(start, size, dim):
    # JAX's rule: a negative start counts from the end, then the window is clamped to fit.
    if isinstance(start, torch.Tensor):
        return torch.clamp(torch.where(start < 0, start + dim, start), 0, dim - size)
    start = int(start)
    return builtins.max(0, builtins.min(start + dim if start < 0 else start, dim - size))


def dynamic_slice(x, start, sizes):
    for axis, (s, n) in enumerate(zip(start, sizes)):
        x = torch.narrow(x, axis, _clamped_start(s, n, x.shape[axis]), n)
    return x


def dynamic_update_slice(x, update, start):
    if builtins.all(not isinstance(s, torch.Tensor) for s in start):
        index = tuple(
            slice(b, b + n)
            for b, n in ((_clamped_start(s, n, d), n) for s, n, d in zip(start, update.shape, x.shape))
        )
        out = x.clone()
        out[index] = update
        return out
    # Traced starts (under torch.compile): gather `update` at every position of
    # `x` with per-axis offsets, and keep it where it lands inside the window.
    ndim = x.ndim
    rows, inside = [], None
    for axis, (s, n, d) in enumerate(zip(start, update.shape, x.shape)):
        begin = _clamped_start(torch.as_tensor(s, device=x.device), n, d)
        r = torch.arange(d, device=x.device) - begin
        shape = [1] * ndim
        shape[axis] = d
        rows.append(torch.clamp(r, 0, n - 1).reshape(shape))
        ok = ((r >= 0) & (r < n)).reshape(shape)
        inside = ok if inside is None else inside & ok
    return torch.where(inside, update[tuple(rows)], x)


# sorting -------------------------------------------------------------------
def sort(x, axis, descending):
    return torch.sort(x, dim=axis, descending=descending, stable=True).values


def argsort(x, axis, descending):
    return torch.argsort(x, dim=axis, descending=descending, stable=True)


def top_k(x, k):
    values, indices = torch.topk(x, k, dim=-1, largest=True, sorted=True)
    return values, indices


# rows ----------------------------------------------------------------------
def softmax(x, axis):
    return torch.softmax(x, dim=axis)


def log_softmax(x, axis):
    return torch.log_softmax(x, dim=axis)


def one_hot(x, num_classes, dtype):
    return F.one_hot(x.long(), num_classes).to(_DTYPES[dtype])

