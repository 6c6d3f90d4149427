"""Optimizers against torch.optim and optax (the frameworks' own), and torch == JAX."""

from __future__ import annotations

import numpy as np
import pytest

import unified as u
from conftest import BACKENDS
from helpers import on_each_backend
from unified.models import GPT, GPTConfig
from unified.nn import functional as F
from unified.testing import assert_close, assert_model_close

RNG = np.random.default_rng(7)
PARAMS = {"w": RNG.standard_normal((4, 3)).astype(np.float32), "b": RNG.standard_normal(3).astype(np.float32)}
GRADS = [{k: RNG.standard_normal(v.shape).astype(np.float32) for k, v in PARAMS.items()} for _ in range(4)]


def run_unified(opt, steps=4):
    params = {k: u.asarray(v) for k, v in PARAMS.items()}
    state = opt.init(params)
    for g in GRADS[:steps]:
        params, state = opt.step(params, {k: u.asarray(v) for k, v in g.items()}, state)
    return {k: u.to_numpy(v) for k, v in params.items()}


def run_torch_native(make_opt, steps=4):
    import torch

    params = {k: torch.nn.Parameter(torch.as_tensor(v.copy())) for k, v in PARAMS.items()}
    opt = make_opt(list(params.values()))
    for g in GRADS[:steps]:
        for k, p in params.items():
            p.grad = torch.as_tensor(g[k])
        opt.step()
    return {k: p.detach().numpy() for k, p in params.items()}


def run_optax(tx, steps=4):
    import jax.numpy as jnp
    import optax

    params = {k: jnp.asarray(v) for k, v in PARAMS.items()}
    state = tx.init(params)
    for g in GRADS[:steps]:
        updates, state = tx.update({k: jnp.asarray(v) for k, v in g.items()}, state, params)
        params = optax.apply_updates(params, updates)
    return {k: np.asarray(v) for k, v in params.items()}


CASES = {
    "adamw": (lambda: u.optim.adamw(0.05, weight_decay=0.1),
              lambda ps: __import__("torch").optim.AdamW(ps, lr=0.05, weight_decay=0.1),
              lambda: __import__("optax").adamw(0.05, weight_decay=0.1)),
    "adam": (lambda: u.optim.adam(0.05, b1=0.8, b2=0.99, eps=1e-6),
             lambda ps: __import__("torch").optim.Adam(ps, lr=0.05, betas=(0.8, 0.99), eps=1e-6),
             lambda: __import__("optax").adam(0.05, b1=0.8, b2=0.99, eps=1e-6)),
    "sgd": (lambda: u.optim.sgd(0.1),
            lambda ps: __import__("torch").optim.SGD(ps, lr=0.1),
            lambda: __import__("optax").sgd(0.1)),
    "sgd-momentum": (lambda: u.optim.sgd(0.1, momentum=0.9),
                     lambda ps: __import__("torch").optim.SGD(ps, lr=0.1, momentum=0.9),
                     lambda: __import__("optax").sgd(0.1, momentum=0.9)),
    "sgd-nesterov-decay": (lambda: u.optim.sgd(0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
                           lambda ps: __import__("torch").optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                                                    weight_decay=0.01),
                           None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_the_frameworks_own_optimizer(backend, case):
    ours_factory, torch_factory, optax_factory = CASES[case]
    ours = run_unified(ours_factory())
    if backend == "torch":
        expected = run_torch_native(torch_factory)
    else:
        if optax_factory is None:
            pytest.skip("optax has no SGD with coupled weight decay; torch.optim.SGD is the reference")
        expected = run_optax(optax_factory())
    for k in ours:
        assert_close(ours[k], expected[k], terms=8, scale=1, err_msg=f"{case} {k}")


@pytest.mark.parametrize("case", list(CASES))
def test_torch_and_jax_agree(both, case):
    results = on_each_backend(lambda: run_unified(CASES[case][0]()))
    for k in PARAMS:
        assert_close(results["torch"][k], results["jax"][k], terms=8, scale=1, err_msg=k)


def test_clip_by_global_norm(backend):
    opt = u.optim.clip_by_global_norm(1.5)
    for scale in (0.01, 10.0):  # below the threshold: unchanged; above: scaled to it
        grads = {k: u.asarray(v * scale) for k, v in GRADS[0].items()}
        norm = float(np.sqrt(sum(((v.astype(np.float64) * scale) ** 2).sum() for v in GRADS[0].values())))
        assert_close(u.optim.global_norm(grads), np.float64(norm), terms=15, scale=norm)
        updates, _ = opt.update(grads, opt.init(grads))
        factor = 1.0 if norm < 1.5 else 1.5 / norm
        for k in GRADS[0]:
            assert_close(updates[k], GRADS[0][k].astype(np.float64) * scale * factor, terms=15, scale=scale)


SCHEDULES = {
    "constant": (lambda: u.optim.constant(0.3), lambda o: o.constant_schedule(0.3)),
    "linear_warmup": (lambda: u.optim.linear_warmup(1.0, 5, init=0.1),
                      lambda o: o.linear_schedule(0.1, 1.0, 5)),
    "cosine_decay": (lambda: u.optim.cosine_decay(0.5, 8, alpha=0.1), lambda o: o.cosine_decay_schedule(0.5, 8, 0.1)),
    "warmup_cosine_decay": (lambda: u.optim.warmup_cosine_decay(1.0, 3, 10, end=0.05),
                            lambda o: o.warmup_cosine_decay_schedule(0.0, 1.0, 3, 10, 0.05)),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedules_match_optax(backend, name):
    optax = pytest.importorskip("optax")
    ours, theirs = SCHEDULES[name][0](), SCHEDULES[name][1](optax)
    for step in range(14):
        assert_close(ours(u.asarray(step)), np.float64(theirs(step)), "float32", err_msg=f"{name} at {step}")


def test_schedule_inside_adamw_matches_optax(backend):
    if backend != "jax":
        pytest.skip("optax is the reference; torch == JAX is checked below")
    optax = pytest.importorskip("optax")
    ours = run_unified(u.optim.adamw(u.optim.warmup_cosine_decay(0.1, 2, 4), weight_decay=0.0))
    expected = run_optax(optax.adamw(optax.warmup_cosine_decay_schedule(0.0, 0.1, 2, 4), weight_decay=0.0))
    for k in ours:
        assert_close(ours[k], expected[k], terms=8, scale=1)


def test_weight_decay_mask_skips_biases_and_norms(backend):
    opt = u.optim.adamw(0.1, weight_decay=0.5, mask=u.optim.no_decay_on_norms_and_biases)
    plain = u.optim.adam(0.1)
    masked, unmasked = run_unified(opt, 1), run_unified(plain, 1)
    np.testing.assert_allclose(masked["b"], unmasked["b"], rtol=1e-6)  # 1-D: no decay
    assert not np.allclose(masked["w"], unmasked["w"])  # 2-D: decayed
    # decoupled decay: w_adamw = w_adam - lr * wd * w
    assert_close(masked["w"], unmasked["w"] - 0.1 * 0.5 * PARAMS["w"].astype(np.float64), terms=4, scale=1)


def test_state_has_optax_structure_and_checkpoints_across_backends(both, tmp_path):
    path = tmp_path / "opt.safetensors"
    opt = u.optim.chain(u.optim.clip_by_global_norm(1.0), u.optim.adamw(u.optim.cosine_decay(0.1, 10)))
    with u.use_backend("torch"):
        params = {k: u.asarray(v) for k, v in PARAMS.items()}
        state = opt.init(params)
        params, state = opt.step(params, {k: u.asarray(v) for k, v in GRADS[0].items()}, state)
        u.save(path, {"params": params, "opt_state": state})
        torch_paths = [u.tree.keystr(p) for p, _ in u.tree.leaves_with_path(state)]
    with u.use_backend("jax"):
        fresh = {k: u.asarray(v) for k, v in PARAMS.items()}
        like = {"params": fresh, "opt_state": opt.init(fresh)}
        assert [u.tree.keystr(p) for p, _ in u.tree.leaves_with_path(like["opt_state"])] == torch_paths
        loaded = u.load(path, like=like)
        # continue on JAX from the torch state: one more step equals two steps taken on torch
        params_j, _ = opt.step(loaded["params"], {k: u.asarray(v) for k, v in GRADS[1].items()},
                               loaded["opt_state"])
    with u.use_backend("torch"):
        params_t, _ = opt.step(params, {k: u.asarray(v) for k, v in GRADS[1].items()}, state)
    for k in PARAMS:
        assert_close(params_j[k], u.to_numpy(params_t[k]), terms=8, scale=1)


def test_step_on_a_module_and_errors(backend):
    from unified import nn

    model = nn.Linear(3, 2)
    opt = u.optim.sgd(0.5)
    state = opt.init(model)
    before = u.to_numpy(model.weight).copy()
    grads = u.grad(lambda m: u.ops.sum(m(u.ops.ones((1, 3)))))(model)
    model, state = opt.step(model, grads, state)
    np.testing.assert_allclose(u.to_numpy(model.weight), before - 0.5, rtol=1e-6)  # d/dW sum(Wx) = 1
    with pytest.raises(u.UnifiedError, match="do not match the model's parameters"):
        opt.step(model, {"weight": grads["weight"]}, state)
    with pytest.raises(u.UnifiedError, match="non-negative number or a schedule"):
        u.optim.adamw(-1.0)
    with pytest.raises(u.UnifiedError, match="takes optimizers"):
        u.optim.chain("adam")


# ------------------------------------------------------------------ the whole training step

CFG = GPTConfig.seed(vocab_size=31, block_size=16, n_layer=2, n_head=2, n_embd=16, dropout=0.0)
OPT = u.optim.chain(u.optim.clip_by_global_norm(1.0), u.optim.adamw(3e-3, weight_decay=0.1,
                                                                    mask=u.optim.no_decay_on_norms_and_biases))
# Learnable sequences (each token determines the next), so that a falling loss means learning.
_starts = np.random.default_rng(0).integers(0, 31, (50, 4, 1))
DATA = ((_starts * 7 ** np.arange(17)) % 31).astype(np.int32)


def train_step(model, opt_state, x, y):
    loss, grads = u.value_and_grad(lambda m: F.cross_entropy(m(x), y))(model)
    model, opt_state = OPT.step(model, grads, opt_state)
    return model, opt_state, loss


def trajectory(compiled: bool, steps: int = 50) -> list[float]:
    with u.manual_seed(0):
        model = GPT(CFG)
    state = OPT.init(model)
    step = u.jit(train_step) if compiled else train_step
    losses = []
    for i in range(steps):
        model, state, loss = step(model, state, u.asarray(DATA[i, :, :-1]), u.asarray(DATA[i, :, 1:]))
        losses.append(float(u.to_numpy(loss)))
    return losses


@pytest.mark.slow
def test_fifty_steps_agree_across_backends_and_between_eager_and_compiled(both):
    runs = {(b, c): on_each_backend(lambda c=c: trajectory(c))[b] for c in (False, True) for b in BACKENDS}
    reference = np.array(runs[("jax", True)])
    assert reference[-1] < reference[0] - 0.3  # it learns
    for key, losses in runs.items():
        # losses are O(3); rounding differences grow over 50 AdamW steps but stay far below 1e-4
        assert_model_close(np.array(losses), reference, scale=float(np.abs(reference).max()) * 5,
                           err_msg=f"{key} vs jax compiled")


@pytest.mark.slow
@pytest.mark.skipif("torch" not in BACKENDS, reason="graph breaks are torch.compile's")
def test_the_torch_training_step_compiles_once_with_no_graph_break():
    import torch

    with u.use_backend("torch"), u.manual_seed(0):
        model = GPT(CFG)
        state = OPT.init(model)
        x, y = u.asarray(DATA[0, :, :-1]), u.asarray(DATA[0, :, 1:])
        explanation = torch._dynamo.explain(train_step)(model, state, x, y)
        assert explanation.graph_break_count == 0, explanation.break_reasons
        assert explanation.graph_count == 1
        strict = u.jit(train_step, options={"fullgraph": True})  # raises on any graph break
        model, state, loss = strict(model, state, x, y)
        assert np.isfinite(float(loss))
        # ... and compiles once: later steps (new parameters, new batches) hit the same graph.
        with torch._dynamo.config.patch(error_on_recompile=True):
            for i in range(1, 3):
                model, state, loss = strict(model, state, u.asarray(DATA[i, :, :-1]), u.asarray(DATA[i, :, 1:]))
        assert np.isfinite(float(loss))


FRESH_PROCESS_STEPS = """
import numpy as np, torch, unified as u
from unified.models import GPT, GPTConfig
from unified.nn import functional as F

u.set_backend("torch")
config = GPTConfig.gpt2(vocab_size=31, block_size=16, n_layer=1, n_head=2, n_embd=16, dropout=0.1)
opt = u.optim.adamw(1e-3)
with u.manual_seed(0):
    model = GPT(config)
state = opt.init(model)

@u.jit
def step(model, state, x, y, key):
    loss, grads = u.value_and_grad(lambda m: F.cross_entropy(m(x, key=key), y))(model)
    model, state = opt.step(model, grads, state)
    return model, state, loss

data = np.random.default_rng(0).integers(0, 31, (4, 2, 17)).astype(np.int32)
for i in range(4):
    if i == 1:
        torch._dynamo.config.error_on_recompile = True  # steps after the first must reuse its graph
    model, state, loss = step(model, state, u.asarray(data[i, :, :-1]), u.asarray(data[i, :, 1:]),
                              u.random.fold_in(u.random.key(0), i))
print("ok", float(loss))
"""


@pytest.mark.slow
@pytest.mark.skipif("torch" not in BACKENDS, reason="recompilation is torch.compile's")
def test_a_fresh_process_compiles_the_training_step_once():
    # In a fresh process, so that no earlier test has filled unified's caches: tracing the first
    # step must not change state that the compiled graph's guards check (it once did, and every
    # `unified train --compile` run compiled its step twice).
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", FRESH_PROCESS_STEPS], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]
