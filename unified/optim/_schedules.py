"""Learning-rate schedules: functions of the step count, written once with ``unified.ops``.

A schedule takes the (integer array) step count and returns the learning rate
as an array, so it runs inside compiled steps on either backend and can be
given to any optimizer in place of a constant rate. Formulas are optax's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from unified import ops

Schedule = Callable[[Any], Any]

__all__ = ["Schedule", "constant", "cosine_decay", "linear_warmup", "warmup_cosine_decay"]


def _step(count: Any) -> Any:
    return ops.astype(count, "float32") if hasattr(count, "shape") else float(count)


def constant(value: float) -> Schedule:
    """The same rate at every step.

    Example:
        >>> import unified as u
        >>> float(u.optim.constant(0.25)(u.asarray(7)))
        0.25
    """

    def schedule(count: Any) -> Any:
        return ops.full_like(_step(count), value) if hasattr(count, "shape") else value

    return schedule


def linear_warmup(peak: float, warmup_steps: int, init: float = 0.0) -> Schedule:
    """From ``init`` to ``peak`` linearly over ``warmup_steps``, then ``peak``.

    Example:
        >>> import unified as u
        >>> s = u.optim.linear_warmup(1.0, 4)
        >>> [float(s(u.asarray(i))) for i in (0, 2, 4, 9)]
        [0.0, 0.5, 1.0, 1.0]
    """
    if warmup_steps <= 0:
        return constant(peak)

    def schedule(count: Any) -> Any:
        frac = ops.clip(_step(count) / warmup_steps, 0.0, 1.0)
        return init + (peak - init) * frac

    return schedule


def cosine_decay(peak: float, decay_steps: int, alpha: float = 0.0) -> Schedule:
    """From ``peak`` down to ``alpha * peak`` along half a cosine over ``decay_steps``, then flat.

    Example:
        >>> import unified as u
        >>> s = u.optim.cosine_decay(1.0, 10)
        >>> [round(float(s(u.asarray(i))), 4) for i in (0, 5, 10, 20)]
        [1.0, 0.5, 0.0, 0.0]
    """
    if decay_steps <= 0:
        raise ValueError(f"cosine_decay: decay_steps must be positive, got {decay_steps}.")

    def schedule(count: Any) -> Any:
        frac = ops.clip(_step(count) / decay_steps, 0.0, 1.0)
        cosine = 0.5 * (1.0 + ops.cos(math.pi * frac))
        return peak * ((1.0 - alpha) * cosine + alpha)

    return schedule


def warmup_cosine_decay(peak: float, warmup_steps: int, decay_steps: int, end: float = 0.0,
                        init: float = 0.0) -> Schedule:
    """Linear warmup from ``init`` to ``peak``, then cosine decay to ``end`` at step ``decay_steps``.

    ``decay_steps`` counts from the start (it includes the warmup), as optax's
    ``warmup_cosine_decay_schedule``.

    Example:
        >>> import unified as u
        >>> s = u.optim.warmup_cosine_decay(1.0, warmup_steps=2, decay_steps=6, end=0.1)
        >>> [round(float(s(u.asarray(i))), 3) for i in (0, 1, 2, 4, 6, 8)]
        [0.0, 0.5, 1.0, 0.55, 0.1, 0.1]
    """
    if decay_steps <= warmup_steps:
        raise ValueError(f"warmup_cosine_decay: decay_steps ({decay_steps}) must exceed warmup_steps ({warmup_steps}).")
    warm = linear_warmup(peak, warmup_steps, init)
    decay = cosine_decay(peak - end, decay_steps - warmup_steps)

    def schedule(count: Any) -> Any:
        step = _step(count)
        return ops.where(step < warmup_steps, warm(count), decay(step - warmup_steps) + end)

    return schedule
