"""Function transforms for JAX: JAX's own, under the same names."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import jax


def value_and_grad(fun: Callable[..., Any], argnums: Any, has_aux: bool) -> Callable[..., Any]:
    return jax.value_and_grad(fun, argnums=argnums, has_aux=has_aux)


def jacobian(fun: Callable[..., Any], argnums: Any, has_aux: bool, forward: bool) -> Callable[..., Any]:
    jac = jax.jacfwd if forward else jax.jacrev
    return jac(fun, argnums=argnums, has_aux=has_aux)


def hessian(fun: Callable[..., Any], argnums: Any) -> Callable[..., Any]:
    return jax.hessian(fun, argnums=argnums)


def vmap(fun: Callable[..., Any], in_axes: Any, out_axes: Any) -> Callable[..., Any]:
    return jax.vmap(fun, in_axes=in_axes, out_axes=out_axes)


def jit(fun: Callable[..., Any], static_argnums: tuple[int, ...], static_argnames: tuple[str, ...],
        donate_argnums: tuple[int, ...], options: dict[str, Any]) -> Callable[..., Any]:
    return jax.jit(fun, static_argnums=static_argnums, static_argnames=static_argnames,
                   donate_argnums=donate_argnums, **options)


def stop_gradient(x: jax.Array) -> jax.Array:
    return jax.lax.stop_gradient(x)


def in_transform() -> bool:
    return False  # jax.jit composes with every transform, in any order


@contextlib.contextmanager
def disable_jit() -> Iterator[None]:
    with jax.disable_jit():
        yield


def no_grad() -> Any:
    return contextlib.nullcontext()  # JAX records nothing unless asked to differentiate
