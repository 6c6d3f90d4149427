"""unified.nn.Module: a native torch.nn.Module under torch, a pytree under JAX, one class for both."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import unified as u
from conftest import BACKENDS
from unified import nn
from unified.nn import functional as F


class Block(nn.Module):
    """A small block with parameters, a buffer, static config, a list of layers and dropout."""

    def __init__(self, d: int, n_layers: int = 2, p: float = 0.1):
        self.d = d
        self.norm = nn.LayerNorm(d)
        self.layers = [nn.Linear(d, d) for _ in range(n_layers)]
        self.scale = nn.Parameter(u.ops.ones(d))
        self.mask = nn.Buffer(u.ops.ones(d))
        self.drop = nn.Dropout(p)

    def __call__(self, x, *, key=None):
        h = self.norm(x) * self.mask
        for layer in self.layers:
            h = F.gelu(layer(h))
        return x + self.drop(h * self.scale, key=key)


EXPECTED_PARAMS = ["scale", "norm.weight", "norm.bias", "layers.0.weight", "layers.0.bias", "layers.1.weight",
                   "layers.1.bias"]


def build(backend_name: str, seed: int = 0) -> Block:
    with u.use_backend(backend_name), u.manual_seed(seed):
        return Block(4)


def test_names_and_order_match_torch_conventions(backend):
    m = build(backend)
    assert [n for n, _ in m.named_parameters()] == EXPECTED_PARAMS
    assert [n for n, _ in m.named_buffers()] == ["mask"]
    assert list(m.state_dict()) == ["scale", "mask", "norm.weight", "norm.bias", "layers.0.weight", "layers.0.bias",
                                    "layers.1.weight", "layers.1.bias"]
    assert [n for n, _ in m.named_modules()] == ["", "norm", "layers", "layers.0", "layers.1", "drop"]
    assert m.num_parameters() == 4 + 8 + 2 * 20


def test_one_class_gives_a_native_object_on_each_backend(both):
    import jax
    import torch

    mt, mj = build("torch"), build("jax")
    assert isinstance(mt, torch.nn.Module) and not isinstance(mj, torch.nn.Module)
    assert isinstance(mt, Block) and isinstance(mj, Block) and type(mt) is not type(mj)
    assert type(mt).__name__ == type(mj).__name__ == "Block"
    assert all(isinstance(p, torch.nn.Parameter) for p in mt.parameters())
    leaves = jax.tree_util.tree_leaves(mj)
    assert len(leaves) == len(EXPECTED_PARAMS) + 1  # parameters and the buffer; ints and flags are static
    # the same seed gives bit-identical parameters
    for (nt, pt), (nj, pj) in zip(mt.named_parameters(), mj.named_parameters()):
        assert nt == nj
        np.testing.assert_array_equal(u.to_numpy(pt), u.to_numpy(pj))


def test_torch_module_features_work(both):
    import torch

    m = build("torch")
    seen = []
    handle = m.register_forward_hook(lambda mod, args, out: seen.append(tuple(out.shape)))
    x = torch.ones(2, 4)
    m.eval()
    out = m(x)
    handle.remove()
    assert seen == [(2, 4)]
    assert m.to("cpu") is m and m.to(torch.float64).scale.dtype == torch.float64
    m.to(torch.float32)
    compiled = torch.compile(m)
    np.testing.assert_allclose(compiled(x).detach().numpy(), out.detach().numpy(), rtol=1e-6)
    loss = m(x).sum()
    loss.backward()  # plain autograd works too
    assert m.scale.grad is not None and m.mask.grad is None
    native = torch.nn.Module()
    native.inner = m  # a unified module inside native torch code
    assert "inner.layers.0.weight" in dict(native.named_parameters())


def test_jax_pytree_features_work(both):
    import jax
    import optax

    m = build("jax").eval()
    x = jax.numpy.ones((2, 4))
    out = jax.jit(lambda mod, v: mod(v))(m, x)
    np.testing.assert_allclose(np.asarray(out), np.asarray(m(x)), rtol=1e-6)
    doubled = jax.tree.map(lambda a: a * 2, m)
    assert isinstance(doubled, Block) and float(doubled.scale[0]) == 2.0 and doubled.d == 4
    grads = jax.grad(lambda mod: mod(x).sum())(m)  # raw jax.grad: every float leaf, buffers included
    assert isinstance(grads, Block)
    tx = optax.adam(1e-2)
    state = tx.init(m)
    updates, state = tx.update(grads, state, m)
    stepped = optax.apply_updates(m, updates)
    assert isinstance(stepped, Block) and not np.allclose(np.asarray(stepped.scale), np.asarray(m.scale))


def test_gradients_are_for_parameters_only(backend):
    m = build(backend).eval()
    x = u.asarray(np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4))
    g = u.grad(lambda mod: u.ops.sum(mod(x) ** 2))(m)
    assert list(g) == EXPECTED_PARAMS  # no buffer, no static field, in named_parameters order
    assert tuple(g["layers.0.weight"].shape) == (4, 4)


def test_gradients_match_finite_differences(backend):
    m = build(backend).eval()
    x = u.asarray(np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4))

    def loss(mod):
        return u.ops.sum(mod(x) ** 2)

    g = u.grad(loss)(m)
    # perturb one weight through load_state_dict and difference the loss in float64
    sd = {k: u.to_numpy(v).astype(np.float64) for k, v in m.state_dict().items()}
    eps = 1e-3
    for name, idx in (("layers.1.weight", (2, 1)), ("scale", (3,)), ("norm.bias", (0,))):
        values = []
        for sign in (1, -1):
            bumped = dict(sd)
            arr = bumped[name].copy()
            arr[idx] += sign * eps
            bumped[name] = arr
            m2 = build(backend).eval()
            m2.load_state_dict({k: u.asarray(v.astype(np.float32)) for k, v in bumped.items()})
            values.append(float(u.to_numpy(loss(m2)).astype(np.float64)))
        fd = (values[0] - values[1]) / (2 * eps)
        np.testing.assert_allclose(float(u.to_numpy(g[name])[idx]), fd, rtol=2e-2, atol=2e-3)


def test_train_and_eval_switch_dropout(backend):
    m = build(backend)
    x = u.ops.ones((2, 4))
    assert m.training and all(sub.training for sub in m.modules())
    with pytest.raises(u.UnifiedError, match="needs a random key"):
        m(x)
    a = u.to_numpy(m(x, key=u.random.key(1)))
    b = u.to_numpy(m(x, key=u.random.key(2)))
    assert not np.array_equal(a, b)
    m.eval()
    assert not any(sub.training for sub in m.modules())
    np.testing.assert_array_equal(u.to_numpy(m(x, key=u.random.key(1))), u.to_numpy(m(x)))


def test_dropout_masks_are_identical_across_backends(both):
    results = []
    for name in both:
        m = build(name)
        with u.use_backend(name):
            results.append(u.to_numpy(m(u.ops.ones((3, 4)), key=u.random.key(7))))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6, atol=1e-6)
    assert np.array_equal(results[0] == 1.0, results[1] == 1.0)  # dropped elements leave x (= 1) exactly


def test_jit_recompiles_on_mode_change_under_jax(backend):
    m = build(backend)
    f = u.jit(lambda mod, v, k: mod(v, key=k))
    x, k = u.ops.ones((2, 4)), u.random.key(3)
    train_out = u.to_numpy(f(m, x, k))
    eval_out = u.to_numpy(f(m.eval(), x, k))
    np.testing.assert_allclose(eval_out, u.to_numpy(m(x)), rtol=1e-6)
    assert not np.allclose(train_out, eval_out)


def test_repr_shows_structure_and_counts(backend):
    text = repr(build(backend))
    assert text.startswith("Block(  # 52 parameters")
    assert "(layers): ModuleList(  # 40 parameters" in text
    assert "(0): Linear(in_features=4, out_features=4, bias=True)  # 20 parameters" in text
    assert "(drop): Dropout(p=0.1)" in text


def test_copy_and_pickle_round_trip(backend):
    m = build(backend).eval()
    x = u.ops.ones((1, 4))
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert type(clone) is type(m) and isinstance(clone, Block)
        np.testing.assert_array_equal(u.to_numpy(clone(x)), u.to_numpy(m(x)))
        assert [n for n, _ in clone.named_parameters()] == EXPECTED_PARAMS


def test_forward_instead_of_call_works_everywhere(backend):
    class TorchHabit(nn.Module):
        def __init__(self):
            self.lin = nn.Linear(2, 1)

        def forward(self, x):
            return self.lin(x) * 0

    assert u.to_numpy(TorchHabit()(u.ops.ones((3, 2)))).tolist() == [[0.0]] * 3


def test_module_definition_errors_are_clear(backend):
    class NoCall(nn.Module):
        def __init__(self):
            self.lin = nn.Linear(2, 2)

    with pytest.raises(nn.ModuleError, match="defines no __call__"):
        NoCall()

    class Mixed(nn.Module):
        def __init__(self):
            self.things = [nn.Linear(2, 2), 3]

        def __call__(self, x):
            return x

    with pytest.raises(nn.ModuleError, match="mixing modules with other values"):
        Mixed()
    with pytest.raises(nn.ModuleError, match="not callable"):
        nn.ModuleList([nn.Linear(1, 1)])(u.ops.ones(1))


def test_state_dict_round_trip_and_strict_errors(backend):
    src, dst = build(backend, seed=1), build(backend, seed=2)
    result = dst.load_state_dict(src.state_dict())
    assert list(result.missing_keys) == [] and list(result.unexpected_keys) == []
    for (_, a), (_, b) in zip(src.named_parameters(), dst.named_parameters()):
        np.testing.assert_array_equal(u.to_numpy(a), u.to_numpy(b))
    bad = dict(src.state_dict())
    bad.pop("scale")
    bad["extra"] = u.ops.ones(1)
    with pytest.raises(Exception, match="scale") as info:
        dst.load_state_dict(bad)
    assert "extra" in str(info.value)


@pytest.mark.skipif("jax" not in BACKENDS, reason="flax and equinox are JAX libraries")
def test_inside_flax_nnx_and_equinox_modules():
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    from flax import nnx

    inner = build("jax").eval()
    x = jnp.ones((2, 4))

    class Outer(nnx.Module):
        def __init__(self, rngs: nnx.Rngs):
            self.inner = nnx.data(inner)
            self.head = nnx.Linear(4, 1, rngs=rngs)

        def __call__(self, v):
            return self.head(self.inner(v))

    outer = Outer(nnx.Rngs(0))
    y = nnx.jit(lambda mod, v: mod(v))(outer, x)
    # The unified module's arrays are plain nnx state (not nnx.Param): include them in the filter.
    grads = nnx.grad(lambda mod: mod(x).sum(), argnums=nnx.DiffState(0, (nnx.Param, jax.Array)))(outer)
    assert y.shape == (2, 1) and "inner" in grads
    inner_grads = jax.tree_util.tree_leaves(grads["inner"])
    assert inner_grads and all(np.isfinite(np.asarray(g)).all() for g in inner_grads)

    class EqxOuter(eqx.Module):
        inner: Block
        bias: jax.Array

        def __call__(self, v):
            return self.inner(v) + self.bias

    eouter = EqxOuter(inner, jnp.zeros(4))
    out = eqx.filter_jit(lambda mod, v: mod(v))(eouter, x)
    g = eqx.filter_grad(lambda mod: mod(x).sum())(eouter)
    np.testing.assert_allclose(np.asarray(out), np.asarray(inner(x)), rtol=1e-6)
    assert isinstance(g.inner, Block) and np.asarray(g.bias).tolist() == [2.0] * 4
