"""The JAX backend, assembled: the module `unified` loads (see ``unified.Backend``)."""

from unified_jax import core, module, nn, ops, optim, random, transforms

name = "jax"

__all__ = ["core", "module", "name", "nn", "ops", "optim", "random", "transforms"]
