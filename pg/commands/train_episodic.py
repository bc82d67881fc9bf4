"""Episodic REINFORCE on any Gymnasium task: the same loss, real control tasks.

The loss that moved one bias on the hunger bandit, now weighted by each
action's discounted reward-to-go, balances a pole, swings up an acrobot, or
steers a continuous pendulum. Episodes run side by side in vectorised Gymnasium
environments; training stops once the mean return of the last 100 episodes
reaches the environment's own reward threshold (or --target-return), or when
the step budget runs out. Discrete actions get an MLP with a softmax
(`pg.MLPPolicy`), continuous ones a Gaussian around an MLP
(`pg.GaussianMLPPolicy`).

    # CartPole-v1: solves in seconds
    python scripts/train_episodic.py
    python scripts/train_episodic.py --env-id Acrobot-v1 --total-steps 300000
    python scripts/train_episodic.py --env-id Pendulum-v1 --target-return none
    # an env your module registers
    python scripts/train_episodic.py --env-id my_envs:Corridor-v0
    # act with the trained policy
    python scripts/evaluate.py logs/episodic/RUN
    # 2 x 16 episodes an update
    torchrun --standalone --nproc_per_node=2 scripts/train_episodic.py
    tensorboard --logdir logs
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pg.episodes import EnvInfo, describe_env
from pg.episodic import EpisodicConfig, EpisodicResult, train_episodic
from pg.policy import ACTIVATIONS, GaussianMLPPolicy, MLPPolicy, Policy
from pg.run import checkpoint, cli, parallel, progress
from pg.run.config import require, setting
from pg.run.stopping import GracefulStop

MAX_WIDTH = 1 << 20
MAX_WEIGHTS = 1 << 30


@dataclass
class Args(EpisodicConfig):
    logdir: str | None = setting("logs", "root folder of the TensorBoard runs")
    hidden: str = setting("64,64", "hidden layer widths of the MLP, comma-separated")
    activation: str = setting("tanh", "activation between layers", choices=tuple(ACTIVATIONS))
    device: str = setting(
        "cpu",
        "cpu, cuda or auto: small MLPs on Gymnasium's CPU envs are fastest on the CPU",
        choices=parallel.DEVICES,
    )
    resume: str | None = setting(
        None, "continue the run of this checkpoint or run folder, up to --total-steps"
    )
    quiet: bool = setting(False, "print only the final summary")

    def __post_init__(self):
        super().__post_init__()
        self.hidden_sizes()

    def hidden_sizes(self) -> tuple[int, ...]:
        try:
            sizes = tuple(int(h) for h in self.hidden.split(","))
        except ValueError:
            sizes = ()
        require(
            sizes and all(h >= 1 for h in sizes),
            f"hidden must be comma-separated positive integers, got {self.hidden!r}",
        )
        # bounded by memory, before anything is built: 99999999999999999999 would otherwise end
        # in 29 lines of C++ frames from the allocator
        weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
        require(
            max(sizes) <= MAX_WIDTH and weights <= MAX_WEIGHTS,
            f"hidden layers must be at most {MAX_WIDTH:,} wide with at most {MAX_WEIGHTS:,} "
            f"weights between them (4 GiB in float32), got {self.hidden!r}",
        )
        return sizes


def main(**defaults: str) -> int:
    """The program: `defaults` replace flags' defaults (the checkout's scripts pass `logdir`)."""
    args = cli.parse(Args, description=__doc__, defaults=defaults)
    resume = checkpoint.load(args.resume, "episodic") if args.resume else None
    if resume is not None:
        given = args.env_id
        may_change = {"total_steps", "quiet", "device", "resume", "threads"}
        args = cli.continue_run(args, resume.state["settings"], may_change=may_change)
        cli.require_own_module(args.env_id, given)
    info = describe_env(args.env_id)

    with (
        parallel.session(args.device) as (device, world),
        GracefulStop(enabled=world.size == 1) as stop,
    ):
        torch.manual_seed(args.seed)
        policy = build_policy(args, info).to(device)
        result = train_episodic(
            policy, config=args, verbose=not args.quiet, resume=resume, stop=stop
        )
    if not world.is_main:
        return 0
    if result.interrupted:
        return cli.report_interruption(
            result.interrupted, result.env_steps, args.total_steps,
            "--total-steps", result.run_dir, result.checkpoint,
        )  # fmt: skip
    summarise(args, result)
    return 0


def build_policy(args: Args, info: EnvInfo) -> Policy:
    """An MLP for this env: softmax over discrete actions, a Gaussian for continuous ones."""
    require(
        len(info.obs_shape) == 1,
        f"{info.name} has observations of shape {info.obs_shape}; the script's MLP takes flat "
        "vectors: flatten them with a wrapper, or subclass pg.Policy with obs_shape and call "
        "pg.train_episodic",
    )
    if info.num_actions is not None:
        return MLPPolicy(info.obs_shape[0], args.hidden_sizes(), info.num_actions, args.activation)
    return GaussianMLPPolicy(info.obs_shape[0], info.act_dim, args.hidden_sizes(), args.activation)


def summarise(args: Args, result: EpisodicResult) -> None:
    if result.target is None:
        verdict, rule = "trained", result.target_rule
    else:
        verdict = "solved" if result.solved else "not solved"
        rule = f"target {result.target:g}, {result.target_rule}"
    print(
        f"{args.env_id} {verdict}: mean return {result.mean_return:.1f} over the last 100 "
        f"episodes ({rule})"
    )
    print(
        f"after {result.episodes} episodes, {result.env_steps} environment steps, "
        f"{result.seconds:.1f} s of training"
    )
    if result.entropy_collapsed:
        print(
            f"the policy's entropy collapsed to {result.entropy:.2g}: it stopped exploring "
            "before it found what pays; try --entropy-coef 0.01 or another --seed"
        )
    if result.run_dir is not None:
        print(progress.where(result.run_dir, args.logdir))
