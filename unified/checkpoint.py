"""Checkpoints: a model, its optimizer state and a step counter in one safe file, loadable on any backend.

A checkpoint is a safetensors file (see ``unified/_safetensors.py``). Each array of the saved tree is a
tensor named by its dotted path (``"opt_state.mu.0.weight"``); a module contributes its ``state_dict()``
under its path (``"model.blocks.0.attn.weight"``; a module saved on its own gives exactly its
``state_dict()`` names, so the file is also a plain state-dict file for other tools). Everything else
(Python numbers, strings, ``None`` and the shape of the tree) is JSON in the header's metadata, under
``"unified.tree"``. Nothing is pickled, so loading a file never runs code from it.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from unified import _backend, _safetensors, tree
from unified._errors import CheckpointError, DTypeError
from unified._version import __version__

__all__ = ["CheckpointError", "load", "read_metadata", "save"]

_TREE = "unified.tree"  # the structure and the non-array leaves, as JSON
_FORMAT = "unified.format"
_RESERVED = "unified."
_SCALARS = (bool, int, float, str)
PathLike = str | os.PathLike[str]


def save(path: PathLike, tree: Any, *, metadata: Mapping[str, str] | None = None) -> None:
    """Save a module, an array, or a pytree of them (with numbers and strings) to a safetensors file.

    The file is written atomically (to a temporary file, fsynced, then renamed over ``path``): a crash
    leaves the previous checkpoint in place, never half of a new one. A CRC32 of the data and of the
    header is stored and checked on load.

    Args:
        path: where to write; any existing file there is replaced. ``.safetensors`` is the usual suffix.
        tree: a module, an array, or dicts, lists, tuples, named tuples and dataclasses whose leaves are
            arrays (of any backend, or numpy), modules, ``bool``, ``int``, ``float``, ``str`` or ``None``;
            e.g. ``{"model": model, "opt_state": state, "step": 10}``.
        metadata: extra ``str -> str`` entries for the file's header (read them back with
            :func:`read_metadata`); keys starting with ``"unified."`` are reserved.

    Raises:
        CheckpointError: a leaf that cannot be stored (an object, a complex array), a dict key that is
            not a str or int, two leaves with the same dotted name, or bad metadata.
        OSError: the file cannot be written (``path`` is left as it was).

    Example:
        >>> import os, tempfile
        >>> import unified as u
        >>> from unified import nn
        >>> model = nn.Linear(3, 2)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     u.save(os.path.join(d, "ckpt.safetensors"), {"model": model, "step": 10})
        ...     loaded = u.load(os.path.join(d, "ckpt.safetensors"))
        >>> sorted(loaded["model"]), loaded["step"]
        (['bias', 'weight'], 10)
    """
    extra = dict(metadata or {})
    for key, value in extra.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise CheckpointError(f"metadata must map str to str; got {key!r}: {value!r}. Convert values with "
                                  "str() or json.dumps().")
        if key.startswith(_RESERVED):
            raise CheckpointError(f"metadata key {key!r} starts with {_RESERVED!r}, which unified reserves for "
                                  "itself; choose another name.")
    tensors: dict[str, np.ndarray] = {}
    values: dict[str, Any] = {}
    spec = _encode(tree, (), tensors, values)
    extra[_FORMAT] = "1"
    extra["unified.version"] = __version__
    extra[_TREE] = json.dumps(spec, separators=(",", ":"), ensure_ascii=False)
    _safetensors.write(path, tensors, extra)


def load(path: PathLike, like: Any = None) -> Any:
    """Load a checkpoint: into the structure of ``like`` if given, else as it was saved.

    With ``like`` (a tree of the structure saved, such as a freshly built model, on either backend),
    the whole file is checked against it first; then modules in ``like`` are filled in place with
    ``load_state_dict`` and returned, arrays become new arrays of the backend, dtype and device of the
    matching ``like`` leaf, and numbers and strings come from the file. Any file holding the right
    names loads this way, including a plain state-dict file written by another tool.

    Without ``like``, the saved tree comes back with arrays on the active backend (in their saved
    dtype where the backend has it); modules come back as dicts of their state, named tuples and
    dataclasses as dicts of their fields. A safetensors file from another tool comes back as a flat
    dict of its tensors.

    Args:
        path: a file written by :func:`save`, or any safetensors file.
        like: optional tree giving the structure, backend and dtypes to load into.

    Returns:
        The loaded tree (``like`` itself, filled, when ``like`` is a module).

    Raises:
        CheckpointError: the file is truncated, corrupted or malformed; or it does not fit ``like``:
            one error lists every missing key, unexpected key and wrong shape, and nothing is changed.
        OSError: the file cannot be opened.

    Example:
        >>> import os, tempfile
        >>> import unified as u
        >>> from unified import nn
        >>> trained = nn.Linear(3, 2)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     u.save(os.path.join(d, "model.safetensors"), trained)
        ...     model = u.load(os.path.join(d, "model.safetensors"), like=nn.Linear(3, 2))
        >>> bool((u.to_numpy(model.weight) == u.to_numpy(trained.weight)).all())
        True
    """
    name = os.fspath(path)
    tensors, metadata = _safetensors.read(name)
    spec = _spec(metadata, name)
    if spec is None:  # another tool's file: its tensors are all there is
        values: dict[str, Any] = {}
    else:
        names: set[str] = set()
        values = {}
        _index(spec, (), names, values, name)
        if names != set(tensors):
            raise CheckpointError(
                f"{name} is damaged: its structure (the {_TREE!r} metadata) names tensors the file lacks "
                f"({sorted(names - set(tensors))}) or lacks tensors the file holds ({sorted(set(tensors) - names)})."
            )
    if like is not None:
        return _fill(like, tensors, values, name)
    backend = _backend.get_backend()

    def to_array(a: np.ndarray) -> Any:
        try:
            return backend.core.asarray(a, a.dtype.name, None)
        except DTypeError:  # a 64-bit type the backend cannot hold (JAX without x64): its 32-bit twin
            return backend.core.asarray(a, None, None)

    if spec is None:
        return {k: to_array(a) for k, a in tensors.items()}
    return _decode(spec, (), tensors, to_array)


def read_metadata(path: PathLike) -> dict[str, str]:
    """The ``metadata`` given to :func:`save` (or another writer's), read without loading any array.

    Example:
        >>> import os, tempfile
        >>> import unified as u
        >>> from unified.checkpoint import read_metadata
        >>> with tempfile.TemporaryDirectory() as d:
        ...     u.save(os.path.join(d, "ckpt.safetensors"), {"w": u.ops.zeros(2)}, metadata={"run": "baseline"})
        ...     read_metadata(os.path.join(d, "ckpt.safetensors"))
        {'run': 'baseline'}
    """
    _, metadata = _safetensors.read_header(path)
    return {k: v for k, v in metadata.items() if not k.startswith(_RESERVED)}


# ------------------------------------------------------------------------------------------------ saving


def _is_module(x: Any) -> bool:
    return hasattr(type(x), "__unified_backend__")


def _is_array(x: Any) -> bool:
    return isinstance(x, np.ndarray | np.generic) or (_backend.owner(x) is not None and not _is_module(x))


def _name(path: tuple[Any, ...]) -> str:
    return tree.keystr(path)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _encode(x: Any, path: tuple[Any, ...], tensors: dict[str, np.ndarray], values: dict[str, Any]) -> Any:
    """The JSON description of ``x``; its arrays go into ``tensors`` and its scalars into ``values``."""
    name = _name(path)

    def claim(key: str) -> None:
        if key in tensors or key in values:
            raise CheckpointError(f"Two leaves of the tree are both named {key!r} (dict keys with dots can collide "
                                  "with nested dicts); rename one.")

    if _is_module(x):
        keys = []
        for k, v in x.state_dict().items():
            claim(_join(name, k))
            tensors[_join(name, k)] = _numpy(v, _join(name, k))
            keys.append(k)
        return {"type": "module", "keys": keys}
    if _is_array(x):
        claim(name)
        tensors[name] = _numpy(x, name)
        return {"type": "array"}
    if x is None:
        return {"type": "none"}
    t = type(x)
    if t in _SCALARS:
        claim(name)
        values[name] = x
        return {"type": "value", "value": x}
    if t is list or t is tuple:
        return {"type": t.__name__, "items": [_encode(c, (*path, i), tensors, values) for i, c in enumerate(x)]}
    if t in (dict, collections.OrderedDict, collections.defaultdict):
        bad = [k for k in x if type(k) not in (str, int)]
        if bad:
            raise CheckpointError(f"The dict at {name or 'the root'} has keys {bad!r:.200}; a checkpoint names "
                                  "entries by str or int keys.")
        return {"type": "dict", "items": [[k, _encode(v, (*path, k), tensors, values)] for k, v in x.items()]}
    if isinstance(x, tuple) and hasattr(t, "_fields"):
        fields: tuple[str, ...] = t._fields
    elif dataclasses.is_dataclass(x) and not isinstance(x, type):
        # the fields tree.flatten sees (those marked static are structure, kept by `like`)
        fields = tuple(f.name for f in dataclasses.fields(x) if not f.metadata.get("static", False))
    else:
        hint = "pass its state_dict() instead" if hasattr(x, "state_dict") else "convert it (e.g. to a dict of arrays)"
        raise CheckpointError(
            f"Cannot save the {t.__module__}.{t.__qualname__} at {name or 'the root'}: a checkpoint holds arrays, "
            f"modules, bool, int, float, str and None, in dicts, lists, tuples, named tuples and dataclasses; {hint}."
        )
    items = [[f, _encode(getattr(x, f), (*path, f), tensors, values)] for f in fields]
    return {"type": "dict", "items": items, "class": f"{t.__module__}.{t.__qualname__}"}


def _numpy(x: Any, name: str) -> np.ndarray:
    b = _backend.owner(x)
    a = np.asarray(x) if b is None else b.core.to_numpy(x)
    if a.dtype.name not in _safetensors.DTYPES.values():
        raise CheckpointError(
            f"Cannot save {name or 'the root array'}: it is {a.dtype.name}, and a checkpoint holds "
            f"{', '.join(_safetensors.DTYPES.values())} arrays. Convert it first (complex as two real arrays)."
        )
    return a


# ------------------------------------------------------------------------------------------------ loading


def _spec(metadata: dict[str, str], name: str) -> Any:
    text = metadata.get(_TREE)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{name} is damaged: its {_TREE!r} metadata is not valid JSON ({e.msg}).") from e


def _index(spec: Any, path: tuple[Any, ...], names: set[str], values: dict[str, Any], file: str) -> None:
    """Collect the tensor names and the scalar values a structure description holds, checking it."""
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind == "array":
        names.add(_name(path))
    elif kind == "module" and isinstance(spec.get("keys"), list):
        names.update(_join(_name(path), k) for k in spec["keys"])
    elif kind == "value" and type(spec.get("value")) in _SCALARS:
        values[_name(path)] = spec["value"]
    elif kind in ("list", "tuple") and isinstance(spec.get("items"), list):
        for i, child in enumerate(spec["items"]):
            _index(child, (*path, i), names, values, file)
    elif kind == "dict" and isinstance(spec.get("items"), list) and all(
            isinstance(item, list) and len(item) == 2 and type(item[0]) in (str, int) for item in spec["items"]):
        for k, child in spec["items"]:
            _index(child, (*path, k), names, values, file)
    elif kind != "none":
        raise CheckpointError(f"{file} is damaged: its {_TREE!r} metadata describes {_name(path) or 'the root'} as "
                              f"{spec!r:.200}, which is not a structure unified writes.")


def _decode(spec: dict[str, Any], path: tuple[Any, ...], tensors: dict[str, np.ndarray],
            to_array: Callable[[np.ndarray], Any]) -> Any:
    """The saved tree, from a description :func:`_index` has checked."""
    kind, name = spec["type"], _name(path)
    if kind == "array":
        return to_array(tensors[name])
    if kind == "module":
        return {k: to_array(tensors[_join(name, k)]) for k in spec["keys"]}
    if kind == "value":
        return spec["value"]
    if kind == "none":
        return None
    if kind == "dict":
        return {k: _decode(child, (*path, k), tensors, to_array) for k, child in spec["items"]}
    items = [_decode(child, (*path, i), tensors, to_array) for i, child in enumerate(spec["items"])]
    return items if kind == "list" else tuple(items)


def _fill(like: Any, tensors: dict[str, np.ndarray], values: dict[str, Any], file: str) -> Any:
    """``like`` with the file's values, after checking that every one fits."""
    leaves, _ = tree.flatten_with_path(like, is_leaf=_is_module)
    wanted: dict[str, Any] = {}  # name -> the leaf (or module state entry) it will replace
    missing: list[str] = []
    wrong_shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    problems: list[str] = []

    def want_array(name: str, target: Any) -> None:
        wanted[name] = target
        shape = tuple(int(s) for s in target.shape)
        if name in tensors:
            if tensors[name].shape != shape:
                wrong_shapes[name] = (shape, tensors[name].shape)
        elif name in values:
            problems.append(f"{name}: `like` has an array of shape {shape}, the file the value {values[name]!r:.80}")
        else:
            missing.append(name)

    for path, leaf in leaves:
        name = _name(path)
        if _is_module(leaf):
            for k, v in leaf.state_dict().items():
                want_array(_join(name, k), v)
        elif _is_array(leaf):
            want_array(name, leaf)
        elif type(leaf) in _SCALARS:
            wanted[name] = leaf
            if name in tensors:
                problems.append(f"{name}: `like` has the value {leaf!r:.80}, the file an array of shape "
                                f"{tensors[name].shape}")
            elif name not in values:
                missing.append(name)
        else:
            problems.append(f"{name or 'the root'}: `like` has an instance of {type(leaf).__qualname__}, which a "
                            "checkpoint cannot hold (it holds arrays, modules, bool, int, float, str and None)")
    unexpected = sorted(k for k in (*tensors, *values) if k not in wanted)
    if missing or unexpected or wrong_shapes or problems:
        lines = [f"{file} does not fit `like`; nothing was loaded."]
        if missing:
            lines.append(f"Missing from the file ({len(missing)}): {', '.join(missing)}")
        if unexpected:
            lines.append(f"Unexpected in the file, absent from `like` ({len(unexpected)}): {', '.join(unexpected)}")
        if wrong_shapes:
            lines.append(f"Wrong shapes ({len(wrong_shapes)}): " + ", ".join(
                f"{k} (`like` has {want}, the file {got})" for k, (want, got) in wrong_shapes.items()))
        lines.extend(problems)
        lines.append("Build `like` as the saved tree was built (same structure, configuration and sizes), or call "
                     "u.load(path) without `like` to see what the file holds.")
        raise CheckpointError("\n  ".join(lines), missing_keys=missing, unexpected_keys=unexpected,
                              wrong_shapes=wrong_shapes)

    # Everything fits: convert every array first, so that nothing is changed if a conversion fails.
    arrays = {k: _convert(tensors[k], target) for k, target in wanted.items() if k in tensors}

    def fill(path: tuple[Any, ...], leaf: Any) -> Any:
        name = _name(path)
        if _is_module(leaf):
            leaf.load_state_dict({k: arrays[_join(name, k)] for k in leaf.state_dict()})
            return leaf
        return arrays[name] if name in arrays else values[name]

    return tree.map_with_path(fill, like, is_leaf=_is_module)


def _convert(a: np.ndarray, target: Any) -> Any:
    """``a`` as an array like ``target``: same backend, dtype and device (numpy for numpy)."""
    b = _backend.owner(target)
    if b is None:
        out = np.array(a, dtype=target.dtype)
        return out[()] if isinstance(target, np.generic) else out
    return b.core.asarray(a, b.core.dtype_name(target), b.core.device_of(target))
