"""Optimizer pieces for JAX: optax itself (every function returns an ``optax.GradientTransformation``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optax

scale_by_adam = optax.scale_by_adam
chain = optax.chain
clip_by_global_norm = optax.clip_by_global_norm
apply_updates = optax.apply_updates


def trace(decay: float, nesterov: bool) -> optax.GradientTransformation:
    return optax.trace(decay=decay, nesterov=nesterov)


def add_decayed_weights(weight_decay: float, mask: Callable[[Any], Any] | None) -> optax.GradientTransformation:
    return optax.add_decayed_weights(weight_decay, mask)


def scale_by_learning_rate(learning_rate: float | Callable[[Any], Any]) -> optax.GradientTransformation:
    return optax.scale_by_learning_rate(learning_rate)


def apply_to_module(module: Any, params: Any, updates: Any) -> Any:
    """``module`` with ``params + updates`` as its parameters (a new pytree; the old one is unchanged)."""
    from unified_jax.module import replace_params

    return replace_params(module, optax.apply_updates(params, updates))
