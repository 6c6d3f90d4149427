"""`unified bench`: what `unified` costs, measured against native code on this machine.

The same GPT training step (forward, backward, gradient clipping, AdamW) and
inference step are written several ways: with `unified` on torch (eager and
compiled) and on JAX, natively in torch (eager and ``torch.compile``) and in
JAX (``jax.jit``), and with Keras 3 on each backend when Keras is installed.
The native versions are written the way an expert writes them for speed; they
are the bar.

Method: each configuration runs in its own process (so that each compiles
once and none disturbs another's caches); the parent asks them in turn for a
short block of steps, rotating the order every round, so that slow drift of
the machine (heat, other load) falls on every configuration alike. Each step
is synchronised (``float(loss)``, ``block_until_ready``). Reported: the median
step time and its spread (interquartile range), tokens per second, the first
call's time (compilation), the process's peak memory, and each `unified`
configuration's ratio to its native twin.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["CONFIGS", "SIZES", "Config", "format_table", "run"]

#: Model and batch shapes. "cpu" suits a laptop or CI core; "gpt2" is GPT-2 small (124M) for a GPU.
SIZES: dict[str, dict[str, int]] = {
    "cpu": dict(vocab=256, block=128, layers=4, heads=4, d=128, batch=16),
    "gpt2": dict(vocab=50257, block=1024, layers=12, heads=12, d=768, batch=8),
}


@dataclasses.dataclass(frozen=True)
class Config:
    name: str
    impl: str  # "unified" | "native" | "keras"
    backend: str  # "torch" | "jax"
    compile: bool
    twin: str | None = None  # the native configuration a unified one is compared with


CONFIGS: list[Config] = [
    Config("unified torch compiled", "unified", "torch", True, "native torch.compile"),
    Config("native torch.compile", "native", "torch", True),
    Config("unified torch eager", "unified", "torch", False, "native torch eager"),
    Config("native torch eager", "native", "torch", False),
    Config("unified jax", "unified", "jax", True, "native jax.jit"),
    Config("native jax.jit", "native", "jax", True),
    Config("keras torch", "keras", "torch", True),
    Config("keras jax", "keras", "jax", True),
]


def _available(cfg: Config) -> bool:
    import importlib.util

    needed = [cfg.backend] + (["keras"] if cfg.impl == "keras" else [])
    return all(importlib.util.find_spec(m) is not None for m in needed)


def _device(backend: str) -> str:
    code = ("import torch; print('cuda' if torch.cuda.is_available() else 'cpu')" if backend == "torch" else
            "import jax; print(jax.devices()[0].platform)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    return out.stdout.strip() or "cpu"


class _Worker:
    def __init__(self, cfg: Config, spec: dict[str, Any], timeout: float) -> None:
        self.cfg = cfg
        env = {**os.environ, "UNIFIED_BACKEND": cfg.backend}
        self.proc = subprocess.Popen([sys.executable, "-m", "unified.bench.worker", json.dumps(spec)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.ready = self._read(timeout)

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"bench worker {self.cfg.name!r} failed:\n{err[-3000:]}")
        return dict(json.loads(line))

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read(600)

    def close(self) -> None:
        try:
            self.ask_quit()
        finally:
            self.proc.wait(timeout=60)

    def ask_quit(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()


def _flops_per_token(shape: dict[str, int], params: int) -> float:
    # 6 N for the matrix products of forward and backward, plus attention's 12 L T d (PaLM, appendix B).
    return 6 * params + 12 * shape["layers"] * shape["block"] * shape["d"]


_PEAK_TFLOPS = {  # dense bfloat16 tensor-core peaks, for model FLOPs utilisation on a GPU
    "H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0, "V100": 125.0,
    "RTX 4090": 165.0, "TPU v5e": 197.0, "TPU v4": 275.0, "TPU v5p": 459.0,
}


def _peak_tflops(device_name: str) -> float | None:
    for key, value in _PEAK_TFLOPS.items():
        if key.lower() in device_name.lower():
            return value
    return None


def _device_name(backend: str, device: str) -> str:
    if device == "cpu":
        return "cpu"
    code = ("import torch; print(torch.cuda.get_device_name())" if backend == "torch" else
            "import jax; print(jax.devices()[0].device_kind)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    return out.stdout.strip()


def run(size: str = "cpu", configs: Sequence[str] | None = None, rounds: int = 5, steps: int = 5,
        workloads: Sequence[str] = ("train", "infer"), dtype: str = "float32", log: Any = None) -> dict[str, Any]:
    """Run the benchmark; return every number as a dict (see ``unified bench --json``)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}.")
    say = log or (lambda text: print(text, file=sys.stderr, flush=True))
    shape = dict(SIZES[size])
    batch = shape.pop("batch")
    chosen = [c for c in CONFIGS if configs is None or c.name in configs]
    unknown = set(configs or ()) - {c.name for c in CONFIGS}
    if unknown:
        raise ValueError(f"unknown configurations {sorted(unknown)}; choose from {[c.name for c in CONFIGS]}.")
    skipped = [c.name for c in chosen if not _available(c)]
    chosen = [c for c in chosen if _available(c)]
    devices = {b: _device(b) for b in {c.backend for c in chosen}}
    workers: list[_Worker] = []
    started = time.perf_counter()
    try:
        for cfg in chosen:  # one at a time, so that compile times are not inflated by each other
            spec = {"impl": cfg.impl, "backend": cfg.backend, "compile": cfg.compile, "shape": shape,
                    "batch": batch, "dtype": dtype, "device": devices[cfg.backend], "workloads": list(workloads)}
            say(f"starting {cfg.name} ...")
            try:
                workers.append(_Worker(cfg, spec, timeout=900))
            except RuntimeError as e:
                say(str(e).splitlines()[0] + " (skipped)")
                skipped.append(cfg.name)
        times: dict[tuple[str, str], list[float]] = {(w.cfg.name, wl): [] for w in workers for wl in workloads}
        for round_index in range(rounds):
            k = round_index % len(workers) if workers else 0
            order = workers[k:] + workers[:k]
            for workload in workloads:
                for w in order:
                    times[(w.cfg.name, workload)] += w.ask(f"{workload} {steps}")["times"]
            say(f"round {round_index + 1}/{rounds} done")
        memory = {w.cfg.name: w.ask("memory")["peak_bytes"] for w in workers}
    finally:
        for w in workers:
            try:
                w.close()
            except Exception:
                w.proc.kill()
    tokens = batch * shape["block"]
    results = []
    for w in workers:
        row: dict[str, Any] = {"config": w.cfg.name, "impl": w.cfg.impl, "backend": w.cfg.backend,
                               "compiled": w.cfg.compile, "twin": w.cfg.twin, "params": w.ready["params"],
                               "peak_memory_bytes": memory[w.cfg.name], "device": devices[w.cfg.backend]}
        for workload in workloads:
            ts = sorted(times[(w.cfg.name, workload)])
            q = statistics.quantiles(ts, n=4) if len(ts) >= 4 else [ts[0], statistics.median(ts), ts[-1]]
            median = statistics.median(ts)
            row[workload] = {"median_s": median, "iqr_s": q[2] - q[0], "min_s": ts[0], "steps": len(ts),
                             "tokens_per_s": tokens / median, "compile_s": w.ready["compile_s"][workload]}
        results.append(row)
    by_name = {r["config"]: r for r in results}
    for r in results:
        twin = by_name.get(r["twin"] or "")
        for workload in workloads:
            if twin is not None:
                r[workload]["ratio_to_native"] = r[workload]["median_s"] / twin[workload]["median_s"]
                r[workload]["compile_ratio_to_native"] = r[workload]["compile_s"] / twin[workload]["compile_s"]
    report: dict[str, Any] = {"size": size, "shape": shape, "batch": batch, "tokens_per_step": tokens,
                              "dtype": dtype, "rounds": rounds, "steps_per_round": steps, "results": results,
                              "skipped": skipped, "seconds": round(time.perf_counter() - started, 1)}
    gpu = next((d for d in devices.values() if d != "cpu"), None)
    if gpu is not None and "train" in workloads:
        name = _device_name(results[0]["backend"], gpu) if results else gpu
        peak = _peak_tflops(name)
        report["device_name"] = name
        if peak is not None:
            for r in results:
                flops = _flops_per_token(shape, r["params"]) * r["train"]["tokens_per_s"]
                r["train"]["mfu"] = flops / (peak * 1e12)
    report["dispatch_overhead_us"] = dispatch_overhead()
    return report


def _dispatch_cases(backend: str) -> dict[str, tuple[Any, Any]]:
    """(native call, unified call) pairs on small arrays of ``backend`` (the active one)."""
    import numpy as np

    import unified as u
    from unified import nn

    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(4, 4)
    layer = nn.Linear(4, 4)
    assert layer.bias is not None
    linear = u.nn.functional.linear
    if backend == "torch":
        import torch
        import torch.nn.functional as tf

        a = torch.from_numpy(x)
        w, b = layer.weight.detach(), layer.bias.detach()
        return {"exp": (lambda: torch.exp(a), lambda: u.ops.exp(a)),
                "matmul": (lambda: torch.matmul(a, a), lambda: u.ops.matmul(a, a)),
                "sum(axis=1)": (lambda: torch.sum(a, dim=1), lambda: u.ops.sum(a, axis=1)),
                "linear layer": (lambda: tf.linear(a, w, b), lambda: linear(a, w, b))}
    import jax.numpy as jnp

    ja = jnp.asarray(x)
    jw, jb = layer.weight, layer.bias
    return {"exp": (lambda: jnp.exp(ja), lambda: u.ops.exp(ja)),
            "matmul": (lambda: jnp.matmul(ja, ja), lambda: u.ops.matmul(ja, ja)),
            "sum(axis=1)": (lambda: jnp.sum(ja, axis=1), lambda: u.ops.sum(ja, axis=1)),
            "linear layer": (lambda: jnp.matmul(ja, jw.T) + jb, lambda: linear(ja, jw, jb))}


def dispatch_overhead(number: int = 20000, repeat: int = 5) -> list[dict[str, Any]]:
    """Microseconds one eager `unified` call adds to the native call (medians of alternating runs)."""
    import importlib.util
    import timeit

    import unified as u

    rows = []
    for backend in ("torch", "jax"):
        if importlib.util.find_spec(backend) is None:
            continue
        with u.use_backend(backend):
            n = number if backend == "torch" else number // 4  # JAX's eager calls cost ~4x more
            for name, (native, ours) in _dispatch_cases(backend).items():
                native(), ours()
                nat, uni = [], []
                for _ in range(repeat):
                    nat.append(timeit.timeit(native, number=n) / n * 1e6)
                    uni.append(timeit.timeit(ours, number=n) / n * 1e6)
                rows.append({"backend": backend, "op": name, "native_us": statistics.median(nat),
                             "unified_us": statistics.median(uni),
                             "overhead_us": statistics.median(uni) - statistics.median(nat)})
    return rows


def _fmt_s(s: float) -> str:
    return f"{s * 1e3:8.2f} ms" if s < 10 else f"{s:8.1f} s "


def format_table(report: dict[str, Any]) -> str:
    """The report as aligned text tables."""
    lines = [f"unified bench | size {report['size']} {report['shape']} batch {report['batch']} | {report['dtype']} | "
             f"{report['rounds']} rounds x {report['steps_per_round']} steps, alternating | {report['seconds']} s"]
    for workload in ("train", "infer"):
        rows = [r for r in report["results"] if workload in r]
        if not rows:
            continue
        lines.append("")
        lines.append(f"{workload + ' step':24} {'median':>11} {'spread':>11} {'tokens/s':>10} {'vs native':>10} "
                     f"{'compile':>10} {'vs native':>10} {'peak mem':>10}" + (" {:>6}".format("MFU")
                                                                              if "mfu" in rows[0][workload] else ""))
        for r in rows:
            m = r[workload]
            ratio = f"{m['ratio_to_native']:9.3f}x" if "ratio_to_native" in m else f"{'':10}"
            cratio = f"{m['compile_ratio_to_native']:9.2f}x" if "compile_ratio_to_native" in m else f"{'':10}"
            mfu = f" {m['mfu'] * 100:5.1f}%" if "mfu" in m else ""
            lines.append(f"{r['config']:24} {_fmt_s(m['median_s'])} {_fmt_s(m['iqr_s'])} {m['tokens_per_s']:10.0f} "
                         f"{ratio} {m['compile_s']:9.2f}s {cratio} {r['peak_memory_bytes'] / 2**20:8.0f}MB{mfu}")
    if report.get("dispatch_overhead_us"):
        lines.append("")
        lines.append(f"{'eager dispatch':24} {'native':>9} {'unified':>9} {'overhead':>9}")
        for d in report["dispatch_overhead_us"]:
            lines.append(f"{d['backend'] + ' ' + d['op']:24} {d['native_us']:7.3f}us {d['unified_us']:7.3f}us "
                         f"{d['overhead_us']:7.3f}us")
    if report["skipped"]:
        lines.append("")
        lines.append("skipped (not installed or failed): " + ", ".join(report["skipped"]))
    return "\n".join(lines)


def chart(report: dict[str, Any], path: str) -> bool:
    """A PNG bar chart of tokens per second per configuration; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    workloads = [w for w in ("train", "infer") if report["results"] and w in report["results"][0]]
    fig, axes = plt.subplots(1, len(workloads), figsize=(6 * len(workloads), 4.5), dpi=110, squeeze=False)
    for ax, workload in zip(axes[0], workloads):
        rows = report["results"]
        names = [r["config"] for r in rows]
        values = [r[workload]["tokens_per_s"] for r in rows]
        colors = ["#1f77b4" if r["impl"] == "unified" else ("#7f7f7f" if r["impl"] == "native" else "#ff7f0e")
                  for r in rows]
        bars = ax.barh(names, values, color=colors)
        for bar, r in zip(bars, rows):
            ratio = r[workload].get("ratio_to_native")
            if ratio is not None:
                ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {ratio:.2f}x native", va="center",
                        fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("tokens per second (higher is better)")
        ax.set_title(f"{workload} step, {report['size']} GPT, {report['dtype']}")
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def cli(argv: Sequence[str] | None = None) -> int:
    """``unified bench``: run, print the table, optionally write JSON and a PNG chart."""
    import argparse

    parser = argparse.ArgumentParser(prog="unified bench", description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="cpu", choices=sorted(SIZES), help="cpu (default) or gpt2 (a GPU)")
    parser.add_argument("--configs", nargs="+", metavar="NAME", help=f"a subset of {[c.name for c in CONFIGS]}")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--steps", type=int, default=5, help="steps per configuration per round (default 5)")
    parser.add_argument("--workloads", nargs="+", default=["train", "infer"], choices=["train", "infer"])
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--json", metavar="FILE", help="also write every number as JSON ('-' for stdout)")
    parser.add_argument("--png", metavar="FILE", help="also draw a chart")
    args = parser.parse_args(argv)
    try:
        report = run(args.size, args.configs, args.rounds, args.steps, args.workloads, args.dtype)
    except (ValueError, RuntimeError) as e:
        print(f"unified bench: error: {e}", file=sys.stderr)
        return 2
    if args.json == "-":
        print(json.dumps(report, indent=1))
    else:
        print(format_table(report))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(report, f, indent=1)
    if args.png and chart(report, args.png):
        print(f"chart: {args.png}", file=sys.stderr)
    return 0 if report["results"] and not math.isnan(report["results"][0].get("train", {}).get("median_s", 0)) else 1
