"""Export a model to ONNX, ``torch.export`` or ``jax.export``, whichever backend it lives on.

:func:`export` writes one self-contained artifact that runs without the model's
Python code, and checks it against the model it came from:

=================  ============  ================================================================
``format``         written by    the artifact, and how to run it
=================  ============  ================================================================
``"onnx"``         torch         ``.onnx`` (torch's default opset): ``onnxruntime.InferenceSession(path)``
``"torch-export"`` torch         ``.pt2`` (``torch.export.save``): ``torch.export.load(path).module()``
``"jax-export"``   JAX           serialized ``jax.export.Exported`` (StableHLO):
                                 ``jax.export.deserialize(data).call(*inputs)``
=================  ============  ================================================================

A model on the other backend than the format's is converted in memory first
(:func:`unified.nn._convert.convert`: the same tree of modules and the same
values, no constructor called), so a model trained under JAX exports to ONNX and
one trained under torch to StableHLO. Dynamic axes (batch, sequence) are
declared with :class:`Dim`; by default a GPT gets a dynamic batch and a sequence
of up to ``block_size`` tokens, any other model a dynamic batch (axis 0 of every
input).

When a model holds something an exporter cannot express (a Python ``float()``
of an array, an ``if`` on an array's value), :class:`ExportError` names the layer
(its dotted path and class), the line, why, and how to fix it.

The backend-specific halves are the optional parts ``unified_torch/export.py``
and ``unified_jax/export.py``, reached through
``unified._backend.optional_part(backend, "export")``; :class:`ExportBackend` is
their contract. From a shell, ``unified export CHECKPOINT --format onnx`` runs
:func:`cli`. docs/export.md walks through training on one backend and serving on
another.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import inspect
import json
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from unified import _backend
from unified._errors import BackendNotFoundError, UnifiedError
from unified._protocols import Array, Backend

__all__ = ["FORMATS", "Dim", "ExportBackend", "ExportError", "ExportResult", "Format", "cli", "export",
           "export_checkpoint"]

# ------------------------------------------------------------------------------------------------ formats


@dataclasses.dataclass(frozen=True)
class Format:
    """An export format: which backend writes it, its usual suffix, the modules it needs.

    Attributes:
        name: what ``format=`` takes.
        backend: the backend whose exporter writes it (a model on another backend is converted).
        suffix: the file suffix :func:`export_checkpoint` gives it.
        requires: modules the exporter needs besides the backend's framework.
        runner: modules needed to run the artifact (for the check against the model).
    """

    name: str
    backend: str
    suffix: str
    requires: tuple[str, ...] = ()
    runner: tuple[str, ...] = ()


FORMATS: dict[str, Format] = {
    "onnx": Format("onnx", "torch", ".onnx", requires=("onnx", "onnxscript"), runner=("onnxruntime",)),
    "torch-export": Format("torch-export", "torch", ".pt2"),
    "jax-export": Format("jax-export", "jax", ".jaxexport"),
}


@dataclasses.dataclass(frozen=True)
class Dim:
    """A dynamic axis: a size the exported artifact takes at run time, within ``[min, max]``.

    Axes given the same name (in one input or several) must have the same size.

    Attributes:
        name: a Python identifier (``"batch"``, ``"seq"``); it names the axis in the artifact.
        min: the smallest size accepted (at least 1).
        max: the largest size accepted; ``None`` for no bound. Give one when the model's code
            compares the size with a limit (a GPT's ``T <= block_size``): the exporter can then
            decide the comparison once for all sizes.

    Example:
        >>> from unified.export import Dim
        >>> Dim("seq", max=1024)
        Dim(name='seq', min=1, max=1024)
    """

    name: str
    min: int = 1
    max: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ExportError(f"Dim name must be a Python identifier such as 'batch'; got {self.name!r}.")
        if not isinstance(self.min, int) or self.min < 1:
            raise ExportError(f"Dim {self.name!r}: min must be an int >= 1, got {self.min!r}.")
        if self.max is not None and (not isinstance(self.max, int) or self.max < self.min):
            raise ExportError(f"Dim {self.name!r}: max must be an int >= min={self.min} (or None), "
                              f"got {self.max!r}.")

    def describe(self) -> str:
        """``"seq <= 32"``, ``"2 <= batch"``, ``"batch"``: the bounds in words."""
        lo = f"{self.min} <= " if self.min > 1 else ""
        hi = f" <= {self.max}" if self.max is not None else ""
        return f"{lo}{self.name}{hi}"


#: What ``dynamic=`` takes: one ``{axis: name or Dim}`` per input (``None`` for a fully static
#: input), ``False`` for static shapes, or ``None``/``True`` for the model's default.
DynamicSpec = Sequence[Mapping[int, "str | Dim"] | None] | bool | None


class ExportError(UnifiedError, ValueError):
    """A model that cannot be exported as asked, or an artifact that does not match its model.

    Attributes:
        layer: the dotted path of the layer that failed (``""`` for the root module); ``None``
            when no single layer is to blame (bad arguments, a mismatch found by the check).
        layer_type: that layer's class name.
        kind: ``"value"`` (Python reads an array's value), ``"shape"`` (a dynamic size is
            used as a constant), ``"unsupported"`` (an operation the format lacks),
            ``"mismatch"`` (the artifact computes other numbers), ``"usage"`` or ``"other"``.
        format: the format being exported to (``None`` before it is known).
    """

    def __init__(self, message: str, *, layer: str | None = None, layer_type: str | None = None,
                 kind: str = "usage", format: str | None = None) -> None:
        super().__init__(message)
        self.layer = layer
        self.layer_type = layer_type
        self.kind = kind
        self.format = format


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What :func:`export` wrote, and how the artifact compared with the model.

    Attributes:
        path: the artifact.
        format: its format name.
        exporter: the backend whose exporter wrote it.
        source: the backend the model lives on (``!= exporter``: the model was converted first).
        inputs: per input, its name and shape in the artifact (dynamic axes by name).
        dims: the dynamic axes, with their bounds.
        checked: the input shapes the artifact was run at and compared with the model (empty with
            ``check=False``); the example's, and one with every dynamic axis resized.
        max_abs_diff: ``max|artifact - model|`` over every output of every check (None if not checked).
        rel_diff: the worst ``max|artifact - model| / max|model|`` of a floating output.
        rtol: the normwise tolerance the check held it to (``unified.testing.MODEL_RTOL``).
        seconds: wall time of the export and the check.
    """

    path: str
    format: str
    exporter: str
    source: str
    inputs: tuple[tuple[str, tuple[int | str, ...]], ...]
    dims: tuple[Dim, ...] = ()
    checked: tuple[tuple[tuple[int, ...], ...], ...] = ()
    max_abs_diff: float | None = None
    rel_diff: float | None = None
    rtol: float | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        """Two lines for a terminal: what was written, and what the check found."""
        via = self.exporter if self.source == self.exporter else f"{self.exporter}, converted from {self.source}"
        shapes = ", ".join(f"{name} ({', '.join(map(str, shape))})" for name, shape in self.inputs)
        bounds = [d.describe() for d in self.dims if d.min > 1 or d.max is not None]
        shapes += f" with {', '.join(bounds)}" if bounds else ""
        lines = [f"wrote {self.path} ({self.format} via {via}; inputs {shapes}) in {self.seconds:.1f} s"]
        if self.checked:
            at = " and ".join(" ".join(str(s) for s in shapes) for shapes in self.checked)
            lines.append(f"checked against the model at input shapes {at}: max|artifact - model| = "
                         f"{self.max_abs_diff:.3g} ({self.rel_diff:.3g} of the output's scale; "
                         f"tolerance {self.rtol:g})")
        return "\n".join(lines)


@runtime_checkable
class ExportBackend(Protocol):
    """A backend's ``export`` part (``unified_torch/export.py``, ``unified_jax/export.py``).

    Found by ``unified._backend.optional_part(backend, "export")``. Arguments arrive
    checked: ``args`` are arrays of this backend, ``dims`` has one ``{axis: Dim}`` per
    argument (axes non-negative, sizes consistent with the Dims' bounds), ``module``
    is a unified module of this backend in eval mode.
    """

    #: The format names it writes.
    formats: tuple[str, ...]

    def export(self, module: Any, args: tuple[Array, ...], kwargs: Mapping[str, Any],
               dims: Sequence[Mapping[int, Dim]], format: str, path: str | None,
               input_names: Sequence[str]) -> None:
        """Export ``module(*args, **kwargs)`` with the dynamic axes ``dims``; write it to ``path``.

        With ``path=None``, do everything but write (used to find which layer fails).
        ``kwargs`` are constants of the trace. Raises the exporter's own error on failure.
        """
        ...

    def run(self, path: str, format: str, inputs: Sequence[Sequence[np.ndarray]]) -> list[list[np.ndarray]]:
        """Load the artifact once and run it on each input set; its outputs' leaves as numpy arrays."""
        ...

    def classify(self, error: BaseException) -> str:
        """What kind of failure an exporter error is: ``value``, ``shape``, ``unsupported`` or ``other``."""
        ...

    def reference(self, module: Any, inputs: Sequence[Sequence[Array]]) -> list[list[np.ndarray]]:
        """The module's own outputs on each input set (arrays of this backend), as numpy leaves.

        What an artifact is checked against: computed the quickest way the backend has
        (JAX: compiled once per shape; torch: eagerly, without autograd).
        """
        ...


# ------------------------------------------------------------------------------------------------ export


def export(model: Any, example_inputs: Any, path: str | os.PathLike[str], *, format: str = "onnx",
           dynamic: DynamicSpec = None, check: bool = True) -> ExportResult:
    """Export ``model`` (on any backend) to an artifact that runs without its Python code; check it.

    The model is exported in eval mode (dropout off) and left in the mode it was in.
    Its arrays (weights, buffers) become constants of the artifact; its inputs are
    the example inputs' positions, with the axes in ``dynamic`` free to change size.

    Args:
        model: a ``unified.nn.Module`` on torch or JAX; it is called as ``model(*inputs)``.
        example_inputs: an array, or a tuple of arrays (any backend, or numpy), of the
            shapes and dtypes the model is called with. 64-bit inputs become 32-bit, as
            everywhere in ``unified``.
        path: where to write the artifact (parent directories are created).
        format: ``"onnx"``, ``"torch-export"`` or ``"jax-export"`` (see :data:`FORMATS`).
        dynamic: which input axes may change size: one ``{axis: name or Dim}`` per input
            (``None`` for an input of fixed shape); ``False`` for fixed shapes; ``None``
            (default) or ``True`` for the model's default: for a GPT,
            ``[{0: Dim("batch"), 1: Dim("seq", max=block_size)}]``; otherwise axis 0 of
            every input is one ``"batch"``.
        check: run the artifact (onnxruntime, ``torch.export.load``, ``jax.export.deserialize``)
            at the example shapes and at shapes with every dynamic axis resized, and compare
            with the model on its own backend within ``unified.testing.MODEL_RTOL``.

    Returns:
        An :class:`ExportResult`: the path, the inputs' symbolic shapes, and the check's differences.

    Raises:
        ExportError: a bad argument; a layer the exporter cannot express (the error names
            it, says why, and how to fix it); or an artifact that does not match the model
            (it is then deleted).
        BackendNotFoundError: the format's backend, or a package it needs, is not installed.

    Example:
        >>> import os, tempfile
        >>> import unified as u
        >>> from unified import nn
        >>> from unified.export import export
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2))
        >>> with tempfile.TemporaryDirectory() as d:
        ...     result = export(model, u.ops.ones((3, 4)), os.path.join(d, "mlp.jaxexport"), format="jax-export")
        >>> result.inputs, result.rel_diff < result.rtol
        ((('x', ('batch', 4)),), True)
    """
    started = time.perf_counter()
    fmt = _format(format)
    source = _source_backend(model)
    host = _host_inputs(example_inputs)
    dims = _resolve_dims(model, host, dynamic, fmt.name)
    _require(fmt, check)
    target = _backend.load_backend(fmt.backend)
    part = _backend.optional_part(target, "export")
    if fmt.name not in getattr(part, "formats", ()):
        raise ExportError(f"The {target.name} backend's export part does not write {fmt.name!r} (it writes "
                          f"{list(getattr(part, 'formats', ()))}); FORMATS says it should: fix one or the other.",
                          format=fmt.name)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if source is target:
        exported_model = model
    else:
        from unified.nn._convert import convert

        exported_model = convert(model, target.name)
    names = _input_names(model, len(host))
    with _eval_mode(exported_model), _backend.use_backend(target.name):
        args = tuple(target.core.asarray(x, None, None) for x in host)
        host = [target.core.to_numpy(a) for a in args]  # the dtypes the artifact takes (int64 -> int32 ...)
        with _TRACING:
            try:
                part.export(exported_model, args, {}, dims, fmt.name, path, names)
            except Exception as e:
                from unified._export_diagnosis import diagnose

                raise diagnose(e, exported_model, fmt, part, host, dims) from e
    result = ExportResult(path=path, format=fmt.name, exporter=target.name, source=source.name,
                          inputs=tuple((n, tuple(spec[i].name if i in spec else s for i, s in enumerate(x.shape)))
                                       for n, x, spec in zip(names, host, dims)),
                          dims=tuple({d.name: d for spec in dims for d in spec.values()}.values()))
    if check:
        result = _check(result, model, source, part, host, dims)
    return dataclasses.replace(result, seconds=round(time.perf_counter() - started, 2))


def _format(format: str) -> Format:
    found = FORMATS.get(format)
    if found is None:
        raise ExportError(f"format must be one of {', '.join(map(repr, FORMATS))}; got {format!r}.")
    return found


def _source_backend(model: Any) -> Backend:
    from unified.nn import Module

    owner = _backend.owner(model)
    if not isinstance(model, Module) or owner is None:
        raise ExportError(f"export takes a unified.nn.Module; got a {type(model).__module__}."
                          f"{type(model).__qualname__}. (A native torch.nn.Module exports with torch.export or "
                          "torch.onnx.export directly.)")
    return owner


def _host_inputs(example_inputs: Any) -> list[np.ndarray]:
    items = list(example_inputs) if isinstance(example_inputs, (tuple, list)) else [example_inputs]
    if not items:
        raise ExportError("example_inputs is empty: give the arrays the model is called with, e.g. (tokens,).")
    out = []
    for i, x in enumerate(items):
        owner = _backend.owner(x)
        if owner is not None and not hasattr(type(x), "__unified_backend__"):
            out.append(owner.core.to_numpy(x))
        elif isinstance(x, np.ndarray):
            out.append(x)
        else:
            raise ExportError(f"example_inputs[{i}] is a {type(x).__name__}; example inputs are arrays (of any "
                              "backend, or numpy). Non-array arguments cannot be inputs of an exported model: "
                              "fix them in a small wrapper module, or as the model's attributes.")
    return out


def _require(fmt: Format, check: bool) -> None:
    needed = fmt.requires + (fmt.runner if check else ())
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        raise BackendNotFoundError(
            f"Exporting to {fmt.name} needs {', '.join(missing)}, which is not installed. "
            "Install it with: pip install 'unified-dl[export]'"
            + (" (or pass check=False to skip running the artifact)" if set(missing) <= set(fmt.runner) else ""))


def _input_names(model: Any, n: int) -> list[str]:
    compute = getattr(type(model), "__unified_compute__", None)
    names: list[str] = []
    try:
        params = list(inspect.signature(compute).parameters.values())[1:] if compute else []
        names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        pass
    return [names[i] if i < len(names) else f"input_{i}" for i in range(n)]


# ------------------------------------------------------------------------------------------------ dynamic axes


def _default_dynamic(model: Any, host: list[np.ndarray]) -> list[dict[int, str | Dim] | None]:
    from unified.models.gpt import GPT

    if isinstance(model, GPT) and len(host) == 1 and host[0].ndim == 2:
        return [{0: Dim("batch"), 1: Dim("seq", max=model.config.block_size)}]
    return [{0: "batch"} if x.ndim >= 1 else None for x in host]


def _resolve_dims(model: Any, host: list[np.ndarray], dynamic: DynamicSpec, fmt: str) -> tuple[dict[int, Dim], ...]:
    if dynamic is False:
        return tuple({} for _ in host)
    spec = _default_dynamic(model, host) if dynamic is None or dynamic is True else dynamic
    if isinstance(spec, (str, Mapping)) or not isinstance(spec, Sequence) or len(spec) != len(host):
        raise ExportError(f"dynamic must hold one {{axis: name or Dim}} (or None) per example input, "
                          f"{len(host)} here; got {dynamic!r}. E.g. dynamic=[{{0: 'batch'}}] for one input "
                          "with a dynamic axis 0, or dynamic=False for fixed shapes.", format=fmt)
    declared: dict[str, Dim] = {}
    for axes in spec:
        for d in (axes or {}).values():
            if isinstance(d, Dim):
                if declared.setdefault(d.name, d) != d:
                    raise ExportError(f"dynamic: two different Dims are named {d.name!r} ({declared[d.name]} and "
                                      f"{d}); one name is one dimension: give it one set of bounds.", format=fmt)
    out: list[dict[int, Dim]] = []
    seen: dict[str, tuple[int, str]] = {}
    for i, (x, axes) in enumerate(zip(host, spec)):
        resolved: dict[int, Dim] = {}
        if axes is not None and not isinstance(axes, Mapping):
            raise ExportError(f"dynamic[{i}] must be a dict {{axis: name or Dim}} or None; got {axes!r}.",
                              format=fmt)
        for axis, d in (axes or {}).items():
            if isinstance(axis, bool) or not isinstance(axis, int) or not -x.ndim <= axis < x.ndim:
                raise ExportError(f"dynamic[{i}]: axis {axis!r} does not exist in input {i} of shape {x.shape}.",
                                  format=fmt)
            if isinstance(d, str):
                d = declared.get(d) or Dim(d)
            elif not isinstance(d, Dim):
                raise ExportError(f"dynamic[{i}][{axis}] must be a name or a unified.export.Dim; got {d!r}.",
                                  format=fmt)
            axis %= x.ndim
            size, where = int(x.shape[axis]), f"input {i} axis {axis}"
            if d.name in seen and seen[d.name][0] != size:
                raise ExportError(
                    f"dynamic axis {d.name!r} has size {seen[d.name][0]} at {seen[d.name][1]} but {size} at {where}; "
                    "axes sharing a name are one dimension and must match in the example inputs. Give them "
                    "different names, or pass dynamic= explicitly (dynamic=False for fixed shapes).", format=fmt)
            if size < d.min or (d.max is not None and size > d.max):
                raise ExportError(f"the example's {where} has size {size}, outside {d.describe()}; give an example "
                                  "within the bounds.", format=fmt)
            seen[d.name] = (size, where)
            resolved[axis] = d
        out.append(resolved)
    return tuple(out)


def _vary(host: list[np.ndarray], dims: Sequence[Mapping[int, Dim]]) -> list[np.ndarray] | None:
    """The example inputs with every dynamic axis one longer (or shorter, at its max); None if none can change.

    New entries repeat the example's (``take`` with wrapped indices), so they stay valid inputs (token ids).
    """
    sizes: dict[str, int] = {}
    for x, spec in zip(host, dims):
        for axis, d in spec.items():
            n = int(x.shape[axis])
            if d.max is None or n + 1 <= d.max:
                sizes[d.name] = n + 1
            elif n - 1 >= d.min:
                sizes[d.name] = n - 1
    if not sizes:
        return None
    out = []
    for x, spec in zip(host, dims):
        for axis, d in spec.items():
            if d.name in sizes:
                x = np.take(x, np.arange(sizes[d.name]) % x.shape[axis], axis=axis)
        out.append(x)
    return out


# ------------------------------------------------------------------------------------------------ tracing


_TRACING = threading.RLock()  # exporters set process-wide state (logging, the shim below): one trace at a time


@contextlib.contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    modes = [(m, m.training) for _, m in model.named_modules()]
    model.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode


# ------------------------------------------------------------------------------------------------ the check


def _leaves(out: Any, backend: Backend) -> list[np.ndarray]:
    from unified import tree

    return [backend.core.to_numpy(leaf) for leaf in tree.leaves(out) if backend.core.is_array(leaf)]


def _check(result: ExportResult, model: Any, source: Backend, part: ExportBackend, host: list[np.ndarray],
           dims: Sequence[Mapping[int, Dim]]) -> ExportResult:
    """Run the artifact at the example shapes and at resized ones; compare with the model on its own backend."""
    from unified.testing._tolerances import MODEL_RTOL

    sets = [host]
    varied = _vary(host, dims)
    if varied is not None:
        sets.append(varied)
    with _eval_mode(model), _backend.use_backend(source.name):
        arrays = [tuple(source.core.asarray(x, None, None) for x in xs) for xs in sets]
        try:
            expected = _backend.optional_part(source, "export").reference(model, arrays)
        except BackendNotFoundError:  # a backend without export support can still be the source
            expected = [_leaves(model(*xs), source) for xs in arrays]
    got = part.run(result.path, result.format, sets)
    worst_abs, worst_rel, rtol = 0.0, 0.0, 0.0
    for xs, exp, out in zip(sets, expected, got):
        shapes = " ".join(str(tuple(x.shape)) for x in xs)
        problem = ""
        if len(exp) != len(out):
            problem = f"{len(out)} outputs, the model {len(exp)}"
        for k, (e, o) in enumerate(zip(exp, out)):
            if problem:
                break
            o = np.asarray(o)
            if o.shape != e.shape:
                problem = f"output {k} has shape {o.shape}, the model's {e.shape}"
                break
            if e.dtype.kind in "iub":
                if not np.array_equal(o, e):
                    problem = f"output {k} ({e.dtype}) differs in {int((o != e).sum())} of {e.size} entries"
                continue
            tol = MODEL_RTOL.get(e.dtype.name, MODEL_RTOL["float32"])
            diff = float(np.abs(o.astype(np.float64) - e.astype(np.float64)).max()) if e.size else 0.0
            scale = float(np.abs(e.astype(np.float64)).max()) if e.size else 0.0
            rel = diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
            worst_abs, worst_rel, rtol = max(worst_abs, diff), max(worst_rel, rel), max(rtol, tol)
            if not rel <= tol:  # also catches NaN
                problem = (f"output {k}: max|artifact - model| = {diff:.3g}, {rel:.3g} of the output's scale "
                           f"{scale:.3g}, above the tolerance {tol:g}")
        if problem:
            with contextlib.suppress(OSError):
                os.remove(result.path)
            raise ExportError(
                f"The {result.format} artifact does not compute what the model does: at input shapes {shapes}, "
                f"{problem}. It was deleted. This is a bug in the exporter or in unified, not in your model: "
                "please report it with the model's code. export(..., check=False) keeps the artifact.",
                kind="mismatch", format=result.format)
    return dataclasses.replace(result, checked=tuple(tuple(tuple(int(s) for s in x.shape) for x in xs) for xs in sets),
                               max_abs_diff=worst_abs, rel_diff=worst_rel, rtol=rtol or MODEL_RTOL["float32"])


# ------------------------------------------------------------------------------------------------ checkpoints


def export_checkpoint(checkpoint: str | os.PathLike[str], *, format: str = "onnx",
                      out: str | os.PathLike[str] | None = None, batch: int = 2, seq: int | None = None,
                      dynamic: bool = True, check: bool = True) -> ExportResult:
    """Export the GPT of a checkpoint written by ``unified train``: what ``unified export`` runs.

    The GPT is built from the checkpoint's ``"config"`` metadata on the format's backend
    (whichever backend trained it) and its weights loaded from the checkpoint's ``"model"``.

    Args:
        checkpoint: the checkpoint file, or the ``--out`` directory of a training run.
        format: ``"onnx"``, ``"torch-export"`` or ``"jax-export"``.
        out: where to write; default ``model<suffix>`` next to the checkpoint
            (``model.onnx``, ``model.pt2``, ``model.jaxexport``).
        batch: the example inputs' batch size.
        seq: the example inputs' sequence length; default ``min(8, block_size)``.
        dynamic: a dynamic batch and sequence (up to ``block_size``); False fixes both
            to the example's.
        check: compare the artifact with the model (see :func:`export`).

    Returns:
        :func:`export`'s :class:`ExportResult`.

    Raises:
        ExportError: no such checkpoint, a file not written by ``unified train``, bad sizes,
            or :func:`export`'s errors.

    Example:
        >>> from unified.export import export_checkpoint
        >>> export_checkpoint("no/such/run")
        Traceback (most recent call last):
        ...
        unified.export.ExportError: no/such/run: no such checkpoint (give the file, or the --out directory of a run ...
    """
    from unified._train import CHECKPOINT
    from unified.checkpoint import load, read_metadata
    from unified.models import GPT, GPTConfig
    from unified.nn.init import manual_seed

    fmt = _format(format)
    path = os.fspath(checkpoint)
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT)
    if not os.path.isfile(path):
        raise ExportError(f"{path}: no such checkpoint (give the file, or the --out directory of a run of "
                          "`unified train`).", format=fmt.name)
    meta = read_metadata(path)
    if "config" not in meta:
        raise ExportError(f"{path} was not written by `unified train`: it has no model config in its metadata.",
                          format=fmt.name)
    config = GPTConfig(**json.loads(meta["config"]))
    seq = min(8, config.block_size) if seq is None else seq
    if batch < 1 or not 1 <= seq <= config.block_size:
        raise ExportError(f"--batch must be >= 1 and --seq in [1, block_size={config.block_size}]; got batch={batch}, "
                          f"seq={seq}.", format=fmt.name)
    with _backend.use_backend(fmt.backend), manual_seed(0):
        model = GPT(config)
        model.load_state_dict(load(path)["model"])  # the model's state; the optimizer's is not needed
    tokens = np.random.default_rng(0).integers(0, config.vocab_size, (batch, seq), dtype=np.int32)
    target = os.fspath(out) if out is not None else os.path.join(os.path.dirname(path), "model" + fmt.suffix)
    return export(model, (tokens,), target, format=fmt.name, dynamic=None if dynamic else False, check=check)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unified export",
        description="Export the GPT of a `unified train` checkpoint (trained on either backend) to ONNX, a "
                    "torch.export program or a jax.export artifact, and check it against the model. Dynamic "
                    "batch and sequence (up to block_size) unless --static.")
    parser.add_argument("checkpoint", help="a checkpoint file, or the --out directory of a training run")
    parser.add_argument("--format", default="onnx", choices=list(FORMATS), help="default: onnx")
    parser.add_argument("--out", metavar="PATH",
                        help="where to write (default: model.onnx / model.pt2 / model.jaxexport next to the "
                             "checkpoint)")
    parser.add_argument("--batch", type=int, default=2, metavar="N", help="example batch size (default 2)")
    parser.add_argument("--seq", type=int, default=None, metavar="T",
                        help="example sequence length (default min(8, block_size))")
    parser.add_argument("--static", action="store_true", help="fix batch and sequence to the example's sizes")
    parser.add_argument("--no-check", dest="check", action="store_false",
                        help="do not run the artifact against the model")
    return parser


def cli(argv: Sequence[str] | None = None) -> int:
    """``unified export``: export a checkpoint of ``unified train`` from the command line.

    Prints what was written and how it compared with the model; errors go to stderr.

    Args:
        argv: the arguments after ``export``; default ``sys.argv[1:]``.

    Returns:
        The exit status: 0 on success, 2 on an error (a missing checkpoint, a model that
        cannot be exported, an artifact that does not match).

    Example:
        >>> from unified.export import cli
        >>> cli(["no/such/run", "--format", "onnx"])  # prints the reason on stderr
        2
    """
    try:
        args = _parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    except SystemExit as e:  # argparse has printed the usage error (2) or the help (0)
        return e.code if isinstance(e.code, int) else 2
    try:
        result = export_checkpoint(args.checkpoint, format=args.format, out=args.out, batch=args.batch, seq=args.seq,
                                   dynamic=not args.static, check=args.check)
    except UnifiedError as e:
        print(f"unified export: error: {e}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0
