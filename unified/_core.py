"""Arrays in and out of a backend, dtypes, and devices."""

from __future__ import annotations

from typing import Any

import numpy as np

from unified import _backend
from unified._dispatch import dtype_name
from unified._protocols import Array, Device, DType


def asarray(x: Any, /, dtype: DType = None, *, device: Device | str | None = None) -> Array:
    """``x`` as an array of the active backend (or of its own backend, if already an array).

    Python floats become float32 and ints int32 on every backend; numpy arrays
    keep their dtype except that 64-bit types become their 32-bit twins (JAX's
    rule, applied everywhere so that both backends agree). Pass ``dtype`` to
    choose.

    Args:
        x: an array, numpy array, Python scalar or (nested) list.
        dtype: a dtype name such as ``"float32"`` or ``"bfloat16"``.
        device: a device from :func:`devices`, or a string such as ``"cpu"``
            or ``"cuda:0"``.

    Example:
        >>> import unified as u
        >>> x = u.asarray([1.0, 2.0])
        >>> u.dtype(x), u.to_numpy(x).tolist()
        ('float32', [1.0, 2.0])
    """
    b = _backend.backend_of(x)
    if isinstance(device, str):
        device = b.core.parse_device(device)
    return b.core.asarray(x, dtype_name(dtype), device)


def to_numpy(x: Array, /) -> np.ndarray:
    """A numpy copy of array ``x`` (moved to host memory; bfloat16 stays bfloat16 via ml_dtypes).

    Example:
        >>> import unified as u
        >>> u.to_numpy(u.ops.arange(3))
        array([0, 1, 2], dtype=int32)
    """
    if isinstance(x, np.ndarray | np.generic):
        return np.asarray(x)
    b = _backend.owner(x)
    if b is None:
        return np.asarray(x)
    return b.core.to_numpy(x)


def dtype(x: Array, /) -> str:
    """The canonical dtype name of array ``x``, the same on every backend.

    Example:
        >>> import unified as u
        >>> u.dtype(u.ops.zeros(2, dtype="bfloat16"))
        'bfloat16'
    """
    b = _backend.owner(x)
    if b is None:
        return dtype_name(np.asarray(x).dtype)  # type: ignore[return-value]
    return b.core.dtype_name(x)


def is_array(x: object, /) -> bool:
    """Whether ``x`` is an array of any loaded backend (numpy arrays are not).

    Example:
        >>> import unified as u
        >>> u.is_array(u.ops.zeros(1)), u.is_array([0.0])
        (True, False)
    """
    return _backend.owner(x) is not None and not hasattr(type(x), "__unified_backend__")


def devices(backend: str | None = None) -> list[Device]:
    """The devices a backend sees (the active one by default), default device first.

    Example:
        >>> import unified as u
        >>> len(u.devices()) >= 1
        True
    """
    b = _backend.get_backend() if backend is None else _backend.load_backend(backend)
    return b.core.devices()


def default_device(backend: str | None = None) -> Device:
    """Where a backend puts new arrays: its accelerator if it has one (cuda, mps, tpu), else cpu.

    Example:
        >>> import unified as u
        >>> u.default_device() in u.devices()
        True
    """
    b = _backend.get_backend() if backend is None else _backend.load_backend(backend)
    return b.core.default_device()


def device(x: Array, /) -> Device:
    """The device holding array ``x``.

    Example:
        >>> import unified as u
        >>> u.device(u.ops.zeros(1)) == u.default_device()
        True
    """
    return _backend.backend_of(x).core.device_of(x)


def to_device(tree: Any, device: Device | str, /) -> Any:
    """An array, module or pytree moved to ``device`` in one call.

    ``device`` is a device object or a string: ``"cpu"``, ``"cuda"``,
    ``"cuda:1"``, ``"gpu:0"``, ``"mps"``, ``"tpu:0"``. Under torch a module is
    moved in place and returned (as ``Module.to``); arrays and pytrees are copied.

    Example:
        >>> import unified as u
        >>> x = u.to_device(u.ops.ones(2), "cpu")
        >>> str(u.device(x)).lower().startswith(("cpu", "tfrt_cpu"))
        True
    """
    b = _backend.backend_of_args((tree,))
    if isinstance(device, str):
        device = b.core.parse_device(device)
    return b.core.to_device(tree, device)


def set_deterministic(enabled: bool = True, backend: str | None = None) -> None:
    """Make the backend's kernels deterministic: the same inputs give bit-identical results on every run.

    Under torch this is ``torch.use_deterministic_algorithms`` (compiled CPU
    kernels otherwise differ by an ulp from run to run); XLA on CPU is
    deterministic already (on GPU set ``XLA_FLAGS=--xla_gpu_deterministic_ops=true``
    before JAX starts). ``unified train`` turns it on so that a resumed run
    repeats the interrupted one exactly.

    Example:
        >>> import unified as u
        >>> u.set_deterministic(True)
    """
    b = _backend.get_backend() if backend is None else _backend.load_backend(backend)
    b.core.set_deterministic(enabled)
