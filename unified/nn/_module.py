"""``unified.nn.Module``: one class definition, a native object on each backend.

This file holds all of the module machinery, so that it can be read in one go.

A user writes a module as in PyTorch or Flax NNX: submodules and parameters
assigned in ``__init__``, the computation in ``__call__``; no field
declarations, no framework imports. Creating an instance picks the active
backend and returns an instance of a *twin* class, made once per (class,
backend) by that backend:

* under torch, ``type(name, (YourClass, unified_torch.module.TorchModule), ...)``:
  a real ``torch.nn.Module`` (parameters are ``nn.Parameter``; ``state_dict``,
  ``.to()``, hooks, ``torch.compile`` and FSDP work). ``forward`` is your
  ``__call__``, and ``__call__`` is torch's, so hooks run.
* under JAX, ``type(name, (YourClass, unified_jax.module.JaxModule), ...)``,
  registered as a pytree: ``jax.jit``, ``jax.grad``, ``jax.tree.map``, optax and
  ``jax.shard_map`` take it directly. Arrays and submodules are its children;
  everything else (ints, strings, the ``training`` flag) is static structure.

``isinstance(model, YourClass)`` holds on both; the twin's ``__module__`` and
``__qualname__`` are yours, so reprs and pickling name your class.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self

from unified import _backend
from unified._errors import UnifiedError
from unified._protocols import Array

__all__ = ["Buffer", "Module", "Parameter"]


class ModuleError(UnifiedError, TypeError):
    """A module was defined or used in a way the backends cannot support."""


class Module:
    """Base class of every `unified` module.

    Subclass it, assign parameters (:class:`Parameter`), buffers
    (:class:`Buffer`) and submodules in ``__init__`` (no ``super().__init__()``
    needed), and compute in ``__call__``. Lists and dicts of modules become
    :class:`ModuleList` / :class:`ModuleDict`.

    The same methods exist on both backends, with torch's names and meaning:
    ``named_parameters()``, ``parameters()``, ``named_buffers()``,
    ``named_modules()``, ``children()``, ``state_dict()``,
    ``load_state_dict()``, ``train()``, ``eval()`` and ``training``.

    Example:
        >>> import unified as u
        >>> from unified import nn
        >>> class Affine(nn.Module):
        ...     def __init__(self, n):
        ...         self.scale = nn.Parameter(u.ops.ones(n))
        ...         self.shift = nn.Parameter(u.ops.zeros(n))
        ...     def __call__(self, x):
        ...         return x * self.scale + self.shift
        >>> m = Affine(3)
        >>> [name for name, _ in m.named_parameters()]
        ['scale', 'shift']
        >>> u.to_numpy(m(u.ops.full((3,), 2.0))).tolist()
        [2.0, 2.0, 2.0]
    """

    if TYPE_CHECKING:
        # The API both backends provide (torch.nn.Module's under torch, unified_jax.module.JaxModule's
        # under JAX), declared for type checkers only: at run time the twin's backend base supplies it.
        __unified_backend__: str
        training: bool

        def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Array]]: ...
        def parameters(self, recurse: bool = True) -> Iterator[Array]: ...
        def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Array]]: ...
        def buffers(self, recurse: bool = True) -> Iterator[Array]: ...
        def named_children(self) -> Iterator[tuple[str, Module]]: ...
        def children(self) -> Iterator[Module]: ...
        def named_modules(self) -> Iterator[tuple[str, Module]]: ...
        def modules(self) -> Iterator[Module]: ...
        def state_dict(self) -> dict[str, Array]: ...
        def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> Any: ...
        def train(self, mode: bool = True) -> Self: ...
        def eval(self) -> Self: ...
        def apply(self, fn: Callable[[Module], Any]) -> Self: ...
        def to(self, device: Any) -> Self: ...

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if "__unified_backend__" in cls.__dict__:  # already a twin (copy, unpickle, FSDP)
            return _backend.load_backend(cls.__unified_backend__).module.new(cls)
        backend = _backend.get_backend()
        return backend.module.new(twin_class(cls, backend))

    def __init__(self) -> None:  # lets subclasses call super().__init__() harmlessly
        pass

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "forward" in cls.__dict__ and "__call__" not in cls.__dict__:
            # torch habit: computation in forward. Make __call__ run it on every backend.
            cls.__call__ = cls.__dict__["forward"]  # type: ignore[method-assign]

    # -- shared conveniences (names that torch.nn.Module does not use) --------

    def num_parameters(self, trainable_only: bool = False) -> int:
        """The number of parameter elements, as the repr shows it.

        Example:
            >>> from unified import nn
            >>> nn.Linear(3, 2).num_parameters()
            8
        """
        total = 0
        for _, p in self.named_parameters():
            if trainable_only and not getattr(p, "requires_grad", True):
                continue
            total += _numel(p)
        return total

    def extra_repr(self) -> str:
        """The text inside this module's line of the repr (layers override it)."""
        return ""

    def __repr__(self) -> str:
        total = self.num_parameters()
        count = f"  # {_human(total)} parameters" if total else ""
        head = f"{type(self).__name__}({self.extra_repr()}"
        children = [(n, repr(c).replace("\n", "\n  ")) for n, c in self.named_children()]
        if not children:
            return f"{head}){count}"
        body = "\n".join(f"  ({n}): {text}" for n, text in children)
        return f"{head}{count}\n{body}\n)"


def _numel(x: Array) -> int:
    n = 1
    for s in x.shape:
        n *= int(s)
    return n


def _human(n: int) -> str:
    for unit, size in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


_TWINS: dict[tuple[type, str], type] = {}


def twin_class(cls: type, backend: Any) -> type:
    """The class instances of ``cls`` have under ``backend`` (made once, cached)."""
    key = (cls, backend.name)
    twin = _TWINS.get(key)
    if twin is None:
        compute = _compute_method(cls)
        twin = backend.module.make_twin(cls, compute)
        _TWINS[key] = twin
    return twin


def _compute_method(cls: type) -> Any:
    for klass in cls.__mro__:
        if klass is Module:
            break
        if "__call__" in klass.__dict__:
            return klass.__dict__["__call__"]
    raise ModuleError(
        f"{cls.__qualname__} defines no __call__: a unified module computes in __call__ "
        f"(e.g. `def __call__(self, x): return self.linear(x)`)."
    )


def accepts_key(module: Any) -> bool:
    """Whether a module's computation takes a ``key`` keyword (for randomness)."""
    cls = type(module)
    cached = _ACCEPTS_KEY.get(cls)
    if cached is None:
        compute = getattr(cls, "__unified_compute__", None) or cls.__call__
        try:
            params = inspect.signature(compute).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        cached = "key" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        _ACCEPTS_KEY[cls] = cached
    return cached


_ACCEPTS_KEY: dict[type, bool] = {}


def rebuild(cls: type, backend_name: str) -> Any:
    """An empty instance of ``cls``'s twin on a backend (for copy and pickle)."""
    backend = _backend.load_backend(backend_name)
    return backend.module.new(twin_class(cls, backend))


def containerize(value: Any, backend_name: str) -> Any:
    """Lists and tuples of modules as a ModuleList, dicts of them as a ModuleDict, on that backend.

    Anything else is returned as it is. A list mixing modules with other values
    cannot be registered on torch, so it is refused on every backend.
    """
    t = type(value)
    if t not in (list, tuple, dict) or not value:
        return value
    items = list(value.values()) if t is dict else list(value)
    n_modules = sum(isinstance(v, Module) for v in items)
    if n_modules == 0:
        return value
    if n_modules != len(items):
        raise ModuleError(
            f"A {t.__name__} mixing modules with other values cannot be registered as submodules "
            f"(got {[type(v).__name__ for v in items]}). Keep the modules in their own list."
        )
    from unified.nn._containers import ModuleDict, ModuleList

    with _backend.use_backend(backend_name):
        return ModuleDict(value) if t is dict else ModuleList(items)


def Parameter(value: Array) -> Any:
    """Mark an array as a trainable parameter when assigned to a module attribute.

    Under torch this is ``torch.nn.Parameter(value)``; under JAX the attribute
    holds the plain array and the module records that it is a parameter.

    Example:
        >>> import unified as u
        >>> from unified import nn
        >>> class Scale(nn.Module):
        ...     def __init__(self):
        ...         self.w = nn.Parameter(u.ops.ones(2))
        ...     def __call__(self, x):
        ...         return x * self.w
        >>> [n for n, _ in Scale().named_parameters()]
        ['w']
    """
    return _backend.backend_of(value).module.parameter(value)


def Buffer(value: Array, *, persistent: bool = True) -> Any:
    """Mark an array as a buffer: module state that is not trained (a mask, a running mean).

    Buffers move with the module, are saved in ``state_dict()`` unless
    ``persistent=False``, and get no gradient.

    Example:
        >>> import unified as u
        >>> from unified import nn
        >>> class Masked(nn.Module):
        ...     def __init__(self):
        ...         self.mask = nn.Buffer(u.ops.tril(u.ops.ones((2, 2))))
        ...     def __call__(self, x):
        ...         return x * self.mask
        >>> [n for n, _ in Masked().named_buffers()], list(Masked().named_parameters())
        (['mask'], [])
    """
    return _backend.backend_of(value).module.buffer(value, persistent)
