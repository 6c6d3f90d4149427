"""Explicit collectives and the shard_map gradient trap, one script for both backends.

Writes JSON: the collectives' results, and the gradient of a data-parallel loss computed
three ways (see tests/test_distributed.py).
"""

import json
import sys

import numpy as np

import unified as u
from unified import distributed as dist

dist.initialize(timeout=60)
mesh = dist.mesh({"data": -1})
n = mesh.size("data")
x = np.arange(4 * n * 3, dtype=np.float32).reshape(4 * n, 3)  # the global array
w = np.array([0.5, -1.0, 2.0], np.float32)
y = np.linspace(-1, 1, 4 * n).astype(np.float32)


def per_device(xs):
    return (dist.psum(xs, "data"), dist.pmean(xs, "data"), dist.all_gather(xs, "data", tiled=True),
            dist.psum_scatter(xs, "data", tiled=True))


out = dist.shard_map(per_device, mesh, in_specs=(dist.P("data"),), out_specs=(dist.P(), dist.P(), dist.P(),
                                                                             dist.P("data")))(u.asarray(x))


def loss(w, xs, ys):  # the mean squared error of this device's rows
    return u.ops.mean((u.ops.matmul(xs, w) - ys) ** 2)


def dp_grad(w, xs, ys):  # the usual data-parallel pattern: local gradient, then the mean over devices
    return dist.pmean(u.grad(loss)(w, xs, ys), "data")


grad = dist.shard_map(dp_grad, mesh, in_specs=(dist.P(), dist.P("data"), dist.P("data")),
                      out_specs=dist.P())(u.asarray(w), u.asarray(x), u.asarray(y))
result = {"n": n, "psum": u.to_numpy(out[0]).tolist(), "pmean": u.to_numpy(out[1]).tolist(),
          "all_gather": u.to_numpy(out[2]).tolist(), "psum_scatter": u.to_numpy(out[3]).tolist(),
          "grad": u.to_numpy(grad).tolist()}

if u.get_backend().name == "jax":
    # The trap: jax.shard_map's default check_vma=True already sums the gradient of the replicated
    # w over the mesh, so the same explicit reduction counts every device's contribution n times.
    import jax
    from jax.sharding import PartitionSpec as JP

    def trapped(w_, xs, ys):
        return jax.lax.psum(jax.grad(loss)(w_, xs, ys), "data") / n  # what pmean means: sum / n

    vma = jax.shard_map(trapped, mesh=mesh.native, in_specs=(JP(), JP("data"), JP("data")), out_specs=JP())
    result["grad_check_vma_true"] = np.asarray(vma(w, x, y)).tolist()

if dist.is_main_process():
    with open(sys.argv[1], "w") as f:
        json.dump(result, f)
