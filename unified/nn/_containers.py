"""Containers of modules: ModuleList, ModuleDict and Sequential."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from unified._protocols import Array
from unified.nn._module import Module, ModuleError, accepts_key


class ModuleList(Module):
    """A list of modules, registered as submodules named ``"0"``, ``"1"`` ...

    A plain Python list of modules assigned to a module attribute becomes one.

    Example:
        >>> from unified import nn
        >>> layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
        >>> len(layers), [n for n, _ in layers.named_parameters()][:2]
        (3, ['0.weight', '0.bias'])
    """

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        self._length = 0
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end."""
        if not isinstance(module, Module):
            raise ModuleError(f"ModuleList holds modules; got a {type(module).__name__}.")
        setattr(self, str(self._length), module)
        self._length += 1
        return self

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ModuleList([getattr(self, str(i)) for i in range(self._length)[index]])
        if not -self._length <= index < self._length:
            raise IndexError(f"index {index} out of range for a ModuleList of {self._length}")
        return getattr(self, str(index % self._length))

    def __iter__(self) -> Iterator[Any]:
        return iter([getattr(self, str(i)) for i in range(self._length)])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise ModuleError("A ModuleList is not callable: iterate over it (for layer in self.layers: ...), "
                          "or use nn.Sequential to chain its modules.")


class Sequential(ModuleList):
    """Modules applied in order; ``key`` (if given) is passed to those that take one.

    Example:
        >>> import unified as u
        >>> from unified import nn
        >>> mlp = nn.Sequential(nn.Linear(3, 8), nn.GELU(), nn.Linear(8, 2))
        >>> tuple(mlp(u.ops.ones((4, 3))).shape)
        (4, 2)
    """

    def __init__(self, *modules: Module) -> None:
        if len(modules) == 1 and isinstance(modules[0], (list, tuple)):
            modules = tuple(modules[0])
        super().__init__(modules)

    def __call__(self, x: Array, *, key: Array | None = None) -> Array:
        for layer in self:
            x = layer(x, key=key) if key is not None and accepts_key(layer) else layer(x)
        return x


class ModuleDict(Module):
    """A dict of modules, registered as submodules under their keys.

    Example:
        >>> from unified import nn
        >>> heads = nn.ModuleDict({"policy": nn.Linear(4, 2), "value": nn.Linear(4, 1)})
        >>> list(heads.keys()), heads["value"].out_features
        (['policy', 'value'], 1)
    """

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        self._keys: tuple[str, ...] = ()
        for k, m in (modules or {}).items():
            self[k] = m

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise ModuleError(f"ModuleDict keys are non-empty strings without dots; got {key!r}.")
        if not isinstance(module, Module):
            raise ModuleError(f"ModuleDict holds modules; got a {type(module).__name__} at {key!r}.")
        setattr(self, key, module)
        if key not in self._keys:
            self._keys = (*self._keys, key)

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys:
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def keys(self) -> list[str]:
        return list(self._keys)

    def values(self) -> list[Any]:
        return [getattr(self, k) for k in self._keys]

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self._keys]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise ModuleError("A ModuleDict is not callable: call the module you need, e.g. self.heads['policy'](x).")
