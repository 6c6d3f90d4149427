"""`unified train`: a byte-level GPT trained on a built-in corpus, with checkpoints that survive a kill.

Everything a step depends on is a pure function of (seed, step): the batch,
the dropout key, the learning rate. So a run resumed from its last checkpoint
takes exactly the steps the interrupted run would have taken.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import numpy as np

import unified as u
from unified import distributed as dist
from unified._data import VOCAB_SIZE, Corpus, decode, encode, read_corpus
from unified._errors import UnifiedError
from unified.checkpoint import read_metadata
from unified.models import GPT, GPTConfig
from unified.nn import functional as F

#: Model sizes. "tiny" trains in minutes on two CPU cores; "gpt2" is GPT-2 small's shape.
SIZES: dict[str, dict[str, int]] = {
    "tiny": dict(n_layer=4, n_head=4, n_embd=128, block_size=128),
    "small": dict(n_layer=6, n_head=6, n_embd=384, block_size=256),
    "gpt2": dict(n_layer=12, n_head=12, n_embd=768, block_size=1024),
}
CHECKPOINT = "checkpoint.safetensors"


@dataclasses.dataclass
class TrainOptions:
    """What `unified train` takes (see ``unified train --help``)."""

    data: str | None = None
    backend: str | None = None
    size: str = "tiny"
    block_size: int | None = None
    steps: int = 1000
    batch_size: int = 16
    lr: float = 2e-3
    warmup: int = 50
    weight_decay: float = 0.1
    dropout: float = 0.0
    precision: str = "float32"
    compile: bool = True
    seed: int = 0
    out: str = "runs/unified-train"
    checkpoint_every: int = 200
    eval_every: int = 100
    eval_batches: int = 4
    resume: bool = False
    prompt: str = "def "
    sample_tokens: int = 240
    plot: bool = True
    deterministic: bool = True
    strategy: str = "none"
    nproc: int = 1
    quiet: bool = False


def model_config(opts: TrainOptions) -> GPTConfig:
    if opts.size not in SIZES:
        raise UnifiedError(f"--size {opts.size!r}: choose one of {sorted(SIZES)}.")
    shape = dict(SIZES[opts.size])
    if opts.block_size is not None:
        shape["block_size"] = opts.block_size
    return GPTConfig.gpt2(vocab_size=VOCAB_SIZE, dropout=opts.dropout, **shape)


def make_optimizer(opts: TrainOptions) -> u.optim.Optimizer:
    schedule = u.optim.warmup_cosine_decay(opts.lr, min(opts.warmup, max(opts.steps - 1, 0)), max(opts.steps, 2),
                                           end=opts.lr / 10)
    return u.optim.chain(
        u.optim.clip_by_global_norm(1.0),
        u.optim.adamw(schedule, b1=0.9, b2=0.95, weight_decay=opts.weight_decay,
                      mask=u.optim.no_decay_on_norms_and_biases),
    )


def make_steps(opt: u.optim.Optimizer, precision: str, compile: bool) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The training step and the evaluation step, compiled with ``u.jit`` unless told not to."""

    def loss_fn(model: Any, x: Any, y: Any, key: Any) -> Any:
        if precision == "float32":
            return F.cross_entropy(model(x, key=key), y)
        with u.autocast(precision):
            return F.cross_entropy(model(x, key=key), y)

    def train_step(model: Any, opt_state: Any, x: Any, y: Any, key: Any) -> Any:
        loss, grads = u.value_and_grad(loss_fn)(model, x, y, key)
        model, opt_state = opt.step(model, grads, opt_state)
        return model, opt_state, loss

    def eval_step(model: Any, x: Any, y: Any) -> Any:
        return loss_fn(model, x, y, None)

    if compile:
        return u.jit(train_step), u.jit(eval_step)
    return train_step, eval_step


class Progress:
    """One line of progress: a live bar on a terminal, a log line every few percent otherwise."""

    def __init__(self, total: int, start: int, stream: TextIO, quiet: bool) -> None:
        self.total, self.start, self.stream, self.quiet = total, start, stream, quiet
        self.tty = stream.isatty()
        self.last_print = 0.0
        self.every = max(1, (total - start) // 20)

    def update(self, step: int, loss: float, tokens_per_s: float, eta_s: float, extra: str = "") -> None:
        if self.quiet:
            return
        done = step + 1
        now = time.monotonic()
        final = done == self.total
        if self.tty and not final and now - self.last_print < 0.2:
            return
        if not self.tty and not final and (done - self.start) % self.every:
            return
        self.last_print = now
        width = 24
        filled = int(width * done / self.total)
        bar = "#" * filled + "-" * (width - filled)
        eta = f"{int(eta_s // 60)}:{int(eta_s % 60):02d}" if math.isfinite(eta_s) else "?"
        line = (f"[{bar}] step {done}/{self.total} | loss {loss:.4f} | {tokens_per_s / 1e3:.1f}k tok/s | "
                f"ETA {eta}{extra}")
        self.stream.write(("\r" + line + " " * 4) if self.tty else line + "\n")
        if self.tty and final:
            self.stream.write("\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\r" + " " * 100 + "\r")
        self.stream.write(text + "\n")
        self.stream.flush()


class Metrics:
    """``OUT/metrics.jsonl`` (one JSON object per line), and TensorBoard when it is installed."""

    def __init__(self, out: str, resume_from: int | None) -> None:
        self.path = os.path.join(out, "metrics.jsonl")
        lines: list[str] = []
        if resume_from is not None and os.path.exists(self.path):
            # keep what the checkpoint covers; the steps after it are about to be taken again
            with open(self.path) as f:
                lines = [line for line in f if line.strip() and json.loads(line)["step"] <= resume_from]
        with open(self.path, "w") as f:
            f.writelines(lines)
        self.file = open(self.path, "a")
        self.tb = _tensorboard(out)

    def log(self, **record: Any) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        if self.tb is not None:
            for k, v in record.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, record["step"])

    def close(self) -> None:
        self.file.close()
        if self.tb is not None:
            self.tb.close()


def _tensorboard(out: str) -> Any:
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        try:
            from tensorboardX import SummaryWriter  # type: ignore[no-redef]
        except ImportError:
            return None
    return SummaryWriter(os.path.join(out, "tensorboard"))


def _check_same_run(path: str, config: GPTConfig, opts: TrainOptions) -> int:
    """The step the checkpoint at ``path`` holds, after checking it belongs to this model."""
    meta = read_metadata(path)
    saved = json.loads(meta.get("config", "{}"))
    wanted = dataclasses.asdict(config)
    diff = {k: (saved.get(k), v) for k, v in wanted.items() if saved.get(k) != v}
    if diff:
        fields = ", ".join(f"{k}={old} in the checkpoint, {new} asked for" for k, (old, new) in diff.items())
        raise UnifiedError(
            f"--resume: {path} holds a different model ({fields}). Resume with the options it was trained "
            f"with (--size {json.loads(meta.get('run', '{}')).get('size', '?')}), or train into a new --out."
        )
    return int(meta["step"])


def train(opts: TrainOptions, stream: TextIO = sys.stdout) -> dict[str, Any]:
    """Run `unified train`; return a summary (final losses, speed, where things were written)."""
    if opts.backend:
        u.set_backend(opts.backend)
    backend = u.get_backend().name
    u.set_deterministic(opts.deterministic)
    if opts.steps <= 0:
        raise UnifiedError(f"--steps must be positive, got {opts.steps}.")
    if opts.precision not in ("float32", "bfloat16"):
        raise UnifiedError(f"--precision must be float32 or bfloat16, got {opts.precision!r}.")
    config = model_config(opts)
    data, description = read_corpus(opts.data)
    corpus = Corpus.from_bytes(data, description, config.block_size)
    os.makedirs(opts.out, exist_ok=True)
    ckpt_path = os.path.join(opts.out, CHECKPOINT)
    progress = Progress(opts.steps, 0, stream, opts.quiet)

    if opts.strategy not in ("none", "replicate", "fsdp"):
        raise UnifiedError(f"--strategy must be none, replicate or fsdp; got {opts.strategy!r}.")
    parallel = opts.strategy != "none"
    mesh = None
    if parallel:
        dist.initialize()
        mesh = dist.mesh({"data": -1})
        if opts.batch_size % mesh.size("data"):
            raise UnifiedError(f"--batch-size {opts.batch_size} does not split over {mesh.size('data')} devices; "
                               f"use a multiple of {mesh.size('data')}.")
    main = not parallel or dist.is_main_process()
    if not main:
        progress.quiet = True

    with u.manual_seed(opts.seed):
        model = GPT(config)
    opt = make_optimizer(opts)
    opt_state = opt.init(model)
    start = 0
    loaded_state = None
    if opts.resume and os.path.exists(ckpt_path):
        done = _check_same_run(ckpt_path, config, opts)
        loaded = u.load(ckpt_path, like={"model": model, "opt_state": opt_state, "step": 0})
        model, loaded_state, start = loaded["model"], loaded["opt_state"], done + 1
        opt_state = loaded_state
        progress = Progress(opts.steps, start, stream, opts.quiet or not main)
        progress.message(f"resuming from {ckpt_path} at step {start}")
    elif opts.resume:
        progress.message(f"--resume: no checkpoint in {opts.out} yet; starting from step 0")
    if parallel:
        assert mesh is not None
        model = dist.shard(model, mesh, opts.strategy)
        fresh = opt.init(model)  # sharded like the model
        opt_state = fresh if loaded_state is None else dist.shard_like(loaded_state, fresh)
    metrics = Metrics(opts.out, start - 1 if start else None) if main else None

    n_params = model.num_parameters()
    where = f" | {opts.strategy} over {mesh.devices} devices" if mesh is not None else ""
    progress.message(f"unified train | backend {backend}{where} | {opts.size} GPT, {n_params / 1e6:.2f}M parameters | "
                     f"{corpus.description} | {opts.steps} steps of {opts.batch_size}x{config.block_size} tokens"
                     f"{' | compiled' if opts.compile else ''}")
    train_step, eval_step = make_steps(opt, opts.precision, opts.compile)
    base_key = u.random.key(opts.seed)
    tokens_per_step = opts.batch_size * config.block_size

    def batch(split: str, step: int) -> tuple[Any, Any]:
        x, y = corpus.batch(split, opts.seed, step, opts.batch_size, config.block_size)
        if mesh is not None:
            return dist.shard_batch((x, y), mesh)
        return u.asarray(x), u.asarray(y)

    def log(**record: Any) -> None:
        if metrics is not None:
            metrics.log(**record)

    def save(step: int) -> None:
        run = {k: v for k, v in dataclasses.asdict(opts).items() if k in ("size", "seed", "steps", "lr", "data")}
        tree_ = {"model": model, "opt_state": opt_state, "step": step}
        meta = {"config": json.dumps(dataclasses.asdict(config)), "run": json.dumps(run), "backend": backend,
                "step": str(step)}
        if parallel:
            dist.save(ckpt_path, tree_, metadata=meta)  # gathered: loads anywhere, sharded or not
        else:
            u.save(ckpt_path, tree_, metadata=meta)

    def evaluate(step: int) -> float:
        model.eval()
        losses = []
        for i in range(opts.eval_batches):
            x, y = batch("val", i)
            losses.append(float(u.to_numpy(dist.global_mean(eval_step(model, x, y)) if parallel else
                                           eval_step(model, x, y))))
        model.train()
        value = float(np.mean(losses))
        log(step=step, val_loss=value)
        return value

    loss_value = val_loss = float("nan")
    started = time.perf_counter()
    timed_steps, timed_seconds = 0, 0.0
    for step in range(start, opts.steps):
        t0 = time.perf_counter()
        x, y = batch("train", step)
        model, opt_state, loss = train_step(model, opt_state, x, y, u.random.fold_in(base_key, step))
        loss_value = float(u.to_numpy(dist.global_mean(loss) if parallel else loss))
        dt = time.perf_counter() - t0
        if step > start:  # the first step of a run compiles; it does not count towards speed
            timed_steps, timed_seconds = timed_steps + 1, timed_seconds + dt
        speed = tokens_per_step * timed_steps / timed_seconds if timed_seconds else 0.0
        eta = (opts.steps - step - 1) * (timed_seconds / timed_steps) if timed_steps else float("inf")
        if not math.isfinite(loss_value):
            raise UnifiedError(f"the loss became {loss_value} at step {step}; lower --lr (now {opts.lr}).")
        log(step=step, loss=loss_value, tokens_per_s=round(speed, 1))
        extra = ""
        if (step + 1) % opts.eval_every == 0 or step + 1 == opts.steps:
            val_loss = evaluate(step)
            extra = f" | val {val_loss:.4f}"
        progress.update(step, loss_value, speed, eta, extra)
        if opts.checkpoint_every and (step + 1) % opts.checkpoint_every == 0 and step + 1 < opts.steps:
            save(step)
    elapsed = time.perf_counter() - started
    if start < opts.steps:
        save(opts.steps - 1)
    if metrics is not None:
        metrics.close()
    if parallel:
        # Sample from an unsharded copy of the trained weights, on the main process only.
        state = dist.gather({"model": model})["model"]
        if not main:
            return {"backend": backend, "process": dist.process_index()}
        with u.manual_seed(opts.seed):
            model = GPT(config)
        model.load_state_dict({k: u.asarray(v) for k, v in state.items()})

    sample = ""
    if opts.sample_tokens > 0:
        prompt = encode(opts.prompt)[: config.block_size - 1]
        n_new = min(opts.sample_tokens, config.block_size - len(prompt))
        tokens = model.generate(u.asarray(prompt[None, :]), n_new, temperature=0.8, top_k=40,
                                key=u.random.key(opts.seed), compile=opts.compile)
        sample = decode(u.to_numpy(tokens)[0])
        with open(os.path.join(opts.out, "sample.txt"), "w", encoding="utf-8") as f:
            f.write(sample)
        progress.message("sample:\n" + sample + "\n")
    metrics_path = os.path.join(opts.out, "metrics.jsonl")
    plot = os.path.join(opts.out, "loss.png") if opts.plot and plot_losses(metrics_path, opts.out) else None
    summary = {
        "backend": backend, "steps": opts.steps, "start_step": start, "loss": loss_value, "val_loss": val_loss,
        "seconds": round(elapsed, 2), "steps_per_s": round(timed_steps / timed_seconds, 3) if timed_seconds else None,
        "tokens_per_s": round(tokens_per_step * timed_steps / timed_seconds, 1) if timed_seconds else None,
        "checkpoint": ckpt_path, "metrics": metrics_path, "plot": plot, "sample": sample,
        "strategy": opts.strategy, "devices": mesh.devices if mesh is not None else 1,
    }
    progress.message(f"done: loss {loss_value:.4f}, val loss {val_loss:.4f}, {elapsed:.0f} s; "
                     f"wrote {ckpt_path}, {metrics_path}" + (f", {plot}" if plot else ""))
    return summary


def plot_losses(metrics_path: str, out: str) -> bool:
    """``OUT/loss.png`` of the training and validation loss; False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    train, val = [], []
    with open(metrics_path) as f:
        for line in f:
            record = json.loads(line)
            if "loss" in record:
                train.append((record["step"], record["loss"]))
            if "val_loss" in record:
                val.append((record["step"], record["val_loss"]))
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if train:
        ax.plot(*zip(*train), label="train", linewidth=1)
    if val:
        ax.plot(*zip(*val), "o-", label="validation", linewidth=1.5)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats per byte)")
    ax.set_title("unified train")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "loss.png"))
    plt.close(fig)
    return True


def generate(checkpoint: str, prompt: str, tokens: int, temperature: float, top_k: int | None, seed: int,
             backend: str | None, compile: bool) -> str:
    """Text from a checkpoint written by `unified train`, on any backend."""
    if backend:
        u.set_backend(backend)
    if os.path.isdir(checkpoint):
        checkpoint = os.path.join(checkpoint, CHECKPOINT)
    if not os.path.exists(checkpoint):
        raise UnifiedError(f"{checkpoint}: no such checkpoint (give the file, or the --out directory of a run).")
    meta = read_metadata(checkpoint)
    if "config" not in meta:
        raise UnifiedError(f"{checkpoint} was not written by `unified train` (it has no model config).")
    config = GPTConfig(**json.loads(meta["config"]))
    model = GPT(config)
    model.load_state_dict(u.load(checkpoint)["model"])  # the model's state; the optimizer's is not needed
    model.eval()
    ids = encode(prompt)[: config.block_size - 1]
    if len(ids) == 0:
        raise UnifiedError("--prompt is empty; give some text to continue.")
    n_new = min(tokens, config.block_size - len(ids))
    out = model.generate(u.asarray(ids[None, :]), n_new, temperature=temperature, top_k=top_k,
                         key=u.random.key(seed) if temperature > 0 else None, compile=compile)
    return decode(u.to_numpy(out)[0])
