"""Distributed training for torch: process groups, DeviceMesh, FSDP2 and composable DDP."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol
from torch.distributed._composable import replicate
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor

from unified import tree

STRATEGY = "_unified_strategy"  # set on a sharded module: its gradients come from autograd


def _device_type() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def shutdown() -> None:
    """Leave the process group cleanly: a barrier, then destroy (exiting with it alive can abort gloo)."""
    if not dist.is_initialized():
        return
    try:
        if dist.get_world_size() > 1:
            dist.barrier()
    except Exception:  # a peer already died; still tear down our side
        pass
    dist.destroy_process_group()


def initialize(timeout: float) -> None:
    if dist.is_initialized():
        return
    import atexit

    atexit.register(shutdown)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout))
    else:
        # One process: a group of one, so that meshes and FSDP work the same way.
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1,
                                timeout=timedelta(seconds=timeout))


def process_index() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def process_count() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def device_count() -> int:
    initialize(float(os.environ.get("UNIFIED_DIST_TIMEOUT", "300")))
    return dist.get_world_size()  # one device per process


def make_mesh(names: tuple[str, ...], shape: tuple[int, ...]) -> Any:
    return init_device_mesh(_device_type(), shape, mesh_dim_names=names)


def _axis_mesh(mesh: Any, axis: str) -> Any:
    return mesh.native if len(mesh.axis_names) == 1 else mesh.native[axis]


def shard_module(module: Any, mesh: Any, strategy: str, axis: str) -> Any:
    sub = _axis_mesh(mesh, axis)
    if strategy == "fsdp":
        from unified.nn import ModuleList

        # Repeated blocks (the members of ModuleLists) each become an FSDP unit, then the root:
        # a block's parameters are gathered just before it runs and freed after.
        for m in list(module.modules()):
            if isinstance(m, ModuleList):
                for block in m:
                    fully_shard(block, mesh=sub)
        fully_shard(module, mesh=sub)
    else:
        replicate(module, device_mesh=sub)
    object.__setattr__(module, STRATEGY, strategy)
    return module


def shard_batch(batch: Any, mesh: Any, axis: str) -> Any:
    n = mesh.size(axis)
    index = _axis_mesh(mesh, axis).get_local_rank()

    def local(x: Any) -> Any:
        rows = x.shape[0] // n
        part = x[index * rows:(index + 1) * rows]
        return part if isinstance(part, torch.Tensor) else torch.tensor(part)

    return tree.map(local, batch)


def global_mean(x: torch.Tensor) -> torch.Tensor:
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return x
    total = x.detach().clone()
    dist.all_reduce(total)
    return total / dist.get_world_size()


def _full(x: Any) -> Any:
    return x.full_tensor() if isinstance(x, DTensor) else x


def gather(x: Any) -> Any:
    def full(leaf: Any) -> Any:
        if hasattr(type(leaf), "__unified_backend__"):
            return {k: _full(v).detach() for k, v in leaf.state_dict().items()}
        return _full(leaf) if isinstance(leaf, torch.Tensor) else leaf

    return tree.map(full, x, is_leaf=lambda v: hasattr(type(v), "__unified_backend__"))


def local_bytes(x: Any) -> list[int]:
    total = 0
    leaves = tree.leaves(x, is_leaf=lambda v: isinstance(v, torch.nn.Module))
    for leaf in leaves:
        tensors = list(leaf.parameters()) + list(leaf.buffers()) if isinstance(leaf, torch.nn.Module) else [leaf]
        for t in tensors:
            if isinstance(t, torch.Tensor):
                local = t.to_local() if isinstance(t, DTensor) else t
                total += local.numel() * local.element_size()
    return [total]


# ------------------------------------------------------------------- explicit collectives


def _group(axis: str) -> Any:
    from unified.distributed import _current

    return _axis_mesh(_current[-1], axis).get_group()


def psum(x: torch.Tensor, axis: str) -> torch.Tensor:
    return funcol.all_reduce(x, "sum", _group(axis))


def all_gather(x: torch.Tensor, axis: str, dim: int, tiled: bool) -> torch.Tensor:
    group = _group(axis)
    if not tiled:
        x = x.unsqueeze(dim)
    return funcol.all_gather_tensor(x.contiguous(), gather_dim=dim, group=group)


def psum_scatter(x: torch.Tensor, axis: str, dim: int, tiled: bool) -> torch.Tensor:
    group = _group(axis)
    out = funcol.reduce_scatter_tensor(x.contiguous(), "sum", scatter_dim=dim, group=group)
    return out if tiled else out.squeeze(dim)


def _slice(x: Any, spec: Any, mesh: Any) -> Any:
    if spec is None:
        return x
    out = x
    for dim, axis in enumerate(spec):
        if axis is None:
            continue
        n, index = mesh.size(axis), _axis_mesh(mesh, axis).get_local_rank()
        size = out.shape[dim] // n
        out = out.narrow(dim, index * size, size)
    return out


def _unslice(x: Any, spec: Any, mesh: Any) -> Any:
    if spec is None:
        return x
    out = x
    for dim, axis in enumerate(spec):
        if axis is not None:
            out = funcol.all_gather_tensor(out.contiguous(), gather_dim=dim, group=_axis_mesh(mesh, axis).get_group())
    return out


def shard_map(fn: Callable[..., Any], mesh: Any, in_specs: Any, out_specs: Any) -> Callable[..., Any]:
    from unified.distributed import P

    def run(*args: Any) -> Any:
        specs = in_specs if isinstance(in_specs, tuple) and not isinstance(in_specs, P) else (in_specs,) * len(args)
        local = [tree.map(lambda leaf, s=s: _slice(leaf, s, mesh), a) for a, s in zip(args, specs)]
        out = fn(*local)
        if isinstance(out_specs, P):
            return tree.map(lambda leaf: _unslice(leaf, out_specs, mesh), out)
        return tuple(tree.map(lambda leaf, s=s: _unslice(leaf, s, mesh), o) for o, s in zip(out, out_specs))

    return run


# ------------------------------------------------------------------- sharded checkpoints


def save_sharded(path: str, flat: dict[str, Any]) -> None:
    import torch.distributed.checkpoint as dcp

    dcp.save(dict(flat), checkpoint_id=path)


def load_sharded(path: str, flat: dict[str, Any]) -> dict[str, Any]:
    import torch.distributed.checkpoint as dcp

    state = {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in flat.items()}
    dcp.load(state, checkpoint_id=path)  # in place, into each process's shards
    return state


def barrier() -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def shard_like(x: Any, like: Any) -> Any:
    from torch.distributed.tensor import distribute_tensor

    def put(src: Any, target: Any) -> Any:
        if isinstance(target, DTensor):
            return distribute_tensor(src.to(target.dtype), target.device_mesh, target.placements)
        return src
    return tree.map(put, x, like)
