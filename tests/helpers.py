"""Shared helpers for the tests: run one computation on every backend, compare."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import unified as u
from conftest import BACKENDS
from unified.testing import assert_close

NP_DTYPES = {
    "float32": np.dtype("float32"),
    "float16": np.dtype("float16"),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "int32": np.dtype("int32"),
    "bool": np.dtype("bool"),
}


def on_each_backend(fn: Callable[..., Any], *inputs: Any) -> dict[str, Any]:
    """``fn(*inputs)`` on every backend under test, inputs converted with ``u.asarray``.

    Returns numpy results keyed by backend name (pytrees of results are mapped).
    """
    out = {}
    for name in BACKENDS:
        with u.use_backend(name):
            args = [u.asarray(x) if isinstance(x, np.ndarray) else x for x in inputs]
            out[name] = u.tree.map(lambda r: u.to_numpy(r) if u.is_array(r) else r, fn(*args))
    return out


def check_all(fn: Callable[..., Any], ref: Callable[..., Any], *inputs: Any, dtype: str | None = None,
              terms: int = 1, scale: float = 1.0, exact: bool = False) -> dict[str, Any]:
    """Every backend against the numpy reference (computed in float64), and torch against JAX."""
    results = on_each_backend(fn, *inputs)
    expected = ref(*[x.astype(np.float64) if isinstance(x, np.ndarray) and x.dtype.kind == "f"
                     else x for x in inputs])
    for name, got in results.items():
        _compare(got, expected, dtype, terms, scale, exact, f"{name} vs numpy")
    if len(results) == 2:
        _compare(results["torch"], results["jax"], dtype, terms, scale, exact, "torch vs jax")
    return results


def _compare(got: Any, expected: Any, dtype: str | None, terms: int, scale: float, exact: bool, msg: str) -> None:
    got_leaves, expected_leaves = u.tree.leaves(got), u.tree.leaves(expected)
    assert len(got_leaves) == len(expected_leaves), msg
    for g, e in zip(got_leaves, expected_leaves):
        g, e = np.asarray(g), np.asarray(e)
        if exact or g.dtype.kind in "iub":
            assert g.shape == e.shape, f"{msg}: shape {g.shape} != {e.shape}"
            np.testing.assert_array_equal(g.astype(e.dtype) if e.dtype.kind in "iub" else g, e, err_msg=msg)
        else:
            assert_close(g, e, dtype or g.dtype.name, terms=terms, scale=scale, err_msg=msg)


# -------------------------------------------------------------------- strategies

float_dtypes = st.sampled_from(["float32", "float16", "bfloat16"])
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=5)


def arrays(dtype: str, shape: Any, lo: float = -3.0, hi: float = 3.0) -> st.SearchStrategy[np.ndarray]:
    """Arrays of ``dtype`` with values in [lo, hi], exactly representable in that dtype."""
    if dtype in ("int32",):
        return hnp.arrays(np.int32, shape, elements=st.integers(int(lo), int(hi)))
    if dtype == "bool":
        return hnp.arrays(np.bool_, shape)
    lo32, hi32 = float(np.float32(lo)), float(np.float32(hi))
    lo32 = lo32 if lo32 >= lo else float(np.nextafter(np.float32(lo), np.float32(np.inf)))
    hi32 = hi32 if hi32 <= hi else float(np.nextafter(np.float32(hi), np.float32(-np.inf)))
    base = hnp.arrays(np.float32, shape, elements=st.floats(lo32, hi32, width=32, allow_subnormal=False))
    return base.map(lambda a: a.astype(NP_DTYPES[dtype]))
