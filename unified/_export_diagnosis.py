"""Why an export failed, and where: the layer, its line, the reason and the fix, for :class:`ExportError`.

Two ways to find the layer, the first that answers wins:

* **The traceback.** Both exporters run the model's Python with symbolic arrays, so an
  operation they cannot express raises *inside* the layer's code: the deepest frame
  of the traceback running a method of one of the model's modules names the layer
  and the line.
* **Layer by layer.** Errors raised after tracing (an ONNX translation, a size the
  code made constant) carry no such frame. The model runs eagerly once at the example
  shapes and once at resized ones, recording each layer's arguments; then, top-down,
  each layer is exported on its own (its dynamic axes are those whose size changed
  between the two runs): a layer that fails while all its children export is the one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import linecache
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from unified import _backend
from unified.export import Dim, ExportBackend, ExportError, Format, _vary

__all__ = ["diagnose"]


@dataclasses.dataclass(frozen=True)
class _Site:
    """Where an export failed: a layer, and the line of its code that was running if known."""

    path: str
    cls: str
    file: str = ""
    line: int = 0
    code: str = ""


_WHY = {
    "value": ("reads an array's value in Python: float(), int(), bool(), .item(), .tolist(), a conversion to "
              "numpy, or an `if`/`while` on an array. An exported graph receives its inputs only when it runs, so "
              "Python cannot look at their values while it is exported",
              "compute with arrays instead: u.ops.where(cond, a, b) in place of `if cond:`, keep scalars as 0-d "
              "arrays instead of float(x), and take constants from Python numbers or attributes (self.n), not "
              "from arrays"),
    "shape": ("uses a dynamic size as a fixed number (compares it, branches on it, or keeps it); the exported "
              "graph must work for every size in the declared range",
              "give the dynamic axis the bounds the code relies on (a Dim(name, max=...) in dynamic=; the "
              "exporter may suggest one below), or give that axis a fixed size (leave it out of dynamic=, or "
              "dynamic=False)"),
    "unsupported": ("uses an operation that the {format} format cannot express",
                    "write the layer with other unified.ops, or export to another format "
                    "(torch-export, jax-export)"),
    "other": ("could not be exported",
              "check that the layer runs eagerly on the example inputs; the exporter's message below says more"),
}


def _chain(error: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    e: BaseException | None = error
    while e is not None and e not in out:
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


def _classify(part: ExportBackend, error: BaseException) -> str:
    for e in _chain(error):
        kind = part.classify(e)
        if kind != "other":
            return kind
    return "other"


def _user_code(cls: type) -> set[Any]:
    """The code objects of the methods a unified module's own classes define (not the framework's)."""
    from unified.nn import Module

    codes = set()
    for klass in cls.__mro__:
        if klass is Module or not issubclass(klass, Module) or "__unified_backend__" in vars(klass):
            continue
        for v in vars(klass).values():
            fn = getattr(v, "__func__", v)
            code = getattr(fn, "__code__", None)
            if code is not None:
                codes.add(code)
    return codes


def _failing_frame(error: BaseException, model: Any) -> _Site | None:
    """The deepest frame of the error's traceback that runs a method of one of the model's modules."""
    paths = {id(m): name for name, m in model.named_modules()}
    codes: dict[type, set[Any]] = {}
    found: _Site | None = None
    for e in _chain(error):
        tb = e.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            owner = frame.f_locals.get("self")
            if owner is not None and id(owner) in paths:
                cls = type(owner)
                if cls not in codes:
                    codes[cls] = _user_code(cls)
                if frame.f_code in codes[cls]:
                    file, line = frame.f_code.co_filename, tb.tb_lineno
                    found = _Site(paths[id(owner)], cls.__qualname__, file, line,
                                  linecache.getline(file, line).strip())
            tb = tb.tb_next
        if found is not None:
            return found
    return found


@contextlib.contextmanager
def _recording_calls(model: Any, calls: dict[int, tuple[tuple[Any, ...], dict[str, Any]]]) -> Iterator[None]:
    """Record each module's first call (its arguments) while the block runs, on either backend.

    The twin classes' compute attribute (``forward`` under torch, ``__call__`` under JAX)
    is wrapped for the block only and restored whatever happens.
    """
    saved: dict[type, tuple[str, Any]] = {}
    try:
        for _, m in model.named_modules():
            cls = type(m)
            compute = getattr(cls, "__unified_compute__", None)
            if cls in saved or compute is None:
                continue
            attr = next((a for a in ("forward", "__call__") if vars(cls).get(a) is compute), None)
            if attr is None:
                continue

            def recording(self: Any, *args: Any, __compute: Any = compute, **kwargs: Any) -> Any:
                calls.setdefault(id(self), (args, kwargs))
                return __compute(self, *args, **kwargs)

            saved[cls] = (attr, compute)
            setattr(cls, attr, recording)
        yield
    finally:
        for cls, (attr, compute) in saved.items():
            setattr(cls, attr, compute)


def _record(model: Any, args: Sequence[Any]) -> dict[int, tuple[tuple[Any, ...], dict[str, Any]]]:
    calls: dict[int, tuple[tuple[Any, ...], dict[str, Any]]] = {}
    with contextlib.suppress(Exception), _recording_calls(model, calls):
        model(*args)  # if it fails, the layers called before the failure are recorded all the same
    return calls


def _localise(model: Any, part: ExportBackend, fmt: Format, host: list[np.ndarray],
              dims: Sequence[Mapping[int, Dim]]) -> tuple[_Site, Exception] | None:
    """Find the deepest layer that fails to export on its own, with the inputs it gets in an eager run.

    Top-down: a layer whose children all export is the one to blame. Each layer's dynamic
    axes are those whose size changes between an eager run at the example shapes and one
    at resized shapes; an axis that changes as one of the model's :class:`Dim` does is that
    Dim (with its bounds). Layers called with other arguments than arrays, or never called
    (containers), are looked through.
    """
    backend = _backend.owner(model)
    if backend is None:
        return None
    first = _record(model, [backend.core.asarray(x, None, None) for x in host])
    varied = _vary(host, dims)
    second = _record(model, [backend.core.asarray(x, None, None) for x in varied]) if varied is not None else {}
    known: dict[tuple[int, int], Dim | None] = {}
    for x, y, spec in zip(host, varied or host, dims):
        for axis, d in spec.items():
            pair = (int(x.shape[axis]), int(y.shape[axis]))
            known[pair] = d if known.get(pair, d) == d else None  # two Dims resized alike: tell neither
    fresh: dict[tuple[int, int], Dim] = {}

    def dims_of(m: Any) -> list[dict[int, Dim]]:
        a, b = first[id(m)][0], second.get(id(m), first[id(m)])[0]
        out: list[dict[int, Dim]] = []
        for x, y in zip(a, b):
            axes = {}
            for axis, (n, k) in enumerate(zip(x.shape, y.shape)):
                if n != k:
                    pair = (int(n), int(k))
                    axes[axis] = known.get(pair) or fresh.setdefault(pair, Dim(f"dim{len(fresh)}"))
            out.append(axes)
        return out

    def candidates(m: Any, prefix: str) -> Iterator[tuple[str, Any]]:
        for name, child in m.named_children():
            path = f"{prefix}.{name}" if prefix else name
            call = first.get(id(child))
            if call is not None and all(backend.core.is_array(a) for a in call[0]):
                yield path, child
            else:
                yield from candidates(child, path)

    path, node, failure = "", model, None
    descended = True
    while descended:
        descended = False
        for child_path, child in candidates(node, path):
            child_args, child_kwargs = first[id(child)]
            try:
                part.export(child, child_args, child_kwargs, dims_of(child), fmt.name, None, [])
            except Exception as e:
                path, node, failure, descended = child_path, child, e, True
                break
    if failure is None:
        return None
    compute: Any = getattr(type(node), "__unified_compute__", None)
    file, line = "", 0
    with contextlib.suppress(TypeError, OSError):
        file, line = inspect.getsourcefile(compute) or "", inspect.getsourcelines(compute)[1]
    return _Site(path, type(node).__qualname__, file, line), failure


def _exporter_said(error: BaseException, kind: str) -> str:
    """The gist of the exporter's message: its first line, and for shape errors the exporter's suggestions."""
    skip = ("For more information", "The error above occurred", "If you would like", "See ", "consider using",
            "Caused by", "For extended logs", "The error occurred while tracing")
    lines = [line.strip() for line in str(error).splitlines() if line.strip() and not line.strip().startswith(skip)]
    if kind == "shape":  # keep the exporter's diagnosis and suggestions ("- Not all values of batch ...", "Dim(")
        lines = lines[:1] + [line for line in lines[1:] if line.startswith(("-", "Suggested")) or "Dim(" in line]
    lines = [line if len(line) <= 300 else line[:297] + "..." for line in lines[:4 if kind == "shape" else 1]]
    return "\n    ".join([f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__, *lines[1:]])


def diagnose(error: Exception, model: Any, fmt: Format, part: ExportBackend, host: list[np.ndarray],
             dims: Sequence[Mapping[int, Dim]]) -> ExportError:
    """The ExportError for an exporter's failure: which layer, why, how to fix, and what the exporter said."""
    kind = _classify(part, error)
    site = _failing_frame(error, model)
    said = error
    if site is None:
        localised = _localise(model, part, fmt, host, dims)
        if localised is not None:
            site, said = localised
            kind = _classify(part, said)
    model_name = type(model).__qualname__
    why, fix = (s.replace("{format}", fmt.name) for s in _WHY[kind])
    if site is None:
        where = f"the model ({model_name})"
    elif site.path == "":
        where = f"the model's own code ({model_name})"
    else:
        where = f"layer {site.path!r} ({site.cls})"
    at = ""
    if site is not None and site.file:
        at = f"\n  at {_short(site.file)}:{site.line}" + (f": {site.code}" if site.code else " (its __call__)")
    causes = [e for e in _chain(said) if str(e).strip()]
    origin = causes[-1] if causes else said
    message = (f"Cannot export {model_name} to {fmt.name}: {where} {why}.{at}\n"
               f"How to fix: {fix}.\n"
               f"The {fmt.backend} exporter said: {_exporter_said(origin, kind)}")
    return ExportError(message, layer=None if site is None else site.path,
                       layer_type=None if site is None else site.cls, kind=kind, format=fmt.name)


def _short(file: str) -> str:
    try:
        rel = os.path.relpath(file)
    except ValueError:
        return file
    return file if rel.startswith("..") else rel
