"""One training script for every backend and strategy (run by tests/test_distributed.py).

    unified launch --nproc 2 tests/scripts/train_parallel.py --strategy fsdp --out result.json

With --strategy none it trains on one device with the full batch: the reference.
"""

import argparse
import json

import numpy as np

import unified as u
from unified import distributed as dist
from unified.models import GPT, GPTConfig
from unified.nn import functional as F

parser = argparse.ArgumentParser()
parser.add_argument("--strategy", default="fsdp", choices=["none", "replicate", "fsdp"])
parser.add_argument("--optimizer", default="adamw", choices=["sgd", "adamw"])
parser.add_argument("--steps", type=int, default=3)
parser.add_argument("--batch", type=int, default=8)
parser.add_argument("--compile", action="store_true")
parser.add_argument("--die-at", type=int, default=-1, help="process 1 exits at this step (failure test)")
parser.add_argument("--out", required=True)
args = parser.parse_args()

dist.initialize(timeout=60)
config = GPTConfig.gpt2(vocab_size=32, block_size=16, n_layer=2, n_head=2, n_embd=16)
with u.manual_seed(0):
    model = GPT(config)
full_bytes = sum(p.size * 4 for p in (u.to_numpy(v) for v in model.parameters()))
if args.strategy != "none":
    mesh = dist.mesh({"data": -1})
    model = dist.shard(model, mesh, args.strategy)
opt = u.optim.sgd(0.5) if args.optimizer == "sgd" else u.optim.adamw(1e-2, weight_decay=0.1)
opt_state = opt.init(model)


def train_step(model, opt_state, x, y):
    loss, grads = u.value_and_grad(lambda m: F.cross_entropy(m(x), y))(model)
    model, opt_state = opt.step(model, grads, opt_state)
    return model, opt_state, loss


step = u.jit(train_step) if args.compile else train_step
data = np.random.default_rng(0).integers(0, 32, (args.steps, args.batch, 17)).astype(np.int32)
losses = []
for i in range(args.steps):
    if i == args.die_at and dist.process_index() == 1:
        import os

        os._exit(3)
    x, y = data[i, :, :-1], data[i, :, 1:]
    if args.strategy == "none":
        x, y = u.asarray(x), u.asarray(y)
    else:
        x, y = dist.shard_batch((x, y), mesh)
    model, opt_state, loss = step(model, opt_state, x, y)
    losses.append(float(u.to_numpy(dist.global_mean(loss))))

state = dist.gather({"model": model})["model"]
result = {
    "backend": u.get_backend().name, "processes": dist.process_count(), "losses": losses,
    "params": {k: u.to_numpy(v).tolist() for k, v in state.items()},
    "param_bytes_per_device": dist.local_bytes(model), "opt_bytes_per_device": dist.local_bytes(opt_state),
    "full_param_bytes": int(full_bytes),
}
if dist.is_main_process():
    with open(args.out, "w") as f:
        json.dump(result, f)
