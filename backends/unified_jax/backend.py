"""The JAX backend, assembled: the module `unified` loads (see ``unified.Backend``)."""

from unified_jax import core, ops, random, transforms

name = "jax"

__all__ = ["core", "name", "ops", "random", "transforms"]
