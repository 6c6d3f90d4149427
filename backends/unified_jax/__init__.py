"""The JAX backend of `unified`. Importing this package does not import JAX.

`unified` finds it through the ``unified.backends`` entry point, which names
:data:`spec`; loading imports :mod:`unified_jax.backend`.
"""

from unified._backend import BackendSpec

spec = BackendSpec(name="jax", module="unified_jax.backend", requires=("jax",),
                   install="unified-dl[jax]")
