"""The same GPT steps written once with `unified` (what the bench measures against the native twins)."""

from __future__ import annotations

from typing import Any

import unified as u
from unified.models import GPT, GPTConfig
from unified.nn import functional as F


class Unified:
    def __init__(self, shape: dict[str, int], compile: bool, device: str, dtype: str) -> None:
        config = GPTConfig.gpt2(vocab_size=shape["vocab"], block_size=shape["block"], n_layer=shape["layers"],
                                n_head=shape["heads"], n_embd=shape["d"], dropout=0.0)
        with u.manual_seed(0):
            self.model = u.to_device(GPT(config), device)
        self.opt = u.optim.chain(
            u.optim.clip_by_global_norm(1.0),
            u.optim.adamw(3e-4, b1=0.9, b2=0.95, weight_decay=0.1, mask=u.optim.no_decay_on_norms_and_biases))
        self.state = self.opt.init(self.model)
        precision = dtype

        def loss_fn(model: Any, x: Any, y: Any) -> Any:
            if precision == "bfloat16":
                with u.autocast("bfloat16"):
                    return F.cross_entropy(model(x), y)
            return F.cross_entropy(model(x), y)

        def train_step(model: Any, state: Any, x: Any, y: Any) -> Any:
            loss, grads = u.value_and_grad(loss_fn)(model, x, y)
            model, state = self.opt.step(model, grads, state)
            return model, state, loss

        def infer(model: Any, x: Any) -> Any:
            if precision == "bfloat16":
                with u.autocast("bfloat16"):
                    return model(x)
            return model(x)

        self._train = u.jit(train_step, donate_argnums=(0, 1)) if compile else train_step
        self._infer = u.jit(infer) if compile else infer
        self.model.eval()  # no dropout anyway; eval so that torch and JAX trace the same model once

    def train(self, x: Any, y: Any) -> Any:
        self.model, self.state, loss = self._train(self.model, self.state, x, y)
        return loss

    def infer(self, x: Any) -> Any:
        with u.no_grad():
            return self._infer(self.model, x)

    def count(self) -> int:
        return self.model.num_parameters()
