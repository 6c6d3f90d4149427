"""Function transforms with JAX's names and semantics, on every backend.

``grad``, ``value_and_grad``, ``jacobian``, ``hessian`` and ``vmap`` map onto
``torch.func`` under torch and onto JAX itself under JAX; ``jit`` onto
``torch.compile`` and ``jax.jit``. They compose in any order.

The backend is picked per call from the arguments (the first array or module
found), falling back to the active backend, so one transformed function serves
both backends in one process.

What this module adds to the frameworks, the same on both:

* checks with clear errors: integer inputs to ``grad``, non-scalar outputs,
  ``argnums`` out of range, ``in_axes`` of the wrong length;
* Python floats as differentiated arguments (``grad(f)(3.0)``), as JAX allows;
* keyword arguments to ``vmap`` are mapped over axis 0, as in JAX (``torch.func``
  would pass them unbatched);
* dataclasses as arguments (registered with the framework on first sight);
* ``grad(jit(f))`` under torch, which ``torch.compile`` cannot run inside a
  ``torch.func`` transform: ``f`` runs uncompiled, with one warning;
* :func:`disable_jit` (and ``UNIFIED_DISABLE_JIT=1``) to step through code with pdb.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from unified import _backend, tree
from unified._dispatch import INEXACT_DTYPES
from unified._errors import TransformError
from unified._protocols import Backend

__all__ = [
    "disable_jit",
    "grad",
    "hessian",
    "jacobian",
    "jit",
    "jit_enabled",
    "no_grad",
    "stop_gradient",
    "value_and_grad",
    "vmap",
]

F = TypeVar("F", bound=Callable[..., Any])

_jit_disabled = os.environ.get("UNIFIED_DISABLE_JIT", "").strip().lower() in ("1", "true", "yes")
_registered: set[tuple[str, type]] = set()


# ----------------------------------------------------------------------------
# helpers shared by the transforms


def _register_dataclasses(b: Backend, args: Any) -> bool:
    """Register dataclass types found in ``args`` with the framework; True if any was new."""
    new = False
    for cls in tree.dataclass_types(args):
        if (b.name, cls) not in _registered:
            names, static = tree._dataclass_fields(cls)

            def flatten(x: Any, names: tuple[str, ...] = names,
                        static: tuple[str, ...] = static) -> tuple[list[Any], Any]:
                return [getattr(x, n) for n in names], tuple(getattr(x, n) for n in static)

            def unflatten(aux: Any, children: list[Any], cls: type = cls, names: tuple[str, ...] = names,
                          static: tuple[str, ...] = static) -> Any:
                obj: Any = object.__new__(cls)
                for n, v in zip(names, children):
                    object.__setattr__(obj, n, v)
                for n, v in zip(static, aux):
                    object.__setattr__(obj, n, v)
                return obj

            b.core.register_node(cls, flatten, unflatten)
            _registered.add((b.name, cls))
            new = True
    return new


def _argnums_tuple(fn: str, argnums: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(argnums, int):
        return (argnums,)
    try:
        out = tuple(argnums)
    except TypeError:
        out = ()
    if not out or not all(isinstance(a, int) for a in out):
        raise TransformError(f"{fn}: argnums must be an int or a non-empty tuple of ints, got {argnums!r}.")
    return out


def _check_argnums(fn: str, argnums: tuple[int, ...], nargs: int) -> None:
    for a in argnums:
        if not -nargs <= a < nargs:
            raise TransformError(
                f"{fn}: argnums={a} but the function was called with {nargs} positional "
                f"argument{'s' if nargs != 1 else ''}. Differentiate with respect to a positional "
                "argument (keyword arguments are never differentiated)."
            )


def _prepare_diff_arg(fn: str, b: Backend, x: Any, i: int) -> Any:
    """Check that argument ``i`` is differentiable; turn Python floats and numpy arrays into arrays."""

    def convert(path: tuple[Any, ...], leaf: Any) -> Any:
        where = f"argument {i}" + (f" at {tree.keystr(path)!r}" if path else "")
        if b.core.is_array(leaf):
            name = b.core.dtype_name(leaf)
            if name not in INEXACT_DTYPES:
                raise TransformError(
                    f"{fn} requires floating-point inputs, but {where} is a {name} array "
                    f"of shape {tuple(leaf.shape)}. Differentiate with respect to floats only: cast "
                    "it (u.ops.astype(x, 'float32')) or leave it out of argnums."
                )
            return leaf
        if isinstance(leaf, bool) or isinstance(leaf, int):
            raise TransformError(
                f"{fn} requires floating-point inputs, but {where} is the Python "
                f"{type(leaf).__name__} {leaf!r}. Pass a float (e.g. {float(leaf)!r}) or leave it "
                "out of argnums."
            )
        if isinstance(leaf, float):
            return b.core.asarray(leaf)
        if type(leaf).__module__ == "numpy":
            return _prepare_diff_arg(fn, b, b.core.asarray(leaf), i)
        raise TransformError(
            f"{fn}: {where} is a {type(leaf).__name__}, which cannot be differentiated. "
            "Differentiated arguments hold floating-point arrays (in lists, tuples, dicts, "
            "dataclasses); pass other values as keyword arguments or outside argnums."
        )

    if b.core.is_array(x):
        return convert((), x)
    return tree.map_with_path(convert, x)


def _scalar_output(fn: str, b: Backend, out: Any, has_aux: bool) -> None:
    if has_aux:
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TransformError(
                f"{fn}(..., has_aux=True) needs the function to return a pair (output, aux); "
                f"it returned a {type(out).__name__}."
            )
        out = out[0]
    shape = getattr(out, "shape", None)
    if shape is None or tuple(shape) != ():
        what = f"an array of shape {tuple(shape)}" if shape is not None else f"a {type(out).__name__}"
        raise TransformError(
            f"{fn} needs a function with a scalar output (shape ()), but it returned {what}. "
            "Reduce it first (u.ops.sum, u.ops.mean), or use u.jacobian for non-scalar outputs."
        )
    name = b.core.dtype_name(out)
    if name not in INEXACT_DTYPES:
        raise TransformError(
            f"{fn} needs a floating-point output, but the function returned a {name} scalar."
        )


def _is_module(x: Any) -> bool:
    return hasattr(type(x), "__unified_backend__")


def _differentiable_call(fn: str, fun: Callable[..., Any], argnums: int | Sequence[int],
                         args: tuple[Any, ...], kwargs: dict[str, Any],
                         ) -> tuple[Backend, tuple[Any, ...], Callable[..., Any], dict[int, list[str]]]:
    """Check the arguments; return the backend, the arguments to differentiate, and ``fun`` to call.

    A module among the differentiated arguments is replaced by its parameters
    (``{name: array}``, so gradients are taken for parameters only, never
    buffers); the returned function rebinds them before calling ``fun``. The
    dict maps such argument positions to their parameter names, in order.
    """
    b = _backend.backend_of_args(args, kwargs)
    nums = _argnums_tuple(fn, argnums)
    _check_argnums(fn, nums, len(args))
    prepared = list(args)
    modules: dict[int, Any] = {}
    for a in nums:
        i = a % len(args)
        if _is_module(args[i]):
            modules[i] = args[i]
            prepared[i] = b.module.params(args[i])
        else:
            prepared[i] = _prepare_diff_arg(fn, b, args[i], i)
    _register_dataclasses(b, prepared)
    if not modules:
        return b, tuple(prepared), fun, {}

    def rebound(*a: Any, **k: Any) -> Any:
        with contextlib.ExitStack() as stack:
            full = list(a)
            for i, module in modules.items():
                full[i] = stack.enter_context(b.module.bind(module, full[i]))
            return fun(*full, **k)

    return b, tuple(prepared), rebound, {i: list(prepared[i]) for i in modules}


def _reorder(grads: Any, argnums: int | Sequence[int], names: dict[int, list[str]], nargs: int) -> Any:
    """Gradients of modules as dicts in ``named_parameters()`` order (JAX returns dict keys sorted)."""
    if not names:
        return grads
    if isinstance(argnums, int):
        return {n: grads[n] for n in names[argnums % nargs]}
    return tuple({n: g[n] for n in names[a % nargs]} if a % nargs in names else g for a, g in zip(argnums, grads))


# ----------------------------------------------------------------------------
# public transforms


def value_and_grad(fun: Callable[..., Any], argnums: int | Sequence[int] = 0, *,
                   has_aux: bool = False) -> Callable[..., Any]:
    """A function returning ``(fun(*args), gradient of fun)`` with respect to ``argnums``.

    Args:
        fun: a function with a floating-point scalar output (or ``(output, aux)``
            with ``has_aux=True``).
        argnums: which positional argument(s) to differentiate; an int gives one
            gradient, a tuple a tuple of gradients.
        has_aux: ``fun`` returns ``(output, aux)``; the value is then ``(output, aux)``.

    Returns:
        A function returning ``(value, grads)``; each gradient has the structure
        of its argument.

    Example:
        >>> import unified as u
        >>> value, g = u.value_and_grad(lambda x: x ** 2)(3.0)
        >>> float(value), float(g)
        (9.0, 6.0)
    """
    fname = "value_and_grad"

    @functools.wraps(fun)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if isinstance(argnums, int) and -len(args) <= argnums < len(args) and _is_module(args[argnums]):
            b = _backend.backend_of_args(args, kwargs)
            native = b.module.differentiate(fun, args, kwargs, argnums % len(args), has_aux)
            if native is not None:  # a sharded torch module: autograd does the communication
                return native
        b, prepared, target, names = _differentiable_call(fname, fun, argnums, args, kwargs)

        def checked(*a: Any, **k: Any) -> Any:
            out = target(*a, **k)
            _scalar_output(fname, b, out, has_aux)
            return out

        nums = argnums if isinstance(argnums, int) else tuple(argnums)
        value, grads = b.transforms.value_and_grad(checked, nums, has_aux)(*prepared, **kwargs)
        return value, _reorder(grads, nums, names, len(args))

    return wrapper


def grad(fun: Callable[..., Any], argnums: int | Sequence[int] = 0, *,
         has_aux: bool = False) -> Callable[..., Any]:
    """The gradient of a scalar function, with respect to argument(s) ``argnums``.

    Args:
        fun: a function with a floating-point scalar output (or ``(output, aux)``
            with ``has_aux=True``).
        argnums: an int, or a tuple of ints for a tuple of gradients.
        has_aux: ``fun`` returns ``(output, aux)``; the result is then ``(grads, aux)``.

    Returns:
        A function with the signature of ``fun`` returning gradients shaped like
        the differentiated arguments. The gradient with respect to a module is
        a dict ``{parameter name: gradient}`` in ``named_parameters()`` order
        (parameters only: buffers and static fields get none), on every backend.

    Raises:
        TransformError: a differentiated argument is an integer, or ``fun``'s
            output is not a scalar.

    Example:
        >>> import unified as u
        >>> f = lambda x: x ** 2 + 2 * x + 1
        >>> float(u.grad(f)(3.0)), float(u.grad(u.grad(f))(3.0))
        (8.0, 2.0)
    """
    vg = value_and_grad(fun, argnums, has_aux=has_aux)

    @functools.wraps(fun)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


def jacobian(fun: Callable[..., Any], argnums: int | Sequence[int] = 0, *, has_aux: bool = False,
             mode: str = "reverse") -> Callable[..., Any]:
    """The Jacobian of ``fun`` with respect to ``argnums``, by reverse or forward mode.

    For ``fun: R^n -> R^m`` the result has shape ``(m, n)``; in general, output
    axes come first, then input axes (``jax.jacrev``/``jax.jacfwd`` layout).

    Args:
        fun: the function.
        argnums: an int or a tuple of ints.
        has_aux: ``fun`` returns ``(output, aux)``; the result is ``(jacobian, aux)``.
        mode: ``"reverse"`` (cheaper for few outputs) or ``"forward"`` (for few inputs).

    Example:
        >>> import unified as u
        >>> J = u.jacobian(lambda x: x ** 2)(u.asarray([1.0, 2.0]))
        >>> u.to_numpy(J).tolist()
        [[2.0, 0.0], [0.0, 4.0]]
    """
    if mode not in ("reverse", "forward"):
        raise TransformError(f"jacobian: mode must be 'reverse' or 'forward', got {mode!r}.")

    @functools.wraps(fun)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        b, prepared, target, _ = _differentiable_call("jacobian", fun, argnums, args, kwargs)
        nums = argnums if isinstance(argnums, int) else tuple(argnums)
        return b.transforms.jacobian(target, nums, has_aux, mode == "forward")(*prepared, **kwargs)

    return wrapper


def hessian(fun: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The Hessian (matrix of second derivatives) of a scalar function.

    For ``fun: R^n -> R`` the result has shape ``(n, n)`` (forward-over-reverse).

    Example:
        >>> import unified as u
        >>> H = u.hessian(lambda x: (x ** 3).sum())(u.asarray([1.0, 2.0]))
        >>> u.to_numpy(H).tolist()
        [[6.0, 0.0], [0.0, 12.0]]
    """

    @functools.wraps(fun)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        b, prepared, target, _ = _differentiable_call("hessian", fun, argnums, args, kwargs)
        nums = argnums if isinstance(argnums, int) else tuple(argnums)
        return b.transforms.hessian(target, nums)(*prepared, **kwargs)

    return wrapper


def vmap(fun: Callable[..., Any], in_axes: Any = 0, out_axes: Any = 0) -> Callable[..., Any]:
    """``fun`` vectorised over an axis of its arguments, as ``jax.vmap``.

    Args:
        fun: the function to map.
        in_axes: the mapped axis of each positional argument: an int or None
            for all, or a tuple with one entry (int, None, or a pytree prefix)
            per positional argument. Keyword arguments are mapped over axis 0.
        out_axes: where the mapped axis goes in the outputs (an int, or a
            pytree prefix of the output).

    Example:
        >>> import unified as u
        >>> dot = lambda a, b: u.ops.sum(a * b)
        >>> u.to_numpy(u.vmap(dot, in_axes=(0, None))(u.ops.ones((3, 2)), u.asarray([1.0, 2.0]))).tolist()
        [3.0, 3.0, 3.0]
    """
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)

    @functools.wraps(fun)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        b = _backend.backend_of_args(args, kwargs)
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise TransformError(
                f"vmap: in_axes has {len(in_axes)} entries but the function was called with "
                f"{len(args)} positional arguments. Give one entry per positional argument "
                "(None for an unmapped one), or a single int for all."
            )
        _register_dataclasses(b, (args, kwargs))
        if not kwargs:
            return b.transforms.vmap(fun, in_axes, out_axes)(*args)
        args_axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)

        def with_kwargs(a: tuple[Any, ...], k: dict[str, Any]) -> Any:
            return fun(*a, **k)

        return b.transforms.vmap(with_kwargs, (args_axes, 0), out_axes)(args, kwargs)

    return wrapper


def stop_gradient(x: Any) -> Any:
    """``x`` (an array or pytree of arrays), treated as a constant by differentiation.

    Example:
        >>> import unified as u
        >>> float(u.grad(lambda x: x * u.stop_gradient(x))(3.0))
        3.0
    """

    def stop(leaf: Any) -> Any:
        b = _backend.owner(leaf)
        return b.transforms.stop_gradient(leaf) if b is not None else leaf

    return tree.map(stop, x)


# ----------------------------------------------------------------------------
# jit


class _Jitted:
    """A function compiled per backend on first call (``u.jit``)."""

    def __init__(self, fun: Callable[..., Any], static_argnums: tuple[int, ...],
                 static_argnames: tuple[str, ...], donate_argnums: tuple[int, ...],
                 options: dict[str, Any]) -> None:
        self.fun = fun
        self.static_argnums = static_argnums
        self.static_argnames = static_argnames
        self.donate_argnums = donate_argnums
        self.options = options
        self._impls: dict[str, Callable[..., Any]] = {}
        self._warned = False
        functools.update_wrapper(self, fun)

    def _impl(self, b: Backend) -> Callable[..., Any]:
        impl = self._impls.get(b.name)
        if impl is None:
            impl = b.transforms.jit(self.fun, self.static_argnums, self.static_argnames,
                                    self.donate_argnums, self.options)
            self._impls[b.name] = impl
        return impl

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _jit_disabled:
            return self.fun(*args, **kwargs)
        b = _backend.backend_of_args(args, kwargs)
        if b.transforms.in_transform():
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"u.jit({getattr(self.fun, '__qualname__', self.fun)}) was called inside "
                    f"u.grad/u.vmap, which the {b.name} backend cannot compile through; it runs "
                    "uncompiled (same numbers, eager speed). Put jit outermost: "
                    "u.jit(u.grad(f)) instead of u.grad(u.jit(f)).",
                    stacklevel=2,
                )
            return self.fun(*args, **kwargs)
        impl = self._impl(b)
        try:
            return impl(*args, **kwargs)
        except TypeError:
            # A dataclass argument the framework has not seen: register and retry.
            if _register_dataclasses(b, (args, kwargs)):
                self._impls.pop(b.name, None)
                return self._impl(b)(*args, **kwargs)
            raise

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        return functools.partial(self, obj)


def jit(fun: F | None = None, *, static_argnums: int | Sequence[int] | None = None,
        static_argnames: str | Sequence[str] | None = None,
        donate_argnums: int | Sequence[int] | None = None,
        options: dict[str, Any] | None = None) -> Any:
    """``fun`` compiled: ``torch.compile`` under torch, ``jax.jit`` under JAX.

    Usable as ``@u.jit`` or ``@u.jit(static_argnums=...)``. Compilation happens
    on the first call for each backend (and again for new shapes or static values).

    Args:
        fun: the function.
        static_argnums: positional arguments that are Python values, compiled
            in as constants (a new value compiles anew). torch specialises on
            Python values by itself; under JAX this is ``jax.jit``'s argument.
        static_argnames: the same, by keyword.
        donate_argnums: arguments whose buffers may be reused for outputs (JAX;
            ignored by torch).
        options: extra keyword arguments for the framework's compiler
            (``torch.compile(mode=..., fullgraph=...)``, ``jax.jit(...)``).

    Example:
        >>> import unified as u
        >>> @u.jit
        ... def f(x):
        ...     return u.ops.sum(x * x)
        >>> float(f(u.asarray([1.0, 2.0])))
        5.0
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums, static_argnames=static_argnames,
                                 donate_argnums=donate_argnums, options=options)
    if not callable(fun):
        raise TransformError(f"jit needs a function, got a {type(fun).__name__}.")

    def nums(v: int | Sequence[int] | None) -> tuple[int, ...]:
        return () if v is None else ((v,) if isinstance(v, int) else tuple(v))

    names = () if static_argnames is None else (
        (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames))
    return _Jitted(fun, nums(static_argnums), names, nums(donate_argnums), dict(options or {}))


def jit_enabled() -> bool:
    """Whether :func:`jit` compiles (False inside :func:`disable_jit` or with ``UNIFIED_DISABLE_JIT=1``).

    Example:
        >>> import unified as u
        >>> with u.disable_jit():
        ...     u.jit_enabled()
        False
    """
    return not _jit_disabled


@contextlib.contextmanager
def disable_jit() -> Iterator[None]:
    """Run every ``u.jit`` function as plain Python inside this block, to debug it with pdb.

    Also turns off the frameworks' own compilers that are loaded
    (``jax.disable_jit``, ``torch.compiler.set_stance("force_eager")``).
    The same for a whole process: ``UNIFIED_DISABLE_JIT=1``.

    Example:
        >>> import unified as u
        >>> @u.jit
        ... def f(x):
        ...     return x + 1   # a breakpoint() here stops on every call
        >>> with u.disable_jit():
        ...     float(f(u.asarray(1.0)))
        2.0
    """
    global _jit_disabled
    previous = _jit_disabled
    _jit_disabled = True
    try:
        with contextlib.ExitStack() as stack:
            for b in list(_backend._loaded.values()):
                stack.enter_context(b.transforms.disable_jit())
            yield
    finally:
        _jit_disabled = previous


@contextlib.contextmanager
def no_grad(backend: str | None = None) -> Iterator[None]:
    """Run inference without recording anything for differentiation.

    Under torch this is ``torch.inference_mode()`` (a module's parameters
    otherwise make every eager op record autograd history); under JAX, where
    nothing is recorded unless you differentiate, it does nothing.

    Example:
        >>> import unified as u
        >>> from unified import nn
        >>> with u.no_grad():
        ...     y = nn.Linear(2, 2)(u.ops.ones((1, 2)))
        >>> tuple(y.shape)
        (1, 2)
    """
    b = _backend.get_backend() if backend is None else _backend.load_backend(backend)
    with b.transforms.no_grad():
        yield
