"""A GPT language model, written once for every backend.

One ``GPTConfig`` describes both the seed document's GPT (post-norm blocks,
learned positions, an untied output layer with bias, exact GELU) and GPT-2
(pre-norm blocks, tied input and output embeddings, tanh GELU). Parameter
names are GPT-2's (``transformer.h.0.attn.c_attn.weight`` ...), so loading a
Hugging Face checkpoint is a key copy plus a transpose of its Conv1D weights.

Reads top to bottom: Config -> CausalSelfAttention -> MLP -> Block -> GPT,
then loading and generation. Unlike the seed's example, attention is causal:
a language model must not see the tokens it predicts.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any

from unified import _backend, ops, random
from unified._errors import ShapeError, UnifiedError
from unified._protocols import Array
from unified.nn import Dropout, Embedding, LayerNorm, Linear, Module, ModuleDict, ModuleList
from unified.nn import functional as F
from unified.transforms import jit

__all__ = ["GPT", "GPTConfig", "KVCache"]


@dataclasses.dataclass(frozen=True)
class GPTConfig:
    """Everything that shapes a GPT.

    Attributes:
        vocab_size: tokens in the vocabulary.
        block_size: the longest sequence (learned positions go this far).
        n_layer: transformer blocks.
        n_head: attention heads (must divide ``n_embd``).
        n_embd: the model width.
        dropout: on embeddings, attention weights and residual branches (training only).
        bias: biases in the linear layers and layer norms.
        norm_first: pre-norm blocks ``x + f(ln(x))`` (GPT-2) instead of post-norm ``ln(x + f(x))`` (the seed).
        tie_embeddings: the output layer reuses the token embedding (GPT-2).
        lm_head_bias: a bias on the (untied) output layer (the seed's ``nn.Linear(d_model, vocab)``).
        gelu: ``"none"`` (exact erf, torch's default) or ``"tanh"`` (GPT-2).
        layer_norm_eps: the layer norms' epsilon.
    """

    vocab_size: int = 50257
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True
    norm_first: bool = True
    tie_embeddings: bool = True
    lm_head_bias: bool = False
    gelu: str = "tanh"
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise UnifiedError(f"GPTConfig: n_embd={self.n_embd} is not divisible by n_head={self.n_head}.")
        if self.gelu not in ("none", "tanh"):
            raise UnifiedError(f"GPTConfig: gelu must be 'none' or 'tanh', got {self.gelu!r}.")
        if self.tie_embeddings and self.lm_head_bias:
            raise UnifiedError("GPTConfig: a tied output layer has no bias; set lm_head_bias=False.")

    @classmethod
    def seed(cls, vocab_size: int = 50257, **overrides: Any) -> GPTConfig:
        """The seed document's GPT: post-norm, 6 layers of width 512 with 8 heads, 1024 positions.

        Example:
            >>> from unified.models import GPTConfig
            >>> GPTConfig.seed(vocab_size=65).norm_first
            False
        """
        base = dict(vocab_size=vocab_size, block_size=1024, n_layer=6, n_head=8, n_embd=512, dropout=0.1,
                    bias=True, norm_first=False, tie_embeddings=False, lm_head_bias=True, gelu="none")
        return cls(**{**base, **overrides})

    @classmethod
    def gpt2(cls, **overrides: Any) -> GPTConfig:
        """GPT-2 small (124M): pre-norm, tied embeddings, tanh GELU, 12 layers of width 768.

        Example:
            >>> from unified.models import GPTConfig
            >>> GPTConfig.gpt2(n_layer=2).n_embd
            768
        """
        base = dict(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768, dropout=0.0, bias=True,
                    norm_first=True, tie_embeddings=True, lm_head_bias=False, gelu="tanh")
        return cls(**{**base, **overrides})


class KVCache:
    """Keys and values of past positions, per layer: ``(batch, heads, block_size, head_dim)`` each.

    A pytree (a plain tuple of pairs underneath), so it passes through ``u.jit``.
    """

    @staticmethod
    def empty(config: GPTConfig, batch: int, dtype: str = "float32") -> tuple[tuple[Array, Array], ...]:
        shape = (batch, config.n_head, config.block_size, config.n_embd // config.n_head)
        return tuple((ops.zeros(shape, dtype), ops.zeros(shape, dtype)) for _ in range(config.n_layer))


class CausalSelfAttention(Module):
    """Multi-head self-attention that only looks back."""

    def __init__(self, config: GPTConfig) -> None:
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        self.c_attn = Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v in one matmul
        self.c_proj = Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = Dropout(config.dropout)
        self.salt = _salt()

    def __call__(self, x: Array, *, key: Array | None = None, cache: tuple[Array, Array] | None = None,
                 pos: Any = 0) -> Any:
        B, T, C = x.shape
        q, k, v = ops.split(self.c_attn(x), 3, axis=2)
        q, k, v = (_heads(t, self.n_head) for t in (q, k, v))  # (B, nh, T, hs)
        rate = self.dropout if self.training else 0.0
        attn_key = random.fold_in(key, self.salt) if key is not None and rate > 0 else None
        if cache is None:
            y = F.dot_product_attention(q, k, v, is_causal=True, dropout=rate, key=attn_key)
        else:
            # Write this chunk's keys and values at `pos`; attend to every position up to each query's own.
            k_all = ops.dynamic_update_slice(cache[0], k, [0, 0, pos, 0])
            v_all = ops.dynamic_update_slice(cache[1], v, [0, 0, pos, 0])
            visible = ops.arange(k_all.shape[2])[None, :] <= (ops.arange(T) + pos)[:, None]  # (T, block)
            y = F.dot_product_attention(q, k_all, v_all, mask=visible, dropout=rate, key=attn_key)
            cache = (k_all, v_all)
        y = ops.reshape(ops.permute_dims(y, (0, 2, 1, 3)), (B, T, C))  # re-assemble the heads side by side
        y = self.resid_dropout(self.c_proj(y), key=key)
        return y if cache is None else (y, cache)


class MLP(Module):
    """The position-wise feed-forward network: expand 4x, GELU, project back."""

    def __init__(self, config: GPTConfig) -> None:
        self.c_fc = Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.gelu = config.gelu
        self.dropout = Dropout(config.dropout)

    def __call__(self, x: Array, *, key: Array | None = None) -> Array:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), self.gelu)), key=key)


class Block(Module):
    """A transformer block: attention then MLP, each in a residual, normalised before or after."""

    def __init__(self, config: GPTConfig) -> None:
        self.norm_first = config.norm_first
        self.ln_1 = LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.mlp = MLP(config)

    def __call__(self, x: Array, *, key: Array | None = None, cache: Any = None, pos: Any = 0) -> Any:
        if self.norm_first:  # GPT-2
            a = self.attn(self.ln_1(x), key=key, cache=cache, pos=pos)
            a, cache = a if cache is not None else (a, None)
            x = x + a
            x = x + self.mlp(self.ln_2(x), key=key)
        else:  # the seed: post-norm
            a = self.attn(x, key=key, cache=cache, pos=pos)
            a, cache = a if cache is not None else (a, None)
            x = self.ln_1(x + a)
            x = self.ln_2(x + self.mlp(x, key=key))
        return x if cache is None else (x, cache)


class GPT(Module):
    """A GPT language model: tokens ``(B, T)`` int -> logits ``(B, T, vocab_size)``.

    Example:
        >>> import unified as u
        >>> from unified.models import GPT, GPTConfig
        >>> cfg = GPTConfig.gpt2(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=8)
        >>> model = GPT(cfg)
        >>> tuple(model(u.asarray([[1, 2, 3]])).shape)
        (1, 3, 50)
    """

    def __init__(self, config: GPTConfig) -> None:
        self.config = config
        self.transformer = ModuleDict(dict(
            wte=Embedding(config.vocab_size, config.n_embd),
            wpe=Embedding(config.block_size, config.n_embd),
            drop=Dropout(config.dropout),
            h=ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias),
        ))
        if not config.tie_embeddings:
            self.lm_head = Linear(config.n_embd, config.vocab_size, bias=config.lm_head_bias)
        self._init_weights()

    def _init_weights(self) -> None:
        """GPT-2's initialisation (as nanoGPT): weights N(0, 0.02), biases 0, and the projections
        that feed the residual stream scaled by 1/sqrt(2 n_layer), so that its variance does not
        grow with depth. (torch's layer defaults would give N(0, 1) embeddings and logits of ~10.)"""
        from unified.nn import Parameter, init

        std = 0.02
        for name, module in self.named_modules():
            if isinstance(module, (Linear, Embedding)):
                scale = std / math.sqrt(2 * self.config.n_layer) if name.endswith("c_proj") else std
                module.weight = Parameter(init.normal(tuple(module.weight.shape), std=scale))
                if isinstance(module, Linear) and module.bias is not None:
                    module.bias = Parameter(init.zeros(tuple(module.bias.shape)))

    def __call__(self, idx: Array, *, key: Array | None = None) -> Array:
        """Logits for every position. ``key`` drives dropout in training mode."""
        x = self._embed(idx, 0, key)
        for block in self.transformer["h"]:
            x = block(x, key=key)
        return self._head(x)

    def _embed(self, idx: Array, pos: Any, key: Array | None) -> Array:
        if idx.ndim != 2:
            raise ShapeError(f"GPT takes token ids of shape (batch, time); got {tuple(idx.shape)}.")
        T = idx.shape[1]
        if T > self.config.block_size:
            raise ShapeError(f"GPT: a sequence of {T} tokens is longer than block_size={self.config.block_size}.")
        positions = ops.arange(T) + pos  # (T,)
        x = self.transformer["wte"](idx) + self.transformer["wpe"](positions)  # (B, T, C)
        return self.transformer["drop"](x, key=key)

    def _head(self, x: Array) -> Array:
        x = self.transformer["ln_f"](x)
        if self.config.tie_embeddings:
            return self.transformer["wte"].attend(x)  # (B, T, vocab)
        return self.lm_head(x)

    def decode(self, idx: Array, cache: Any, pos: Any) -> tuple[Array, Any]:
        """Logits for ``idx`` ``(B, T)`` placed at positions ``pos .. pos + T - 1``, reading and
        extending ``cache`` (from :meth:`init_cache`); returns ``(logits, cache)``."""
        x = self._embed(idx, pos, None)
        new_cache = []
        for block, layer_cache in zip(self.transformer["h"], cache):
            x, layer_cache = block(x, cache=layer_cache, pos=pos)
            new_cache.append(layer_cache)
        return self._head(x), tuple(new_cache)

    def init_cache(self, batch: int) -> Any:
        """An empty key-value cache for ``batch`` sequences of up to ``block_size`` tokens."""
        weight = self.transformer["wte"].weight
        backend = _backend.backend_of(weight)
        with _backend.use_backend(backend.name):
            return KVCache.empty(self.config, batch, backend.core.dtype_name(weight))

    def generate(self, idx: Array, max_new_tokens: int, *, temperature: float = 1.0, top_k: int | None = None,
                 key: Array | None = None, compile: bool = True) -> Array:
        """Extend ``idx`` ``(B, T)`` by ``max_new_tokens`` tokens, with a key-value cache.

        ``temperature=0`` picks the most likely token (greedy); otherwise tokens are
        sampled from ``softmax(logits / temperature)``, restricted to the ``top_k``
        most likely if given, with ``key`` (required then). Runs in eval mode; with
        ``compile`` the prompt and the one-token step are each compiled once (``u.jit``).

        Returns:
            ``(B, T + max_new_tokens)`` token ids.

        Example:
            >>> import unified as u
            >>> from unified.models import GPT, GPTConfig
            >>> model = GPT(GPTConfig.gpt2(vocab_size=20, block_size=12, n_layer=1, n_head=2, n_embd=8))
            >>> out = model.generate(u.asarray([[1, 2]]), 5, temperature=0, compile=False)
            >>> tuple(out.shape)
            (1, 7)
        """
        if idx.ndim != 2:
            raise ShapeError(f"generate takes token ids of shape (batch, time); got {tuple(idx.shape)}.")
        B, T = idx.shape
        if T + max_new_tokens > self.config.block_size:
            raise ShapeError(
                f"generate: {T} prompt tokens + {max_new_tokens} new ones exceed block_size={self.config.block_size}."
            )
        if temperature > 0 and key is None:
            raise UnifiedError("generate: sampling (temperature > 0) needs key=u.random.key(seed); "
                               "or pass temperature=0 for greedy decoding.")
        if top_k is not None and not 1 <= top_k <= self.config.vocab_size:
            raise UnifiedError(f"generate: top_k must be in [1, vocab_size={self.config.vocab_size}], got {top_k}.")
        was_training = self.training
        self.eval()
        try:
            step = _decode_jit if compile else _decode
            cache = self.init_cache(B)
            logits, cache = step(self, idx, cache, _index(0, idx))
            tokens = [idx]
            for i in range(max_new_tokens):
                next_token = _sample(logits[:, -1, :], temperature, top_k,
                                     None if key is None else random.fold_in(key, i))
                next_token = ops.astype(ops.reshape(next_token, (B, 1)), "int32")
                tokens.append(next_token)
                if i + 1 < max_new_tokens:
                    logits, cache = step(self, next_token, cache, _index(T + i, idx))
            return ops.concat(tokens, axis=1)
        finally:
            self.train(was_training)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike[str], *, dtype: str = "float32") -> GPT:
        """A GPT-2 checkpoint in the Hugging Face ``transformers`` layout, on the active backend.

        ``directory`` holds ``config.json`` (a ``GPT2Config``) and ``model.safetensors``.
        Conv1D weights (stored ``(in, out)``) are transposed to ``Linear``'s ``(out, in)``;
        the causal-mask buffers of old checkpoints are skipped. Nothing is downloaded.
        """
        from unified import _safetensors
        from unified._core import asarray

        directory = os.fspath(directory)
        config_path = os.path.join(directory, "config.json")
        weights_path = os.path.join(directory, "model.safetensors")
        for path in (config_path, weights_path):
            if not os.path.exists(path):
                raise UnifiedError(f"from_pretrained: {path} does not exist; the directory needs config.json and "
                                   "model.safetensors (as written by transformers' save_pretrained).")
        with open(config_path) as f:
            hf = json.load(f)
        if hf.get("model_type") not in (None, "gpt2"):
            raise UnifiedError(f"from_pretrained loads GPT-2 checkpoints; {directory} holds a {hf['model_type']!r}.")
        act = hf.get("activation_function", "gelu_new")
        config = GPTConfig.gpt2(
            vocab_size=hf["vocab_size"], block_size=hf.get("n_positions", 1024), n_layer=hf["n_layer"],
            n_head=hf["n_head"], n_embd=hf["n_embd"], layer_norm_eps=hf.get("layer_norm_epsilon", 1e-5),
            gelu="none" if act == "gelu" else "tanh", tie_embeddings=hf.get("tie_word_embeddings", True),
            dropout=0.0,
        )
        tensors, _ = _safetensors.read(weights_path)
        model = cls(config)
        state = {}
        for name, value in tensors.items():
            name = name.removeprefix("transformer.")
            if name.endswith((".attn.bias", ".attn.masked_bias")):
                continue  # old checkpoints store the causal mask as a buffer
            if name.endswith(_CONV1D):
                value = value.T  # Hugging Face's Conv1D keeps weights as (in, out)
            key = name if name.startswith("lm_head.") else f"transformer.{name}"
            if key == "lm_head.weight" and config.tie_embeddings:
                continue
            state[key] = asarray(value, dtype)
        model.load_state_dict(state)
        return model.eval()


_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def _heads(t: Array, n_head: int) -> Array:
    B, T, C = t.shape
    return ops.permute_dims(ops.reshape(t, (B, T, n_head, C // n_head)), (0, 2, 1, 3))


def _index(value: int, like: Array) -> Array:
    """An int32 scalar on ``like``'s backend: a position passed to the compiled step as data, not a constant."""
    return _backend.backend_of(like).core.asarray(value, "int32")


def _salt() -> int:
    from unified.nn import init

    return init.salt()


def _decode(model: GPT, idx: Array, cache: Any, pos: Array) -> tuple[Array, Any]:
    return model.decode(idx, cache, pos)


_decode_jit = jit(_decode)  # one compiled step shared by every call (compiled per backend and shape)


def _sample(logits: Array, temperature: float, top_k: int | None, key: Array | None) -> Array:
    """The next token from the last position's logits ``(B, vocab)``."""
    if temperature == 0:
        return ops.argmax(logits, axis=-1)
    logits = logits / temperature
    if top_k is not None:
        kth = ops.top_k(logits, top_k)[0][:, -1:]  # the k-th largest logit per row
        logits = ops.where(logits < kth, float("-inf"), logits)
    assert key is not None
    return random.categorical(key, logits, axis=-1)
