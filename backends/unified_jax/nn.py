"""Neural-network functions for JAX, matching ``torch.nn.functional``'s numbers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

_LOW = (jnp.float16, jnp.bfloat16)


def linear(x, weight, bias):
    y = jnp.matmul(x, weight.T)
    return y if bias is None else y + bias


def embedding(ids, weight):
    return jnp.take(weight, ids, axis=0)


def _upcast(x):
    # torch normalises 16-bit inputs in float32 and rounds the result once; so do we.
    return x.astype(jnp.float32) if x.dtype in _LOW else x


def layer_norm(x, shape, weight, bias, eps):
    axes = tuple(range(-len(shape), 0))
    xf = _upcast(x)
    mean = jnp.mean(xf, axis=axes, keepdims=True)
    centered = xf - mean
    var = jnp.mean(centered * centered, axis=axes, keepdims=True)  # two passes, as torch
    y = centered * lax.rsqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y.astype(x.dtype)


def rms_norm(x, shape, weight, eps):
    axes = tuple(range(-len(shape), 0))
    xf = _upcast(x)
    y = xf * lax.rsqrt(jnp.mean(xf * xf, axis=axes, keepdims=True) + eps)
    if weight is not None:
        y = y * weight
    return y.astype(x.dtype)


def gelu(x, approximate):
    return jax.nn.gelu(x, approximate=approximate)


relu = jax.nn.relu
silu = jax.nn.silu


def dot_product_attention(q, k, v, mask, bias, is_causal, scale):
    q_len, kv_len = q.shape[-2], k.shape[-2]
    if is_causal and q_len != kv_len:
        causal = jnp.tril(jnp.ones((q_len, kv_len), bool), kv_len - q_len)  # queries end-aligned
        mask = causal if mask is None else jnp.logical_and(mask, causal)
        is_causal = False
    if mask is not None:
        mask = jnp.broadcast_to(mask, (q.shape[0], q.shape[1], q_len, kv_len))
    if bias is not None:
        bias = jnp.broadcast_to(bias, (q.shape[0], q.shape[1], q_len, kv_len))
    # jax.nn.dot_product_attention takes (batch, seq, heads, head_dim).
    out = jax.nn.dot_product_attention(jnp.swapaxes(q, 1, 2), jnp.swapaxes(k, 1, 2), jnp.swapaxes(v, 1, 2),
                                       bias=bias, mask=mask, scale=scale, is_causal=is_causal)
    return jnp.swapaxes(out, 1, 2)


def cross_entropy(logits, labels, ignore_index, label_smoothing, reduction):
    logp = jax.nn.log_softmax(logits, axis=-1)
    valid = labels != ignore_index
    safe = jnp.where(valid, labels, 0)
    loss = -jnp.take_along_axis(logp, safe[..., None].astype(jnp.int32), axis=-1)[..., 0]
    if label_smoothing > 0.0:
        # torch's formula: (1 - s) * nll + s * mean over classes of -log p
        loss = (1.0 - label_smoothing) * loss - label_smoothing * jnp.mean(logp, axis=-1)
    loss = jnp.where(valid, loss, jnp.zeros_like(loss))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return jnp.sum(loss)
    return jnp.sum(loss) / jnp.sum(valid).astype(loss.dtype)
