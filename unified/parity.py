"""``unified parity``: does a model compute the same numbers on torch and on JAX, layer by layer?

:func:`compare` builds a model twice from one factory, once per backend, with
bit-identical weights (both builds draw from ``u.manual_seed(seed)``), runs the
same inputs through both in eval mode, and compares every submodule's output
and the gradient of every parameter. Differences are *normwise*, as in
:mod:`unified.testing`: a check passes when ``max|torch - jax| <= rtol * scale``,
with ``scale`` the largest magnitude of the JAX value (for gradients, the
largest gradient anywhere in the model). :attr:`ParityReport.first_divergence`
names the layer where the two backends part: what a user porting a model
looks at first.

Outputs are captured natively: with forward hooks under torch; under JAX,
which has no hooks, by wrapping the twin classes' ``__call__`` for the length
of one forward pass (restored afterwards, whatever happens).

From a shell, ``unified parity --model mymodel:build`` runs :func:`cli`; docs/parity.md
shows how to read the report and how to port a model with it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib
import importlib.util
import json
import math
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import numpy as np

from unified import _backend, ops, tree
from unified._core import asarray, is_array, to_numpy
from unified._core import dtype as dtype_of
from unified._dispatch import INEXACT_DTYPES
from unified._errors import UnifiedError
from unified.nn import Module
from unified.nn import functional as F
from unified.nn.init import manual_seed
from unified.transforms import disable_jit, grad

__all__ = ["ParityError", "ParityReport", "ParityRow", "cli", "compare"]

#: The backends compared, and the reference among them (the denominators of relative differences).
BACKENDS = ("torch", "jax")
REFERENCE = "jax"
ROOT = "<model>"  # how the root module is named in reports

Factory = Callable[[], Any]
LossFn = Callable[..., Any]


class ParityError(UnifiedError, ValueError):
    """``compare`` cannot run as asked: a backend is missing, or the factory, inputs or options are wrong."""


# ------------------------------------------------------------------------------------------------ the report


@dataclasses.dataclass(frozen=True)
class ParityRow:
    """One check: a layer's output (one call of it), or the gradient of one of its own parameters.

    Attributes:
        layer: the module's dotted path in ``named_modules()``; ``"<model>"`` for the root.
        kind: ``"output"`` or ``"grad"``.
        param: the parameter's attribute name on ``layer`` (gradient rows), else None.
        call: which call of the layer (1-based; output rows of layers called more than once), else None.
        shapes: the shape of each array in the output (one for a plain array; a tuple or pytree gives more).
        max_abs_diff: ``max|torch - jax|`` over every element (inf where only one side is NaN or inf).
        rel_diff: ``max_abs_diff / max|jax|``, the normwise relative difference of this quantity.
        limit: the largest ``max_abs_diff`` that passes: ``rtol * max|jax|`` for outputs,
            ``rtol * (largest gradient in the model)`` for gradients.
        passed: ``max_abs_diff <= limit``; None when there was nothing to compare (a layer never called).
        note: why a check failed without numbers (called a different number of times, other shapes ...).
        step: the position of this call among all recorded calls, in the order they returned in
            the forward pass (gradient rows: their layer's first call); None if never called.
    """

    layer: str
    kind: Literal["output", "grad"]
    param: str | None = None
    call: int | None = None
    shapes: tuple[tuple[int, ...], ...] = ()
    max_abs_diff: float = 0.0
    rel_diff: float = 0.0
    limit: float = 0.0
    passed: bool | None = None
    note: str = ""
    step: int | None = None

    @property
    def name(self) -> str:
        """What was checked, in words: ``"transformer.h.0.mlp output"``, ``"transformer.wte grad weight"``."""
        if self.kind == "grad":
            return f"{self.layer} grad {self.param}"
        return f"{self.layer} output" + (f" (call {self.call})" if self.call else "")

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-ready values (non-finite numbers as the strings ``"inf"`` and ``"nan"``)."""
        out = dataclasses.asdict(self)
        out["shapes"] = [list(s) for s in self.shapes]
        for key in ("max_abs_diff", "rel_diff", "limit"):
            out[key] = _json_number(out[key])
        return out


@dataclasses.dataclass(frozen=True)
class ParityReport:
    """What :func:`compare` found: one row per check, and the verdict.

    Attributes:
        rows: for every module in ``named_modules()`` order, its output rows then one gradient row
            per parameter it owns.
        dtype: the dtype both models computed in.
        rtol: the normwise tolerance each check was held to.
        seed: the seed both models were built with (and default inputs drawn with).
        loss: the loss on each backend, ``{"torch": ..., "jax": ...}``.
        gradient_scale: the largest gradient magnitude in the model (JAX's): gradient checks pass
            within ``rtol * gradient_scale``.
        weights_differ: parameters and buffers whose *initial* values differ between the two
            builds, with ``max|torch - jax|``; empty when the factory built identical models, as it should.
    """

    rows: tuple[ParityRow, ...]
    dtype: str
    rtol: float
    seed: int
    loss: dict[str, float]
    gradient_scale: float
    weights_differ: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether every check passed (checks with nothing to compare do not count)."""
        return all(r.passed is not False for r in self.rows)

    @property
    def failures(self) -> list[ParityRow]:
        """The rows that failed, in table order."""
        return [r for r in self.rows if r.passed is False]

    @property
    def first_divergence(self) -> ParityRow | None:
        """The failed check nearest to where the backends part; None if all passed.

        Outputs come before gradients. Among outputs, the one computed first in the
        forward pass: a layer fails before the layers it feeds, and an inner layer
        returns before the block around it. Among gradients (when every output
        agrees, the backward pass is where they part), the one computed first in the
        backward pass, which runs the layers in reverse: the *last* failing layer in
        forward order, since every earlier gradient inherits its error.
        """
        failed = self.failures
        outputs = [r for r in failed if r.kind == "output"]
        if outputs:
            return min(outputs, key=lambda r: math.inf if r.step is None else r.step)
        grads = [r for r in failed if r.kind == "grad"]
        if grads:
            return min(grads, key=lambda r: math.inf if r.step is None else -r.step)
        return None

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dict: the verdict, the settings, and every row."""
        first = self.first_divergence
        return {
            "passed": self.passed,
            "backends": list(BACKENDS),
            "reference": REFERENCE,
            "dtype": self.dtype,
            "rtol": self.rtol,
            "seed": self.seed,
            "loss": {k: _json_number(v) for k, v in self.loss.items()},
            "gradient_scale": _json_number(self.gradient_scale),
            "checks": sum(r.passed is not None for r in self.rows),
            "failed": len(self.failures),
            "first_divergence": None if first is None else first.to_dict(),
            "weights_differ": {k: _json_number(v) for k, v in self.weights_differ.items()},
            "rows": [r.to_dict() for r in self.rows],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string (strict JSON: no NaN or Infinity literals)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def format(self, *, failures_only: bool = False) -> str:
        """An aligned table of every check (or only failed ones), then a verdict line.

        Columns: the layer, what was checked, its shape, ``max|t-j|`` (torch against
        JAX), ``rel`` (``max|t-j| / max|j|``), ``limit`` (the largest ``max|t-j|`` that
        passes) and the status: ``ok``, ``FAIL``, or ``-`` with a note.
        """
        first = self.first_divergence
        head = (f"unified parity: torch vs jax, {self.dtype}, seed {self.seed}, rtol {self.rtol:g} (normwise: "
                f"outputs against max|jax|, gradients against the largest gradient, {self.gradient_scale:.3g})")
        lines = [head, "loss: " + ", ".join(f"{k} {v:.7g}" for k, v in self.loss.items())]
        if self.weights_differ:
            names = ", ".join(f"{k} ({v:.2g})" for k, v in list(self.weights_differ.items())[:5])
            more = len(self.weights_differ) - 5
            lines.append(f"note: the two builds started from different weights: {names}"
                         + (f" and {more} more" if more > 0 else "")
                         + ". The factory should build the same model on both backends "
                           "(it runs under u.manual_seed(seed); load checkpoints identically).")
        if failures_only and self.passed:
            lines += ["", self._verdict()]
            return "\n".join(lines)
        table = [("layer", "check", "shape", "max|t-j|", "rel", "limit", "status")]
        for r in self.rows:
            if failures_only and r.passed is not False:
                continue
            check = "output" + (f" #{r.call}" if r.call else "") if r.kind == "output" else f"grad {r.param}"
            numbers = (_num(r.max_abs_diff), _num(r.rel_diff), _num(r.limit)) if r.limit > 0 else ("-", "-", "-")
            if r.passed is None:
                status = f"- {r.note}"
            elif r.passed:
                status = "ok"
            else:
                status = "FAIL" + (" <- first divergence" if r is first else "") + (f" ({r.note})" if r.note else "")
            table.append((r.layer, check, _shapes(r.shapes), *numbers, status))
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
        lines.append("")
        for row in table:
            cells = [c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
            lines.append("  ".join([*cells, row[-1]]).rstrip())
        lines.append("")
        lines.append(self._verdict())
        return "\n".join(lines)

    def _verdict(self) -> str:
        checked = [r for r in self.rows if r.passed is not None]
        first = self.first_divergence
        if first is None:
            closest = max(checked, key=lambda r: r.max_abs_diff / r.limit if r.limit > 0 else 0.0, default=None)
            margin = "" if closest is None or closest.limit <= 0 else (
                f"; the closest is {closest.name}, at {closest.max_abs_diff / closest.limit:.1%} of its limit")
            return f"PASS: torch and jax agree on all {len(checked)} checks{margin}."
        detail = first.note or f"max|t-j| = {_num(first.max_abs_diff)} > limit {_num(first.limit)}"
        where = ("every earlier output agrees" if first.kind == "output"
                 else "every output agrees, and so does every gradient computed before it in the backward pass")
        return (f"FAIL: {len(self.failures)} of {len(checked)} checks differ. First divergence: "
                f"{first.name} ({detail}); {where}.")


def _json_number(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


def _num(x: float) -> str:
    return "0" if x == 0 else f"{x:.2e}"


def _shapes(shapes: tuple[tuple[int, ...], ...]) -> str:
    if not shapes:
        return "-"
    text = str(shapes[0])
    return text if len(shapes) == 1 else f"{text} +{len(shapes) - 1}"


# ------------------------------------------------------------------------------------------------ compare


def compare(factory: Factory, *, seed: int = 0, loss: LossFn | None = None, inputs: Sequence[Any] | None = None,
            dtype: str = "float32", rtol: float | None = None) -> ParityReport:
    """Run one model on torch and on JAX with the same weights and inputs; compare every layer.

    The factory is called once per backend, inside ``u.use_backend(name)`` and
    ``u.manual_seed(seed)``, so both builds start from bit-identical weights.
    Both models run in eval mode, without compilation (``u.disable_jit()``).
    ``inputs`` and ``loss`` given here take precedence over the factory's.

    Args:
        factory: a zero-argument callable returning a ``unified.nn.Module`` built on the
            active backend; or ``(module, inputs)``; or ``(module, inputs, loss_fn)``.
        seed: seeds the builds, and the default inputs of a GPT.
        loss: ``loss(module, *inputs) -> scalar``, differentiated for the gradients.
            Default: next-token cross-entropy for a ``unified.models.GPT``, otherwise
            the sum of squares of ``module(*inputs)``.
        inputs: the model's positional inputs, numpy arrays (floating ones are cast to
            ``dtype``). Default: the factory's, taken from its first call and given to
            both backends; for a GPT, random token ids of shape ``(2, min(16, block_size))``
            drawn with ``seed``, and their next tokens as targets.
        dtype: the dtype both models compute in: floating parameters, buffers and
            inputs are cast to it. Picks the default ``rtol``.
        rtol: the normwise tolerance; default ``unified.testing.MODEL_RTOL[dtype]``
            (2e-5 for float32).

    Returns:
        A :class:`ParityReport`: ``passed``, ``first_divergence``, ``rows``,
        ``format()`` for a terminal and ``to_json()`` for a program.

    Raises:
        ParityError: torch or JAX is not installed; the factory returned something
            else than described; no inputs for a model that is not a GPT; a bad option.

    Example:
        >>> import numpy as np
        >>> from unified import nn
        >>> from unified.parity import compare
        >>> def build():
        ...     model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2))
        ...     return model, (np.ones((3, 4), np.float32),)
        >>> report = compare(build)
        >>> report.passed, report.first_divergence
        (True, None)
        >>> [r.name for r in report.rows][:3]
        ['<model> output', '0 output', '0 grad weight']
    """
    missing = [name for name in BACKENDS if name not in _backend.installed_backends()]
    if missing:
        raise ParityError(_missing_backends_message(missing))
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ParityError(f"compare: seed must be a non-negative int, got {seed!r}.")
    if rtol is None:
        model_rtol = _model_rtol()
        if dtype not in model_rtol:
            raise ParityError(f"compare: no default tolerance for dtype {dtype!r}; use one of {sorted(model_rtol)} "
                              "or pass rtol=.")
        rtol = model_rtol[dtype]
    if not (isinstance(rtol, int | float) and math.isfinite(rtol) and rtol > 0):
        raise ParityError(f"compare: rtol must be a positive number, got {rtol!r}.")
    host_inputs = None if inputs is None else _host_inputs(inputs, "inputs=")
    runs: dict[str, _Run] = {}
    for name in BACKENDS:
        with _backend.use_backend(name):
            try:
                with manual_seed(seed):
                    built = factory()
                module, made_inputs, made_loss = _unpack(built, name)
                if host_inputs is None:
                    host_inputs = (_host_inputs(made_inputs, "the factory's inputs") if made_inputs is not None
                                   else _default_inputs(module, seed))
                runs[name] = _run(module, host_inputs, loss or made_loss or _default_loss(module), dtype)
            except Exception as e:
                if hasattr(e, "add_note"):  # Python 3.11+
                    e.add_note(f"(unified parity: while building or running the model under {name})")
                raise
    return _report(runs["torch"], runs["jax"], dtype=dtype, rtol=float(rtol), seed=seed)


def _model_rtol() -> dict[str, float]:
    """``unified.testing.MODEL_RTOL``, the one statement of the model tolerances (no pytest needed)."""
    from unified.testing import MODEL_RTOL

    return dict(MODEL_RTOL)


def _missing_backends_message(missing: list[str]) -> str:
    installed = _backend.installed_backends()
    return (f"unified parity compares the torch and JAX backends in one process and needs both installed; "
            f"installed: {', '.join(installed) or 'none'} ({', '.join(missing)} missing). "
            "Install both with: pip install 'unified-dl[all]'.")


def _unpack(built: Any, backend: str) -> tuple[Module, Any, LossFn | None]:
    parts = built if isinstance(built, tuple) else (built,)
    if not 1 <= len(parts) <= 3 or not isinstance(parts[0], Module):
        got = type(built).__name__ if not isinstance(built, tuple) else (
            f"a tuple of {len(parts)} ({', '.join(type(p).__name__ for p in parts)})")
        raise ParityError(
            f"compare: the factory must return a unified.nn.Module, (module, inputs) or (module, inputs, loss_fn); "
            f"it returned {got}. For example: `def build(): return MyNet(), (np.ones((2, 8), np.float32),)`."
        )
    module = parts[0]
    if module.__unified_backend__ != backend:
        raise ParityError(f"compare: the factory built a {module.__unified_backend__} model while {backend} was "
                          "active; build it on the active backend (no u.use_backend inside the factory).")
    if len(parts) == 3 and not callable(parts[2]):
        raise ParityError(f"compare: the factory's loss_fn must be callable, got {type(parts[2]).__name__}.")
    return module, parts[1] if len(parts) > 1 else None, parts[2] if len(parts) == 3 else None


def _host_inputs(inputs: Any, what: str) -> tuple[Any, ...]:
    """Inputs as a tuple of numpy arrays (other values, such as None or an int, are passed as they are)."""
    if isinstance(inputs, np.ndarray) or is_array(inputs):
        inputs = (inputs,)
    if not isinstance(inputs, tuple | list):
        raise ParityError(f"compare: {what} must be a tuple of arrays (the model's positional inputs), "
                          f"got {type(inputs).__name__}.")
    return tuple(to_numpy(x) if is_array(x) else x for x in inputs)


def _is_gpt(module: Module) -> bool:
    from unified.models import GPT

    return isinstance(module, GPT)


def _default_inputs(module: Module, seed: int) -> tuple[np.ndarray, ...]:
    if not _is_gpt(module):
        raise ParityError(
            f"compare: no inputs for {type(module).__name__} (only a unified.models.GPT gets default inputs). "
            "Return them from the factory, `return model, (x,)`, or pass inputs=(x,) (numpy arrays)."
        )
    config = module.config  # type: ignore[attr-defined]
    T = min(16, config.block_size)
    tokens = np.random.default_rng(seed).integers(0, config.vocab_size, (2, T + 1)).astype(np.int32)
    return tokens[:, :T], tokens[:, 1:]  # ids, and the next token at each position


def _default_loss(module: Module) -> LossFn:
    return _next_token_loss if _is_gpt(module) else _sum_of_squares


def _next_token_loss(model: Any, idx: Any, targets: Any = None) -> Any:
    logits = model(idx)  # (B, T, vocab)
    if targets is None:
        return F.cross_entropy(logits[:, :-1], idx[:, 1:])
    return F.cross_entropy(logits, targets)


def _sum_of_squares(model: Any, *inputs: Any) -> Any:
    floats = [x for x in tree.leaves(model(*inputs)) if is_array(x) and dtype_of(x) in INEXACT_DTYPES]
    if not floats:
        raise ParityError(f"compare: {type(model).__name__}'s output holds no floating-point array, so the default "
                          "loss (the sum of squares of the output) has nothing to differentiate; pass loss=.")
    return functools.reduce(ops.add, [ops.sum(ops.square(x)) for x in floats])


# ------------------------------------------------------------------------------------------------ one backend


@dataclasses.dataclass
class _Run:
    """One backend's results, in numpy."""

    modules: list[str]  # named_modules() order, dotted paths ("" for the root)
    weights: dict[str, np.ndarray]  # the state dict as built, before any cast
    outputs: dict[str, list[list[np.ndarray] | None]]  # module -> its calls -> its output's arrays (None: abstract)
    steps: dict[tuple[str, int], int]  # (module, call) -> position among all calls, in the order they returned
    grads: dict[str, np.ndarray]  # parameter name -> gradient
    loss: float


class _Recorder:
    """Keeps a numpy copy of each output of the modules it knows, in the order calls return."""

    def __init__(self, model: Module) -> None:
        self.names = {id(m): name for name, m in model.named_modules()}
        self.outputs: dict[str, list[list[np.ndarray] | None]] = {}
        self.steps: dict[tuple[str, int], int] = {}

    def record(self, module: Any, output: Any) -> None:
        name = self.names.get(id(module))
        if name is None:
            return
        calls = self.outputs.setdefault(name, [])
        self.steps[(name, len(calls))] = len(self.steps)
        try:
            calls.append([to_numpy(x) for x in tree.leaves(output) if is_array(x)])
        except Exception:  # an abstract value: the loss called the model inside vmap or a native jit
            calls.append(None)


@contextlib.contextmanager
def _capture(model: Module, recorder: _Recorder) -> Iterator[None]:
    """Record every submodule's output while the block runs."""
    modules = [m for _, m in model.named_modules()]
    if hasattr(model, "register_forward_hook"):  # torch: the native way
        handles = [m.register_forward_hook(lambda mod, args, out: recorder.record(mod, out))  # type: ignore[attr-defined]
                   for m in modules]
        try:
            yield
        finally:
            for h in handles:
                h.remove()
        return
    # JAX has no hooks: wrap each twin class's __call__ (shared by all its instances) for this block only.
    saved: dict[type, Any] = {}
    try:
        for m in modules:
            cls = type(m)
            if cls not in saved:
                original = cls.__dict__.get("__call__", _MISSING)
                saved[cls] = original
                cls.__call__ = _recording(cls.__call__, recorder)  # type: ignore[method-assign]
        yield
    finally:
        for cls, original in saved.items():
            if original is _MISSING:
                delattr(cls, "__call__")
            else:
                cls.__call__ = original  # type: ignore[method-assign]


_MISSING = object()


def _recording(call: Callable[..., Any], recorder: _Recorder) -> Callable[..., Any]:
    @functools.wraps(call)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = call(self, *args, **kwargs)
        recorder.record(self, out)
        return out

    return wrapper


@contextlib.contextmanager
def _cast(module: Module, dtype: str) -> Iterator[Module]:
    """The module computing with its floating parameters and buffers in ``dtype``."""
    b = _backend.get_backend()  # the module's own: compare checked it
    values = {name: ops.astype(v, dtype)
              for name, v in [*module.named_parameters(), *module.named_buffers()]
              if b.core.dtype_name(v) in INEXACT_DTYPES and b.core.dtype_name(v) != dtype}
    for v in values.values():
        _check_dtype(v, dtype)
    if not values:
        yield module
        return
    with b.module.bind(module, values) as bound:
        yield bound


def _check_dtype(x: Any, dtype: str) -> None:
    """Refuse to compare when a backend silently computes in another dtype (JAX without x64)."""
    got = dtype_of(x)
    if got != dtype:
        hint = " Set JAX_ENABLE_X64=1 before starting Python." if dtype == "float64" else ""
        raise ParityError(f"compare: the {_backend.get_backend().name} backend gave {got} when asked for {dtype}, so "
                          f"the backends would not compute in the same dtype.{hint}")


def _run(module: Module, host_inputs: tuple[Any, ...], loss_fn: LossFn, dtype: str) -> _Run:
    weights = {k: to_numpy(v) for k, v in module.state_dict().items()}
    module.eval()
    args = tuple(asarray(x, dtype if x.dtype.kind == "f" and dtype in INEXACT_DTYPES else None)
                 if isinstance(x, np.ndarray) else x for x in host_inputs)
    for x, host in zip(args, host_inputs):
        if isinstance(host, np.ndarray) and host.dtype.kind == "f":
            _check_dtype(x, dtype)
    with disable_jit(), _cast(module, dtype) as model:
        recorder = _Recorder(model)
        with _capture(model, recorder):
            value = loss_fn(model, *args)
        grads = grad(loss_fn)(model, *args)
    return _Run(
        modules=[name for name, _ in model.named_modules()],
        weights=weights,
        outputs=recorder.outputs,
        steps=recorder.steps,
        grads={k: to_numpy(v) for k, v in grads.items() if v is not None},
        loss=float(to_numpy(value)),
    )


# ------------------------------------------------------------------------------------------------ comparing


def _diff(t: np.ndarray, j: np.ndarray) -> float:
    """``max|t - j|``, in float64; equal NaNs and infinities count as equal, unequal ones as inf."""
    t, j = t.astype(np.float64), j.astype(np.float64)
    if t.size == 0:
        return 0.0
    same = (t == j) | (np.isnan(t) & np.isnan(j))
    d = np.where(same, 0.0, np.abs(t - j))
    return float(np.nan_to_num(d, nan=np.inf).max())


def _magnitude(arrays: list[np.ndarray]) -> float:
    """The largest finite magnitude among the arrays (0 if none)."""
    best = 0.0
    for a in arrays:
        a = np.abs(a.astype(np.float64))
        a = a[np.isfinite(a)]
        if a.size:
            best = max(best, float(a.max()))
    return best


def _relative(diff: float, scale: float) -> float:
    return diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)


def _limit(rtol: float, scale: float) -> float:
    return rtol * max(scale, float(np.finfo(np.float32).tiny))


def _output_rows(layer: str, t_calls: list[list[np.ndarray] | None], j_calls: list[list[np.ndarray] | None],
                 steps: dict[tuple[str, int], int], key: str, rtol: float) -> list[ParityRow]:
    n = max(len(t_calls), len(j_calls))
    if n == 0:
        return [ParityRow(layer, "output", note="not called")]
    rows = []
    for i in range(n):
        call = i + 1 if n > 1 else None
        step = steps.get((key, i))
        if i >= len(t_calls) or i >= len(j_calls):
            rows.append(ParityRow(layer, "output", call=call, passed=False, max_abs_diff=math.inf, rel_diff=math.inf,
                                  step=step,
                                  note=f"called {len(t_calls)} time(s) under torch, {len(j_calls)} under jax"))
            continue
        t, j = t_calls[i], j_calls[i]
        if t is None or j is None:
            rows.append(ParityRow(layer, "output", call=call, step=step,
                                  note="not captured: called inside a transform (vmap, a native jit)"))
            continue
        shapes = tuple(tuple(int(s) for s in a.shape) for a in j)
        t_shapes = tuple(tuple(int(s) for s in a.shape) for a in t)
        if shapes != t_shapes:
            rows.append(ParityRow(layer, "output", call=call, shapes=shapes, passed=False, max_abs_diff=math.inf,
                                  rel_diff=math.inf, step=step,
                                  note=f"output shapes differ: torch {list(t_shapes)}, jax {list(shapes)}"))
            continue
        if not j:
            rows.append(ParityRow(layer, "output", call=call, step=step, note="no array in the output"))
            continue
        diff = max(_diff(a, b) for a, b in zip(t, j))
        scale = _magnitude(j)
        limit = _limit(rtol, scale)
        rows.append(ParityRow(layer, "output", call=call, shapes=shapes, max_abs_diff=diff,
                              rel_diff=_relative(diff, scale), limit=limit, passed=diff <= limit, step=step))
    return rows


def _report(torch_run: _Run, jax_run: _Run, *, dtype: str, rtol: float, seed: int) -> ParityReport:
    t_run, j_run = torch_run, jax_run
    gradient_scale = _magnitude(list(j_run.grads.values()))
    grad_limit = _limit(rtol, gradient_scale)
    modules = j_run.modules + [m for m in t_run.modules if m not in j_run.modules]
    param_names = list(j_run.grads) + [p for p in t_run.grads if p not in j_run.grads]
    owned: dict[str, list[str]] = {}
    for p in param_names:
        owner, _, attr = p.rpartition(".")
        owned.setdefault(owner, []).append(attr)
    rows: list[ParityRow] = []
    for key in modules:
        layer = key or ROOT
        if key not in t_run.modules or key not in j_run.modules:
            side = "torch" if key not in t_run.modules else "jax"
            rows.append(ParityRow(layer, "output", passed=False, max_abs_diff=math.inf, rel_diff=math.inf,
                                  note=f"no such module under {side}"))
        else:
            rows += _output_rows(layer, t_run.outputs.get(key, []), j_run.outputs.get(key, []), j_run.steps, key,
                                 rtol)
        first_step = j_run.steps.get((key, 0))
        for attr in owned.get(key, []):
            name = f"{key}.{attr}" if key else attr
            t, j = t_run.grads.get(name), j_run.grads.get(name)
            if t is None or j is None:
                rows.append(ParityRow(layer, "grad", param=attr, passed=False, max_abs_diff=math.inf,
                                      rel_diff=math.inf, step=first_step,
                                      note=f"no gradient under {'torch' if t is None else 'jax'}"))
                continue
            shape = tuple(int(s) for s in j.shape)
            if t.shape != j.shape:
                rows.append(ParityRow(layer, "grad", param=attr, shapes=(shape,), passed=False, max_abs_diff=math.inf,
                                      rel_diff=math.inf, step=first_step,
                                      note=f"gradient shapes differ: torch {t.shape}, jax {j.shape}"))
                continue
            diff = _diff(t, j)
            rows.append(ParityRow(layer, "grad", param=attr, shapes=(shape,), max_abs_diff=diff,
                                  rel_diff=_relative(diff, _magnitude([j])), limit=grad_limit,
                                  passed=diff <= grad_limit, step=first_step))
    weights_differ = {}
    for name in list(j_run.weights) + [k for k in t_run.weights if k not in j_run.weights]:
        t, j = t_run.weights.get(name), j_run.weights.get(name)
        d = math.inf if t is None or j is None or t.shape != j.shape else _diff(t, j)
        if d != 0:
            weights_differ[name] = d
    return ParityReport(rows=tuple(rows), dtype=dtype, rtol=rtol, seed=seed,
                        loss={"torch": t_run.loss, "jax": j_run.loss}, gradient_scale=gradient_scale,
                        weights_differ=weights_differ)


# ------------------------------------------------------------------------------------------------ the command


def _small_gpt() -> Module:
    """The default model of ``unified parity``: the seed's GPT, two layers of width 64."""
    from unified.models import GPT, GPTConfig

    return GPT(GPTConfig.seed(vocab_size=65, block_size=32, n_layer=2, n_head=4, n_embd=64))


def _load_factory(spec: str) -> Factory:
    """``"package.module:attr.path"`` -> the callable it names, importing from the current directory too."""
    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise ParityError(f"--model {spec!r}: expected MODULE:FACTORY, a module importable from the current "
                          "directory and a zero-argument callable in it, e.g. --model mymodel:build.")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is None or not (module_name == e.name or module_name.startswith(e.name + ".")):
            raise  # the user's module imports something missing: their traceback says what
        raise ParityError(f"--model {spec!r}: no module named {e.name!r} (looked in the current directory "
                          f"{os.getcwd()} and on sys.path).") from None
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise ParityError(f"--model {spec!r}: {obj.__name__ if hasattr(obj, '__name__') else obj!r} has no "
                              f"attribute {part!r}.")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ParityError(f"--model {spec!r}: {attr_path} is a {type(obj).__name__}, not callable; it should be "
                          "a function (or class) that takes no arguments and returns the model.")
    return obj


@contextlib.contextmanager
def _cwd_importable() -> Iterator[None]:
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unified parity",
        description="Run a model on torch and on JAX with the same weights and inputs, and compare every "
                    "layer's output and every parameter's gradient. Exit status: 0 if they agree, 1 if not, "
                    "2 on bad input.",
    )
    parser.add_argument("--model", metavar="MODULE:FACTORY",
                        help="a zero-argument callable returning a unified.nn.Module, or (module, inputs), or "
                             "(module, inputs, loss_fn); MODULE is imported from the current directory or "
                             "sys.path. Default: a two-layer GPT (GPTConfig.seed, width 64).")
    parser.add_argument("--seed", type=int, default=0, help="seeds the weights and default inputs (default: 0)")
    parser.add_argument("--rtol", type=float, default=None,
                        help="normwise tolerance (default: unified.testing.MODEL_RTOL[dtype], 2e-5 for float32)")
    parser.add_argument("--dtype", default="float32", choices=sorted(_model_rtol()),
                        help="the dtype both models compute in (default: float32)")
    parser.add_argument("--failures-only", action="store_true", help="list only the checks that failed")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    return parser


def cli(argv: list[str] | None = None) -> int:
    """``unified parity``: compare a model across torch and JAX from the command line.

    Prints the table of :meth:`ParityReport.format` (or, with ``--json``, the
    report as JSON) on stdout; errors go to stderr.

    Args:
        argv: the arguments after the command name; default ``sys.argv[1:]``.

    Returns:
        The exit status: 0 if every check passed, 1 if some failed, 2 on bad input
        (unknown module or factory, a backend missing, the model failing to build or run).

    Example:
        >>> from unified.parity import cli
        >>> cli(["--model", "no_such_module:build"])  # prints the reason on stderr
        2
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed the usage error (2) or the help (0)
        return e.code if isinstance(e.code, int) else 2
    missing = [name for name in BACKENDS if name not in _backend.installed_backends()]
    try:
        if missing:
            raise ParityError(_missing_backends_message(missing))
        with _cwd_importable():
            factory = _small_gpt if args.model is None else _load_factory(args.model)
            report = compare(factory, seed=args.seed, rtol=args.rtol, dtype=args.dtype)
    except UnifiedError as e:
        print(f"unified parity: {e}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()
        print("unified parity: the model failed to build or run (traceback above).", file=sys.stderr)
        return 2
    print(report.to_json() if args.json else report.format(failures_only=args.failures_only))
    return 0 if report.passed else 1
