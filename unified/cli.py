"""The `unified` command: ``unified train``, ``unified generate``, ``unified parity``.

    unified train                      # a byte-level GPT on the Python standard library's sources
    UNIFIED_BACKEND=jax unified train  # the same on JAX
    unified generate runs/unified-train --prompt "def "
    unified parity                     # does your model give the same numbers on torch and JAX?
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from unified._errors import UnifiedError


def _train_parser(sub: argparse._SubParsersAction) -> None:
    from unified._train import SIZES, TrainOptions

    d = TrainOptions()
    p = sub.add_parser("train", help="train a byte-level GPT (built-in corpus: no download)",
                       description="Train a byte-level GPT. With no arguments it trains the 'tiny' model on the "
                                   "Python standard library's own sources for a few minutes.")
    p.add_argument("--data", metavar="FILE", help="a text file to train on (default: the built-in corpus)")
    p.add_argument("--backend", choices=None, help="torch or jax (default: UNIFIED_BACKEND, else torch if installed)")
    p.add_argument("--size", default=d.size, choices=sorted(SIZES), help=f"model size (default {d.size})")
    p.add_argument("--block-size", type=int, help="context length (default: the size's)")
    p.add_argument("--steps", type=int, default=d.steps, help=f"optimizer steps (default {d.steps})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"sequences per step (default {d.batch_size})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default {d.lr})")
    p.add_argument("--warmup", type=int, default=d.warmup, help=f"warmup steps (default {d.warmup})")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--precision", choices=["float32", "bfloat16"], default=d.precision,
                   help="bfloat16: mixed precision with float32 master weights")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=d.compile,
                   help="compile the step (torch.compile / jax.jit); --no-compile runs eagerly")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=d.deterministic,
                   help="bit-identical runs (so that --resume repeats a killed run exactly); on by default")
    p.add_argument("--out", default=d.out, metavar="DIR", help=f"where to write (default {d.out})")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, metavar="N",
                   help=f"save a checkpoint every N steps (default {d.checkpoint_every}; 0: only at the end)")
    p.add_argument("--eval-every", type=int, default=d.eval_every, metavar="N")
    p.add_argument("--strategy", choices=["none", "replicate", "fsdp"], default=d.strategy,
                   help="parallel training: replicate (data parallel) or fsdp (fully sharded)")
    p.add_argument("--nproc", type=int, default=d.nproc,
                   help="processes (torch) or devices (JAX) for --strategy; starts them with `unified launch`")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out, if there is one")
    p.add_argument("--prompt", default=d.prompt, help="the start of the sample printed at the end")
    p.add_argument("--sample-tokens", type=int, default=d.sample_tokens)
    p.add_argument("--no-plot", dest="plot", action="store_false", help="skip OUT/loss.png")
    p.add_argument("--quiet", action="store_true")


def _generate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="continue a prompt with a model trained by `unified train`")
    p.add_argument("checkpoint", help="a checkpoint file, or the --out directory of a training run")
    p.add_argument("--prompt", default="def ")
    p.add_argument("--tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8, help="0: greedy")
    p.add_argument("--top-k", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", help="torch or jax, whichever trained it")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=False)


def _launch_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("launch", help="run a script as a parallel job (torchrun under torch; N devices under JAX)",
                       description="Start the processes a backend needs: torchrun's machinery under torch, one "
                                   "process per host under JAX. See docs/distributed.md for several nodes.")
    p.add_argument("--nproc", type=int, default=2, help="processes (torch) or CPU devices (JAX) on this node")
    p.add_argument("--backend", help="torch or jax (default: UNIFIED_BACKEND, else torch if installed)")
    p.add_argument("--nnodes", type=int, default=1)
    p.add_argument("--node-rank", type=int, default=0)
    p.add_argument("--master-addr", default="127.0.0.1")
    p.add_argument("--master-port", type=int, default=29500)
    p.add_argument("target", nargs=argparse.REMAINDER, help="script.py [args...], or -m module [args...]")


def _leave_process_group_and_exit() -> None:
    """End a finished torch worker of ``unified train --nproc N`` without interpreter teardown.

    Everything is written by now (metrics closed, checkpoint renamed into place) and the
    process group is destroyed. On a loaded machine gloo has, rarely, aborted the process
    during interpreter finalization (``terminate called without an active exception``,
    with no Python frame left), so that torchrun reported a finished job as failed.
    Exiting here, with the streams flushed, skips that teardown.
    """
    from unified import distributed

    distributed.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `unified` command; return its exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "parity":  # parity, bench and export parse their own arguments
        from unified.parity import cli

        return cli(args[1:])
    if args and args[0] == "bench":
        from unified.bench import cli as bench_cli

        return bench_cli(args[1:])
    if args and args[0] == "export":
        from unified.export import cli as export_cli

        return export_cli(args[1:])
    parser = argparse.ArgumentParser(prog="unified", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="{train,generate,launch,parity,bench,export}")
    _train_parser(sub)
    _generate_parser(sub)
    _launch_parser(sub)
    sub.add_parser("parity", help="compare a model's numbers on torch and JAX, layer by layer "
                                  "(unified parity --help)")
    sub.add_parser("bench", help="time unified against native torch, JAX and Keras (unified bench --help)")
    sub.add_parser("export", help="export a checkpoint to ONNX, torch.export or jax.export (unified export --help)")
    ns = parser.parse_args(args)
    if ns.command is None:
        parser.print_help()
        return 2
    try:
        if ns.command == "train":
            from unified._train import TrainOptions, train

            if ns.nproc > 1 and os.environ.get("UNIFIED_LAUNCHED") != "1":
                if ns.strategy == "none":
                    raise UnifiedError("--nproc needs --strategy replicate or --strategy fsdp.")
                from unified._launch import launch

                # The children are told by UNIFIED_LAUNCHED; --nproc is not passed on (torchrun would take
                # it for its own abbreviated --nproc-per-node).
                child = [a for i, a in enumerate(args) if a != "--nproc" and (i == 0 or args[i - 1] != "--nproc")
                         and not a.startswith("--nproc=")]
                return launch(["-m", "unified", *child], ns.nproc, ns.backend, extra_env={"UNIFIED_LAUNCHED": "1"})

            opts = TrainOptions(**{k: v for k, v in vars(ns).items() if k != "command"})
            train(opts)
            if os.environ.get("UNIFIED_LAUNCHED") == "1" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
                _leave_process_group_and_exit()
            return 0
        if ns.command == "launch":
            from unified._launch import launch

            return launch(ns.target, ns.nproc, ns.backend, nnodes=ns.nnodes, node_rank=ns.node_rank,
                          master_addr=ns.master_addr, master_port=ns.master_port)
        from unified._train import generate

        text = generate(ns.checkpoint, ns.prompt, ns.tokens, ns.temperature, ns.top_k or None, ns.seed,
                        ns.backend, ns.compile)
        print(text)
        return 0
    except UnifiedError as e:
        print(f"unified {ns.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nunified {ns.command}: interrupted" + (
            f"; resume with --resume (checkpoints in {ns.out})" if ns.command == "train" else ""), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
