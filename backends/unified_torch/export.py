"""Export for torch: ``torch.export`` programs (``.pt2``) and ONNX through torch's dynamo exporter.

Satisfies :class:`unified.export.ExportBackend`. Both formats start from one
``torch.export.export(..., strict=False)``: it runs the model's Python with
symbolic tensors, so a failure is raised inside the layer that caused it (the
traceback names it). ONNX then translates that program with onnxscript.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from unified.export import Dim

formats = ("onnx", "torch-export")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters while they run: their log lines, warnings, and the partial graph that
    ``torch.export`` prints to stderr on failure. Errors still propagate (and say more)."""
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _dynamic_shapes(args: Sequence[torch.Tensor], dims: Sequence[Mapping[int, Dim]]) -> tuple[Any, ...] | None:
    if not any(dims):
        return None
    made: dict[str, Any] = {}
    out = []
    for spec in dims:
        axes = {}
        for axis, d in spec.items():
            if d.name not in made:
                made[d.name] = torch.export.Dim(d.name, min=d.min, **({} if d.max is None else {"max": d.max}))
            axes[axis] = made[d.name]
        out.append(axes or None)
    return tuple(out)


def _at_least_two(args: Sequence[torch.Tensor], dims: Sequence[Mapping[int, Dim]]) -> tuple[torch.Tensor, ...]:
    """The example inputs with every dynamic axis of size 1 repeated to size 2.

    torch.export treats sizes 0 and 1 as constants (it specialises on them), so an
    example with one sequence would export a batch-1-only program.
    """
    grow = {d.name for spec in dims for d in spec.values() if d.max is None or d.max >= 2}
    out = []
    for x, spec in zip(args, dims):
        for axis, d in spec.items():
            if d.name in grow and x.shape[axis] == 1:
                x = torch.cat([x, x], dim=axis)
        out.append(x)
    return tuple(out)


def export(module: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], dims: Sequence[Mapping[int, Dim]],
           format: str, path: str | None, input_names: Sequence[str]) -> None:
    args = _at_least_two(args, dims)
    with _quiet():
        program = torch.export.export(module, args, kwargs=dict(kwargs) or None,
                                      dynamic_shapes=_dynamic_shapes(args, dims), strict=False)
        if format == "torch-export":
            if path is not None:
                torch.export.save(program, path)
            return
        n_out = len(program.graph_signature.user_outputs)
        onnx_program = torch.onnx.export(
            program, args, kwargs=dict(kwargs) or None, dynamo=True, verbose=False,
            input_names=list(input_names) if path is not None and not kwargs else None,
            output_names=["output"] if n_out == 1 else [f"output_{i}" for i in range(n_out)],
        )
        if onnx_program is None:  # pragma: no cover - only without dynamo
            raise RuntimeError("torch.onnx.export returned no program")
        inputs = onnx_program.model.graph.inputs
        if len(inputs) == len(dims) and hasattr(onnx_program, "rename_axes"):
            # name the dynamic axes as the Dims do ("batch", not torch's "s77")
            onnx_program.rename_axes({inputs[i].shape[axis]: d.name for i, spec in enumerate(dims)
                                      for axis, d in spec.items() if not isinstance(inputs[i].shape[axis], int)})
        if path is not None:
            onnx_program.save(path)  # weights inside the file, unless they pass ONNX's 2 GB limit


def run(path: str, format: str, inputs: Sequence[Sequence[np.ndarray]]) -> list[list[np.ndarray]]:
    if format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        return [list(session.run(None, dict(zip(names, args)))) for args in inputs]
    with _quiet():
        loaded = torch.export.load(path)
    # The program runs where its weights are (the device it was exported on).
    device = next((t.device for t in loaded.state_dict.values()), torch.device("cpu"))
    program = loaded.module()
    results = []
    with torch.no_grad():
        for args in inputs:
            out = program(*(torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in args))
            results.append([t.detach().cpu().numpy() for t in torch.utils._pytree.tree_leaves(out)])
    return results


def classify(error: BaseException) -> str:
    from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

    text = f"{type(error).__name__}: {error}"
    if isinstance(error, GuardOnDataDependentSymNode) or any(s in text for s in (
            "data-dependent", "data dependent", "data pointer", "DataDependentOutputException",
            "DynamicOutputShapeException", "tensor subclass")):
        return "value"
    if "Constraints violated" in text or "specialized it to be a constant" in text:
        return "shape"
    if type(error).__module__.startswith("torch.onnx") or "No ONNX function found" in text:
        return "unsupported"
    return "other"


def reference(module: Any, inputs: Sequence[Sequence[torch.Tensor]]) -> list[list[np.ndarray]]:
    with torch.no_grad():
        return [[t.detach().cpu().numpy() for t in torch.utils._pytree.tree_leaves(module(*xs))] for xs in inputs]
