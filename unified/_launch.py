"""`unified launch`: start the processes a backend needs for parallel training.

* torch: torchrun's machinery (``python -m torch.distributed.run``), one process
  per device; with several nodes, run the same command on each with
  ``--nnodes``, ``--node-rank`` and the first node's ``--master-addr``. If a
  process dies, torchrun stops the others and the launch fails with its code.
* JAX: one process per host, which sees all of that host's devices. On a CPU
  machine, ``--nproc N`` gives the process N CPU devices
  (``XLA_FLAGS=--xla_force_host_platform_device_count=N``). With several nodes,
  each gets ``UNIFIED_COORDINATOR``/``UNIFIED_NUM_PROCESSES``/``UNIFIED_PROCESS_ID``
  and ``unified.distributed.initialize()`` calls ``jax.distributed.initialize``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from unified import _backend
from unified._errors import UnifiedError


def command(target: Sequence[str], nproc: int, backend: str, nnodes: int = 1, node_rank: int = 0,
            master_addr: str = "127.0.0.1", master_port: int = 29500) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that start ``target`` (a script and its arguments, or ``-m module ...``)."""
    if nproc < 1 or nnodes < 1 or not 0 <= node_rank < nnodes:
        raise UnifiedError(f"launch: need nproc >= 1, nnodes >= 1 and 0 <= node_rank < nnodes; got nproc={nproc}, "
                           f"nnodes={nnodes}, node_rank={node_rank}.")
    if not target:
        raise UnifiedError("launch: give the script to run, e.g. `unified launch --nproc 2 train.py --steps 10`.")
    env = {"UNIFIED_BACKEND": backend}
    if backend == "torch":
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
        if nnodes == 1:
            cmd.append("--standalone")  # a free local port; no rendezvous server needed
        else:
            cmd += [f"--nnodes={nnodes}", f"--node_rank={node_rank}", f"--master_addr={master_addr}",
                    f"--master_port={master_port}"]
        if target[0] == "-m":
            cmd.append("--module")
            target = target[1:]
        env["CUDA_VISIBLE_DEVICES"] = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        return cmd + list(target), env
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        flags = f"{flags} --xla_force_host_platform_device_count={nproc}"
    if "xla_cpu_collective_call_terminate_timeout_seconds" not in flags:
        # Emulated CPU devices are threads: on a busy machine they can reach a collective well after
        # each other, and XLA's default 40 s before it aborts the process is too short for that.
        flags += " --xla_cpu_collective_call_terminate_timeout_seconds=600"
    env["XLA_FLAGS"] = flags.strip()
    if nnodes > 1:
        env.update(UNIFIED_COORDINATOR=f"{master_addr}:{master_port}", UNIFIED_NUM_PROCESSES=str(nnodes),
                   UNIFIED_PROCESS_ID=str(node_rank))
    return [sys.executable, *target], env


def launch(target: Sequence[str], nproc: int, backend: str | None = None, extra_env: dict[str, str] | None = None,
           **kwargs: int | str) -> int:
    """Run ``target`` as a parallel job; return its exit status."""
    name = backend or _backend.get_backend_name()
    cmd, env = command(target, nproc, name, **kwargs)  # type: ignore[arg-type]
    result = subprocess.run(cmd, env={**os.environ, **env, **(extra_env or {})})
    if result.returncode != 0:
        print(f"unified launch: the job failed with exit code {result.returncode}"
              + (" (when one process fails, torchrun stops the others)" if name == "torch" else ""),
              file=sys.stderr)
    return result.returncode
