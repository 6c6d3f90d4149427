"""Moving a module to another backend: the same tree, rebuilt without calling anyone's ``__init__``.

A module's constructor arguments are not recorded anywhere, and need not be:
what a module *is* lies in its attributes. :func:`convert` makes, for every
module of the tree, an empty instance of its class's twin on the target backend
(``twin_class`` + ``backend.module.new``, as copying and unpickling do) and
fills it attribute by attribute:

* parameters through :func:`~unified.nn.Parameter`, buffers through
  :func:`~unified.nn.Buffer` with their persistence, both as new arrays of the
  target backend with the same dtype and values;
* submodules recursively; a module reachable by two paths, or an array held in
  two places (tied weights), is converted once and shared the same way;
* every other attribute (ints, strings, configs, functions) as it is, with the
  arrays found inside lists, tuples and dicts converted; and the ``training``
  flag.

What is left out is the source backend's own bookkeeping: the attributes an
empty instance already has (torch's ``_parameters``, hooks ...; JAX's records of
which attributes are parameters) and names starting with ``_unified_``.
"""

from __future__ import annotations

from typing import Any

from unified import _backend
from unified._errors import BackendMismatchError, DTypeError
from unified._protocols import Backend
from unified.nn._module import Buffer, Module, ModuleError, Parameter, twin_class

__all__ = ["convert"]

_BOOKKEEPING_PREFIX = "_unified_"


def convert(module: Module, backend: str) -> Any:
    """A copy of ``module`` on another backend: same classes, names, values, buffers' persistence and mode.

    No ``__init__`` runs, so this works for any module, whatever its constructor takes.
    Arrays are copied through the host (numpy), keeping their dtypes; the source
    module is left as it was.

    Args:
        module: a ``unified.nn.Module`` on any backend.
        backend: the name of the backend to rebuild it on (``"torch"``, ``"jax"``).

    Returns:
        The converted module: a ``torch.nn.Module`` under torch, a pytree under JAX.
        ``module`` itself if it already lives on ``backend``.

    Raises:
        ModuleError: ``module`` is not a unified module.
        BackendNotFoundError: ``backend`` is unknown or not installed.

    Example:
        >>> import unified as u
        >>> from unified import nn
        >>> from unified.nn._convert import convert
        >>> with u.use_backend("jax"):
        ...     layer = nn.Linear(3, 2)
        >>> twin = convert(layer, "torch")
        >>> type(twin).__unified_backend__, [n for n, _ in twin.named_parameters()]
        ('torch', ['weight', 'bias'])
    """
    source = _backend.owner(module)
    if not isinstance(module, Module) or source is None:
        raise ModuleError(f"convert takes a unified.nn.Module; got a {type(module).__module__}."
                          f"{type(module).__qualname__}. Build the model from unified.nn modules.")
    target = _backend.load_backend(backend)
    if source is target:
        return module
    return _Converter(source, target, module).module(module, "")


class _Converter:
    def __init__(self, source: Backend, target: Backend, root: Any) -> None:
        self.source, self.target = source, target
        self.memo: dict[int, Any] = {}
        # Attributes every module of the source backend has before its __init__ runs: its machinery.
        self.bookkeeping = frozenset(vars(source.module.new(type(root))))
        self.persistent = frozenset(root.state_dict())  # parameters and persistent buffers, by dotted name

    def module(self, m: Any, prefix: str) -> Any:
        found = self.memo.get(id(m))
        if found is not None:
            return found
        original = getattr(type(m), "__unified_original__", None)
        if original is None:
            raise ModuleError(f"convert: {prefix or 'the root'} is a {type(m).__qualname__}, not a unified module.")
        out = self.target.module.new(twin_class(original, self.target))
        self.memo[id(m)] = out
        # Own parameters and buffers, duplicates included (a weight assigned twice stays one weight).
        params = list(m.named_parameters(recurse=False, remove_duplicate=False))
        buffers = list(m.named_buffers(recurse=False, remove_duplicate=False))
        children = list(m.named_children())
        taken = {name for name, _ in params + buffers + children}
        with _backend.use_backend(self.target.name):  # lists of modules become containers of this backend
            for name, value in params:
                setattr(out, name, self.marked(value, lambda a: Parameter(a)))
            for name, value in buffers:
                persistent = _join(prefix, name) in self.persistent
                setattr(out, name, self.marked(value, lambda a, p=persistent: Buffer(a, persistent=p)))
            for name, child in children:
                setattr(out, name, self.module(child, _join(prefix, name)))
            for name, value in vars(m).items():
                if name in taken or name in self.bookkeeping or name.startswith(_BOOKKEEPING_PREFIX):
                    continue
                setattr(out, name, self.value(value, _join(prefix, name)))
            out.training = bool(m.training)
        return out

    def marked(self, value: Any, mark: Any) -> Any:
        """``nn.Parameter`` / ``nn.Buffer`` of the converted array, made once per source array (ties stay tied)."""
        key = id(value)
        if key not in self.memo:
            self.memo[key] = mark(self.array(value))
        return self.memo[key]

    def array(self, x: Any) -> Any:
        owner = _backend.owner(x)
        if owner is not self.source:
            raise BackendMismatchError(f"convert: the module holds a {type(x).__qualname__} next to its "
                                       f"{self.source.name} arrays; a module's arrays must all be of one backend.")
        host = self.source.core.to_numpy(x)
        try:
            return self.target.core.asarray(host, self.source.core.dtype_name(x), None)
        except DTypeError:  # a 64-bit dtype the target lacks (JAX without x64): its 32-bit counterpart
            return self.target.core.asarray(host, None, None)

    def value(self, v: Any, where: str) -> Any:
        if isinstance(v, Module):
            return self.module(v, where)
        if _backend.owner(v) is self.source:
            key = id(v)
            if key not in self.memo:
                self.memo[key] = self.array(v)
            return self.memo[key]
        t = type(v)
        if t is list or t is tuple:
            return t(self.value(x, f"{where}.{i}") for i, x in enumerate(v))
        if t is dict:
            return {k: self.value(x, f"{where}.{k}") for k, x in v.items()}
        return v


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
