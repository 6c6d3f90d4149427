"""Export for JAX: a serialized ``jax.export`` artifact (StableHLO), loadable without the model's code.

Satisfies :class:`unified.export.ExportBackend`. The model's arrays are closed
over, so they are constants of the exported function: ``jax.export.deserialize``
gives an ``Exported`` whose ``call(tokens)`` needs nothing but JAX. Dynamic axes
are symbolic dimensions sharing one scope, with each :class:`~unified.export.Dim`'s
bounds as constraints (``seq <= 1024``), so that shape checks in the model's
code (``if T > block_size``) are decided while exporting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax import export as jax_export

from unified.export import Dim

formats = ("jax-export",)


def _specs(args: Sequence[jax.Array], dims: Sequence[Mapping[int, Dim]]) -> list[jax.ShapeDtypeStruct]:
    bounds = {d.name: d for spec in dims for d in spec.values()}
    symbols: dict[str, Any] = {}
    if bounds:
        constraints = [c for d in bounds.values() for c in (
            f"{d.name} >= {d.min}" if d.min > 1 else "", f"{d.name} <= {d.max}" if d.max is not None else "") if c]
        names = list(bounds)
        symbols = dict(zip(names, jax_export.symbolic_shape(", ".join(names), constraints=constraints)))
    return [jax.ShapeDtypeStruct(tuple(symbols[spec[i].name] if i in spec else n for i, n in enumerate(x.shape)),
                                 x.dtype)
            for x, spec in zip(args, dims)]


def export(module: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], dims: Sequence[Mapping[int, Dim]],
           format: str, path: str | None, input_names: Sequence[str]) -> None:
    def fn(*xs: Any) -> Any:
        return module(*xs, **kwargs)

    exported = jax_export.export(jax.jit(fn))(*_specs(args, dims))
    if path is not None:
        with open(path, "wb") as f:
            f.write(exported.serialize())


def run(path: str, format: str, inputs: Sequence[Sequence[np.ndarray]]) -> list[list[np.ndarray]]:
    with open(path, "rb") as f:
        exported = jax_export.deserialize(bytearray(f.read()))
    return [[np.asarray(leaf) for leaf in jax.tree.leaves(exported.call(*args))] for args in inputs]


def classify(error: BaseException) -> str:
    if isinstance(error, (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError,
                          jax.errors.TracerIntegerConversionError, jax.errors.TracerBoolConversionError)):
        return "value"
    if type(error).__name__ == "InconclusiveDimensionOperation" or "symbolic dimension" in str(error):
        return "shape"
    if isinstance(error, NotImplementedError):
        return "unsupported"
    return "other"


def reference(module: Any, inputs: Sequence[Sequence[jax.Array]]) -> list[list[np.ndarray]]:
    call = jax.jit(lambda m, *xs: m(*xs))  # the module as an argument: its weights are not folded in as constants
    return [[np.asarray(leaf) for leaf in jax.tree.leaves(call(module, *xs))] for xs in inputs]
