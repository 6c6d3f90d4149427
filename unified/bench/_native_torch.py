"""The GPT training and inference steps written natively in PyTorch, the way an expert writes them
for speed: nanoGPT's model (fused QKV projection, ``scaled_dot_product_attention``, tied
embeddings), ``torch.optim.AdamW`` with its fused kernel (foreach where fused is unavailable),
``clip_grad_norm_(foreach=True)``, ``zero_grad(set_to_none=True)``; compiled with
``torch.compile`` on the model and on the optimizer step, as PyTorch's own recipes do."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = Attention(d, heads)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.c_proj = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab: int, block: int, layers: int, heads: int, d: int) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(block, d)
        self.h = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, std=std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T


class Native:
    """One configuration: ``train(x, y)`` and ``infer(x)`` return something to synchronise on."""

    def __init__(self, shape: dict[str, int], compile: bool, device: str, dtype: str) -> None:
        torch.manual_seed(0)
        self.model = GPT(shape["vocab"], shape["block"], shape["layers"], shape["heads"], shape["d"]).to(device)
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        other = [p for p in self.model.parameters() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}]
        try:
            self.opt = torch.optim.AdamW(groups, lr=3e-4, betas=(0.9, 0.95), fused=True)
        except (RuntimeError, TypeError):
            self.opt = torch.optim.AdamW(groups, lr=3e-4, betas=(0.9, 0.95), foreach=True)
        self.params = list(self.model.parameters())
        self.forward = torch.compile(self.model) if compile else self.model
        self.autocast = dtype == "bfloat16"
        self.device = device

        def opt_step() -> None:
            torch.nn.utils.clip_grad_norm_(self.params, 1.0, foreach=True)
            self.opt.step()

        self.opt_step = torch.compile(opt_step) if compile else opt_step

    def train(self, x: Any, y: Any) -> Any:
        with torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.autocast):
            logits = self.forward(x)
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1))
        loss.backward()
        self.opt_step()
        self.opt.zero_grad(set_to_none=True)
        return loss

    def infer(self, x: Any) -> Any:
        with torch.inference_mode(), torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.autocast):
            return self.forward(x)

    def count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())
