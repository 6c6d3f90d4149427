"""The GPT, written once: the same logits and gradients on both backends, causal, generating with a
KV cache, compiled, and loading a GPT-2 checkpoint written by Hugging Face transformers."""

from __future__ import annotations

import numpy as np
import pytest

import unified as u
from conftest import BACKENDS
from helpers import on_each_backend
from unified.models import GPT, GPTConfig
from unified.nn import functional as F
from unified.testing import assert_close

TINY = dict(vocab_size=41, block_size=24, n_layer=2, n_head=2, n_embd=16)
CONFIGS = {
    "seed": GPTConfig.seed(**TINY),  # post-norm, untied head with bias, exact GELU, dropout 0.1
    "gpt2": GPTConfig.gpt2(**TINY, dropout=0.1),  # pre-norm, tied, tanh GELU
}
IDS = (np.arange(2 * 11, dtype=np.int32).reshape(2, 11) * 7) % 41
TARGETS = np.roll(IDS, -1, axis=1)


def build(config, seed=0):
    with u.manual_seed(seed):
        return GPT(config)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_logits_and_gradients_agree_across_backends(both, name):
    config = CONFIGS[name]

    def run():
        model = build(config)
        logits = model(u.asarray(IDS), key=u.random.key(3))  # training mode: dropout on, same masks

        def loss(m):
            return F.cross_entropy(m(u.asarray(IDS), key=u.random.key(3)), u.asarray(TARGETS))

        return logits, u.grad(loss)(model)

    results = on_each_backend(run)
    (lt, gt), (lj, gj) = results["torch"], results["jax"]
    assert_close(lt, lj, terms=16 * 4, scale=4)
    assert list(gt) == list(gj)
    for param in gt:
        scale = float(np.abs(gt[param]).max()) + 1e-3
        assert_close(gt[param], gj[param], terms=16 * 4, scale=scale, err_msg=param)


def test_the_two_configurations_have_their_architectures(backend):
    seed, gpt2 = build(CONFIGS["seed"]), build(CONFIGS["gpt2"])
    seed_names = [n for n, _ in seed.named_parameters()]
    gpt2_names = [n for n, _ in gpt2.named_parameters()]
    assert "lm_head.weight" in seed_names and "lm_head.bias" in seed_names  # untied, with bias
    assert not any(n.startswith("lm_head") for n in gpt2_names)  # tied to transformer.wte
    assert gpt2_names[:3] == ["transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight"]
    assert "transformer.h.1.attn.c_attn.weight" in gpt2_names
    assert not seed.config.norm_first and gpt2.config.norm_first
    assert seed.config.gelu == "none" and gpt2.config.gelu == "tanh"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_attention_is_causal(backend, name):
    model = build(CONFIGS[name]).eval()
    changed = IDS.copy()
    changed[:, 7:] = (changed[:, 7:] + 5) % 41
    a, b = u.to_numpy(model(u.asarray(IDS))), u.to_numpy(model(u.asarray(changed)))
    np.testing.assert_allclose(a[:, :7], b[:, :7], rtol=1e-6, atol=1e-6)  # the past cannot see the future
    assert not np.allclose(a[:, 7:], b[:, 7:])


def test_native_object_on_each_backend(backend):
    model = build(CONFIGS["gpt2"]).eval()
    if backend == "torch":
        import torch

        assert isinstance(model, torch.nn.Module)
    else:
        import jax

        out = jax.jit(lambda m, x: m(x))(model, jax.numpy.asarray(IDS))
        np.testing.assert_allclose(np.asarray(out), u.to_numpy(model(u.asarray(IDS))), rtol=1e-5, atol=1e-5)


def greedy_without_cache(model, ids, n):
    seq = ids.copy()
    for _ in range(n):
        logits = u.to_numpy(model(u.asarray(seq)))
        seq = np.concatenate([seq, logits[:, -1].argmax(-1)[:, None].astype(np.int32)], axis=1)
    return seq


@pytest.mark.parametrize("name", list(CONFIGS))
def test_cached_generation_equals_recomputing_everything(backend, name):
    model = build(CONFIGS[name]).eval()
    prompt = IDS[:, :4]
    out = u.to_numpy(model.generate(u.asarray(prompt), 9, temperature=0, compile=False))
    np.testing.assert_array_equal(out, greedy_without_cache(model, prompt, 9))


@pytest.mark.slow
def test_compiled_generation_matches_eager_and_both_backends(both):
    def run(compile):
        model = build(CONFIGS["gpt2"])
        greedy = model.generate(u.asarray(IDS[:, :3]), 6, temperature=0, compile=compile)
        sampled = model.generate(u.asarray(IDS[:, :3]), 6, temperature=0.9, top_k=7, key=u.random.key(11),
                                 compile=compile)
        assert model.training  # generate restores the mode it found
        return greedy, sampled

    eager = on_each_backend(lambda: run(False))
    compiled = on_each_backend(lambda: run(True))
    for b in BACKENDS:
        np.testing.assert_array_equal(compiled[b][0], eager[b][0])
        np.testing.assert_array_equal(compiled[b][1], eager[b][1])
    np.testing.assert_array_equal(eager["torch"][1], eager["jax"][1])  # same key, same samples


def test_generation_errors(backend):
    model = build(CONFIGS["gpt2"])
    with pytest.raises(u.ShapeError, match="exceed block_size"):
        model.generate(u.asarray(IDS), 20, temperature=0)
    with pytest.raises(u.UnifiedError, match="needs key"):
        model.generate(u.asarray(IDS[:, :2]), 2)
    with pytest.raises(u.ShapeError, match=r"\(batch, time\)"):
        model(u.asarray(IDS[0]))
    with pytest.raises(u.UnifiedError, match="not divisible"):
        GPTConfig(n_embd=10, n_head=3)


@pytest.mark.slow
def test_compiled_forward_and_backward(backend):
    model = build(CONFIGS["seed"])
    step = u.jit(u.value_and_grad(lambda m, x, y, k: F.cross_entropy(m(x, key=k), y)))
    loss, grads = step(model, u.asarray(IDS), u.asarray(TARGETS), u.random.key(0))
    eager_loss, eager_grads = u.value_and_grad(lambda m, x, y, k: F.cross_entropy(m(x, key=k), y))(
        model, u.asarray(IDS), u.asarray(TARGETS), u.random.key(0))
    assert_close(loss, u.to_numpy(eager_loss), terms=64, scale=4)
    for name in grads:
        assert_close(grads[name], u.to_numpy(eager_grads[name]), terms=64,
                     scale=float(np.abs(u.to_numpy(eager_grads[name])).max()) + 1e-3, err_msg=name)


@pytest.fixture(scope="module")
def hf_checkpoint(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    import torch

    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=53, n_positions=32, n_embd=24, n_layer=2, n_head=3,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    hf = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # non-trivial biases and norms, so that every tensor's mapping matters
        for p in hf.parameters():
            p.add_(0.05 * torch.randn_like(p))
    directory = tmp_path_factory.mktemp("gpt2-tiny")
    hf.save_pretrained(directory, safe_serialization=True)
    ids = (np.arange(2 * 9, dtype=np.int64).reshape(2, 9) * 5) % 53
    with torch.no_grad():
        logits = hf(torch.as_tensor(ids)).logits.numpy()
    return directory, ids.astype(np.int32), logits


def test_from_pretrained_reproduces_transformers_logits(backend, hf_checkpoint):
    directory, ids, expected = hf_checkpoint
    model = GPT.from_pretrained(directory)
    assert model.config.tie_embeddings and model.config.gelu == "tanh" and not model.training
    assert_close(model(u.asarray(ids)), expected, terms=24 * 4, scale=4)


def test_from_pretrained_errors(backend, tmp_path):
    with pytest.raises(u.UnifiedError, match=r"config\.json"):
        GPT.from_pretrained(tmp_path)


@pytest.mark.parametrize("direction", [("torch", "jax"), ("jax", "torch")])
def test_checkpoint_saved_on_one_backend_gives_the_same_logits_on_the_other(both, tmp_path, direction):
    src, dst = direction
    path = tmp_path / "gpt.safetensors"
    with u.use_backend(src):
        model = build(CONFIGS["seed"], seed=1).eval()
        # move the weights off their initial values, so that loading has something to prove
        state = {k: v * 1.5 + 0.01 for k, v in model.state_dict().items()}
        model.load_state_dict(state)
        expected = u.to_numpy(model(u.asarray(IDS)))
        u.save(path, {"model": model, "step": 7})
    with u.use_backend(dst):
        fresh = build(CONFIGS["seed"], seed=2).eval()
        loaded = u.load(path, like={"model": fresh, "step": 0})
        assert loaded["step"] == 7
        got = u.to_numpy(loaded["model"](u.asarray(IDS)))
    from unified.testing import assert_model_close

    assert_model_close(got, expected, err_msg=f"{src} -> {dst}")


FSDP_SCRIPT = r"""
import os, torch, torch.distributed as dist
import unified as u
from unified.models import GPT, GPTConfig
from unified.nn import functional as F
from torch.distributed.fsdp import fully_shard
from torch.distributed.device_mesh import init_device_mesh
dist.init_process_group("gloo", rank=0, world_size=1)
u.set_backend("torch")
model = GPT(GPTConfig.gpt2(vocab_size=41, block_size=16, n_layer=2, n_head=2, n_embd=16))
reference = [p.detach().clone() for p in model.parameters()]
mesh = init_device_mesh("cpu", (1,))
for block in model.transformer["h"]:
    fully_shard(block, mesh=mesh)
fully_shard(model, mesh=mesh)
ids = torch.randint(0, 41, (2, 8), dtype=torch.int32)
loss = F.cross_entropy(model(ids)[:, :-1], ids[:, 1:])
loss.backward()
assert all(p.grad is not None for p in model.parameters())
print("FSDP2 ok", type(model).__name__, float(loss))
dist.barrier()
dist.destroy_process_group()
"""


@pytest.mark.skipif("torch" not in BACKENDS, reason="FSDP is torch's")
def test_a_unified_model_is_accepted_by_fsdp2(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29517", "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, "-c", FSDP_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "FSDP2 ok FSDPGPT" in out.stdout, out.stdout + out.stderr[-3000:]
