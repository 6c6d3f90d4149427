"""Choosing a backend: the one place that knows which backends exist.

Backends are found through the entry-point group ``unified.backends``. An entry
point names a :class:`BackendSpec`; the spec says which framework modules the
backend needs (checked with ``importlib.util.find_spec``, so nothing heavy is
imported to learn what is installed) and which module to import to load it.

Dispatch is by the type of the arrays a call receives, cached per type, so
arrays of two backends can live in one process; calls with no array (creation
functions, ``grad(f)(3.0)``) use the *active* backend, chosen by
``UNIFIED_BACKEND``, :func:`set_backend` or :func:`use_backend`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import os
import threading
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any, cast

from unified._errors import BackendMismatchError, BackendNotFoundError
from unified._protocols import OPTIONAL_PARTS, PARTS, Backend

ENTRY_POINT_GROUP = "unified.backends"
#: When ``UNIFIED_BACKEND`` is unset, the first installed of these wins.
PREFERENCE = ("torch", "jax")


@dataclasses.dataclass(frozen=True)
class BackendSpec:
    """How to find and load a backend, without importing its framework.

    Args:
        name: the name users select it by (``UNIFIED_BACKEND=name``).
        module: the module that, once imported, is the backend: it has
            ``core``, ``ops``, ``transforms`` and ``random`` attributes
            satisfying :class:`unified.Backend`.
        requires: top-level framework modules that must be importable.
        install: the pip requirement that installs what is missing, shown in
            the error when it is (for example ``"unified-dl[jax]"``).

    Example:
        >>> from unified import BackendSpec
        >>> spec = BackendSpec(name="numpy", module="my_backend", requires=("numpy",))
        >>> spec.is_installed()  # numpy is, but there is no module my_backend to import
        False
    """

    name: str
    module: str
    requires: tuple[str, ...] = ()
    install: str = ""

    def is_installed(self) -> bool:
        """Whether the backend's module and every framework module it needs can be imported."""
        try:
            return all(importlib.util.find_spec(r) is not None for r in (self.module, *self.requires))
        except (ImportError, ValueError):  # a dotted module whose parent package is missing
            return False


_lock = threading.RLock()
_specs: dict[str, BackendSpec] | None = None
_loaded: dict[str, Backend] = {}
_active: Backend | None = None
#: type -> backend, for every array type seen so far (and module twin classes).
_TYPE_TO_BACKEND: dict[type, Backend] = {}
#: Types known not to belong to any loaded backend (forgotten when one loads).
#: Filled up front with Python's scalar types: under torch.compile, dynamo guards
#: on these caches, and a cache that changes during a trace forces a recompile.
_PYTHON_TYPES: frozenset[type] = frozenset({int, float, bool, complex, str, type(None)})
_FOREIGN: set[type] = set(_PYTHON_TYPES)


def _discover() -> dict[str, BackendSpec]:
    global _specs
    if _specs is None:
        found: dict[str, BackendSpec] = {}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            spec = ep.load()
            if not isinstance(spec, BackendSpec):
                raise BackendNotFoundError(
                    f"The entry point {ep.name!r} = {ep.value!r} in group {ENTRY_POINT_GROUP!r} "
                    f"should name a unified.BackendSpec, but names a {type(spec).__name__}. "
                    "Fix the package that declares it."
                )
            found.setdefault(spec.name, spec)
        _specs = found
    return _specs


def register_backend(spec: BackendSpec) -> None:
    """Make a backend selectable without installing a distribution for it.

    The usual way is an entry point in the group ``unified.backends`` that names
    a :class:`BackendSpec`; this does the same at run time (handy in tests).

    Example:
        >>> import unified as u
        >>> u.register_backend(u.BackendSpec(name="mine", module="my_backend"))
        >>> "mine" in u.available_backends()
        True
    """
    with _lock:
        _discover()[spec.name] = spec


def available_backends() -> list[str]:
    """Names of every registered backend, installed or not, preferred first.

    Example:
        >>> import unified as u
        >>> {"torch", "jax"} <= set(u.available_backends())
        True
    """
    names = list(_discover())
    return sorted(names, key=lambda n: (PREFERENCE.index(n) if n in PREFERENCE else 99, n))


def installed_backends() -> list[str]:
    """Names of the registered backends whose frameworks are installed.

    Example:
        >>> import unified as u
        >>> u.installed_backends()
        ['torch', 'jax']
    """
    specs = _discover()
    return [n for n in available_backends() if specs[n].is_installed()]


def _install_hint(spec: BackendSpec) -> str:
    return spec.install or f"unified-dl[{spec.name}]"


def load_backend(name: str) -> Backend:
    """Import (once) and return the backend called ``name``.

    Raises:
        BackendNotFoundError: the name is unknown, or its framework is missing;
            the message lists the installed backends and what to pip install.
    """
    found = _loaded.get(name)
    if found is not None:
        return found
    with _lock:
        if name in _loaded:
            return _loaded[name]
        specs = _discover()
        spec = specs.get(name)
        if spec is None:
            raise BackendNotFoundError(
                f"Unknown backend {name!r}. Known backends: {available_backends()}; "
                f"installed: {installed_backends()}. Pick one of those "
                "(UNIFIED_BACKEND=torch, or unified.set_backend('jax'))."
            )
        missing = [r for r in spec.requires if importlib.util.find_spec(r) is None]
        if missing:
            raise BackendNotFoundError(
                f"The {name!r} backend needs {', '.join(missing)}, which is not installed. "
                f"Installed backends: {installed_backends() or 'none'}. "
                f"Install it with: pip install '{_install_hint(spec)}'"
            )
        module = importlib.import_module(spec.module)
        for part in PARTS:
            if not hasattr(module, part):
                raise BackendNotFoundError(
                    f"Backend {name!r} (module {spec.module!r}) has no {part!r} part; "
                    f"a backend needs {list(PARTS)}. Check it with unified.testing."
                )
        backend = cast(Backend, module)
        for t in backend.core.array_types:
            _TYPE_TO_BACKEND[t] = backend
        _FOREIGN.intersection_update(_PYTHON_TYPES)
        _loaded[name] = backend
        from unified import _dispatch

        _dispatch.prime(backend)
        return backend


def optional_part(backend: Backend, part: str) -> Any:
    """An optional part of a backend (``export``, ``distributed``), imported on first use.

    Raises:
        BackendNotFoundError: the backend has no such part.
    """
    if part not in OPTIONAL_PARTS:
        raise ValueError(f"{part!r} is not an optional backend part ({OPTIONAL_PARTS}).")
    found = getattr(backend, part, None)
    if found is not None:
        return found
    # Our backends are modules "<package>.backend"; the part is the sibling module "<package>.<part>".
    module_name = getattr(backend, "__name__", "")
    package = module_name.rpartition(".")[0]
    try:
        module = importlib.import_module(f"{package}.{part}") if package else None
    except ModuleNotFoundError as e:
        if e.name != f"{package}.{part}":
            raise BackendNotFoundError(
                f"The {backend.name!r} backend's {part} support needs {e.name}, which is not installed: {e}."
            ) from e
        module = None
    if module is None:
        raise BackendNotFoundError(f"The {backend.name!r} backend has no {part!r} support.")
    setattr(backend, part, module)
    return module


def _default_name() -> str:
    env = os.environ.get("UNIFIED_BACKEND", "").strip().lower()
    if env:
        return env
    installed = installed_backends()
    if not installed:
        raise BackendNotFoundError(
            "No backend is installed: unified needs torch or JAX. "
            "Install one with: pip install torch==2.13.0 'unified-dl[torch]' "
            "or pip install 'unified-dl[jax]'"
        )
    return installed[0]


def get_backend_name() -> str:
    """The active backend's name, without loading it (for launchers that start other processes)."""
    if _active is not None:
        return _active.name
    name = _default_name()
    spec = _discover().get(name)
    if spec is None:
        load_backend(name)  # raises the clear error
    return name


def get_backend() -> Backend:
    """The active backend (loading the default on first use).

    The default is ``UNIFIED_BACKEND`` if set, else the first installed of
    torch and JAX.

    Example:
        >>> import unified as u
        >>> u.get_backend().name in ("torch", "jax")
        True
    """
    global _active
    if _active is None:
        with _lock:
            if _active is None:
                _active = load_backend(_default_name())
    return _active


def set_backend(name: str) -> Backend:
    """Make ``name`` the active backend for the rest of the process; return it.

    Example:
        >>> import unified as u
        >>> u.set_backend("jax").name
        'jax'
        >>> _ = u.set_backend("torch")
    """
    global _active
    backend = load_backend(name)
    _active = backend
    return backend


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[Backend]:
    """Make ``name`` the active backend inside a ``with`` block.

    Example:
        >>> import unified as u
        >>> with u.use_backend("jax"):
        ...     type(u.ops.zeros(2)).__module__.split(".")[0]
        'jaxlib'
    """
    global _active
    previous = _active
    backend = load_backend(name)
    _active = backend
    try:
        yield backend
    finally:
        _active = previous


# --------------------------------------------------------------------------
# dispatch: which backend owns an array (the hot path of every op)


def _lookup_slow(x: object) -> Backend | None:
    t = type(x)
    if t in _FOREIGN:
        return None
    owner = getattr(t, "__unified_backend__", None)
    if owner is not None:  # a Module twin class
        backend = load_backend(owner)
        _TYPE_TO_BACKEND[t] = backend
        return backend
    for backend in list(_loaded.values()):
        if backend.core.is_array(x):
            _TYPE_TO_BACKEND[t] = backend
            return backend
    _FOREIGN.add(t)
    return None


def owner(x: object) -> Backend | None:
    """The backend whose array (or module) ``x`` is, or None for anything else."""
    b = _TYPE_TO_BACKEND.get(type(x))
    return b if b is not None else _lookup_slow(x)


def backend_of(x: object) -> Backend:
    """The backend owning ``x``; the active backend if ``x`` is not an array."""
    b = _TYPE_TO_BACKEND.get(type(x))
    if b is not None:
        return b
    b = _lookup_slow(x)
    return b if b is not None else get_backend()


def _describe(x: object) -> str:
    shape = getattr(x, "shape", None)
    return f"{type(x).__module__}.{type(x).__qualname__}" + (f" of shape {tuple(shape)}" if shape is not None else "")


def mismatch(fn: str, a: object, b: object, ba: Backend, bb: Backend) -> BackendMismatchError:
    """The error for arrays of two backends in one call."""
    return BackendMismatchError(
        f"{fn} got arrays of two backends: a {ba.name} array ({_describe(a)}) and a "
        f"{bb.name} array ({_describe(b)}). Move one across first, e.g. "
        f"u.asarray(x) inside `with u.use_backend({ba.name!r})`."
    )


def backend_of_all(fn: str, xs: tuple[Any, ...] | list[Any]) -> Backend:
    """The one backend owning the arrays in ``xs`` (non-arrays are ignored).

    Raises BackendMismatchError if two backends meet.
    """
    found: Backend | None = None
    first: object = None
    for x in xs:
        b = _TYPE_TO_BACKEND.get(type(x))
        if b is None:
            b = _lookup_slow(x)
            if b is None:
                continue
        if found is None:
            found, first = b, x
        elif b is not found:
            raise mismatch(fn, first, x, found, b)
    return found if found is not None else get_backend()


def backend_of_args(args: tuple[Any, ...], kwargs: dict[str, Any] | None = None) -> Backend:
    """The backend of the first array or module found in call arguments.

    Looks into lists, tuples and dicts (first leaf only) but no deeper than
    needed; falls back to the active backend.
    """
    for a in args:
        b = _first_owner(a, 3)
        if b is not None:
            return b
    if kwargs:
        for a in kwargs.values():
            b = _first_owner(a, 3)
            if b is not None:
                return b
    return get_backend()


def _first_owner(x: object, depth: int) -> Backend | None:
    b = owner(x)
    if b is not None or depth == 0:
        return b
    if isinstance(x, (list, tuple)):
        items: Any = x
    elif isinstance(x, dict):
        items = x.values()
    elif dataclasses.is_dataclass(x) and not isinstance(x, type):
        items = [getattr(x, f.name) for f in dataclasses.fields(x)]
    else:
        return None
    for item in items:
        b = _first_owner(item, depth - 1)
        if b is not None:
            return b
    return None
