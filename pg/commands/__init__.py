"""The command-line programs, one module each: its flags (`Args`) and `main`.

`pg_launch` starts them (the checkout's `scripts/*.py` and the installed `pg-*` commands). The
three training programs share one skeleton, below: read the flags, or a run to resume; train in
a session (the device, torchrun's process group, Ctrl-C and SIGTERM); then print a summary, or
where an interrupted run stopped and how to go on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch

from pg.run import checkpoint, cli, parallel
from pg.run.checkpoint import Checkpoint
from pg.run.progress import where
from pg.run.stopping import GracefulStop

__all__ = ["parse", "train_and_report"]

A = TypeVar("A")

# flags a resumed run may change: how it is shown and where it runs, not what it trains
MAY_CHANGE = {"quiet", "device", "resume", "threads", "figure"}


def parse(
    args_class: type[A], kind: str, description: str, defaults: Mapping[str, Any], total: str
) -> tuple[A, Checkpoint | None]:
    """The program's settings from its flags; with `--resume`, the saved run's settings (and
    the budget `total`, which a resume extends), and the checkpoint to continue from."""
    args = cli.parse(args_class, description=description, defaults=defaults)
    if not args.resume:
        return args, None
    resume = checkpoint.load(args.resume, kind)
    return cli.continue_run(args, resume.state["settings"], MAY_CHANGE | {total}), resume


def train_and_report(
    args: Any,
    resume: Checkpoint | None,
    train: Callable[[Any, torch.device, Checkpoint | None, GracefulStop], tuple[Any, str]],
    total: str,
    done: str,
) -> int:
    """Seed torch, call `train(args, device, resume, stop)`, which returns the trainer's result
    and a summary; print the summary, or, for a run a signal stopped, how to resume it. Only
    rank 0 prints under torchrun. `total` names the budget setting, `done` the result's count."""
    with parallel.session(args.device) as (device, world), GracefulStop(world.size == 1) as stop:
        torch.manual_seed(args.seed)
        result, summary = train(args, device, resume, stop)
    if not world.is_main:
        return 0
    if result.interrupted:
        flag = "--" + total.replace("_", "-")
        return cli.report_interruption(
            result.interrupted,
            getattr(result, done),
            getattr(args, total),
            flag,
            result.run_dir,
            result.checkpoint,
        )
    print(summary)
    if result.run_dir is not None:
        print(where(result.run_dir, args.logdir))
    return 0
