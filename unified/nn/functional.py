"""Neural-network functions: the same call on every backend, fused native kernels underneath.

Defaults follow torch and are pinned here (GELU is exact erf; LayerNorm eps is
1e-5). Two conventions differ from ``torch.nn.functional`` and are said at each
function: the class axis of :func:`cross_entropy` is the *last* one (as in
optax: logits ``(..., classes)``), and randomness comes from an explicit key.
"""

from __future__ import annotations

import math
from typing import Any

from unified import _backend, ops, random
from unified._autocast import cast_in, upcast
from unified._dispatch import ops_of
from unified._errors import ShapeError, UnifiedError
from unified._protocols import Array

__all__ = [
    "cross_entropy",
    "dot_product_attention",
    "dropout",
    "embedding",
    "gelu",
    "layer_norm",
    "linear",
    "log_softmax",
    "relu",
    "rms_norm",
    "silu",
    "softmax",
]



def softmax(x: Array, axis: int = -1) -> Array:
    """``exp(x) / sum(exp(x))`` along ``axis`` (in float32 inside :func:`unified.autocast`).

    Example:
        >>> import unified as u
        >>> from unified.nn import functional as F
        >>> u.to_numpy(F.softmax(u.asarray([0.0, 0.0]))).tolist()
        [0.5, 0.5]
    """
    return ops.softmax(upcast(x), axis)


def log_softmax(x: Array, axis: int = -1) -> Array:
    """``x - logsumexp(x)`` along ``axis`` (in float32 inside :func:`unified.autocast`).

    Example:
        >>> import unified as u
        >>> from unified.nn import functional as F
        >>> round(float(u.to_numpy(F.log_softmax(u.asarray([0.0, 0.0])))[0]), 4)
        -0.6931
    """
    return ops.log_softmax(upcast(x), axis)


def _nn(x: Any) -> Any:
    return _backend.backend_of(x).nn


def linear(x: Array, weight: Array, bias: Array | None = None) -> Array:
    """``x @ weight.T + bias``, with torch's weight layout.

    Args:
        x: shape ``(..., in_features)``.
        weight: shape ``(out_features, in_features)``.
        bias: shape ``(out_features,)`` or None.

    Returns:
        Shape ``(..., out_features)``.

    Example:
        >>> import unified as u
        >>> from unified.nn import functional as F
        >>> y = F.linear(u.ops.ones((2, 3)), u.ops.ones((4, 3)), u.ops.zeros(4))
        >>> u.to_numpy(y)[0].tolist()
        [3.0, 3.0, 3.0, 3.0]
    """
    x, weight, bias = cast_in(x, weight, bias)
    return _nn(x).linear(x, weight, bias)


def embedding(ids: Array, weight: Array) -> Array:
    """Rows of ``weight`` picked by integer ``ids``.

    Args:
        ids: integer array of any shape ``S`` (int32 is fine on every backend).
        weight: shape ``(num_embeddings, dim)``.

    Returns:
        Shape ``S + (dim,)``.

    Example:
        >>> import unified as u
        >>> from unified.nn import functional as F
        >>> table = u.asarray([[0.0, 0.5], [1.0, 1.5]])
        >>> u.to_numpy(F.embedding(u.asarray([1, 0, 1]), table)).tolist()
        [[1.0, 1.5], [0.0, 0.5], [1.0, 1.5]]
    """
    return _nn(weight).embedding(ids, weight)


def _norm_shape(shape: Any) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)


def layer_norm(x: Array, normalized_shape: Any, weight: Array | None = None, bias: Array | None = None,
               eps: float = 1e-5) -> Array:
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over the last ``len(normalized_shape)`` axes.

    The variance is the biased one, computed in two passes (as torch; flax's
    default one-pass form loses precision when the mean is large).

    Example:
        >>> import unified as u
        >>> from unified.nn import functional as F
        >>> y = F.layer_norm(u.asarray([[1.0, 3.0]]), 2)
        >>> [round(v, 3) for v in u.to_numpy(y)[0].tolist()]
        [-1.0, 1.0]
    """
    x = upcast(x)
    return _nn(x).layer_norm(x, _norm_shape(normalized_shape), weight, bias, float(eps))


def rms_norm(x: Array, normalized_shape: Any, weight: Array | None = None, eps: float | None = None) -> Array:
    """``x / sqrt(mean(x**2) + eps) * weight`` over the last ``len(normalized_shape)`` axes.

    ``eps=None`` means the machine epsilon of ``x``'s dtype (torch's default).

    Example:
        >>> import unified as u
        >>> from unified.nn import functional as F
        >>> [round(v, 3) for v in u.to_numpy(F.rms_norm(u.asarray([3.0, 4.0]), 2)).tolist()]
        [0.849, 1.131]
    """
    x = upcast(x)
    if eps is None:
        eps = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "float64": 2.0**-52}.get(
            _backend.backend_of(x).core.dtype_name(x), 2.0**-23)
    return _nn(x).rms_norm(x, _norm_shape(normalized_shape), weight, float(eps))


def gelu(x: Array, approximate: str = "none") -> Array:
    """The GELU activation: exact (``"none"``, erf-based, torch's default) or ``"tanh"`` (GPT-2's).

    Example:
        >>> import unified as u
        >>> from unified.nn import functional as F
        >>> x = u.asarray(1.0)
        >>> round(float(u.to_numpy(F.gelu(x))), 4), round(float(u.to_numpy(F.gelu(x, "tanh"))), 4)
        (0.8413, 0.8412)
    """
    if approximate not in ("none", "tanh"):
        raise UnifiedError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}.")
    return _nn(x).gelu(x, approximate == "tanh")


def relu(x: Array) -> Array:
    """``max(x, 0)``.

    Example:
        >>> import unified as u
        >>> from unified.nn import functional as F
        >>> u.to_numpy(F.relu(u.asarray([-1.0, 2.0]))).tolist()
        [0.0, 2.0]
    """
    return _nn(x).relu(x)


def silu(x: Array) -> Array:
    """``x * sigmoid(x)`` (swish).

    Example:
        >>> import unified as u
        >>> from unified.nn import functional as F
        >>> u.to_numpy(F.silu(u.asarray([0.0]))).tolist()
        [0.0]
    """
    return _nn(x).silu(x)


def dropout(x: Array, rate: float, *, key: Array | None) -> Array:
    """Zero each element with probability ``rate`` and scale the rest by ``1 / (1 - rate)``.

    The mask is ``u.random.bernoulli(key, 1 - rate, x.shape)``: the same key
    gives the same mask on every backend.

    Args:
        x: any shape.
        rate: the drop probability in ``[0, 1)``; 0 returns ``x`` unchanged.
        key: a random key (required when ``rate > 0``).

    Example:
        >>> import unified as u
        >>> from unified.nn import functional as F
        >>> y = u.to_numpy(F.dropout(u.ops.ones(1000), 0.5, key=u.random.key(0)))
        >>> sorted(set(y.tolist())), 400 < int((y > 0).sum()) < 600
        ([0.0, 2.0], True)
    """
    if not 0.0 <= rate < 1.0:
        raise UnifiedError(f"dropout: rate must be in [0, 1), got {rate}.")
    if rate == 0.0:
        return x
    if key is None:
        raise UnifiedError(
            "dropout with rate > 0 needs a random key: pass key=u.random.key(step) (a new one each "
            "step), or put the module in eval mode (model.eval()) to switch dropout off."
        )
    keep = random.bernoulli(key, 1.0 - rate, tuple(x.shape))
    o = ops_of(x)
    return o.where(keep, x / (1.0 - rate), o.zeros_like(x, None))


def dot_product_attention(q: Array, k: Array, v: Array, *, mask: Array | None = None, bias: Array | None = None,
                          is_causal: bool = False, scale: float | None = None, dropout: float = 0.0,
                          key: Array | None = None) -> Array:
    """Scaled dot-product attention: ``softmax(q k^T * scale + bias, masked) v``.

    Uses ``torch.nn.functional.scaled_dot_product_attention`` under torch and
    ``jax.nn.dot_product_attention`` under JAX; with attention dropout it takes
    an explicit path so that the dropout mask comes from ``key``.

    Args:
        q: ``(batch, heads, q_len, head_dim)``.
        k: ``(batch, heads, kv_len, head_dim)``.
        v: ``(batch, heads, kv_len, head_dim)``.
        mask: boolean, broadcastable to ``(batch, heads, q_len, kv_len)``:
            **True where a query may attend** (the convention of torch's SDPA
            and JAX; ``nn.MultiHeadAttention`` follows torch's module instead).
        bias: added to the scores, broadcastable likewise (e.g. ALiBi).
        is_causal: also mask keys after each query (``kv_len`` may exceed
            ``q_len``: queries are then aligned with the last positions).
        scale: default ``1 / sqrt(head_dim)``.
        dropout: dropout rate on the attention weights (needs ``key``).

    Returns:
        ``(batch, heads, q_len, head_dim)``.

    Example:
        >>> import unified as u
        >>> from unified.nn import functional as F
        >>> q = u.ops.ones((1, 1, 2, 4)); v = u.asarray([[[[1.0] * 4, [3.0] * 4]]])
        >>> u.to_numpy(F.dot_product_attention(q, q, v, is_causal=True))[0, 0, :, 0].tolist()
        [1.0, 2.0]
    """
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ShapeError(
            f"dot_product_attention takes (batch, heads, seq, head_dim) arrays; got q {tuple(q.shape)}, "
            f"k {tuple(k.shape)}, v {tuple(v.shape)}. Split heads first, e.g. with einops.rearrange."
        )
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    q, k, v, bias = cast_in(q, k, v, bias)
    if dropout > 0.0:
        return _attention_with_dropout(q, k, v, mask, bias, is_causal, scale, dropout, key)
    return _nn(q).dot_product_attention(q, k, v, mask, bias, is_causal, scale)


def causal_mask(q_len: int, kv_len: int, like: Array) -> Array:
    """Boolean ``(q_len, kv_len)``: True where query i may see key j (queries aligned to the end)."""
    o = ops_of(like)
    offset = kv_len - q_len
    return o.tril(o.ones((q_len, kv_len), "bool"), offset)


def _attention_with_dropout(q: Array, k: Array, v: Array, mask: Array | None, bias: Array | None,
                            is_causal: bool, scale: float, rate: float, key: Array | None) -> Array:
    o = ops_of(q)
    scores = o.einsum("bhqd,bhkd->bhqk", (q, k)) * scale
    if bias is not None:
        scores = scores + bias
    if is_causal:
        causal = causal_mask(q.shape[-2], k.shape[-2], q)
        mask = causal if mask is None else o.logical_and(mask, causal)
    if mask is not None:
        scores = o.where(mask, scores, o.full_like(scores, float("-inf"), None))
    low = _backend.backend_of(scores).core.dtype_name(scores)
    weights = o.softmax(o.astype(scores, "float32"), -1)  # softmax in float32, as the fused kernels do
    weights = dropout_fn(o.astype(weights, low) if low != "float32" else weights, rate, key=key)
    return o.einsum("bhqk,bhkd->bhqd", (weights, v))


dropout_fn = dropout


def cross_entropy(logits: Array, labels: Array, *, ignore_index: int = -100, label_smoothing: float = 0.0,
                  reduction: str = "mean") -> Array:
    """Cross-entropy of integer ``labels`` under ``logits``, as ``torch.nn.functional.cross_entropy``.

    The class axis is the **last** one (torch's is axis 1): logits
    ``(..., classes)`` and labels ``(...)``, so a language model's ``(B, T, V)``
    logits need no reshaping.

    Args:
        logits: shape ``(..., classes)``, unnormalised.
        labels: integer shape ``(...)``; entries equal to ``ignore_index`` count for nothing.
        ignore_index: the label value to skip (-100, as torch).
        label_smoothing: in ``[0, 1]``: the target is ``(1 - s) * one_hot + s / classes``.
        reduction: ``"mean"`` (over labels not ignored), ``"sum"`` or ``"none"`` (shape ``(...)``).

    Example:
        >>> import unified as u
        >>> from unified.nn import functional as F
        >>> logits = u.asarray([[0.0, 0.0], [10.0, -10.0]])
        >>> round(float(u.to_numpy(F.cross_entropy(logits, u.asarray([0, 0])))), 4)
        0.3466
        >>> round(float(u.to_numpy(F.cross_entropy(logits, u.asarray([0, -100])))), 4)
        0.6931
    """
    if reduction not in ("mean", "sum", "none"):
        raise UnifiedError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")
    if tuple(labels.shape) != tuple(logits.shape[:-1]):
        raise ShapeError(
            f"cross_entropy: labels of shape {tuple(labels.shape)} for logits of shape {tuple(logits.shape)}; "
            "labels must have the logits' shape without the last (class) axis."
        )
    if not 0.0 <= label_smoothing <= 1.0:
        raise UnifiedError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}.")
    logits = upcast(logits)
    return _nn(logits).cross_entropy(logits, labels, int(ignore_index), float(label_smoothing), reduction)
