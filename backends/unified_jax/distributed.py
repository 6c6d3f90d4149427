"""Distributed training for JAX: Mesh, NamedSharding, shard_map, jax.distributed, orbax."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as JP

from unified import tree


def initialize(timeout: float) -> None:
    # Several hosts: `unified launch` sets these for each one (see docs/distributed.md).
    coordinator = os.environ.get("UNIFIED_COORDINATOR")
    if coordinator and not jax.distributed.is_initialized():
        jax.distributed.initialize(coordinator_address=coordinator,
                                   num_processes=int(os.environ["UNIFIED_NUM_PROCESSES"]),
                                   process_id=int(os.environ["UNIFIED_PROCESS_ID"]),
                                   initialization_timeout=int(timeout))


def shutdown() -> None:
    if jax.distributed.is_initialized():
        jax.distributed.shutdown()


def process_index() -> int:
    return jax.process_index()


def process_count() -> int:
    return jax.process_count()


def device_count() -> int:
    return jax.device_count()


def make_mesh(names: tuple[str, ...], shape: tuple[int, ...]) -> Mesh:
    return Mesh(np.array(jax.devices()).reshape(shape), names)


def _spec(x: Any, mesh: Any, strategy: str, axis: str) -> NamedSharding:
    native = mesh.native
    if strategy == "fsdp" and getattr(x, "ndim", 0) > 0:
        n = mesh.size(axis)
        # ZeRO-3: split each array along its largest axis that the mesh axis divides.
        for dim in sorted(range(x.ndim), key=lambda d: -x.shape[d]):
            if x.shape[dim] % n == 0:
                spec: list[str | None] = [None] * x.ndim
                spec[dim] = axis
                return NamedSharding(native, JP(*spec))
    return NamedSharding(native, JP())


def shard_module(module: Any, mesh: Any, strategy: str, axis: str) -> Any:
    shardings = jax.tree.map(lambda x: _spec(x, mesh, strategy, axis), module)
    return jax.device_put(module, shardings)


def shard_batch(batch: Any, mesh: Any, axis: str) -> Any:
    sharding = NamedSharding(mesh.native, JP(axis))
    return jax.tree.map(lambda x: jax.device_put(np.asarray(x) if not isinstance(x, jax.Array) else x, sharding),
                        batch)


def global_mean(x: jax.Array) -> jax.Array:
    return x  # computed on global arrays already


def gather(x: Any) -> Any:
    def full(leaf: Any) -> Any:
        if hasattr(type(leaf), "__unified_backend__"):
            return {k: np.asarray(jax.device_get(v)) for k, v in leaf.state_dict().items()}
        return np.asarray(jax.device_get(leaf)) if isinstance(leaf, jax.Array) else leaf

    return tree.map(full, x, is_leaf=lambda v: hasattr(type(v), "__unified_backend__"))


def local_bytes(x: Any) -> list[int]:
    per_device: dict[Any, int] = {d: 0 for d in jax.local_devices()}
    for leaf in jax.tree_util.tree_leaves(x):
        if isinstance(leaf, jax.Array):
            for shard in leaf.addressable_shards:
                per_device[shard.device] += shard.data.nbytes
    return [per_device[d] for d in jax.local_devices()]


def psum(x: jax.Array, axis: str) -> jax.Array:
    return jax.lax.psum(x, axis)


def all_gather(x: jax.Array, axis: str, dim: int, tiled: bool) -> jax.Array:
    return jax.lax.all_gather(x, axis, axis=dim, tiled=tiled)


def psum_scatter(x: jax.Array, axis: str, dim: int, tiled: bool) -> jax.Array:
    return jax.lax.psum_scatter(x, axis, scatter_dimension=dim, tiled=tiled)


def _jspec(spec: Any) -> Any:
    from unified.distributed import P

    if isinstance(spec, P):
        return JP(*spec)
    if isinstance(spec, tuple):
        return tuple(_jspec(s) for s in spec)
    return JP() if spec is None else spec


def shard_map(fn: Callable[..., Any], mesh: Any, in_specs: Any, out_specs: Any) -> Callable[..., Any]:
    # check_vma=False: gradients inside are per device, as under torch (see unified.distributed).
    return jax.shard_map(fn, mesh=mesh.native, in_specs=_jspec(in_specs), out_specs=_jspec(out_specs),
                         check_vma=False)


def save_sharded(path: str, flat: dict[str, Any]) -> None:
    import orbax.checkpoint as ocp

    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(os.path.abspath(path), flat, force=True)


def load_sharded(path: str, flat: dict[str, Any]) -> dict[str, Any]:
    import orbax.checkpoint as ocp

    target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), flat)
    with ocp.StandardCheckpointer() as ckptr:
        return dict(ckptr.restore(os.path.abspath(path), target))


def barrier() -> None:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("unified")


def shard_like(x: Any, like: Any) -> Any:
    return jax.tree.map(lambda src, target: jax.device_put(src, target.sharding)
                        if isinstance(target, jax.Array) else src, x, like)
