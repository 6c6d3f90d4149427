"""Eager dispatch overhead of `unified.ops` against the same native call, per backend.

Prints the median over several runs of the time per call (microseconds), for
native and unified, and their difference: what `unified` adds to one eager op.

    python benchmarks/dispatch_overhead.py [--number 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import timeit

import numpy as np

import unified as u


def median_us(stmt, number: int, repeat: int) -> float:
    runs = timeit.repeat(stmt, number=number, repeat=repeat)
    return statistics.median(runs) / number * 1e6


def cases(backend: str):
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(4, 4)
    if backend == "torch":
        import torch

        t = torch.from_numpy(x)
        return {
            "exp (unary)": (lambda: torch.exp(t), lambda: u.ops.exp(t)),
            "add (binary)": (lambda: torch.add(t, t), lambda: u.ops.add(t, t)),
            "sum(axis=1)": (lambda: torch.sum(t, dim=1), lambda: u.ops.sum(t, axis=1)),
            "matmul": (lambda: torch.matmul(t, t), lambda: u.ops.matmul(t, t)),
            "softmax": (lambda: torch.softmax(t, dim=-1), lambda: u.ops.softmax(t, axis=-1)),
            "reshape": (lambda: torch.reshape(t, (2, 8)), lambda: u.ops.reshape(t, (2, 8))),
        }
    import jax
    import jax.numpy as jnp

    j = jnp.asarray(x)
    return {
        "exp (unary)": (lambda: jnp.exp(j), lambda: u.ops.exp(j)),
        "add (binary)": (lambda: jnp.add(j, j), lambda: u.ops.add(j, j)),
        "sum(axis=1)": (lambda: jnp.sum(j, axis=1), lambda: u.ops.sum(j, axis=1)),
        "matmul": (lambda: jnp.matmul(j, j), lambda: u.ops.matmul(j, j)),
        "softmax": (lambda: jax.nn.softmax(j, axis=-1), lambda: u.ops.softmax(j, axis=-1)),
        "reshape": (lambda: jnp.reshape(j, (2, 8)), lambda: u.ops.reshape(j, (2, 8))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"{'backend':8} {'op':14} {'native us':>10} {'unified us':>11} {'overhead us':>12}")
    for backend in u.installed_backends():
        with u.use_backend(backend):
            for name, (native, ours) in cases(backend).items():
                native(), ours()  # warm up (JAX compiles each op once)
                # Alternate native and unified runs so drift hits both alike.
                n_runs, u_runs = [], []
                for _ in range(args.repeat):
                    n_runs.append(median_us(native, args.number, 1))
                    u_runs.append(median_us(ours, args.number, 1))
                n, o = statistics.median(n_runs), statistics.median(u_runs)
                print(f"{backend:8} {name:14} {n:10.3f} {o:11.3f} {o - n:12.3f}")


if __name__ == "__main__":
    main()
