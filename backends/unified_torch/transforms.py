"""Function transforms for torch: ``torch.func`` and ``torch.compile``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.func


def _tensor_aux(fun: Callable[..., Any]) -> tuple[Callable[..., Any], Callable[[Any], Any]]:
    """``fun`` returning ``(out, aux)`` with only aux's tensors, and a function restoring the rest.

    torch.func insists that aux holds tensors only; JAX passes any aux through,
    so the other leaves (floats, strings) travel outside the transform.
    """
    from unified import tree

    kept: dict[str, Any] = {}

    def tensors_only(*args: Any, **kwargs: Any) -> Any:
        out, aux = fun(*args, **kwargs)
        leaves, treedef = tree.flatten(aux)
        kept["treedef"], kept["leaves"] = treedef, leaves
        return out, [x for x in leaves if isinstance(x, torch.Tensor)]

    def restore(tensors: list[Any]) -> Any:
        it = iter(tensors)
        leaves = [next(it) if isinstance(x, torch.Tensor) else x for x in kept["leaves"]]
        return kept["treedef"].unflatten(leaves)

    return tensors_only, restore


def value_and_grad(fun: Callable[..., Any], argnums: Any, has_aux: bool) -> Callable[..., Any]:
    if has_aux:
        fun, restore = _tensor_aux(fun)
    grad_and_value = torch.func.grad_and_value(fun, argnums=argnums, has_aux=has_aux)

    def value_and_grad_fn(*args: Any, **kwargs: Any) -> Any:
        g, value = grad_and_value(*args, **kwargs)  # torch: (grad, value); JAX: (value, grad)
        if has_aux:
            value = (value[0], restore(value[1]))
        return value, g

    return value_and_grad_fn


def jacobian(fun: Callable[..., Any], argnums: Any, has_aux: bool, forward: bool) -> Callable[..., Any]:
    jac = torch.func.jacfwd if forward else torch.func.jacrev
    if not has_aux:
        return jac(fun, argnums=argnums)  # type: ignore[no-any-return]
    fun, restore = _tensor_aux(fun)
    transformed = jac(fun, argnums=argnums, has_aux=True)

    def jacobian_fn(*args: Any, **kwargs: Any) -> Any:
        j, aux = transformed(*args, **kwargs)
        return j, restore(aux)

    return jacobian_fn


def hessian(fun: Callable[..., Any], argnums: Any) -> Callable[..., Any]:
    return torch.func.hessian(fun, argnums=argnums)  # type: ignore[no-any-return]


def vmap(fun: Callable[..., Any], in_axes: Any, out_axes: Any) -> Callable[..., Any]:
    return torch.func.vmap(fun, in_dims=in_axes, out_dims=out_axes)  # type: ignore[no-any-return]


def jit(fun: Callable[..., Any], static_argnums: tuple[int, ...], static_argnames: tuple[str, ...],
        donate_argnums: tuple[int, ...], options: dict[str, Any]) -> Callable[..., Any]:
    # Dynamo specialises on Python values by itself, so static arguments need no
    # declaring; buffer donation has no torch counterpart.
    return torch.compile(fun, **options)  # type: ignore[no-any-return]


def stop_gradient(x: torch.Tensor) -> torch.Tensor:
    return x.detach()


def in_transform() -> bool:
    """Whether a torch.func transform is active here (and we are not being traced by dynamo)."""
    if torch.compiler.is_compiling():
        return False
    return torch._C._functorch.peek_interpreter_stack() is not None


@contextlib.contextmanager
def disable_jit() -> Iterator[None]:
    with torch.compiler.set_stance("force_eager"):
        yield


def no_grad() -> Any:
    return torch.inference_mode()
