"""Train the hunger policy without labels: REINFORCE on the hunger bandit.

Nobody says whether Place A or Place B was right. Sample a place from p(B),
guess it was the right one, and weight that guess by the reward it earned:
loss = -mean(reward * log p(action)).

    # defaults: seconds, mostly imports
    python scripts/train_reinforce.py
    # the article's procedure
    python scripts/train_reinforce.py --batch-size 1 --lr 1 --steps 3000
    # the article's two worked steps
    python scripts/train_reinforce.py --walkthrough
    # noisy rewards, same optimum
    python scripts/train_reinforce.py --stochastic-portions
    # 300 more steps
    python scripts/train_reinforce.py --resume logs/reinforce/RUN --steps 600
    # 2 processes, one update
    torchrun --standalone --nproc_per_node=2 scripts/train_reinforce.py
    tensorboard --logdir logs
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

import pg
from pg.commands import HungerFlags, parse, train_and_report
from pg.reinforce import PROBE_HUNGER
from pg.run.settings import UsageError, setting
from pg.walkthrough import format_walkthrough, walkthrough

# what the walkthrough leaves alone: it prints, and records no run
WALKTHROUGH_IGNORES = {"walkthrough", "quiet", "logdir"}


@dataclass
class Args(HungerFlags, pg.ReinforceConfig):
    threshold: float = setting(0.5, "hunger above which Place B is the right choice")
    reward_good: float = setting(1.0, "reward when the choice suits the hunger")
    reward_bad: float = setting(-1.0, "reward when it does not")
    stochastic_portions: bool = setting(
        False, "Place A serves large 15%% of the time, Place B 80%%"
    )
    walkthrough: bool = setting(False, "replay the article's two worked steps at hunger 0 and exit")

    def __post_init__(self):
        super().__post_init__()
        self.env()  # checks threshold, rewards
        if self.walkthrough:  # the example is fixed: it takes no other flag
            changed = [
                f.name
                for f in dataclasses.fields(self)
                if f.name not in WALKTHROUGH_IGNORES and getattr(self, f.name) != f.default
            ]
            if changed:
                flag = "--" + changed[0].replace("_", "-")
                raise UsageError(
                    f"walkthrough replays the article's fixed example and takes no {flag}"
                )

    def env(self) -> pg.HungerBandit:
        return pg.HungerBandit(
            self.threshold, self.reward_good, self.reward_bad, self.stochastic_portions
        )


def main(**defaults: str) -> int:
    """The program: `defaults` replace flags' defaults (the checkout's scripts pass `logdir`)."""
    args, resume = parse(Args, "reinforce", __doc__, defaults, total="steps")
    if args.walkthrough:
        print(format_walkthrough(walkthrough()))
        return 0
    return train_and_report(args, resume, train, total="steps", done="steps")


def train(args: Args, device, resume, stop) -> tuple[pg.ReinforceResult, str]:
    """The hunger policy trained by REINFORCE on the bandit the flags describe, and a summary."""
    env = args.env()
    policy = pg.HungerPolicy(weight=args.weight, train_weight=args.train_weight, device=device)
    result = pg.train_reinforce(
        policy, env, config=args, verbose=not args.quiet, resume=resume, stop=stop
    )
    best = env.optimal_bias(args.weight) if not args.train_weight else None
    gap = result.optimal_reward - result.expected_reward  # exact J against the exact optimum
    lines = [
        f"final bias {policy.bias.item():.6f}   weight {policy.weight.item():g}"
        + (f"   (optimal bias {best:.6f})" if best is not None else ""),
        f"average reward {result.average_reward:.6f} over the last 20% of steps   "
        f"exact J {result.expected_reward:.6f}   optimum {result.optimal_reward:.6f} "
        f"(J is {gap:.6f} below)",
        "hunger   p(B)",
    ]
    hunger = torch.tensor(PROBE_HUNGER, device=device)
    with torch.no_grad():
        p_b = policy(hunger)
    lines += [f"{h:<8.3g} {p:.6f}" for h, p in zip(hunger.tolist(), p_b.tolist())]
    if result.expected_reward < result.start_expected_reward:  # training made the policy worse
        scale = max(abs(args.reward_good), abs(args.reward_bad))
        lines.append(
            f"exact J fell during training, from {result.start_expected_reward:.6f} to "
            f"{result.expected_reward:.6f}: each step is the learning rate ({args.lr:g}) times "
            f"rewards of up to {scale:g}, too large a step; try a smaller --lr"
        )
    return result, "\n".join(lines)
