"""Random numbers for JAX: ``jax.random`` on raw ``uint32[2]`` threefry keys."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from unified_jax.core import _DTYPES

_M = 0xFFFFFFFF


def key(seed: int) -> jax.Array:
    # Built from the seed's two 32-bit halves, as PRNGKey does, but valid for
    # seeds >= 2**31 without 64-bit mode.
    return jnp.array([(seed >> 32) & _M, seed & _M], dtype=jnp.uint32)


def split(key: jax.Array, num: int) -> jax.Array:
    return jax.random.split(key, num)


def fold_in(key: jax.Array, data: Any) -> jax.Array:
    return jax.random.fold_in(key, data)


def bits(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    return jax.random.bits(key, shape, jnp.uint32)


def uniform(key: jax.Array, shape: tuple[int, ...], dtype: str, minval: float, maxval: float) -> jax.Array:
    return jax.random.uniform(key, shape, _DTYPES[dtype], minval, maxval)


def normal(key: jax.Array, shape: tuple[int, ...], dtype: str) -> jax.Array:
    return jax.random.normal(key, shape, _DTYPES[dtype])


def bernoulli(key: jax.Array, p: Any, shape: tuple[int, ...]) -> jax.Array:
    return jax.random.bernoulli(key, p, shape)


def categorical(key: jax.Array, logits: jax.Array, axis: int) -> jax.Array:
    return jax.random.categorical(key, logits, axis=axis, mode="low")
