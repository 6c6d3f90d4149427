"""The torch backend, assembled: the module `unified` loads (see ``unified.Backend``)."""

from unified_torch import core, ops, random, transforms

name = "torch"

__all__ = ["core", "name", "ops", "random", "transforms"]
