"""Parallel training with one vocabulary: a device mesh, a strategy, sharded batches, collectives.

The same script runs data-parallel or fully sharded on either backend, on the
frameworks' own engines:

* torch: one process per device (``unified launch`` starts them with torchrun's
  machinery), a ``DeviceMesh``, FSDP2's ``fully_shard`` for ``"fsdp"`` and
  composable ``replicate`` (DDP) for ``"replicate"``; gradients come from
  autograd, whose hooks do the communication.
* JAX: one process per host, ``jax.sharding.Mesh``; parameters placed with
  ``NamedSharding`` (replicated, or split along their largest divisible axis for
  ``"fsdp"``, ZeRO-3 style) and XLA's partitioner inserts the collectives.

Arrays given to :func:`shard_batch` are the *global* batch, the same on every
process; each process keeps its part. :func:`shard_map` and the collectives
(:func:`psum`, :func:`pmean`, :func:`all_gather`, :func:`psum_scatter`) are for
code that communicates explicitly, with JAX's semantics on both backends.

A trap this module closes: inside ``jax.shard_map`` with its default
``check_vma=True``, differentiating a loss with respect to *replicated*
parameters already sums their gradients over the mesh, so the usual explicit
``pmean(grads)`` silently multiplies them by the device count (see
``tests/test_distributed.py``). :func:`shard_map` therefore runs JAX's with
``check_vma=False``: gradients are per-device, as under torch, and the explicit
collective is right on both.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from unified import _backend, tree
from unified._errors import UnifiedError
from unified._protocols import Array

__all__ = [
    "DistributedError",
    "Mesh",
    "P",
    "all_gather",
    "gather",
    "global_mean",
    "initialize",
    "is_main_process",
    "load_sharded",
    "local_bytes",
    "mesh",
    "pmean",
    "process_count",
    "process_index",
    "psum",
    "psum_scatter",
    "save",
    "save_sharded",
    "shard",
    "shard_batch",
    "shard_like",
    "shard_map",
    "shutdown",
]

STRATEGIES = ("replicate", "fsdp")
#: Seconds a collective may wait for a peer before failing (``UNIFIED_DIST_TIMEOUT``).
DEFAULT_TIMEOUT = float(os.environ.get("UNIFIED_DIST_TIMEOUT", "300"))


class DistributedError(UnifiedError, RuntimeError):
    """A mesh, a strategy or a batch that does not fit the devices and processes present."""


class P(tuple):
    """A partition spec: for each array axis, the mesh axis it is split over (or None).

    Example:
        >>> from unified.distributed import P
        >>> P("data", None)
        P('data', None)
    """

    def __new__(cls, *axes: str | None) -> P:
        return super().__new__(cls, axes)

    def __repr__(self) -> str:
        return "P(" + ", ".join(map(repr, self)) + ")"


class DistributedSupport(Protocol):
    """What a backend's optional ``distributed`` part provides (``backends/*/distributed.py``)."""

    def initialize(self, timeout: float) -> None: ...
    def shutdown(self) -> None: ...
    def process_index(self) -> int: ...
    def process_count(self) -> int: ...
    def device_count(self) -> int: ...
    def make_mesh(self, names: tuple[str, ...], shape: tuple[int, ...]) -> Any: ...
    def shard_module(self, module: Any, mesh: Mesh, strategy: str, axis: str) -> Any: ...
    def shard_batch(self, batch: Any, mesh: Mesh, axis: str) -> Any: ...
    def global_mean(self, x: Array) -> Array: ...
    def gather(self, x: Any) -> Any: ...
    def shard_like(self, x: Any, like: Any) -> Any: ...
    def local_bytes(self, x: Any) -> list[int]: ...
    def psum(self, x: Array, axis: str) -> Array: ...
    def all_gather(self, x: Array, axis: str, dim: int, tiled: bool) -> Array: ...
    def psum_scatter(self, x: Array, axis: str, dim: int, tiled: bool) -> Array: ...
    def shard_map(self, fn: Callable[..., Any], mesh: Mesh, in_specs: Any, out_specs: Any) -> Callable[..., Any]: ...
    def save_sharded(self, path: str, flat: dict[str, Any]) -> None: ...
    def load_sharded(self, path: str, flat: dict[str, Any]) -> dict[str, Any]: ...
    def barrier(self) -> None: ...


def _part(backend: Any = None) -> Any:
    b = _backend.get_backend() if backend is None else backend
    return _backend.optional_part(b, "distributed")


def initialize(timeout: float = DEFAULT_TIMEOUT) -> None:
    """Join the other processes of a launched job (a no-op in a single process).

    Under torch this initialises the default process group from torchrun's
    environment (gloo on CPU, NCCL on GPU); under JAX it calls
    ``jax.distributed.initialize`` when ``unified launch`` started several hosts.
    ``timeout`` bounds how long a collective waits for a dead or stuck peer.
    """
    _part().initialize(timeout)


def shutdown() -> None:
    """Leave the job cleanly (also done automatically when the process exits)."""
    _part().shutdown()


def process_index() -> int:
    """This process's index (0 in a single process)."""
    return int(_part().process_index())


def process_count() -> int:
    """How many processes the job has."""
    return int(_part().process_count())


def is_main_process() -> bool:
    """Whether this is process 0: the one that prints, logs and writes files."""
    return process_index() == 0


@dataclasses.dataclass(frozen=True)
class Mesh:
    """Devices arranged in a named grid, e.g. ``{"data": 4}`` or ``{"data": 2, "model": 2}``.

    ``native`` is the framework's own mesh (``torch.distributed.DeviceMesh`` or
    ``jax.sharding.Mesh``), for code that needs it.
    """

    axis_names: tuple[str, ...]
    shape: tuple[int, ...]
    native: Any
    backend: str

    def size(self, axis: str) -> int:
        """Devices along ``axis``."""
        if axis not in self.axis_names:
            raise DistributedError(f"The mesh has axes {self.axis_names}; there is no {axis!r}.")
        return self.shape[self.axis_names.index(axis)]

    @property
    def devices(self) -> int:
        return math.prod(self.shape)


def mesh(axes: dict[str, int] | Sequence[tuple[str, int]] | None = None) -> Mesh:
    """A mesh over every device of the job; one axis size may be -1 (whatever is left).

    Args:
        axes: axis name -> size, in order; default ``{"data": -1}``.

    Raises:
        DistributedError: the mesh needs more (or fewer) devices than the job has.

    Example:
        >>> import unified as u
        >>> from unified import distributed as dist
        >>> m = dist.mesh()
        >>> m.axis_names, m.devices == len(u.devices()) or u.get_backend().name == "torch"
        (('data',), True)
    """
    part = _part()
    items = list((axes or {"data": -1}).items()) if not isinstance(axes, Sequence) else list(axes)
    names = tuple(str(n) for n, _ in items)
    sizes = [int(s) for _, s in items]
    available = part.device_count()
    if sizes.count(-1) > 1:
        raise DistributedError(f"mesh {dict(items)}: at most one axis can be -1.")
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if known <= 0 or available % known:
            raise DistributedError(f"mesh {dict(items)}: {available} devices cannot be split into axes of "
                                   f"{dict(items)}.")
        sizes[sizes.index(-1)] = available // known
    if math.prod(sizes) != available:
        more = "more" if math.prod(sizes) > available else "fewer"
        raise DistributedError(
            f"mesh {dict(zip(names, sizes))} needs {math.prod(sizes)} devices, {more} than the {available} this job "
            f"has ({_how_many_hint()}). Ask for a mesh of {available}, or start the job with more devices."
        )
    if len(set(names)) != len(names):
        raise DistributedError(f"mesh axis names must be distinct, got {names}.")
    b = _backend.get_backend()
    return Mesh(names, tuple(sizes), part.make_mesh(names, tuple(sizes)), b.name)


def _how_many_hint() -> str:
    b = _backend.get_backend().name
    if b == "torch":
        return "one per process: `unified launch --nproc N` starts N"
    return "XLA_FLAGS=--xla_force_host_platform_device_count=N gives N CPU devices; `unified launch --nproc N` sets it"


def shard(model: Any, mesh: Mesh, strategy: str = "fsdp", *, axis: str = "data") -> Any:
    """The model distributed over ``mesh``: ``"replicate"`` (data parallel) or ``"fsdp"`` (fully sharded).

    Under ``"fsdp"`` each device holds ``1/N`` of every parameter (and, once
    :meth:`~unified.optim.Optimizer.init` runs on the sharded model, of the
    optimizer state); under torch, every module in a ``ModuleList`` (the
    repeated blocks) is its own FSDP unit. Returns the model to use from now on
    (the same object under torch, a new pytree under JAX).
    """
    if strategy not in STRATEGIES:
        raise DistributedError(f"strategy must be one of {STRATEGIES}, got {strategy!r}.")
    mesh.size(axis)
    b = _backend.backend_of_args((model,))
    return _part(b).shard_module(model, mesh, strategy, axis)


def shard_batch(batch: Any, mesh: Mesh, *, axis: str = "data") -> Any:
    """This process's part of a global batch (numpy or backend arrays; the first axis is split).

    Under JAX the result is one global array sharded over the mesh; under torch
    each process gets its own rows. Every process must pass the same batch.

    Raises:
        DistributedError: the batch does not split evenly over the mesh axis.
    """
    n = mesh.size(axis)
    for path, leaf in tree.leaves_with_path(batch):
        rows = leaf.shape[0] if getattr(leaf, "shape", ()) else None
        if rows is None or rows % n:
            raise DistributedError(
                f"shard_batch: {'the batch' if not path else tree.keystr(path)} has {rows} rows, which the mesh "
                f"axis {axis!r} of {n} devices does not divide. Use a batch size divisible by {n}."
            )
    return _part().shard_batch(batch, mesh, axis)


def global_mean(x: Array) -> Array:
    """The mean of a scalar (a loss) over all processes; under JAX it is global already.

    Example:
        >>> import unified as u
        >>> from unified import distributed as dist
        >>> float(dist.global_mean(u.asarray(2.5)))
        2.5
    """
    return _part(_backend.backend_of(x)).global_mean(x)


def gather(tree_: Any) -> Any:
    """``tree_`` with every sharded array gathered into a full host array; modules become their full state dicts.

    Example:
        >>> import unified as u
        >>> from unified import distributed as dist
        >>> sorted(dist.gather({"model": u.nn.Linear(2, 1)})["model"])
        ['bias', 'weight']
    """
    b = _backend.backend_of_args((tree_,))
    return _part(b).gather(tree_)


def shard_like(x: Any, like: Any) -> Any:
    """Full arrays ``x`` placed with the sharding of the matching leaves of ``like`` (e.g. a loaded
    optimizer state, sharded as a freshly initialised one)."""
    b = _backend.backend_of_args((like,))
    return _part(b).shard_like(x, like)


def local_bytes(x: Any) -> list[int]:
    """Bytes of ``x`` (a model, an optimizer state, any pytree) held by each of this process's devices."""
    b = _backend.backend_of_args((x,))
    return list(_part(b).local_bytes(x))


# ---------------------------------------------------------------- explicit collectives

_current: list[Mesh] = []


@contextlib.contextmanager
def _in_mesh(m: Mesh) -> Iterator[None]:
    _current.append(m)
    try:
        yield
    finally:
        _current.pop()


def psum(x: Any, axis: str) -> Any:
    """The sum of ``x`` (a pytree) over the devices of mesh axis ``axis``; inside :func:`shard_map`."""
    return tree.map(lambda a: _part(_backend.backend_of(a)).psum(a, axis), x)


def pmean(x: Any, axis: str) -> Any:
    """The mean of ``x`` (a pytree) over mesh axis ``axis``; inside :func:`shard_map`."""
    return tree.map(lambda a: _part(_backend.backend_of(a)).psum(a, axis) / _axis_size(axis), x)


def all_gather(x: Array, axis: str, *, dim: int = 0, tiled: bool = False) -> Array:
    """Every device's ``x`` along a new axis ``dim`` (or concatenated along ``dim`` if ``tiled``)."""
    return _part(_backend.backend_of(x)).all_gather(x, axis, dim, tiled)


def psum_scatter(x: Array, axis: str, *, dim: int = 0, tiled: bool = False) -> Array:
    """Sum over mesh axis ``axis`` and keep this device's slice of axis ``dim`` (``jax.lax.psum_scatter``)."""
    return _part(_backend.backend_of(x)).psum_scatter(x, axis, dim, tiled)


def _axis_size(axis: str) -> int:
    if not _current:
        raise DistributedError(f"collectives over {axis!r} run inside dist.shard_map(...).")
    return _current[-1].size(axis)


def shard_map(fn: Callable[..., Any], mesh: Mesh, in_specs: Any, out_specs: Any) -> Callable[..., Any]:
    """``fn`` run once per device on its slices of the inputs, as ``jax.shard_map``.

    Args:
        fn: the per-device function; it may call :func:`psum`, :func:`pmean` ...
        mesh: the mesh.
        in_specs: one :class:`P` per positional argument (applied to every leaf of it).
        out_specs: :class:`P` (or a tuple of them) for the outputs: ``P()`` for
            outputs that are the same everywhere, ``P("data")`` for ones to
            concatenate along their first axis.

    Gradients taken inside ``fn`` are per device on both backends (JAX's runs
    with ``check_vma=False``; see the module docstring): reduce them explicitly.
    """
    native = _part(_backend.load_backend(mesh.backend)).shard_map(fn, mesh, in_specs, out_specs)

    def wrapped(*args: Any) -> Any:
        with _in_mesh(mesh):
            return native(*args)

    return wrapped


# ---------------------------------------------------------------- checkpoints


def save(path: str, tree_: Any, *, metadata: dict[str, str] | None = None) -> None:
    """Gather a (possibly sharded) tree to full arrays and write one portable checkpoint (process 0 writes).

    The file is the same as :func:`unified.save` writes for an unsharded model:
    it loads on either backend, sharded or not.
    """
    from unified.checkpoint import save as save_file

    b = _backend.backend_of_args((tree_,))
    full = _part(b).gather(tree_)
    if is_main_process():
        save_file(path, full, metadata=metadata)
    _part(b).barrier()


def _flat(tree_: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, leaf in tree.leaves_with_path(tree_, is_leaf=lambda x: hasattr(type(x), "__unified_backend__")):
        name = tree.keystr(path)
        if hasattr(type(leaf), "__unified_backend__"):
            for k, v in leaf.state_dict().items():
                out[f"{name}.{k}" if name else k] = v
        elif hasattr(leaf, "shape"):
            out[name] = leaf
    return out


def save_sharded(path: str, tree_: Any) -> None:
    """A sharded checkpoint directory in the framework's own format (torch distributed checkpoint, orbax).

    Each process writes its own shards: for models too large to gather on one host.
    """
    b = _backend.backend_of_args((tree_,))
    _part(b).save_sharded(os.fspath(path), _flat(tree_))


def load_sharded(path: str, like: Any) -> Any:
    """Fill ``like`` (a sharded model and state, built as for training) from :func:`save_sharded`'s directory."""
    b = _backend.backend_of_args((like,))
    flat = _part(b).load_sharded(os.fspath(path), _flat(like))

    def fill(path_: tuple[Any, ...], leaf: Any) -> Any:
        name = tree.keystr(path_)
        if hasattr(type(leaf), "__unified_backend__"):
            prefix = f"{name}." if name else ""
            leaf.load_state_dict({k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)})
            return leaf
        return flat.get(name, leaf)

    return tree.map_with_path(fill, like, is_leaf=lambda x: hasattr(type(x), "__unified_backend__"))
