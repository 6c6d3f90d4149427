"""Pytrees: nested containers of arrays, flattened and rebuilt the same way on every backend.

A pytree is a leaf (an array, a scalar, anything unknown) or a node whose
children are pytrees. Nodes are: ``None`` (no children), ``tuple``, ``list``,
``dict`` (children in sorted key order, as JAX; ``OrderedDict`` keeps insertion
order), named tuples, dataclasses (fields marked
``field(metadata={"static": True})`` are structure, not children), and anything
registered as a node with the active backend's framework (flax and equinox
modules, `unified` modules under JAX, ``torch.utils._pytree`` nodes).

The traversal is written here once, in plain Python, so that the leaf order
(which decides, for example, the summation order of a global gradient norm) is
identical on torch and JAX.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from unified import _backend
from unified._errors import UnifiedError

__all__ = [
    "TreeDef",
    "flatten",
    "flatten_with_path",
    "keystr",
    "leaves",
    "leaves_with_path",
    "map",
    "map_with_path",
    "reduce",
    "structure",
    "unflatten",
]

_LEAF_TYPES = frozenset({int, float, complex, bool, str, bytes, type(Ellipsis)})

# node kinds
_LEAF, _NONE, _TUPLE, _LIST, _DICT, _ODICT, _DDICT, _NAMEDTUPLE, _DATACLASS, _FOREIGN = range(10)


class TreeStructureError(UnifiedError, ValueError):
    """Two pytrees that should have the same structure do not."""


class TreeDef:
    """The structure of a pytree: everything but its leaves.

    Compare two with ``==``; rebuild a tree with :meth:`unflatten`.
    """

    __slots__ = ("aux", "children", "kind", "num_leaves")
    kind: int
    aux: Any
    children: tuple[TreeDef, ...]
    num_leaves: int

    def __init__(self, kind: int, aux: Any, children: tuple[TreeDef, ...]) -> None:
        self.kind = kind
        self.aux = aux
        self.children = children
        self.num_leaves = 1 if kind == _LEAF else sum(c.num_leaves for c in children)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TreeDef)
            and self.kind == other.kind
            and self.aux == other.aux
            and self.children == other.children
        )

    def __hash__(self) -> int:
        aux = self.aux
        try:
            h = hash(aux)
        except TypeError:
            h = hash(type(aux))
        return hash((self.kind, h, self.children))

    def __repr__(self) -> str:
        if self.kind == _LEAF:
            return "*"
        inner = ", ".join(map(repr, self.children))
        names = {_NONE: "None", _TUPLE: "tuple", _LIST: "list", _DICT: "dict", _ODICT: "OrderedDict",
                 _DDICT: "defaultdict"}
        if self.kind in names:
            return f"{names[self.kind]}({inner})"
        return f"{_node_type(self).__name__}({inner})"

    def unflatten(self, leaves: Iterable[Any]) -> Any:
        """The tree with this structure and ``leaves`` (in :func:`flatten` order)."""
        it = iter(leaves)
        out = _build(self, it)
        if next(it, _SENTINEL) is not _SENTINEL:
            raise TreeStructureError(f"unflatten: more than the {self.num_leaves} leaves this structure holds.")
        return out

    def flatten_up_to(self, tree: Any) -> list[Any]:
        """The subtrees of ``tree`` at the places of this structure's leaves.

        ``tree`` must have this structure as a prefix (it may go deeper at the leaves).
        """
        out: list[Any] = []
        _up_to(self, tree, out, ())
        return out


_SENTINEL = object()


def _node_type(td: TreeDef) -> type:
    if td.kind in (_NAMEDTUPLE, _DATACLASS):
        return td.aux[0]
    if td.kind == _FOREIGN:
        return td.aux[1]
    return object


def _dict_keys(d: dict[Any, Any]) -> tuple[Any, ...]:
    try:
        return tuple(sorted(d))
    except TypeError:
        return tuple(d)


def _children(x: Any) -> tuple[int, Any, list[Any], tuple[Any, ...]] | None:
    """(kind, aux, children, keys) of a node, or None for a leaf."""
    t = type(x)
    if t is tuple:
        return _TUPLE, len(x), list(x), tuple(range(len(x)))
    if t is list:
        return _LIST, len(x), list(x), tuple(range(len(x)))
    if t is dict:
        keys = _dict_keys(x)
        return _DICT, keys, [x[k] for k in keys], keys
    if x is None:
        return _NONE, None, [], ()
    if t in _LEAF_TYPES:
        return None
    owner = _backend._TYPE_TO_BACKEND.get(t)
    if owner is None and t not in _backend._FOREIGN:
        owner = _backend.owner(x)  # an array subclass (a DTensor, a tracer) is found and cached here
    if owner is not None and not hasattr(t, "__unified_backend__"):
        return None  # a backend array: a leaf (modules go on to their framework's registry below)
    if t is collections.OrderedDict:
        keys = tuple(x)
        return _ODICT, keys, [x[k] for k in keys], keys
    if t is collections.defaultdict:
        keys = _dict_keys(x)
        return _DDICT, (x.default_factory, keys), [x[k] for k in keys], keys
    if isinstance(x, tuple) and hasattr(t, "_fields"):
        return _NAMEDTUPLE, (t,), list(x), tuple(t._fields)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        names, static = _dataclass_fields(t)
        aux = (t, names, tuple((n, getattr(x, n)) for n in static))
        return _DATACLASS, aux, [getattr(x, n) for n in names], names
    for backend in _backend._loaded.values():
        node = backend.core.tree_node(x)
        if node is not None:
            kids, kid_keys, token = node
            return _FOREIGN, (backend.name, t, token), list(kids), tuple(kid_keys)
    return None


_FIELDS: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _dataclass_fields(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        return _FIELDS[cls]
    except KeyError:
        fields = dataclasses.fields(cls)
        names = tuple(f.name for f in fields if not f.metadata.get("static", False))
        static = tuple(f.name for f in fields if f.metadata.get("static", False))
        _FIELDS[cls] = (names, static)
        return names, static


def _flatten(x: Any, is_leaf: Callable[[Any], bool] | None, leaves: list[Any],
             paths: list[tuple[Any, ...]] | None, path: tuple[Any, ...]) -> TreeDef:
    if is_leaf is not None and is_leaf(x):
        node = None
    else:
        node = _children(x)
    if node is None:
        leaves.append(x)
        if paths is not None:
            paths.append(path)
        return _LEAF_DEF
    kind, aux, children, keys = node
    if paths is None:
        defs = tuple(_flatten(c, is_leaf, leaves, None, ()) for c in children)
    else:
        defs = tuple(_flatten(c, is_leaf, leaves, paths, (*path, k)) for c, k in zip(children, keys))
    return TreeDef(kind, aux, defs)


_LEAF_DEF = TreeDef(_LEAF, None, ())


def _rebuild(td: TreeDef, children: list[Any]) -> Any:
    kind, aux = td.kind, td.aux
    if kind == _TUPLE:
        return tuple(children)
    if kind == _LIST:
        return children
    if kind == _DICT:
        return dict(zip(aux, children))
    if kind == _NONE:
        return None
    if kind == _ODICT:
        return collections.OrderedDict(zip(aux, children))
    if kind == _DDICT:
        return collections.defaultdict(aux[0], zip(aux[1], children))
    if kind == _NAMEDTUPLE:
        return aux[0](*children)
    if kind == _DATACLASS:
        cls, names, static = aux
        # Built without __init__/__post_init__ (as equinox does): leaves may be
        # tracers or placeholders that a user's __post_init__ cannot handle.
        obj = object.__new__(cls)
        for n, v in zip(names, children):
            object.__setattr__(obj, n, v)
        for n, v in static:
            object.__setattr__(obj, n, v)
        return obj
    backend_name, _, token = aux
    return _backend.load_backend(backend_name).core.tree_rebuild(token, children)


def _build(td: TreeDef, it: Iterator[Any]) -> Any:
    if td.kind == _LEAF:
        leaf = next(it, _SENTINEL)
        if leaf is _SENTINEL:
            raise TreeStructureError("unflatten: fewer leaves than the structure holds.")
        return leaf
    return _rebuild(td, [_build(c, it) for c in td.children])


def _up_to(td: TreeDef, x: Any, out: list[Any], path: tuple[Any, ...]) -> None:
    if td.kind == _LEAF:
        out.append(x)
        return
    node = _children(x)
    if node is None or node[0] != td.kind or (node[1] != td.aux and td.kind != _FOREIGN) or (
        len(node[2]) != len(td.children)
    ):
        got = "a leaf" if node is None else repr(_flatten(x, None, [], None, ()))
        raise TreeStructureError(
            f"The trees differ at {keystr(path) or 'the root'}: expected {td!r} there, got {got} "
            f"({type(x).__name__}). Trees passed together must have the same structure."
        )
    for child_def, child, key in zip(td.children, node[2], node[3]):
        _up_to(child_def, child, out, (*path, key))


# ----------------------------------------------------------------------------
# public API


def flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list[Any], TreeDef]:
    """The leaves of ``tree`` in order, and its structure.

    Args:
        tree: a pytree.
        is_leaf: optional predicate; a subtree for which it is true is a leaf.

    Example:
        >>> import unified as u
        >>> leaves, treedef = u.tree.flatten({"b": [1, 2], "a": (3, None)})
        >>> leaves
        [3, 1, 2]
        >>> u.tree.unflatten(treedef, [30, 10, 20])
        {'a': (30, None), 'b': [10, 20]}
    """
    leaves_: list[Any] = []
    return leaves_, _flatten(tree, is_leaf, leaves_, None, ())


def unflatten(treedef: TreeDef, leaves: Iterable[Any]) -> Any:
    """The pytree with structure ``treedef`` and the given leaves; inverse of :func:`flatten`.

    Example:
        >>> import unified as u
        >>> _, treedef = u.tree.flatten([1, (2, 3)])
        >>> u.tree.unflatten(treedef, "abc")
        ['a', ('b', 'c')]
    """
    return treedef.unflatten(leaves)


def leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list[Any]:
    """The leaves of ``tree``, in :func:`flatten` order.

    Example:
        >>> import unified as u
        >>> u.tree.leaves({"x": 1, "y": [2, None, 3]})
        [1, 2, 3]
    """
    out: list[Any] = []
    _flatten(tree, is_leaf, out, None, ())
    return out


def structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> TreeDef:
    """The structure of ``tree`` (its :class:`TreeDef`).

    Example:
        >>> import unified as u
        >>> u.tree.structure({"a": 1, "b": 2}) == u.tree.structure({"a": 5.0, "b": "x"})
        True
    """
    return _flatten(tree, is_leaf, [], None, ())


def map(f: Callable[..., Any], tree: Any, *rest: Any, is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """A tree of ``f(leaf, *corresponding leaves of rest)``, with the structure of ``tree``.

    Each tree in ``rest`` must have ``tree``'s structure (or deeper subtrees at
    its leaves, which are passed to ``f`` whole).

    Example:
        >>> import unified as u
        >>> u.tree.map(lambda a, b: a + b, {"w": 1, "b": 2}, {"w": 10, "b": 20})
        {'b': 22, 'w': 11}
    """
    leaves_, treedef = flatten(tree, is_leaf)
    if not rest:
        return treedef.unflatten([f(x) for x in leaves_])
    others = [treedef.flatten_up_to(r) for r in rest]
    return treedef.unflatten([f(*xs) for xs in zip(leaves_, *others)])


def flatten_with_path(
    tree: Any, is_leaf: Callable[[Any], bool] | None = None
) -> tuple[list[tuple[tuple[Any, ...], Any]], TreeDef]:
    """As :func:`flatten`, pairing each leaf with its path (a tuple of keys, indices, field names).

    Example:
        >>> import unified as u
        >>> pairs, _ = u.tree.flatten_with_path({"layers": [{"w": 1}], "b": 2})
        >>> [(u.tree.keystr(p), x) for p, x in pairs]
        [('b', 2), ('layers.0.w', 1)]
    """
    leaves_: list[Any] = []
    paths: list[tuple[Any, ...]] = []
    treedef = _flatten(tree, is_leaf, leaves_, paths, ())
    return list(zip(paths, leaves_)), treedef


def leaves_with_path(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list[tuple[tuple[Any, ...], Any]]:
    """``(path, leaf)`` pairs in :func:`flatten` order.

    Example:
        >>> import unified as u
        >>> u.tree.leaves_with_path((1, {"a": 2}))
        [((0,), 1), ((1, 'a'), 2)]
    """
    return flatten_with_path(tree, is_leaf)[0]


def map_with_path(f: Callable[..., Any], tree: Any, *rest: Any,
                  is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """As :func:`map`, calling ``f(path, leaf, *others)``.

    Example:
        >>> import unified as u
        >>> u.tree.map_with_path(lambda p, x: u.tree.keystr(p), {"a": [0, 0]})
        {'a': ['a.0', 'a.1']}
    """
    pairs, treedef = flatten_with_path(tree, is_leaf)
    others = [treedef.flatten_up_to(r) for r in rest]
    return treedef.unflatten([f(p, x, *xs) for (p, x), *xs in zip(pairs, *others)])


def keystr(path: tuple[Any, ...], separator: str = ".") -> str:
    """A path as a dotted string, as in ``named_parameters()``: ``("blocks", 0, "w") -> "blocks.0.w"``.

    Example:
        >>> import unified as u
        >>> u.tree.keystr(("blocks", 0, "attn"))
        'blocks.0.attn'
    """
    return separator.join(str(k) for k in path)


def reduce(f: Callable[[Any, Any], Any], tree: Any, initializer: Any = _SENTINEL,
           is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """``f`` folded over the leaves, left to right (as ``functools.reduce``).

    Example:
        >>> import unified as u
        >>> u.tree.reduce(lambda a, b: a + b, {"x": 1, "y": [2, 3]})
        6
    """
    import functools

    xs = leaves(tree, is_leaf)
    if initializer is _SENTINEL:
        return functools.reduce(f, xs)
    return functools.reduce(f, xs, initializer)


def dataclass_types(tree: Any) -> set[type]:
    """Dataclass types found among the builtin containers of ``tree`` (not inside leaves)."""
    found: set[type] = set()
    stack = [tree]
    while stack:
        x = stack.pop()
        t = type(x)
        if t in _LEAF_TYPES or t in _backend._TYPE_TO_BACKEND:
            continue
        if t in (tuple, list) or (isinstance(x, tuple) and hasattr(t, "_fields")):
            stack.extend(x)
        elif isinstance(x, dict):
            stack.extend(x.values())
        elif dataclasses.is_dataclass(x) and not isinstance(x, type):
            found.add(t)
            stack.extend(getattr(x, n) for n in _dataclass_fields(t)[0])
    return found
