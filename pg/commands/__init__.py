"""The command-line programs, one module each: its flags (`Args`) and `main`.

`pg_launch` starts them (the checkout's `scripts/*.py` and the installed `pg-*` commands). The
three training programs share one skeleton, below: read the flags, or a run to resume; train in
a session (the device, torchrun's process group, Ctrl-C and SIGTERM); then print a summary, or
where an interrupted run stopped and how to go on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from pg.run import checkpoint, cli, parallel
from pg.run.checkpoint import Checkpoint
from pg.run.progress import where
from pg.run.settings import check_finite, require, setting
from pg.run.stopping import GracefulStop

__all__ = ["HungerFlags", "ProgramFlags", "parse", "train_and_report"]

A = TypeVar("A")

# flags a resumed run may change: how it is shown and where it runs, not what it trains
MAY_CHANGE = {"quiet", "device", "resume", "threads", "figure"}


@dataclass
class ProgramFlags:
    """The flags a training program adds to its trainer's settings (`class Args(ProgramFlags,
    pg.ReinforceConfig)`): where runs go, the device, resuming, and how much it prints."""

    logdir: str | None = setting("logs", "root folder of the TensorBoard runs")
    device: str = setting(
        "auto", "auto (a GPU if there is one), cpu or cuda", choices=parallel.DEVICES
    )
    resume: str | None = setting(
        None, "continue the run of this checkpoint or run folder, up to its budget in all"
    )
    quiet: bool = setting(False, "print only the final summary")


@dataclass
class HungerFlags(ProgramFlags):
    """The hunger programs' flags for their policy, p(B) = sigmoid(weight * hunger + bias)."""

    weight: float = setting(20.0, "the fixed weight w in p(B) = sigmoid(w * hunger + b)")
    train_weight: bool = setting(False, "train the weight as well as the bias")

    def __post_init__(self):
        super().__post_init__()  # the trainer's settings, next in the program's `Args`
        check_finite("weight", self.weight)
        # beyond this, float32's sigmoid is 0 or 1 at every hunger but one: nothing to learn
        require(abs(self.weight) <= 1000, f"weight must be within ±1000, got {self.weight:g}")


def parse(
    args_class: type[A], kind: str, description: str, defaults: Mapping[str, Any], total: str
) -> tuple[A, Checkpoint | None]:
    """The program's settings from its flags; with `--resume`, the saved run's settings (and
    the budget `total`, which a resume extends), and the checkpoint to continue from."""
    args = cli.parse(args_class, description=description, defaults=defaults)
    if args.resume is None:
        return args, None
    require(
        args.resume.strip() != "",
        f"--resume needs a run folder or checkpoint file, got {args.resume!r}",
    )
    resume = checkpoint.load(args.resume, kind)
    require(  # the program builds only the shipped policies; a class of the user's is theirs
        resume.state.get("policy_spec") is not None,
        f"{resume.path}: the run trained a policy class of your own, which this program cannot "
        f"build; resume it from Python: pg.train_{kind}(MyPolicy(...), ..., "
        f"resume=pg.run.checkpoint.load({str(args.resume)!r}))",
    )
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
            resume.step if resume is not None else 0,
            getattr(args, total),
            flag,
            result.run_dir,
            result.checkpoint,
        )
    print(summary)
    if result.run_dir is not None:
        print(where(result.run_dir, args.logdir))
    return 0
