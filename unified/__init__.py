"""unified: write deep-learning model code once, run it natively on PyTorch or JAX.

Importing `unified` imports neither framework; the backend is loaded on first
use, chosen by ``UNIFIED_BACKEND`` (default: torch if installed, else JAX), by
:func:`set_backend`, or by ``with`` :func:`use_backend`.

>>> import unified as u
>>> f = lambda x: x ** 2 + 2 * x + 1
>>> float(u.grad(f)(3.0))
8.0
"""

from unified import nn, ops, optim, random, tree
from unified._autocast import autocast
from unified._backend import (
    BackendSpec,
    available_backends,
    get_backend,
    installed_backends,
    register_backend,
    set_backend,
    use_backend,
)
from unified._core import (
    asarray,
    default_device,
    device,
    devices,
    dtype,
    is_array,
    set_deterministic,
    to_device,
    to_numpy,
)
from unified._errors import (
    BackendMismatchError,
    BackendNotFoundError,
    DeviceError,
    DTypeError,
    ShapeError,
    TransformError,
    UnifiedError,
)
from unified._protocols import Array, Backend
from unified._version import __version__
from unified.checkpoint import CheckpointError, load, save
from unified.export import ExportError, export
from unified.nn.init import manual_seed
from unified.transforms import (
    disable_jit,
    grad,
    hessian,
    jacobian,
    jit,
    jit_enabled,
    no_grad,
    stop_gradient,
    value_and_grad,
    vmap,
)

__all__ = [
    "Array",
    "Backend",
    "BackendMismatchError",
    "BackendNotFoundError",
    "BackendSpec",
    "CheckpointError",
    "DTypeError",
    "DeviceError",
    "ExportError",
    "ShapeError",
    "TransformError",
    "UnifiedError",
    "__version__",
    "asarray",
    "autocast",
    "available_backends",
    "default_device",
    "device",
    "devices",
    "disable_jit",
    "dtype",
    "export",
    "get_backend",
    "grad",
    "hessian",
    "installed_backends",
    "is_array",
    "jacobian",
    "jit",
    "jit_enabled",
    "load",
    "manual_seed",
    "nn",
    "no_grad",
    "ops",
    "optim",
    "random",
    "register_backend",
    "save",
    "set_backend",
    "set_deterministic",
    "stop_gradient",
    "to_device",
    "to_numpy",
    "tree",
    "use_backend",
    "value_and_grad",
    "vmap",
]
