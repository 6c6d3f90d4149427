"""Array operations for JAX: one-line translations onto ``jax.numpy`` and ``jax.lax``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from unified_jax.core import _DTYPES


def _dt(name):
    return None if name is None else _DTYPES[name]


# creation ------------------------------------------------------------------
def zeros(shape, dtype):
    return jnp.zeros(shape, _DTYPES[dtype])


def ones(shape, dtype):
    return jnp.ones(shape, _DTYPES[dtype])


def full(shape, fill_value, dtype):
    return jnp.full(shape, fill_value, _DTYPES[dtype])


def arange(start, stop, step, dtype):
    return jnp.arange(start, stop, step, dtype=_DTYPES[dtype])


def linspace(start, stop, num, endpoint, dtype):
    return jnp.linspace(start, stop, num, endpoint=endpoint, dtype=_DTYPES[dtype])


def eye(n, m, k, dtype):
    return jnp.eye(n, m, k, dtype=_DTYPES[dtype])


def zeros_like(x, dtype):
    return jnp.zeros_like(x, dtype=_dt(dtype))


def ones_like(x, dtype):
    return jnp.ones_like(x, dtype=_dt(dtype))


def full_like(x, fill_value, dtype):
    return jnp.full_like(x, fill_value, dtype=_dt(dtype))


def astype(x, dtype):
    return x.astype(_DTYPES[dtype])


# elementwise ---------------------------------------------------------------
abs = jnp.abs
negative = jnp.negative
sign = jnp.sign
sqrt = jnp.sqrt
rsqrt = lax.rsqrt
square = jnp.square
reciprocal = jnp.reciprocal
exp = jnp.exp
expm1 = jnp.expm1
log = jnp.log
log1p = jnp.log1p
sin = jnp.sin
cos = jnp.cos
tan = jnp.tan
tanh = jnp.tanh
arctan = jnp.arctan
sigmoid = jax.nn.sigmoid
erf = jax.scipy.special.erf
floor = jnp.floor
ceil = jnp.ceil
round = jnp.round
isnan = jnp.isnan
isinf = jnp.isinf
isfinite = jnp.isfinite
logical_not = jnp.logical_not

add = jnp.add
subtract = jnp.subtract
multiply = jnp.multiply
divide = jnp.true_divide
floor_divide = jnp.floor_divide
remainder = jnp.remainder
power = jnp.power
maximum = jnp.maximum
minimum = jnp.minimum
arctan2 = jnp.arctan2
equal = jnp.equal
not_equal = jnp.not_equal
less = jnp.less
less_equal = jnp.less_equal
greater = jnp.greater
greater_equal = jnp.greater_equal
logical_and = jnp.logical_and
logical_or = jnp.logical_or
where = jnp.where


def clip(x, min, max):
    return jnp.clip(x, min, max)


# reductions ----------------------------------------------------------------
def sum(x, axis, keepdims):
    return jnp.sum(x, axis=axis, keepdims=keepdims)


def prod(x, axis, keepdims):
    return jnp.prod(x, axis=axis, keepdims=keepdims)


def mean(x, axis, keepdims):
    return jnp.mean(x, axis=axis, keepdims=keepdims)


def var(x, axis, correction, keepdims):
    return jnp.var(x, axis=axis, correction=correction, keepdims=keepdims)


def std(x, axis, correction, keepdims):
    return jnp.std(x, axis=axis, correction=correction, keepdims=keepdims)


def max(x, axis, keepdims):
    return jnp.max(x, axis=axis, keepdims=keepdims)


def min(x, axis, keepdims):
    return jnp.min(x, axis=axis, keepdims=keepdims)


def all(x, axis, keepdims):
    return jnp.all(x, axis=axis, keepdims=keepdims)


def any(x, axis, keepdims):
    return jnp.any(x, axis=axis, keepdims=keepdims)


def argmax(x, axis, keepdims):
    return jnp.argmax(x, axis=axis, keepdims=keepdims)


def argmin(x, axis, keepdims):
    return jnp.argmin(x, axis=axis, keepdims=keepdims)


def logsumexp(x, axis, keepdims):
    return jax.nn.logsumexp(x, axis=axis, keepdims=keepdims)


def cumsum(x, axis):
    return jnp.cumsum(x, axis=axis)


def vector_norm(x, axis, keepdims, ord):
    return jnp.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)


# linear algebra ------------------------------------------------------------
matmul = jnp.matmul


def einsum(subscripts, operands):
    return jnp.einsum(subscripts, *operands)


def tensordot(x1, x2, axes):
    return jnp.tensordot(x1, x2, axes=axes)


def outer(x1, x2):
    return jnp.outer(x1, x2)


# shape ---------------------------------------------------------------------
def reshape(x, shape):
    return jnp.reshape(x, shape)


def permute_dims(x, axes):
    return jnp.transpose(x, axes)


def swapaxes(x, axis1, axis2):
    return jnp.swapaxes(x, axis1, axis2)


def moveaxis(x, source, destination):
    return jnp.moveaxis(x, source, destination)


def expand_dims(x, axis):
    return jnp.expand_dims(x, axis)


def squeeze(x, axis):
    return jnp.squeeze(x, axis)


def broadcast_to(x, shape):
    return jnp.broadcast_to(x, shape)


def concat(arrays, axis):
    return jnp.concatenate(arrays, axis=axis)


def stack(arrays, axis):
    return jnp.stack(arrays, axis=axis)


def split(x, indices, axis):
    return jnp.split(x, indices, axis=axis)


def tile(x, reps):
    return jnp.tile(x, reps)


def repeat(x, repeats, axis):
    return jnp.repeat(x, repeats, axis=axis)


def flip(x, axis):
    return jnp.flip(x, axis)


def roll(x, shift, axis):
    return jnp.roll(x, shift, axis)


def pad(x, pad_width, value):
    return jnp.pad(x, pad_width, constant_values=value)


def tril(x, k):
    return jnp.tril(x, k)


def triu(x, k):
    return jnp.triu(x, k)


# indexing ------------------------------------------------------------------
def _wrap_negative(indices, size):
    # numpy's rule for negative indices; mode="clip" alone would clamp them to 0.
    return jnp.where(indices < 0, indices + size, indices)


def take(x, indices, axis):
    return jnp.take(x, _wrap_negative(indices, x.shape[axis]), axis=axis, mode="clip")


def take_along_axis(x, indices, axis):
    return jnp.take_along_axis(x, _wrap_negative(indices, x.shape[axis]), axis=axis, mode="clip")


def dynamic_slice(x, start, sizes):
    return lax.dynamic_slice(x, start, sizes)


def dynamic_update_slice(x, update, start):
    return lax.dynamic_update_slice(x, update.astype(x.dtype), start)


# sorting -------------------------------------------------------------------
def sort(x, axis, descending):
    return jnp.sort(x, axis=axis, stable=True, descending=descending)


def argsort(x, axis, descending):
    return jnp.argsort(x, axis=axis, stable=True, descending=descending)


def top_k(x, k):
    return lax.top_k(x, k)


# rows ----------------------------------------------------------------------
def softmax(x, axis):
    return jax.nn.softmax(x, axis=axis)


def log_softmax(x, axis):
    return jax.nn.log_softmax(x, axis=axis)


def one_hot(x, num_classes, dtype):
    return jax.nn.one_hot(x, num_classes, dtype=_DTYPES[dtype])
