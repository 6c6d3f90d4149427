"""Optimizer pieces for torch: optax's transformations, computed with torch's ``_foreach`` kernels.

Each function returns a ``Transform(init, update)`` with optax's signatures
and optax's state structure (``ScaleByAdamState(count, mu, nu)`` ...), so a
state saved under torch loads under JAX. Two things differ from optax, both
for speed: ``update`` may overwrite the ``updates`` it is given and the state's
buffers in place (as ``torch.optim`` does), and ``apply_updates`` adds into the
parameters in place. Treat the old state and gradients as consumed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from unified import tree


class Transform(NamedTuple):
    init: Callable[[Any], Any]
    update: Callable[..., tuple[Any, Any]]


class EmptyState(NamedTuple):
    pass


class ScaleByAdamState(NamedTuple):
    count: torch.Tensor
    mu: Any
    nu: Any


class TraceState(NamedTuple):
    trace: Any


class ScaleByScheduleState(NamedTuple):
    count: torch.Tensor


def _leaves(t: Any) -> list[torch.Tensor]:
    return tree.leaves(t)


def _like(structure: Any, leaves: list[torch.Tensor]) -> Any:
    return tree.structure(structure).unflatten(leaves)


def _zeros(params: Any) -> Any:
    return tree.map(torch.zeros_like, params)


def _count(params: Any) -> torch.Tensor:
    leaves = _leaves(params)
    device = leaves[0].device if leaves else None
    return torch.zeros((), dtype=torch.int32, device=device)


def scale_by_adam(b1: float, b2: float, eps: float) -> Transform:
    def init(params: Any) -> ScaleByAdamState:
        return ScaleByAdamState(_count(params), _zeros(params), _zeros(params))

    def update(updates: Any, state: ScaleByAdamState, params: Any = None, **extra: Any) -> tuple[Any, Any]:
        g, mu, nu = _leaves(updates), _leaves(state.mu), _leaves(state.nu)
        count = state.count + 1
        # optax's moments: mu = b1 * mu + (1 - b1) * g; nu = b2 * nu + (1 - b2) * g**2
        torch._foreach_mul_(mu, b1)
        torch._foreach_add_(mu, g, alpha=1 - b1)
        torch._foreach_mul_(nu, b2)
        torch._foreach_addcmul_(nu, g, g, value=1 - b2)
        c = count.to(torch.float32)
        mu_hat = torch._foreach_div(mu, 1 - torch.pow(b1, c))
        nu_hat = torch._foreach_div(nu, 1 - torch.pow(b2, c))
        denom = torch._foreach_sqrt(nu_hat)
        torch._foreach_add_(denom, eps)
        out = torch._foreach_div(mu_hat, denom)
        return _like(updates, out), ScaleByAdamState(count, state.mu, state.nu)

    return Transform(init, update)


def trace(decay: float, nesterov: bool) -> Transform:
    def init(params: Any) -> TraceState:
        return TraceState(_zeros(params))

    def update(updates: Any, state: TraceState, params: Any = None, **extra: Any) -> tuple[Any, Any]:
        g, buf = _leaves(updates), _leaves(state.trace)
        torch._foreach_mul_(buf, decay)
        torch._foreach_add_(buf, g)  # t = g + decay * t, as optax.trace and torch's SGD momentum
        if nesterov:
            out = torch._foreach_add(g, buf, alpha=decay)
        else:
            out = [b.clone() for b in buf]
        return _like(updates, out), state

    return Transform(init, update)


def add_decayed_weights(weight_decay: float, mask: Callable[[Any], Any] | None) -> Transform:
    def init(params: Any) -> EmptyState:
        return EmptyState()

    def update(updates: Any, state: EmptyState, params: Any = None, **extra: Any) -> tuple[Any, Any]:
        if params is None:
            raise ValueError("add_decayed_weights needs the parameters: pass params to update().")
        g, p = _leaves(updates), _leaves(params)
        if mask is not None:
            keep = _leaves(mask(params))
            g = [x for x, k in zip(g, keep) if k]
            p = [x for x, k in zip(p, keep) if k]
        if g:
            torch._foreach_add_(g, p, alpha=weight_decay)
        return updates, state

    return Transform(init, update)


def scale_by_learning_rate(learning_rate: float | Callable[[Any], Any]) -> Transform:
    if not callable(learning_rate):
        def init(params: Any) -> EmptyState:
            return EmptyState()

        def update(updates: Any, state: Any, params: Any = None, **extra: Any) -> tuple[Any, Any]:
            torch._foreach_mul_(_leaves(updates), -learning_rate)
            return updates, state

        return Transform(init, update)

    def init_schedule(params: Any) -> ScaleByScheduleState:
        return ScaleByScheduleState(_count(params))

    def update_schedule(updates: Any, state: ScaleByScheduleState, params: Any = None,
                        **extra: Any) -> tuple[Any, Any]:
        lr = learning_rate(state.count)  # optax: the rate at the step count before this update
        torch._foreach_mul_(_leaves(updates), -lr)
        return updates, ScaleByScheduleState(state.count + 1)

    return Transform(init_schedule, update_schedule)


def clip_by_global_norm(max_norm: float) -> Transform:
    def init(params: Any) -> EmptyState:
        return EmptyState()

    def update(updates: Any, state: EmptyState, params: Any = None, **extra: Any) -> tuple[Any, Any]:
        g = _leaves(updates)
        norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(g)))
        # optax: unchanged below max_norm, else scaled to it
        factor = torch.where(norm < max_norm, torch.ones_like(norm), max_norm / norm)
        torch._foreach_mul_(g, factor)
        return updates, state

    return Transform(init, update)


def chain(*parts: Transform) -> Transform:
    def init(params: Any) -> tuple[Any, ...]:
        return tuple(p.init(params) for p in parts)

    def update(updates: Any, state: tuple[Any, ...], params: Any = None, **extra: Any) -> tuple[Any, Any]:
        new_states = []
        for part, s in zip(parts, state):
            updates, s = part.update(updates, s, params, **extra)
            new_states.append(s)
        return updates, tuple(new_states)

    return Transform(init, update)


def apply_updates(params: Any, updates: Any) -> Any:
    with torch.no_grad():
        torch._foreach_add_(_leaves(params), _leaves(updates))
    return params


def apply_to_module(module: Any, params: Any, updates: Any) -> Any:
    """Add ``updates`` into ``module``'s parameters (``params`` shares their storage): in place."""
    apply_updates(params, updates)
    return module
