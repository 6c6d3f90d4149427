"""Modules for torch: every unified module's torch twin is a real ``torch.nn.Module``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.nn.utils.stateless import _reparametrize_module  # what torch.func.functional_call uses

from unified.nn import _module


class TorchModule(torch.nn.Module):
    """The torch base of every twin: torch's machinery, plus lists of modules registered."""

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, _module.containerize(value, "torch"))

    def __reduce_ex__(self, protocol: Any) -> Any:  # twins are made at run time: rebuild by the user's class
        return _module.rebuild, (type(self).__unified_original__, "torch"), self.__getstate__()


def make_twin(cls: type, compute: Callable[..., Any]) -> type:
    namespace = {
        "__unified_backend__": "torch",
        "__unified_original__": cls,
        "__unified_compute__": compute,
        "forward": compute,  # torch's __call__ runs hooks, then forward: the user's __call__
        "__call__": torch.nn.Module.__call__,
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
    }
    return type(cls.__name__, (cls, TorchModule), namespace)


def new(twin: type) -> Any:
    obj = object.__new__(twin)
    torch.nn.Module.__init__(obj)  # before the user's __init__ assigns anything
    return obj


def parameter(value: torch.Tensor) -> torch.nn.Parameter:
    return value if isinstance(value, torch.nn.Parameter) else torch.nn.Parameter(value)


def buffer(value: torch.Tensor, persistent: bool) -> torch.nn.Buffer:
    return torch.nn.Buffer(value, persistent=persistent)


def params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    # Detached: torch.func then records only its own graph, not a second one
    # for the Parameters' autograd (the storage is shared, so in-place updates show).
    return {name: p.detach() for name, p in module.named_parameters()}


@contextlib.contextmanager
def bind(module: torch.nn.Module, values: dict[str, torch.Tensor]) -> Iterator[torch.nn.Module]:
    with _reparametrize_module(module, values, tie_weights=True, strict=False):
        yield module


def replace_params(module: torch.nn.Module, values: dict[str, torch.Tensor]) -> torch.nn.Module:
    with torch.no_grad():
        for name, p in module.named_parameters():
            new = values.get(name)
            if new is not None and new is not p:
                p.copy_(new)
    return module


def differentiate(fun: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], argnum: int,
                  has_aux: bool) -> tuple[Any, dict[str, torch.Tensor]] | None:
    """Autograd for modules sharded by ``unified.distributed.shard`` (FSDP2 or DDP).

    Their gradient communication runs in autograd hooks on the real parameters,
    which ``torch.func`` bypasses; so the loss is computed on the module itself
    and ``backward`` fills each parameter's ``.grad`` (a sharded DTensor under FSDP).
    """
    module = args[argnum]
    if getattr(module, "_unified_strategy", None) is None:
        return None
    for p in module.parameters():
        p.grad = None
    out = fun(*args, **kwargs)
    loss = out[0] if has_aux else out
    loss.backward()
    # Read the parameters after backward: FSDP swaps sharded and unsharded parameters around
    # forward passes (one without backward, as in evaluation, leaves them unsharded), and puts
    # the reduce-scattered gradients on the sharded ones.
    named = dict(module.named_parameters())
    grads = {k: p.grad if p.grad is not None else torch.zeros_like(p) for k, p in named.items()}
    for p in named.values():
        p.grad = None
    detached = loss.detach()
    return ((detached, out[1]) if has_aux else detached), grads
