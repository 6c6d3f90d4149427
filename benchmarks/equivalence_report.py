"""How close are torch and JAX on whole models? Worst normwise relative differences over random GPTs.

For N random GPT configurations (width, depth, heads, sequence, batch, vocab,
pre/post norm, tied or not, dropout on or off) and inputs, runs the same
weights through both backends and prints, for logits, per-block activations and
the gradient of every parameter, the normwise relative difference
``max|torch - jax| / max|jax|`` (for gradients, relative to the largest
gradient in the model): its median and its worst over all examples.

    python benchmarks/equivalence_report.py [--examples 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import unified as u
from unified.models import GPTConfig


def random_case(rng: np.random.Generator):
    n_head = int(rng.integers(1, 5))
    head_dim = int(rng.choice([2, 4, 8, 16]))
    block = int(rng.integers(2, 33))
    tie = bool(rng.integers(2))
    config = GPTConfig(vocab_size=int(rng.integers(3, 100)), block_size=block, n_layer=int(rng.integers(1, 5)),
                       n_head=n_head, n_embd=n_head * head_dim, dropout=float(rng.choice([0.0, 0.1])),
                       bias=bool(rng.integers(2)), norm_first=bool(rng.integers(2)), tie_embeddings=tie,
                       lm_head_bias=(not tie) and bool(rng.integers(2)), gelu=str(rng.choice(["none", "tanh"])))
    ids = rng.integers(0, config.vocab_size, (int(rng.integers(1, 5)), int(rng.integers(1, block + 1))))
    return config, ids.astype(np.int32), int(rng.integers(2**20))


def normwise(a: np.ndarray, b: np.ndarray) -> float:
    denom = float(np.abs(b).max())
    return float(np.abs(a - b).max()) / denom if denom > 0 else float(np.abs(a - b).max())


def main() -> None:
    from test_equivalence import run_gpt

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    stats: dict[str, list[float]] = {"logits": [], "activations": [], "gradients": []}
    worst: dict[str, tuple[float, str]] = {}
    start = time.perf_counter()
    for i in range(args.examples):
        config, ids, seed = random_case(rng)
        out = {}
        for name in ("torch", "jax"):
            with u.use_backend(name):
                out[name] = run_gpt(config, ids, seed)
        (lt, ht, gt), (lj, hj, gj) = out["torch"], out["jax"]
        largest = max(float(np.abs(g).max()) for g in gj.values())
        found = {"logits": [(normwise(lt, lj), "logits")],
                 "activations": [(normwise(a, b), f"block {k}") for k, (a, b) in enumerate(zip(ht, hj))],
                 "gradients": [(float(np.abs(gt[n] - gj[n]).max()) / largest, n) for n in gt]}
        for kind, values in found.items():
            value, where = max(values)
            stats[kind].append(value)
            if value > worst.get(kind, (-1.0, ""))[0]:
                worst[kind] = (value, f"example {i}: {where}; {config}")
    print(f"{args.examples} random GPTs, both backends, float32, {time.perf_counter() - start:.0f} s")
    print(f"{'quantity':12} {'median':>10} {'worst':>10}   (normwise relative difference, max|t-j| / max|j|)")
    for kind, values in stats.items():
        print(f"{kind:12} {statistics.median(values):10.2e} {max(values):10.2e}")
    for kind, (value, where) in worst.items():
        print(f"worst {kind}: {value:.2e} at {where}")


if __name__ == "__main__":
    main()
