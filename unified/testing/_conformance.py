"""The conformance suite: does a backend fulfil `unified`'s contract?

Subclass :class:`BackendConformance` in a test file, naming the backend, and
pytest runs every check on it::

    # test_my_backend.py
    from unified.testing import BackendConformance

    class TestMyBackend(BackendConformance):
        backend = "mine"

The checks are structural (every member of every protocol part exists with the
protocol's parameters) and numerical: every op against numpy on fixed inputs,
random bits against a plain-Python threefry, and the transforms against
derivatives known in closed form.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pytest

import unified as u
from unified._protocols import PARTS, protocol_members
from unified.testing import _threefry
from unified.testing._tolerances import assert_close


@dataclasses.dataclass(frozen=True)
class Sample:
    """One op called on fixed inputs, and its numpy reference."""

    op: str
    call: Callable[..., Any]
    ref: Callable[..., Any]
    inputs: tuple[np.ndarray, ...]
    terms: int = 1
    label: str = ""

    @property
    def id(self) -> str:
        return self.op + (f"-{self.label}" if self.label else "")


_rng = np.random.default_rng(20261124)
A = _rng.standard_normal((3, 4)).astype(np.float32)
B = _rng.standard_normal((3, 4)).astype(np.float32)
V = _rng.standard_normal((4,)).astype(np.float32)
M = _rng.standard_normal((4, 5)).astype(np.float32)
POS = _rng.uniform(0.5, 2.0, (3, 4)).astype(np.float32)
UNIT = _rng.uniform(-0.9, 0.9, (3, 4)).astype(np.float32)
INT = _rng.integers(-6, 7, (3, 4)).astype(np.int32)
NZINT = np.where(INT == 0, 3, INT).astype(np.int32)
BOOL = _rng.random((3, 4)) > 0.5
BOOL2 = _rng.random((3, 4)) > 0.5
IDX = np.array([2, 0, -1], dtype=np.int32)
SPECIAL = np.array([1.0, np.inf, -np.inf, np.nan, 0.0], dtype=np.float32)


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf)(x.astype(np.float64))


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _logsumexp(x: np.ndarray, axis: Any) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.exp(x - m).sum(axis=axis))


def _s(op: str, call: Callable[..., Any], ref: Callable[..., Any], *inputs: np.ndarray,
       terms: int = 1, label: str = "") -> Sample:
    return Sample(op, call, ref, inputs, terms, label)


_UNARY: dict[str, tuple[Any, ...]] = {
    "abs": (np.abs, A), "negative": (np.negative, A), "sign": (np.sign, INT.astype(np.float32)),
    "sqrt": (np.sqrt, POS), "rsqrt": (lambda x: 1 / np.sqrt(x.astype(np.float64)), POS),
    "square": (np.square, A), "reciprocal": (lambda x: 1 / x.astype(np.float64), POS),
    "exp": (np.exp, A), "expm1": (np.expm1, A), "log": (np.log, POS), "log1p": (np.log1p, POS),
    "sin": (np.sin, A), "cos": (np.cos, A), "tan": (np.tan, UNIT), "tanh": (np.tanh, A),
    "arctan": (np.arctan, A), "sigmoid": (lambda x: 1 / (1 + np.exp(-x.astype(np.float64))), A),
    "erf": (_erf, A), "floor": (np.floor, A * 3), "ceil": (np.ceil, A * 3),
    "round": (np.round, np.array([0.5, 1.5, 2.5, -0.5, 2.4, -2.6], np.float32)),
    "isnan": (np.isnan, SPECIAL), "isinf": (np.isinf, SPECIAL), "isfinite": (np.isfinite, SPECIAL),
    "logical_not": (np.logical_not, BOOL),
}
_BINARY: dict[str, tuple[Any, ...]] = {
    "add": (np.add, A, B), "subtract": (np.subtract, A, B), "multiply": (np.multiply, A, B),
    "divide": (lambda a, b: a.astype(np.float64) / b, A, POS), "floor_divide": (np.floor_divide, INT, NZINT),
    "remainder": (np.remainder, INT, NZINT), "power": (np.power, POS, A),
    "maximum": (np.maximum, A, B), "minimum": (np.minimum, A, B), "arctan2": (np.arctan2, A, B),
    "equal": (np.equal, INT, np.where(BOOL, INT, NZINT + 1)), "not_equal": (np.not_equal, INT, NZINT),
    "less": (np.less, A, B), "less_equal": (np.less_equal, INT, NZINT), "greater": (np.greater, A, B),
    "greater_equal": (np.greater_equal, INT, NZINT), "logical_and": (np.logical_and, BOOL, BOOL2),
    "logical_or": (np.logical_or, BOOL, BOOL2),
}


def _samples() -> list[Sample]:
    o = u.ops
    s: list[Sample] = []
    for name, (ref, x) in _UNARY.items():
        s.append(_s(name, lambda x, name=name: getattr(u.ops, name)(x), ref, x))
    for name, (ref, a, b) in _BINARY.items():
        s.append(_s(name, lambda a, b, name=name: getattr(u.ops, name)(a, b), ref, a, b))
        if name in ("add", "multiply", "maximum", "less"):
            s.append(_s(name, lambda a, name=name: getattr(u.ops, name)(a, 0.5), lambda a, ref=ref: ref(a, 0.5),
                        a, label="scalar"))
    s += [
        _s("zeros", lambda: o.zeros((2, 3)), lambda: np.zeros((2, 3), np.float32)),
        _s("ones", lambda: o.ones((2,), dtype="int32"), lambda: np.ones(2, np.int32)),
        _s("full", lambda: o.full((2, 2), 1.5), lambda: np.full((2, 2), 1.5, np.float32)),
        _s("arange", lambda: o.arange(2, 11, 3), lambda: np.arange(2, 11, 3, dtype=np.int32)),
        _s("linspace", lambda: o.linspace(0.0, 1.0, 4, endpoint=False),
           lambda: np.linspace(0, 1, 4, endpoint=False, dtype=np.float32)),
        _s("eye", lambda: o.eye(3, 4, k=-1), lambda: np.eye(3, 4, k=-1, dtype=np.float32)),
        _s("zeros_like", lambda x: o.zeros_like(x, dtype="int32"), lambda x: np.zeros_like(x, np.int32), A),
        _s("ones_like", o.ones_like, np.ones_like, A),
        _s("full_like", lambda x: o.full_like(x, 3), lambda x: np.full_like(x, 3), INT),
        _s("astype", lambda x: o.astype(x, "int32"), lambda x: x.astype(np.int32), A * 4),
        _s("where", o.where, np.where, BOOL, A, B),
        _s("clip", lambda x: o.clip(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), A),
        _s("sum", lambda x: o.sum(x, axis=1), lambda x: x.astype(np.float64).sum(1), A, terms=4),
        _s("sum", lambda x: o.sum(x), lambda x: x.sum(dtype=np.int32), INT, label="int"),
        _s("prod", lambda x: o.prod(x, axis=0), lambda x: x.astype(np.float64).prod(0), POS, terms=3),
        _s("mean", lambda x: o.mean(x, axis=(0, 1), keepdims=True),
           lambda x: x.astype(np.float64).mean((0, 1), keepdims=True), A, terms=12),
        _s("var", lambda x: o.var(x, axis=0, correction=1), lambda x: x.astype(np.float64).var(0, ddof=1),
           A, terms=3),
        _s("std", lambda x: o.std(x), lambda x: x.astype(np.float64).std(), A, terms=12),
        _s("max", lambda x: o.max(x, axis=0), lambda x: x.max(0), A),
        _s("min", lambda x: o.min(x, axis=-1, keepdims=True), lambda x: x.min(-1, keepdims=True), A),
        _s("all", lambda x: o.all(x, axis=1), lambda x: x.all(1), BOOL),
        _s("any", lambda x: o.any(x), lambda x: np.asarray(x.any()), BOOL),
        _s("argmax", lambda x: o.argmax(x, axis=1), lambda x: x.argmax(1), A),
        _s("argmin", lambda x: o.argmin(x), lambda x: np.asarray(x.argmin()), A),
        _s("logsumexp", lambda x: o.logsumexp(x, axis=1), lambda x: _logsumexp(x, 1), A, terms=4),
        _s("cumsum", lambda x: o.cumsum(x, axis=1), lambda x: x.astype(np.float64).cumsum(1), A, terms=4),
        _s("vector_norm", lambda x: o.vector_norm(x, axis=1),
           lambda x: np.linalg.norm(x.astype(np.float64), axis=1), A, terms=4),
        _s("matmul", o.matmul, lambda a, b: a.astype(np.float64) @ b, A, M, terms=4),
        _s("einsum", lambda a, b: o.einsum("ij,jk->ik", a, b), lambda a, b: a.astype(np.float64) @ b, A, M,
           terms=4),
        _s("tensordot", lambda a, b: o.tensordot(a, b, axes=([0, 1], [0, 1])),
           lambda a, b: np.tensordot(a.astype(np.float64), b, axes=([0, 1], [0, 1])), A, B, terms=12),
        _s("outer", o.outer, np.outer, V, V),
        _s("reshape", lambda x: o.reshape(x, (2, -1)), lambda x: x.reshape(2, -1), A),
        _s("permute_dims", lambda x: o.permute_dims(x, (1, 0)), lambda x: x.T, A),
        _s("swapaxes", lambda x: o.swapaxes(x, 0, 1), lambda x: x.swapaxes(0, 1), A),
        _s("moveaxis", lambda x: o.moveaxis(x[None], 0, -1), lambda x: np.moveaxis(x[None], 0, -1), A),
        _s("expand_dims", lambda x: o.expand_dims(x, (0, 3)), lambda x: np.expand_dims(x, (0, 3)), A),
        _s("squeeze", lambda x: o.squeeze(o.reshape(x, (1, 3, 1, 4)), (0, 2)), lambda x: x, A),
        _s("broadcast_to", lambda x: o.broadcast_to(x, (2, 4)), lambda x: np.broadcast_to(x, (2, 4)), V),
        _s("concat", lambda a, b: o.concat([a, b], axis=1), lambda a, b: np.concatenate([a, b], 1), A, B),
        _s("stack", lambda a, b: o.stack([a, b], axis=-1), lambda a, b: np.stack([a, b], -1), A, B),
        _s("split", lambda x: o.split(x, [1, 3], axis=1)[2], lambda x: np.split(x, [1, 3], axis=1)[2], A),
        _s("tile", lambda x: o.tile(x, (2, 1)), lambda x: np.tile(x, (2, 1)), A),
        _s("repeat", lambda x: o.repeat(x, 2, axis=0), lambda x: np.repeat(x, 2, 0), A),
        _s("flip", lambda x: o.flip(x, axis=1), lambda x: np.flip(x, 1), A),
        _s("roll", lambda x: o.roll(x, (1, -2), axis=(0, 1)), lambda x: np.roll(x, (1, -2), (0, 1)), A),
        _s("pad", lambda x: o.pad(x, ((1, 0), (0, 2)), constant_values=-1.0),
           lambda x: np.pad(x, ((1, 0), (0, 2)), constant_values=-1.0), A),
        _s("tril", lambda x: o.tril(x, k=1), lambda x: np.tril(x, 1), A),
        _s("triu", lambda x: o.triu(x, k=-1), lambda x: np.triu(x, -1), A),
        _s("take", lambda x, i: o.take(x, i, axis=1), lambda x, i: np.take(x, i, axis=1), A, IDX),
        _s("take_along_axis", lambda x, i: o.take_along_axis(x, i, axis=1),
           lambda x, i: np.take_along_axis(x, i, axis=1), A, np.argsort(A, axis=1).astype(np.int32)),
        _s("dynamic_slice", lambda x: o.dynamic_slice(x, [1, 3], [2, 2]), lambda x: x[1:3, 2:4], A),
        _s("dynamic_update_slice", lambda x, v: o.dynamic_update_slice(x, v, [2, 0]),
           lambda x, v: np.concatenate([x[:2], v], 0), A, B[:1]),
        _s("sort", lambda x: o.sort(x, axis=0, descending=True), lambda x: -np.sort(-x, axis=0), A),
        _s("argsort", lambda x: o.argsort(x, axis=1), lambda x: np.argsort(x, axis=1, kind="stable"), A),
        _s("top_k", lambda x: o.top_k(x, 2)[1], lambda x: np.argsort(-x, axis=-1, kind="stable")[..., :2], A),
        _s("softmax", lambda x: o.softmax(x, axis=0), lambda x: _softmax(x, 0), A, terms=3),
        _s("log_softmax", lambda x: o.log_softmax(x), lambda x: np.log(_softmax(x, -1)), A, terms=4),
        _s("one_hot", lambda x: o.one_hot(x, 4), lambda x: np.eye(4, dtype=np.float32)[x], IDX[:2]),
    ]
    return s


SAMPLES = _samples()


def _as_backend(x: np.ndarray) -> Any:
    return u.asarray(x)


class BackendConformance:
    """Checks that a backend fulfils the contract. Subclass it and set ``backend``."""

    backend: ClassVar[str] = ""

    @pytest.fixture(autouse=True)
    def _active(self) -> Any:
        if not self.backend:
            pytest.skip("set `backend` on the subclass of BackendConformance")
        with u.use_backend(self.backend) as b:
            yield b

    # --------------------------------------------------------------- structure

    @pytest.mark.parametrize("part", list(PARTS))
    def test_part_has_every_member(self, part: str) -> None:
        impl = getattr(u.get_backend(), part)
        proto = PARTS[part]
        missing = [m for m in protocol_members(proto) if not hasattr(impl, m)]
        assert not missing, f"backend {self.backend!r}, part {part!r} lacks {missing}"
        for name in protocol_members(proto):
            spec = getattr(proto, name, None)
            if not callable(spec):
                continue
            want = [p for p in inspect.signature(spec).parameters if p != "self"]
            try:
                got = list(inspect.signature(getattr(impl, name)).parameters)
            except (TypeError, ValueError):  # a builtin (e.g. torch.exp) has no Python signature
                continue
            if got and got[0] in ("args",):
                continue
            assert len(got) >= len(want) or any(
                inspect.signature(getattr(impl, name)).parameters[g].kind == inspect.Parameter.VAR_POSITIONAL
                for g in got), f"{part}.{name}{tuple(got)} takes fewer parameters than {tuple(want)}"

    def test_every_op_has_a_sample(self) -> None:
        covered = {s.op for s in SAMPLES}
        assert set(protocol_members(PARTS["ops"])) <= covered

    # --------------------------------------------------------------- arrays

    @pytest.mark.parametrize("dtype", ["bool", "int8", "int32", "uint8", "float16", "bfloat16", "float32"])
    def test_asarray_round_trip(self, dtype: str) -> None:
        import ml_dtypes

        np_dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
        x = np.arange(6).reshape(2, 3).astype(np_dtype)
        a = u.asarray(x)
        assert u.dtype(a) == dtype
        assert tuple(a.shape) == (2, 3)
        back = u.to_numpy(a)
        assert back.dtype == x.dtype
        np.testing.assert_array_equal(back, x)

    def test_asarray_copies_numpy_inputs(self) -> None:
        host = np.zeros(3, np.float32)
        x = u.asarray(host)
        host[0] = 5.0  # the backend's array must not see the change
        assert u.to_numpy(x).tolist() == [0.0, 0.0, 0.0]

    def test_python_scalars_and_64_bit_inputs_become_32_bit(self) -> None:
        assert u.dtype(u.asarray(1.5)) == "float32"
        assert u.dtype(u.asarray(3)) == "int32"
        assert u.dtype(u.asarray(True)) == "bool"
        assert u.dtype(u.asarray(np.zeros(2, np.float64))) == "float32"
        assert u.dtype(u.asarray(np.zeros(2, np.int64))) == "int32"

    @pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
    def test_op_matches_numpy(self, sample: Sample) -> None:
        out = sample.call(*(_as_backend(x) for x in sample.inputs))
        expected = np.asarray(sample.ref(*sample.inputs))
        scale = max([float(np.max(np.abs(x))) for x in sample.inputs if x.size and x.dtype.kind == "f"] or [1.0])
        got = u.to_numpy(out)
        if expected.dtype.kind in "iub" and got.dtype.kind in "iub":
            np.testing.assert_array_equal(got, expected.astype(got.dtype), err_msg=sample.id)
        else:
            assert_close(out, expected, terms=sample.terms, scale=scale**2 if sample.op in (
                "matmul", "einsum", "tensordot") else scale, err_msg=sample.id)

    # --------------------------------------------------------------- devices

    def test_devices(self) -> None:
        devs = u.devices()
        assert devs, "a backend sees at least one device"
        assert u.default_device() in devs
        x = u.to_device(u.ops.ones(3), "cpu")
        assert u.to_numpy(x).tolist() == [1.0, 1.0, 1.0]

    # --------------------------------------------------------------- random

    def test_random_bits_match_threefry_reference(self) -> None:
        for seed in (0, 1, 42, 2**32 + 7):
            k = u.random.key(seed)
            ref_key = ((seed >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF)
            assert u.to_numpy(k).tolist() == list(ref_key)
            assert u.to_numpy(u.random.bits(k, (5,))).tolist() == _threefry.bits(ref_key, 5)
            assert [tuple(r) for r in u.to_numpy(u.random.split(k, 3)).tolist()] == _threefry.split(ref_key, 3)
            assert tuple(u.to_numpy(u.random.fold_in(k, 9)).tolist()) == _threefry.fold_in(ref_key, 9)

    def test_uniform_is_exact(self) -> None:
        k = u.random.key(3)
        words = _threefry.bits((0, 3), 8)
        expected = np.array([_threefry.uniform_float32(w) for w in words], np.float32)
        np.testing.assert_array_equal(u.to_numpy(u.random.uniform(k, (8,))), expected)
        mask = u.to_numpy(u.random.bernoulli(k, 0.3, (8,)))
        np.testing.assert_array_equal(mask, expected < np.float32(0.3))

    def test_normal_moments(self) -> None:
        x = u.to_numpy(u.random.normal(u.random.key(0), (20000,)))
        assert abs(x.mean()) < 0.03 and abs(x.std() - 1) < 0.03

    # --------------------------------------------------------------- transforms

    def test_grad_of_polynomial(self) -> None:
        f = lambda x: x**3 - 2 * x  # noqa: E731
        assert float(u.grad(f)(2.0)) == 10.0
        assert float(u.grad(u.grad(f))(2.0)) == 12.0

    def test_vmap_and_jit(self) -> None:
        x = u.asarray(A)
        rows = u.vmap(lambda r: u.ops.sum(r * r))(x)
        assert_close(rows, (A.astype(np.float64) ** 2).sum(1), terms=4, scale=float(np.max(A**2)))
        jitted = u.jit(lambda r: u.ops.sum(r * r, axis=1))
        assert_close(jitted(x), u.to_numpy(rows), terms=4, scale=float(np.max(A**2)))

    def test_jacobian_both_modes(self) -> None:
        x = u.asarray(V)
        for mode in ("reverse", "forward"):
            J = u.jacobian(lambda v: u.ops.sin(v), mode=mode)(x)
            assert_close(J, np.diag(np.cos(V.astype(np.float64))))

    def test_stop_gradient(self) -> None:
        assert float(u.grad(lambda x: x * u.stop_gradient(x))(3.0)) == 3.0

    # --------------------------------------------------------------- pytrees

    def test_register_node_round_trip(self) -> None:
        class Pair:
            def __init__(self, a: Any, b: Any) -> None:
                self.a, self.b = a, b

        core = u.get_backend().core
        core.register_node(Pair, lambda p: ([p.a, p.b], None), lambda aux, ch: Pair(*ch))
        node = core.tree_node(Pair(1, 2))
        assert node is not None
        children, _, token = node
        assert children == [1, 2]
        rebuilt = core.tree_rebuild(token, [3, 4])
        assert (rebuilt.a, rebuilt.b) == (3, 4)
        assert core.tree_node(3.0) is None
