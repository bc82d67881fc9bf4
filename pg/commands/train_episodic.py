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

from pg.commands import ProgramFlags, parse, train_and_report
from pg.episodes import EnvInfo, describe_env
from pg.episodic import EpisodicConfig, EpisodicResult, train_episodic
from pg.policy import ACTIVATIONS, GaussianMLPPolicy, MLPPolicy, Policy
from pg.run import cli, parallel
from pg.run.settings import check_sizes, parse_sizes, require, setting


@dataclass
class Args(ProgramFlags, EpisodicConfig):
    hidden: tuple[int, ...] = setting(
        (64, 64), "hidden layer widths of the policy's MLP, comma-separated", type=parse_sizes
    )
    activation: str = setting("tanh", "activation between layers", choices=tuple(ACTIVATIONS))
    device: str = setting(
        "cpu",
        "cpu, cuda or auto: small MLPs on Gymnasium's CPU envs are fastest on the CPU",
        choices=parallel.DEVICES,
    )

    def __post_init__(self):
        super().__post_init__()
        check_sizes("hidden", self.hidden)


def main(**defaults: str) -> int:
    """The program: `defaults` replace flags' defaults (the checkout's scripts pass `logdir`)."""
    args, resume = parse(Args, "episodic", __doc__, defaults, total="total_steps")
    cli.require_own_module(args.env_id)
    return train_and_report(args, resume, train, total="total_steps", done="env_steps")


def train(args: Args, device, resume, stop) -> tuple[EpisodicResult, str]:
    """An MLP policy for the environment, trained by episodic REINFORCE, and a summary."""
    policy = build_policy(args, describe_env(args.env_id)).to(device)
    result = train_episodic(policy, config=args, verbose=not args.quiet, resume=resume, stop=stop)
    return result, summary(args, result)


def build_policy(args: Args, info: EnvInfo) -> Policy:
    """An MLP for this env: softmax over discrete actions, a Gaussian for continuous ones."""
    require(
        len(info.obs_shape) == 1,
        f"{info.name} has observations of shape {info.obs_shape}; the script's MLP takes flat "
        "vectors: flatten them with a wrapper, or subclass pg.Policy with obs_shape and call "
        "pg.train_episodic",
    )
    if info.num_actions is not None:
        return MLPPolicy(info.obs_shape[0], info.num_actions, args.hidden, args.activation)
    return GaussianMLPPolicy(info.obs_shape[0], info.act_dim, args.hidden, args.activation)


def summary(args: Args, result: EpisodicResult) -> str:
    if result.target is None:
        verdict, rule = "trained", result.target_rule
    else:
        verdict = "solved" if result.solved else "not solved"
        rule = f"target {result.target:g}, {result.target_rule}"
    lines = [
        f"{args.env_id} {verdict}: mean return {result.mean_return:.1f} over the last 100 "
        f"episodes ({rule})",
        f"after {result.episodes} episodes, {result.env_steps} environment steps, "
        f"{result.seconds:.1f} s of training",
    ]
    if result.env_steps > args.total_steps:  # updates take whole episodes: the last ran over
        lines[1] += f" (the last batch's whole episodes ran past the budget of {args.total_steps})"
    if result.entropy_collapsed:
        best = f"the best it reached, {result.best_mean_return:.1f}"
        short = "the target" if result.target is not None else best
        lines.append(
            f"the policy's entropy fell to {result.entropy:.2g}, under 1% of its maximum, with "
            f"the mean return short of {short}: it stopped exploring; try --entropy-coef 0.01 or "
            "another --seed"
        )
    return "\n".join(lines)
