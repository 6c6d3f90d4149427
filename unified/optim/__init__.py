"""Optimizers in optax's shape, native underneath: optax under JAX, ``torch._foreach`` kernels under torch.

An optimizer is a gradient transformation: ``state = opt.init(params)`` and
``updates, state = opt.update(grads, state, params)``; transformations compose
with :func:`chain`. ``params`` may be a module (its parameters are used, as
``{name: array}``, the form :func:`unified.grad` returns for a module) or any
pytree of arrays. :meth:`Optimizer.step` does the common thing in one call:
update and apply, returning the new model and state (under torch the model's
parameters are updated in place, which is faster; under JAX a new model is
returned).

Defaults follow ``torch.optim`` (AdamW's weight decay is 0.01, not optax's
1e-4; eps is 1e-8). State structures are optax's, on both backends.

>>> import unified as u
>>> from unified import nn
>>> model = nn.Linear(3, 1)
>>> opt = u.optim.adamw(1e-2, weight_decay=0.1, mask=u.optim.no_decay_on_norms_and_biases)
>>> state = opt.init(model)
>>> x = u.ops.ones((4, 3))
>>> for _ in range(3):
...     grads = u.grad(lambda m: u.ops.mean(m(x) ** 2))(model)
...     model, state = opt.step(model, grads, state)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from unified import _backend, tree
from unified._errors import UnifiedError
from unified._protocols import Array, Backend
from unified.optim._schedules import Schedule, constant, cosine_decay, linear_warmup, warmup_cosine_decay

__all__ = [
    "Optimizer",
    "Schedule",
    "adam",
    "adamw",
    "add_decayed_weights",
    "apply_updates",
    "chain",
    "clip_by_global_norm",
    "constant",
    "cosine_decay",
    "global_norm",
    "linear_warmup",
    "no_decay_on_norms_and_biases",
    "scale_by_adam",
    "scale_by_learning_rate",
    "sgd",
    "trace",
    "warmup_cosine_decay",
]


def _is_module(x: Any) -> bool:
    return hasattr(type(x), "__unified_backend__")


def _params(b: Backend, x: Any) -> Any:
    return b.module.params(x) if _is_module(x) else x


class Optimizer:
    """A gradient transformation, built for each backend on first use.

    Build one with :func:`adamw`, :func:`sgd`, :func:`chain` ...; it holds no
    arrays itself, so one object serves every backend and every model.
    """

    def __init__(self, name: str, build: Callable[[Backend], Any]) -> None:
        self.name = name
        self._build = build
        self._impls: dict[str, Any] = {}

    def __repr__(self) -> str:
        return self.name

    def native(self, backend: Backend) -> Any:
        """The backend's own transformation (an ``optax.GradientTransformation`` under JAX)."""
        impl = self._impls.get(backend.name)
        if impl is None:
            impl = self._impls[backend.name] = self._build(backend)
        return impl

    def init(self, params: Any) -> Any:
        """The initial state for ``params`` (a module or a pytree of arrays)."""
        b = _backend.backend_of_args((params,))
        return self.native(b).init(_params(b, params))

    def update(self, grads: Any, state: Any, params: Any = None, **extra: Any) -> tuple[Any, Any]:
        """``(updates, new_state)`` for ``grads``; ``params`` is needed by weight decay.

        Under torch, ``grads`` and the state's buffers are reused in place: treat them as consumed.
        """
        b = _backend.backend_of_args((grads,))
        return self.native(b).update(grads, state, None if params is None else _params(b, params), **extra)

    def step(self, model: Any, grads: Any, state: Any, **extra: Any) -> tuple[Any, Any]:
        """Update and apply in one call: returns ``(model, state)``.

        ``model`` is a module (``grads`` as :func:`unified.grad` returns them for
        it) or a pytree of arrays. Under torch the parameters change in place
        and the same model comes back; under JAX a new model (pytree) does.
        """
        b = _backend.backend_of_args((model,))
        params = _params(b, model)
        if _is_module(model) and isinstance(grads, dict) and list(grads) != list(params):
            missing = [k for k in params if k not in grads]
            extra_keys = [k for k in grads if k not in params]
            raise UnifiedError(
                f"{self.name}.step: the gradients do not match the model's parameters (missing {missing}, "
                f"unexpected {extra_keys}). Take them with u.grad(loss)(model) on this model."
            )
        updates, state = self.native(b).update(grads, state, params, **extra)
        if _is_module(model):
            return b.optim.apply_to_module(model, params, updates), state
        return b.optim.apply_updates(params, updates), state


def apply_updates(params: Any, updates: Any) -> Any:
    """``params + updates``: in place under torch (returning ``params``), a new pytree under JAX.

    ``params`` may be a module, as for :meth:`Optimizer.step`.
    """
    b = _backend.backend_of_args((params,))
    if _is_module(params):
        return b.optim.apply_to_module(params, b.module.params(params), updates)
    return b.optim.apply_updates(params, updates)


def global_norm(tree_: Any) -> Array:
    """The L2 norm of all the arrays of a pytree together (what :func:`clip_by_global_norm` clips).

    Example:
        >>> import unified as u
        >>> float(u.optim.global_norm({"a": u.asarray([3.0]), "b": u.asarray([4.0])}))
        5.0
    """
    from unified import ops

    leaves = tree.leaves(tree_)
    return ops.sqrt(sum(ops.sum(ops.square(x)) for x in leaves))


# -------------------------------------------------------------------- building blocks


def _check_rate(name: str, lr: Any) -> None:
    if not callable(lr) and not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr >= 0):
        raise UnifiedError(f"{name}: learning_rate must be a non-negative number or a schedule, got {lr!r}.")


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """Adam's preconditioning: bias-corrected first and second moments, ``m / (sqrt(v) + eps)``."""
    for label, v in (("b1", b1), ("b2", b2)):
        if not 0.0 <= v < 1.0:
            raise UnifiedError(f"scale_by_adam: {label} must be in [0, 1), got {v}.")
    return Optimizer(f"scale_by_adam(b1={b1}, b2={b2}, eps={eps})", lambda b: b.optim.scale_by_adam(b1, b2, eps))


def trace(decay: float, nesterov: bool = False) -> Optimizer:
    """Momentum: ``t = g + decay * t`` (torch's SGD momentum; optax's ``trace``)."""
    return Optimizer(f"trace({decay}, nesterov={nesterov})", lambda b: b.optim.trace(decay, nesterov))


def _mask_tree(mask: Callable[[str, Any], bool]) -> Callable[[Any], Any]:
    def to_tree(params: Any) -> Any:
        return tree.map_with_path(lambda path, p: bool(mask(tree.keystr(path), p)), params)

    return to_tree


def add_decayed_weights(weight_decay: float, mask: Callable[[str, Any], bool] | None = None) -> Optimizer:
    """Add ``weight_decay * param`` to the updates (decoupled weight decay, before the learning rate).

    Args:
        weight_decay: the coefficient.
        mask: ``mask(name, param) -> bool``: decay only where true (names are
            dotted parameter names, or pytree paths); e.g.
            :func:`no_decay_on_norms_and_biases`.
    """
    return Optimizer(f"add_decayed_weights({weight_decay})",
                     lambda b: b.optim.add_decayed_weights(weight_decay, None if mask is None else _mask_tree(mask)))


def scale_by_learning_rate(learning_rate: float | Schedule) -> Optimizer:
    """Multiply by ``-learning_rate`` (a number, or a schedule of the step count)."""
    _check_rate("scale_by_learning_rate", learning_rate)
    return Optimizer(f"scale_by_learning_rate({learning_rate})",
                     lambda b: b.optim.scale_by_learning_rate(learning_rate))


def clip_by_global_norm(max_norm: float) -> Optimizer:
    """Scale all updates together so that their global L2 norm is at most ``max_norm`` (optax's rule:
    unchanged below it; torch's ``clip_grad_norm_`` also divides by ``norm + 1e-6``)."""
    if not max_norm > 0:
        raise UnifiedError(f"clip_by_global_norm: max_norm must be positive, got {max_norm}.")
    return Optimizer(f"clip_by_global_norm({max_norm})", lambda b: b.optim.clip_by_global_norm(max_norm))


def chain(*optimizers: Optimizer) -> Optimizer:
    """Apply transformations in order (state: a tuple of their states).

    Example:
        >>> import unified as u
        >>> opt = u.optim.chain(u.optim.clip_by_global_norm(1.0), u.optim.adamw(3e-4))
        >>> opt
        chain(clip_by_global_norm(1.0), adamw(learning_rate=0.0003, ...))
    """
    for o in optimizers:
        if not isinstance(o, Optimizer):
            raise UnifiedError(f"chain takes optimizers (u.optim.adamw(...), ...); got a {type(o).__name__}.")
    name = "chain(" + ", ".join(o.name for o in optimizers) + ")"
    return Optimizer(name, lambda b: b.optim.chain(*(o.native(b) for o in optimizers)))


# -------------------------------------------------------------------- optimizers


def sgd(learning_rate: float | Schedule, momentum: float = 0.0, nesterov: bool = False,
        weight_decay: float = 0.0) -> Optimizer:
    """Stochastic gradient descent, as ``torch.optim.SGD`` (weight decay added to the gradient).

    Example:
        >>> import unified as u
        >>> opt = u.optim.sgd(0.1)
        >>> params = {"w": u.asarray([1.0])}
        >>> params, state = opt.step(params, {"w": u.asarray([2.0])}, opt.init(params))
        >>> [round(v, 6) for v in u.to_numpy(params["w"]).tolist()]
        [0.8]
    """
    _check_rate("sgd", learning_rate)
    if nesterov and momentum <= 0:
        raise UnifiedError("sgd: nesterov momentum needs momentum > 0.")
    parts = []
    if weight_decay:
        parts.append(add_decayed_weights(weight_decay))
    if momentum:
        parts.append(trace(momentum, nesterov))
    parts.append(scale_by_learning_rate(learning_rate))
    opt = chain(*parts)
    opt.name = f"sgd(learning_rate={learning_rate}, momentum={momentum}, nesterov={nesterov}, " \
               f"weight_decay={weight_decay})"
    return opt


def adam(learning_rate: float | Schedule = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """Adam, as ``torch.optim.Adam`` without weight decay (use :func:`adamw` for that)."""
    _check_rate("adam", learning_rate)
    opt = chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(learning_rate))
    opt.name = f"adam(learning_rate={learning_rate}, b1={b1}, b2={b2}, eps={eps})"
    return opt


def adamw(learning_rate: float | Schedule = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 0.01, mask: Callable[[str, Any], bool] | None = None) -> Optimizer:
    """AdamW, as ``torch.optim.AdamW`` (weight decay 0.01) and ``optax.adamw`` (same state).

    Args:
        learning_rate: a number or a schedule (:func:`warmup_cosine_decay` ...).
        b1: the decay of Adam's first moment (the mean of the gradients).
        b2: the decay of Adam's second moment (the mean of their squares).
        eps: added to the root of the second moment, for stability.
        weight_decay: decoupled weight decay.
        mask: ``mask(name, param) -> bool``: which parameters decay;
            :func:`no_decay_on_norms_and_biases` is the usual choice for transformers.

    Example:
        >>> import unified as u
        >>> u.optim.adamw(3e-4, weight_decay=0.1)
        adamw(learning_rate=0.0003, ...)
    """
    _check_rate("adamw", learning_rate)
    opt = chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay, mask),
                scale_by_learning_rate(learning_rate))
    opt.name = f"adamw(learning_rate={learning_rate}, ...)"
    return opt


def no_decay_on_norms_and_biases(name: str, param: Any) -> bool:
    """A weight-decay mask: decay matrices (2 or more axes), not biases or norm scales (1 axis).

    Example:
        >>> import unified as u
        >>> from unified import optim
        >>> optim.no_decay_on_norms_and_biases("ln.weight", u.ops.ones(4))
        False
    """
    return len(param.shape) >= 2
