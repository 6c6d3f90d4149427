"""Sharded checkpoints in the framework's own format, and a gathered one that loads anywhere."""

import json
import sys

import numpy as np

import unified as u
from unified import distributed as dist
from unified.models import GPT, GPTConfig

out_dir = sys.argv[1]
dist.initialize(timeout=60)
mesh = dist.mesh({"data": -1})
config = GPTConfig.gpt2(vocab_size=32, block_size=16, n_layer=2, n_head=2, n_embd=16)


def build(seed):
    with u.manual_seed(seed):
        model = GPT(config)
    model = dist.shard(model, mesh, "fsdp")
    opt = u.optim.adamw(1e-2)
    return model, opt, opt.init(model)


model, opt, state = build(0)
ids = np.arange(16, dtype=np.int32).reshape(2, 8) % 32
grads = u.value_and_grad(lambda m: u.nn.functional.cross_entropy(m(ids_), ids_))
ids_ = dist.shard_batch(ids, mesh) if u.get_backend().name == "torch" else u.asarray(ids)
loss, g = grads(model)
model, state = opt.step(model, g, state)  # a non-trivial optimizer state to save

dist.save_sharded(f"{out_dir}/sharded", {"model": model, "opt_state": state})
dist.save(f"{out_dir}/full.safetensors", {"model": model})
other, _, other_state = build(1)  # different weights, to be overwritten
restored = dist.load_sharded(f"{out_dir}/sharded", {"model": other, "opt_state": other_state})
a = dist.gather({"model": model, "opt": state})
b = dist.gather({"model": restored["model"], "opt": restored["opt_state"]})
diff = max(float(np.max(np.abs(np.asarray(u.to_numpy(x)) - np.asarray(u.to_numpy(y)))))
           for x, y in zip(u.tree.leaves(a), u.tree.leaves(b)))
if dist.is_main_process():
    with open(f"{out_dir}/result.json", "w") as f:
        json.dump({"max_diff": diff, "bytes": dist.local_bytes(restored["model"])}, f)
