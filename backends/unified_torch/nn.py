"""Neural-network functions for torch: ``torch.nn.functional`` with the class axis last."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def linear(x, weight, bias):
    return F.linear(x, weight, bias)


def embedding(ids, weight):
    return F.embedding(ids, weight)


def layer_norm(x, shape, weight, bias, eps):
    return F.layer_norm(x, shape, weight, bias, eps)


def rms_norm(x, shape, weight, eps):
    return F.rms_norm(x, shape, weight, eps)


def gelu(x, approximate):
    return F.gelu(x, approximate="tanh" if approximate else "none")


relu = F.relu
silu = F.silu


def dot_product_attention(q, k, v, mask, bias, is_causal, scale):
    q_len, kv_len = q.shape[-2], k.shape[-2]
    if is_causal and (mask is not None or bias is not None or q_len != kv_len):
        # SDPA's is_causal aligns queries to the first keys and takes no mask
        # with it; ours aligns them to the last keys (right for a KV cache).
        causal = torch.ones(q_len, kv_len, dtype=torch.bool, device=q.device).tril(kv_len - q_len)
        mask = causal if mask is None else mask & causal
        is_causal = False
    attn_mask = mask
    if bias is not None:
        attn_mask = bias if mask is None else torch.where(mask, bias, float("-inf"))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal, scale=scale)


def cross_entropy(logits, labels, ignore_index, label_smoothing, reduction):
    classes = logits.shape[-1]
    out = F.cross_entropy(logits.reshape(-1, classes), labels.reshape(-1).long(), ignore_index=ignore_index,
                          label_smoothing=label_smoothing, reduction=reduction)
    return out.reshape(labels.shape) if reduction == "none" else out
