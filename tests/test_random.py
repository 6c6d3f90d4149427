"""Random numbers: the same key gives the same bits, and the same dropout mask, on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import unified as u
from helpers import on_each_backend


@given(seed=st.integers(0, 2**64 - 1), n=st.integers(1, 40), data=st.integers(0, 2**32 - 1))
def test_keys_splits_and_bits_match_jax_random_bit_for_bit(seed, n, data):
    results = on_each_backend(lambda: {
        "key": u.random.key(seed),
        "split": u.random.split(u.random.key(seed), 3),
        "fold": u.random.fold_in(u.random.key(seed), data),
        "bits": u.random.bits(u.random.key(seed), (n,)),
        "uniform": u.random.uniform(u.random.key(seed), (n,)),
        "mask": u.random.bernoulli(u.random.key(seed), 0.3, (n,)),
    })
    import jax

    key = np.array([(seed >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF], np.uint32)
    reference = {
        "key": key,
        "split": np.asarray(jax.random.split(key, 3)),
        "fold": np.asarray(jax.random.fold_in(key, data)),
        "bits": np.asarray(jax.random.bits(key, (n,), np.uint32)),
        "uniform": np.asarray(jax.random.uniform(key, (n,))),
        "mask": np.asarray(jax.random.bernoulli(key, 0.3, (n,))),
    }
    for name, got in results.items():
        for field, expected in reference.items():
            np.testing.assert_array_equal(got[field].astype(expected.dtype), expected, err_msg=f"{name} {field}")


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_uniform_in_every_float_dtype_is_identical_across_backends(both, dtype):
    results = on_each_backend(lambda: u.random.uniform(u.random.key(7), (257,), dtype, -2.0, 3.0))
    np.testing.assert_array_equal(results["torch"], results["jax"])
    assert results["torch"].min() >= -2.0 and results["torch"].max() < 3.0


def test_normal_agrees_across_backends_to_rounding(both):
    results = on_each_backend(lambda: u.random.normal(u.random.key(11), (4096,)))
    # erfinv differs by an ulp or so between the frameworks' implementations
    np.testing.assert_allclose(results["torch"], results["jax"], rtol=1e-5, atol=1e-6)


def test_categorical_agrees_across_backends(both):
    logits = np.log(np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]], np.float32))
    results = on_each_backend(lambda lg: u.random.categorical(u.random.key(3), lg), logits)
    np.testing.assert_array_equal(results["torch"], results["jax"])
    draws = on_each_backend(lambda lg: u.vmap(lambda k: u.random.categorical(k, lg[0]))(
        u.random.split(u.random.key(0), 4000)), logits)
    freq = np.bincount(draws["torch"], minlength=3) / 4000
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.7], atol=0.03)


def test_random_works_under_jit_and_vmap(backend):
    @u.jit
    def draw(key):
        return u.random.uniform(key, (3,))

    k = u.random.key(5)
    np.testing.assert_array_equal(u.to_numpy(draw(k)), u.to_numpy(u.random.uniform(k, (3,))))
    # Compiled integer arithmetic (inductor's C++ kernels under torch) keeps the exact bits.
    compiled = u.jit(lambda kk: u.random.bits(kk, (64, 64)))(k)
    np.testing.assert_array_equal(u.to_numpy(compiled), u.to_numpy(u.random.bits(k, (64, 64))))
    from unified.testing import _threefry

    assert u.to_numpy(compiled).ravel()[:9].tolist() == _threefry.bits((0, 5), 9)
    keys = u.random.split(k, 4)
    rows = u.vmap(lambda kk: u.random.uniform(kk, (2,)))(keys)
    for i in range(4):
        np.testing.assert_array_equal(u.to_numpy(rows[i]), u.to_numpy(u.random.uniform(keys[i], (2,))))


def test_bad_keys_and_seeds_raise(backend):
    with pytest.raises(u.ShapeError, match="random key"):
        u.random.uniform(np.zeros(2), (2,))
    with pytest.raises(u.ShapeError, match="int seed"):
        u.random.key(-1)
    with pytest.raises(u.DTypeError, match="draws floats"):
        u.random.uniform(u.random.key(0), (2,), dtype="int32")
