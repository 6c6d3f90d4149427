"""Threefry-2x32 random numbers in torch, bit-exact with ``jax.random``.

torch has no uint32 arithmetic, so the 32-bit words live in int32 tensors:
sums wrap around exactly as uint32 sums do, and right shifts are made logical
with a mask. (int64 words masked to 32 bits work too but cost 16x more in eager
mode: 147 ms against 9 ms for a million words on 2 CPU cores.) The hash is a
fixed sequence of elementwise integer ops, which inductor fuses into one kernel
under ``torch.compile``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from unified_torch.core import _DTYPES, default_device

_M = 0xFFFFFFFF
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _shr(x: torch.Tensor, d: int) -> torch.Tensor:
    """Logical right shift of int32 words (torch's >> is arithmetic)."""
    return (x >> d) & ((1 << (32 - d)) - 1)


def _rotl(x: torch.Tensor, d: int) -> torch.Tensor:
    return (x << d) | _shr(x, 32 - d)


def _i32(value: int) -> int:
    """A uint32 value as the int32 with the same bits."""
    return value - (1 << 32) if value >= 1 << 31 else value


def _hash(k1: Any, k2: Any, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The threefry-2x32 block hash (20 rounds), as ``jax._src.prng``'s lowering; int32 words."""
    ks = (k1, k2, k1 ^ k2 ^ _i32(0x1BD11BDA))
    x1 = x1 + ks[0]
    x2 = x2 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x1 = x1 + x2
            x2 = _rotl(x2, r) ^ x1
        x1 = x1 + ks[(i + 1) % 3]
        x2 = x2 + ks[(i + 2) % 3] + (i + 1)
    return x1, x2


def _hash_keyed(key: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # key (..., 2): leading key dimensions come first in the result, then x's.
    lead = key.shape[:-1]
    k1 = key[..., 0].reshape(tuple(lead) + (1,) * max(x1.ndim - len(lead), 0))
    k2 = key[..., 1].reshape(k1.shape)
    return _hash(k1, k2, x1, x2)


# One opaque op for the hash. Inside torch.compile, inductor would otherwise fuse the
# ~120 integer ops into one kernel, and its op counting over that chain (every round
# reads a value twice) takes minutes; as a custom op it is one call to the eager
# int32 kernel above (9 ms per million words on 2 cores), with no graph break.
@torch.library.custom_op("unified::threefry2x32", mutates_args=())
def _threefry_op(key: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    y1, y2 = _hash_keyed(key, x1, x2)
    return y1.contiguous(), y2.contiguous()


@_threefry_op.register_fake
def _(key: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    shape = torch.broadcast_shapes(x1.shape, x2.shape)
    return x1.new_empty(shape), x1.new_empty(shape)


@_threefry_op.register_vmap
def _(info: Any, in_dims: tuple[Any, ...], key: torch.Tensor, x1: torch.Tensor,
      x2: torch.Tensor) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[int, int]]:
    key_dim, x1_dim, x2_dim = in_dims
    size = info.batch_size
    key = key.movedim(key_dim, 0) if key_dim is not None else key.expand(size, *key.shape)
    x1 = x1.movedim(x1_dim, 0) if x1_dim is not None else x1.expand(size, *x1.shape)
    x2 = x2.movedim(x2_dim, 0) if x2_dim is not None else x2.expand(size, *x2.shape)
    return _threefry_op(key, x1, x2), (0, 0)


def threefry2x32(key: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Hash counters ``(x1, x2)`` (int32 words, same shape) under ``key`` (int32 ``(2,)``)."""
    return _threefry_op(key, x1, x2)  # type: ignore[no-any-return]


def _words(key: torch.Tensor) -> torch.Tensor:
    return key.view(torch.int32) if key.dtype == torch.uint32 else key.to(torch.int32)


def _counter(shape: tuple[int, ...], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The flat index of each element as (high, low) 32-bit words."""
    n = math.prod(shape)
    if n < 1 << 31:
        lo = torch.arange(n, dtype=torch.int32, device=device).reshape(shape)
        return torch.zeros_like(lo), lo
    i = torch.arange(n, dtype=torch.int64, device=device).reshape(shape)
    lo = i & _M
    return (i >> 32).to(torch.int32), torch.where(lo >= 1 << 31, lo - (1 << 32), lo).to(torch.int32)


def key(seed: int) -> torch.Tensor:
    words = [_i32((seed >> 32) & _M), _i32(seed & _M)]
    return torch.tensor(words, dtype=torch.int32, device=default_device()).view(torch.uint32)


def _as_key(b1: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    return torch.stack([b1, b2], dim=-1).view(torch.uint32)


def split(key: torch.Tensor, num: int) -> torch.Tensor:
    hi, lo = _counter((num,), key.device)
    return _as_key(*threefry2x32(_words(key), hi, lo))


def fold_in(key: torch.Tensor, data: Any) -> torch.Tensor:
    if isinstance(data, torch.Tensor):
        d = data.to(torch.int64) & _M
        d = torch.where(d >= 1 << 31, d - (1 << 32), d).to(torch.int32)
    else:
        d = torch.tensor(_i32(int(data) & _M), dtype=torch.int32, device=key.device)
    b1, b2 = threefry2x32(_words(key), torch.zeros_like(d), d)
    return _as_key(b1, b2)


def _bits32(key: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    hi, lo = _counter(shape, key.device)
    b1, b2 = threefry2x32(_words(key), hi, lo)
    return b1 ^ b2


def bits(key: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """uint32 words, as ``jax.random.bits`` with partitionable threefry."""
    return _bits32(key, shape).view(torch.uint32)


# (bits kept, mantissa bits, bit pattern of 1.0) per float dtype, as jax.random._uniform.
_FLOAT_LAYOUT = {
    "float32": (32, 23, 0x3F800000, torch.int32),
    "float16": (16, 10, 0x3C00, torch.int16),
    "bfloat16": (8, 7, 0x3F80, torch.int16),
}


_NMANT = {"float64": 52, "float32": 23, "float16": 10, "bfloat16": 7}


def uniform(key: torch.Tensor, shape: tuple[int, ...], dtype: str, minval: float, maxval: float) -> torch.Tensor:
    target = _DTYPES[dtype]
    if dtype == "float64":
        hi, lo = _counter(shape, key.device)
        b1, b2 = (w.to(torch.int64) & _M for w in threefry2x32(_words(key), hi, lo))
        mantissa = (b1 << 20) | (b2 >> 12)  # the top 52 of the 64 bits (b1 << 32 | b2)
        floats = (mantissa | 0x3FF0000000000000).view(torch.float64) - 1.0
    else:
        rng_bits, nmant, one, int_type = _FLOAT_LAYOUT[dtype]
        word = _bits32(key, shape)
        if rng_bits < 32:
            word = word & ((1 << rng_bits) - 1)  # jax truncates the 32-bit word
        floats = (_shr(word, rng_bits - nmant) | one).to(int_type).view(target) - 1.0
    if minval == 0.0 and maxval == 1.0:
        return floats  # the common case (dropout, sampling): exact, nothing to scale
    lo_t = torch.tensor(minval, dtype=target, device=floats.device)
    hi_t = torch.tensor(maxval, dtype=target, device=floats.device)
    if dtype == "float32":
        # XLA fuses `floats * (hi - lo) + lo` into one fused multiply-add in
        # float32; the float64 product is exact, so one rounding of the float64
        # sum reproduces it (measured: 0 of 200,000 draws differ).
        scaled = (floats.double() * (hi_t - lo_t).double() + lo_t.double()).to(target)
    else:
        # In 16-bit types XLA rounds after each op, as torch does (0 of 100,000 differ).
        scaled = floats * (hi_t - lo_t) + lo_t
    return torch.maximum(lo_t, scaled)


def normal(key: torch.Tensor, shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    # The float just above -1 (np.nextafter(-1, 0) in `dtype`), as jax.random.normal.
    lo = -1.0 + 2.0 ** -(_NMANT[dtype] + 1)
    u = uniform(key, shape, dtype, lo, 1.0)
    return torch.erfinv(u) * torch.tensor(math.sqrt(2), dtype=u.dtype, device=u.device)


def bernoulli(key: torch.Tensor, p: Any, shape: tuple[int, ...]) -> torch.Tensor:
    dtype = "float32"
    if isinstance(p, torch.Tensor) and p.is_floating_point():
        dtype = str(p.dtype).removeprefix("torch.")
    return uniform(key, shape, dtype, 0.0, 1.0) < p


def categorical(key: torch.Tensor, logits: torch.Tensor, axis: int) -> torch.Tensor:
    dtype = str(logits.dtype).removeprefix("torch.")
    tiny = float(torch.finfo(logits.dtype).tiny)
    gumbel = -torch.log(-torch.log(uniform(key, tuple(logits.shape), dtype, tiny, 1.0)))
    return torch.argmax(gumbel + logits, dim=axis)
