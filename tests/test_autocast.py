"""Mixed precision: bfloat16 matrix products, float32 norms, losses and master weights, on both backends."""

from __future__ import annotations

import numpy as np
import pytest

import unified as u
from conftest import BACKENDS
from helpers import on_each_backend
from unified import nn
from unified.models import GPT, GPTConfig
from unified.nn import functional as F
from unified.testing import assert_model_close

CFG = GPTConfig.gpt2(vocab_size=37, block_size=16, n_layer=2, n_head=2, n_embd=32, dropout=0.1)
IDS = (np.arange(24, dtype=np.int32).reshape(2, 12) * 5) % 37


def loss_and_grads(precision):
    with u.manual_seed(0):
        model = GPT(CFG)
    x, y = u.asarray(IDS), u.asarray(np.roll(IDS, -1, 1))

    def loss(m):
        return F.cross_entropy(m(x, key=u.random.key(1)), y)

    if precision == "float32":
        return u.value_and_grad(loss)(model)
    with u.autocast(precision):
        return u.value_and_grad(loss)(model)


def test_casts_where_it_should(backend):
    layer, norm = nn.Linear(4, 3), nn.LayerNorm(3)
    with u.autocast("bfloat16"):
        h = layer(u.ops.ones((2, 4)))
        assert u.dtype(h) == "bfloat16" and u.dtype(layer.weight) == "float32"  # master weights stay
        assert u.dtype(norm(h)) == "float32"  # norms in float32
        assert u.dtype(F.softmax(h)) == "float32"
        assert u.dtype(u.ops.matmul(u.ops.ones((2, 2)), u.ops.ones((2, 2)))) == "bfloat16"
        assert u.dtype(F.cross_entropy(h, u.asarray([0, 1]))) == "float32"
        assert u.dtype(h + 1.0) == "bfloat16"  # elementwise ops keep their input's dtype
    assert u.dtype(layer(u.ops.ones((2, 4)))) == "float32"  # off again outside the block
    with pytest.raises(ValueError, match="bfloat16 or float16"):
        with u.autocast("float64"):
            pass


def test_gradients_are_float32_and_close_to_full_precision(backend):
    loss16, grads16 = loss_and_grads("bfloat16")
    loss32, grads32 = loss_and_grads("float32")
    assert u.dtype(loss16) == "float32"
    assert all(u.dtype(g) == "float32" for g in grads16.values())
    assert_model_close(loss16, u.to_numpy(loss32), "bfloat16", err_msg="loss")
    largest = max(float(np.abs(u.to_numpy(g)).max()) for g in grads32.values())
    for name in grads16:
        assert_model_close(grads16[name], u.to_numpy(grads32[name]), "bfloat16", scale=largest, err_msg=name)


def test_both_backends_make_the_same_casts(both):
    results = on_each_backend(lambda: loss_and_grads("bfloat16"))
    (lt, gt), (lj, gj) = results["torch"], results["jax"]
    assert_model_close(lt, lj, "bfloat16", err_msg="loss")
    largest = max(float(np.abs(g).max()) for g in gj.values())
    for name in gt:
        assert_model_close(gt[name], gj[name], "bfloat16", scale=largest, err_msg=name)


@pytest.mark.skipif("torch" not in BACKENDS, reason="compares with torch.autocast")
def test_close_to_torch_autocast():
    import torch

    with u.use_backend("torch"), u.manual_seed(0):
        model = GPT(CFG).eval()
    x = torch.as_tensor(IDS)
    with u.autocast("bfloat16"):
        ours = model(x).float().detach().numpy()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        native = model(x).float().detach().numpy()
    assert_model_close(ours, native, "bfloat16")


@pytest.mark.slow
def test_training_in_bfloat16_learns_on_every_backend(backend):
    with u.manual_seed(0):
        model = GPT(GPTConfig.gpt2(vocab_size=31, block_size=16, n_layer=2, n_head=2, n_embd=32))
    opt = u.optim.adamw(3e-3)
    state = opt.init(model)
    starts = np.random.default_rng(0).integers(0, 31, (30, 4, 1))
    data = ((starts * 7 ** np.arange(17)) % 31).astype(np.int32)

    @u.jit
    def step(m, s, x, y):
        with u.autocast("bfloat16"):
            loss, grads = u.value_and_grad(lambda mm: F.cross_entropy(mm(x), y))(m)
        m, s = opt.step(m, grads, s)
        return m, s, loss

    losses = []
    for i in range(30):
        model, state, loss = step(model, state, u.asarray(data[i, :, :-1]), u.asarray(data[i, :, 1:]))
        losses.append(float(u.to_numpy(loss)))
    assert all(u.dtype(p) == "float32" for p in model.parameters())
    assert losses[-1] < losses[0] - 0.5, losses
