"""Arrays, dtypes, devices and pytree nodes for torch."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.utils._pytree as pytree

from unified._errors import DeviceError, DTypeError

array_types: tuple[type, ...] = (torch.Tensor, torch.nn.Parameter)

_DTYPES = {
    "bool": torch.bool, "int8": torch.int8, "int16": torch.int16, "int32": torch.int32,
    "int64": torch.int64, "uint8": torch.uint8, "uint16": torch.uint16, "uint32": torch.uint32,
    "uint64": torch.uint64, "float16": torch.float16, "bfloat16": torch.bfloat16,
    "float32": torch.float32, "float64": torch.float64, "complex64": torch.complex64,
    "complex128": torch.complex128,
}
_NAMES = {v: k for k, v in _DTYPES.items()}
# 64-bit inputs become 32-bit unless asked for (JAX's rule, so both backends agree).
_CANONICAL = {np.dtype("float64"): torch.float32, np.dtype("int64"): torch.int32,
              np.dtype("uint64"): torch.uint32, np.dtype("complex128"): torch.complex64}


def is_array(x: object, /) -> bool:
    return isinstance(x, torch.Tensor)


def to_dtype(name: str, /) -> torch.dtype:
    return _DTYPES[name]


def dtype_name(x: Any, /) -> str:
    return _NAMES[x.dtype]


def asarray(x: Any, /, dtype: str | None = None, device: Any = None) -> torch.Tensor:
    # Non-tensor inputs are always copied (as jnp.asarray does): an in-place optimizer step
    # must not write into the numpy array a parameter came from.
    target = None if dtype is None else _DTYPES[dtype]
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=target) if (target or device) else x
    if device is None:
        device = default_device()
    if target is None:
        if isinstance(x, bool):
            target = torch.bool
        elif isinstance(x, int):
            target = torch.int32
        elif isinstance(x, float):
            target = torch.float32
        else:
            a = np.asarray(x)
            target = _CANONICAL.get(a.dtype)
            if target is None:
                if a.dtype.name == "bfloat16":  # ml_dtypes: numpy has no bfloat16 of its own
                    return torch.from_numpy(a.view(np.int16).copy()).view(torch.bfloat16).to(device)
                target = _DTYPES.get(a.dtype.name)
                if target is None:
                    raise DTypeError(f"Cannot make a torch array from numpy dtype {a.dtype}.")
            return torch.tensor(a, device=device).to(target)
    if isinstance(x, np.ndarray) and x.dtype.name == "bfloat16":
        return torch.from_numpy(x.view(np.int16).copy()).view(torch.bfloat16).to(device=device, dtype=target)
    # A copy, never a view of the caller's numpy memory: torch updates parameters in place.
    return torch.tensor(x, dtype=target, device=device)


def to_numpy(x: torch.Tensor, /) -> np.ndarray:
    x = x.detach()
    if x.device.type != "cpu":
        x = x.cpu()
    if x.dtype == torch.bfloat16:
        import ml_dtypes

        return x.view(torch.int16).numpy().view(ml_dtypes.bfloat16).copy()
    return x.numpy().copy()


def set_deterministic(enabled: bool, /) -> None:
    # Compiled CPU kernels may otherwise accumulate in a thread-dependent order (measured: 1 ulp
    # differences between identical runs). warn_only: ops without a deterministic version warn.
    torch.use_deterministic_algorithms(enabled, warn_only=True)


# --------------------------------------------------------------------------- devices


def devices() -> list[torch.device]:
    found = []
    if torch.cuda.is_available():
        found += [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append(torch.device("mps"))
    found.append(torch.device("cpu"))
    return found


_default: torch.device | None = None


def default_device() -> torch.device:
    global _default
    if _default is None:
        _default = devices()[0]
    return _default


def device_of(x: torch.Tensor, /) -> torch.device:
    return x.device


def parse_device(spec: str, /) -> torch.device:
    text = spec.strip().lower().replace("gpu", "cuda")
    try:
        dev = torch.device(text)
    except RuntimeError as e:
        raise DeviceError(
            f"Unknown device {spec!r} for torch: {e}. Use 'cpu', 'cuda', 'cuda:N' or 'mps'; "
            f"this machine has {[str(d) for d in devices()]}."
        ) from None
    if dev.type != "cpu" and dev not in devices() and not (dev.type == "cuda" and dev.index is None
                                                             and torch.cuda.is_available()):
        raise DeviceError(
            f"Device {spec!r} is not available to torch here; it has {[str(d) for d in devices()]}."
        )
    return dev


def to_device(tree: Any, device: torch.device, /) -> Any:
    if isinstance(tree, torch.nn.Module):
        return tree.to(device)
    from unified import tree as utree

    return utree.map(lambda x: x.to(device) if isinstance(x, (torch.Tensor, torch.nn.Module)) else x, tree)


# --------------------------------------------------------------------------- pytree nodes

_LEAVES = (torch.Tensor, torch.nn.Module)


def tree_node(x: object, /) -> tuple[list[Any], list[Any], Any] | None:
    if isinstance(x, _LEAVES):
        return None
    node = pytree.SUPPORTED_NODES.get(type(x))
    if node is None:
        return None
    children, context = node.flatten_fn(x)
    return list(children), list(range(len(children))), (type(x), context)


def tree_rebuild(token: Any, children: list[Any], /) -> Any:
    cls, context = token
    return pytree.SUPPORTED_NODES[cls].unflatten_fn(children, context)


def register_node(cls: type, flatten: Callable[[Any], tuple[list[Any], Any]],
                  unflatten: Callable[[Any, list[Any]], Any], /) -> None:
    if cls in pytree.SUPPORTED_NODES:
        return
    pytree.register_pytree_node(
        cls, flatten, lambda children, aux: unflatten(aux, list(children)),
        serialized_type_name=f"{cls.__module__}.{cls.__qualname__}",
    )


if os.environ.get("UNIFIED_DISABLE_JIT", "").strip().lower() in ("1", "true", "yes"):
    torch.compiler.set_stance("force_eager")
