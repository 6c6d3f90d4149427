"""The torch backend of `unified`. Importing this package does not import torch.

`unified` finds it through the ``unified.backends`` entry point, which names
:data:`spec`; loading imports :mod:`unified_torch.backend`.
"""

from unified._backend import BackendSpec

spec = BackendSpec(name="torch", module="unified_torch.backend", requires=("torch",),
                   install="unified-dl[torch]")
