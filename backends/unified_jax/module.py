"""Modules for JAX: every unified module's JAX twin is a mutable Python object and a pytree.

Children (traced by ``jax.jit``, differentiated by ``jax.grad``) are the
attributes holding arrays, modules, or lists/tuples/dicts of them; every other
attribute (ints, strings, activation functions, the ``training`` flag) is
static structure, so changing it compiles anew, as a static argument would.
Which array attributes are parameters and which buffers is recorded in two
static attributes, so gradients are taken with respect to parameters only.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import numpy as np

from unified._errors import UnifiedError
from unified.nn import _module

_PARAMS = "_unified_params"  # frozenset of attribute names holding parameters
_BUFFERS = "_unified_buffers"  # tuple of (name, persistent) for attributes holding buffers
_CHILDREN = "_unified_children"  # set by unflatten: which attributes are pytree children
_STATIC_TYPES = (int, float, bool, str, bytes, type(None), complex)


class _Marked(NamedTuple):
    """What ``nn.Parameter(x)`` / ``nn.Buffer(x)`` give under JAX, until assigned."""

    value: jax.Array
    kind: str
    persistent: bool = True


class IncompatibleKeys(NamedTuple):
    """``load_state_dict``'s result, as torch's: keys it lacked, and keys it did not use."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _is_data(v: Any) -> bool:
    t = type(v)
    if t in _STATIC_TYPES:
        return False
    if isinstance(v, (jax.Array, np.ndarray, JaxModule)):
        return True
    if t in (list, tuple):
        return any(_is_data(x) for x in v)
    if t is dict:
        return any(_is_data(x) for x in v.values())
    if callable(v) or isinstance(v, type):
        return False
    # another pytree (an optax state, an equinox module): data if JAX sees a node
    return not jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(v))


class _Unhashable:
    """A static attribute that cannot be hashed (a list of ints): compared by value."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Unhashable) and type(self.value) is type(other.value) and self.value == other.value

    def __hash__(self) -> int:
        return hash(type(self.value).__name__)


def _static(v: Any) -> Any:
    try:
        hash(v)
        return v
    except TypeError:
        return _Unhashable(v)


def _partition(m: JaxModule) -> tuple[list[tuple[str, Any]], Any]:
    """(children as (name, value), aux). aux is the attribute order and the static items."""
    d = m.__dict__
    # After an unflatten, the children are the names recorded then: libraries such as
    # equinox rebuild pytrees with placeholder leaves (None, bools) that must stay children.
    recorded = d.get(_CHILDREN)
    children, static, order = [], [], []
    for k, v in d.items():
        if k == _CHILDREN:
            continue
        order.append(k)
        if (k in recorded) if recorded is not None else _is_data(v):
            children.append((k, v))
        else:
            static.append((k, _static(v)))
    return children, (tuple(order), tuple(static))


def _flatten_with_keys(m: JaxModule) -> tuple[list[tuple[Any, Any]], Any]:
    children, aux = _partition(m)
    return [(jax.tree_util.GetAttrKey(k), v) for k, v in children], aux


def _flatten(m: JaxModule) -> tuple[list[Any], Any]:
    children, aux = _partition(m)
    return [v for _, v in children], aux


def _unflatten(twin: type, aux: Any, children: Any) -> Any:
    order, static = aux
    values = {k: (v.value if type(v) is _Unhashable else v) for k, v in static}
    it = iter(children)
    obj = object.__new__(twin)
    d = obj.__dict__
    d.update({k: values[k] if k in values else next(it) for k in order})
    d[_CHILDREN] = frozenset(k for k in order if k not in values)
    return obj


class JaxModule:
    """The JAX base of every twin: torch's module API over plain attributes."""

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        d.pop(_CHILDREN, None)  # an assignment may turn a static attribute into data: decide anew
        params: frozenset[str] = d.get(_PARAMS, frozenset())
        buffers = dict(d.get(_BUFFERS, ()))
        if isinstance(value, _Marked):
            if value.kind == "parameter":
                params, _ = params | {name}, buffers.pop(name, None)
            else:
                params, buffers[name] = params - {name}, value.persistent
            value = value.value
        else:
            value = _module.containerize(value, "jax")
            if isinstance(value, JaxModule) or (value is not None and not isinstance(value, jax.Array)
                                                and name in params | buffers.keys()):
                params, _ = params - {name}, buffers.pop(name, None)
        object.__setattr__(self, _PARAMS, params)
        object.__setattr__(self, _BUFFERS, tuple(buffers.items()))
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self.__dict__.pop(_CHILDREN, None)
        object.__setattr__(self, _PARAMS, self.__dict__.get(_PARAMS, frozenset()) - {name})
        object.__setattr__(self, _BUFFERS, tuple((k, p) for k, p in self.__dict__.get(_BUFFERS, ()) if k != name))
        object.__delattr__(self, name)

    def __reduce_ex__(self, protocol: Any) -> Any:
        return _module.rebuild, (type(self).__unified_original__, "jax"), dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # -- the module tree, with torch's names and order ----------------------

    def named_children(self) -> Iterator[tuple[str, JaxModule]]:
        for k, v in self.__dict__.items():
            if isinstance(v, JaxModule):
                yield k, v

    def children(self) -> Iterator[JaxModule]:
        for _, v in self.named_children():
            yield v

    def named_modules(self, memo: set[int] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, JaxModule]]:
        memo = set() if memo is None else memo
        if remove_duplicate and id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self) -> Iterator[JaxModule]:
        for _, m in self.named_modules():
            yield m

    def _own(self, kind: str) -> Iterator[tuple[str, Any]]:
        if kind == "parameters":
            names: Any = self.__dict__.get(_PARAMS, frozenset())
        else:
            names = dict(self.__dict__.get(_BUFFERS, ()))
        for k, v in self.__dict__.items():
            if k in names and v is not None:
                yield k, v

    def _named(self, kind: str, prefix: str, recurse: bool, remove_duplicate: bool) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [
            (prefix, self)]
        for mod_prefix, m in modules:
            for k, v in m._own(kind):
                if remove_duplicate and id(v) in seen:
                    continue
                seen.add(id(v))
                yield (f"{mod_prefix}.{k}" if mod_prefix else k), v

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, jax.Array]]:
        """``(name, array)`` for every parameter: own ones first, then each child's, as torch."""
        return self._named("parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[jax.Array]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, jax.Array]]:
        return self._named("buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[jax.Array]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def state_dict(self, prefix: str = "") -> OrderedDict[str, jax.Array]:
        """Parameters and persistent buffers by dotted name, in torch's order."""
        out: OrderedDict[str, jax.Array] = OrderedDict()
        for mod_prefix, m in self.named_modules(prefix=prefix.rstrip(".")):
            persistent = dict(m.__dict__.get(_BUFFERS, ()))
            params = m.__dict__.get(_PARAMS, frozenset())
            for kind in ("parameters", "buffers"):
                for k, v in m.__dict__.items():
                    if v is None:
                        continue
                    if (kind == "parameters" and k in params) or (kind == "buffers" and persistent.get(k)):
                        out[f"{mod_prefix}.{k}" if mod_prefix else k] = v
        return out

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays into this module by name (in place); as ``torch.nn.Module.load_state_dict``."""
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        wrong = [f"{k}: expected {tuple(own[k].shape)}, got {tuple(np.shape(v))}"
                 for k, v in state_dict.items() if k in own and tuple(np.shape(v)) != tuple(own[k].shape)]
        if strict and (missing or unexpected or wrong):
            raise UnifiedError(
                f"load_state_dict into {type(self).__name__}: "
                + "; ".join(part for part in (
                    f"missing keys {missing}" if missing else "",
                    f"unexpected keys {unexpected}" if unexpected else "",
                    f"wrong shapes {wrong}" if wrong else "") if part)
                + ". Pass strict=False to load what matches."
            )
        modules = dict(self.named_modules())
        for k, v in state_dict.items():
            if k not in own or tuple(np.shape(v)) != tuple(own[k].shape):
                continue
            owner_name, _, attr = k.rpartition(".")
            target = modules[owner_name]
            object.__setattr__(target, attr, jax.numpy.asarray(v, dtype=own[k].dtype))
        return IncompatibleKeys(missing, unexpected)

    def train(self, mode: bool = True) -> JaxModule:
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> JaxModule:
        return self.train(False)

    def apply(self, fn: Callable[[Any], Any]) -> JaxModule:
        for m in list(self.children()):
            m.apply(fn)
        fn(self)
        return self

    def to(self, device: Any) -> JaxModule:
        """Move every array of this module to ``device``, in place (as torch's ``Module.to``)."""
        if isinstance(device, str):
            from unified_jax.core import parse_device

            device = parse_device(device)
        for m in self.modules():
            for k, v in list(m.__dict__.items()):
                if _is_data(v) and not isinstance(v, JaxModule):
                    object.__setattr__(m, k, jax.device_put(v, device))
        return self


def make_twin(cls: type, compute: Callable[..., Any]) -> type:
    namespace = {
        "__unified_backend__": "jax",
        "__unified_original__": cls,
        "__unified_compute__": compute,
        "__call__": compute,
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
    }
    twin = type(cls.__name__, (cls, JaxModule), namespace)
    jax.tree_util.register_pytree_with_keys(
        twin, _flatten_with_keys, lambda aux, children: _unflatten(twin, aux, children), flatten_func=_flatten)
    return twin


def new(twin: type) -> Any:
    obj = object.__new__(twin)
    obj.__dict__.update({"training": True, _PARAMS: frozenset(), _BUFFERS: ()})
    return obj


def parameter(value: jax.Array) -> _Marked:
    return _Marked(value, "parameter")


def buffer(value: jax.Array, persistent: bool) -> _Marked:
    return _Marked(value, "buffer", persistent)


def params(module: JaxModule) -> dict[str, jax.Array]:
    return dict(module.named_parameters())


def _shallow(m: JaxModule) -> JaxModule:
    obj = object.__new__(type(m))
    obj.__dict__.update(m.__dict__)
    return obj


def replace_params(module: JaxModule, values: dict[str, jax.Array]) -> JaxModule:
    """A copy of ``module`` with the named parameters replaced (submodules copied on the way)."""
    out = _shallow(module)
    copies: dict[str, JaxModule] = {"": out}

    def owner(path: str) -> JaxModule:
        if path in copies:
            return copies[path]
        parent_path, _, attr = path.rpartition(".")
        parent = owner(parent_path)
        child = _shallow(getattr(parent, attr))
        object.__setattr__(parent, attr, child)
        copies[path] = child
        return child

    for name, value in values.items():
        path, _, attr = name.rpartition(".")
        object.__setattr__(owner(path), attr, value)
    return out


@contextlib.contextmanager
def bind(module: JaxModule, values: dict[str, jax.Array]) -> Iterator[JaxModule]:
    yield replace_params(module, values)


def differentiate(fun: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], argnum: int,
                  has_aux: bool) -> None:
    return None  # jax.grad handles every module, sharded or not
