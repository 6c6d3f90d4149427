"""Write-once neural-network modules: native ``torch.nn.Module`` s under torch, pytrees under JAX.

>>> import unified as u
>>> from unified import nn
>>> model = nn.Sequential(nn.Linear(4, 16), nn.GELU(), nn.Linear(16, 2))
>>> tuple(model(u.ops.ones((8, 4))).shape)
(8, 2)
"""

from unified.nn import functional, init
from unified.nn._attention import MultiHeadAttention
from unified.nn._containers import ModuleDict, ModuleList, Sequential
from unified.nn._layers import GELU, Dropout, Embedding, Identity, LayerNorm, Linear, ReLU, RMSNorm, SiLU
from unified.nn._module import Buffer, Module, ModuleError, Parameter

__all__ = [
    "GELU",
    "Buffer",
    "Dropout",
    "Embedding",
    "Identity",
    "LayerNorm",
    "Linear",
    "Module",
    "ModuleDict",
    "ModuleError",
    "ModuleList",
    "MultiHeadAttention",
    "Parameter",
    "RMSNorm",
    "ReLU",
    "Sequential",
    "SiLU",
    "functional",
    "init",
]
