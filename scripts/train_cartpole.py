"""Train an MLP policy on CartPole-v1 with episodic REINFORCE: the same loss, a real control task.

The loss that moved one bias on the hunger bandit, -mean(weight * log p(action)), now weighted
by each action's discounted reward-to-go, balances a pole. Episodes run side by side in
vectorised Gymnasium environments; training stops once the mean return of the last 100 episodes
reaches 475 (CartPole-v1 is "solved"), or when the step budget runs out.

    python scripts/train_cartpole.py                  # defaults: solves in a few seconds
    python scripts/train_cartpole.py --seed 2 --hidden 32,32
    torchrun --standalone --nproc_per_node=2 scripts/train_cartpole.py  # 2 x 16 episodes an update
    tensorboard --logdir logs
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pg.episodes import env_spaces
from pg.episodic import EpisodicConfig, train_episodic
from pg.policy import ACTIVATIONS, MLPPolicy
from pg.run import checkpoint, cli, parallel
from pg.run.config import require, setting
from pg.run.stopping import GracefulStop


@dataclass
class Args(EpisodicConfig):
    hidden: str = setting("64,64", "hidden layer widths of the MLP, comma-separated")
    activation: str = setting("tanh", "activation between layers", choices=tuple(ACTIVATIONS))
    device: str = setting(
        "cpu",
        "cpu, cuda or auto: CartPole steps on the CPU, so the CPU is fastest",
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
        return sizes


def main() -> int:
    args = cli.parse(Args, description=__doc__)
    resume = checkpoint.load(args.resume, "episodic") if args.resume else None
    if resume is not None:
        args = cli.continue_run(
            args, resume.state["settings"], may_change={"total_steps", "quiet", "device", "resume"}
        )
    obs_dim, num_actions = env_spaces(args.env_id)

    with (
        parallel.session(args.device) as (device, world),
        GracefulStop(enabled=world.size == 1) as stop,
    ):
        torch.manual_seed(args.seed)
        policy = MLPPolicy(obs_dim, args.hidden_sizes(), num_actions, args.activation).to(device)
        result = train_episodic(
            policy, config=args, verbose=not args.quiet, resume=resume, stop=stop
        )
    if not world.is_main:
        return 0
    if result.interrupted:
        return cli.report_interruption(
            "train_cartpole.py",
            result.interrupted,
            result.env_steps,
            args.total_steps,
            "--total-steps",
            result.run_dir,
            result.checkpoint,
        )

    verdict = "solved" if result.solved else "not solved"
    print(
        f"{args.env_id} {verdict}: mean return {result.mean_return:.1f} over the last 100 episodes "
        f"(target {args.target_return:g})"
    )
    print(
        f"after {result.episodes} episodes, {result.env_steps} environment steps, "
        f"{result.seconds:.1f} s of training"
    )
    if result.run_dir is not None:
        print(f"run folder: {result.run_dir}   (view: tensorboard --logdir {args.logdir})")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
