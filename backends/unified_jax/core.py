"""Arrays, dtypes, devices and pytree nodes for JAX."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from unified._errors import DeviceError, DTypeError

if os.environ.get("UNIFIED_DISABLE_JIT", "").strip().lower() in ("1", "true", "yes"):
    jax.config.update("jax_disable_jit", True)

array_types: tuple[type, ...] = (type(jnp.zeros(())),)

_DTYPES = {
    "bool": jnp.bool_, "int8": jnp.int8, "int16": jnp.int16, "int32": jnp.int32,
    "int64": jnp.int64, "uint8": jnp.uint8, "uint16": jnp.uint16, "uint32": jnp.uint32,
    "uint64": jnp.uint64, "float16": jnp.float16, "bfloat16": jnp.bfloat16,
    "float32": jnp.float32, "float64": jnp.float64, "complex64": jnp.complex64,
    "complex128": jnp.complex128,
}
_WIDE = {"int64", "uint64", "float64", "complex128"}


def is_array(x: object, /) -> bool:
    return isinstance(x, jax.Array)


def to_dtype(name: str, /) -> Any:
    if name in _WIDE and not jax.config.read("jax_enable_x64"):
        raise DTypeError(
            f"dtype {name!r} needs JAX's 64-bit mode, which is off: set JAX_ENABLE_X64=1 "
            "before importing JAX (or use the 32-bit type)."
        )
    return _DTYPES[name]


def dtype_name(x: Any, /) -> str:
    return x.dtype.name  # type: ignore[no-any-return]


def asarray(x: Any, /, dtype: str | None = None, device: Any = None) -> jax.Array:
    target = None if dtype is None else to_dtype(dtype)
    if isinstance(x, jax.Array):
        out = x if target is None else x.astype(target)
    else:
        if target is None and isinstance(x, (bool, int, float)):
            # Strongly typed (not JAX's weak types), so promotion matches torch's.
            target = jnp.bool_ if isinstance(x, bool) else (jnp.int32 if isinstance(x, int) else jnp.float32)
        elif target is None:
            a = np.asarray(x)
            wide = {"float64": jnp.float32, "int64": jnp.int32, "uint64": jnp.uint32,
                    "complex128": jnp.complex64}
            target = wide.get(a.dtype.name)  # 64-bit becomes 32-bit, quietly, as on torch
            x = a
        out = jnp.asarray(x, dtype=target)
    return out if device is None else jax.device_put(out, device)


def to_numpy(x: jax.Array, /) -> np.ndarray:
    return np.array(x)


def set_deterministic(enabled: bool, /) -> None:
    # XLA's CPU kernels are deterministic. On GPU, determinism is an XLA flag that must be set
    # before JAX starts: XLA_FLAGS=--xla_gpu_deterministic_ops=true.
    if enabled and any(d.platform == "gpu" for d in jax.devices()):
        import os
        import warnings

        if "xla_gpu_deterministic_ops" not in os.environ.get("XLA_FLAGS", ""):
            warnings.warn("JAX on GPU is deterministic only with XLA_FLAGS=--xla_gpu_deterministic_ops=true, set "
                          "before JAX starts.", stacklevel=3)


# --------------------------------------------------------------------------- devices


def devices() -> list[Any]:
    return list(jax.devices())


def default_device() -> Any:
    return jax.devices()[0]


def device_of(x: jax.Array, /) -> Any:
    (dev,) = x.devices() if len(x.devices()) == 1 else (next(iter(x.devices())),)
    return dev


def parse_device(spec: str, /) -> Any:
    text = spec.strip().lower()
    platform, _, index = text.partition(":")
    platform = {"cuda": "gpu", "rocm": "gpu"}.get(platform, platform)
    try:
        found = jax.devices(platform)
    except RuntimeError:
        found = []
    i = int(index) if index else 0
    if i >= len(found):
        raise DeviceError(
            f"Device {spec!r} is not available to JAX here; it has "
            f"{[f'{d.platform}:{d.id}' for d in jax.devices()]}."
        )
    return found[i]


def to_device(tree: Any, device: Any, /) -> Any:
    return jax.device_put(tree, device)


# --------------------------------------------------------------------------- pytree nodes


def _not_root(root: Any) -> Callable[[Any], bool]:
    return lambda y: y is not root


def tree_node(x: object, /) -> tuple[list[Any], list[Any], Any] | None:
    try:
        pairs, treedef = jax.tree_util.tree_flatten_with_path(x, is_leaf=_not_root(x))
    except TypeError:  # an object JAX's flattener cannot even look at (e.g. another framework's tensor)
        return None
    if jax.tree_util.treedef_is_leaf(treedef):
        return None
    return [leaf for _, leaf in pairs], [_key_name(path[0]) for path, _ in pairs], treedef


def _key_name(key: Any) -> Any:
    for attr in ("name", "key", "idx"):
        if hasattr(key, attr):
            return getattr(key, attr)
    return str(key)


def tree_rebuild(token: Any, children: list[Any], /) -> Any:
    return token.unflatten(children)


def register_node(cls: type, flatten: Callable[[Any], tuple[list[Any], Any]],
                  unflatten: Callable[[Any, list[Any]], Any], /) -> None:
    try:
        jax.tree_util.register_pytree_node(cls, flatten, lambda aux, ch: unflatten(aux, list(ch)))
    except ValueError:  # already registered
        pass
