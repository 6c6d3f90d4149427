"""The GPT training and inference steps written in Keras 3, run natively on torch or on JAX.

Set ``KERAS_BACKEND`` before this module is imported (the bench worker does). The model is the native
twins' GPT-2 (pre-norm blocks, fused QKV projection, causal ``keras.ops.dot_product_attention``, tanh
GELU, learned positions, tied input and output embeddings, the same initialisation, LayerNorm eps 1e-5)
as a ``keras.Model`` subclass of ``keras.layers`` and ``keras.ops``. The optimizer is
``keras.optimizers.AdamW(3e-4, beta_2=0.95, weight_decay=0.1, global_clipnorm=1.0)`` with the vectors
(biases, LayerNorm scales) excluded from weight decay; the loss is ``SparseCategoricalCrossentropy``
on float32 logits; bfloat16 is Keras's ``"mixed_bfloat16"`` policy (float32 variables, bfloat16 compute).

Each backend gets the training step a Keras expert writes for speed on it:

* JAX: the stateless API under ``jax.jit`` (Keras's own recipe for a custom JAX loop):
  ``model.stateless_call`` inside ``jax.value_and_grad``, then ``optimizer.stateless_apply``, in one
  jitted function that donates the state (trainable, non-trainable and optimizer variables) and keeps it
  as JAX arrays between steps, as the native twin does. ``model.compile(jit_compile=True)`` with
  ``train_on_batch`` compiles the same program but, called step by step, writes the new state back into
  every ``keras.Variable`` after each step and reads it out again before the next (``fit`` avoids that
  only inside its own loop); measured (on CPU) on a tiny model, where only that host work shows, it
  costs 0.7 ms a step against 0.4 ms for the stateless step (the native twin: 0.3 ms).
* torch: ``model.compile(..., jit_compile=True)`` and ``train_on_batch``: under the torch backend Keras
  wraps its whole train step in ``torch.compile`` (forward and loss in one graph, backward through
  AOTAutograd, and, resuming after ``loss.backward()``, the optimizer's ``torch._foreach`` update in a
  second graph), which is what the native twin compiles too. A hand-written torch loop compiled the
  same way (``torch.compile`` over forward and loss and over ``optimizer.apply``) measured no faster:
  1.2 ms a step of host time against the trainer's 1.5 ms on a tiny model (within the noise), 165 ms
  against 161 ms at the bench's "cpu" size; so the trainer Keras users already write is the one
  measured. Inference is the model under ``torch.compile`` and ``torch.inference_mode``:
  ``predict_on_batch`` would copy the logits to host NumPy on every call.

Attention on torch passes ``flash_attention=False``: Keras's default (``None``) probes flash support on
every call with an object ``torch.compile`` cannot trace, which breaks the graph at every block (24
breaks for four blocks); ``False`` calls plain ``scaled_dot_product_attention``, which still picks the
flash kernel itself where it applies, and the whole forward compiles to one graph. On JAX the default
is kept (XLA's attention, or cuDNN's flash attention on a GPU where Keras finds it usable).

Keras on torch recompiles once, on the second training step (the first fills the call-context and
weight-decay caches that the compiled code guards on); that recompilation falls in the timed steps,
as one outlier that the bench's median ignores.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import layers, ops

__all__ = ["GPT", "Keras"]

BACKEND = keras.backend.backend()
FLASH: bool | None = False if BACKEND == "torch" else None  # see the module docstring


def _normal(std: float) -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(mean=0.0, stddev=std)


class CausalSelfAttention(layers.Layer):
    def __init__(self, d: int, heads: int, proj_std: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.heads = heads
        self.c_attn = layers.Dense(3 * d, kernel_initializer=_normal(0.02), name="c_attn")
        self.c_proj = layers.Dense(d, kernel_initializer=_normal(proj_std), name="c_proj")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.c_attn.build(input_shape)
        self.c_proj.build(input_shape)

    def call(self, x: Any) -> Any:
        _, T, C = ops.shape(x)
        qkv = ops.split(self.c_attn(x), 3, axis=-1)
        q, k, v = (ops.reshape(t, (-1, T, self.heads, C // self.heads)) for t in qkv)
        y = ops.dot_product_attention(q, k, v, is_causal=True, flash_attention=FLASH)  # (B, T, heads, head size)
        return self.c_proj(ops.reshape(y, (-1, T, C)))


class Block(layers.Layer):
    def __init__(self, d: int, heads: int, proj_std: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ln_1 = layers.LayerNormalization(epsilon=1e-5, name="ln_1")
        self.attn = CausalSelfAttention(d, heads, proj_std, name="attn")
        self.ln_2 = layers.LayerNormalization(epsilon=1e-5, name="ln_2")
        self.c_fc = layers.Dense(4 * d, kernel_initializer=_normal(0.02), name="c_fc")
        self.c_proj = layers.Dense(d, kernel_initializer=_normal(proj_std), name="c_proj")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        for layer in (self.ln_1, self.attn, self.ln_2, self.c_fc):
            layer.build(input_shape)
        self.c_proj.build((*input_shape[:-1], self.c_fc.units))

    def call(self, x: Any) -> Any:
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(ops.gelu(self.c_fc(self.ln_2(x)), approximate=True))


class GPT(keras.Model):
    """GPT-2: token ids ``(batch, time)`` to float32 logits ``(batch, time, vocab)``."""

    def __init__(self, vocab: int, block: int, n_layers: int, heads: int, d: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        proj_std = 0.02 / math.sqrt(2 * n_layers)  # GPT-2's scaled init of the residual projections
        self.d = d
        self.wte = layers.Embedding(vocab, d, embeddings_initializer=_normal(0.02), name="wte")
        self.wpe = layers.Embedding(block, d, embeddings_initializer=_normal(0.02), name="wpe")
        self.h = [Block(d, heads, proj_std, name=f"h_{i}") for i in range(n_layers)]
        self.ln_f = layers.LayerNormalization(epsilon=1e-5, name="ln_f")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.wte.build(input_shape)
        self.wpe.build(input_shape)
        for block in self.h:
            block.build((*input_shape, self.d))
        self.ln_f.build((*input_shape, self.d))

    def call(self, idx: Any) -> Any:
        x = self.wte(idx) + self.wpe(ops.arange(ops.shape(idx)[1]))
        for block in self.h:
            x = block(x)
        x = self.ln_f(x)
        logits = ops.matmul(x, ops.transpose(ops.cast(self.wte.embeddings, x.dtype)))  # tied embeddings
        return ops.cast(logits, "float32")


class Keras:
    """One configuration: ``train(x, y)`` and ``infer(x)`` return something to synchronise on."""

    def __init__(self, shape: dict[str, int], compile: bool, device: str, dtype: str) -> None:
        # Keras places everything on the backend's default device (the GPU where there is one), as the twins do.
        keras.config.set_dtype_policy("mixed_bfloat16" if dtype == "bfloat16" else "float32")
        keras.utils.set_random_seed(0)
        self.model = GPT(shape["vocab"], shape["block"], shape["layers"], shape["heads"], shape["d"])
        self.model.build((None, shape["block"]))
        self.optimizer = keras.optimizers.AdamW(learning_rate=3e-4, beta_1=0.9, beta_2=0.95, epsilon=1e-8,
                                                weight_decay=0.1, global_clipnorm=1.0)
        self.optimizer.exclude_from_weight_decay(
            var_list=[v for v in self.model.trainable_variables if len(v.shape) < 2])
        self.loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if BACKEND == "jax":
            self._setup_jax(compile)
        else:
            self._setup_torch(compile)

    def _setup_jax(self, compile: bool) -> None:
        import jax

        model, optimizer, loss_fn = self.model, self.optimizer, self.loss
        optimizer.build(model.trainable_variables)

        def compute_loss(trainable: Any, non_trainable: Any, x: Any, y: Any) -> tuple[Any, Any]:
            logits, non_trainable = model.stateless_call(trainable, non_trainable, x)
            return loss_fn(y, logits), non_trainable

        def train_step(state: Any, x: Any, y: Any) -> tuple[Any, Any]:
            trainable, non_trainable, optimizer_vars = state
            (loss, non_trainable), grads = jax.value_and_grad(compute_loss, has_aux=True)(
                trainable, non_trainable, x, y)
            trainable, optimizer_vars = optimizer.stateless_apply(optimizer_vars, grads, trainable)
            return loss, (trainable, non_trainable, optimizer_vars)

        def infer_step(trainable: Any, non_trainable: Any, x: Any) -> Any:
            return model.stateless_call(trainable, non_trainable, x)[0]

        # The jitted step donates this state: from here on it, not the model's variables, holds the weights.
        self.state = ([v.value for v in model.trainable_variables],
                      [v.value for v in model.non_trainable_variables],
                      [v.value for v in optimizer.variables])
        self._train = jax.jit(train_step, donate_argnums=0) if compile else train_step
        self._infer = jax.jit(infer_step) if compile else infer_step

    def _setup_torch(self, compile: bool) -> None:
        import torch

        self.model.compile(optimizer=self.optimizer, loss=self.loss, jit_compile=compile)
        self._forward = torch.compile(self.model) if compile else self.model

    def inputs(self, x_np: np.ndarray, y_np: np.ndarray) -> tuple[Any, Any]:
        dtype = "int64" if BACKEND == "torch" else "int32"  # torch's embedding and cross entropy index with int64
        return ops.convert_to_tensor(x_np, dtype), ops.convert_to_tensor(y_np, dtype)

    def train(self, x: Any, y: Any) -> Any:
        """One step; the loss (a JAX array, or on torch the float ``train_on_batch`` returns)."""
        if BACKEND == "jax":
            loss, self.state = self._train(self.state, x, y)
            return loss
        return self.model.train_on_batch(x, y)

    def infer(self, x: Any) -> Any:
        if BACKEND == "jax":
            trainable, non_trainable, _ = self.state
            return self._infer(trainable, non_trainable, x)
        import torch

        with torch.inference_mode():
            return self._forward(x)

    def sync(self, out: Any) -> None:
        """Block until ``out`` is computed (reading back one element, not a whole array of logits)."""
        if isinstance(out, float):  # train_on_batch's loss, already read back
            return
        if BACKEND == "jax":
            import jax

            jax.block_until_ready(out)
            return
        import torch

        if out.device.type == "cuda":
            torch.cuda.synchronize()
        float(out.reshape(-1)[0])

    def count(self) -> int:
        return int(self.model.count_params())
