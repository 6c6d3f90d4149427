"""Each layer against the framework's own layer with copied weights (torch.nn.* under torch,
flax.nnx.* under JAX), and the two backends against each other."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import unified as u
from helpers import on_each_backend
from unified import nn
from unified.nn import functional as F
from unified.testing import assert_close

RNG = np.random.default_rng(1234)


def data(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def params(module):
    return {k: u.to_numpy(v) for k, v in module.state_dict().items()}


def torch_native(native, ours):
    """Load our state_dict into a native torch module: the names and layouts must match."""
    import torch

    result = native.load_state_dict({k: torch.as_tensor(v) for k, v in params(ours).items()}, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return native


def flax_rngs():
    from flax import nnx

    return nnx.Rngs(0)


def test_linear(backend):
    layer = nn.Linear(6, 3)
    x = data(4, 6)
    out = layer(u.asarray(x))
    if backend == "torch":
        import torch

        native = torch_native(torch.nn.Linear(6, 3), layer)
        expected = native(torch.as_tensor(x)).detach().numpy()
    else:
        from flax import nnx

        native = nnx.Linear(6, 3, rngs=flax_rngs())
        native.kernel.value = params(layer)["weight"].T  # flax: kernel (in, out)
        native.bias.value = params(layer)["bias"]
        expected = np.asarray(native(x))
    assert_close(out, expected, terms=6, scale=3)
    assert_close(out, x.astype(np.float64) @ params(layer)["weight"].T + params(layer)["bias"], terms=6, scale=3)


def test_embedding_and_attend(backend):
    emb = nn.Embedding(11, 5)
    ids = np.array([[0, 3, 10], [7, 7, 1]], np.int32)
    out = emb(u.asarray(ids))
    if backend == "torch":
        import torch

        native = torch_native(torch.nn.Embedding(11, 5), emb)
        expected = native(torch.as_tensor(ids).long()).detach().numpy()
    else:
        from flax import nnx

        native = nnx.Embed(11, 5, rngs=flax_rngs())
        native.embedding.value = params(emb)["weight"]
        expected = np.asarray(native(ids))
    np.testing.assert_array_equal(u.to_numpy(out), expected)
    y = data(2, 5)
    assert_close(emb.attend(u.asarray(y)), y.astype(np.float64) @ params(emb)["weight"].T, terms=5, scale=9)


def test_layer_norm(backend):
    ln = nn.LayerNorm(8)
    ln.load_state_dict({"weight": u.asarray(data(8)), "bias": u.asarray(data(8))})
    x = data(3, 4, 8, scale=3.0) + 5.0  # a large mean: the two-pass variance matters
    out = ln(u.asarray(x))
    if backend == "torch":
        import torch

        native = torch_native(torch.nn.LayerNorm(8), ln)
        expected = native(torch.as_tensor(x)).detach().numpy()
    else:
        from flax import nnx

        native = nnx.LayerNorm(8, epsilon=1e-5, use_fast_variance=False, rngs=flax_rngs())
        native.scale.value, native.bias.value = params(ln)["weight"], params(ln)["bias"]
        expected = np.asarray(native(x))
    assert_close(out, expected, terms=8, scale=4)
    xd = x.astype(np.float64)
    ref = (xd - xd.mean(-1, keepdims=True)) / np.sqrt(xd.var(-1, keepdims=True) + 1e-5)
    assert_close(out, ref * params(ln)["weight"] + params(ln)["bias"], terms=8, scale=4)


def test_rms_norm(backend):
    rms = nn.RMSNorm(6, eps=1e-6)
    rms.load_state_dict({"weight": u.asarray(data(6))})
    x = data(5, 6)
    out = rms(u.asarray(x))
    if backend == "torch":
        import torch

        native = torch_native(torch.nn.RMSNorm(6, eps=1e-6), rms)
        expected = native(torch.as_tensor(x)).detach().numpy()
    else:
        from flax import nnx

        native = nnx.RMSNorm(6, epsilon=1e-6, rngs=flax_rngs())
        native.scale.value = params(rms)["weight"]
        expected = np.asarray(native(x))
    assert_close(out, expected, terms=6, scale=3)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_relu_silu(backend, approximate):
    x = data(50, scale=3.0)
    out = nn.GELU(approximate)(u.asarray(x))
    if backend == "torch":
        import torch

        expected = torch.nn.GELU(approximate=approximate)(torch.as_tensor(x)).numpy()
        expected_silu = torch.nn.SiLU()(torch.as_tensor(x)).numpy()
    else:
        import jax

        expected = np.asarray(jax.nn.gelu(x, approximate=approximate == "tanh"))
        expected_silu = np.asarray(jax.nn.silu(x))
    assert_close(out, expected)
    assert_close(nn.SiLU()(u.asarray(x)), expected_silu)
    assert_close(nn.ReLU()(u.asarray(x)), np.maximum(x, 0))


def _mha_inputs(B=2, L=5, S=7, E=8):
    return data(B, L, E), data(B, S, E), data(B, S, E)


MASK_CASES = ["none", "bool", "float", "key_padding", "causal", "bool+key_padding"]


@pytest.mark.parametrize("case", MASK_CASES)
def test_multi_head_attention_matches_torch(backend, case):
    if backend != "torch":
        pytest.skip("torch.nn.MultiheadAttention is the reference under torch; flax's under JAX below")
    import torch

    E, H, B, L, S = 8, 2, 2, 5, 7
    mha = nn.MultiHeadAttention(E, H)
    # non-zero biases so that every parameter is exercised
    sd = {k: u.asarray(data(*v.shape)) for k, v in params(mha).items()}
    mha.load_state_dict(sd)
    native = torch_native(torch.nn.MultiheadAttention(E, H, batch_first=True), mha).eval()
    q, k, v = _mha_inputs(B, L, S if case != "causal" else L, E)
    kwargs_ours, kwargs_native = {}, {}
    S_ = k.shape[1]
    if "bool" in case:
        m = RNG.random((L, S_)) < 0.3
        m[:, 0] = False  # every query keeps one key
        kwargs_ours["mask"], kwargs_native["attn_mask"] = u.asarray(m), torch.as_tensor(m)
    if case == "float":
        m = data(L, S_)
        kwargs_ours["mask"], kwargs_native["attn_mask"] = u.asarray(m), torch.as_tensor(m)
    if "key_padding" in case:
        kp = np.zeros((B, S_), bool)
        kp[0, -2:] = True
        kwargs_ours["key_padding_mask"], kwargs_native["key_padding_mask"] = u.asarray(kp), torch.as_tensor(kp)
    if case == "causal":
        causal = np.triu(np.ones((L, L), bool), 1)
        kwargs_ours["is_causal"] = True
        kwargs_native["attn_mask"], kwargs_native["is_causal"] = torch.as_tensor(causal), True
    out, weights = mha(u.asarray(q), u.asarray(k), u.asarray(v), need_weights=True, **kwargs_ours)
    fused = mha(u.asarray(q), u.asarray(k), u.asarray(v), **kwargs_ours)
    exp_out, exp_w = native(torch.as_tensor(q), torch.as_tensor(k), torch.as_tensor(v), need_weights=True,
                            **kwargs_native)
    assert_close(out, exp_out.detach().numpy(), terms=E, scale=4)
    assert_close(fused, exp_out.detach().numpy(), terms=E, scale=4)
    assert_close(weights, exp_w.detach().numpy(), terms=E, scale=4)


def test_multi_head_attention_matches_flax(backend):
    if backend != "jax":
        pytest.skip("flax.nnx.MultiHeadAttention is the reference under JAX")
    from flax import nnx

    E, H, D, B, L, S = 8, 2, 4, 2, 5, 7
    mha = nn.MultiHeadAttention(E, H)
    mha.load_state_dict({k: u.asarray(data(*v.shape)) for k, v in params(mha).items()})
    p = params(mha)
    native = nnx.MultiHeadAttention(H, E, qkv_features=E, out_features=E, decode=False, rngs=flax_rngs())
    for i, name in enumerate(("query", "key", "value")):
        w = p["in_proj_weight"][i * E:(i + 1) * E]  # (E_out, E_in)
        getattr(native, name).kernel.value = w.T.reshape(E, H, D)
        getattr(native, name).bias.value = p["in_proj_bias"][i * E:(i + 1) * E].reshape(H, D)
    native.out.kernel.value = p["out_proj.weight"].T.reshape(H, D, E)
    native.out.bias.value = p["out_proj.bias"]
    q, k, v = _mha_inputs(B, L, S, E)
    blocked = RNG.random((L, S)) < 0.3
    blocked[:, 0] = False
    ours = mha(u.asarray(q), u.asarray(k), u.asarray(v), mask=u.asarray(blocked))
    expected = native(q, k, v, mask=~blocked[None, None], deterministic=True)  # flax: True = attend
    assert_close(ours, np.asarray(expected), terms=E, scale=4)


def test_multi_head_attention_agrees_across_backends_with_dropout(both):
    x = data(2, 6, 8)

    def run():
        with u.manual_seed(5):
            mha = nn.MultiHeadAttention(8, 2, dropout=0.25)
        return mha(u.asarray(x), is_causal=True, key=u.random.key(9))

    results = on_each_backend(run)
    assert_close(results["torch"], results["jax"], terms=8, scale=4)


def test_dot_product_attention_against_numpy(backend):
    B, H, L, S, D = 2, 3, 4, 6, 5
    q, k, v = data(B, H, L, D), data(B, H, S, D), data(B, H, S, D)
    mask = RNG.random((B, 1, L, S)) < 0.7
    mask[..., -1] = True
    bias = data(1, H, L, S)

    def ref(causal):
        s = np.einsum("bhld,bhsd->bhls", q.astype(np.float64), k) / np.sqrt(D) + bias
        allowed = np.broadcast_to(mask, s.shape)
        if causal:
            allowed = allowed & np.tril(np.ones((L, S), bool), S - L)
        s = np.where(allowed, s, -np.inf)
        w = np.exp(s - s.max(-1, keepdims=True))
        return np.einsum("bhls,bhsd->bhld", w / w.sum(-1, keepdims=True), v)

    for causal in (False, True):
        out = F.dot_product_attention(u.asarray(q), u.asarray(k), u.asarray(v), mask=u.asarray(mask),
                                      bias=u.asarray(bias), is_causal=causal)
        assert_close(out, ref(causal), terms=S * D, scale=4)


def test_cross_entropy_against_native_and_numpy(backend):
    logits = data(4, 3, 7, scale=2.0)
    labels = RNG.integers(0, 7, (4, 3)).astype(np.int32)
    labels[0, 1] = labels[2, 2] = -100
    lp = logits.astype(np.float64) - np.log(np.exp(logits.astype(np.float64)).sum(-1, keepdims=True))
    valid = labels != -100
    for smoothing in (0.0, 0.1):
        nll = -np.take_along_axis(lp, np.where(valid, labels, 0)[..., None], -1)[..., 0]
        per = np.where(valid, (1 - smoothing) * nll - smoothing * lp.mean(-1), 0.0)
        for reduction, ref in (("mean", per.sum() / valid.sum()), ("sum", per.sum()), ("none", per)):
            out = F.cross_entropy(u.asarray(logits), u.asarray(labels), label_smoothing=smoothing,
                                  reduction=reduction)
            assert_close(out, np.asarray(ref), terms=21, scale=4)
    if backend == "torch":
        import torch

        native = torch.nn.functional.cross_entropy(torch.as_tensor(logits).permute(0, 2, 1),
                                                   torch.as_tensor(labels).long(), label_smoothing=0.1)
        ours = F.cross_entropy(u.asarray(logits), u.asarray(labels), label_smoothing=0.1)
        assert_close(ours, native.numpy(), terms=21, scale=4)
    else:
        import optax

        clean = np.where(valid, labels, 0)
        native = optax.softmax_cross_entropy_with_integer_labels(logits, clean)
        ours = F.cross_entropy(u.asarray(logits), u.asarray(clean), reduction="none")
        assert_close(ours, np.asarray(native), terms=7, scale=4)


def test_functional_errors(backend):
    with pytest.raises(u.ShapeError, match="without the last"):
        F.cross_entropy(u.ops.zeros((2, 3)), u.ops.zeros((3,), dtype="int32"))
    with pytest.raises(u.ShapeError, match=r"\(batch, heads, seq, head_dim\)"):
        F.dot_product_attention(u.ops.zeros((2, 3)), u.ops.zeros((2, 3)), u.ops.zeros((2, 3)))
    with pytest.raises(u.UnifiedError, match="needs a random key"):
        F.dropout(u.ops.ones(3), 0.5, key=None)
    with pytest.raises(u.UnifiedError, match="not divisible"):
        nn.MultiHeadAttention(10, 3)


@settings(max_examples=10)
@given(d_in=st.integers(1, 9), d_out=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_every_layer_agrees_across_backends(d_in, d_out, seed):
    x = np.random.default_rng(seed).standard_normal((3, d_in)).astype(np.float32)

    def run():
        with u.manual_seed(seed):
            model = nn.Sequential(nn.Linear(d_in, d_out), nn.LayerNorm(d_out), nn.GELU("tanh"),
                                  nn.Linear(d_out, 4), nn.RMSNorm(4), nn.SiLU(), nn.Dropout(0.2))
        return model(u.asarray(x), key=u.random.key(seed))

    results = on_each_backend(run)
    if len(results) == 2:
        assert_close(results["torch"], results["jax"], terms=max(d_in, d_out) * 4, scale=4)
