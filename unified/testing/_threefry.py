"""A plain-Python threefry-2x32 (Salmon et al., "Parallel random numbers: as easy
as 1, 2, 3", SC 2011): the independent reference the conformance suite checks
every backend's random bits against. Slow, and obviously correct."""

from __future__ import annotations

_M = 0xFFFFFFFF
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))

#: Known-answer vectors of the Random123 distribution (threefry2x32, 20 rounds):
#: (key, counter) -> output.
KNOWN_ANSWERS = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


def threefry2x32(key: tuple[int, int], counter: tuple[int, int]) -> tuple[int, int]:
    k = (key[0], key[1], key[0] ^ key[1] ^ 0x1BD11BDA)
    x0, x1 = (counter[0] + k[0]) & _M, (counter[1] + k[1]) & _M
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = (x0 + x1) & _M
            x1 = (((x1 << r) | (x1 >> (32 - r))) & _M) ^ x0
        x0 = (x0 + k[(i + 1) % 3]) & _M
        x1 = (x1 + k[(i + 2) % 3] + i + 1) & _M
    return x0, x1


def bits(key: tuple[int, int], n: int) -> list[int]:
    """``jax.random.bits(key, (n,))`` (partitionable threefry): word i hashes the 64-bit counter i."""
    out = []
    for i in range(n):
        b0, b1 = threefry2x32(key, (i >> 32, i & _M))
        out.append(b0 ^ b1)
    return out


def fold_in(key: tuple[int, int], data: int) -> tuple[int, int]:
    """``jax.random.fold_in``: the key hashed at counter (0, data)."""
    return threefry2x32(key, (0, data & _M))


def split(key: tuple[int, int], num: int) -> list[tuple[int, int]]:
    """``jax.random.split`` (partitionable): key i is the hash at counter i."""
    return [threefry2x32(key, (i >> 32, i & _M)) for i in range(num)]


def uniform_float32(word: int) -> float:
    """The float in [0, 1) that ``jax.random.uniform`` makes of a 32-bit word."""
    import struct

    return struct.unpack("<f", struct.pack("<I", (word >> 9) | 0x3F800000))[0] - 1.0
