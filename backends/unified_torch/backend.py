"""The torch backend, assembled: the module `unified` loads (see ``unified.Backend``)."""

from unified_torch import core, module, nn, ops, optim, random, transforms

name = "torch"

__all__ = ["core", "module", "name", "nn", "ops", "optim", "random", "transforms"]
