"""Property tests of numeric equivalence: over generated GPT configurations and inputs, the torch
and JAX backends give the same logits, the same per-layer activations and the same gradient for
every parameter, within the float32 tolerance of :mod:`unified.testing`."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import unified as u
from conftest import BACKENDS
from unified.models import GPT, GPTConfig
from unified.nn import functional as F
from unified.testing import assert_model_close

if not {"torch", "jax"} <= set(BACKENDS):  # pragma: no cover - needs both to compare
    import pytest

    pytest.skip("equivalence needs both the torch and the JAX backend", allow_module_level=True)


@st.composite
def gpt_cases(draw):
    n_head = draw(st.integers(1, 4))
    head_dim = draw(st.sampled_from([2, 4, 8]))
    block_size = draw(st.integers(2, 16))
    tie = draw(st.booleans())
    config = GPTConfig(
        vocab_size=draw(st.integers(3, 50)), block_size=block_size, n_layer=draw(st.integers(1, 3)),
        n_head=n_head, n_embd=n_head * head_dim, dropout=draw(st.sampled_from([0.0, 0.1])),
        bias=draw(st.booleans()), norm_first=draw(st.booleans()), tie_embeddings=tie,
        lm_head_bias=(not tie) and draw(st.booleans()), gelu=draw(st.sampled_from(["none", "tanh"])),
    )
    batch = draw(st.integers(1, 3))
    seq = draw(st.integers(1, block_size))
    seed = draw(st.integers(0, 2**20))
    ids = np.random.default_rng(seed).integers(0, config.vocab_size, (batch, seq)).astype(np.int32)
    return config, ids, seed


def run_gpt(config, ids, seed):
    """Logits, hidden states after each block, and gradients, on the active backend (numpy out)."""
    with u.manual_seed(seed):
        model = GPT(config)
    x, y = u.asarray(ids), u.asarray(np.roll(ids, -1, axis=1))
    key = u.random.key(seed)

    def loss(m):
        return F.cross_entropy(m(x, key=key), y)

    hidden = []
    h = model._embed(x, 0, key)
    for block in model.transformer["h"]:
        h = block(h, key=key)
        hidden.append(u.to_numpy(h))
    grads = u.grad(loss)(model)
    return u.to_numpy(model(x, key=key)), hidden, {k: u.to_numpy(v) for k, v in grads.items()}


@settings(deadline=None)
@given(gpt_cases())
def test_torch_and_jax_agree_on_logits_activations_and_gradients(case):
    config, ids, seed = case
    out = {}
    for name in ("torch", "jax"):
        with u.use_backend(name):
            out[name] = run_gpt(config, ids, seed)
    (lt, ht, gt), (lj, hj, gj) = out["torch"], out["jax"]
    for i, (a, b) in enumerate(zip(ht, hj)):
        assert_model_close(a, b, err_msg=f"hidden state after block {i}")
    assert_model_close(lt, lj, err_msg="logits")
    assert list(gt) == list(gj)
    largest = max(float(np.abs(g).max()) for g in gj.values())
    for name in gt:
        assert_model_close(gt[name], gj[name], scale=largest, err_msg=f"gradient of {name}")
