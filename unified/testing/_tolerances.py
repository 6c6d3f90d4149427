"""Numeric tolerances, per dtype, in one place.

Two implementations of the same float computation (torch's kernels and XLA's,
or either against a float64 numpy reference) differ by rounding, never by more.
How much rounding:

* **Elementwise functions.** Each framework's ``exp``, ``tanh``, ``erf`` ... is
  a polynomial or rational approximation accurate to a few units in the last
  place (ulp); two of them can sit a few ulp apart, and ops composed of a few
  such functions (``softmax``, ``logsumexp``) add a few more. ``rtol`` is
  therefore about 16 ulp of the dtype (``eps = 2**-mantissa_bits``), and
  ``atol`` covers results near zero reached by cancellation (``sin(pi)``,
  ``x - x``), where relative error is meaningless.
* **Accumulations** (sums, means, products, matmul, einsum): summing ``n``
  terms in a different order changes the result by up to about
  ``n * eps * max|term|``. :func:`tolerance` takes ``terms`` and ``scale`` and
  widens ``atol`` by exactly that bound.
* **Reduced precision.** bfloat16 keeps 8 bits of mantissa, float16 11: the
  frameworks compute in float32 and round once, so results may land on
  adjacent representable values: 2 ulp of the dtype.
* **Models.** A network's output is a deep composition of the above, and
  layer norms amplify last-bit differences by ``1 / std`` on their way back,
  so elementwise bounds say little. Whole-model comparisons are *normwise*:
  ``max|a - b| <= MODEL_RTOL * scale``, where ``scale`` is the largest magnitude
  of the quantity (for gradients: the largest gradient anywhere in the model,
  since a parameter whose gradient cancels to ~0 carries the model's rounding
  noise, not its own). Measured over 150 random GPTs (``benchmarks/
  equivalence_report.py``), torch against JAX in float32: logits at worst
  1.5e-6, activations 4.4e-7, gradients 4e-7 of the largest gradient.
  ``MODEL_RTOL["float32"] = 2e-5`` keeps a margin of more than 10x.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """``|actual - expected| <= atol + rtol * |expected|``, elementwise (numpy's ``allclose`` rule)."""

    rtol: float
    atol: float


#: eps = 2**-(mantissa bits): float64 2.2e-16, float32 1.19e-7, float16 9.8e-4, bfloat16 7.8e-3.
EPS = {"float64": 2.0**-52, "float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}

#: The base tolerance per dtype (see the module docstring for the reasoning).
TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(rtol=64 * EPS["float64"], atol=64 * EPS["float64"]),  # ~1.4e-14
    "float32": Tolerance(rtol=16 * EPS["float32"], atol=8 * EPS["float32"]),  # 1.9e-6, 9.5e-7
    "float16": Tolerance(rtol=2 * EPS["float16"], atol=2 * EPS["float16"]),  # 2.0e-3
    "bfloat16": Tolerance(rtol=2 * EPS["bfloat16"], atol=2 * EPS["bfloat16"]),  # 1.6e-2
}


#: Normwise tolerance for whole-model comparisons (see the module docstring).
MODEL_RTOL: dict[str, float] = {"float64": 1e-10, "float32": 2e-5, "float16": 1e-2, "bfloat16": 5e-2}


def assert_model_close(actual: object, expected: object, dtype: str = "float32", *, scale: float | None = None,
                       err_msg: str = "") -> None:
    """Assert ``max|actual - expected| <= MODEL_RTOL[dtype] * scale`` (``scale`` defaults to ``max|expected|``).

    Example:
        >>> from unified.testing import assert_model_close
        >>> assert_model_close([1.0, 2.0000001], [1.0, 2.0])
    """
    from unified._core import to_numpy

    a = np.asarray(to_numpy(actual) if hasattr(actual, "shape") and not isinstance(actual, np.ndarray) else actual,
                   np.float64)
    e = np.asarray(to_numpy(expected) if hasattr(expected, "shape") and not isinstance(expected, np.ndarray)
                   else expected, np.float64)
    if a.shape != e.shape:
        raise AssertionError(f"shape {a.shape} != expected {e.shape}. {err_msg}")
    if scale is None:
        scale = float(np.abs(e).max()) if e.size else 1.0
    bound = MODEL_RTOL[dtype] * max(float(scale), float(np.finfo(np.float32).tiny))
    worst = float(np.abs(a - e).max()) if e.size else 0.0
    if not worst <= bound:
        raise AssertionError(f"{err_msg}: max|actual - expected| = {worst:.3g} exceeds {MODEL_RTOL[dtype]:g} x "
                             f"{scale:.3g} = {bound:.3g} (dtype {dtype}, normwise)")


def tolerance(dtype: str, *, terms: int = 1, scale: float = 1.0) -> Tolerance:
    """The tolerance for a result of ``dtype`` that accumulates ``terms`` terms of magnitude ``scale``.

    Args:
        dtype: the result's dtype name. Integer and bool dtypes get zero tolerance.
        terms: how many terms each output element sums (1 for elementwise ops).
        scale: the largest magnitude of a term (for a matmul, ``max|a| * max|b|``).

    Example:
        >>> from unified.testing import tolerance
        >>> tolerance("float32")
        Tolerance(rtol=1.9073486328125e-06, atol=9.5367431640625e-07)
        >>> tolerance("int32")
        Tolerance(rtol=0.0, atol=0.0)
    """
    base = TOLERANCES.get(dtype)
    if base is None:
        return Tolerance(0.0, 0.0)
    if terms <= 1:
        return base
    return Tolerance(base.rtol, base.atol + 2 * terms * EPS[dtype] * scale)


def assert_close(actual: object, expected: object, dtype: str | None = None, *, terms: int = 1,
                 scale: float = 1.0, err_msg: str = "") -> None:
    """Assert two arrays (of any backend, or numpy) agree within :func:`tolerance`.

    Compares in float64; ``dtype`` defaults to ``actual``'s. Shapes must match
    exactly, and NaNs must sit in the same places.

    Example:
        >>> import unified as u
        >>> from unified.testing import assert_close
        >>> assert_close(u.ops.exp(u.asarray([1.0])), [2.718281828459045])
    """
    from unified._core import dtype as dtype_of
    from unified._core import to_numpy

    a = to_numpy(actual) if not isinstance(actual, np.ndarray) else actual
    e = np.asarray(to_numpy(expected) if hasattr(expected, "shape") and not isinstance(expected, np.ndarray)
                   else expected)
    name = dtype or (dtype_of(actual) if not isinstance(actual, np.ndarray) else a.dtype.name)
    if a.shape != e.shape:
        raise AssertionError(f"shape {a.shape} != expected {e.shape}. {err_msg}")
    tol = tolerance(name, terms=terms, scale=scale)
    if a.dtype == bool or e.dtype == bool or tol.rtol == 0.0:
        np.testing.assert_array_equal(a, e, err_msg=err_msg)
        return
    np.testing.assert_allclose(a.astype(np.float64), e.astype(np.float64), rtol=tol.rtol, atol=tol.atol,
                               err_msg=f"{err_msg} (dtype {name}, {tol})")
