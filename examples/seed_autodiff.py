"""The seed document's autodiff examples, written once, run on every installed backend.

Prints each result per backend and whether the backends agree; exits non-zero
if any backend gives a different number than the closed-form answer.

    python examples/seed_autodiff.py
"""

from __future__ import annotations

import sys
import time

import numpy as np

import unified as u


def examples() -> dict[str, object]:
    f = lambda x: x**2 + 2 * x + 1  # noqa: E731
    out: dict[str, object] = {
        "grad(f)(3)": u.grad(f)(3.0),
        "grad(grad(f))(3)": u.grad(u.grad(f))(3.0),
        "value_and_grad(f)(3)": u.value_and_grad(f)(3.0),
    }
    x = u.asarray([0.5, -1.5])
    out["jacobian"] = u.jacobian(lambda v: u.ops.stack([v[0] * v[1], u.ops.sin(v[0]), v[1] ** 3]))(x)
    out["hessian"] = u.hessian(lambda v: v[0] ** 2 * v[1] + u.ops.exp(v[1]))(x)

    def outer(w, lr=0.1):
        fast = w - lr * u.grad(lambda v: u.ops.sum((v - 1.0) ** 2))(w)
        return u.ops.sum((fast + 0.5) ** 2)

    out["meta-gradient"] = u.grad(outer)(u.asarray([2.0, 0.0]))
    rng = np.random.default_rng(0)
    w = u.asarray(rng.standard_normal(3).astype(np.float32))
    xs = u.asarray(rng.standard_normal((4, 3)).astype(np.float32))
    out["per-example grads"] = u.vmap(u.grad(lambda w, x: u.ops.sum(w * x) ** 2), in_axes=(None, 0))(w, xs)
    return out


EXPECTED = {
    "grad(f)(3)": 8.0,
    "grad(grad(f))(3)": 2.0,
    "value_and_grad(f)(3)": (16.0, 8.0),
    "jacobian": [[-1.5, 0.5], [float(np.cos(0.5)), 0.0], [0.0, 6.75]],
    "hessian": [[-3.0, 1.0], [1.0, float(np.exp(-1.5))]],
    "meta-gradient": [2 * (1.8 + 0.5) * 0.8, 2 * (0.2 + 0.5) * 0.8],
}


def main() -> int:
    results = {}
    for name in u.installed_backends():
        start = time.perf_counter()
        with u.use_backend(name):
            results[name] = u.tree.map(lambda r: np.asarray(u.to_numpy(r), np.float64), examples())
        print(f"[{name}] ran the seed's autodiff examples in {time.perf_counter() - start:.2f} s")
    ok = True
    print(f"\n{'example':22} " + " ".join(f"{n:>30}" for n in results) + "   agree")
    for key in next(iter(results.values())):
        values = [results[n][key] for n in results]
        flat = [np.concatenate([np.ravel(x) for x in u.tree.leaves(v)]) for v in values]
        agree = all(np.allclose(flat[0], other, rtol=1e-6, atol=1e-6) for other in flat[1:])
        if key in EXPECTED:
            agree = agree and np.allclose(flat[0], np.ravel(np.array(EXPECTED[key], dtype=np.float64)), rtol=1e-6)
        ok = ok and agree
        shown = [", ".join(f"{v:.4g}" for v in f[:3]) + (", ..." if len(f) > 3 else "") for f in flat]
        print(f"{key:22} " + " ".join(f"{s:>30}" for s in shown) + f"   {'yes' if agree else 'NO'}")
    print("\nall backends agree with each other and with the closed forms" if ok else "\nMISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
