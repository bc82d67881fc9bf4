"""Train the hunger policy on known labels: mean squared error and autograd.

The article's starting point: when the ideal output p(B) is known for each
hunger value, the error has a derivative with respect to the bias, and the bias
follows it downhill.

    # seconds, mostly imports
    python scripts/train_supervised.py
    # stalls near -6.9
    python scripts/train_supervised.py --optimizer sgd --lr 1 --steps 20000
    # columns hunger,p_b
    python scripts/train_supervised.py --data my_labels.csv
    # 200 more steps
    python scripts/train_supervised.py --resume logs/supervised/RUN --steps 400
    tensorboard --logdir logs
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

import pg
from pg.commands import HungerFlags, parse, train_and_report
from pg.run import parallel
from pg.run.settings import require, setting

TABLE_ROWS = 20  # the summary shows the first rows of a large data file


@dataclass
class Args(HungerFlags, pg.SupervisedConfig):
    data: str | None = setting(
        None, "CSV file with columns hunger,p_b (default: the article's table)"
    )


def main(**defaults: str) -> int:
    """The program: `defaults` replace flags' defaults (the checkout's scripts pass `logdir`)."""
    args, resume = parse(Args, "supervised", __doc__, defaults, total="steps")
    return train_and_report(args, resume, train, total="steps", done="steps")


def train(args: Args, device, resume, stop) -> tuple[pg.SupervisedResult, str]:
    """The hunger policy fitted to the labels (the article's table, or `--data`), and a summary."""
    hunger, target = pg.load_csv(args.data) if args.data else pg.article_data()
    require(
        parallel.current().size == 1,
        "supervised training is one full batch of labelled points; run it as one process, not "
        "under torchrun",
    )
    policy = pg.HungerPolicy(weight=args.weight, train_weight=args.train_weight, device=device)
    result = pg.train_supervised(
        policy, hunger, target, config=args, verbose=not args.quiet, resume=resume, stop=stop
    )
    lines = [
        f"final bias {policy.bias.item():.6f}   weight {policy.weight.item():g}   "
        f"MSE {result.loss:.6g}",
        "hunger   p(B)      target",
    ]
    with torch.no_grad():
        p_b = policy(hunger.to(device))
    rows = list(zip(hunger.tolist(), p_b.tolist(), target.tolist()))
    lines += [f"{h:<8.3g} {p:<9.6f} {y:g}" for h, p, y in rows[:TABLE_ROWS]]
    if len(target) > TABLE_ROWS:
        lines.append(f"... and {len(target) - TABLE_ROWS} more rows")
    return result, "\n".join(lines)
