"""The hot path of every op: find the ``ops`` part of the backend owning the arrays.

``ops_of(x)`` is one dict lookup on ``type(x)`` when ``x`` is an array of a
loaded backend (about 50 ns); anything else (a Python scalar, a numpy array, a
list) takes the slow path, which converts it with the *active* backend's
``asarray``. Two arrays of different backends raise
:class:`~unified.BackendMismatchError` naming both.

The helpers also normalise the arguments that public functions accept in more
than one spelling (dtypes, axes), so backends only see canonical forms.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from unified import _backend
from unified._errors import DTypeError, ShapeError

_OPS: dict[type, Any] = {}

#: Canonical dtype names every backend understands (JAX without x64 maps the
#: 64-bit ones to 32 bits, and says so).
DTYPES = frozenset(
    "bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 "
    "float16 bfloat16 float32 float64 complex64 complex128".split()
)
FLOAT_DTYPES = frozenset({"float16", "bfloat16", "float32", "float64"})
INEXACT_DTYPES = FLOAT_DTYPES | {"complex64", "complex128"}
_SCALARS = (bool, int, float, complex, numbers.Number)
_PYTHON_SCALARS = frozenset({bool, int, float, complex})


def _ops_slow(x: object) -> Any:
    b = _backend.owner(x)
    if b is not None:
        _OPS[type(x)] = b.ops
        return b.ops
    return _Converting(_backend.get_backend())


def prime(backend: Any) -> None:
    """Cache a newly loaded backend's array types up front (see ``_backend._FOREIGN``)."""
    for t in backend.core.array_types:
        _OPS[t] = backend.ops
    for name in DTYPES:  # its dtype objects too (see _DTYPE_CACHE)
        try:
            native = backend.core.to_dtype(name)
        except (TypeError, ValueError, KeyError, AttributeError, DTypeError):
            continue  # a dtype this backend lacks
        _DTYPE_CACHE.setdefault(native, name)
        try:  # a scalar type such as jnp.float32 is also met as np.dtype('float32')
            _DTYPE_CACHE.setdefault(np.dtype(native), name)
        except TypeError:
            pass  # not a numpy-compatible dtype (torch's)


def ops_of(x: object) -> Any:
    """The ``ops`` part owning array ``x`` (converting non-arrays, see module doc)."""
    o = _OPS.get(type(x))
    return o if o is not None else _ops_slow(x)


def ops_of_all(fn: str, xs: Sequence[Any]) -> Any:
    """The one ``ops`` part owning the arrays among ``xs``; raises on a mix."""
    found = None
    first: object = None
    foreign = False
    for x in xs:
        o = _OPS.get(type(x))
        if o is None:
            if x is None or type(x) in _PYTHON_SCALARS:
                continue  # scalars go to the backend as they are
            o = _ops_slow(x)
            if isinstance(o, _Converting):
                foreign = foreign or not isinstance(x, _SCALARS)
                continue
        if found is None:
            found, first = o, x
        elif o is not found:
            ba, bb = _backend.owner(first), _backend.owner(x)
            assert ba is not None and bb is not None
            raise _backend.mismatch(fn, first, x, ba, bb)
    if found is None:
        return _Converting(_backend.get_backend())
    if foreign:
        return _Converting(_backend.owner(first), only_foreign=True)
    return found


class _Converting:
    """Stands in for an ``ops`` part when an argument is not a backend array.

    Converts numpy arrays, lists and (when no argument is an array) Python
    scalars with the backend's ``asarray`` before calling the real op. Only the
    slow path pays for this.
    """

    __slots__ = ("_backend", "_only_foreign")

    def __init__(self, backend: Any, only_foreign: bool = False) -> None:
        self._backend = backend
        self._only_foreign = only_foreign

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):  # only ops are looked up here (and never during __init__)
            raise AttributeError(name)
        core = self._backend.core
        fn = getattr(self._backend.ops, name)
        convert_scalars = not self._only_foreign

        def conv(a: Any) -> Any:
            if core.is_array(a):
                return a
            if isinstance(a, np.ndarray | np.generic) or (
                convert_scalars and isinstance(a, _SCALARS)
            ):
                return core.asarray(a)
            if isinstance(a, list | tuple) and a and not isinstance(a[0], _SCALARS):
                return type(a)(conv(i) for i in a)
            if isinstance(a, list):
                return core.asarray(a)
            return a

        def call(*args: Any, **kwargs: Any) -> Any:
            return fn(*(conv(a) for a in args), **kwargs)

        return call


_ALIASES = {"float": "float32", "int": "int32", "half": "float16", "double": "float64"}
# Every dtype given by name is in the cache from the start (backends add their dtype objects
# when they load), so that tracing never writes to it: torch.compile guards on this dict, and
# an entry added while tracing one step would recompile the next.
_DTYPE_CACHE: dict[Any, str] = {**{n: n for n in DTYPES}, **_ALIASES}


def dtype_name(dtype: Any) -> str | None:
    """Canonical name of a dtype given as a string, numpy, torch or JAX dtype."""
    if dtype is None:
        return None
    try:
        return _DTYPE_CACHE[dtype]
    except (KeyError, TypeError):
        pass
    name: str | None
    if isinstance(dtype, str):
        name = dtype
    else:
        text = str(dtype)
        if text.startswith("torch."):
            name = text[len("torch.") :]
        else:
            try:
                name = np.dtype(dtype).name
            except TypeError:
                name = None
    name = _ALIASES.get(name, name) if name is not None else None
    if name not in DTYPES:
        raise DTypeError(
            f"Unknown dtype {dtype!r}. Use one of the names {sorted(DTYPES)} "
            "(a numpy, torch or JAX dtype object works too)."
        )
    try:
        _DTYPE_CACHE[dtype] = name
    except TypeError:
        pass
    return name


def axis_arg(axis: Any, fn: str) -> int | tuple[int, ...] | None:
    """``axis`` as None, an int, or a tuple of ints."""
    if axis is None or type(axis) is int:
        return axis
    if isinstance(axis, list | tuple):
        if all(isinstance(a, int) for a in axis):
            return tuple(axis)
    elif isinstance(axis, numbers.Integral):
        return int(axis)
    raise ShapeError(f"{fn}: axis must be None, an int or a tuple of ints, got {axis!r}.")


def shape_arg(shape: Any, fn: str) -> tuple[int, ...]:
    """``shape`` as a tuple of ints (an int means a 1-D shape)."""
    # Elements are kept as they come (not int()-ed): under torch.compile they can
    # be symbolic sizes, under jax.export symbolic dimensions.
    if isinstance(shape, numbers.Integral):
        return (shape,)  # type: ignore[return-value]
    try:
        return tuple(shape)
    except TypeError:
        raise ShapeError(
            f"{fn}: shape must be an int or a sequence of ints, got {shape!r}."
        ) from None
