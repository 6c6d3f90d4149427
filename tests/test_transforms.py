"""Transforms: the seed's autodiff examples, every composition, and clear errors, on every backend."""

from __future__ import annotations

import dataclasses
import warnings
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import unified as u
from conftest import BACKENDS
from helpers import check_all
from unified.testing import assert_close


def poly(x):
    return x**2 + 2 * x + 1


# ---------------------------------------------------------------- the seed's examples


def test_seed_numbers_exactly_on_both_backends_in_one_process():
    for name in BACKENDS:
        with u.use_backend(name):
            d = u.grad(poly)(3.0)
            d2 = u.grad(u.grad(poly))(3.0)
            assert float(d) == 8.0 and float(d2) == 2.0, name
            assert u.get_backend().name == name
            assert type(d).__module__.split(".")[0] in ("torch", "jaxlib", "jax"), type(d)


def test_value_and_grad(backend):
    value, g = u.value_and_grad(poly)(3.0)
    assert float(value) == 16.0 and float(g) == 8.0


def test_jacobian_and_hessian_of_vector_functions(backend):
    # f(x) = (x0 * x1, sin(x0), x1**3): J = [[x1, x0], [cos x0, 0], [0, 3 x1**2]]
    def f(x):
        return u.ops.stack([x[0] * x[1], u.ops.sin(x[0]), x[1] ** 3])

    x0, x1 = 0.5, -1.5
    x = u.asarray([x0, x1])
    expected = np.array([[x1, x0], [np.cos(x0), 0.0], [0.0, 3 * x1**2]])
    for mode in ("reverse", "forward"):
        assert_close(u.jacobian(f, mode=mode)(x), expected)

    # g(x) = x0**2 * x1 + exp(x1): H = [[2 x1, 2 x0], [2 x0, exp(x1)]]
    def g(x):
        return x[0] ** 2 * x[1] + u.ops.exp(x[1])

    assert_close(u.hessian(g)(x), np.array([[2 * x1, 2 * x0], [2 * x0, np.exp(x1)]]))


def test_seed_jacobian_of_linear_loss(backend):
    # The seed's `loss(params, x) = (params @ x).sum()`: d/dparams = x broadcast over rows.
    params = u.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    x = u.asarray([1.0, -2.0, 0.5])
    J = u.jacobian(lambda p: u.ops.sum(u.ops.matmul(p, x)))(params)
    assert_close(J, np.tile(np.array([1.0, -2.0, 0.5]), (2, 1)))


def test_meta_learning_gradient_through_an_inner_sgd_step(backend):
    # Inner loss L_in(w) = (w - a)^2; one SGD step: w' = w - lr * 2 (w - a).
    # Outer loss L_out(w') = (w' - b)^2. d L_out / d w = 2 (w' - b) (1 - 2 lr).
    a, b, lr, w = 1.0, -0.5, 0.1, 2.0

    def inner_loss(w):
        return (w - a) ** 2

    def outer(w):
        fast = w - lr * u.grad(inner_loss)(w)
        return (fast - b) ** 2

    w_fast = w - lr * 2 * (w - a)
    expected = 2 * (w_fast - b) * (1 - 2 * lr)
    assert_close(u.grad(outer)(w), np.float32(expected))
    # The seed's form: outer gradient with respect to slow weights of a loss of the inner gradient.
    slow = u.asarray([0.3, -0.7])
    fast_grad = u.grad(lambda fw: u.ops.sum(fw**3))(slow)  # 3 fw^2
    outer_grad = u.grad(lambda sw: u.ops.sum(sw * fast_grad))(slow)
    assert_close(outer_grad, 3 * np.array([0.3, -0.7]) ** 2)


def test_per_example_gradients_match_a_python_loop(backend):
    rng = np.random.default_rng(0)
    w = u.asarray(rng.standard_normal(4).astype(np.float32))
    xs = rng.standard_normal((5, 4)).astype(np.float32)
    ys = rng.standard_normal(5).astype(np.float32)

    def loss(w, x, y):
        return (u.ops.sum(w * x) - y) ** 2

    batched = u.vmap(u.grad(loss), in_axes=(None, 0, 0))(w, u.asarray(xs), u.asarray(ys))
    looped = np.stack([u.to_numpy(u.grad(loss)(w, u.asarray(x), u.asarray(y))) for x, y in zip(xs, ys)])
    assert_close(batched, looped, terms=4, scale=10)
    # and against the closed form 2 (w.x - y) x
    wn = u.to_numpy(w).astype(np.float64)
    closed = 2 * ((xs @ wn) - ys)[:, None] * xs
    assert_close(batched, closed, terms=4, scale=10)


# ---------------------------------------------------------------- compositions


def test_every_composition(backend):
    f = lambda x: u.ops.sum(u.ops.sin(x) * x)  # noqa: E731  grad = cos(x) x + sin(x)
    xn = np.array([0.3, -1.2, 2.0], np.float32)
    x = u.asarray(xn)
    g = np.cos(xn) * xn + np.sin(xn)
    h = -np.sin(xn) * xn + 2 * np.cos(xn)  # d/dx of the grad, elementwise
    assert_close(u.grad(f)(x), g)
    assert_close(u.grad(lambda y: u.ops.sum(u.grad(f)(y)))(x), h)  # grad of grad
    assert_close(u.jacobian(u.grad(f))(x), np.diag(h))  # jacobian of grad
    assert_close(u.vmap(u.grad(lambda s: u.ops.sin(s) * s))(x), g)  # vmap of grad
    assert_close(u.jit(u.grad(f))(x), g)  # jit of grad
    assert_close(u.jit(u.vmap(u.grad(lambda s: u.ops.sin(s) * s)))(x), g)  # jit of vmap of grad
    assert_close(u.hessian(f)(x), np.diag(h))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_close(u.grad(u.jit(f))(x), g)  # grad of jit
        assert_close(u.vmap(u.jit(lambda s: u.ops.sin(s) * s))(x), np.sin(xn) * xn)  # vmap of jit


def test_grad_of_jit_warns_once_on_torch_and_never_on_jax(backend):
    jf = u.jit(lambda x: x * x)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = u.grad(jf)(3.0)
        second = u.grad(jf)(4.0)
    assert float(first) == 6.0 and float(second) == 8.0
    ours = [w for w in caught if "u.jit" in str(w.message)]
    assert len(ours) == (1 if backend == "torch" else 0), [str(w.message) for w in ours]


def test_argnums_tuple_and_has_aux(backend):
    def f(a, b, c):
        return a * b**2 + c, {"b": b}

    (ga, gb), aux = u.grad(f, argnums=(0, 1), has_aux=True)(2.0, 3.0, 5.0)
    assert (float(ga), float(gb)) == (9.0, 12.0)
    assert float(aux["b"]) == 3.0
    (value, _), gc = u.value_and_grad(f, argnums=2, has_aux=True)(2.0, 3.0, 5.0)
    assert float(value) == 23.0 and float(gc) == 1.0


class Point(NamedTuple):
    x: object
    y: object


@dataclasses.dataclass
class Params:
    w: object
    b: object
    name: str = dataclasses.field(default="p", metadata={"static": True})


def test_grad_over_pytrees_namedtuples_and_dataclasses(backend):
    tree = {"p": Point(u.asarray(2.0), u.asarray(3.0)), "q": [u.asarray([1.0, 2.0])]}
    g = u.grad(lambda t: t["p"].x * t["p"].y + u.ops.sum(t["q"][0] ** 2))(tree)
    assert isinstance(g["p"], Point) and float(g["p"].x) == 3.0 and float(g["p"].y) == 2.0
    assert u.to_numpy(g["q"][0]).tolist() == [2.0, 4.0]
    p = Params(u.asarray([1.0, -1.0]), u.asarray(0.5), name="lin")
    gp = u.grad(lambda p, x: u.ops.sum(p.w * x) + p.b)(p, u.asarray([3.0, 4.0]))
    assert isinstance(gp, Params) and gp.name == "lin"
    assert u.to_numpy(gp.w).tolist() == [3.0, 4.0] and float(gp.b) == 1.0
    batched = u.vmap(lambda p, x: u.ops.sum(p.w * x) + p.b, in_axes=(None, 0))(p, u.ops.ones((3, 2)))
    assert u.to_numpy(batched).tolist() == [0.5, 0.5, 0.5]
    assert float(u.jit(lambda p: u.ops.sum(p.w) + p.b)(p)) == 0.5


def test_vmap_in_axes_out_axes_and_kwargs_like_jax(backend):
    a = u.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    col_sums = u.vmap(lambda c: u.ops.sum(c), in_axes=1)(a)
    assert u.to_numpy(col_sums).tolist() == [3.0, 5.0, 7.0]
    out = u.vmap(lambda r: r * 2, in_axes=0, out_axes=1)(a)
    assert u.to_numpy(out).tolist() == (np.arange(6).reshape(2, 3) * 2).T.tolist()
    # keyword arguments are mapped over axis 0, as in JAX (torch.func would not map them)
    added = u.vmap(lambda r, *, bias: r + bias)(a, bias=u.asarray([10.0, 20.0]))
    assert u.to_numpy(added).tolist() == [[10.0, 11.0, 12.0], [23.0, 24.0, 25.0]]


def test_jit_static_arguments_and_methods(backend):
    @u.jit(static_argnums=1)
    def power(x, n):
        out = x
        for _ in range(n - 1):  # Python control flow on a static value
            out = out * x
        return out

    assert float(power(u.asarray(2.0), 3)) == 8.0
    assert float(power(u.asarray(2.0), 5)) == 32.0

    class Scaler:  # not a pytree, so `self` is static (as jax.jit needs)
        factor = 3.0

        @u.jit(static_argnums=0)
        def __call__(self, x):
            return x * self.factor

    assert float(Scaler()(u.asarray(2.0))) == 6.0


def test_disable_jit_runs_the_python_body_every_call(backend):
    calls = []

    @u.jit
    def f(x):
        calls.append(1)
        return x + 1

    f(u.asarray(1.0))
    f(u.asarray(2.0))
    compiled_calls = len(calls)
    assert compiled_calls <= 2  # traced once (JAX) or by dynamo's first trace (torch)
    calls.clear()
    with u.disable_jit():
        assert not u.jit_enabled()
        for i in range(3):
            assert float(f(u.asarray(float(i)))) == i + 1
    assert len(calls) == 3
    assert u.jit_enabled()


def test_disable_jit_from_the_environment(backend, tmp_path):
    import subprocess
    import sys

    code = (
        "import unified as u\n"
        "calls = []\n"
        "f = u.jit(lambda x: calls.append(1) or x * 2)\n"
        "for i in range(3): f(u.asarray(1.0))\n"
        "assert not u.jit_enabled() and len(calls) == 3, calls\n"
        "print('ok')\n"
    )
    env = {**__import__("os").environ, "UNIFIED_DISABLE_JIT": "1", "UNIFIED_BACKEND": backend}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]


def test_stop_gradient_on_a_pytree(backend):
    def f(t):
        frozen = u.stop_gradient(t)
        return t["a"] * frozen["a"] + frozen["b"] * t["b"]

    g = u.grad(f)({"a": 2.0, "b": 5.0})
    assert float(g["a"]) == 2.0 and float(g["b"]) == 5.0


# ---------------------------------------------------------------- errors


def test_grad_with_respect_to_an_integer_raises(backend):
    with pytest.raises(u.TransformError, match=r"floating-point inputs.*int32"):
        u.grad(lambda x: u.ops.sum(x * x))(u.asarray([1, 2]))
    with pytest.raises(TypeError, match="Python int 3"):  # also a TypeError, as in JAX
        u.grad(lambda x: x * x)(3)
    with pytest.raises(u.TransformError, match="at 'b'"):
        u.grad(lambda t: t["a"] * 2.0)({"a": 1.0, "b": u.asarray(1)})


def test_grad_of_a_non_scalar_raises(backend):
    with pytest.raises(u.TransformError, match=r"scalar output.*shape \(2,\).*jacobian"):
        u.grad(lambda x: x * 2)(u.asarray([1.0, 2.0]))
    with pytest.raises(u.TransformError, match="floating-point output"):
        u.grad(lambda x: u.ops.sum(u.ops.astype(x, "int32")))(u.asarray([1.0, 2.0]))


def test_bad_arguments_to_transforms_raise_clearly(backend):
    with pytest.raises(u.TransformError, match="argnums=2 but the function was called with 2"):
        u.grad(lambda a, b: a * b, argnums=2)(1.0, 2.0)
    with pytest.raises(u.TransformError, match="return a pair"):
        u.grad(lambda a: a * a, has_aux=True)(1.0)
    with pytest.raises(u.TransformError, match=r"in_axes has 1 entries.*2 positional"):
        u.vmap(lambda a, b: a + b, in_axes=(0,))(u.ops.ones(2), u.ops.ones(2))
    with pytest.raises(u.TransformError, match="mode must be"):
        u.jacobian(lambda x: x, mode="sideways")


# ---------------------------------------------------------------- properties


@given(coeffs=hnp.arrays(np.float32, st.integers(1, 4), elements=st.floats(-2, 2, width=32)),
       x=hnp.arrays(np.float32, 5, elements=st.floats(-1.5, 1.5, width=32)))
def test_grad_matches_the_analytic_float64_derivative(coeffs, x):
    # f(x) = sum_i sum_k c_k tanh(x_i)^(k+1) * exp(-x_i / 2)
    def f(v):
        t = u.ops.tanh(v)
        total = u.ops.zeros_like(v)
        for k, c in enumerate(coeffs.tolist()):
            total = total + c * t ** (k + 1)
        return u.ops.sum(total * u.ops.exp(-v / 2))

    xd = x.astype(np.float64)
    t, dt = np.tanh(xd), 1 - np.tanh(xd) ** 2
    poly = sum(c * t ** (k + 1) for k, c in enumerate(coeffs.astype(np.float64)))
    dpoly = sum(c * (k + 1) * t**k * dt for k, c in enumerate(coeffs.astype(np.float64)))
    expected = (dpoly - poly / 2) * np.exp(-xd / 2)
    scale = float(np.sum(np.abs(coeffs))) * 4
    check_all(u.grad(f), lambda _: expected, x, terms=2 * len(coeffs), scale=scale)


@given(x=hnp.arrays(np.float32, st.integers(1, 4), elements=st.floats(-1, 1, width=32)))
def test_forward_and_reverse_jacobians_agree_with_finite_differences(x):
    def f(v):
        return u.ops.concat([u.ops.sin(v) * u.ops.sum(v), u.ops.cumsum(v * v)])

    def f_np(v):
        return np.concatenate([np.sin(v) * v.sum(), np.cumsum(v * v)])

    eps = 1e-6
    xd = x.astype(np.float64)
    fd = np.stack([(f_np(xd + eps * e) - f_np(xd - eps * e)) / (2 * eps) for e in np.eye(len(x))], axis=1)
    for mode in ("reverse", "forward"):
        check_all(u.jacobian(f, mode=mode), lambda _: fd, x, terms=len(x) + 2, scale=2)
