"""Mixed precision: ``with u.autocast("bfloat16"):`` runs matrix products in bfloat16.

Implemented once, in `unified`'s own functions, so that both backends make the
same casts (torch's ``torch.autocast`` and JAX, which has none, would
otherwise differ): inside the block,

* ``nn.functional.linear``, ``dot_product_attention``, ``ops.matmul`` and
  ``ops.einsum`` cast their floating inputs to the compute dtype and return it;
* ``layer_norm``, ``rms_norm``, ``softmax``, ``log_softmax`` and
  ``cross_entropy`` compute in float32 (upcasting their input) and return float32;
* everything else runs in the dtype it is given.

Parameters stay float32 ("master weights"); the casts are differentiable, so
gradients arrive in float32. The setting is read when code runs (or is traced
by ``u.jit``): a compiled function keeps the precision it was compiled with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from unified._dispatch import FLOAT_DTYPES, dtype_name

_compute: str | None = None


def compute_dtype() -> str | None:
    """The dtype of matrix products inside :func:`autocast`, or None outside it."""
    return _compute


@contextlib.contextmanager
def autocast(dtype: Any = "bfloat16", enabled: bool = True) -> Iterator[None]:
    """Run matrix products in ``dtype`` (bfloat16 or float16), norms and losses in float32.

    Example:
        >>> import unified as u
        >>> from unified import nn
        >>> layer = nn.Linear(4, 2)
        >>> with u.autocast("bfloat16"):
        ...     y = layer(u.ops.ones((3, 4)))
        >>> u.dtype(y), u.dtype(layer.weight)
        ('bfloat16', 'float32')
    """
    global _compute
    name = dtype_name(dtype)
    if name not in ("bfloat16", "float16"):
        raise ValueError(f"autocast runs in bfloat16 or float16; got {name!r}.")
    previous = _compute
    _compute = name if enabled else None
    try:
        yield
    finally:
        _compute = previous


def cast_in(*arrays: Any) -> tuple[Any, ...]:
    """Inside autocast, floating arrays cast to the compute dtype (None and ints pass through)."""
    if _compute is None:
        return arrays
    from unified._core import dtype
    from unified.ops import astype

    return tuple(astype(a, _compute) if a is not None and hasattr(a, "shape") and dtype(a) in FLOAT_DTYPES
                 and dtype(a) != _compute else a for a in arrays)


def upcast(x: Any) -> Any:
    """Inside autocast, a 16-bit float array as float32 (for norms, softmax and losses)."""
    if _compute is None:
        return x
    from unified._core import dtype
    from unified.ops import astype

    return astype(x, "float32") if dtype(x) in ("bfloat16", "float16") else x
