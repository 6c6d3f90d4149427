"""One benchmark configuration in its own process, serving timing requests from the parent.

Started as ``python -m unified.bench.worker '<json spec>'``. It builds its model, runs each
step once (compiling it), prints one JSON line ``{"ready": ...}``, then answers commands on
stdin, one per line: ``train N`` / ``infer N`` (the wall time of each of N synchronised steps),
``memory`` (peak bytes), ``quit``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any


def build(spec: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(implementation, inputs, synchronise function)."""
    import numpy as np

    backend = spec["backend"]
    shape, batch = spec["shape"], spec["batch"]
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, shape["vocab"], (batch, shape["block"] + 1)).astype(np.int32)
    x_np, y_np = tokens[:, :-1], tokens[:, 1:]
    if spec["impl"] == "keras":
        os.environ["KERAS_BACKEND"] = backend
        from unified.bench._keras import Keras

        impl = Keras(shape, spec["compile"], spec["device"], spec["dtype"])
        return impl, impl.inputs(x_np, y_np), impl.sync
    Impl: Any
    if backend == "torch":
        import torch

        if spec["impl"] == "native":
            from unified.bench._native_torch import Native as Impl
        else:
            import unified as u

            u.set_backend("torch")
            from unified.bench._unified import Unified as Impl
        device = spec["device"]
        x, y = (torch.as_tensor(a).to(device) for a in (x_np, y_np))
        if spec["impl"] == "native":
            x, y = x.long(), y.long()

        def sync(out: Any) -> None:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            float(out.reshape(-1)[0])

        return Impl(shape, spec["compile"], device, spec["dtype"]), (x, y), sync
    import jax

    if spec["impl"] == "native":
        from unified.bench._native_jax import Native as Impl
    else:
        import unified as u

        u.set_backend("jax")
        from unified.bench._unified import Unified as Impl
    x, y = jax.device_put(x_np), jax.device_put(y_np)
    return Impl(shape, spec["compile"], spec["device"], spec["dtype"]), (x, y), jax.block_until_ready


def peak_memory(spec: dict[str, Any]) -> int:
    if spec["device"].startswith("cuda") and spec["backend"] == "torch":
        import torch

        return int(torch.cuda.max_memory_allocated())
    if spec["device"].startswith(("cuda", "gpu")) and spec["backend"] == "jax":
        import jax

        return int((jax.devices()[0].memory_stats() or {}).get("peak_bytes_in_use", 0))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # the process's peak RSS, bytes


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec["backend"] == "torch" and spec.get("deterministic"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    impl, (x, y), sync = build(spec)
    compile_s = {}
    for workload in spec["workloads"]:
        start = time.perf_counter()
        sync(impl.train(x, y) if workload == "train" else impl.infer(x))
        compile_s[workload] = time.perf_counter() - start  # the first call: tracing and compiling
    print(json.dumps({"ready": True, "compile_s": compile_s, "params": int(impl.count())}), flush=True)
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        if command[0] == "memory":
            print(json.dumps({"peak_bytes": peak_memory(spec)}), flush=True)
            continue
        workload, n = command[0], int(command[1])
        times = []
        for _ in range(n):
            start = time.perf_counter()
            sync(impl.train(x, y) if workload == "train" else impl.infer(x))
            times.append(time.perf_counter() - start)
        print(json.dumps({"times": times}), flush=True)


if __name__ == "__main__":
    main()
