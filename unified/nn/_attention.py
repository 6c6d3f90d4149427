"""Multi-head attention with the semantics of ``torch.nn.MultiheadAttention(batch_first=True)``."""

from __future__ import annotations

import math
from typing import Any

from unified import ops
from unified._errors import ShapeError, UnifiedError
from unified._protocols import Array, DType
from unified.nn import functional as F
from unified.nn import init
from unified.nn._layers import Linear
from unified.nn._module import Module, Parameter

__all__ = ["MultiHeadAttention"]


class MultiHeadAttention(Module):
    """Multi-head attention, as ``torch.nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)``.

    Parameter names, shapes and initialisation are torch's (``in_proj_weight``
    ``(3E, E)``, ``in_proj_bias``, ``out_proj``), so ``state_dict()`` loads into
    torch's module. Two things differ, both deliberate:

    * the attention key/value arguments are ``key_`` and ``value``, because
      ``key`` is the random key (for attention dropout), as everywhere in `unified`;
    * ``need_weights`` defaults to False (torch: True), so the fused kernel runs.

    Masks follow torch's module: a **boolean** ``mask`` or ``key_padding_mask``
    is True where attention is *not* allowed; a float one is added to the scores.

    Args:
        embed_dim: the model width ``E``.
        num_heads: heads; must divide ``E``.
        dropout: dropout rate on the attention weights (training mode, with a key).
        bias: whether the projections have biases.

    Call: ``(query (B, L, E), key_ (B, S, E) = query, value (B, S, E) = key_)``
    with keywords ``mask`` ``(L, S)`` or ``(B * num_heads, L, S)``,
    ``key_padding_mask`` ``(B, S)``, ``is_causal``, ``need_weights``,
    ``average_attn_weights`` and ``key``. Returns ``(B, L, E)``, or
    ``(output, weights)`` with weights ``(B, L, S)`` (averaged over heads) when
    ``need_weights``.

    Example:
        >>> import unified as u
        >>> from unified import nn
        >>> attn = nn.MultiHeadAttention(8, 2)
        >>> x = u.random.normal(u.random.key(0), (3, 5, 8))
        >>> tuple(attn(x, is_causal=True).shape)
        (3, 5, 8)
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True, *,
                 dtype: DType = "float32") -> None:
        if embed_dim % num_heads:
            raise UnifiedError(f"MultiHeadAttention: embed_dim {embed_dim} is not divisible by num_heads {num_heads}.")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        # torch: xavier_uniform_ on the packed (3E, E) weight, zero biases.
        bound = math.sqrt(6.0 / (embed_dim + 3 * embed_dim))
        self.in_proj_weight = Parameter(init.uniform((3 * embed_dim, embed_dim), -bound, bound, dtype=dtype))
        self.in_proj_bias = Parameter(init.zeros((3 * embed_dim,), dtype=dtype)) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if bias:
            self.out_proj.bias = Parameter(init.zeros((embed_dim,), dtype=dtype))
        self.salt = init.salt()

    def __call__(self, query: Array, key_: Array | None = None, value: Array | None = None, *,
                 mask: Array | None = None, key_padding_mask: Array | None = None, is_causal: bool = False,
                 need_weights: bool = False, average_attn_weights: bool = True, key: Array | None = None) -> Any:
        key_ = query if key_ is None else key_
        value = key_ if value is None else value
        if query.ndim != 3 or key_.ndim != 3 or value.ndim != 3:
            raise ShapeError(
                f"MultiHeadAttention takes batch-first (B, L, E) inputs; got query {tuple(query.shape)}, "
                f"key_ {tuple(key_.shape)}, value {tuple(value.shape)}."
            )
        B, L, E = query.shape
        S = key_.shape[1]
        H, D = self.num_heads, self.head_dim
        w_q, w_k, w_v = ops.split(self.in_proj_weight, 3, axis=0)
        b_q, b_k, b_v = ops.split(self.in_proj_bias, 3) if self.in_proj_bias is not None else (None, None, None)
        q = ops.permute_dims(ops.reshape(F.linear(query, w_q, b_q), (B, L, H, D)), (0, 2, 1, 3))  # (B, H, L, D)
        k = ops.permute_dims(ops.reshape(F.linear(key_, w_k, b_k), (B, S, H, D)), (0, 2, 1, 3))  # (B, H, S, D)
        v = ops.permute_dims(ops.reshape(F.linear(value, w_v, b_v), (B, S, H, D)), (0, 2, 1, 3))

        allowed, bias = _merge_masks(mask, key_padding_mask, B, H, L, S)
        rate = self.dropout if self.training else 0.0
        if rate > 0.0 and key is None:
            raise UnifiedError("MultiHeadAttention with dropout in training mode needs key=...; or call eval().")
        if need_weights:
            out, weights = _explicit(q, k, v, allowed, bias, is_causal, rate, key, self.salt)
        else:
            drop_key = None if key is None else _fold(key, self.salt)
            out = F.dot_product_attention(q, k, v, mask=allowed, bias=bias, is_causal=is_causal,
                                          dropout=rate, key=drop_key)
        out = self.out_proj(ops.reshape(ops.permute_dims(out, (0, 2, 1, 3)), (B, L, E)))  # (B, L, E)
        if not need_weights:
            return out
        return out, (ops.mean(weights, axis=1) if average_attn_weights else weights)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"


def _fold(key: Array, salt: int) -> Array:
    from unified import random

    return random.fold_in(key, salt)


def _merge_masks(mask: Array | None, key_padding_mask: Array | None, B: int, H: int, L: int,
                 S: int) -> tuple[Array | None, Array | None]:
    """torch's masks (bool True = blocked, or float additive) as (allowed, bias), shaped (B, H, L, S)-broadcastable."""
    allowed = bias = None
    for m, shape in ((mask, None), (key_padding_mask, (B, 1, 1, S))):
        if m is None:
            continue
        if shape is None:
            if m.ndim == 2:
                shape = (1, 1, L, S)
            elif m.ndim == 3 and m.shape[0] == B * H:
                shape = (B, H, L, S)
            else:
                raise ShapeError(f"mask must be (L, S) = {(L, S)} or (B * num_heads, L, S) = {(B * H, L, S)}; "
                                 f"got {tuple(m.shape)}.")
        elif tuple(m.shape) != (B, S):
            raise ShapeError(f"key_padding_mask must be (B, S) = {(B, S)}; got {tuple(m.shape)}.")
        m = ops.reshape(m, shape)
        from unified._core import dtype

        if dtype(m) == "bool":
            ok = ops.logical_not(m)
            allowed = ok if allowed is None else ops.logical_and(allowed, ok)
        else:
            bias = m if bias is None else bias + m
    return allowed, bias


def _explicit(q: Array, k: Array, v: Array, allowed: Array | None, bias: Array | None, is_causal: bool,
              rate: float, key: Array | None, salt: int) -> tuple[Array, Array]:
    """Attention that also returns its weights (B, H, L, S)."""
    scores = ops.einsum("bhld,bhsd->bhls", q, k) * (1.0 / math.sqrt(q.shape[-1]))
    if bias is not None:
        scores = scores + bias
    if is_causal:
        causal = F.causal_mask(q.shape[-2], k.shape[-2], q)
        allowed = causal if allowed is None else ops.logical_and(allowed, causal)
    if allowed is not None:
        scores = ops.where(allowed, scores, float("-inf"))
    weights = ops.softmax(scores, axis=-1)
    dropped = F.dropout(weights, rate, key=_fold(key, salt) if key is not None else None) if rate > 0 else weights
    return ops.einsum("bhls,bhsd->bhld", dropped, v), weights
