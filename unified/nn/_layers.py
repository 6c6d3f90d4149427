"""Layers: Linear, Embedding, LayerNorm, RMSNorm, Dropout and activations.

Defaults and initialisation follow torch and are pinned here; parameter names
and layouts are torch's, so ``state_dict()`` loads into the torch layer of the
same name (``Linear.weight`` is ``(out_features, in_features)``).
"""

from __future__ import annotations

import math
from typing import Any

from unified._errors import UnifiedError
from unified._protocols import Array, DType
from unified.nn import functional as F
from unified.nn import init
from unified.nn._module import Module, Parameter

__all__ = ["GELU", "Dropout", "Embedding", "Identity", "LayerNorm", "Linear", "RMSNorm", "ReLU", "SiLU"]


class Linear(Module):
    """``y = x @ weight.T + bias``, initialised as torch's ``nn.Linear``.

    Args:
        in_features: size of the last axis of the input.
        out_features: size of the last axis of the output.
        bias: whether to add a learned bias.
        dtype: parameter dtype.

    Shapes: ``(..., in_features) -> (..., out_features)``; ``weight`` is
    ``(out_features, in_features)``, drawn from ``U(-1/sqrt(in), 1/sqrt(in))``
    like the bias (torch's Kaiming-uniform with ``a = sqrt(5)``).

    Example:
        >>> import unified as u
        >>> from unified import nn
        >>> layer = nn.Linear(3, 2)
        >>> tuple(layer(u.ops.ones((5, 3))).shape), tuple(layer.weight.shape)
        ((5, 2), (2, 3))
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, dtype: DType = "float32") -> None:
        self.in_features = in_features
        self.out_features = out_features
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.weight = Parameter(init.uniform((out_features, in_features), -bound, bound, dtype=dtype))
        self.bias = Parameter(init.uniform((out_features,), -bound, bound, dtype=dtype)) if bias else None

    def __call__(self, x: Array) -> Array:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim``, drawn from N(0, 1) as torch.

    Shapes: integer ``(...)`` -> ``(..., embedding_dim)``.

    Example:
        >>> import unified as u
        >>> from unified import nn
        >>> emb = nn.Embedding(10, 4)
        >>> tuple(emb(u.asarray([[1, 2, 3]])).shape)
        (1, 3, 4)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, *, dtype: DType = "float32") -> None:
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.weight = Parameter(init.normal((num_embeddings, embedding_dim), dtype=dtype))

    def __call__(self, ids: Array) -> Array:
        return F.embedding(ids, self.weight)

    def attend(self, x: Array) -> Array:
        """``x @ weight.T``: logits over the vocabulary, for tied input and output embeddings."""
        return F.linear(x, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


def _shape(normalized_shape: Any) -> tuple[int, ...]:
    return (int(normalized_shape),) if isinstance(normalized_shape, int) else tuple(normalized_shape)


class LayerNorm(Module):
    """Layer normalisation over the last axes, as torch's ``nn.LayerNorm`` (eps 1e-5, not flax's 1e-6).

    Example:
        >>> import unified as u
        >>> from unified import nn
        >>> y = nn.LayerNorm(4)(u.asarray([[1.0, 2.0, 3.0, 4.0]]))
        >>> round(float(u.to_numpy(y).mean()), 6), round(float(u.to_numpy(y).std()), 4)
        (0.0, 1.0)
    """

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, *, dtype: DType = "float32") -> None:
        self.normalized_shape = _shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self.weight = Parameter(init.ones(self.normalized_shape, dtype=dtype)) if elementwise_affine else None
        self.bias = Parameter(init.zeros(self.normalized_shape, dtype=dtype)) if elementwise_affine and bias else None

    def __call__(self, x: Array) -> Array:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class RMSNorm(Module):
    """Root-mean-square normalisation, as torch's ``nn.RMSNorm`` (``eps=None``: the dtype's epsilon).

    Example:
        >>> import unified as u
        >>> from unified import nn
        >>> y = nn.RMSNorm(2)(u.asarray([3.0, 4.0]))
        >>> [round(v, 3) for v in u.to_numpy(y).tolist()]
        [0.849, 1.131]
    """

    def __init__(self, normalized_shape: Any, eps: float | None = None, elementwise_affine: bool = True, *,
                 dtype: DType = "float32") -> None:
        self.normalized_shape = _shape(normalized_shape)
        self.eps = eps
        self.weight = Parameter(init.ones(self.normalized_shape, dtype=dtype)) if elementwise_affine else None

    def __call__(self, x: Array) -> Array:
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


class Dropout(Module):
    """Dropout with probability ``p`` in training mode; the identity in eval mode or without a key.

    Each Dropout draws a *salt* from the initialisation stream when built and
    folds it into the key it is given, so one key passed to a whole model
    gives every dropout layer its own mask, the same on every backend.

    Example:
        >>> import unified as u
        >>> from unified import nn
        >>> drop = nn.Dropout(0.5)
        >>> y = u.to_numpy(drop(u.ops.ones(8), key=u.random.key(0)))
        >>> sorted(set(y.tolist())) == [0.0, 2.0] or sorted(set(y.tolist()))
        True
        >>> u.to_numpy(drop.eval()(u.ops.ones(2), key=u.random.key(0))).tolist()
        [1.0, 1.0]
    """

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p < 1.0:
            raise UnifiedError(f"Dropout: p must be in [0, 1), got {p}.")
        self.p = p
        self.salt = init.salt()

    def __call__(self, x: Array, *, key: Array | None = None) -> Array:
        if not self.training or self.p == 0.0:
            return x
        if key is None:
            raise UnifiedError(
                "Dropout in training mode needs a random key: call the model with key=... (a new key each "
                "step, e.g. u.random.fold_in(key, step)), or call model.eval() to switch dropout off."
            )
        from unified import random

        return F.dropout(x, self.p, key=random.fold_in(key, self.salt))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class GELU(Module):
    """The GELU activation; ``approximate="none"`` (erf, torch's default) or ``"tanh"`` (GPT-2).

    Example:
        >>> import unified as u
        >>> from unified import nn
        >>> round(float(u.to_numpy(nn.GELU()(u.asarray(1.0)))), 4)
        0.8413
    """

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise UnifiedError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}.")
        self.approximate = approximate

    def __call__(self, x: Array) -> Array:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class ReLU(Module):
    """``max(x, 0)``."""

    def __call__(self, x: Array) -> Array:
        return F.relu(x)


class SiLU(Module):
    """``x * sigmoid(x)``."""

    def __call__(self, x: Array) -> Array:
        return F.silu(x)


class Identity(Module):
    """Returns its input."""

    def __call__(self, x: Array) -> Array:
        return x


